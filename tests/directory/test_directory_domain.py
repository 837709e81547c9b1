"""Ranking and the rules of a service, without any I/O; and the demo data's consistency."""

# ruff: noqa: RUF001  (the reasons write time ranges with en dashes)

from __future__ import annotations

from dataclasses import replace
from datetime import time
from typing import Any
from uuid import uuid4, uuid5

import pytest

from directory import demo
from directory.domain import (
    DEFAULT_WEIGHTS,
    DISTANCE_HORIZON_KM,
    Exclusion,
    InvalidService,
    Location,
    Match,
    Referral,
    Service,
    ServiceAtLocation,
    ServiceStatus,
    TimeOfDay,
    WeeklySchedule,
    Weights,
    assess,
    rank,
)


def referral(**changes: Any) -> Referral:
    fields: dict[str, Any] = {
        "id": uuid4(),
        "district": "Nørrebro",
        "interests": frozenset({"walking", "talk"}),
        "languages": frozenset({"da"}),
        "needs": frozenset(),
    }
    fields.update(changes)
    return Referral(**fields)


def service_at_location(
    name: str = "Gågruppe",
    *,
    district: str = "Nørrebro",
    accessible: bool = True,
    at: tuple[float, float] | None = None,
    postal_code: str = "2200",
    **changes: Any,
) -> ServiceAtLocation:
    org = uuid4()
    location = Location(
        id=uuid4(),
        organization_id=org,
        name=f"{name} lokale",
        address_1="Nørrebrogade 1",
        postal_code=postal_code,
        city="København N",
        district=district,
        wheelchair_accessible=accessible,
        latitude=at[0] if at else None,
        longitude=at[1] if at else None,
    )
    fields: dict[str, Any] = {
        "id": uuid4(),
        "organization_id": org,
        "location_id": location.id,
        "name": name,
        "schedules": [AT[TimeOfDay.MORNING]],
        "capacity": 10,
        "free_places": 3,
        "interests": ["walking"],
        "languages": ["da"],
        "target_groups": ["older_people"],
    }
    fields.update(changes)
    return ServiceAtLocation(Service(**fields), location)


AT = {
    TimeOfDay.MORNING: WeeklySchedule(("TU", "TH"), time(10), time(12)),
    TimeOfDay.AFTERNOON: WeeklySchedule(("WE",), time(13), time(16)),
    TimeOfDay.EVENING: WeeklySchedule(("TH",), time(18), time(20)),
}
"""A weekly schedule in each part of the day."""


def matched(result: Match | Exclusion) -> Match:
    assert isinstance(result, Match), result
    return result


NORREBRO_ROOMS = (55.6985, 12.5448)
"""Heimdalsgade 20, the demo walking group's rooms: 0.38 km from Nørrebro's centroid."""


def test_every_criterion_adds_its_weight_and_gives_one_reason() -> None:
    result = matched(
        assess(
            referral(needs=frozenset({"wheelchair_access", "older_people"})),
            service_at_location(interests=["walking", "talk", "chess"], at=NORREBRO_ROOMS),
        )
    )
    closeness = 1 - 0.383 / DISTANCE_HORIZON_KM
    assert result.score == pytest.approx(3 * 2 + 2 + 2 * closeness + 1 + 1 + 3 / 10 + 1, abs=0.01)
    assert result.reasons == [
        "interest: talk, walking",
        "language: da",
        "0.4 km",
        "wheelchair accessible",
        "Tue/Thu 10–12, any time suits",
        "3 of 10 places free",
        "target group: older_people",
    ]


def test_a_service_that_fits_on_target_group_alone_says_what_it_lacks() -> None:
    citizen = referral(
        interests=frozenset({"chess"}),
        needs=frozenset({"hard_to_leave_home"}),
        preferred_times=frozenset({TimeOfDay.EVENING, TimeOfDay.MORNING}),
    )
    service = service_at_location(
        interests=["talk"],
        target_groups=["hard_to_leave_home", "older_people"],
        schedules=[AT[TimeOfDay.AFTERNOON]],
        district="Roskilde",
        postal_code="4000",
    )
    result = matched(assess(citizen, service))
    assert result.score == round(2 + 1 + 3 / 10, 2)
    assert result.reasons == [
        "interest: none shared",
        "language: da",
        "distance unknown",
        "no accessibility need",
        "Wed 13–16, wanted morning or evening",
        "3 of 10 places free",
        "target group: hard_to_leave_home",
    ]


def test_a_service_at_a_preferred_time_of_day_says_so_and_scores_higher() -> None:
    morning_person = referral(preferred_times=frozenset({TimeOfDay.MORNING}))
    early = matched(assess(morning_person, service_at_location(schedules=[AT[TimeOfDay.MORNING]])))
    late = matched(assess(morning_person, service_at_location(schedules=[AT[TimeOfDay.EVENING]])))
    assert early.reasons[4] == "Tue/Thu 10–12 fits morning"
    assert late.reasons[4] == "Thu 18–20, wanted morning"
    assert early.score - late.score == pytest.approx(DEFAULT_WEIGHTS.time_of_day)


def test_without_a_preferred_time_every_time_of_day_scores_the_same() -> None:
    scores = {
        matched(assess(referral(), service_at_location(schedules=[AT[time]]))).score
        for time in TimeOfDay
    }
    assert len(scores) == 1


def test_a_nearer_service_scores_higher_and_says_how_far_it_is() -> None:
    # From Nørrebro's centroid: the demo Valby centre (Valby Langgade 91) and the main library.
    valby = matched(assess(referral(), service_at_location(at=(55.6627, 12.5105))))
    library = matched(assess(referral(), service_at_location(at=(55.6801, 12.5729))))
    assert (valby.reasons[2], library.reasons[2]) == ("4.4 km", "2.3 km")
    assert library.score > valby.score


def test_a_service_ten_kilometres_away_or_more_scores_nothing_for_distance() -> None:
    far = matched(assess(referral(), service_at_location(at=(55.60, 12.70))))
    unknown = matched(
        assess(referral(), service_at_location(district="Roskilde", postal_code="4000"))
    )
    assert (far.reasons[2], unknown.reasons[2]) == ("14.3 km", "distance unknown")
    assert far.score == unknown.score


def test_a_location_without_coordinates_is_measured_from_its_district_or_postcode() -> None:
    by_district = service_at_location(district="valby")
    by_postcode = service_at_location(district="Et sted", postal_code="2500")
    valby_to_norrebro = "4.9 km"
    assert matched(assess(referral(), by_district)).reasons[2] == valby_to_norrebro
    assert matched(assess(referral(), by_postcode)).reasons[2] == valby_to_norrebro
    assert matched(assess(referral(district="Norrebro"), by_district)).reasons[2] == (
        valby_to_norrebro
    )


def test_a_citizen_in_an_unknown_district_gets_no_distance_but_still_a_match() -> None:
    result = matched(assess(referral(district="Atlantis"), service_at_location()))
    assert result.reasons[2] == "distance unknown"


def test_free_places_count_by_their_share_of_the_capacity() -> None:
    roomy = matched(assess(referral(), service_at_location(capacity=12, free_places=12)))
    tight = matched(assess(referral(), service_at_location(capacity=12, free_places=3)))
    assert (roomy.reasons[5], tight.reasons[5]) == ("12 of 12 places free", "3 of 12 places free")
    assert roomy.score - tight.score == pytest.approx(9 / 12)


def test_an_inactive_service_is_never_matched() -> None:
    assert (
        assess(referral(), service_at_location(status=ServiceStatus.INACTIVE)) is Exclusion.INACTIVE
    )


def test_a_service_without_free_places_still_fits_and_says_it_is_full() -> None:
    result = matched(assess(referral(), service_at_location(free_places=0)))
    assert result.reasons[5] == "full"
    assert not any("places free" in reason for reason in result.reasons)


def test_a_citizen_who_needs_wheelchair_access_gets_only_accessible_places() -> None:
    needs = frozenset({"wheelchair_access"})
    assert (
        assess(referral(needs=needs), service_at_location(accessible=False))
        is Exclusion.NOT_ACCESSIBLE
    )
    result = matched(assess(referral(needs=needs), service_at_location(accessible=True)))
    assert result.reasons[3] == "wheelchair accessible"


def test_an_inaccessible_place_is_fine_for_a_citizen_without_that_need() -> None:
    result = matched(assess(referral(), service_at_location(accessible=False)))
    assert result.reasons[3] == "no accessibility need"


def test_without_a_shared_language_a_service_is_left_out() -> None:
    only_arabic = service_at_location(languages=["ar"])
    assert assess(referral(), only_arabic) is Exclusion.NO_SHARED_LANGUAGE


def test_neither_a_shared_interest_nor_a_covered_need_leaves_a_service_out() -> None:
    assert (
        assess(referral(), service_at_location(interests=["chess"])) is Exclusion.NOTHING_IN_COMMON
    )


def test_the_weights_decide_whether_nearness_or_interests_count_more() -> None:
    # Shares both interests, but in Valby; shares one, around the corner.
    both_far = service_at_location("Begge", interests=["walking", "talk"], at=(55.6627, 12.5105))
    one_near = service_at_location("En", interests=["walking"], at=NORREBRO_ROOMS)
    candidates = [one_near, both_far]

    def order(weights: Weights) -> list[str]:
        ranking = rank(referral(), candidates, max_matches=5, weights=weights)
        return [m.service_at_location.service.name for m in ranking.matches]

    assert order(DEFAULT_WEIGHTS) == ["Begge", "En"]
    assert order(replace(DEFAULT_WEIGHTS, distance=10)) == ["En", "Begge"]
    assert order(replace(DEFAULT_WEIGHTS, interest=0, free_places=0, distance=0.1)) == [
        "En",
        "Begge",
    ]


def test_the_time_of_day_weight_can_put_a_preferred_time_first() -> None:
    evening = service_at_location(
        "Aften", interests=["walking", "talk"], schedules=[AT[TimeOfDay.EVENING]]
    )
    morning = service_at_location("Morgen", interests=["walking"])
    citizen = referral(preferred_times=frozenset({TimeOfDay.MORNING}))

    def first(weights: Weights) -> str:
        ranking = rank(citizen, [evening, morning], max_matches=1, weights=weights)
        return ranking.matches[0].service_at_location.service.name

    assert first(DEFAULT_WEIGHTS) == "Aften"
    assert first(replace(DEFAULT_WEIGHTS, time_of_day=5)) == "Morgen"


@pytest.mark.parametrize("max_matches", [1, 5, 7])
def test_the_ranking_is_best_first_and_holds_at_most_as_many_as_asked_for(
    max_matches: int,
) -> None:
    services_at_locations = [service_at_location(f"Gruppe {n}", district="Valby") for n in range(7)]
    best = service_at_location("Bedst", interests=["walking", "talk"])
    ranking = rank(referral(), [*services_at_locations, best], max_matches=max_matches)
    assert len(ranking.matches) == max_matches
    assert ranking.matches[0].service_at_location is best


def test_a_full_service_ranks_after_every_service_with_a_free_place() -> None:
    full_best = service_at_location("Fuld", interests=["walking", "talk"], free_places=0)
    roomy_far = service_at_location("Langt væk", district="Valby", free_places=1)
    full_far = service_at_location("Fuld og langt væk", district="Valby", free_places=0)
    ranking = rank(referral(), [full_best, full_far, roomy_far], max_matches=5)
    assert [m.service_at_location for m in ranking.matches] == [roomy_far, full_best, full_far]
    assert [m.reasons[5] for m in ranking.matches] == ["1 of 10 places free", "full", "full"]
    assert ranking.excluded == {}


def test_ties_go_to_more_free_places_then_to_the_name() -> None:
    b_roomy = service_at_location("B", free_places=8)
    a_tight = service_at_location("A", free_places=2)
    c_tight = service_at_location("C", free_places=2)
    ranking = rank(referral(), [c_tight, a_tight, b_roomy], max_matches=5)
    assert [m.service_at_location.service.name for m in ranking.matches] == ["B", "A", "C"]


def test_the_no_match_reason_counts_why_services_were_left_out() -> None:
    ranking = rank(
        referral(needs=frozenset({"wheelchair_access"})),
        [
            service_at_location("a", accessible=False),
            service_at_location("b", languages=["pl"]),
            service_at_location("c", status=ServiceStatus.INACTIVE),
            service_at_location("d", interests=["chess"]),
            service_at_location("e", languages=["tr"]),
        ],
        max_matches=5,
    )
    assert ranking.matches == []
    assert ranking.no_match_reason() == (
        "None of the 5 services fits: 1 inactive; 1 not wheelchair accessible; "
        "1 no shared interest or target group; 2 no shared language (each counted at the "
        "first of these it fails; distance, time of day and free places only rank, never "
        "rule out)."
    )


def test_the_no_match_reason_names_the_criteria_that_ruled_out_none() -> None:
    ranking = rank(referral(), [service_at_location(languages=["pl"])], max_matches=5)
    assert ranking.no_match_reason().startswith(
        "None of the 1 services fits: 0 inactive; 0 not wheelchair accessible; "
        "0 no shared interest or target group; 1 no shared language ("
    )


def test_an_empty_directory_says_so() -> None:
    assert (
        rank(referral(), [], max_matches=5).no_match_reason()
        == "The directory has no services yet."
    )


@pytest.mark.parametrize(("capacity", "free_places"), [(10, 11), (10, -1), (0, 0)])
def test_free_places_must_lie_between_zero_and_the_capacity(
    capacity: int, free_places: int
) -> None:
    with pytest.raises(InvalidService):
        service_at_location(capacity=capacity, free_places=free_places)


def test_demo_ids_are_uuid5_of_a_pinned_namespace_and_the_name() -> None:
    # Pinned: other services' demo data and the README refer to these ids.
    assert str(demo.NAMESPACE) == "ff8629ff-2be1-44d3-8c4c-0254ddd33205"
    expected = uuid5(demo.NAMESPACE, "organization:Ældre Sagen Nørrebro")
    assert expected == demo.NORREBRO_WALKING_GROUP_ORG_ID
    walking = demo.NORREBRO_WALKING_GROUP
    assert demo.stable_id("service", walking.facts.name) == demo.NORREBRO_WALKING_GROUP_SERVICE_ID


def test_every_demo_service_is_at_a_location_of_its_own_organisation() -> None:
    organizations = {o.id for o in demo.ORGANIZATIONS}
    locations = {location.id: location for location in demo.LOCATIONS}
    assert len(organizations) == 8 and len(demo.SERVICES) == 10
    assert {location.organization_id for location in demo.LOCATIONS} == organizations
    for service in (s.facts for s in demo.SERVICES):
        assert locations[service.location_id].organization_id == service.organization_id
    languages = {lang for service in demo.SERVICES for lang in service.facts.languages}
    assert {"da", "en", "ar", "tr", "ur", "pl"} <= languages


def test_a_walker_on_norrebro_is_matched_to_the_demo_walking_group_first() -> None:
    locations = {location.id: location for location in demo.LOCATIONS}
    services_at_locations = [
        ServiceAtLocation(s.facts, locations[s.facts.location_id]) for s in demo.SERVICES
    ]
    ranking = rank(referral(interests=frozenset({"walking"})), services_at_locations, max_matches=5)
    assert (
        ranking.matches[0].service_at_location.service.id == demo.NORREBRO_WALKING_GROUP_SERVICE_ID
    )
    assert ranking.matches[0].reasons == [
        "interest: walking",
        "language: da",
        "0.4 km",
        "no accessibility need",
        "Tue/Thu 10–11.30, any time suits",
        "6 of 20 places free",
        "target group: none shared",
    ]
