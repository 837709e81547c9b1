"""structlog set-up: one JSON object per line, with the event context bound per message.

Records of the libraries (FastStream, aiokafka, Alembic, uvicorn) go through the same
formatter, so a service's whole output is JSON lines.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog
from pydantic import ValidationError
from sqlalchemy.exc import OperationalError, StatementError

_SHARED: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.processors.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


class _JsonLinesHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Ours, so that configuring again replaces it and leaves other handlers alone."""


def configure_logging(service: str, level: str = "INFO") -> None:
    handler = _JsonLinesHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*_SHARED, structlog.stdlib.add_logger_name],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                structlog.processors.JSONRenderer(ensure_ascii=False),
            ],
        )
    )
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if not isinstance(h, _JsonLinesHandler)]
    root.addHandler(handler)
    root.setLevel(level.upper())
    structlog.configure(
        processors=[*_SHARED, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )
    # What no JSON line shows is not gathered for each record either (the switches the
    # logging HOWTO names for it): the caller's frame, thread and process. About a fifth
    # of a line's cost, on every event consumed and every request.
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    # aiokafka narrates every group join at INFO; its warnings are what matter.
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    structlog.contextvars.bind_contextvars(service=service)


def get_logger(**initial: Any) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(**initial)
    return logger


def describe_error(error: BaseException) -> str:
    """An error as dead-letter headers and logs may carry it: without the input values that
    some errors quote, since those may be personal data.

    A validation error keeps its locations and error types (some of pydantic's messages
    quote the input); a database error keeps its classes (its text holds the statement's
    parameters and the driver's detail, e.g. the duplicate key's value). Any other error
    keeps its message, which is our code's own text.
    """
    if isinstance(error, ValidationError):
        problems = "; ".join(
            f"{'.'.join(str(part) for part in problem['loc']) or '(root)'}: {problem['type']}"
            for problem in error.errors(include_input=False, include_url=False)
        )
        return f"ValidationError for {error.title}: {problems}"
    if isinstance(error, OperationalError) and error.orig is not None:
        # The driver's first line says what failed (connection refused, database locked);
        # the statement and its parameters come after it.
        first_line = str(error.orig).strip().splitlines()[:1]
        return f"{type(error).__name__}: {''.join(first_line)}"
    if isinstance(error, StatementError):
        return f"{type(error).__name__} ({type(error.orig).__name__})"
    return f"{type(error).__name__}: {error}"
