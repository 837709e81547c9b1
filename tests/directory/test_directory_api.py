"""The directory HTTP API on a seeded demo directory, with an unreachable broker."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID, uuid4

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from directory import demo
from directory.app import create_app
from runtime.auth import Role
from tests.kit import auth_header

WALKING = demo.NORREBRO_WALKING_GROUP_SERVICE_ID


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/directory.db"


@pytest.fixture
def client(offline_service_env: pytest.MonkeyPatch, db_url: str) -> Iterator[TestClient]:
    offline_service_env.setenv("DIRECTORY_DATABASE_URL", db_url)
    offline_service_env.setenv("DIRECTORY_SEED_DEMO", "true")
    with TestClient(create_app()) as test_client:
        yield test_client


def test_the_demo_directory_is_seeded_before_the_first_request(client: TestClient) -> None:
    organizations = client.get("/organizations").json()
    assert organizations["total_items"] == len(demo.ORGANIZATIONS)


def auth(role: Role = Role.OPERATOR, org: UUID | None = None) -> dict[str, str]:
    """An operator's headers, or a partner's, of the walking group unless `org` is given."""
    if role is Role.PARTNER and org is None:
        org = demo.NORREBRO_WALKING_GROUP_ORG_ID
    return auth_header(role, organization_id=org)


def rows(db_url: str, table: str) -> int:
    engine = create_engine(db_url)
    with engine.connect() as connection:
        found = connection.execute(text(f"select count(*) from {table}")).scalar_one()  # noqa: S608
    engine.dispose()
    return int(found)


def service_body(**changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "location_id": str(demo.NORREBRO_ROOMS.id),
        "name": "Søndagsgåtur på Nørrebro",
        "description": "En længere tur om søndagen.",
        "interests": ["walking"],
        "languages": ["da"],
        "target_groups": ["older_people"],
        "time_of_day": "morning",
        "capacity": 12,
    }
    payload.update(changes)
    return payload


def organization_body(**changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "name": "Brønshøj Seniorsvømning",
        "description": "Svømning for seniorer.",
        "email": "kontakt@svom.example",
        "website": "https://svom.example/",
        "coordinator_email": "koordinator@svom.example",
    }
    payload.update(changes)
    return payload


def location_body(**changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "name": "Superkilen",
        "address_1": "Nørrebrogade 210",
        "postal_code": "2200",
        "city": "København N",
        "district": "Nørrebro",
        "wheelchair_accessible": True,
        "latitude": 55.7,
        "longitude": 12.54,
    }
    payload.update(changes)
    return payload


def test_anyone_reads_the_directory_without_a_token(client: TestClient) -> None:
    organizations = client.get("/organizations")
    assert organizations.status_code == 200
    assert organizations.json()["total_items"] == 8
    one = client.get(f"/organizations/{demo.NORREBRO_WALKING_GROUP_ORG_ID}")
    assert one.json()["name"] == "Ældre Sagen Nørrebro"
    service = client.get(f"/services/{WALKING}").json()
    assert service["organization_id"] == str(demo.NORREBRO_WALKING_GROUP_ORG_ID)
    assert service["status"] == "active"
    assert service["languages"] == ["da", "en"]
    assert service["location"]["district"] == "Nørrebro"


def test_the_coordinators_address_never_appears_in_public_output(client: TestClient) -> None:
    public = [
        client.get("/organizations?per_page=100").text,
        client.get(f"/organizations/{demo.NORREBRO_WALKING_GROUP_ORG_ID}").text,
        client.get("/services?per_page=100").text,
        client.get(f"/services/{WALKING}").text,
    ]
    for body in public:
        assert "coordinator" not in body and "koordinator@" not in body


def test_services_are_filtered_and_paged_in_the_hsds_list_envelope(client: TestClient) -> None:
    page = client.get("/services", params={"per_page": 4, "page": 3}).json()
    assert {k: v for k, v in page.items() if k != "contents"} == {
        "total_items": 10,
        "total_pages": 3,
        "page_number": 3,
        "size": 2,
        "first_page": False,
        "last_page": True,
        "empty": False,
    }
    found = client.get("/services", params={"district": "Østerbro", "language": "en"}).json()
    assert [s["name"] for s in found["contents"]] == ["Skakklubben Østerbro Senior"]
    digital = client.get("/services", params={"interest": "digital", "language": "pl"}).json()
    assert [s["id"] for s in digital["contents"]] == [str(demo.DIGITAL_HELP_SERVICE_ID)]
    beyond = client.get("/services", params={"page": 99}).json()
    assert (beyond["empty"], beyond["contents"], beyond["total_items"]) == (True, [], 10)


@pytest.mark.parametrize(
    "query",
    [
        {"page": 0},
        {"per_page": 1000},
        {"page": 10**30},
        {"language": "dansk"},
        {"interest": "walking; drop table service"},
        {"district": "Nørre\x00bro"},
    ],
)
def test_bad_search_parameters_get_a_problem(client: TestClient, query: dict[str, Any]) -> None:
    response = client.get("/services", params=query)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


def test_unknown_or_malformed_ids_get_a_problem(client: TestClient) -> None:
    for path in (f"/services/{uuid4()}", f"/organizations/{uuid4()}"):
        missing = client.get(path)
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"
    assert client.get("/services/not-a-uuid").status_code == 422


def test_an_operator_adds_an_organisation_and_sees_its_coordinator(
    client: TestClient, db_url: str
) -> None:
    created = client.post("/organizations", json=organization_body(), headers=auth())
    assert created.status_code == 201, created.text
    organization = created.json()
    assert created.headers["location"] == f"/organizations/{organization['id']}"
    assert organization["coordinator_email"] == "koordinator@svom.example"
    public = client.get(created.headers["location"]).json()
    assert public["website"] == "https://svom.example/"
    assert "coordinator_email" not in public
    assert rows(db_url, "organization") == 9


def test_only_an_operator_may_add_an_organisation(client: TestClient, db_url: str) -> None:
    assert client.post("/organizations", json=organization_body()).status_code == 401
    for role in (Role.PARTNER, Role.CARE_SYSTEM):
        refused = client.post("/organizations", json=organization_body(), headers=auth(role))
        assert refused.status_code == 403
        assert refused.headers["content-type"] == "application/problem+json"
    assert rows(db_url, "organization") == 8


def test_a_partner_adds_a_location_and_a_service_to_its_own_organisation(
    client: TestClient,
) -> None:
    org = demo.NORREBRO_WALKING_GROUP_ORG_ID
    location = client.post(
        f"/organizations/{org}/locations", json=location_body(), headers=auth(Role.PARTNER)
    )
    assert location.status_code == 201, location.text
    created = client.post(
        f"/organizations/{org}/services",
        json=service_body(
            location_id=location.json()["id"], interests=["walking", "culture", "walking"]
        ),
        headers=auth(Role.PARTNER),
    )
    assert created.status_code == 201, created.text
    service = created.json()
    assert created.headers["location"] == f"/services/{service['id']}"
    assert service["interests"] == ["culture", "walking"]
    assert service["free_places"] == 12
    assert service["location"]["name"] == "Superkilen"
    assert client.get(f"/services/{service['id']}").json() == service


def test_a_partner_cannot_touch_another_organisations_entries(
    client: TestClient, db_url: str
) -> None:
    other = demo.AMAGER_SINGING_ORG_ID
    partner = auth(Role.PARTNER)
    location = client.post(
        f"/organizations/{other}/locations",
        json={
            "name": "x",
            "address_1": "y",
            "postal_code": "2300",
            "city": "København S",
            "district": "Amager",
        },
        headers=partner,
    )
    assert location.status_code == 403
    created = client.post(
        f"/organizations/{other}/services",
        json=service_body(location_id=str(demo.AMAGER_CULTURE_HOUSE.id)),
        headers=partner,
    )
    assert created.status_code == 403
    changed = client.patch(
        f"/services/{demo.AMAGER_SINGING_SERVICE_ID}", json={"free_places": 0}, headers=partner
    )
    assert changed.status_code == 403
    assert changed.headers["content-type"] == "application/problem+json"
    assert client.get(f"/services/{demo.AMAGER_SINGING_SERVICE_ID}").json()["free_places"] == 25
    assert (rows(db_url, "location"), rows(db_url, "service")) == (9, 10)


def test_a_partner_updates_free_places_and_status_of_its_own_service(client: TestClient) -> None:
    changed = client.patch(
        f"/services/{WALKING}",
        json={"free_places": 0, "status": "inactive"},
        headers=auth(Role.PARTNER),
    )
    assert changed.status_code == 200, changed.text
    service = client.get(f"/services/{WALKING}").json()
    assert (service["free_places"], service["status"]) == (0, "inactive")
    assert service["name"] == demo.NORREBRO_WALKING_GROUP.name


def test_an_operator_may_update_any_service(client: TestClient) -> None:
    changed = client.patch(
        f"/services/{demo.AMAGER_SINGING_SERVICE_ID}",
        # 80.0 is an integer to JSON Schema, so it is one here too.
        json={"capacity": 80.0, "free_places": 40},
        headers=auth(),
    )
    assert changed.status_code == 200
    assert (changed.json()["capacity"], changed.json()["free_places"]) == (80, 40)


@pytest.mark.parametrize(
    "patch",
    [
        {"free_places": 21},
        {"capacity": 5},
        {"free_places": -1},
        {"status": "defunct"},
        {"free_place": 3},
        {"languages": []},
        {"location_id": str(demo.MAIN_LIBRARY.id)},
        {"name": None},
        {"free_places": None},
        {"free_places": "3"},
        {"capacity": True},
        {"capacity": "30"},
        {"name": " Gåtur"},
    ],
)
def test_a_bad_update_gets_a_problem_and_changes_nothing(
    client: TestClient, db_url: str, patch: dict[str, Any]
) -> None:
    before = client.get(f"/services/{WALKING}").json()
    response = client.patch(f"/services/{WALKING}", json=patch, headers=auth())
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert client.get(f"/services/{WALKING}").json() == before
    assert rows(db_url, "outbox") == len(demo.SERVICES), "no change announced"


@pytest.mark.parametrize("patch", [{"free_places": 21}, {"capacity": 5}])
def test_more_free_places_than_capacity_is_refused_saying_so(
    client: TestClient, patch: dict[str, Any]
) -> None:
    response = client.patch(f"/services/{WALKING}", json=patch, headers=auth())
    assert response.status_code == 422
    assert "free_places must be between 0 and the capacity" in response.json()["detail"]


NOT_NULLABLE = [
    "location_id",
    "name",
    "description",
    "status",
    "interests",
    "languages",
    "target_groups",
    "time_of_day",
    "capacity",
    "free_places",
]


@pytest.mark.parametrize("field", NOT_NULLABLE)
def test_null_for_a_field_that_cannot_be_empty_is_refused_naming_the_field(
    client: TestClient, field: str
) -> None:
    response = client.patch(
        f"/services/{WALKING}", json={"name": "Gågruppen", field: None}, headers=auth()
    )
    assert response.status_code == 422, response.text
    assert [error["location"] for error in response.json()["errors"]] == [f"body.{field}"]
    assert client.get(f"/services/{WALKING}").json()["name"] == demo.NORREBRO_WALKING_GROUP.name


def test_null_clears_the_schedule_description_and_leaving_it_out_keeps_it(
    client: TestClient,
) -> None:
    kept = client.patch(f"/services/{WALKING}", json={"name": "Gågruppen"}, headers=auth())
    assert kept.json()["schedule_description"] == (demo.NORREBRO_WALKING_GROUP.schedule_description)
    cleared = client.patch(
        f"/services/{WALKING}", json={"schedule_description": None}, headers=auth()
    )
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["schedule_description"] is None
    assert client.get(f"/services/{WALKING}").json()["schedule_description"] is None
    assert cleared.json()["name"] == "Gågruppen"


def test_the_document_allows_null_exactly_where_a_patch_may_clear_a_field(
    client: TestClient,
) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    fields = schemas["ServiceUpdate"]["properties"]
    nullable = {
        name
        for name, schema in fields.items()
        if {"type": "null"} in schema.get("anyOf", []) or schema.get("type") == "null"
    }
    assert nullable == {"schedule_description"}
    assert set(fields) == {*NOT_NULLABLE, "schedule_description"}
    assert "null" in fields["schedule_description"]["description"].lower()


def test_each_change_through_the_api_is_in_the_outbox_for_those_who_follow_services(
    client: TestClient, db_url: str
) -> None:
    changed = client.patch(f"/services/{WALKING}", json={"status": "inactive"}, headers=auth())
    assert changed.status_code == 200
    created = client.post(
        f"/organizations/{demo.NORREBRO_WALKING_GROUP_ORG_ID}/services",
        json=service_body(),
        headers=auth(),
    )
    assert created.status_code == 201
    engine = create_engine(db_url)
    with engine.connect() as connection:
        found = connection.execute(text("select key, headers from outbox order by seq")).all()
    engine.dispose()
    assert [key for key, _ in found[len(demo.SERVICES) :]] == [
        str(WALKING),
        created.json()["id"],
    ]
    assert {json.loads(headers)["ce_type"] for _, headers in found} == {
        "dk.brobygger.directory.service.changed.v1"
    }


def test_updating_an_unknown_service_is_404(client: TestClient) -> None:
    response = client.patch(f"/services/{uuid4()}", json={"free_places": 1}, headers=auth())
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (service_body(languages=["danish"]), "body.languages.0"),
        (service_body(languages=[]), "body.languages"),
        (service_body(capacity=0), "body.capacity"),
        (service_body(free_places=13), None),
        (service_body(time_of_day="night"), "body.time_of_day"),
        (service_body(name="Gå\x00tur"), "body.name"),
        (service_body(location_id=str(demo.MAIN_LIBRARY.id)), None),
        (service_body(location_id=str(uuid4())), None),
        (service_body(capacity="12"), "body.capacity"),
        (service_body(interests=["Walking"]), "body.interests.0"),
        (service_body(free_places=12.5), "body.free_places"),
        (service_body(name="Gåtur "), "body.name"),
        (service_body(organization_id=str(uuid4())), "body.organization_id"),
    ],
)
def test_a_bad_new_service_gets_a_problem_and_writes_nothing(
    client: TestClient, db_url: str, payload: dict[str, Any], field: str | None
) -> None:
    response = client.post(
        f"/organizations/{demo.NORREBRO_WALKING_GROUP_ORG_ID}/services",
        json=payload,
        headers=auth(),
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    if field:
        assert field in [error["location"] for error in response.json()["errors"]]
    assert rows(db_url, "service") == 10


def test_a_service_for_an_unknown_organisation_is_404(client: TestClient) -> None:
    response = client.post(
        f"/organizations/{uuid4()}/services", json=service_body(), headers=auth()
    )
    assert response.status_code == 404


@pytest.mark.parametrize(
    "changes",
    [
        {"coordinator_email": "not-an-address"},
        {"website": "javascript:alert(1)"},
        {"name": ""},
        {"name": "   "},
        {"name": " Brønshøj Seniorsvømning"},
        {"description": None},
        {"coordinator_email": "\ufeffkoordinator@svom.example"},
        {"email": "kontakt@svom.example\x85"},
        {"website": "ftp://svom.example/"},
        {"website": "https://"},
        {"website": "https://user:secret@svom.example/"},
        {"website": "https://svom.example/a b"},
        {"website": "https://svom.example/%zz"},
        {"founded": "1998"},
    ],
)
def test_a_bad_organisation_gets_a_problem(
    client: TestClient, db_url: str, changes: dict[str, Any]
) -> None:
    response = client.post("/organizations", json=organization_body(**changes), headers=auth())
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert rows(db_url, "organization") == 8


@pytest.mark.parametrize(
    "website",
    ["https://svom.example", "http://svom.example:8080/sv%C3%B8m?dag=mandag#hold"],
)
def test_an_organisations_website_is_kept_exactly_as_sent(client: TestClient, website: str) -> None:
    created = client.post("/organizations", json=organization_body(website=website), headers=auth())
    assert created.status_code == 201, created.text
    assert client.get(created.headers["location"]).json()["website"] == website


@pytest.mark.parametrize(
    "changes",
    [
        {
            "postal_code": "\u0662\u0662\u0660\u0660"
        },  # Arabic-Indic digits are not \d to JSON Schema
        {"wheelchair_accessible": "yes"},
        {"wheelchair_accessible": 1},
        {"latitude": "55.7"},
        {"latitude": 91},
        {"city": "København N "},
        {"floor": 2},
    ],
)
def test_a_bad_location_gets_a_problem_and_writes_nothing(
    client: TestClient, db_url: str, changes: dict[str, Any]
) -> None:
    response = client.post(
        f"/organizations/{demo.NORREBRO_WALKING_GROUP_ORG_ID}/locations",
        json=location_body(**changes),
        headers=auth(),
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert rows(db_url, "location") == 9


def test_a_location_with_whole_number_coordinates_is_accepted(client: TestClient) -> None:
    created = client.post(
        f"/organizations/{demo.NORREBRO_WALKING_GROUP_ORG_ID}/locations",
        json=location_body(latitude=56, longitude=12),
        headers=auth(),
    )
    assert created.status_code == 201, created.text
    assert (created.json()["latitude"], created.json()["longitude"]) == (56.0, 12.0)


def test_a_body_that_is_not_utf8_json_gets_a_400_problem_the_document_lists(
    client: TestClient,
) -> None:
    operations = client.get("/openapi.json").json()["paths"]
    for method, path in [
        ("post", "/organizations"),
        ("post", f"/organizations/{demo.NORREBRO_WALKING_GROUP_ORG_ID}/locations"),
        ("post", f"/organizations/{demo.NORREBRO_WALKING_GROUP_ORG_ID}/services"),
        ("patch", f"/services/{WALKING}"),
    ]:
        response = client.request(
            method,
            path,
            content=b"\xff\xfe{",
            headers={**auth(), "Content-Type": "application/json"},
        )
        assert response.status_code == 400, (path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        documented = path.replace(str(demo.NORREBRO_WALKING_GROUP_ORG_ID), "{organization_id}")
        documented = documented.replace(str(WALKING), "{service_id}")
        assert "400" in operations[documented][method]["responses"]


@pytest.mark.parametrize(
    ("method", "path", "template", "body"),
    [
        ("get", "/organizations/{}", "/organizations/{organization_id}", None),
        ("get", "/services/{}", "/services/{service_id}", None),
        ("patch", "/services/{}", "/services/{service_id}", {"free_places": 1}),
        (
            "post",
            "/organizations/{}/locations",
            "/organizations/{organization_id}/locations",
            location_body(),
        ),
        (
            "post",
            "/organizations/{}/services",
            "/organizations/{organization_id}/services",
            service_body(),
        ),
    ],
)
def test_an_unknown_id_is_a_404_the_document_lists(
    client: TestClient, method: str, path: str, template: str, body: dict[str, Any] | None
) -> None:
    response = client.request(method, path.format(uuid4()), json=body, headers=auth())
    assert response.status_code == 404, response.text
    assert response.headers["content-type"] == "application/problem+json"
    operation = client.get("/openapi.json").json()["paths"][template][method]
    assert "404" in operation["responses"]


def test_the_document_states_the_rules_json_schema_cannot(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path, method in [
        ("/organizations/{organization_id}/services", "post"),
        ("/services/{service_id}", "patch"),
    ]:
        [location, places] = paths[path][method]["responses"]["422"]["x-rules"]
        assert "location_id" in location and "free_places" in places


EDITS = [
    ("/organizations/{organization_id}/locations", "post"),
    ("/organizations/{organization_id}/services", "post"),
    ("/services/{service_id}", "patch"),
]


@pytest.mark.parametrize(("path", "method"), EDITS)
def test_the_document_says_a_partner_is_refused_another_organisations_entries(
    client: TestClient, path: str, method: str
) -> None:
    responses = client.get("/openapi.json").json()["paths"][path][method]["responses"]
    assert "another organisation" in responses["403"]["description"]


def test_health_and_api_documents_need_no_token(client: TestClient) -> None:
    assert client.get("/health").json()["service"] == "directory"
    assert client.get("/openapi.json").status_code == 200
    asyncapi = client.get("/asyncapi.json").json()
    assert set(asyncapi["components"]["messages"]) == {
        "MatchesFound",
        "NoMatchFound",
        "ServiceChanged",
        "ReferralSubmitted",
        "ReferralAccepted",
        "ReferralCompleted",
        "ReferralFailed",
        "ReferralCancelled",
        "ReferralErased",
        "ReferralEscalated",
    }
    assert set(asyncapi["operations"]) == {
        "send_directory_match_v1",
        "send_directory_service_v1",
        "receive_referrals_referral_v1",
    }


def test_a_citizen_finds_services_whatever_the_spelling_best_matches_first(
    client: TestClient,
) -> None:
    def search(**params: Any) -> list[str]:
        response = client.get("/services", params=params)
        assert response.status_code == 200, response.text
        return [service["name"] for service in response.json()["contents"]]

    walking_group = demo.NORREBRO_WALKING_GROUP.name
    for spelling in ["gågruppe", "gaagruppe", "gagruppe", "GÅGRUPPE", "gågr"]:
        assert search(search=spelling) == [walking_group], spelling
    # Named for Nørrebro first (both its services, by name), then the one only located there.
    assert search(search="norrebro") == [
        walking_group,
        demo.NORREBRO_CARD_CLUB.name,
    ]
    visiting = demo.VISITING_FRIEND.name
    assert search(search="gaatur") == [visiting, walking_group]  # "gåtur", "gåture"
    assert search(search="gåtur", language="pl") == [visiting]
    assert search(search="gåtur", district="Bispebjerg") == [visiting]
    assert search(search="skak seniorer") == [
        demo.OSTERBRO_CHESS.name,  # one word in its name, the other in its description
        demo.DIGITAL_HELP.name,  # one word in its name, then by name
        demo.VESTERBRO_DINING.name,
    ]
    page = client.get("/services", params={"search": "kaffe", "per_page": 1}).json()
    assert (page["total_items"], page["total_pages"], page["size"]) == (2, 2, 1)


@pytest.mark.parametrize("query", [{"search": "x" * 201}, {"search": "gå\x00tur"}])
def test_a_bad_search_text_gets_a_problem(client: TestClient, query: dict[str, Any]) -> None:
    response = client.get("/services", params=query)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


HSDS_OPENAPI = Path(__file__).parents[2] / "contracts/standards/hsds-3.0/openapi.json"


def test_the_api_root_says_what_hsds_asks_and_where_the_document_is(client: TestClient) -> None:
    hsds = json.loads(HSDS_OPENAPI.read_text())["paths"]["/"]["get"]
    schema = hsds["responses"]["200"]["content"]["application/json"]["schema"]
    response = client.get("/")
    assert response.status_code == 200
    root = response.json()
    assert set(root) == set(schema["properties"]) == {"version", "profile", "openapi_url"}
    assert root["version"] == "3.0"
    assert root["profile"] == "urn:brobygger:hsds-profile"
    assert root["openapi_url"] == "http://testserver/openapi.json"
    for uri in (root["profile"], root["openapi_url"]):
        assert urlsplit(uri).scheme, "format uri: an absolute URI"
    assert client.get(urlsplit(root["openapi_url"]).path).json()["info"]["title"] == (
        "Brobygger directory"
    )
    ours = client.get("/openapi.json").json()["paths"]["/"]["get"]
    assert ours["operationId"] == hsds["operationId"]
    documented = ours["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    properties = client.get("/openapi.json").json()["components"]["schemas"][
        documented.rsplit("/", 1)[1]
    ]["properties"]
    for name, hsds_property in schema["properties"].items():
        assert properties[name]["type"] == hsds_property["type"]
        assert properties[name].get("format") == hsds_property.get("format")
