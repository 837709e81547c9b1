"""Realistic, varied referral bodies for the load: citizens of 66 to 99 with CPR-shaped
personal numbers, Copenhagen's districts, interests from directory's vocabulary, Danish
and often another language, some needs, preferred times and notes. Synthetic: no real
person's data; the load generator never prints or logs them.

Every body speaks Danish and names at least one interest of the vocabulary: with the
directory `benchmarks.system` seeds (checked there), each fits a service with free places,
so every referral can be offered."""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

from directory.generate import OTHER_LANGUAGES
from directory.geography import DISTRICTS
from directory.hsds.vocabulary import Taxonomy, codes

INTERESTS = tuple(sorted(codes(Taxonomy.INTERESTS)))
WHEELCHAIR = "wheelchair_access"
OTHER_NEEDS = ("hard_to_leave_home", "hearing_impairment", "visual_impairment", "dementia")
TIMES = ("morning", "afternoon", "evening")
FIRST_NAMES = (
    "Inge", "Hans", "Birthe", "Jørgen", "Kirsten", "Poul", "Grethe", "Erik", "Hanne", "Bent",
    "Lise", "Knud", "Aase", "Ole", "Bodil", "Svend", "Ruth", "Preben", "Else", "Mogens",
    "Fatma", "Mehmet", "Ayşe", "Zofia", "Ali", "Leila",
)  # fmt: skip
LAST_NAMES = (
    "Jensen", "Nielsen", "Hansen", "Pedersen", "Andersen", "Christensen", "Larsen",
    "Sørensen", "Rasmussen", "Jørgensen", "Petersen", "Madsen", "Kristensen", "Olsen",
    "Yilmaz", "Kowalska", "Hussein",
)  # fmt: skip
STREETS = ("Nørrebrogade", "Amagerbrogade", "Valby Langgade", "Frederikssundsvej", "Jagtvej")
NOTES = (
    "Hørehæmmet; tal tydeligt og vend ansigtet mod hende.",
    "Har mistet sin ægtefælle for nylig og kommer sjældent ud.",
    "Elsker at synge, men er genert i store grupper.",
    "Bruger rollator; har brug for en stol tæt på døren.",
    "Vil gerne have en fast kontaktperson første gang.",
)
OLDEST, YOUNGEST = 99, 66
"""Ages of the citizens: 66 and over, so that none is under 65 on any day of the run."""


def personal_number(rng: random.Random, today: date) -> str:
    """A CPR-shaped number, DDMMYY-SSSS or ten digits, of someone born 66 to 99 years
    before `today`: a real date, and a seventh digit whose century rule reads the 1900s."""
    earliest = date(today.year - OLDEST, 1, 1)
    latest = date(today.year - YOUNGEST - 1, 12, 31)
    born = earliest + timedelta(days=rng.randrange((latest - earliest).days + 1))
    # 0-3 always read 19xx; 4 and 9 read 19xx for years after 1936 (CPR's century rule).
    seventh = rng.choice((0, 1, 2, 3, 4, 9) if born.year > 1936 else (0, 1, 2, 3))
    serial = f"{seventh}{rng.randrange(1000):03d}"
    separator = "-" if rng.random() < 0.7 else ""
    return f"{born:%d%m%y}{separator}{serial}"


def referral_body(rng: random.Random, today: date) -> dict[str, Any]:
    """One referral as a care system submits it (POST /referrals)."""
    languages = ["da"]
    if rng.random() < 0.3:
        languages.append("en")
    if rng.random() < 0.15:
        languages.append(rng.choice(OTHER_LANGUAGES))
    needs = []
    if rng.random() < 0.15:
        needs.append(WHEELCHAIR)
    if rng.random() < 0.25:
        needs.append(rng.choice(OTHER_NEEDS))
    body: dict[str, Any] = {
        "citizen": {
            "personal_number": personal_number(rng, today),
            "name": f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
        },
        "district": rng.choice(DISTRICTS).name,
        "interests": rng.sample(INTERESTS, rng.choice((1, 1, 2, 2, 3))),
        "languages": languages,
        "needs": needs,
        "needs_accompaniment": rng.random() < 0.2,
        "preferred_times": rng.sample(TIMES, rng.choice((0, 0, 1, 1, 2))),
        "consent": {
            "referral": True,
            "share_contact_details": rng.random() < 0.8,
            "follow_up_questions": rng.random() < 0.5,
            "given_on": (today - timedelta(days=rng.randrange(14))).isoformat(),
            "recorded_by": f"cw-{rng.randrange(1, 5000)}",
            "how": rng.choice(("verbal", "written")),
        },
        "care_record_reference": f"EOJ-{today.year}-{rng.randrange(10**6):06d}",
    }
    if rng.random() < 0.6:
        body["citizen"]["address"] = f"{rng.choice(STREETS)} {rng.randrange(1, 200)}"
    if rng.random() < 0.5:
        body["citizen"]["phone"] = f"+45 {rng.randrange(20, 99)} {rng.randrange(10**6):06d}"
    if rng.random() < 0.3:
        body["note"] = rng.choice(NOTES)
    return body
