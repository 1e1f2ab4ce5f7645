"""Helpers the area routers share: an answer's freshness in the user's zone."""

from __future__ import annotations

from typing import Any

from whoopkit.service import Answer, WhoopService
from whoopkit.web import pages


def freshness_of(service: WhoopService, answer: Answer[Any]) -> dict[str, Any]:
    """The "updated HH:MM" line and stale banner for ``answer`` (see ``pages.freshness``)."""
    fresh = answer.freshness
    return pages.freshness(fresh.as_of, stale=fresh.stale, problem=fresh.problem, zone=service.user_zone())
