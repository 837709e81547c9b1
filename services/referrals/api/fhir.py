"""FHIR R4 for care systems: `POST /fhir/ServiceRequest`, `GET /fhir/Task`, `GET /fhir/metadata`."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/fhir", tags=["fhir"])
