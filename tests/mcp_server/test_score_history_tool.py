"""``get_history``'s day rows carry WHOOP's re-scores of the day as sentences a model can quote."""

from __future__ import annotations

import pytest
from mcp import Client

from tests.mcp_server.conftest import text_of
from whoopkit import analytics
from whoopkit.analytics.units import day_text
from whoopkit.fake_whoop import FakeWhoop
from whoopkit.models import Cycle
from whoopkit.service import WhoopService

pytestmark = pytest.mark.anyio


async def test_a_re_scored_day_carries_its_sentence_in_score_changes_and_other_days_none(
    client: Client, service: WhoopService, fake: FakeWhoop
) -> None:
    first = await client.call_tool("get_history", {"kind": "days", "days": 14})
    assert not first.is_error, text_of(first)
    assert first.structured_content is not None
    assert all(row["score_changes"] == [] for row in first.structured_content["days"])

    recovery = next(r for r in fake.data.recoveries[2:] if r["score_state"] == "SCORED")
    before = recovery["score"]["recovery_score"]
    after = before - 20.0 if before >= 50 else before + 20.0
    fake.rescore("recovery", recovery["cycle_id"], recovery_score=after)
    await service.sync(days=14)

    result = await client.call_tool("get_history", {"kind": "days", "days": 14})
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None
    [cycle] = [c for c in fake.data.cycles if c["id"] == recovery["cycle_id"]]
    day = analytics.whoop_day(Cycle.model_validate(cycle))
    changed = {
        row["date"]: row["score_changes"] for row in result.structured_content["days"] if row["score_changes"]
    }
    assert changed == {
        day.isoformat(): [f"WHOOP changed {day_text(day)} recovery from {before:.0f}% to {after:.0f}%"]
    }
    assert "WHOOP re-scored 1 of these days" in result.structured_content["summary"]
