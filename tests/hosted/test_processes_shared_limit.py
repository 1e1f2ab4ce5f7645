"""One WHOOP budget across processes: three ``whoopkit worker`` processes backfilling six users against a
fake that enforces WHOOP's real ``LIMIT`` of 100 requests a minute never get a 429, and no 60 s window of
upstream requests holds more than ``LIMIT``.

The backfills together need well over the minute's bulk share (80 % of ``LIMIT``), so the workers must
wait for the window to move on: the test lasts about two minutes by design. The processes get no setting
for the limit: 100 a minute is the app's limit at WHOOP, and whoopkit's.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.helpers.hosted import (
    StartStack,
    busiest_window,
    fake_stats,
    job_runs,
    record_count,
    sign_in,
    user_ids,
    wait_queue_idle,
)

pytestmark = pytest.mark.slow

LIMIT = 100
PEOPLE = 6
DAYS = 90


def request_times(fake_url: str) -> list[int]:
    """When the fake received each API request (epoch ms), from its request log ``/_fake/requests``."""
    response = httpx.get(f"{fake_url}/_fake/requests", timeout=10)
    response.raise_for_status()
    rows: list[dict[str, Any]] = response.json()["requests"]
    return sorted(int(row["at_ms"]) for row in rows)


@pytest.mark.timeout(420)
def test_three_workers_backfilling_six_users_share_one_budget_without_a_429(
    hosted_stack: StartStack,
) -> None:
    from whoopkit.hosted.jobs import QUEUE

    fake, cluster = hosted_stack(
        "--people", str(PEOPLE), "--requests-per-minute", str(LIMIT), "--days", str(DAYS + 10)
    )
    budget = {"WHOOP_SYNC_INTERVAL": "86400"}
    cluster.migrate()
    webs, workers = cluster.start_many(
        webs=1,
        workers=3,
        web_env=budget,
        worker_args=("--concurrency", "2", "--backfill-days", str(DAYS), "--job-timeout", "300"),
        worker_env=budget,
    )
    assert webs[0].url is not None
    for _ in range(PEOPLE):  # the fake's turn: each sign-in is the next person
        sign_in(webs[0].url)
    users = user_ids(cluster.database_url)
    assert len(users) == PEOPLE
    wait_queue_idle(cluster, QUEUE, 300)

    stats = fake_stats(fake.url)
    times = request_times(fake.url)
    assert stats["rate_limited"] == 0, cluster.tails()
    assert busiest_window(times) <= LIMIT
    # The demand did exceed one window's budget, so the limit was really tested.
    assert len(times) > LIMIT
    for user in users:
        assert record_count(cluster.database_url, user) > 0
        runs = job_runs(workers, f"backfill:{user}")
        assert sum(r.succeeded for r in runs) == 1 and sum(r.failed for r in runs) == 0, runs
