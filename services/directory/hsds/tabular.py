"""HSDS's tabular form: one CSV file per table, described by a Frictionless `datapackage.json`
(its Table Schema gives each column's type and each table's primary key).

Only the cells are checked here (type, known column, unique primary key). Foreign keys and
the entity schemas are checked on the records by `validation`, which sees every table at once.
"""

from __future__ import annotations

import csv
import json
import math
import re
import shutil
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import contracts
from directory.hsds.entities import ENTITIES
from directory.hsds.records import Record, Rejection

DATAPACKAGE = Path(contracts.__file__).parent / "hsds" / "datapackage.json"
"""Brobygger's descriptor: HSDS 3.0's, plus the profile's `service_capacity` and `unit`."""
PROGRESS_EVERY = 1000

Progress = Callable[[str, int], None]
"""Told the CSV file's name and the rows read from it so far."""

_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_INTEGER = re.compile(r"[+-]?\d+")
_DATE = r"\d{4}-\d{2}-\d{2}"
_TIME = r"\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?"
_BOOLEAN = {"true": True, "True": True, "TRUE": True, "1": True}
_BOOLEAN |= {"false": False, "False": False, "FALSE": False, "0": False}


def read_tabular(
    directory: Path, progress: Progress | None = None
) -> tuple[list[Record], list[Rejection]]:
    """The records of every table in `directory`, and the rows and columns that were refused.

    The directory's own `datapackage.json` describes its tables, Brobygger's if it has none.
    A table whose file is missing has no records; a column the descriptor does not name is
    refused (and its cells left out), as is a CSV file the descriptor does not name.
    """
    own = directory / "datapackage.json"
    resources = _resources(own if own.exists() else DATAPACKAGE)
    records: list[Record] = []
    rejections: list[Rejection] = []
    for resource in resources:
        path = directory / resource["path"]
        if not path.resolve().is_relative_to(directory.resolve()):
            rejections.append(
                Rejection("datapackage.json", resource["name"], "path leaves the folder")
            )
        elif path.exists():
            for item in _read_table(path, resource, progress):
                if isinstance(item, Record):
                    records.append(item)
                else:
                    rejections.append(item)
    named = {directory / resource["path"] for resource in resources}
    rejections += [
        Rejection(stray.name, None, "is not a table of datapackage.json, so it was not read")
        for stray in sorted(directory.glob("*.csv"))
        if stray not in named
    ]
    return records, rejections


def write_tabular(records: Iterable[Record], directory: Path) -> None:
    """Every table of Brobygger's descriptor as a CSV file (header only if it has no
    records), rows sorted by id, and the descriptor itself, into `directory`."""
    resources = _resources(DATAPACKAGE)
    columns = {resource["name"]: _columns(resource) for resource in resources}
    tables: dict[str, list[Record]] = {name: [] for name in columns}
    for record in records:
        # Refuse before writing anything: a field without a column would be lost silently.
        if record.entity not in columns:
            raise ValueError(f"the tabular form has no table for {record.entity} records")
        if unknown := record.fields.keys() - set(columns[record.entity]):
            raise ValueError(f"{record.entity} {record.id}: no column for {sorted(unknown)}")
        tables[record.entity].append(record)
    directory.mkdir(parents=True, exist_ok=True)
    for resource in resources:
        names = columns[resource["name"]]
        with (directory / resource["path"]).open("w", encoding="utf-8", newline="") as file:
            writer = csv.writer(file)
            writer.writerow(names)
            for record in sorted(tables[resource["name"]], key=lambda record: record.id):
                writer.writerow([_format(record.fields.get(name)) for name in names])
    shutil.copyfile(DATAPACKAGE, directory / "datapackage.json")


def _resources(descriptor: Path) -> list[dict[str, Any]]:
    package: dict[str, Any] = json.loads(descriptor.read_text(encoding="utf-8-sig"))
    return list(package["resources"])


def _columns(resource: dict[str, Any]) -> list[str]:
    return [field["name"] for field in resource["schema"]["fields"]]


def _read_table(
    path: Path, resource: dict[str, Any], progress: Progress | None
) -> Iterator[Record | Rejection]:
    fields = {field["name"]: field for field in resource["schema"]["fields"]}
    key = resource["schema"].get("primaryKey", [])
    keys = [key] if isinstance(key, str) else key
    seen: dict[tuple[str, ...], int] = {}
    number = 0  # the spreadsheet's row number of the last row read; the header is row 1
    with path.open(encoding="utf-8-sig", newline="") as file:
        rows = csv.reader(file, strict=True)  # a broken quote is reported, not guessed at
        try:
            header = next(rows, [])
            number = 1
            for column in header:
                if column not in fields:
                    yield Rejection(f"{path.name} row 1", column, "is not a column of this table")
            for number, row in enumerate(_counted(rows, path.name, progress), start=2):
                where = f"{path.name} row {number}"
                if len(row) > len(header):
                    yield Rejection(where, None, "has more cells than the header has columns")
                    continue
                cells = {c: text for c, text in zip(header, row, strict=False) if c in fields}
                if not any(cells.values()):
                    continue  # a blank line, e.g. at the end of a spreadsheet's export
                values, errors = _convert_row(cells, fields, _required(resource["name"]))
                errors += [
                    (k, "is missing: it is the primary key") for k in keys if k not in values
                ]
                if errors:
                    yield from (Rejection(where, name, reason) for name, reason in errors)
                    continue
                identity = tuple(str(values[k]) for k in keys)
                if identity in seen:
                    yield Rejection(where, ",".join(keys), f"repeats that of row {seen[identity]}")
                    continue
                seen[identity] = number
                yield Record(entity=resource["name"], fields=values)
        except csv.Error as error:  # its messages name the fault, never the cell's text
            yield Rejection(f"{path.name} row {number + 1}", None, f"cannot be read: {error}")
        except UnicodeDecodeError:
            # Decoding runs ahead of the rows by a buffer, so no row can be named.
            yield Rejection(path.name, None, "is not UTF-8 text; the rest of it was not read")


def _counted(
    rows: Iterator[list[str]], name: str, progress: Progress | None
) -> Iterator[list[str]]:
    for done, row in enumerate(rows, start=1):
        yield row
        if progress and done % PROGRESS_EVERY == 0:
            progress(name, done)


def _required(entity: str) -> frozenset[str]:
    """The fields HSDS's JSON requires of the entity (not only its tabular form)."""
    known = ENTITIES.get(entity)
    return frozenset(known.schema.get("required", ())) if known else frozenset()


def _convert_row(
    cells: dict[str, str], fields: dict[str, dict[str, Any]], required: frozenset[str]
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    values: dict[str, Any] = {}
    errors: list[tuple[str, str]] = []
    for name, text in cells.items():
        kind = fields[name].get("type", "string")
        if text == "":
            # An empty cell is a field left out, but a text HSDS requires can only be empty:
            # the change log's `previous_value` of a new record, for one.
            if kind == "string" and name in required:
                values[name] = ""
            continue
        convert = _CONVERTERS.get(kind)
        if convert is None:
            errors.append((name, f"has type {kind}, which Brobygger does not read"))
            continue
        try:
            values[name] = convert(text)
        except ValueError as error:  # our own reasons below: they never quote the value
            errors.append((name, str(error)))
    return values, errors


def _number(text: str) -> int | float:
    if not _NUMBER.fullmatch(text) or not math.isfinite(float(text)):
        raise ValueError("is not a number")
    return int(text) if _INTEGER.fullmatch(text) else float(text)


def _integer(text: str) -> int:
    if not _INTEGER.fullmatch(text):
        raise ValueError("is not a whole number")
    return int(text)


def _boolean(text: str) -> bool:
    if text not in _BOOLEAN:
        raise ValueError("is not true or false")
    return _BOOLEAN[text]


def _checked(pattern: str, parse: Callable[[str], object], what: str) -> Callable[[str], str]:
    """HSDS's JSON holds dates and times as strings: keep the text once it is a valid one."""

    def convert(text: str) -> str:
        try:
            if re.fullmatch(pattern, text):
                parse(text)
                return text
        except ValueError:
            pass
        raise ValueError(f"is not {what}")

    return convert


def _json(kind: type, what: str) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if not isinstance(value, kind):
            raise ValueError(f"is not {what} in JSON")
        return value

    return convert


_CONVERTERS: dict[str, Callable[[str], Any]] = {
    "string": str,
    "number": _number,
    "integer": _integer,
    "boolean": _boolean,
    "date": _checked(_DATE, date.fromisoformat, "a date (YYYY-MM-DD)"),
    "time": _checked(_TIME, time.fromisoformat, "a time (hh:mm:ss, with an optional offset)"),
    "datetime": _checked(
        f"{_DATE}T{_TIME}", datetime.fromisoformat, "a date and time (YYYY-MM-DDThh:mm:ssZ)"
    ),
    "array": _json(list, "an array"),
    "object": _json(dict, "an object"),
}


def _format(value: Any) -> str:
    """A cell that `read_tabular` turns back into `value`."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)  # the shortest text that gives back the same float
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)
