"""The referral and its offers: rules only, no I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from uuid import UUID, uuid4


class ReferralStatus(StrEnum):
    SUBMITTED = "submitted"
    """Waiting for directory's matches."""
    OFFERED = "offered"
    """Offered to a partner, waiting for the answer."""
    UNMATCHED = "unmatched"
    """Nothing fits: an operator has to help."""


class OfferStatus(StrEnum):
    PENDING = "pending"


class InvalidPersonalNumber(ValueError):
    pass


class NotEligible(ValueError):
    """The citizen is outside the group Brobygger serves."""


class InvalidTransition(Exception):
    """The referral is not in a state where this can happen."""


CPR_PATTERN = re.compile(r"^([0-9]{2})([0-9]{2})([0-9]{2})-?([0-9]{4})$")  # ASCII digits only


def parse_cpr(raw: str) -> tuple[str, date]:
    """Normalise a Danish personal number to ten digits and read the birth date from it.

    No modulus-11 check: numbers issued since 2007 may fail it and are still valid.
    """
    found = CPR_PATTERN.match(raw.strip())
    if not found:
        raise InvalidPersonalNumber("a personal number has ten digits, as DDMMYY-SSSS")
    day, month, year2 = (int(part) for part in found.groups()[:3])
    serial = found.group(4)
    try:
        born = date(_century(year2, int(serial[0])) + year2, month, day)
    except ValueError as error:
        raise InvalidPersonalNumber("the personal number holds no valid birth date") from error
    return "".join(found.groups()), born


def _century(year2: int, digit7: int) -> int:
    """The century rule of the CPR register, from the 7th digit and the two-digit year."""
    if digit7 <= 3:
        return 1900
    if digit7 in (4, 9):
        return 2000 if year2 <= 36 else 1900
    return 2000 if year2 <= 57 else 1800


MINIMUM_AGE = 65
AGE_BANDS = ((90, "90+"), (85, "85-89"), (80, "80-84"), (75, "75-79"), (70, "70-74"), (65, "65-69"))


def age_band(born: date, today: date) -> str:
    """The five-year band events carry instead of the birth date."""
    if born > today:
        raise InvalidPersonalNumber("the personal number's birth date lies in the future")
    age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    for lower, band in AGE_BANDS:
        if age >= lower:
            return band
    raise NotEligible(f"Brobygger is for citizens aged {MINIMUM_AGE} and over")


@dataclass(frozen=True)
class Match:
    service_id: UUID
    organization_id: UUID


@dataclass
class Offer:
    id: UUID
    organization_id: UUID
    service_id: UUID
    offered_at: datetime
    expires_at: datetime
    status: OfferStatus = OfferStatus.PENDING


@dataclass
class Referral:
    id: UUID
    submitted_by: str
    citizen_ref: str
    age_band: str
    district: str
    interests: list[str]
    languages: list[str]
    needs: list[str]
    share_contact_details: bool
    submitted_at: datetime
    status: ReferralStatus = ReferralStatus.SUBMITTED
    offers: list[Offer] = field(default_factory=list)

    @property
    def current_offer(self) -> Offer | None:
        return self.offers[-1] if self.offers else None

    def offer_best(self, matches: list[Match], now: datetime, ttl: timedelta) -> Offer:
        """Offer the referral to the best match: the first, as directory ranks them."""
        if self.status is not ReferralStatus.SUBMITTED:
            raise InvalidTransition(f"a referral that is {self.status} cannot be offered")
        if not matches:
            raise ValueError("there is no match to offer the referral to")
        best = matches[0]
        offer = Offer(
            id=uuid4(),
            organization_id=best.organization_id,
            service_id=best.service_id,
            offered_at=now,
            expires_at=now + ttl,
        )
        self.offers.append(offer)
        self.status = ReferralStatus.OFFERED
        return offer

    def mark_unmatched(self) -> None:
        if self.status is not ReferralStatus.SUBMITTED:
            raise InvalidTransition(f"a referral that is {self.status} cannot become unmatched")
        self.status = ReferralStatus.UNMATCHED
