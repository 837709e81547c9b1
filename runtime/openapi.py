"""The OpenAPI document each service serves: what the routes declare, plus what every
route shares (problem details, the bearer scheme, the statuses the runtime answers)."""

from __future__ import annotations

from fastapi import FastAPI


def document_api(app: FastAPI) -> None:
    """Make `app.openapi()` describe everything the service answers."""
