"""Generate and check the committed contract files.

    python -m tools.contracts generate   # contracts/schemas/*.json, the AsyncAPI documents
    python -m tools.contracts check      # fail if they are stale, invalid or break a consumer

`check` fails when:
- a committed file differs from what the code generates (run `generate` and commit);
- an AsyncAPI document does not validate against the AsyncAPI 3.0.0 schema;
- a schema breaks a consumer of any version of it committed before (within one major
  version, producers may add optional fields, never remove, retype or loosen one);
- a committed event schema disappears.
"""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema

from contracts import ALL_EVENTS
from contracts.partners import PARTNER_EVENTS
from runtime.asyncapi import asyncapi_document, partner_topic_document
from tools import SERVICES

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = ROOT / "contracts" / "schemas"
STANDARDS = ROOT / "contracts" / "standards"
PARTNER_TOPIC_DOCUMENT = ROOT / "contracts" / "partner-topic.asyncapi.json"
"""What a partner organisation reads on its own topic (`contracts.partners`)."""


def _dump(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def generated_files() -> dict[Path, str]:
    files: dict[Path, str] = {}
    for event in ALL_EVENTS:
        schema = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": event.schema_uri(),
            **event.model_json_schema(),
        }
        files[SCHEMAS / f"{event.event_type}.json"] = _dump(schema)
    for service in SERVICES:
        events = importlib.import_module(f"{service}.events")
        document = asyncapi_document(
            service,
            publishes=events.PUBLISHES,
            consumes=events.CONSUMES,
            forwards_to_partners=getattr(events, "FORWARDS_TO_PARTNERS", ()),
        )
        files[ROOT / "services" / service / "asyncapi.json"] = _dump(document)
    files[PARTNER_TOPIC_DOCUMENT] = _dump(partner_topic_document(PARTNER_EVENTS))
    return files


# --- compatibility -------------------------------------------------------------------


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = {**root.get("$defs", {})[name], **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def _types(schema: dict[str, Any]) -> set[str] | None:
    declared = schema.get("type")
    if declared is None:
        return None
    return {declared} if isinstance(declared, str) else set(declared)


LOWER_BOUNDS = ("minLength", "minimum", "exclusiveMinimum", "minItems")
UPPER_BOUNDS = ("maxLength", "maximum", "exclusiveMaximum", "maxItems")


def breaking_changes(
    old: dict[str, Any],
    new: dict[str, Any],
    old_root: dict[str, Any],
    new_root: dict[str, Any],
    path: str = "$",
) -> Iterator[str]:
    """Why data valid under `new` could be rejected by a consumer built on `old`."""
    old, new = _resolve(old, old_root), _resolve(new, new_root)
    if "anyOf" in new or "anyOf" in old:
        old_branches = old.get("anyOf", [old])
        for branch in new.get("anyOf", [new]):
            if all(
                list(breaking_changes(o, branch, old_root, new_root, path)) for o in old_branches
            ):
                yield f"{path}: a new alternative {branch} fits no old one"
        return
    old_types, new_types = _types(old), _types(new)
    if old_types is not None and (new_types is None or not new_types <= old_types):
        yield f"{path}: type {sorted(new_types or ['any'])} is wider than {sorted(old_types)}"
    for key in ("enum",):
        if key in old and not set(new.get(key, [None])) <= set(old[key]):
            yield f"{path}: {key} gained values beyond {old[key]}"
    for key in ("const", "format", "pattern"):
        if key in old and new.get(key) != old[key]:
            yield f"{path}: {key} changed from {old[key]!r} to {new.get(key)!r}"
    for key in LOWER_BOUNDS:
        if key in old and (key not in new or new[key] < old[key]):
            yield f"{path}: {key} loosened from {old[key]} to {new.get(key)}"
    for key in UPPER_BOUNDS:
        if key in old and (key not in new or new[key] > old[key]):
            yield f"{path}: {key} loosened from {old[key]} to {new.get(key)}"
    new_required = set(new.get("required", []))
    for name in old.get("required", []):
        if name not in new_required:
            yield f"{path}.{name}: no longer required (consumers rely on it)"
    new_properties = new.get("properties", {})
    for name, old_property in old.get("properties", {}).items():
        if name in new_properties:
            yield from breaking_changes(
                old_property, new_properties[name], old_root, new_root, f"{path}.{name}"
            )
    if "items" in old and "items" in new:
        yield from breaking_changes(old["items"], new["items"], old_root, new_root, f"{path}[]")


def _committed_versions(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    relative = path.relative_to(ROOT).as_posix()
    try:
        commits = subprocess.run(
            ["git", "log", "--format=%h", "--", relative],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        return
    for commit in commits:
        shown = subprocess.run(
            ["git", "show", f"{commit}:{relative}"], cwd=ROOT, capture_output=True, text=True
        )
        if shown.returncode == 0:
            yield commit, json.loads(shown.stdout)


def _ever_committed_schemas() -> set[str]:
    listed = subprocess.run(
        ["git", "log", "--format=", "--name-only", "--diff-filter=A", "--", "contracts/schemas"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    return {line for line in listed.stdout.split() if line.endswith(".json")}


# --- commands ------------------------------------------------------------------------


def generate() -> None:
    SCHEMAS.mkdir(parents=True, exist_ok=True)
    for path, text in generated_files().items():
        path.write_text(text)
        print(f"wrote {path.relative_to(ROOT)}")


def check() -> int:
    problems: list[str] = []
    files = generated_files()
    for path, text in files.items():
        name = path.relative_to(ROOT)
        if not path.exists():
            problems.append(f"{name}: missing; run `python -m tools.contracts generate`")
        elif path.read_text() != text:
            problems.append(f"{name}: stale; run `python -m tools.contracts generate` and commit")

    asyncapi_schema = json.loads((STANDARDS / "asyncapi" / "asyncapi-3.0.0.json").read_text())
    documents = [ROOT / "services" / service / "asyncapi.json" for service in SERVICES]
    for path in [*documents, PARTNER_TOPIC_DOCUMENT]:
        document = json.loads(files[path])
        for error in jsonschema.Draft7Validator(asyncapi_schema).iter_errors(document):
            problems.append(f"{path.relative_to(ROOT)}: {error.message} at {error.json_path}")

    for path, text in files.items():
        if path.parent != SCHEMAS:
            continue
        new = json.loads(text)
        for commit, old in _committed_versions(path):
            for reason in breaking_changes(old, new, old, new):
                problems.append(f"{path.name}: breaks consumers of {commit}: {reason}")
    current = {p.relative_to(ROOT).as_posix() for p in files}
    for gone in sorted(_ever_committed_schemas() - current):
        problems.append(
            f"{gone}: a committed event schema was removed; publish a new major instead"
        )

    for problem in problems:
        print(f"contracts: {problem}", file=sys.stderr)
    checked = len(files)
    print(f"contracts: {checked} files checked, {len(problems)} problem(s)")
    return 1 if problems else 0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("command", choices=["generate", "check"])
    args = parser.parse_args()
    if args.command == "generate":
        generate()
    else:
        sys.exit(check())


if __name__ == "__main__":
    main()
