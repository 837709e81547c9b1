"""The load's referral bodies are ones the referrals API takes, and they vary."""

from __future__ import annotations

import random
from datetime import date

from benchmarks.bodies import INTERESTS, personal_number, referral_body
from referrals.api.care import ReferralCreate
from referrals.domain.citizen import age_band, parse_cpr

TODAY = date(2026, 11, 30)


def test_every_body_is_a_referral_the_api_accepts_of_a_citizen_of_65_or_over() -> None:
    rng = random.Random(1)
    for _ in range(2000):
        body = referral_body(rng, TODAY)
        ReferralCreate.model_validate(body)  # raises on anything the API would refuse
        _, born = parse_cpr(body["citizen"]["personal_number"])
        age_band(born, TODAY)  # raises for the future or under 65


def test_personal_numbers_are_cpr_shaped_real_dates_read_in_the_right_century() -> None:
    rng = random.Random(2)
    for _ in range(5000):
        number = personal_number(rng, TODAY)
        assert len(number.replace("-", "")) == 10
        _, born = parse_cpr(number)
        assert TODAY.year - 100 <= born.year <= TODAY.year - 66


def test_every_body_speaks_danish_and_has_an_interest_the_directory_knows() -> None:
    rng = random.Random(3)
    for _ in range(500):
        body = referral_body(rng, TODAY)
        assert "da" in body["languages"]
        assert set(body["interests"]) <= set(INTERESTS) and body["interests"]


def test_the_bodies_vary_in_what_matching_and_the_partner_see() -> None:
    rng = random.Random(4)
    bodies = [referral_body(rng, TODAY) for _ in range(500)]
    assert len({b["district"] for b in bodies}) == 10
    assert len({i for b in bodies for i in b["interests"]}) == len(INTERESTS)
    assert len({tuple(b["languages"]) for b in bodies}) > 3
    assert any("wheelchair_access" in b["needs"] for b in bodies)
    assert any(not b["needs"] for b in bodies)
    assert any("note" in b for b in bodies) and any("note" not in b for b in bodies)
    assert len({b["citizen"]["personal_number"] for b in bodies}) > 490
