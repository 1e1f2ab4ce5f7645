"""A worker killed with SIGKILL in the middle of a backfill loses nothing: once arq's in-progress key of
the job expires (``--job-timeout`` + 10 s), another worker runs the job again, and the store ends up with
exactly the records a clean sync of the same person and days stores (same ids, same counts).

The fake answers every request after 1 s, so a 90-day backfill (about 20 requests, four collections at a
time) takes about 6 s: the kill comes as soon as the store shows the first records. The clean reference
is the same sync (``WhoopService.sync(days=90)``, the logic the job runs) in this process into a SQLite
store, on its own token of the same person.
"""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import httpx
import pytest

from tests.helpers.hosted import (
    CLIENT_ID,
    CLIENT_SECRET,
    StartStack,
    job_runs,
    record_count,
    record_ids,
    sign_in,
    wait_for,
    wait_queue_idle,
)

pytestmark = pytest.mark.slow

USER = 10_129  # the fake's person 0
DAYS = 90
JOB_TIMEOUT = "12"  # the job takes about 6 s; its in-progress key lives 22 s
QUIET_CRON = {"WHOOP_SYNC_INTERVAL": "86400"}


async def reference_sync(fake_url: str, workdir: Path) -> str:
    """A clean sync of the fake's person 0 for ``DAYS`` into a new SQLite store; that store's URL."""
    from whoopkit.config import load_settings
    from whoopkit.service import build_service
    from whoopkit.tokens import Token, TokenStore

    database = f"sqlite:///{workdir / 'reference.db'}"
    settings = load_settings(
        _env_file=None,
        WHOOP_CLIENT_ID=CLIENT_ID,
        WHOOP_CLIENT_SECRET=CLIENT_SECRET,
        WHOOP_API_BASE_URL=f"{fake_url}/developer",
        WHOOP_OAUTH_BASE_URL=f"{fake_url}/oauth/oauth2",
        WHOOP_TOKEN_CACHE=workdir / "reference_token.json",
        WHOOP_DATA_DIR=workdir / "reference",
        WHOOP_DATABASE_URL=database,
        WHOOP_DEMO=False,
    )
    async with httpx.AsyncClient(timeout=10) as http:
        answer = await http.post(f"{fake_url}/_fake/token", json={"person": 0})
        answer.raise_for_status()
    TokenStore(settings.whoop_token_cache).save(Token.from_response(answer.json(), now=time.time()))
    service = build_service(settings, demo=False)
    try:
        await service.sync(days=DAYS)
    finally:
        await service.aclose()
    return database


def test_a_backfill_whose_worker_is_killed_mid_job_is_finished_by_another_worker_without_duplicates(
    hosted_stack: StartStack, tmp_path: Path, clean_env: None
) -> None:
    from whoopkit.hosted.jobs import QUEUE

    fake, cluster = hosted_stack("--latency-ms", "1000", "--days", str(DAYS + 30))
    cluster.migrate()
    worker_args = ("--concurrency", "1", "--backfill-days", str(DAYS), "--job-timeout", JOB_TIMEOUT)
    webs, (doomed,) = cluster.start_many(webs=1, workers=1, worker_args=worker_args, worker_env=QUIET_CRON)
    assert webs[0].url is not None
    sign_in(webs[0].url)  # a new user: the backfill job is enqueued
    wait_for(lambda: record_count(cluster.database_url, USER) > 0, 30, "the backfill's first records")
    doomed.kill()
    partial = record_count(cluster.database_url, USER)
    assert job_runs([doomed], f"backfill:{USER}")[0].succeeded == 0, "the backfill ended before the kill"

    rescuer = cluster.start_worker(*worker_args, extra_env=QUIET_CRON)
    wait_queue_idle(cluster, QUEUE, 45)
    (run,) = job_runs([rescuer], f"backfill:{USER}")
    assert run.succeeded == 1 and run.failed == 0, (run, rescuer.tail())

    stored = record_ids(cluster.database_url, USER)
    reference = record_ids(anyio.run(reference_sync, fake.url, tmp_path), USER)
    assert {t: len(ids) for t, ids in stored.items()} == {t: len(ids) for t, ids in reference.items()}
    assert stored == reference
    for table, ids in stored.items():
        assert len(ids) == len(set(ids)), f"duplicate {table}"
    assert sum(len(ids) for ids in stored.values()) > partial > 0
