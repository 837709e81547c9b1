"""Ranking and the rules of a service, without any I/O; and the demo data's consistency."""

from __future__ import annotations

from typing import Any
from uuid import uuid4, uuid5

import pytest

from directory import demo
from directory.domain import (
    Exclusion,
    InvalidService,
    Location,
    Match,
    Referral,
    Service,
    ServiceAtLocation,
    ServiceStatus,
    TimeOfDay,
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
    **changes: Any,
) -> ServiceAtLocation:
    org = uuid4()
    location = Location(
        id=uuid4(),
        organization_id=org,
        name=f"{name} lokale",
        address_1="Nørrebrogade 1",
        postal_code="2200",
        city="København N",
        district=district,
        wheelchair_accessible=accessible,
    )
    fields: dict[str, Any] = {
        "id": uuid4(),
        "organization_id": org,
        "location_id": location.id,
        "name": name,
        "description": "En fast gruppe.",
        "time_of_day": TimeOfDay.MORNING,
        "capacity": 10,
        "free_places": 3,
        "interests": ["walking"],
        "languages": ["da"],
        "target_groups": ["older_people"],
    }
    fields.update(changes)
    return ServiceAtLocation(Service(**fields), location)


def matched(result: Match | Exclusion) -> Match:
    assert isinstance(result, Match), result
    return result


def test_shared_interests_a_shared_language_and_the_same_district_add_up() -> None:
    result = matched(
        assess(referral(), service_at_location(interests=["walking", "talk", "chess"]))
    )
    assert result.score == 3 * 2 + 2 + 2
    assert result.reasons == [
        "interest:talk",
        "interest:walking",
        "language:da",
        "district:Nørrebro",
        "free_places:3",
    ]


def test_another_district_scores_lower_but_still_fits() -> None:
    result = matched(assess(referral(), service_at_location(district="Valby")))
    assert result.score == 3 + 2
    assert not any(reason.startswith("district:") for reason in result.reasons)


def test_the_district_compares_without_regard_to_case() -> None:
    result = matched(
        assess(referral(district="østerbro"), service_at_location(district="Østerbro"))
    )
    assert "district:Østerbro" in result.reasons


def test_an_inactive_service_is_never_matched() -> None:
    assert (
        assess(referral(), service_at_location(status=ServiceStatus.INACTIVE)) is Exclusion.INACTIVE
    )


def test_a_service_without_free_places_still_fits_and_says_it_is_full() -> None:
    result = matched(assess(referral(), service_at_location(free_places=0)))
    assert result.score == 3 + 2 + 2
    assert result.reasons[-1] == "full"
    assert not any(reason.startswith("free_places:") for reason in result.reasons)


def test_a_citizen_who_needs_wheelchair_access_gets_only_accessible_places() -> None:
    needs = frozenset({"wheelchair_access"})
    assert (
        assess(referral(needs=needs), service_at_location(accessible=False))
        is Exclusion.NOT_ACCESSIBLE
    )
    result = matched(assess(referral(needs=needs), service_at_location(accessible=True)))
    assert "accessible" in result.reasons


def test_an_inaccessible_place_is_fine_for_a_citizen_without_that_need() -> None:
    result = matched(assess(referral(), service_at_location(accessible=False)))
    assert "accessible" not in result.reasons


def test_without_a_shared_language_a_service_is_left_out() -> None:
    only_arabic = service_at_location(languages=["ar"])
    assert assess(referral(), only_arabic) is Exclusion.NO_SHARED_LANGUAGE


def test_a_target_group_that_covers_a_need_is_enough_without_a_shared_interest() -> None:
    citizen = referral(interests=frozenset({"chess"}), needs=frozenset({"hard_to_leave_home"}))
    service = service_at_location(
        interests=["talk"], target_groups=["hard_to_leave_home", "older_people"]
    )
    result = matched(assess(citizen, service))
    assert result.score == 2 + 2 + 1
    assert "target_group:hard_to_leave_home" in result.reasons


def test_neither_a_shared_interest_nor_a_covered_need_leaves_a_service_out() -> None:
    assert (
        assess(referral(), service_at_location(interests=["chess"])) is Exclusion.NOTHING_IN_COMMON
    )


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
    assert [m.reasons[-1] for m in ranking.matches] == ["free_places:1", "full", "full"]
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
        "1 no shared interest or target group; 2 no shared language."
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
    assert demo.stable_id("service", walking.name) == demo.NORREBRO_WALKING_GROUP_SERVICE_ID


def test_every_demo_service_is_at_a_location_of_its_own_organisation() -> None:
    organizations = {o.id for o in demo.ORGANIZATIONS}
    locations = {location.id: location for location in demo.LOCATIONS}
    assert len(organizations) == 8 and len(demo.SERVICES) == 10
    assert {location.organization_id for location in demo.LOCATIONS} == organizations
    for service in demo.SERVICES:
        assert locations[service.location_id].organization_id == service.organization_id
    languages = {lang for service in demo.SERVICES for lang in service.languages}
    assert {"da", "en", "ar", "tr", "ur", "pl"} <= languages


def test_a_walker_on_norrebro_is_matched_to_the_demo_walking_group_first() -> None:
    locations = {location.id: location for location in demo.LOCATIONS}
    services_at_locations = [
        ServiceAtLocation(service, locations[service.location_id]) for service in demo.SERVICES
    ]
    ranking = rank(referral(interests=frozenset({"walking"})), services_at_locations, max_matches=5)
    assert (
        ranking.matches[0].service_at_location.service.id == demo.NORREBRO_WALKING_GROUP_SERVICE_ID
    )
    assert ranking.matches[0].reasons == [
        "interest:walking",
        "language:da",
        "district:Nørrebro",
        "free_places:6",
    ]
