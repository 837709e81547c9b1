"""RFC 9457 problem details for every error an API returns."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from runtime.logs import describe_error, get_logger

URI_PATH_SAFE = "/:@!$&'()*+,;=-._~"
"""The characters RFC 3986 allows unencoded in a path."""

PROBLEM_JSON = "application/problem+json"
log = get_logger(component="http")


class Problem(Exception):
    """Raise from anywhere in a request to answer with problem+json."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        title: str | None = None,
        type_: str = "about:blank",
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title or HTTPStatus(status).phrase
        self.type = type_
        self.headers = headers
        self.extensions = extensions


def problem_response(
    request: Request,
    status: int,
    detail: str,
    *,
    title: str | None = None,
    type_: str = "about:blank",
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    body = {
        "type": type_,
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        # Percent-encoded as sent: the document promises a URI reference.
        "instance": quote(request.url.path, safe=URI_PATH_SAFE),
        **extensions,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route of the app answers on the request's path."""
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.routes):
        regex = getattr(route, "path_regex", None)
        if regex is not None and regex.match(request.url.path):
            methods |= route.methods or set()
    return sorted(methods)


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(
            request,
            exc.status,
            exc.detail,
            title=exc.title,
            type_=exc.type,
            headers=exc.headers,
            **exc.extensions,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(exc.headers) if exc.headers else None
        if exc.status_code == 405:
            # Starlette names only the first route's methods; the path may have several.
            headers = {**(headers or {}), "Allow": ", ".join(allowed_methods(request))}
        return problem_response(request, exc.status_code, str(exc.detail), headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "location": ".".join(str(part) for part in error["loc"]),
                "message": error["msg"],
            }
            for error in exc.errors()
        ]
        return problem_response(
            request, 422, "The request does not match the schema; see `errors`.", errors=errors
        )

    @app.exception_handler(IntegrityError)
    async def _conflict(request: Request, exc: IntegrityError) -> JSONResponse:
        # Use cases handle the conflicts they expect; this is the net under the rest.
        log.warning("http.write_conflict", path=request.url.path, error=describe_error(exc))
        return problem_response(
            request,
            409,
            "Another request changed the same data at the same moment; send this one again.",
        )

    @app.exception_handler(DataError)
    async def _unstorable(request: Request, exc: DataError) -> JSONResponse:
        # Validation should have refused it; the database is the last line, not a 500.
        log.warning("http.unstorable_value", path=request.url.path, error=describe_error(exc))
        return problem_response(request, 422, "A value in the request cannot be stored as sent.")

    @app.exception_handler(OperationalError)
    async def _database_down(request: Request, exc: OperationalError) -> JSONResponse:
        log.error("http.database_unavailable", path=request.url.path, error=describe_error(exc))
        return problem_response(
            request,
            503,
            "The service's database is not answering; nothing was changed. Try again shortly.",
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(PoolTimeoutError)
    async def _database_busy(request: Request, exc: PoolTimeoutError) -> JSONResponse:
        # Every pooled connection stayed busy for the whole pool timeout: the request
        # never reached the database, and a retry a moment later likely finds one free.
        log.warning("http.database_busy", path=request.url.path, error=str(exc))
        return problem_response(
            request,
            503,
            "The service is too busy to reach its database; nothing was changed. "
            "Try again shortly.",
            headers={"Retry-After": "2"},
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("http.unhandled_error", path=request.url.path)
        return problem_response(request, 500, "An unexpected error occurred; it has been logged.")
