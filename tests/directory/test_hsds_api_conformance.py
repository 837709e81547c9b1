"""Every answer of directory's HSDS API validates: strictly against HSDS 3.0 with Brobygger's
profile (tests/hsds.py, the specification's own example check), and against the response
schema directory's own OpenAPI document gives for that path and status."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from fastapi.testclient import TestClient
from httpx import Response

from directory import demo, services
from directory.app import create_app
from directory.hsds.records import Record
from directory.tool import read_path
from tests.hsds import BROBYGGER_PROFILE, FORMATS, HSDS, validate

EXAMPLES = HSDS / "examples"
NOT_RECORDS = {"base.json", "tabular.json"}
"""An API root, and the tabular form of the same records the other examples hold."""
PER_PAGE = 3
PROFILE: dict[str, Any] = {"extensions": BROBYGGER_PROFILE}

# Each list path, the HSDS kind of its page, the kind of one item fully nested, and the
# forms it is read in (query parameters added to the paging).
LISTS: list[tuple[str, str, str, list[dict[str, str]]]] = [
    (
        "/services",
        "service_list",
        "service",
        [{"full": "false"}, {"full": "true"}, {"minimal": "true"}],
    ),
    (
        "/organizations",
        "organization_list",
        "organization",
        [{"full": "false"}, {"full": "true"}, {"full_service": "true"}],
    ),
    (
        "/service_at_locations",
        "service_at_location_list",
        "service_at_location",
        [{"full": "false"}, {"full": "true"}],
    ),
    ("/taxonomies", "taxonomy_list", "taxonomy", [{}]),
    ("/taxonomy_terms", "taxonomy_term_list", "taxonomy_term", [{}]),
]
# Read in this order: locations have no list, and are found in services at locations.
ONE = {
    "service": "/services/{id}",
    "organization": "/organizations/{id}",
    "service_at_location": "/service_at_locations/{id}",
    "location": "/locations/{id}",
    "taxonomy": "/taxonomies/{id}",
    "taxonomy_term": "/taxonomy_terms/{id}",
}


@pytest.fixture
def client(offline_service_env: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[TestClient]:
    offline_service_env.setenv("DIRECTORY_DATABASE_URL", f"sqlite:///{tmp_path}/directory.db")
    offline_service_env.setenv("DIRECTORY_SEED_DEMO", "true")
    with TestClient(create_app()) as test_client:
        yield test_client


def import_official_examples(start_uow: services.UnitOfWorkFactory) -> list[Record]:
    """The official examples' records, imported."""
    every: list[Record] = []
    for path in sorted(EXAMPLES.glob("*.json")):
        if path.name in NOT_RECORDS:
            continue
        records, unreadable, places = read_path(path)
        assert not unreadable, (path.name, unreadable)
        imported = services.import_records(
            records, services.Editor("test import"), start_uow, where=places
        )
        assert not imported.rejected, (path.name, [str(r) for r in imported.rejected])
        every += records
    return every


class OwnDocument:
    """Directory's OpenAPI document, as a judge of its own answers."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document

    def errors(self, template: str, response: Response, media_type: str) -> list[str]:
        operation = self.document["paths"][template]["get"]
        answer = operation["responses"][str(response.status_code)]
        schema = answer["content"][media_type]["schema"]
        # The response schema with the document's components, so that its $refs resolve.
        root = {**schema, "components": self.document["components"]}
        validator = jsonschema.Draft202012Validator(root, format_checker=FORMATS)
        documents = (
            [json.loads(line) for line in response.text.splitlines()]
            if media_type == "application/x-ndjson"
            else [response.json()]
        )
        return [
            f"{error.json_path}: {error.message}"
            for document in documents
            for error in validator.iter_errors(document)
        ]


class Reader:
    """Reads the API, checks each answer both ways, and keeps the ids it finds."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.own = OwnDocument(client.app.openapi())  # type: ignore[attr-defined]
        self.ids: dict[str, set[str]] = {kind: set() for kind in ONE}

    def get(self, template: str, path: str, params: dict[str, Any] | None = None) -> Response:
        response: Response = self.client.get(path, params=params)
        assert response.status_code == 200, (path, params, response.text)
        media_type = response.headers["content-type"].split(";")[0]
        assert self.own.errors(template, response, media_type) == [], (path, params)
        return response

    def pages(self, path: str, page_kind: str, item_kind: str, form: dict[str, str]) -> None:
        number, last, total = 1, False, 0
        seen: list[str] = []
        while not last:
            params = {**form, "page": str(number), "per_page": str(PER_PAGE)}
            page = self.get(path, path, params).json()
            full = form.get("full") == "true" or form.get("full_service") == "true"
            if full:
                # HSDS's OpenAPI offers `full` on these lists, yet its page schemas allow
                # only list items in `contents`: the counts are checked as a page, each
                # item as the fully nested record it is.
                assert validate(page_kind, {**page, "contents": []}, **PROFILE) == []
                for item in page["contents"]:
                    assert validate(item_kind, item, **PROFILE) == [], (path, form, item["id"])
            else:
                assert validate(page_kind, page, **PROFILE) == [], (path, form, number)
            self.collect(item_kind, page["contents"])
            seen += [item["id"] for item in page["contents"]]
            last, number, total = page["last_page"], number + 1, page["total_items"]
        assert len(seen) == len(set(seen)) == total, (path, form, "each item on one page")

    def ndjson(self, form: dict[str, str]) -> None:
        lines = self.get("/services", "/services", {**form, "format": "ndjson"}).text
        for line in lines.splitlines():
            item = json.loads(line)
            kind = "service" if form.get("full") == "true" else "service_list"
            # A line of the list form is checked as the item of a page of one.
            document = item if kind == "service" else _page_of([item])
            assert validate(kind, document, **PROFILE) == [], (form, item["id"])

    def collect(self, kind: str, documents: list[dict[str, Any]]) -> None:
        for document in documents:
            self.ids[kind].add(document["id"])
            if "location_id" in document:
                self.ids["location"].add(document["location_id"])
            if isinstance(document.get("location"), dict):
                self.ids["location"].add(document["location"]["id"])

    def each_one(self, kind: str) -> None:
        template = ONE[kind]
        for record_id in sorted(self.ids[kind]):
            answer = self.get(template, template.format(id=record_id)).json()
            assert validate(kind, answer, **PROFILE) == [], (kind, record_id)
            self.collect(kind, [answer])
            if kind == "organization":
                with_services = self.get(
                    template, template.format(id=record_id), {"full_service": "true"}
                ).json()
                assert validate(kind, with_services, **PROFILE) == [], (kind, record_id)


def _page_of(contents: list[dict[str, Any]]) -> dict[str, Any]:
    return {"total_items": len(contents), "contents": contents}


def test_every_answer_of_the_whole_api_validates_strictly(client: TestClient) -> None:
    examples = import_official_examples(client.app.state.start_uow)  # type: ignore[attr-defined]
    reader = Reader(client)
    root = reader.get("/", "/").json()
    assert validate("api_root", root, **PROFILE) == []
    for path, page_kind, item_kind, forms in LISTS:
        for form in forms:
            reader.pages(path, page_kind, item_kind, form)
    for form in ({"full": "false"}, {"full": "true"}):
        reader.ndjson(form)
    for kind in ONE:
        reader.each_one(kind)
    # Every record of the demo and of the examples was read on its own.
    published = [*demo.records(datetime.now(UTC)), *examples]
    for kind, ids in reader.ids.items():
        assert {r.id for r in published if r.entity == kind} <= ids, kind
