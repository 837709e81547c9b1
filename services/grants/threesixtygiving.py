"""Awarded grants as a 360Giving Data Standard 1.4.3 package: a mapping only, no I/O.

The standard's schemas are in contracts/standards/360giving/. Identifiers follow its guidance:
a grant is `360G-<publisher prefix>-<internal id>`; an organisation is identified by an org-id
list code plus its number in that list (org-id.guide's `DK-CVR` for Denmark's Central Business
Register), and one without a registration number by the publisher's prefix plus an internal id.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

PREFIX = "360G-brobygger-kk"
"""The publisher's 360Giving prefix. 360Giving issues prefixes (all start `360G-`) when a
publisher registers; until Copenhagen registers one, this stands in, in the registered form."""
VERSION = "1.4"
"""The standard's version as the package schema allows it: major.minor only, so 1.4.3 is 1.4."""
CVR_LIST = "DK-CVR"
"""org-id.guide's list code for the Danish Central Business Register (CVR)."""
CURRENCY = "DKK"


class InvalidAward(ValueError):
    """An award cannot be published as it is; the message names the field and why."""


class NoAwards(ValueError):
    """Nothing to publish: a 360Giving package holds at least one grant."""


@dataclass(frozen=True, kw_only=True)
class Funder:
    """An organisation as 360Giving names it: the funder of the grants, or a package's publisher."""

    name: str
    identifier: str
    """Its org-id, e.g. `DK-CVR-64942212` for Copenhagen Municipality."""
    department: str | None = None


@dataclass(frozen=True, kw_only=True)
class Recipient:
    """The organisation that received a grant. Deliberately no contact person or address: the
    package is public, and 360Giving needs only the organisation's identifier and name."""

    id: UUID
    name: str
    cvr: str | None = None

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise InvalidAward("recipient.name: a recipient organisation needs a name")
        if self.cvr is not None and not (
            len(self.cvr) == 8 and self.cvr.isascii() and self.cvr.isdigit()
        ):
            raise InvalidAward("recipient.cvr: a CVR number is eight digits")


@dataclass(frozen=True, kw_only=True)
class Award:
    """One awarded grant, as the public may see it."""

    grant_id: UUID
    pool_id: UUID
    pool_name: str
    title: str
    description: str
    """The grant's purpose."""
    amount_awarded: int
    """Whole Danish kroner."""
    award_date: date
    modified_at: datetime
    """When the grant's published facts last changed (360Giving's `dateModified`)."""
    recipient: Recipient
    planned_start: date | None = None
    planned_end: date | None = None

    def __post_init__(self) -> None:
        if not self.title.strip():
            raise InvalidAward("title: a grant needs a title")
        # bool is an int to Python, but True kroner is no amount.
        if isinstance(self.amount_awarded, bool) or self.amount_awarded <= 0:
            raise InvalidAward("amount_awarded: an award is a whole number of kroner above 0")
        for name in ("award_date", "planned_start", "planned_end"):
            if isinstance(getattr(self, name), datetime):
                raise InvalidAward(f"{name}: a date, not a date and time")
        if self.modified_at.utcoffset() is None:
            # RFC 3339 date-times, which the standard requires, always carry an offset.
            raise InvalidAward("modified_at: a time with a UTC offset")
        if (
            self.planned_start is not None
            and self.planned_end is not None
            and self.planned_end < self.planned_start
        ):
            raise InvalidAward("planned_end: the grant cannot end before it starts")


def package(
    awards: Sequence[Award],
    funder: Funder,
    *,
    published: date,
    publisher: Funder,
    licence: str,
    base_url: str,
) -> dict[str, Any]:
    """The awards as a 360Giving package, oldest award first.

    `licence` is the canonical address of the data's licence; `base_url` is where the grants
    service answers the public, for the package's own addresses and each pool's page. Raises
    NoAwards for no awards (the standard has no valid empty package) and InvalidAward for a
    grant given twice (its identifier must be unique).
    """
    if not awards:
        raise NoAwards("no awarded grants to publish: a 360Giving package needs at least one")
    seen: set[UUID] = set()
    for award in awards:
        if award.grant_id in seen:
            raise InvalidAward(f"grant_id: grant {award.grant_id} is given twice")
        seen.add(award.grant_id)
    base = base_url.rstrip("/")
    ordered = sorted(awards, key=lambda award: (award.award_date, str(award.grant_id)))
    return {
        "version": VERSION,
        "issued": published.isoformat(),
        "modified": max(award.modified_at for award in awards).isoformat(),
        "publisher": {"name": publisher.name, "identifier": publisher.identifier},
        "license": licence,
        "accessURL": f"{base}/awards",
        "downloadURL": f"{base}/awards/360giving.json",
        "grants": [_grant(award, funder, base) for award in ordered],
    }


def _grant(award: Award, funder: Funder, base: str) -> dict[str, Any]:
    grant: dict[str, Any] = {
        "id": f"{PREFIX}-{award.grant_id}",
        "title": award.title,
        "description": award.description,
        "currency": CURRENCY,
        "amountAwarded": award.amount_awarded,
        "awardDate": award.award_date.isoformat(),
    }
    planned = {
        key: day.isoformat()
        for key, day in (("startDate", award.planned_start), ("endDate", award.planned_end))
        if day is not None
    }
    if planned:
        grant["plannedDates"] = [planned]
    grant["recipientOrganization"] = [_recipient(award.recipient)]
    grant["fundingOrganization"] = [_funder(funder)]
    grant["grantProgramme"] = [
        {
            "code": str(award.pool_id),
            "title": award.pool_name,
            "url": f"{base}/pools/{award.pool_id}",
        }
    ]
    # Every pool is an open call: published criteria, any eligible organisation may apply.
    grant["fromOpenCall"] = "Yes"
    grant["dateModified"] = award.modified_at.isoformat()
    return grant


def _recipient(recipient: Recipient) -> dict[str, str]:
    if recipient.cvr is not None:
        identifier = f"{CVR_LIST}-{recipient.cvr}"
    else:
        # 360Giving's rule for an organisation without a registration number.
        identifier = f"{PREFIX}-{recipient.id}"
    return {"id": identifier, "name": recipient.name}


def _funder(funder: Funder) -> dict[str, str]:
    named = {"id": funder.identifier, "name": funder.name}
    if funder.department is not None:
        named["department"] = funder.department
    return named
