"""Public awards as a 360Giving 1.4.3 package, checked against the standard's own schemas."""

# ruff: noqa: RUF001  (Danish titles write their dashes as en dashes)

from __future__ import annotations

import copy
import json
from dataclasses import fields, replace
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any
from uuid import UUID

import jsonschema
import pytest
import referencing
import referencing.exceptions
from referencing.jsonschema import DRAFT202012

from grants.threesixtygiving import (
    Award,
    Funder,
    InvalidAward,
    NoAwards,
    Recipient,
    package,
)
from tests.hsds import FORMATS
from tools.contracts import STANDARDS

SCHEMAS = STANDARDS / "360giving"
PACKAGE_SCHEMA: dict[str, Any] = json.loads(
    (SCHEMAS / "360-giving-package-schema.json").read_text()
)
GRANT_SCHEMA: dict[str, Any] = json.loads((SCHEMAS / "360-giving-schema.json").read_text())
AWARD_DATE: dict[str, Any] = GRANT_SCHEMA["properties"]["awardDate"]

COPENHAGEN = Funder(
    name="Københavns Kommune",
    identifier="DK-CVR-64942212",
    department="Sundheds- og Omsorgsforvaltningen",
)
LICENCE = "https://creativecommons.org/licenses/by/4.0/"
BASE_URL = "https://grants.brobygger.example"
PUBLISHED = date(2026, 9, 1)
POOL_ID = UUID("5f0c6a52-1b8e-4c1e-9a57-0d3c2b1a0f01")

CHESS = Award(
    grant_id=UUID("0b9f5c3e-7a41-4f7e-8f64-2d7c1e9a3b10"),
    pool_id=POOL_ID,
    pool_name="Nye fællesskaber for ældre 2026",
    title="Seniorskak på Østerbro",
    description="Et ugentligt skakhold for ældre, der vil møde andre over brættet.",
    amount_awarded=18_500,
    award_date=date(2026, 5, 12),
    modified_at=datetime(2026, 6, 2, 8, 30, tzinfo=UTC),
    recipient=Recipient(
        id=UUID("3c6d1f0a-9e2b-4b7a-8d15-6f4e2a1c0b22"), name="Skakklubben Østerbro", cvr="12345678"
    ),
    planned_start=date(2026, 8, 1),
    planned_end=date(2027, 6, 30),
)
WALKING_GROUP = Award(
    grant_id=UUID("a4e2d8c1-3f6b-4a9e-b0c7-5e1d9f2a6c33"),
    pool_id=POOL_ID,
    pool_name="Nye fællesskaber for ældre 2026",
    title="Gågruppe på Nørrebro – to ture om ugen",
    description="Gåture i Nørrebroparken med kaffe bagefter, for ældre der bor alene.",
    amount_awarded=120_000,
    award_date=date(2026, 5, 19),
    modified_at=datetime(2026, 6, 15, 11, 0, tzinfo=timezone(timedelta(hours=2))),
    recipient=Recipient(
        id=UUID("7d2a9b4e-0c5f-4e8d-a1b6-3f9c2e7d4a44"), name="Ældre Sagen Nørrebro"
    ),
)


def publish(*awards: Award) -> dict[str, Any]:
    return package(
        awards,
        COPENHAGEN,
        published=PUBLISHED,
        publisher=COPENHAGEN,
        licence=LICENCE,
        base_url=BASE_URL,
    )


def validator(schema: dict[str, Any], *, formats: bool = True) -> jsonschema.Draft202012Validator:
    # Both schemas name draft 2020-12 by an http:// address that jsonschema does not recognise,
    # so the dialect is chosen here, not read from `$schema`. The grant schema is registered
    # under the address the package schema's `$ref` uses: nothing is fetched over the network.
    grants_ref = PACKAGE_SCHEMA["properties"]["grants"]["items"]["$ref"]
    registry: referencing.Registry[Any] = referencing.Registry().with_resource(
        grants_ref, DRAFT202012.create_resource(GRANT_SCHEMA)
    )
    return jsonschema.Draft202012Validator(
        schema, registry=registry, format_checker=FORMATS if formats else None
    )


def errors(document: object, schema: dict[str, Any] = PACKAGE_SCHEMA) -> list[str]:
    found = validator(schema).iter_errors(document)
    return [f"{error.json_path}: {error.message}" for error in found]


# The official schemas and how they are read


def test_the_official_schemas_are_valid_draft_2020_12_schemas_that_ask_for_a_grant() -> None:
    jsonschema.Draft202012Validator.check_schema(PACKAGE_SCHEMA)
    jsonschema.Draft202012Validator.check_schema(GRANT_SCHEMA)
    assert PACKAGE_SCHEMA["$schema"] == GRANT_SCHEMA["$schema"]
    assert PACKAGE_SCHEMA["$schema"] == "http://json-schema.org/draft/2020-12/schema"
    assert PACKAGE_SCHEMA["properties"]["grants"]["minItems"] == 1


def test_the_format_checker_really_checks_the_formats_the_schemas_use() -> None:
    # jsonschema's own checker skips date-time and uri silently without optional packages.
    assert {"date", "date-time", "uri"} <= set(FORMATS.checkers)


def test_the_package_reference_to_the_grant_schema_resolves_locally_and_nowhere_else() -> None:
    elsewhere = copy.deepcopy(PACKAGE_SCHEMA)
    elsewhere["properties"]["grants"]["items"] = {"$ref": "https://example.invalid/grant.json"}

    validator(PACKAGE_SCHEMA).validate(publish(CHESS))
    with pytest.raises(referencing.exceptions.Unresolvable):
        validator(elsewhere).validate(publish(CHESS))


# The package validates


def test_a_package_of_two_awards_validates_against_the_official_package_schema() -> None:
    assert errors(publish(CHESS, WALKING_GROUP)) == []


def test_each_grant_validates_on_its_own_against_the_official_grant_schema() -> None:
    grants = publish(CHESS, WALKING_GROUP)["grants"]

    assert len(grants) == 2
    for grant in grants:
        assert errors(grant, GRANT_SCHEMA) == []


def test_a_grant_without_planned_dates_or_cvr_number_validates_too() -> None:
    assert (WALKING_GROUP.planned_start, WALKING_GROUP.planned_end) == (None, None)
    assert WALKING_GROUP.recipient.cvr is None

    assert errors(publish(WALKING_GROUP)) == []


# The format checks bite


def test_an_award_date_that_is_no_date_fails_validation_only_because_formats_are_checked() -> None:
    document = publish(CHESS)
    document["grants"][0]["awardDate"] = "2026-13-01"

    assert errors(document) == [
        "$.grants[0].awardDate: '2026-13-01' is not valid under any of the given schemas"
    ]
    # Without a date-time check the string passes as a "date-time": the checker does the work.
    assert validator(AWARD_DATE, formats=False).is_valid("2026-13-01")


def test_a_real_date_fails_when_date_times_go_unchecked_so_the_check_is_needed_both_ways() -> None:
    # awardDate is oneOf(date-time, date pattern): an unchecked date-time branch matches every
    # string, so a valid date matches both branches and oneOf refuses it.
    assert not validator(AWARD_DATE, formats=False).is_valid("2026-05-12")
    assert validator(AWARD_DATE).is_valid("2026-05-12")


def test_a_date_modified_without_a_time_fails_the_date_time_format() -> None:
    document = publish(CHESS)
    document["grants"][0]["dateModified"] = "2026-06-02"

    assert errors(document) == ["$.grants[0].dateModified: '2026-06-02' is not a 'date-time'"]


def test_a_licence_that_is_no_address_fails_the_uri_format() -> None:
    document = publish(CHESS)
    document["license"] = "CC BY 4.0"

    assert errors(document) == ["$.license: 'CC BY 4.0' is not a 'uri'"]


# The mapping


def test_grant_ids_are_the_360giving_prefix_followed_by_the_grant_id() -> None:
    grant = publish(CHESS)["grants"][0]

    assert grant["id"] == "360G-brobygger-kk-0b9f5c3e-7a41-4f7e-8f64-2d7c1e9a3b10"


def test_amounts_are_whole_kroner_in_dkk() -> None:
    grant = publish(CHESS)["grants"][0]

    assert grant["currency"] == "DKK"
    assert grant["amountAwarded"] == 18_500
    assert type(grant["amountAwarded"]) is int
    assert json.dumps(grant["amountAwarded"]) == "18500"


def test_dates_are_iso_dates_and_the_modified_time_keeps_its_offset() -> None:
    chess, walk = publish(CHESS, WALKING_GROUP)["grants"]

    assert chess["awardDate"] == "2026-05-12"
    assert chess["plannedDates"] == [{"startDate": "2026-08-01", "endDate": "2027-06-30"}]
    assert chess["dateModified"] == "2026-06-02T08:30:00+00:00"
    assert walk["dateModified"] == "2026-06-15T11:00:00+02:00"


def test_planned_dates_are_given_only_as_far_as_they_are_known() -> None:
    start_only = replace(CHESS, planned_end=None)
    unknown = replace(CHESS, planned_start=None, planned_end=None)

    assert publish(start_only)["grants"][0]["plannedDates"] == [{"startDate": "2026-08-01"}]
    assert "plannedDates" not in publish(unknown)["grants"][0]


def test_a_recipient_with_a_cvr_number_is_identified_in_the_dk_cvr_list() -> None:
    grant = publish(CHESS)["grants"][0]

    assert grant["recipientOrganization"] == [
        {"id": "DK-CVR-12345678", "name": "Skakklubben Østerbro"}
    ]


def test_a_recipient_without_a_cvr_number_is_identified_under_the_publishers_prefix() -> None:
    grant = publish(WALKING_GROUP)["grants"][0]

    assert grant["recipientOrganization"] == [
        {
            "id": "360G-brobygger-kk-7d2a9b4e-0c5f-4e8d-a1b6-3f9c2e7d4a44",
            "name": "Ældre Sagen Nørrebro",
        }
    ]


def test_the_funder_is_named_by_its_org_id_with_its_department() -> None:
    grant = publish(CHESS)["grants"][0]
    no_department = package(
        [CHESS],
        Funder(name="Københavns Kommune", identifier="DK-CVR-64942212"),
        published=PUBLISHED,
        publisher=COPENHAGEN,
        licence=LICENCE,
        base_url=BASE_URL,
    )["grants"][0]

    assert grant["fundingOrganization"] == [
        {
            "id": "DK-CVR-64942212",
            "name": "Københavns Kommune",
            "department": "Sundheds- og Omsorgsforvaltningen",
        }
    ]
    assert no_department["fundingOrganization"] == [
        {"id": "DK-CVR-64942212", "name": "Københavns Kommune"}
    ]


def test_the_pool_is_the_grant_programme_with_its_public_page() -> None:
    grant = package(
        [CHESS],
        COPENHAGEN,
        published=PUBLISHED,
        publisher=COPENHAGEN,
        licence=LICENCE,
        base_url=BASE_URL + "/",
    )["grants"][0]

    assert grant["grantProgramme"] == [
        {
            "code": "5f0c6a52-1b8e-4c1e-9a57-0d3c2b1a0f01",
            "title": "Nye fællesskaber for ældre 2026",
            "url": "https://grants.brobygger.example/pools/5f0c6a52-1b8e-4c1e-9a57-0d3c2b1a0f01",
        }
    ]
    assert grant["fromOpenCall"] == "Yes"


def test_title_and_purpose_keep_their_danish_characters() -> None:
    grant = publish(WALKING_GROUP)["grants"][0]
    written = json.dumps(grant, ensure_ascii=False)

    assert grant["title"] == "Gågruppe på Nørrebro – to ture om ugen"
    assert grant["description"] == (
        "Gåture i Nørrebroparken med kaffe bagefter, for ældre der bor alene."
    )
    assert "Ældre Sagen Nørrebro" in written
    assert json.loads(json.dumps(grant))["title"] == grant["title"]


def test_no_personal_data_is_published_not_even_a_contact_person() -> None:
    document = publish(CHESS, WALKING_GROUP)
    person_fields = {
        "contactName",
        "email",
        "telephone",
        "streetAddress",
        "addressLocality",
        "postalCode",
        "recipientIndividual",
        "toIndividualsDetails",
    }

    def keys(node: object) -> set[str]:
        if isinstance(node, dict):
            return set(node) | {key for value in node.values() for key in keys(value)}
        if isinstance(node, list):
            return {key for value in node for key in keys(value)}
        return set()

    assert keys(document) & person_fields == set()
    for grant in document["grants"]:
        assert [set(org) for org in grant["recipientOrganization"]] == [{"id", "name"}]
    # Nor can a caller pass one in: a recipient is its id, name and CVR number only.
    assert {field.name for field in fields(Recipient)} == {"id", "name", "cvr"}


def test_the_package_says_version_1_4_who_published_it_when_under_which_licence_and_where() -> None:
    document = publish(CHESS, WALKING_GROUP)

    assert {key: value for key, value in document.items() if key != "grants"} == {
        "version": "1.4",
        "issued": "2026-09-01",
        "modified": "2026-06-15T11:00:00+02:00",
        "publisher": {"name": "Københavns Kommune", "identifier": "DK-CVR-64942212"},
        "license": "https://creativecommons.org/licenses/by/4.0/",
        "accessURL": "https://grants.brobygger.example/awards",
        "downloadURL": "https://grants.brobygger.example/awards/360giving.json",
    }


def test_the_schema_allows_only_major_and_minor_in_the_version_so_1_4_3_would_fail() -> None:
    document = publish(CHESS)
    document["version"] = "1.4.3"

    assert errors(document) == ["$.version: '1.4.3' does not match '^(\\\\d+\\\\.)(\\\\d+)$'"]


def test_grants_come_oldest_award_first_whatever_order_they_are_given_in() -> None:
    later_chess = replace(CHESS, award_date=date(2026, 5, 26))

    assert [grant["awardDate"] for grant in publish(WALKING_GROUP, CHESS)["grants"]] == [
        "2026-05-12",
        "2026-05-19",
    ]
    assert [grant["awardDate"] for grant in publish(later_chess, WALKING_GROUP)["grants"]] == [
        "2026-05-19",
        "2026-05-26",
    ]


# What cannot be published


def test_no_awards_make_no_package_because_the_standard_has_no_valid_empty_one() -> None:
    with pytest.raises(NoAwards, match="at least one"):
        publish()
    assert errors({"grants": []}) == ["$.grants: [] should be non-empty"]


def test_the_same_grant_twice_is_refused_because_grant_ids_are_unique() -> None:
    with pytest.raises(InvalidAward, match="given twice"):
        publish(CHESS, replace(CHESS, title="Seniorskak, anden runde"))


@pytest.mark.parametrize("cvr", ["1234567", "123456789", "1234567a", " 2345678", "١٢٣٤٥٦٧٨"])
def test_a_cvr_number_is_eight_digits(cvr: str) -> None:
    with pytest.raises(InvalidAward, match=r"recipient\.cvr"):
        Recipient(id=CHESS.recipient.id, name="Skakklubben Østerbro", cvr=cvr)


@pytest.mark.parametrize("amount", [0, -1, True])
def test_an_award_is_a_whole_number_of_kroner_above_zero(amount: int) -> None:
    with pytest.raises(InvalidAward, match="amount_awarded"):
        replace(CHESS, amount_awarded=amount)


def test_a_modified_time_without_an_offset_is_refused() -> None:
    with pytest.raises(InvalidAward, match="modified_at"):
        replace(CHESS, modified_at=datetime(2026, 6, 2, 8, 30))


def test_an_award_date_with_a_time_is_refused() -> None:
    with pytest.raises(InvalidAward, match="award_date"):
        replace(CHESS, award_date=datetime(2026, 5, 12, 9, 0, tzinfo=UTC))


def test_a_grant_cannot_be_planned_to_end_before_it_starts() -> None:
    with pytest.raises(InvalidAward, match="planned_end"):
        replace(CHESS, planned_start=date(2026, 8, 1), planned_end=date(2026, 7, 31))


@pytest.mark.parametrize("blank", ["", "   "])
def test_a_grant_needs_a_title_and_its_recipient_a_name(blank: str) -> None:
    with pytest.raises(InvalidAward, match="title"):
        replace(CHESS, title=blank)
    with pytest.raises(InvalidAward, match=r"recipient\.name"):
        replace(CHESS.recipient, name=blank)
