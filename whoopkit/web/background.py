"""The web app's background sync: once at start-up, then every ``WHOOP_SYNC_INTERVAL`` seconds.

It runs as one task in the lifespan, so pages never wait on a full backfill (their own reads sync
only the missing or stale part). It never crashes the app: a failure is logged and retried at the
next interval; while nobody is logged in it just skips.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from whoopkit.errors import AuthError, WhoopkitError
from whoopkit.service import WhoopService
from whoopkit.web.state import SyncStatus

logger = logging.getLogger(__name__)


async def sync_once(service: WhoopService, status: SyncStatus) -> None:
    """One background sync; records the outcome in ``status`` and never raises (except cancellation)."""
    try:
        if not service.auth_status().logged_in:
            logger.debug("background sync skipped: not logged in")
            status.finished(error="not logged in")
            return
        report = await service.sync()
    except asyncio.CancelledError:
        raise
    except AuthError as exc:
        logger.info("background sync skipped: %s", exc)
        status.finished(error=str(exc))
    except WhoopkitError as exc:
        logger.warning("background sync failed: %s", exc)
        status.finished(error=str(exc))
    except Exception as exc:  # the app must keep serving stored data whatever went wrong here
        logger.exception("background sync failed unexpectedly")
        status.finished(error=f"unexpected {type(exc).__name__}")
    else:
        logger.info(
            "background sync: %d new, %d updated, %d deleted, %d requests in %.1f s",
            report.new,
            report.updated,
            report.deleted,
            report.requests,
            report.seconds,
        )
        status.finished(success=service.now())


async def run(service: WhoopService, status: SyncStatus, interval: float, wake: asyncio.Event) -> None:
    """Sync now, then every ``interval`` seconds or as soon as ``wake`` is set, until cancelled."""
    while True:
        wake.clear()
        await sync_once(service, status)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), timeout=interval)


def start(
    service: WhoopService, status: SyncStatus, interval: float, wake: asyncio.Event
) -> asyncio.Task[None] | None:
    """Start the loop as a task (None when ``interval`` is 0: background sync is off).

    Setting ``wake`` (e.g. right after a login) starts the next sync at once.
    """
    if interval <= 0:
        logger.info("background sync is off (WHOOP_SYNC_INTERVAL=0)")
        return None
    return asyncio.create_task(run(service, status, interval, wake), name="whoopkit-background-sync")


async def stop(task: asyncio.Task[None] | None) -> None:
    """Cancel the loop and wait for it to finish (a sync in flight stops at its next await)."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
