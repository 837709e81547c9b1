"""HTTP API of directory: the HSDS 3.0 API (public reads, `publication`), keeping the
directory (`editing`), and reports for operators (`reports`)."""

from fastapi import APIRouter

from directory.api import editing, publication, reports

router = APIRouter()
router.include_router(publication.router)
router.include_router(editing.router)
router.include_router(reports.router)

__all__ = ["router"]
