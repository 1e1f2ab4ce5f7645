"""``/healthz``: liveness for uptime checks, with no upstream call and no secrets."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from whoopkit.web.deps import WebDep

router = APIRouter()


@router.get("/healthz")
async def healthz(web: WebDep) -> Response:
    """Liveness: ``status``, ``demo``, ``logged_in`` and the background sync's ``last_sync`` (ISO 8601).

    ``status`` is ``error`` when the data service could not start (e.g. a database from a newer
    whoopkit); the pages then say why.
    """
    service = web.service
    last = web.sync.last_success
    return JSONResponse(
        {
            "status": "ok" if web.startup_error is None else "error",
            "demo": web.demo,
            "logged_in": bool(service is not None and service.auth_status().logged_in),
            "last_sync": last.isoformat(timespec="seconds") if last is not None else None,
        },
        headers={"cache-control": "no-store"},
    )
