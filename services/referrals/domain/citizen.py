"""Who a referral is for: the personal number, the age band events carry instead, what
the citizen consented to (and its withdrawal), and the codes that say why a citizen's data
is read or erased."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from referrals.domain.rules import Party


class InvalidPersonalNumber(ValueError):
    pass


class NotEligible(ValueError):
    """The citizen is outside the group Brobygger serves."""


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


class ConsentMethod(StrEnum):
    VERBAL = "verbal"
    WRITTEN = "written"


@dataclass(frozen=True)
class ConsentWithdrawal:
    """When the citizen's consent was withdrawn, who entered it (the care system or an
    operator, and the token's subject), and, if told, the care worker who recorded it and how
    the citizen said so."""

    at: datetime
    party: Party
    subject: str
    recorded_by: str | None = None
    how: ConsentMethod | None = None


@dataclass(frozen=True)
class Consent:
    """What the citizen agreed to when the care worker referred them; to be referred to a
    civil-society partner always. Who recorded it, when and how are unknown (None) for
    referrals submitted before consent was recorded."""

    given_on: date | None
    recorded_by: str | None = None
    how: ConsentMethod | None = None
    share_contact_details: bool = False
    """The organisation that accepts may read how to reach the citizen."""
    follow_up_questions: bool = False
    """The citizen may be asked afterwards how they are."""
    share_outcome_with_care_system: bool = False
    """The care system may learn how the referral went."""
    withdrawal: ConsentWithdrawal | None = None
    """Set once the citizen withdrew consent: nothing of them is shared from then on."""


class ErasureBasis(StrEnum):
    """Why a citizen's data is erased: the grounds of GDPR article 17(1) that apply here."""

    GDPR_ART17_REQUEST = "gdpr_art17_request"
    """The citizen asked for erasure."""
    CONSENT_WITHDRAWN = "consent_withdrawn"
    """The citizen withdrew the consent the processing rested on (17(1)(b))."""
    NO_LONGER_NECESSARY = "no_longer_necessary"
    """The data is no longer needed for what it was collected for (17(1)(a))."""
    UNLAWFUL_PROCESSING = "unlawful_processing"
    """The data should not have been processed (17(1)(d))."""
    LEGAL_OBLIGATION = "legal_obligation"
    """A law requires the erasure (17(1)(e))."""


class IdentityPurpose(StrEnum):
    """Why an operator looks at a citizen's identity; the audit log keeps the code."""

    ESCALATION = "escalation"
    """To find a community by hand for a referral nothing fitted."""
    CARE_SYSTEM_QUERY = "care_system_query"
    """The care system asks about the referral."""
    CITIZEN_REQUEST = "citizen_request"
    """The citizen asks what is held about them, or for a correction (GDPR art. 15, 16)."""
    ERASURE_CHECK = "erasure_check"
    """To make sure of whom before an erasure."""
    INCIDENT = "incident"
    """A complaint or a data-protection incident is looked into."""
