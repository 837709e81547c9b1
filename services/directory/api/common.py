"""What directory's routes share: the unit of work, paging as the HSDS API pages, and the
answers for what the service layer refuses."""

from __future__ import annotations

from math import ceil
from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, Query
from fastapi.responses import JSONResponse

from directory import services
from directory.hsds.records import Rejection
from runtime.http import unit_of_work_factory
from runtime.problems import Problem

StartUow = Annotated[services.UnitOfWorkFactory, Depends(unit_of_work_factory)]

PageNumber = Annotated[
    int,
    Query(ge=1, le=100_000, description="Page number of paginated result, from 1."),
]
PerPage = Annotated[
    int,
    Query(ge=1, le=100, description="Number of results requested in a single page."),
]
DEFAULT_PER_PAGE = 20


def page_body(page: services.Page) -> dict[str, Any]:
    """The HSDS API's `Page` object around the contents."""
    total_pages = ceil(page.total_items / page.paging.per_page)
    return {
        "total_items": page.total_items,
        "total_pages": total_pages,
        "page_number": page.paging.page,
        "size": len(page.contents),
        "first_page": page.paging.page == 1,
        "last_page": page.paging.page >= total_pages,
        "empty": not page.contents,
        "contents": page.contents,
    }


def json(document: dict[str, Any], status_code: int = 200, **headers: str) -> JSONResponse:
    return JSONResponse(document, status_code=status_code, headers=headers or None)


def not_found(kind: str, record_id: UUID) -> Problem:
    return Problem(404, f"There is no {kind} {record_id}.")


def rejected(error: services.Rejected) -> Problem:
    """422 naming each record and field at fault and why, never a value."""
    return Problem(
        422,
        "The HSDS document breaks these rules: " + "; ".join(map(str, error.rejections)),
        errors=[_field_error(rejection) for rejection in error.rejections],
    )


def _field_error(rejection: Rejection) -> dict[str, str]:
    where = rejection.where + (f".{rejection.field}" if rejection.field else "")
    return {"location": where, "message": rejection.reason}


def missing(what: str) -> dict[int | str, dict[str, Any]]:
    return {404: {"description": f"There is no {what} with this id."}}
