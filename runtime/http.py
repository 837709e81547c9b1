"""Building blocks the services' HTTP APIs share: input types, the unit-of-work dependency,
and the answer to an idempotent create."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Header, Request, Response, status
from pydantic import StringConstraints

NO_NUL = r"^[^\x00]*$"
"""PostgreSQL cannot store NUL in text: refuse it as bad input instead of failing later."""

ShortText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100, pattern=NO_NUL)
]
Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=NO_NUL)
]
LongText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000, pattern=NO_NUL)
]
Keyword = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, to_lower=True, min_length=1, max_length=40, pattern=r"^\w[\w -]*$"
    ),
]
"""An interest, need or target group: `walking`, `wheelchair_access`."""
LanguageCode = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}$")]
"""ISO 639-1, e.g. `da`."""

IdempotencyKey = Annotated[
    str | None,
    Header(
        min_length=1,
        max_length=200,
        description="Retries with the same key return the first result instead of a new one.",
    ),
]


def unit_of_work_factory(request: Request) -> Any:
    """The service's unit-of-work factory, for `Depends`; `create_app` puts it on the app."""
    return request.app.state.start_uow


def answer_created(response: Response, location: str, created: bool) -> None:
    """201 with its Location; a retry that found the first result answers 200."""
    response.headers["Location"] = location
    if not created:
        response.status_code = status.HTTP_200_OK
