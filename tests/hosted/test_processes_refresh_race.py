"""The refresh race as real processes: 4 ``whoopkit worker`` and 2 ``whoopkit serve --hosted`` processes meet
one user whose token just expired, and WHOOP sees exactly one refresh grant and no ``invalid_grant``.

The user signs in through the real ``/login`` → fake → ``/callback``; once the first backfill is done, the
stored row is re-saved as expired (same tokens, so only the processes' own check says "refresh"). Then, at
once, four refresh jobs with distinct job ids are enqueued (one per worker: ``--concurrency 1``) and both
web processes are asked for ``/dashboard`` (``WHOOP_FRESH_SECONDS=0``: a page read always asks WHOOP). The
fake's token endpoint takes 300 ms, so all six meet while the one refresh is in flight.
"""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from tests.helpers.hosted import (
    StartStack,
    enqueue,
    fake_stats,
    job_runs,
    record_count,
    sign_in,
    wait_for,
    wait_queue_idle,
)

pytestmark = pytest.mark.slow

USER = 10_129  # the fake's person 0
QUIET_CRON = {"WHOOP_SYNC_INTERVAL": "86400"}  # no periodic refresh joins in during the test


def test_four_workers_and_two_web_processes_meeting_one_expired_user_send_one_refresh_grant(
    hosted_stack: StartStack, token_key: str
) -> None:
    from whoopkit.hosted.jobs import QUEUE
    from whoopkit.hosted_tokens import HostedTokenStore
    from whoopkit.token_crypto import TokenCipher

    fake, cluster = hosted_stack("--latency-ms", "300", "--days", "30")
    cluster.migrate()
    webs, workers = cluster.start_many(
        webs=2,
        workers=4,
        web_env={"WHOOP_FRESH_SECONDS": "0"},
        worker_args=("--concurrency", "1", "--backfill-days", "7", "--job-timeout", "60"),
        worker_env=QUIET_CRON,
    )
    assert webs[0].url is not None and webs[1].url is not None
    signed = sign_in(webs[0].url)
    wait_for(lambda: record_count(cluster.database_url, USER) > 0, 30, "the first backfill's records")
    wait_queue_idle(cluster, QUEUE, 30)

    store = HostedTokenStore(cluster.database_url, TokenCipher(token_key))
    try:
        token = store.load(USER)
        assert token is not None and token.refresh_token
        store.save(USER, token.model_copy(update={"expires_at": time.time() - 1}))
    finally:
        store.engine.dispose()
    before = fake_stats(fake.url)

    pages: dict[str, httpx.Response | BaseException] = {}

    def dashboard(url: str) -> None:
        try:
            pages[url] = signed.get("/dashboard", url=url)
        except BaseException as exc:  # reported by the assertion below
            pages[url] = exc

    readers = [threading.Thread(target=dashboard, args=(web.url,)) for web in webs]
    job_ids = [f"race-{n}:{USER}" for n in range(4)]
    assert enqueue(cluster.redis_url, QUEUE, [("refresh", USER, job_id) for job_id in job_ids]) == [True] * 4
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join(timeout=60)
    wait_queue_idle(cluster, QUEUE, 60)

    after = fake_stats(fake.url)
    grants = after["token_grants"].get("refresh_token", 0) - before["token_grants"].get("refresh_token", 0)
    assert grants == 1, cluster.tails()
    assert after["invalid_grants"] == before["invalid_grants"] == 0, cluster.tails()
    for url, page in pages.items():
        assert isinstance(page, httpx.Response) and page.status_code == 200, (url, page)
    assert len(pages) == 2
    ran_on: set[str] = set()
    for job_id in job_ids:
        runs = job_runs(workers, job_id)
        assert sum(r.succeeded for r in runs) == 1, (job_id, runs, cluster.tails())
        assert sum(r.failed for r in runs) == 0, (job_id, runs)
        ran_on |= {r.worker for r in runs if r.succeeded}
    # One job per worker: four processes, not one process four times, asked for the token.
    assert len(ran_on) == 4, ran_on
