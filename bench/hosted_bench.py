"""Load benchmark of hosted mode: many users backfilling at once under one WHOOP budget (a script, no test).

    .venv/bin/python bench/hosted_bench.py [--users 200] [--days 90] [--workers 3] [--web 2]
        [--latency-ms 100] [--sign-in-rate 15] [--compare-workers 1,3] [--json]
    .venv/bin/python bench/hosted_bench.py --users 10 --days 14        # quick mode, under 3 minutes

1. Starts a throwaway PostgreSQL and Redis (``tests/helpers/servers.py``), the fake WHOOP as a process with
   ``--users`` simulated people, ``--days`` of history, injected latency and WHOOP's limits (100/min,
   10,000/day, no member cap), ``--web`` processes ``whoopkit serve --hosted`` and ``--workers`` processes
   ``whoopkit worker --backfill-days DAYS`` (``tests/helpers/hosted.py``'s cluster; the periodic refresh is
   pushed out to a day so that only the backfills run).
2. Signs every user in through the real HTTP flow, ``--sign-in-rate`` a minute, one client per user
   (``/login`` → the fake's authorize, which auto-approves and gives each authorization the next person
   → ``/callback``), spread over the web processes; each first sign-in enqueues that user's backfill job.
3. While the backfills run, ``--dashboard-clients`` clients fetch ``/dashboard`` of random signed-in users
   one after another (a pause of ``--dashboard-pause`` s between fetches) and record the latencies.
4. Waits (bounded by ``--timeout``) until the queue is drained, nothing is in progress, and every user has
   a successful sync of the four collections in the store (``sync_state``).
5. Reads the fake's request log (``GET /_fake/requests``: arrival time and status of every API request) and
   reports: upstream requests, the busiest 60 s window (sliding, must be <= 100), 429s, the total time
   against the ideal the budget allows (requests at 100/min, and at 80/min, the bulk share that leaves
   20 % in reserve for pages), failed syncs (must be 0) and ``/dashboard`` p50/p95.

With ``--compare-workers 1,3`` the whole run is repeated (fresh database, Redis and fake) for each worker
count and the ratio of the total times is printed. Exit status 0 when every run passes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import random
import re
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.helpers.fake_server import running_fake_whoop  # noqa: E402
from tests.helpers.hosted import (  # noqa: E402
    CLIENT_ID,
    CLIENT_SECRET,
    HostedCluster,
    HostedProcess,
    busiest_window,
    take_cookies,
)
from tests.helpers.servers import (  # noqa: E402
    PostgresServer,
    RedisServer,
    ServerError,
    running_postgres,
    running_redis,
)

QUEUE = "whoopkit:queue"
SESSION_COOKIE = "whoopkit_sid"
COLLECTIONS = 4  # cycles, recoveries, sleeps, workouts: one sync_state row each once synced
PER_MINUTE = 100
PER_DAY = 10_000
BULK_SHARE = 0.8
WINDOW_MS = 60_000
SIGN_IN_CONCURRENCY = 8


@dataclass
class RunResult:
    """The figures of one run (one worker count)."""

    users: int
    days: int
    workers: int
    web: int
    latency_ms: float
    signed_in: int = 0
    sign_in_failures: int = 0
    sign_in_s: float = 0.0
    total_s: float = 0.0
    upstream_requests: int = 0
    busiest_window: int = 0
    rate_limited: int = 0
    other_errors: int = 0
    ideal_s: float = 0.0
    ideal_bulk_s: float = 0.0
    synced_users: int = 0
    failed_syncs: int = 0
    sync_errors: list[str] = field(default_factory=list)
    dashboard_count: int = 0
    dashboard_errors: int = 0
    dashboard_p50_ms: float = 0.0
    dashboard_p95_ms: float = 0.0
    timed_out: bool = False
    jobs: dict[str, float] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """The issue's bar: within the budget, every sync done, no failure, no 429 (a handful at most)."""
        return (
            not self.timed_out
            and self.busiest_window <= PER_MINUTE
            and self.failed_syncs == 0
            and self.sign_in_failures == 0
            and self.rate_limited <= 5
        )


# ------------------------------------------------------------------------------------------- sign-in


async def sign_in(web_url: str, wait_s: float = 120.0) -> str:
    """Walk ``/login`` → the fake's authorize → ``/callback`` with a fresh client; the session id.

    Raises:
        RuntimeError: the flow ended without a session cookie.
    """
    web_host = urlsplit(web_url).netloc
    jar: dict[str, str] = {}
    url = f"{web_url}/login"
    async with httpx.AsyncClient(timeout=wait_s, follow_redirects=False) as http:
        for _ in range(8):
            ours = urlsplit(url).netloc == web_host
            headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in jar.items())} if ours and jar else {}
            response = await http.get(url, headers=headers)
            if ours:
                take_cookies(response, jar)
            if response.status_code not in (301, 302, 303, 307, 308):
                break
            url = urljoin(url, response.headers["location"])
    session = jar.get(SESSION_COOKIE)
    if not session:
        raise RuntimeError(f"no session after the sign-in (ended at {url}: {response.status_code})")
    return session


# ------------------------------------------------------------------------------------------ dashboard


@dataclass
class DashboardSamples:
    """Latencies of ``/dashboard`` fetches while the backfill runs."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)


async def sample_dashboards(
    webs: list[str],
    sessions: list[str],
    stop: asyncio.Event,
    samples: DashboardSamples,
    clients: int,
    pause: float,
    seed: int = 11,
) -> None:
    """Fetch ``/dashboard`` of random signed-in users from ``clients`` loops until ``stop`` is set."""
    rng = random.Random(seed)

    async def loop() -> None:
        async with httpx.AsyncClient(timeout=120, follow_redirects=False) as http:
            while not stop.is_set():
                web, session = rng.choice(webs), rng.choice(sessions)
                started = time.perf_counter()
                try:
                    response = await http.get(
                        f"{web}/dashboard", headers={"Cookie": f"{SESSION_COOKIE}={session}"}
                    )
                except httpx.HTTPError:
                    samples.errors += 1
                else:
                    samples.statuses[response.status_code] = samples.statuses.get(response.status_code, 0) + 1
                    if response.status_code == 200:
                        samples.latencies.append(time.perf_counter() - started)
                    else:
                        samples.errors += 1
                # The pause is the sampling rate (a benchmark, not a test): a modest load of pages.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), pause)

    await asyncio.gather(*(loop() for _ in range(clients)))


# ------------------------------------------------------------------------------------------- progress


def _sync_progress(database_url: str, redis_url: str) -> tuple[int, bool, list[str]]:
    """(users with all four collections synced, queue idle, the sync errors the store recorded)."""
    import redis
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            synced = conn.execute(
                text(
                    "SELECT count(*) FROM (SELECT user_id FROM sync_state WHERE last_success_ms IS NOT NULL "
                    "GROUP BY user_id HAVING count(*) >= :n) AS done"
                ),
                {"n": COLLECTIONS},
            ).scalar()
            errors = [
                f"user {row[0]} {row[1]}: {row[2]}"
                for row in conn.execute(
                    text(
                        "SELECT user_id, collection, last_error FROM sync_state WHERE last_error IS NOT NULL"
                    )
                )
            ]
    finally:
        engine.dispose()
    with redis.Redis.from_url(redis_url, socket_timeout=5) as client:
        # A finished cron job keeps its in-progress key a while (arq's guard against running it twice).
        running = [k for k in client.keys("arq:in-progress:*") if not k.startswith(b"arq:in-progress:cron:")]
        idle = int(client.zcard(QUEUE)) == 0 and not running
    return int(synced or 0), idle, errors


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values`` by nearest rank; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def _job_outcomes(workers: list[HostedProcess]) -> dict[str, float]:
    """``whoopkit_sync_jobs_total`` summed by kind/outcome over every worker's /metrics (empty if absent)."""
    totals: dict[str, float] = {}
    pattern = re.compile(r"^whoopkit_sync_jobs_total\{(.*)\}\s+(\S+)$")
    for worker in workers:
        if worker.metrics_url is None:
            continue
        try:
            text = httpx.get(worker.metrics_url, timeout=5).text
        except httpx.HTTPError:
            continue
        for line in text.splitlines():
            match = pattern.match(line.strip())
            if match:
                labels = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1)))
                key = f"{labels.get('kind', '?')}/{labels.get('outcome', '?')}"
                totals[key] = totals.get(key, 0.0) + float(match.group(2))
    return totals


# ------------------------------------------------------------------------------------------------ run


@contextlib.contextmanager
def _cluster(
    pg: PostgresServer, rd: RedisServer, fake_url: str, number: int
) -> Iterator[tuple[HostedCluster, str]]:
    from cryptography.fernet import Fernet

    name = f"bench_{number}"
    database_url = pg.create_database(name)
    rd.flush()
    with tempfile.TemporaryDirectory(prefix="whoopkit-bench-") as tmp:
        cluster = HostedCluster(
            database_url=database_url,
            redis_url=rd.url,
            fake_url=fake_url,
            workdir=Path(tmp),
            token_key=Fernet.generate_key().decode("ascii"),
        )
        try:
            yield cluster, database_url
        finally:
            cluster.close()
            pg.drop_database(name)


async def run_once(
    pg: PostgresServer, rd: RedisServer, args: argparse.Namespace, workers: int, number: int
) -> RunResult:
    """One complete run with ``workers`` worker processes on fresh servers; its figures."""
    result = RunResult(
        users=args.users, days=args.days, workers=workers, web=args.web, latency_ms=args.latency_ms
    )
    fake_args = (
        "--auto-approve", "--people", str(args.users), "--days", str(args.days),
        "--latency-ms", str(args.latency_ms), "--requests-per-minute", str(PER_MINUTE),
        "--requests-per-day", str(PER_DAY), "--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET,
    )  # fmt: skip
    with (
        running_fake_whoop(*fake_args) as fake,
        _cluster(pg, rd, fake.url, number) as (cluster, database_url),
    ):
        env = {"WHOOP_SYNC_INTERVAL": "86400"}  # only the backfills: no periodic refresh mid-run
        await asyncio.to_thread(cluster.migrate)
        webs, worker_procs = await asyncio.to_thread(
            cluster.start_many,
            args.web,
            workers,
            web_env=env,
            worker_args=("--backfill-days", str(args.days)),
            worker_env=env,
        )
        web_urls = [w.url for w in webs if w.url is not None]
        sessions: list[str] = []
        stop = asyncio.Event()
        samples = DashboardSamples()
        started = time.monotonic()
        gate = asyncio.Semaphore(SIGN_IN_CONCURRENCY)

        async def one(k: int) -> None:
            # People arrive over time (``--sign-in-rate`` a minute): a sign-in's profile request is a page's
            # request, with the 20 % of each minute that backfills leave free, so 200 at once would queue.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), k * 60.0 / args.sign_in_rate)
            async with gate:
                try:
                    sessions.append(await sign_in(web_urls[k % len(web_urls)]))
                except (RuntimeError, httpx.HTTPError) as exc:
                    result.sign_in_failures += 1
                    if result.sign_in_failures <= 3:
                        _note(f"sign-in {k} failed: {exc}")

        sampler: asyncio.Task[None] | None = None
        sign_ins = [asyncio.create_task(one(k)) for k in range(args.users)]
        # The dashboards are sampled from the first sign-in on: pages while the backfill runs.
        while not sessions and not all(t.done() for t in sign_ins):
            await asyncio.wait(sign_ins, timeout=0.2, return_when=asyncio.FIRST_COMPLETED)
        if sessions:
            sampler = asyncio.create_task(
                sample_dashboards(
                    web_urls, sessions, stop, samples, args.dashboard_clients, args.dashboard_pause
                )
            )
        await asyncio.gather(*sign_ins)
        result.signed_in = len(sessions)
        result.sign_in_s = time.monotonic() - started

        deadline = started + args.timeout
        while True:
            synced, idle, errors = await asyncio.to_thread(_sync_progress, database_url, rd.url)
            result.synced_users, result.sync_errors = synced, errors
            if idle and synced >= result.signed_in:
                break
            dead = [p.died() for p in [*webs, *worker_procs] if p.died()]
            if dead or time.monotonic() > deadline:
                result.timed_out = True
                _note(
                    "gave up waiting: " + ("; ".join(d for d in dead if d) or f"{args.timeout:.0f} s passed")
                )
                _note(cluster.tails())
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
        result.total_s = time.monotonic() - started
        stop.set()
        if sampler is not None:
            await sampler
        result.jobs = await asyncio.to_thread(_job_outcomes, worker_procs)
        log = (await asyncio.to_thread(lambda: httpx.get(f"{fake.url}/_fake/requests", timeout=30).json()))[
            "requests"
        ]

    arrivals = [int(row["at_ms"]) for row in log]
    result.upstream_requests = len(arrivals)
    result.busiest_window = busiest_window(arrivals)
    result.rate_limited = sum(1 for row in log if row["status"] == 429)
    result.other_errors = sum(1 for row in log if row["status"] >= 500)
    result.ideal_s = result.upstream_requests / PER_MINUTE * 60
    result.ideal_bulk_s = result.upstream_requests / (PER_MINUTE * BULK_SHARE) * 60
    # A failed sync is a signed-in user whose backfill never completed once the queue is idle (retries
    # that later succeeded are not failures; the job outcomes are reported as the workers counted them).
    result.failed_syncs = max(result.signed_in - result.synced_users, 0)
    result.dashboard_count = len(samples.latencies)
    result.dashboard_errors = samples.errors
    result.dashboard_p50_ms = percentile(samples.latencies, 0.5) * 1000
    result.dashboard_p95_ms = percentile(samples.latencies, 0.95) * 1000
    return result


_note_lock = threading.Lock()


def _note(message: str) -> None:
    with _note_lock:
        print(message, file=sys.stderr, flush=True)


def report(result: RunResult) -> None:
    """Print one run's figures in the house style of the benches."""
    r = result
    print(
        f"whoopkit hosted bench: {r.users} users x {r.days} days, {r.web} web + {r.workers} workers, "
        f"fake WHOOP with {r.latency_ms:.0f} ms latency, {PER_MINUTE}/min and {PER_DAY:,}/day"
    )
    print(f"  signed in:                {r.signed_in} of {r.users} in {r.sign_in_s:.1f} s")
    print(f"  users fully synced:       {r.synced_users} of {r.signed_in}")
    print(
        f"  upstream requests:        {r.upstream_requests} "
        f"({r.rate_limited} answered 429, {r.other_errors} 5xx)"
    )
    print(f"  busiest 60 s window:      {r.busiest_window} requests (limit {PER_MINUTE})")
    versus = r.total_s / r.ideal_s if r.ideal_s else 0.0
    versus_bulk = r.total_s / r.ideal_bulk_s if r.ideal_bulk_s else 0.0
    print(
        f"  total time:               {r.total_s:.1f} s vs ideal {r.ideal_s:.1f} s at {PER_MINUTE}/min "
        f"({versus:.2f}x) and {r.ideal_bulk_s:.1f} s at {PER_MINUTE * BULK_SHARE:.0f}/min, "
        f"the bulk share ({versus_bulk:.2f}x)"
    )
    print(
        f"  /dashboard during backfill: p50 {r.dashboard_p50_ms:.0f} ms, p95 {r.dashboard_p95_ms:.0f} ms "
        f"over {r.dashboard_count} fetches ({r.dashboard_errors} not 200)"
    )
    if r.jobs:
        print("  sync jobs (worker metrics): " + ", ".join(f"{k} {v:.0f}" for k, v in sorted(r.jobs.items())))
    print(f"  failed syncs:             {r.failed_syncs}")
    for line in r.sync_errors[:5]:
        print(f"    {line}")
    print(f"{'PASS' if r.busiest_window <= PER_MINUTE else 'FAIL'}  busiest 60 s window <= {PER_MINUTE}")
    print(
        f"{'PASS' if r.failed_syncs == 0 and not r.timed_out else 'FAIL'}  "
        "every backfill done, 0 failed syncs"
    )
    print(f"{'PASS' if r.rate_limited <= 5 else 'FAIL'}  no 429s (a handful at most)")


async def main(args: argparse.Namespace) -> int:
    counts = [args.workers] if not args.compare_workers else args.compare_workers
    results: list[RunResult] = []
    with running_postgres() as pg, running_redis() as rd:
        for number, workers in enumerate(counts, start=1):
            results.append(await run_once(pg, rd, args, workers, number))
            if not args.json:
                report(results[-1])
    ratio = None
    if len(results) >= 2 and results[-1].total_s:
        ratio = results[0].total_s / results[-1].total_s
    if args.json:
        payload: dict[str, Any] = {
            "runs": [{**asdict(r), "passed": r.passed} for r in results],
            "ratio": ratio,
        }
        print(json.dumps(payload, indent=2))
    elif ratio is not None:
        first, last = results[0], results[-1]
        print(
            f"workers {first.workers} vs {last.workers}: total time {first.total_s:.1f} s "
            f"vs {last.total_s:.1f} s: {first.workers} worker(s) take {ratio:.2f}x the time of {last.workers}"
        )
    return 0 if all(r.passed for r in results) else 1


def _worker_counts(value: str) -> list[int]:
    try:
        counts = [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a list of worker counts like 1,3") from None
    if len(counts) < 2 or min(counts) < 1:
        raise argparse.ArgumentTypeError("give at least two worker counts of 1 or more, like 1,3")
    return counts


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--web", type=int, default=2)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--compare-workers", type=_worker_counts, default=None, metavar="N,M")
    parser.add_argument(
        "--sign-in-rate", type=float, default=15.0, metavar="N", help="sign-ins a minute (people arriving)"
    )
    parser.add_argument("--dashboard-clients", type=int, default=2)
    parser.add_argument("--dashboard-pause", type=float, default=2.0, metavar="S")
    parser.add_argument("--timeout", type=float, default=7200.0, metavar="S", help="per run")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parsed = parser.parse_args()
    if min(parsed.users, parsed.days, parsed.workers, parsed.web) < 1:
        parser.error("--users, --days, --workers and --web must be at least 1")
    try:
        raise SystemExit(asyncio.run(main(parsed)))
    except (AssertionError, ServerError) as exc:
        # A process that would not start (or a missing command): its log, not a traceback.
        raise SystemExit(f"hosted bench: could not run: {exc}") from None
