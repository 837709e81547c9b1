"""Building blocks the services' HTTP APIs share: input types, the unit-of-work dependency,
and the answer to an idempotent create."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any

from fastapi import Header, Request, Response, status
from pydantic import BaseModel, BeforeValidator, ConfigDict, StringConstraints

NO_NUL = r"^[^\x00]*$"
"""PostgreSQL cannot store NUL in text: refuse it as bad input instead of failing later."""

WHITESPACE = r"\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
"""Every character some regex dialect calls whitespace, listed: `\\s` means different sets to
ECMA-262 (the document's readers), Python and Rust (the server's pydantic)."""
_CONTROL = r"\x00-\x1f\x7f"
_CONTROL_BUT_LINES = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f"
TRIMMED = rf"^[^{WHITESPACE}{_CONTROL}](?:[^{_CONTROL}]*[^{WHITESPACE}{_CONTROL}])?$"
"""One line of text that starts and ends with a visible character, without control
characters (NUL, which PostgreSQL cannot store, among them). Refused rather than trimmed, so
that the schema in the API document and the server agree on every input."""
TRIMMED_LINES = (
    rf"^[^{WHITESPACE}{_CONTROL}](?:[^{_CONTROL_BUT_LINES}]*[^{WHITESPACE}{_CONTROL}])?$"
)
"""Like `TRIMMED`, but tabs and line breaks may stand inside: a description, a note."""

MAX_BODY_BYTES = 1024 * 1024
"""No request of these APIs needs more than a megabyte."""

ShortText = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=TRIMMED)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=TRIMMED)]
LongText = Annotated[str, StringConstraints(min_length=1, max_length=4000, pattern=TRIMMED_LINES)]
Keyword = Annotated[
    str, StringConstraints(min_length=1, max_length=40, pattern=r"^[a-z0-9]+(?:[_-][a-z0-9]+)*$")
]
"""A coded interest, need or target group: `walking`, `wheelchair_access`."""
LanguageCode = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}$")]
"""ISO 639-1, e.g. `da`."""

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_URL_CHAR = r"(?:[A-Za-z0-9._~!$&'()*+,;=:@/?-]|%[0-9A-Fa-f]{2})"
HTTP_URL = (
    rf"^https?://{_LABEL}(?:\.{_LABEL})*(?::[0-9]{{1,5}})?(?:[/?]{_URL_CHAR}*)?(?:#{_URL_CHAR}*)?$"
)
"""An http(s) URL with a host name, in explicit character classes (not \\w or \\d, which
mean different characters to ECMA-262 and to pydantic's Rust). Kept as sent: pydantic's URL
types would normalise it, so what is read back would differ from what was written."""


def _json_integer(value: object) -> object:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("Input should be an integer")
    return value


JSON_INTEGER = BeforeValidator(_json_integer)
"""What JSON Schema calls an integer: 12 or 12.0, but not "12" or true, which pydantic alone
would also take. Put it after the field's bounds, or pydantic leaves them out of the schema."""


def _json_boolean(value: object) -> object:
    if not isinstance(value, bool):
        raise ValueError("Input should be true or false")
    return value


JSON_BOOLEAN = BeforeValidator(_json_boolean)
"""Only JSON's true or false, for a `Literal[True]` (which alone would also take 1)."""


def _iso_day(value: object) -> object:
    """Only `YYYY-MM-DD`, as `format: date` says: pydantic alone would also take a number
    (seconds since 1970) or a date-time."""
    if not isinstance(value, str) or not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
        raise ValueError("Input should be a date as YYYY-MM-DD")
    return value


Day = Annotated[date, BeforeValidator(_iso_day)]
"""A calendar day, written `YYYY-MM-DD`."""

IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias=IDEMPOTENCY_KEY_HEADER,
        min_length=1,
        max_length=200,
        pattern=r"^[\x21-\x7e]+$",
        description="Required. A key unique to what this request creates (e.g. the care "
        "record's id for it), printable ASCII without spaces; a retry with the same key and "
        "body answers 200 with the first result, the same key with another body 409.",
    ),
]
"""Optional to FastAPI so that a missing key is a clear 400; the API document says required."""


class InputModel(BaseModel):
    """A request body: unknown fields are refused, so a misspelt field is not silently lost."""

    model_config = ConfigDict(extra="forbid")


def unit_of_work_factory(request: Request) -> Any:
    """The service's unit-of-work factory, for `Depends`; `create_app` puts it on the app."""
    return request.app.state.start_uow


def answer_created(response: Response, location: str, created: bool) -> None:
    """201 with its Location; a retry that found the first result answers 200."""
    response.headers["Location"] = location
    if not created:
        response.status_code = status.HTTP_200_OK
