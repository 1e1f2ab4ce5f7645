"""AI insights: the page (at once, with a "thinking…" card) and its JSON data endpoint.

The insight reads the last month's records plus the long-term evidence of the person's history (what
is associated with their recovery over a year, and their records). That evidence covers the history
already in the store: like every page, this one syncs only what it shows (its month), while the
background sync and ``whoopkit sync`` bring in the rest, so asking for insights never starts a year-long
sync. With less than a year stored, the drivers cover what is stored (from ``MIN_HISTORY_DAYS`` on) and
the records wait for the year; a complete history (WHOOP has nothing older) is used whatever its length.
The evidence is a bonus: when it fails or takes longer than ``EVIDENCE_SECONDS`` the insight is built
without it (and the log says why).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from whoopkit import insights as insights_mod
from whoopkit.errors import AuthError
from whoopkit.service import DRIVERS_MIN_DAYS, Answer, WhoopService
from whoopkit.web import pages
from whoopkit.web.deps import ServiceDep, WebDep
from whoopkit.web.errors import render
from whoopkit.web.routers.common import freshness_of
from whoopkit.web.state import WebState

router = APIRouter()
logger = logging.getLogger(__name__)

INSIGHT_TTL = 600.0  # a model answer stays good while the numbers it was given are the same
EVIDENCE_DAYS = 365
EVIDENCE_SECONDS = 5.0  # for drivers and records together, on top of the month's read

Facts = list[tuple[str, str]]
NoticePart = tuple[str, bool]  # (text, whether it is a command to type)


def origin(result: insights_mod.InsightResult | None, model: str) -> str:
    """The line under the heading: where the insight below comes from (before it arrives: neutral)."""
    private = "nothing is sent to the cloud."
    if result is None:
        return f"Reading your last 30 days, with a local Ollama model ({model}) if it runs; {private}"
    if result.source == "ollama":
        return f"From a local Ollama model ({result.model}) reading your last 30 days; {private}"
    return (
        "Worked out by whoopkit's built-in rules from your last 30 days, because the local Ollama model "
        f"did not answer (see below); {private}"
    )


def notice_parts(notice: str | None) -> list[NoticePart]:
    """The notice split at its `backticks`: the commands show as code, never as literal backticks."""
    if not notice:
        return []
    pieces = notice.split("`")
    if len(pieces) % 2 == 0:  # an unpaired backtick: plain text
        return [(notice.replace("`", ""), False)]
    return [(piece, i % 2 == 1) for i, piece in enumerate(pieces) if piece]


async def _insight_input(service: WhoopService) -> tuple[insights_mod.InsightInput, Answer[Any]]:
    await service.user_id()  # "today" is in the user's zone, known once the user is
    end = service.today()
    start = end - timedelta(days=insights_mod.LOOKBACK_DAYS - 1)
    # One read brings every collection of the window up to date; the records then come from the store.
    answer = await service.days(start, end)
    body = await service.body()
    evidence = await _evidence(service)
    data = insights_mod.InsightInput(
        body=body.data,
        cycles=service.stored_cycles(start, end),
        recoveries=service.stored_recoveries(start, end),
        sleeps=service.stored_sleeps(start, end),
        workouts=service.stored_workouts(start, end),
        now=service.now(),
        evidence=evidence,
    )
    return data, answer


def stored_days(service: WhoopService) -> int | None:
    """Whole days of history the store holds, ending today (None: all of WHOOP's history is stored).

    The daily collections bound it (cycles, recoveries, sleeps); workouts are sparse, and a year without
    one is no gap. Two days are kept in hand so that the window asked lies inside what was synced.
    """
    status = service.store_status()
    firsts: list[datetime] = []
    for kind in ("cycles", "recoveries", "sleeps"):
        col = status.collections.get(kind)
        if col is not None and col.complete:
            continue
        if col is None or col.oldest is None:
            return 0
        firsts.append(col.oldest)
    if not firsts:
        return None
    return max(0, (service.today() - max(firsts).date()).days - 2)


async def _evidence(service: WhoopService) -> insights_mod.Evidence:
    """Drivers of recovery over the stored year and the records, each left out (and logged) on failure."""
    deadline = time.monotonic() + EVIDENCE_SECONDS
    drivers = records = None
    problems: list[str] = []
    held = stored_days(service)
    days = EVIDENCE_DAYS if held is None else min(EVIDENCE_DAYS, held)
    if days >= max(DRIVERS_MIN_DAYS, insights_mod.MIN_HISTORY_DAYS):
        try:
            async with asyncio.timeout(EVIDENCE_SECONDS):
                drivers = (await service.drivers(days, "recovery")).data
        except AuthError:
            raise
        except Exception as exc:  # the insight must not depend on the evidence, whatever went wrong
            problems.append(_why("drivers", exc))
    if days >= EVIDENCE_DAYS:
        try:
            async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                records = (await service.records()).data
        except AuthError:
            raise
        except Exception as exc:  # the insight must not depend on the evidence, whatever went wrong
            problems.append(_why("records", exc))
    problem = "; ".join(problems) or None
    if problem:
        logger.warning("AI insights without part of the long-term evidence: %s", problem)
    return insights_mod.Evidence(drivers=drivers, records=records, stored_days=held, problem=problem)


def _why(what: str, exc: Exception) -> str:
    if isinstance(exc, TimeoutError):
        return f"the {what} took longer than {EVIDENCE_SECONDS:g} s"
    return f"the {what} failed ({type(exc).__name__}: {exc})"


async def _generate(
    web: WebState, service: WhoopService
) -> tuple[insights_mod.InsightResult, Facts, Answer[Any]]:
    service.require_login()
    data, answer = await _insight_input(service)
    facts = insights_mod.facts(data)
    # Reloading the page must not make a local model think for half a minute again: answers from
    # Ollama are kept for the same prompt (the same numbers) for INSIGHT_TTL seconds.
    # The user is part of the key: hosted, two users with the same numbers must not share an answer.
    user = await service.user_id()
    key = hashlib.sha256(
        f"{user}|{web.settings.ollama_host}|{web.settings.ollama_model}|{insights_mod.build_prompt(data)}".encode()
    ).hexdigest()
    now = time.monotonic()
    cached = web.insight_cache.get(key)
    if cached is not None and now - cached[0] < INSIGHT_TTL:
        return cached[1], facts, answer
    client = web.ollama_client()
    try:
        result = await insights_mod.generate_insights(data, web.settings, client=client)
    finally:
        await _close_ollama(client)
    if result.source == "ollama":
        if len(web.insight_cache) >= 16:
            web.insight_cache.clear()
        web.insight_cache[key] = (now, result)
    return result, facts, answer


async def _close_ollama(client: Any) -> None:
    close = getattr(client, "close", None)
    if close is not None:
        await close()


async def _stored_freshness(service: WhoopService) -> dict[str, Any]:
    """When the store was last synced, without syncing: the page itself must appear at once."""
    status = service.store_status()
    if status.user_id is not None:
        await service.user_id()  # known to the store, so no upstream call; gives the user's zone
    synced = [c.last_sync for c in status.collections.values()]
    as_of = None if not synced or any(s is None for s in synced) else min(s for s in synced if s)
    return pages.freshness(as_of, stale=False, problem=None, zone=service.user_zone())


@router.get("/ai-insights-view")
async def ai_insights_view(request: Request, web: WebDep, service: ServiceDep) -> Response:
    """The insights page, at once, with a "thinking…" card that JS fills (``?wait=1``: rendered here)."""
    service.require_login()
    result = None
    facts: Facts = []
    if request.query_params.get("wait") == "1":
        result, facts, answer = await _generate(web, service)
        freshness = freshness_of(service, answer)
    else:
        freshness = await _stored_freshness(service)
    return render(
        request,
        "insights.html",
        title="AI insights",
        model=web.settings.ollama_model,
        origin=origin(result, web.settings.ollama_model),
        notice_parts=notice_parts(result.notice if result else None),
        result=result,
        facts=facts,
        freshness=freshness,
    )


@router.get("/ai-insights-view/data")
async def ai_insights_data(web: WebDep, service: ServiceDep) -> Response:
    """The insight as JSON for the page's script (Ollama's answer, or rule-based when it is unavailable)."""
    result, facts, answer = await _generate(web, service)
    body = result.model_dump(mode="json")
    parts = notice_parts(result.notice)
    body["notice"] = "".join(text for text, _ in parts) or None
    body["notice_parts"] = [{"text": text, "code": code} for text, code in parts]
    body["origin"] = origin(result, web.settings.ollama_model)
    body["facts"] = facts
    fresh = freshness_of(service, answer)
    body["freshness"] = {
        "as_of": answer.freshness.as_of_iso,
        "updated": fresh["updated"],
        "stale": fresh["stale"],
        "banner": fresh["banner"],
        "problem": fresh["problem"],
    }
    return JSONResponse(body, headers={"cache-control": "no-store"})
