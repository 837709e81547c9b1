"""`brobygger directory import|export|generate`: the directory's data in and out as HSDS 3.0
files, run where the service runs (its database is found as the service finds it).

    brobygger directory import PATH            # HSDS JSON (a service, a list, an organisation
                                               # with its services) or CSV with datapackage.json
    brobygger directory export --format json|csv DIR
    brobygger directory generate --services 100000

Counts and rejections are printed; never a record's values.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from directory import generate, services
from directory.app import MIGRATIONS
from directory.hsds import nested, tabular
from directory.hsds.entities import ENTITIES
from directory.hsds.records import Record, Rejection
from directory.store import DirectoryUnitOfWork
from runtime.config import DATA_DIR
from runtime.migrations import upgrade
from runtime.storage import make_engine

IMPORTER = services.Editor("brobygger directory import")
EXPORTED_JSON = ("organizations.json", "taxonomies.json", "taxonomy_terms.json")
"""What a JSON export writes: every organisation fully nested with its services, and the
taxonomies and their terms (also those no service uses)."""


def main(argv: list[str], setting: Callable[[str], str | None]) -> int:
    parser = argparse.ArgumentParser(prog="brobygger directory")
    commands = parser.add_subparsers(dest="action", required=True)
    reading = commands.add_parser("import", help="read HSDS 3.0 JSON or CSV into the directory")
    reading.add_argument("path", type=Path, help="a .json file, or a folder of them or of CSV")
    writing = commands.add_parser("export", help="write the directory as HSDS 3.0 files")
    writing.add_argument("--format", choices=["json", "csv"], default="json")
    writing.add_argument("folder", type=Path)
    filling = commands.add_parser("generate", help="fill the directory with synthetic services")
    filling.add_argument("--services", type=int, required=True)
    filling.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    url = setting("DIRECTORY_DATABASE_URL") or f"sqlite:///{DATA_DIR / 'directory'}.db"
    engine = make_engine(url)
    start_uow = _uow_factory(engine)
    try:
        # As the service does on start: its tables, and the vocabularies services refer to.
        upgrade(MIGRATIONS, engine)
        services.keep_vocabulary(start_uow)
        if args.action == "import":
            return _import(args.path, start_uow)
        if args.action == "export":
            return _export(args.format, args.folder, start_uow)
        return generate.fill(start_uow, services=args.services, seed=args.seed)
    except SQLAlchemyError as error:
        print(
            f"Could not use the directory's database at {engine.url!r} "
            f"({type(error).__name__}): is it up, and has the directory service started once "
            "(which creates its tables)?",
            file=sys.stderr,
        )
        return 1
    finally:
        engine.dispose()


def _uow_factory(engine: Any) -> services.UnitOfWorkFactory:
    sessions = sessionmaker(engine, class_=Session, expire_on_commit=False)
    return lambda: DirectoryUnitOfWork(sessions, source="directory")


Places = dict[tuple[str, str], str]
"""Where each record was read, by entity and id: `services.csv, id …`, `a.json $.phones[0]`."""


def read_path(path: Path) -> tuple[list[Record], list[Rejection], Places]:
    """The records of an HSDS file or folder, what could not be read, and where each was."""
    if path.is_dir() and (path / "datapackage.json").exists():
        rows, unreadable = tabular.read_tabular(path)
        return rows, unreadable, _rows(rows)
    files = sorted(path.glob("*.json")) if path.is_dir() else [path]
    records: list[Record] = []
    rejections: list[Rejection] = []
    places: Places = {}
    for file in files:
        try:
            document = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as error:
            rejections.append(
                Rejection(file.name, None, f"is not readable JSON ({type(error).__name__})")
            )
            continue
        if _is_api_root(document):
            rejections.append(Rejection(file.name, None, "is an HSDS API root, not data"))
            continue
        if _is_tabular(document):
            found = _tabular_records(document)
            records += found
            places |= {key: f"{file.name} {place}" for key, place in _rows(found).items()}
            continue
        placed, rejected = nested.flatten_placed(_kind_of(document), document, file.name)
        records += [record for _, record in placed]
        places |= {(record.entity, record.id): _in(file.name, where) for where, record in placed}
        rejections += rejected
    return records, rejections, places


def _in(file: str, where: str) -> str:
    return where if where.startswith(file) else f"{file} {where}"


def _rows(records: Iterable[Record]) -> Places:
    return {
        (record.entity, record.id): f"{ENTITIES[record.entity].table}, id {record.id}"
        for record in records
        if record.entity in ENTITIES
    }


def _is_api_root(document: Any) -> bool:
    return isinstance(document, dict) and {"version", "openapi_url"} <= document.keys()


def _is_tabular(document: Any) -> bool:
    """The tabular form written as JSON: `{"services.csv": [rows], ...}`."""
    return isinstance(document, dict) and all(str(key).endswith(".csv") for key in document)


def _tabular_records(document: dict[str, Any]) -> list[Record]:
    by_table = {entity.table: name for name, entity in ENTITIES.items()}
    return [
        Record(by_table.get(table, table.removesuffix(".csv")), row)
        for table, rows in document.items()
        for row in rows
    ]


def _kind_of(document: Any) -> str:
    """Which HSDS object a file holds (a list or page: of what its first item is)."""
    if isinstance(document, dict) and isinstance(document.get("contents"), list):
        document = document["contents"]
    if isinstance(document, list):
        return _kind_of(document[0]) if document else "service"
    if not isinstance(document, dict):
        return "service"
    keys = document.keys()
    if "status" in keys:
        return "service"
    if "location_type" in keys:
        return "location"
    if {"service_id", "location_id"} & keys or "location" in keys:
        return "service_at_location"
    if {"code", "term_uri", "taxonomy_id", "parent_id", "taxonomy_detail"} & keys:
        return "taxonomy_term"
    if "version" in keys and "website" not in keys:
        return "taxonomy"
    return "organization"


def _import(path: Path, start_uow: services.UnitOfWorkFactory) -> int:
    if not path.exists():
        print(f"No such file or folder: {path}", file=sys.stderr)
        return 2
    print(f"Reading {path} ...", file=sys.stderr)
    records, unreadable, places = read_path(path)
    if unreadable:
        for rejection in unreadable:
            print(f"rejected: {rejection}", file=sys.stderr)
        print(
            f"{len(unreadable)} record(s) could not be read; nothing was imported. Fix them "
            "and import again (records are upserted by id, so a repeat is safe).",
            file=sys.stderr,
        )
        return 1
    print(f"{len(records)} records read; importing ...", file=sys.stderr)
    result = services.import_records(records, IMPORTER, start_uow, where=places, progress=_progress)
    for rejection in result.rejected:
        print(f"rejected: {rejection}", file=sys.stderr)
    print(
        f"{result.organizations} organisation(s) imported: {result.created} record(s) created, "
        f"{result.changed} changed, {result.unchanged} unchanged; "
        f"{len(result.rejected)} rejected, {result.refused_organizations} organisation(s) "
        "left as they were"
    )
    return 1 if result.rejected else 0


def _progress(done: int, total: int) -> None:
    if total >= 20 and (done % max(1, total // 20) == 0 or done == total):
        print(f"  {done}/{total} organisations", file=sys.stderr)


def _export(form: str, folder: Path, start_uow: services.UnitOfWorkFactory) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    if form == "csv":
        records = services.all_records(start_uow)
        tabular.write_tabular(records, folder)
        print(f"{len(records)} records written as CSV with datapackage.json to {folder}")
        return 0
    documents = services.export_documents(start_uow)
    for name, content in zip(EXPORTED_JSON, documents, strict=True):
        _write_json(folder / name, content)
    print(
        f"{len(documents[0])} organisation(s), {len(documents[1])} taxonomies and "
        f"{len(documents[2])} terms written as JSON to {folder}"
    )
    return 0


def _write_json(file: Path, content: Iterable[Any]) -> None:
    file.write_text(
        json.dumps(list(content), ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
