"""Directory's HTTP API, the HSDS 3.0 publication and its editing, on a seeded demo directory
with an unreachable broker."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID, uuid4

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import create_engine, func, select, text
from sqlmodel import col

from directory import demo, services
from directory.app import create_app
from directory.hsds.brobygger import PLACES_UNIT_ID
from directory.hsds.vocabulary import Taxonomy, taxonomy_id, term_id
from directory.store.tables import RecordRow
from directory.tool import read_path
from runtime.auth import Role
from runtime.storage import make_engine, outbox
from tests.conftest import TEST_JWKS_FILE, TEST_SECRETS
from tests.kit import auth_header

WALKING = demo.NORREBRO_WALKING_GROUP_SERVICE_ID
WALKING_ORG = demo.NORREBRO_WALKING_GROUP_ORG_ID
WALKING_GROUP, CARD_CLUB, VISITING_FRIEND, REFUGEE_MENTOR, DIGITAL_HELP, SINGING = (
    service.facts.name
    for service in (
        demo.NORREBRO_WALKING_GROUP,
        demo.NORREBRO_CARD_CLUB,
        demo.VISITING_FRIEND,
        demo.REFUGEE_MENTOR,
        demo.DIGITAL_HELP,
        demo.AMAGER_SINGING,
    )
)
SERVICE_CHANGED = "dk.brobygger.directory.service.changed.v1"
PROBLEM = "application/problem+json"
HSDS_OPENAPI = Path(__file__).parents[2] / "contracts/standards/hsds-3.0/openapi.json"
SUPERKILEN = (55.7003, 12.5423)


@pytest.fixture(scope="session")
def seeded_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database the service seeded with the demo on its first start, made once: each test
    starts the service anew on a copy of it, quicker than seeding every time."""
    path = tmp_path_factory.mktemp("seeded") / "directory.db"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("BROBYGGER_JWKS_FILE", str(TEST_JWKS_FILE))
        env.setenv("DIRECTORY_KAFKA_PASSWORD", TEST_SECRETS["DIRECTORY_KAFKA_PASSWORD"])
        env.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
        with start(env, f"sqlite:///{path}"):
            pass
    return path


@pytest.fixture
def db_url(tmp_path: Path, seeded_demo: Path) -> str:
    # SQLite's backup: the copy holds what was committed, also what is still in the WAL.
    with (
        closing(sqlite3.connect(seeded_demo)) as source,
        closing(sqlite3.connect(tmp_path / "directory.db")) as copy,
    ):
        source.backup(copy)
    return f"sqlite:///{tmp_path}/directory.db"


def start(env: pytest.MonkeyPatch, db_url: str) -> TestClient:
    env.setenv("DIRECTORY_DATABASE_URL", db_url)
    env.setenv("DIRECTORY_SEED_DEMO", "true")
    return TestClient(create_app())


@pytest.fixture
def client(offline_service_env: pytest.MonkeyPatch, db_url: str) -> Iterator[TestClient]:
    with start(offline_service_env, db_url) as test_client:
        yield test_client


# --- helpers ----------------------------------------------------------------------------------


def auth(role: Role = Role.OPERATOR, org: UUID | None = None) -> dict[str, str]:
    """An operator's headers, or a partner's, of the walking group's organisation unless
    `org` is given."""
    if role is Role.PARTNER and org is None:
        org = WALKING_ORG
    return auth_header(role, organization_id=org)


def partner() -> dict[str, str]:
    return auth(Role.PARTNER)


def new_id() -> str:
    return str(uuid4())


def organization_body(**changes: Any) -> dict[str, Any]:
    return {
        "name": "Brønshøj Seniorsvømning",
        "description": "Svømning for seniorer.",
        "email": "kontakt@svom.example",
        "website": "https://svom.example/",
        "organization_identifiers": [
            {
                "id": new_id(),
                "identifier_scheme": "DK-CVR",
                "identifier_type": "CVR",
                "identifier": "12345678",
            }
        ],
    } | changes


def location_body(at: tuple[float, float] = SUPERKILEN, **changes: Any) -> dict[str, Any]:
    return {
        "location_type": "physical",
        "organization_id": str(WALKING_ORG),
        "name": "Superkilen",
        "latitude": at[0],
        "longitude": at[1],
        "addresses": [
            {
                "id": new_id(),
                "address_1": "Nørrebrogade 210",
                "city": "København N",
                "region": "Nørrebro",
                "state_province": "Region Hovedstaden",
                "postal_code": "2200",
                "country": "DK",
                "address_type": "physical",
            }
        ],
    } | changes


def service_body(location_id: UUID | str, **changes: Any) -> dict[str, Any]:
    """A service of the walking group's organisation that matching can use: at a Copenhagen
    location, in Danish, with places."""
    return {
        "organization_id": str(WALKING_ORG),
        "name": "Søndagsgåtur på Nørrebro",
        "description": "En længere tur om søndagen.",
        "status": "active",
        "phones": [{"id": new_id(), "number": "+45 33 12 34 56"}],
        "schedules": [schedule()],
        "languages": [{"id": new_id(), "code": "da", "name": "Danish"}],
        "attributes": [
            {
                "id": new_id(),
                "link_type": "interests",
                "link_entity": "service",
                "taxonomy_term_id": str(term_id(Taxonomy.INTERESTS, "walking")),
            }
        ],
        "service_areas": [{"id": new_id(), "name": "Nørrebro"}],
        "capacities": [
            {
                "id": new_id(),
                "unit_id": str(PLACES_UNIT_ID),
                "available": 12,
                "maximum": 12,
                "updated": "2026-11-22T09:30:00Z",
            }
        ],
        "service_at_locations": [{"id": new_id(), "location_id": str(location_id)}],
    } | changes


def schedule(**changes: Any) -> dict[str, Any]:
    return {
        "id": new_id(),
        "freq": "WEEKLY",
        "byday": "SU",
        "opens_at": "10:00",
        "closes_at": "12:00",
    } | changes


def created(response: Response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    document: dict[str, Any] = response.json()
    return document


def add_service(
    client: TestClient, at: tuple[float, float] = SUPERKILEN, **changes: Any
) -> dict[str, Any]:
    """A new location of the walking group's organisation, at `at`, and a service there, as
    its partner adds them."""
    location = created(client.post("/locations", json=location_body(at=at), headers=partner()))
    body = service_body(location["id"], **changes)
    return created(client.post("/services", json=body, headers=partner()))


def rows(db_url: str, entity: str) -> int:
    """How many records of `entity` the directory holds."""
    engine = create_engine(db_url)
    with engine.connect() as connection:
        found = connection.execute(
            select(func.count()).select_from(RecordRow).where(col(RecordRow.entity) == entity)
        ).scalar_one()
    engine.dispose()
    return int(found)


def announced(db_url: str) -> list[tuple[str, str]]:
    """The outbox's events, oldest first: (key, CloudEvents type)."""
    engine = create_engine(db_url)
    with engine.connect() as connection:
        found = connection.execute(
            select(outbox.c.key, outbox.c.headers).order_by(outbox.c.seq)
        ).all()
    engine.dispose()
    return [(key, headers["ce_type"]) for key, headers in found]


def names(response: Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["name"] for item in response.json()["contents"]]


def log_of(document: dict[str, Any], field_name: str) -> list[dict[str, Any]]:
    return [entry for entry in document["metadata"] if entry["field_name"] == field_name]


def is_problem(response: Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    problem: dict[str, Any] = response.json()
    return problem


# --- the API root and reading -----------------------------------------------------------------


def test_the_api_root_says_hsds_30_its_profile_and_where_the_document_is(
    client: TestClient,
) -> None:
    hsds = json.loads(HSDS_OPENAPI.read_text())["paths"]["/"]["get"]
    schema = hsds["responses"]["200"]["content"]["application/json"]["schema"]
    root = client.get("/").json()
    assert set(root) == set(schema["properties"]) == {"version", "profile", "openapi_url"}
    assert root["version"] == "3.0"
    assert root["profile"] == "urn:brobygger:hsds-profile"
    assert root["openapi_url"] == "http://testserver/openapi.json"
    assert client.get(urlsplit(root["openapi_url"]).path).json()["info"]["title"] == (
        "Brobygger directory"
    )
    ours = client.get("/openapi.json").json()["paths"]["/"]["get"]
    assert ours["operationId"] == hsds["operationId"]


def test_the_demo_directory_is_seeded_before_the_first_request(client: TestClient) -> None:
    page = client.get("/organizations").json()
    assert page["total_items"] == len(demo.ORGANIZATIONS)
    assert client.get("/services").json()["total_items"] == len(demo.SERVICES)


def test_anyone_reads_a_fully_nested_service_without_a_token(client: TestClient) -> None:
    service = client.get(f"/services/{WALKING}").json()
    assert service["name"] == WALKING_GROUP
    assert service["organization"]["id"] == str(WALKING_ORG)
    assert sorted(language["code"] for language in service["languages"]) == ["da", "en"]
    [at] = service["service_at_locations"]
    assert at["location"]["addresses"][0]["region"] == "Nørrebro"
    [places] = service["capacities"]
    assert (places["unit"]["name"], places["available"], places["maximum"]) == ("places", 6, 20)
    assert [(s["byday"], s["opens_at"]) for s in service["schedules"]] == [("TU,TH", "10:00")]


def test_the_coordinators_address_never_appears_in_public_output(client: TestClient) -> None:
    public = [
        client.get("/organizations", params={"full_service": "true", "per_page": 100}).text,
        client.get(f"/organizations/{WALKING_ORG}", params={"full_service": "true"}).text,
        client.get("/services", params={"full": "true", "per_page": 100}).text,
    ]
    for body in public:
        assert "koordinator@" not in body


def test_services_are_paged_with_the_hsds_page_counts(client: TestClient) -> None:
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
    first = client.get("/services", params={"per_page": 4}).json()
    assert (first["first_page"], first["last_page"], first["size"]) == (True, False, 4)
    beyond = client.get("/services", params={"page": 99}).json()
    assert (beyond["empty"], beyond["size"], beyond["contents"]) == (True, 0, [])


def test_a_citizens_search_folds_case_and_danish_and_swedish_letters(client: TestClient) -> None:
    for spelling in ["norrebro", "NØRREBRO", "noerrebro"]:
        assert WALKING_GROUP in names(client.get("/services", params={"search": spelling}))
    # "gåtur" in the visiting friend's description, "gåture" in the walking group's.
    for spelling in ["gaatur", "gatur", "gåtur"]:
        found = names(client.get("/services", params={"search": spelling}))
        assert sorted(found) == sorted([WALKING_GROUP, VISITING_FRIEND]), spelling


def test_a_search_word_finds_the_words_it_begins(client: TestClient) -> None:
    assert names(client.get("/services", params={"search": "gågr"})) == [WALKING_GROUP]


def test_services_whose_name_matches_come_first(client: TestClient) -> None:
    # Alphabetically the mentor scheme would come first; only its description and its
    # interest ("Digital hjælp") say "digital".
    assert names(client.get("/services", params={"search": "digital"})) == [
        DIGITAL_HELP,
        REFUGEE_MENTOR,
    ]


@pytest.mark.parametrize("language", ["da", "sv", "en"])
def test_a_term_in_any_language_finds_the_services_tagged_with_it(
    client: TestClient, language: str
) -> None:
    term = term_id(Taxonomy.INTERESTS, "walking", language)
    found = names(client.get("/services", params={"taxonomy_term_id": str(term)}))
    assert sorted(found) == sorted([WALKING_GROUP, VISITING_FRIEND])


def test_a_taxonomy_finds_the_services_with_any_of_its_terms(client: TestClient) -> None:
    def total(taxonomy: Taxonomy) -> int:
        params = {"taxonomy_id": str(taxonomy_id(taxonomy))}
        return int(client.get("/services", params=params).json()["total_items"])

    assert total(Taxonomy.INTERESTS) == len(demo.SERVICES)
    assert total(Taxonomy.ACCESSIBILITY) == 0, "accessibility terms tag locations only"


def test_services_of_one_organisation(client: TestClient) -> None:
    found = names(client.get("/services", params={"organization_id": str(WALKING_ORG)}))
    assert sorted(found) == sorted([WALKING_GROUP, CARD_CLUB])


def test_modified_after_finds_only_the_service_changed_since(client: TestClient) -> None:
    before = datetime.now(UTC)
    changed = client.patch(f"/services/{WALKING}", json={"name": "Gågruppen"}, headers=auth())
    assert changed.status_code == 200, changed.text
    found = client.get("/services", params={"modified_after": before.isoformat()}).json()
    assert [service["id"] for service in found["contents"]] == [str(WALKING)]


def test_filters_combine_as_and(client: TestClient) -> None:
    walking_term = str(term_id(Taxonomy.INTERESTS, "walking", "da"))
    by_organization = {"organization_id": str(demo.RED_CROSS_VISITING_FRIEND_ORG_ID)}
    assert names(client.get("/services", params={"search": "gaatur"} | by_organization)) == [
        VISITING_FRIEND
    ]
    params = {"taxonomy_term_id": walking_term, "organization_id": str(WALKING_ORG)}
    assert names(client.get("/services", params=params)) == [WALKING_GROUP]
    assert names(client.get("/services", params=params | {"search": "kortklub"})) == []


def test_minimal_gives_each_services_id_name_status_and_modification_only(
    client: TestClient,
) -> None:
    page = client.get("/services", params={"minimal": "true", "per_page": 100}).json()
    assert page["total_items"] == len(demo.SERVICES)
    for service in page["contents"]:
        assert set(service) == {"id", "name", "status", "last_modified"}


def test_full_nests_each_service_whole_and_the_list_form_does_not(client: TestClient) -> None:
    params = {"organization_id": str(WALKING_ORG)}
    [listed, _] = client.get("/services", params=params).json()["contents"]
    [full, _] = client.get("/services", params=params | {"full": "true"}).json()["contents"]
    assert "service_at_locations" not in listed and "schedules" not in listed
    assert full == client.get(f"/services/{full['id']}").json()


def test_ndjson_streams_every_match_one_per_line_without_pages(client: TestClient) -> None:
    response = client.get("/services", params={"format": "ndjson", "per_page": 2})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-ndjson"
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert len(lines) == len(demo.SERVICES)
    paged = client.get("/services", params={"per_page": 100}).json()["contents"]
    assert lines == paged
    searched = client.get("/services", params={"format": "ndjson", "search": "gågr"}).text
    assert [json.loads(line)["id"] for line in searched.splitlines()] == [str(WALKING)]


@pytest.mark.parametrize(
    "query",
    [
        {"page": 0},
        {"per_page": 1000},
        {"page": 10**30},
        {"search": "x" * 201},
        {"taxonomy_term_id": "walking"},
        {"organization_id": "42"},
        {"modified_after": "yesterday"},
        {"full": "yes"},
        {"minimal": "1"},
        {"format": "xml"},
    ],
)
def test_bad_query_parameters_get_a_problem(client: TestClient, query: dict[str, Any]) -> None:
    is_problem(client.get("/services", params=query), 422)


def test_organisations_are_found_by_search(client: TestClient) -> None:
    assert names(client.get("/organizations", params={"search": "sangkor"})) == ["Sundby Sangkor"]


def test_organisations_in_full_and_with_their_services(client: TestClient) -> None:
    params = {"search": "sagen"}
    [listed] = client.get("/organizations", params=params).json()["contents"]
    assert "services" not in listed and "locations" not in listed
    [full] = client.get("/organizations", params=params | {"full": "true"}).json()["contents"]
    assert [location["id"] for location in full["locations"]] == [str(demo.NORREBRO_ROOMS.id)]
    params |= {"full_service": "true"}
    [with_services] = client.get("/organizations", params=params).json()["contents"]
    assert sorted(service["id"] for service in with_services["services"]) == sorted(
        [str(WALKING), str(demo.NORREBRO_CARD_CLUB_SERVICE_ID)]
    )


def test_one_organisation_fully_nested_and_with_its_services(client: TestClient) -> None:
    organization = client.get(f"/organizations/{WALKING_ORG}").json()
    assert organization["name"] == "Ældre Sagen Nørrebro"
    assert "services" not in organization
    params = {"full_service": "true"}
    with_services = client.get(f"/organizations/{WALKING_ORG}", params=params).json()
    assert len(with_services["services"]) == 2


@pytest.mark.parametrize(
    "path",
    [
        "/services/{}",
        "/organizations/{}",
        "/service_at_locations/{}",
        "/locations/{}",
        "/taxonomies/{}",
        "/taxonomy_terms/{}",
    ],
)
def test_an_unknown_id_is_a_404_problem_and_a_malformed_one_a_422(
    client: TestClient, path: str
) -> None:
    missing = uuid4()
    problem = is_problem(client.get(path.format(missing)), 404)
    assert str(missing) in problem["detail"]
    is_problem(client.get(path.format("not-a-uuid")), 422)


def test_services_at_locations_with_a_postcode(client: TestClient) -> None:
    page = client.get("/service_at_locations", params={"postcode": "2300", "full": "true"})
    assert [at["service"]["name"] for at in page.json()["contents"]] == [SINGING]


def test_proximity_is_measured_in_metres_from_the_postcodes_centre(client: TestClient) -> None:
    # 2200's centre is 55.6960 N 12.5490 E; 0.009 degrees of latitude north is 1 km.
    service = add_service(client, at=(55.7050, 12.5490))

    def services_near(metres: int) -> set[str]:
        params = {"postcode": "2200", "proximity": str(metres), "per_page": "100"}
        page = client.get("/service_at_locations", params=params | {"full": "true"})
        assert page.status_code == 200, page.text
        return {at["service"]["id"] for at in page.json()["contents"]}

    assert service["id"] in services_near(1500)
    near = services_near(500)
    assert service["id"] not in near
    assert near == {str(WALKING), str(demo.NORREBRO_CARD_CLUB_SERVICE_ID)}


@pytest.mark.parametrize(
    "params", [{"proximity": "1000"}, {"postcode": "9999", "proximity": "1000"}]
)
def test_proximity_without_a_known_postcode_centre_is_a_422(
    client: TestClient, params: dict[str, str]
) -> None:
    problem = is_problem(client.get("/service_at_locations", params=params), 422)
    assert "postcode" in problem["detail"]


def test_the_taxonomies_are_brobyggers_three(client: TestClient) -> None:
    page = client.get("/taxonomies").json()
    assert sorted(taxonomy["id"] for taxonomy in page["contents"]) == sorted(
        str(taxonomy_id(taxonomy)) for taxonomy in Taxonomy
    )
    one = client.get(f"/taxonomies/{taxonomy_id(Taxonomy.INTERESTS)}").json()
    assert one["name"] == "Brobygger interests"


def test_the_terms_of_a_taxonomy_in_danish_swedish_and_english(client: TestClient) -> None:
    params = {"taxonomy_id": str(taxonomy_id(Taxonomy.ACCESSIBILITY)), "per_page": "100"}
    page = client.get("/taxonomy_terms", params=params).json()
    assert page["total_items"] == 4 * 3
    assert {term["language"] for term in page["contents"]} == {"da", "sv", "en"}
    danish = client.get(f"/taxonomy_terms/{term_id(Taxonomy.INTERESTS, 'walking', 'da')}").json()
    assert (danish["code"], danish["name"]) == ("walking", "Gåture")


def test_terms_top_only_and_under_a_parent(client: TestClient) -> None:
    # The official example's term has a parent; Brobygger's 99 terms have none.
    example = HSDS_OPENAPI.parent / "examples" / "taxonomy_term.json"
    records, _, _ = read_path(example)
    start_uow = client.app.state.start_uow  # type: ignore[attr-defined]
    assert not services.import_records(records, services.Editor("test"), start_uow).rejected
    child = json.loads(example.read_text())

    def term_ids(**params: str) -> list[str]:
        page = client.get("/taxonomy_terms", params=params | {"per_page": "100"}).json()
        return [term["id"] for term in page["contents"]]

    assert len(term_ids()) == 99 + 1
    assert len(term_ids(top_only="true")) == 99
    assert child["id"] not in term_ids(top_only="true")
    assert term_ids(parent_id=child["parent_id"]) == [child["id"]]


# --- writing ----------------------------------------------------------------------------------


def test_an_operator_adds_an_organisation_with_its_cvr_number(client: TestClient) -> None:
    response = client.post("/organizations", json=organization_body(), headers=auth())
    organization = created(response)
    assert response.headers["location"] == f"/organizations/{organization['id']}"
    [cvr] = organization["organization_identifiers"]
    assert (cvr["identifier_scheme"], cvr["identifier"]) == ("DK-CVR", "12345678")
    assert client.get(response.headers["location"]).json() == organization


@pytest.mark.parametrize(
    ("role", "status"), [(None, 401), (Role.PARTNER, 403), (Role.CARE_SYSTEM, 403)]
)
def test_only_an_operator_adds_an_organisation(
    client: TestClient, db_url: str, role: Role | None, status: int
) -> None:
    headers = {} if role is None else auth(role)
    is_problem(client.post("/organizations", json=organization_body(), headers=headers), status)
    assert rows(db_url, "organization") == len(demo.ORGANIZATIONS)


def test_a_partner_adds_a_location_and_a_service_of_its_own_organisation(
    client: TestClient,
) -> None:
    location = created(client.post("/locations", json=location_body(), headers=partner()))
    response = client.post("/services", json=service_body(location["id"]), headers=partner())
    service = created(response)
    assert response.headers["location"] == f"/services/{service['id']}"
    assert service == client.get(f"/services/{service['id']}").json()
    assert service["organization"]["id"] == str(WALKING_ORG)
    assert [(s["byday"], s["opens_at"]) for s in service["schedules"]] == [("SU", "10:00")]
    assert [language["code"] for language in service["languages"]] == ["da"]
    [walking] = service["attributes"]
    assert (walking["taxonomy_term"]["code"], walking["link_type"]) == ("walking", "interests")
    assert [area["name"] for area in service["service_areas"]] == ["Nørrebro"]
    [places] = service["capacities"]
    assert (places["unit"]["id"], places["available"]) == (str(PLACES_UNIT_ID), 12)
    [at] = service["service_at_locations"]
    assert at["location"]["id"] == location["id"]


def test_a_new_service_that_matching_can_use_is_announced(client: TestClient, db_url: str) -> None:
    service = add_service(client)
    assert (service["id"], SERVICE_CHANGED) in announced(db_url)


def test_a_new_service_without_places_is_not_announced(client: TestClient, db_url: str) -> None:
    service = add_service(client, capacities=[])
    assert service["id"] not in [key for key, _ in announced(db_url)]


def test_a_partner_of_another_organisation_is_refused_and_nothing_changes(
    client: TestClient, db_url: str
) -> None:
    stranger = auth(Role.PARTNER, demo.AMAGER_SINGING_ORG_ID)
    before = client.get(f"/services/{WALKING}").json()
    refused = [
        client.post("/locations", json=location_body(), headers=stranger),
        client.post("/services", json=service_body(demo.NORREBRO_ROOMS.id), headers=stranger),
        client.patch(f"/services/{WALKING}", json={"name": "Overtaget"}, headers=stranger),
        client.put(
            f"/services/{WALKING}",
            json=service_body(demo.NORREBRO_ROOMS.id, id=str(WALKING)),
            headers=stranger,
        ),
        client.patch(
            f"/locations/{demo.NORREBRO_ROOMS.id}", json={"name": "Overtaget"}, headers=stranger
        ),
        client.patch(f"/organizations/{WALKING_ORG}", json={"name": "X"}, headers=stranger),
    ]
    for response in refused:
        is_problem(response, 403)
    assert client.get(f"/services/{WALKING}").json() == before
    assert (rows(db_url, "service"), rows(db_url, "location")) == (10, 9)
    assert len(announced(db_url)) == len(demo.SERVICES)


def test_put_replaces_a_service_and_removes_what_it_leaves_out(client: TestClient) -> None:
    service = add_service(client)
    body = service_body(service["service_at_locations"][0]["location"]["id"], phones=[])
    body["name"] = "Søndagsgåtur"
    replaced = client.put(f"/services/{service['id']}", json=body, headers=partner())
    assert replaced.status_code == 200, replaced.text
    assert (replaced.json()["name"], replaced.json()["phones"]) == ("Søndagsgåtur", [])
    assert client.get(f"/services/{service['id']}").json()["phones"] == []


def test_patch_changes_only_the_fields_it_gives(client: TestClient) -> None:
    before = client.get(f"/services/{WALKING}").json()
    changed = client.patch(
        f"/services/{WALKING}",
        json={"description": "Gåture hver uge."},
        headers={**partner(), "Content-Type": "application/merge-patch+json"},
    )
    assert changed.status_code == 200, changed.text
    after = client.get(f"/services/{WALKING}").json()
    assert after["description"] == "Gåture hver uge."
    unchanged = ("name", "schedules", "languages", "attributes", "capacities", "phones")
    assert {key: after[key] for key in unchanged} == {key: before[key] for key in unchanged}


def test_patch_with_null_removes_a_field(client: TestClient) -> None:
    changed = client.patch(f"/services/{WALKING}", json={"description": None}, headers=partner())
    assert changed.status_code == 200, changed.text
    assert "description" not in client.get(f"/services/{WALKING}").json()


def test_every_change_is_in_the_hsds_change_log(client: TestClient) -> None:
    changed = client.patch(f"/services/{WALKING}", json={"name": "Gågruppen"}, headers=partner())
    assert changed.status_code == 200, changed.text
    [entry] = log_of(client.get(f"/services/{WALKING}").json(), "name")
    assert entry["last_action_type"] == "update"
    assert (entry["previous_value"], entry["replacement_value"]) == (WALKING_GROUP, "Gågruppen")
    assert entry["updated_by"] == "partner:partner-1"


def test_a_removed_part_is_in_the_change_log_of_what_it_was_part_of(client: TestClient) -> None:
    service = add_service(client)
    [phone] = service["phones"]
    changed = client.patch(f"/services/{service['id']}", json={"phones": []}, headers=auth())
    assert changed.status_code == 200, changed.text
    [entry] = log_of(changed.json(), "phone")
    assert (entry["last_action_type"], entry["previous_value"]) == ("delete", phone["id"])
    assert entry["updated_by"] == "operator:operator-1"


def test_a_new_record_is_in_the_change_log_as_created_by_its_editor(client: TestClient) -> None:
    organization = created(client.post("/organizations", json=organization_body(), headers=auth()))
    [entry] = organization["metadata"]
    assert (entry["last_action_type"], entry["updated_by"]) == ("create", "operator:operator-1")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The directory's database, empty: an SQLite file, or its PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/directory.db"
    url: str = request.getfixturevalue("postgres_urls")["directory"]
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()
    return url


def test_two_concurrent_patches_of_different_fields_both_stay(
    offline_service_env: pytest.MonkeyPatch, database_url: str
) -> None:
    patches = [{"name": "Gågruppen"}, {"description": "Gåture hver uge."}]
    barrier = threading.Barrier(len(patches))
    answers: list[Response] = []

    def change(client: TestClient, patch: dict[str, str]) -> Callable[[], None]:
        def run() -> None:
            barrier.wait()
            answers.append(client.patch(f"/services/{WALKING}", json=patch, headers=partner()))

        return run

    with start(offline_service_env, database_url) as client:
        threads = [threading.Thread(target=change(client, patch)) for patch in patches]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert [answer.status_code for answer in answers] == [200, 200], [
            answer.text for answer in answers
        ]
        service = client.get(f"/services/{WALKING}").json()
    assert (service["name"], service["description"]) == ("Gågruppen", "Gåture hver uge.")


def test_create_with_an_id_that_is_there_is_a_409(client: TestClient) -> None:
    body = service_body(demo.NORREBRO_ROOMS.id, id=str(WALKING))
    problem = is_problem(client.post("/services", json=body, headers=auth()), 409)
    assert str(WALKING) in problem["detail"]


@pytest.mark.parametrize("method", ["put", "patch"])
@pytest.mark.parametrize("kind", ["organizations", "locations", "services"])
def test_a_change_of_a_missing_record_is_a_404(client: TestClient, method: str, kind: str) -> None:
    body = {
        "organizations": organization_body(),
        "locations": location_body(),
        "services": service_body(demo.NORREBRO_ROOMS.id),
    }[kind]
    response = client.request(method, f"/{kind}/{uuid4()}", json=body, headers=auth())
    is_problem(response, 404)


def test_put_whose_body_names_another_id_is_a_422(client: TestClient) -> None:
    body = service_body(demo.NORREBRO_ROOMS.id, id=str(demo.NORREBRO_CARD_CLUB_SERVICE_ID))
    problem = is_problem(client.put(f"/services/{WALKING}", json=body, headers=auth()), 422)
    assert [error["location"].rsplit(".", 1)[-1] for error in problem["errors"]] == ["id"]


BAD_EMAIL = "kontakt.svom.example"
MISSING_LOCATION = "9d1c5c0e-8f7e-4d36-9a57-3bb5d4a0c1f2"


@pytest.mark.parametrize(
    ("path", "body", "field", "value"),
    [
        (
            "/organizations",
            organization_body(founded_by="Inger Jensen"),
            "body",
            "Inger Jensen",
        ),
        ("/organizations", organization_body(email=BAD_EMAIL), "body.email", BAD_EMAIL),
        (
            "/services",
            service_body(demo.NORREBRO_ROOMS.id, organization_id="not-a-uuid-4711"),
            "body.organization_id",
            "not-a-uuid-4711",
        ),
        (
            "/locations",
            location_body(id="not-a-uuid-4711"),
            "body.id",
            "not-a-uuid-4711",
        ),
        (
            "/services",
            service_body(demo.NORREBRO_ROOMS.id, schedules=[schedule(opens_at=1000)]),
            "body.schedules[0].opens_at",
            "1000",
        ),
        (
            "/services",
            service_body(MISSING_LOCATION),
            "location_id",
            MISSING_LOCATION,
        ),
    ],
    ids=[
        "extra property",
        "bad email",
        "bad uuid",
        "bad id of a new record",
        "time that is not text",
        "missing location",
    ],
)
def test_a_bad_document_is_a_422_naming_the_field_never_its_value(
    client: TestClient, db_url: str, path: str, body: dict[str, Any], field: str, value: str
) -> None:
    records = rows(db_url, path.strip("/").removesuffix("s"))
    problem = is_problem(client.post(path, json=body, headers=auth()), 422)
    assert any(field in error["location"] for error in problem["errors"]), problem
    assert value not in json.dumps(problem, ensure_ascii=False)
    assert rows(db_url, path.strip("/").removesuffix("s")) == records


def test_a_refused_change_changes_nothing_and_announces_nothing(
    client: TestClient, db_url: str
) -> None:
    before = client.get(f"/services/{WALKING}").json()
    response = client.patch(f"/services/{WALKING}", json={"status": "closed"}, headers=auth())
    assert [e["location"] for e in is_problem(response, 422)["errors"]] == ["body.status"]
    assert client.get(f"/services/{WALKING}").json() == before
    assert len(announced(db_url)) == len(demo.SERVICES)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"metadata": []}, "metadata"),
        (
            {"organization": {"id": str(WALKING_ORG), "name": "X", "description": "Y"}},
            "organization",
        ),
    ],
)
def test_a_writer_sends_neither_the_change_log_nor_the_organisation_nested(
    client: TestClient, changes: dict[str, Any], field: str
) -> None:
    body = service_body(demo.NORREBRO_ROOMS.id, **changes)
    problem = is_problem(client.post("/services", json=body, headers=auth()), 422)
    assert any(field in error["message"] for error in problem["errors"]), problem


WRITES = [
    ("post", "/organizations"),
    ("post", "/locations"),
    ("post", "/services"),
    ("put", "/services/{id}"),
    ("patch", "/services/{id}"),
]


@pytest.mark.parametrize(("method", "template"), WRITES)
def test_a_body_that_is_not_utf8_json_is_a_400_the_document_lists(
    client: TestClient, method: str, template: str
) -> None:
    response = client.request(
        method,
        template.format(id=WALKING),
        content=b"\xff\xfe{",
        headers={**auth(), "Content-Type": "application/json"},
    )
    is_problem(response, 400)
    operation = client.get("/openapi.json").json()["paths"][template][method]
    assert "400" in operation["responses"]


@pytest.mark.parametrize(("method", "template"), WRITES)
def test_the_document_says_a_partner_is_refused_another_organisations_records(
    client: TestClient, method: str, template: str
) -> None:
    operation = client.get("/openapi.json").json()["paths"][template][method]
    assert "another organisation" in operation["responses"]["403"]["description"]
    assert "422" in operation["responses"]


@pytest.mark.parametrize(
    ("method", "template"),
    [("get", "/services/{id}"), ("get", "/organizations/{id}"), *WRITES[3:]],
)
def test_the_document_lists_the_404_of_an_unknown_id(
    client: TestClient, method: str, template: str
) -> None:
    operation = client.get("/openapi.json").json()["paths"][template][method]
    assert "404" in operation["responses"]


def test_health_and_the_api_documents_need_no_token(client: TestClient) -> None:
    assert client.get("/health").json()["service"] == "directory"
    assert client.get("/openapi.json").status_code == 200
    asyncapi = client.get("/asyncapi.json").json()
    assert {"ServiceChanged", "MatchesFound", "NoMatchFound"} <= set(
        asyncapi["components"]["messages"]
    )
