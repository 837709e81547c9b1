"""Each service's live OpenAPI document against what the service does, judged by schemathesis.

Runs against the four processes of the end-to-end system (real Kafka and PostgreSQL), after
the flow tests in this folder (it leaves random data behind). Every check and every phase,
with a token of each role an operation admits and without one for the public operations.
Seeded, so a failure reproduces with the command it prints.

Valid-by-schema requests must be accepted, except where an operation lists rules that JSON
Schema cannot state (`x-rules` on its 422: comparisons between fields, stored data):
there 422 is an answer the document promises.

Random ids find nothing: for grants, half of the pool and application ids sent are those of a
pool and of the demo organisation's applications at every step of a grant's money (made as
the authorization matrix makes them), so that those routes answer more than 404.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest

from runtime.auth import Role
from tests.conftest import ROOT
from tests.e2e.matrix import World
from tests.e2e.system import System
from tests.e2e.webhook_receiver import WebhookReceiver
from tools import SERVICES

SEED = 20261130
EXAMPLES = int(os.environ.get("BROBYGGER_SCHEMATHESIS_EXAMPLES", "10"))
DEMO_ORGANIZATION = UUID("3d28baae-98ff-5f66-b3e2-6a7196f72cd7")  # Ældre Sagen Nørrebro
SUMMARY = ROOT / ".cache" / "schemathesis"
PUBLIC = "public"

ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "429"]


def operations_by_caller(document: dict[str, Any]) -> dict[str, list[str]]:
    """Operation ids per role that may call them; `public` for those needing no token."""
    callers: dict[str, list[str]] = defaultdict(list)
    for operations in document["paths"].values():
        for operation in operations.values():
            for role in operation.get("x-roles", [PUBLIC]):
                callers[role].append(operation["operationId"])
    return dict(callers)


def grants_ids(system: System) -> dict[str, list[str]]:
    """A pool's id, and the ids of applications in it of the organisation the partner's token
    names (the matrix's X): screened, in review with their reviews, granted, the agreement
    accepted, paid, reported on with money to pay back (two of each)."""
    receiver = WebhookReceiver()
    world = World(system, receiver)
    try:
        steps = (
            world.screened,
            world.x_reviewed,
            world.x_granted,
            world.x_agreed,
            world.x_paid,
            world.x_reported,
        )
        applications = [str(step()) for step in steps for _ in range(2)]
        return {"pool_id": [world.application_pool()], "application_id": applications}
    finally:
        problems = world.close()
        receiver.close()
        assert not problems, problems


def config_for(
    document: dict[str, Any], token: str | None, ids: Mapping[str, list[str]] | None = None
) -> str:
    lines = [
        f"seed = {SEED}",
        # Nothing carried over from an earlier run: the same seed gives the same cases.
        "[cache]",
        "enabled = false",
        "[generation]",
        f"max-examples = {EXAMPLES}",
        "database = 'none'",
    ]
    if token is not None:
        lines += ["[headers]", f"Authorization = 'Bearer {token}'"]
    ids = ids or {}
    for name, values in ids.items():
        lines += [f"[dictionaries.{name}]", f"values = {json.dumps(values)}"]
    bound = {f"path.{name}": name for name in ids}
    if "application_id" in ids:
        bound["body.decisions[*].application_id"] = "application_id"  # a batch of decisions
    if bound:
        lines.append("[parameters]")
        lines += [
            f"'{key}' = {{ dictionary = '{name}', probability = 0.5 }}"
            for key, name in bound.items()
        ]
    for operations in document["paths"].values():
        for operation in operations.values():
            if "x-rules" in operation["responses"].get("422", {}):
                lines += [
                    "[[operations]]",
                    f"include-operation-id = '{operation['operationId']}'",
                    f"checks.positive_data_acceptance.expected-statuses = {[*ACCEPTED, '422']}",
                ]
    return "\n".join(lines) + "\n"


def run_schemathesis(url: str, config: Path, operation_ids: list[str]) -> tuple[int, str]:
    command = [
        str(Path(sys.executable).parent / "schemathesis"),
        "--config-file",
        str(config),
        "run",
        f"{url}/openapi.json",
        "--checks",
        "all",
        "--no-color",
        "--request-timeout",
        "10",
    ]
    for operation_id in operation_ids:
        command += ["--include-operation-id", operation_id]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    return done.returncode, done.stdout + done.stderr


def figures(output: str) -> str:
    """`operations tested, cases generated, failures` from schemathesis' summary."""
    tested = re.search(r"Tested: (\d+)", output)
    cases = re.search(r"(\d+) generated", output)
    failures = re.search(r"found (\d+) unique failures", output)
    return (
        f"{tested.group(1) if tested else '?'} operations, "
        f"{cases.group(1) if cases else '?'} cases, "
        f"{failures.group(1) if failures else 0} failures"
    )


@pytest.mark.parametrize("service", SERVICES)
def test_the_service_answers_exactly_as_its_openapi_document_says(
    system: System, service: str, tmp_path: Path
) -> None:
    document = httpx.get(f"{system.url(service)}/openapi.json", timeout=10).json()
    SUMMARY.mkdir(parents=True, exist_ok=True)
    ids = grants_ids(system) if service == "grants" else None
    failed: list[str] = []
    for caller, operation_ids in sorted(operations_by_caller(document).items()):
        token = None
        if caller != PUBLIC:
            role = Role(caller)
            org = {"organization_id": DEMO_ORGANIZATION} if role is Role.PARTNER else {}
            token = system.token(role, **org)
        config = tmp_path / f"{caller}.toml"
        config.write_text(config_for(document, token, ids))
        status, output = run_schemathesis(system.url(service), config, operation_ids)
        (SUMMARY / f"{service}-{caller}.txt").write_text(output)
        line = f"{service} as {caller}: {figures(output)}"
        print(line)
        if status != 0:
            failed.append(f"{line}\n{output[-6000:]}")
    assert not failed, "\n\n".join(failed)


def test_every_operation_names_who_may_call_it_or_is_public_on_purpose(system: System) -> None:
    public = {"/health", "/ready", "/asyncapi.json"}
    unmarked = []
    for service in SERVICES:
        document = httpx.get(f"{system.url(service)}/openapi.json", timeout=10).json()
        for path, operations in document["paths"].items():
            for method, operation in operations.items():
                # directory's reads are the public overview; its reports are for operators.
                directory_read = service == "directory" and method == "get"
                # grants' pools and awards: published terms and public spending.
                grants_read = (
                    service == "grants"
                    and method == "get"
                    and path in {"/pools", "/pools/{pool_id}", "/awards", "/awards/360giving.json"}
                )
                is_public = (
                    path in public
                    or grants_read
                    or (directory_read and not path.startswith("/reports/"))
                )
                if ("x-roles" in operation) == is_public:
                    unmarked.append(f"{service} {method.upper()} {path}")
    assert unmarked == []


def test_the_problem_schema_is_shared_and_no_error_uses_fastapis_own(system: System) -> None:
    for service in SERVICES:
        document = httpx.get(f"{system.url(service)}/openapi.json", timeout=10).json()
        assert "HTTPValidationError" not in document["components"]["schemas"]
        # FHIR's routes answer errors as FHIR does: an OperationOutcome.
        errors = [
            response
            for path, operations in document["paths"].items()
            if not path.startswith("/fhir/")
            for operation in operations.values()
            for status, response in operation["responses"].items()
            if int(status) >= 400
        ]
        assert errors, service
        assert {json.dumps(r["content"], sort_keys=True) for r in errors} == {
            json.dumps(
                {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
                sort_keys=True,
            )
        }
