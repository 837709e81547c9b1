"""Copenhagen's districts, their postcodes, and distances between points."""

from __future__ import annotations

import pytest

from directory.geography import (
    AMAGER_OST,
    BISPEBJERG,
    BRONSHOJ_HUSUM,
    DISTRICTS,
    INDRE_BY,
    NORREBRO,
    OSTERBRO,
    VALBY,
    VANLOSE,
    VESTERBRO_KONGENS_ENGHAVE,
    district_for_postcode,
    district_named,
    haversine_km,
)


def test_one_degree_of_latitude_is_about_111_km() -> None:
    assert haversine_km(55.0, 12.0, 56.0, 12.0) == pytest.approx(111.19, abs=0.01)


def test_copenhagen_city_hall_to_aarhus_city_hall_is_the_known_157_km() -> None:
    assert haversine_km(55.6757, 12.5691, 56.1529, 10.2039) == pytest.approx(156.6, abs=0.5)


def test_a_degree_of_longitude_in_copenhagen_is_shorter_than_at_the_equator() -> None:
    # cos(55.7°) of the equator's 111.19 km.
    assert haversine_km(55.7, 12.0, 55.7, 13.0) == pytest.approx(62.65, abs=0.05)
    assert haversine_km(0.0, 12.0, 0.0, 13.0) == pytest.approx(111.19, abs=0.01)


def test_the_ten_districts_lie_in_copenhagen_and_apart() -> None:
    assert len(DISTRICTS) == 10 == len({d.name for d in DISTRICTS})
    for district in DISTRICTS:
        assert 55.61 < district.latitude < 55.73 and 12.45 < district.longitude < 12.65
        # Indre By is the middle: every district's centroid is within 8 km of it.
        assert (
            haversine_km(
                INDRE_BY.latitude, INDRE_BY.longitude, district.latitude, district.longitude
            )
            < 8
        )


@pytest.mark.parametrize(
    ("name", "district"),
    [
        ("Nørrebro", NORREBRO),
        ("norrebro", NORREBRO),
        ("NOERREBRO", NORREBRO),
        ("østerbro", OSTERBRO),
        ("Brønshøj-Husum", BRONSHOJ_HUSUM),
        ("bronshoj husum", BRONSHOJ_HUSUM),
        ("Vanlose", VANLOSE),
        ("Vesterbro/Kongens Enghave", VESTERBRO_KONGENS_ENGHAVE),
        # The demo data's spellings.
        ("Vesterbro", VESTERBRO_KONGENS_ENGHAVE),
        ("Amager", AMAGER_OST),
        ("amager øst", AMAGER_OST),
        ("Indre By", INDRE_BY),
        (" Bispebjerg ", BISPEBJERG),
        # A postcode stands for its district.
        ("2500", VALBY),
    ],
)
def test_a_district_is_found_by_its_name_whatever_the_case_and_accents(
    name: str, district: object
) -> None:
    assert district_named(name) is district


def test_a_name_that_is_no_district_finds_none() -> None:
    assert district_named("Roskilde") is None
    assert district_named("") is None


@pytest.mark.parametrize(
    ("postcode", "district"),
    [
        ("1000", INDRE_BY),
        ("1172", INDRE_BY),
        ("1499", INDRE_BY),
        ("1650", VESTERBRO_KONGENS_ENGHAVE),
        ("1799", VESTERBRO_KONGENS_ENGHAVE),
        ("2100", OSTERBRO),
        ("2150", OSTERBRO),
        ("2200", NORREBRO),
        ("2400", BISPEBJERG),
        ("2450", VESTERBRO_KONGENS_ENGHAVE),
        ("2500", VALBY),
        ("2700", BRONSHOJ_HUSUM),
        ("2720", VANLOSE),
    ],
)
def test_copenhagen_postcodes_map_to_their_district(postcode: str, district: object) -> None:
    assert district_for_postcode(postcode) is district


@pytest.mark.parametrize("postcode", ["1800", "2000", "2300", "2610", "999", "22OO", "٢٢٠٠"])
def test_postcodes_outside_the_city_split_or_malformed_name_no_district(postcode: str) -> None:
    # 1800-2000 are Frederiksberg; 2300 is split between the two Amager districts.
    assert district_for_postcode(postcode) is None
