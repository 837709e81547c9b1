"""Who a referral is for: the personal number, its birth date and the age band."""

from datetime import date

import pytest

from referrals.domain import InvalidPersonalNumber, NotEligible, age_band, parse_cpr


def test_a_personal_number_reads_its_birth_date_with_the_century_rule() -> None:
    assert parse_cpr("010140-1234") == ("0101401234", date(1940, 1, 1))
    assert parse_cpr("0101404234") == ("0101404234", date(1940, 1, 1))
    assert parse_cpr("0101104234") == ("0101104234", date(2010, 1, 1))


def test_a_personal_number_failing_modulus_11_is_still_accepted() -> None:
    # 010140-1235 fails the old modulus-11 check; such numbers are issued since 2007.
    assert parse_cpr("010140-1235")[0] == "0101401235"


@pytest.mark.parametrize(
    "raw", ["", "12345", "320140-1234", "011340-1234", "01014O1234", "٠١٠١٤٠-١٢٣٤"]
)
def test_a_malformed_personal_number_is_refused(raw: str) -> None:
    with pytest.raises(InvalidPersonalNumber):
        parse_cpr(raw)


def test_a_birth_date_in_the_future_is_refused() -> None:
    _, born = parse_cpr("010150-5000")  # the CPR century rule puts this in 2050
    with pytest.raises(InvalidPersonalNumber, match="future"):
        age_band(born, date(2026, 11, 22))


def test_citizens_under_65_are_not_served() -> None:
    with pytest.raises(NotEligible):
        age_band(date(1961, 11, 23), date(2026, 11, 22))
    assert age_band(date(1961, 11, 22), date(2026, 11, 22)) == "65-69"


def test_the_age_band_counts_birthdays_not_years() -> None:
    assert age_band(date(1946, 11, 23), date(2026, 11, 22)) == "75-79"
    assert age_band(date(1946, 11, 22), date(2026, 11, 22)) == "80-84"
    assert age_band(date(1930, 1, 1), date(2026, 11, 22)) == "90+"
