"""``/healthz`` (liveness), ``/readyz`` (readiness) and, hosted, ``/metrics``: no upstream call."""

from __future__ import annotations

import anyio.to_thread
from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from whoopkit.errors import WhoopkitError
from whoopkit.web.deps import WebDep

router = APIRouter()

NO_STORE = {"cache-control": "no-store"}


@router.get("/healthz")
async def healthz(web: WebDep) -> Response:
    """Liveness: ``status``, ``demo``, ``logged_in`` and the background sync's ``last_sync`` (ISO 8601).

    ``status`` is ``error`` when the data service could not start (e.g. a database from a newer
    whoopkit); the pages then say why. Hosted, ``logged_in`` is always false (it is about no one user),
    and ``hosted`` is true.
    """
    service = None if web.hosted else web.service
    last = web.sync.last_success
    body = {
        "status": "ok" if web.startup_error is None else "error",
        "demo": web.demo,
        "logged_in": bool(service is not None and service.auth_status().logged_in),
        "last_sync": last.isoformat(timespec="seconds") if last is not None else None,
    }
    if web.hosted:
        body["hosted"] = True
    return JSONResponse(body, headers=NO_STORE)


@router.get("/readyz")
async def readyz(web: WebDep) -> Response:
    """Readiness: 200 when every dependency answers, else 503; ``checks`` names each one's state.

    Hosted: the database, Redis and the job queue. Locally: the history store.
    """
    checks: dict[str, str] = {}
    if web.startup_error is not None:
        checks["startup"] = type(web.startup_error).__name__
    elif web.hosted:
        if web.runtime is None:
            checks["startup"] = "not started"
        else:
            checks.update(await web.runtime.ready())
    elif web.service is not None:
        service = web.service
        try:
            await anyio.to_thread.run_sync(service.store.schema_revision)
            checks["database"] = "ok"
        except WhoopkitError as exc:
            checks["database"] = f"unusable ({type(exc).__name__})"
    else:
        checks["startup"] = "not started"
    ready = bool(checks) and all(value == "ok" for value in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status_code=200 if ready else 503,
        headers=NO_STORE,
    )


@router.get("/metrics")
async def metrics(web: WebDep) -> Response:
    """Prometheus metrics of this web process (hosted mode only; a 404 locally)."""
    if not web.hosted or web.runtime is None:
        return JSONResponse({"error": "Not found"}, status_code=404, headers=NO_STORE)
    from whoopkit.hosted import metrics as hosted_metrics

    body, content_type = await hosted_metrics.render(web.runtime.limiter, web.runtime.redis)
    return Response(body, media_type=content_type, headers=NO_STORE)
