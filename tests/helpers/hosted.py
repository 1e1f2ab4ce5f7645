"""Hosted mode as real OS processes, for the multi-process tests (``tests/hosted/test_processes_*.py``).

- :class:`HostedCluster` starts, on one throwaway PostgreSQL database and one throwaway Redis, any number of
  web processes (``whoopkit serve --hosted``) and worker processes (``whoopkit worker``), all pointed at a
  fake WHOOP process (``tests/helpers/fake_server.py``). Each process gets an environment built from
  scratch (no ``WHOOP_*`` of the developer's, no ``.env``: its working directory is the test's own), and
  writes stdout and stderr to its own log file, which failure messages quote.
- Readiness is bounded: a web process is ready when ``GET /healthz`` answers 200, a worker when its log
  shows arq's start-up line; a process that exits while starting fails the test with its log.
- :meth:`HostedCluster.close` (the fixtures call it at teardown, whatever the test did) stops every process
  with SIGTERM, then SIGKILL for its whole process group, and reaps it. With ``setpriv`` the processes also
  get a parent-death signal, so a killed pytest leaves no orphan.
- :func:`sign_in` walks the real ``/login`` → fake ``/auth`` (auto-approve) → ``/callback`` redirects by
  hand. The session cookie is ``Secure`` and these servers speak plain HTTP on loopback, so cookies are
  carried by hand too (an HTTP client rightly refuses to send a Secure cookie over HTTP).
- Waiting is polling with a deadline (:func:`wait_for`); the pause between tries is a wait on a process or
  an event with a timeout, never a fixed sleep that hopes.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import IO, Any, TypeVar
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx

from tests.helpers.fake_server import FakeServer
from tests.helpers.servers import HOST, free_port
from whoopkit.config import PROJECT_ROOT

T = TypeVar("T")

#: ``whoopkit`` as ``python -m whoopkit`` of the interpreter running the tests, from the checkout.
WHOOPKIT = [sys.executable, "-m", "whoopkit"]
CLIENT_ID = "demo-client"
CLIENT_SECRET = "demo-secret"
SESSION_COOKIE = "whoopkit_sid"
START_TIMEOUT = 45.0
STOP_TIMEOUT = 10.0
POLL = 0.05
#: arq's first log line once a worker is about to poll the queue ("Starting worker for 3 functions: …").
WORKER_READY = re.compile(r"Starting worker for \d+ functions")


def wait_for(
    probe: Callable[[], T | None],
    timeout: float,
    what: str,
    *,
    alive: Callable[[], str | None] | None = None,
    interval: float = POLL,
) -> T:
    """Poll ``probe`` until it returns something other than None/False; fail naming ``what`` at the deadline.

    ``alive`` (optional) returns why waiting is pointless (a process died, with its log), checked each try.
    """
    deadline = time.monotonic() + timeout
    pause = threading.Event()  # never set: its wait is a bounded pause between tries
    while True:
        value = probe()
        if value is not None and value is not False:
            return value
        if alive is not None and (why := alive()):
            raise AssertionError(f"gave up waiting for {what}: {why}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout:.0f} s")
        pause.wait(interval)


def _guarded(argv: list[str]) -> list[str]:
    # The child dies with the test process even if pytest itself is killed outright.
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig=KILL", *argv] if setpriv else argv


@dataclass
class HostedProcess:
    """One web or worker process, its log file and how to stop it."""

    name: str
    argv: list[str]
    log_path: Path
    process: subprocess.Popen[bytes]
    url: str | None = None  # a web process's base URL
    metrics_url: str | None = None
    _log: IO[bytes] | None = field(default=None, repr=False)
    _ready: Callable[[], object] | None = field(default=None, repr=False)

    def wait_ready(self) -> None:
        """Wait (bounded) until the process is ready: /healthz for web, arq's start-up line for a worker."""
        if self._ready is not None:
            self._ready()

    @property
    def pid(self) -> int:
        """The process id."""
        return self.process.pid

    def log(self) -> str:
        """Everything the process wrote so far."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def tail(self, lines: int = 40) -> str:
        """The end of the log, for failure messages."""
        return "\n".join(self.log().splitlines()[-lines:])

    def died(self) -> str | None:
        """Why the process is not running (exit code and log), or None while it runs."""
        code = self.process.poll()
        if code is None:
            return None
        return f"{self.name} exited with code {code}:\n{self.tail()}"

    def wait_for_log(self, pattern: re.Pattern[str] | str, timeout: float = START_TIMEOUT) -> re.Match[str]:
        """The first match of ``pattern`` in the log, once it appears (the process must keep running)."""
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        return wait_for(
            lambda: regex.search(self.log()),
            timeout,
            f"{self.name} logging {regex.pattern!r}",
            alive=self.died,
        )

    def wait_http(self, url: str, timeout: float = START_TIMEOUT) -> httpx.Response:
        """``GET url`` once it answers 200."""

        def probe() -> httpx.Response | None:
            try:
                response = httpx.get(url, timeout=2)
            except httpx.TransportError:
                return None
            return response if response.status_code == 200 else None

        return wait_for(probe, timeout, f"{self.name} answering 200 at {url}", alive=self.died)

    def kill(self) -> None:
        """SIGKILL the process (a crash: no shutdown handler runs) and reap it."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=STOP_TIMEOUT)

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL the process group after ``STOP_TIMEOUT``; reaped; safe to call twice."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.kill()
        else:
            # Whatever it left in its group (uvicorn has no children here, but be sure).
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)
        if self._log is not None:
            self._log.close()
            self._log = None
        return self.process.returncode


@dataclass
class HostedCluster:
    """Web and worker processes on one database, one Redis and one fake WHOOP (see the module doc)."""

    database_url: str
    redis_url: str
    fake_url: str
    workdir: Path
    token_key: str
    processes: list[HostedProcess] = field(default_factory=list)
    _numbers: Iterator[int] = field(default_factory=lambda: iter(range(1, 10_000)))

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment of a hosted process: nothing of the developer's ``WHOOP_*``, the cluster's URLs."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("WHOOP_", "OLLAMA_"))}
        env.pop("HOST", None)
        env.pop("PORT", None)
        env.update(
            {
                "WHOOP_HOSTED": "1",
                "WHOOP_DATABASE_URL": self.database_url,
                "WHOOP_REDIS_URL": self.redis_url,
                "WHOOP_TOKEN_KEY": self.token_key,
                "WHOOP_CLIENT_ID": CLIENT_ID,
                "WHOOP_CLIENT_SECRET": CLIENT_SECRET,
                "WHOOP_API_BASE_URL": f"{self.fake_url}/developer",
                "WHOOP_OAUTH_BASE_URL": f"{self.fake_url}/oauth/oauth2",
                "WHOOP_DATA_DIR": str(self.workdir / "data"),
                "WHOOP_TOKEN_CACHE": str(self.workdir / "token_cache.json"),
                "WHOOP_DEMO": "0",
                "PYTHONUNBUFFERED": "1",
                "PYTHONPATH": str(PROJECT_ROOT),
                "TZ": "UTC",
            }
        )
        env.update(extra or {})
        return env

    def _spawn(self, name: str, args: list[str], extra_env: Mapping[str, str] | None) -> HostedProcess:
        log_path = self.workdir / f"{name}.log"
        log = log_path.open("ab")
        argv = [*WHOOPKIT, *args]
        process = subprocess.Popen(
            _guarded(argv),
            cwd=self.workdir,  # no .env of the repository is read
            env=self.env(extra_env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group: stop() and kill() reach only it
        )
        proc = HostedProcess(name=name, argv=argv, log_path=log_path, process=process, _log=log)
        self.processes.append(proc)
        return proc

    def migrate(self, timeout: float = 60.0) -> str:
        """Run ``whoopkit migrate`` once (before several processes start on the same database); its output.

        Raises:
            AssertionError: the command failed.
        """
        result = subprocess.run(
            [*WHOOPKIT, "migrate"],
            cwd=self.workdir,
            env=self.env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
        output = (result.stdout + result.stderr).decode("utf-8", "replace")
        assert result.returncode == 0, f"whoopkit migrate failed ({result.returncode}):\n{output}"
        return output

    def start_web(self, extra_env: Mapping[str, str] | None = None, *, wait: bool = True) -> HostedProcess:
        """``whoopkit serve --hosted`` on a free loopback port, redirect URI at itself; ready on /healthz."""
        name = f"web{next(self._numbers)}"
        port = free_port()
        url = f"http://{HOST}:{port}"
        env = {"WHOOP_REDIRECT_URI": f"{url}/callback", **(extra_env or {})}
        proc = self._spawn(name, ["serve", "--hosted", "--host", HOST, "--port", str(port)], env)
        proc.url = url
        proc._ready = lambda: proc.wait_http(f"{url}/healthz")
        if wait:
            proc.wait_ready()
        return proc

    def start_worker(
        self, *args: str, extra_env: Mapping[str, str] | None = None, wait: bool = True
    ) -> HostedProcess:
        """``whoopkit worker ARGS --metrics-port P``; ready once arq logs its start-up line."""
        name = f"worker{next(self._numbers)}"
        metrics_port = free_port()
        proc = self._spawn(name, ["worker", *args, "--metrics-port", str(metrics_port)], extra_env)
        proc.metrics_url = f"http://{HOST}:{metrics_port}/metrics"
        proc._ready = lambda: proc.wait_for_log(WORKER_READY)
        if wait:
            proc.wait_ready()
        return proc

    def start_many(
        self,
        webs: int = 0,
        workers: int = 0,
        *,
        web_env: Mapping[str, str] | None = None,
        worker_args: tuple[str, ...] = (),
        worker_env: Mapping[str, str] | None = None,
    ) -> tuple[list[HostedProcess], list[HostedProcess]]:
        """Start ``webs`` web and ``workers`` worker processes together, then wait until all are ready."""
        started_webs = [self.start_web(web_env, wait=False) for _ in range(webs)]
        started_workers = [
            self.start_worker(*worker_args, extra_env=worker_env, wait=False) for _ in range(workers)
        ]
        for proc in [*started_webs, *started_workers]:
            proc.wait_ready()
        return started_webs, started_workers

    def logs(self) -> str:
        """Every process's log, each under its name (for failure messages and secret checks)."""
        return "\n".join(f"===== {p.name}\n{p.log()}" for p in self.processes)

    def tails(self) -> str:
        """The end of every process's log."""
        return "\n".join(f"===== {p.name} (exit {p.process.poll()})\n{p.tail()}" for p in self.processes)

    def close(self) -> None:
        """Stop and reap every process, the last started first."""
        for proc in reversed(self.processes):
            proc.stop()


#: The ``hosted_stack`` fixture: ``start(*fake_args)`` → the fake WHOOP process and a cluster on it.
StartStack = Callable[..., tuple[FakeServer, HostedCluster]]


# ------------------------------------------------------------------------------------------- sign-in


@dataclass
class SignIn:
    """What a browser's sign-in left: the session cookie, and the authorization code it carried."""

    web_url: str
    session: str
    code: str
    final: httpx.Response

    @property
    def cookies(self) -> dict[str, str]:
        """The Cookie header's pairs for this session."""
        return {SESSION_COOKIE: self.session}

    def get(self, path: str, url: str | None = None, timeout: float = 30.0) -> httpx.Response:
        """``GET path`` as this signed-in user, on ``url`` (another web process) or the one signed in on."""
        return httpx.get(
            f"{url or self.web_url}{path}",
            headers={"Cookie": f"{SESSION_COOKIE}={self.session}"},
            timeout=timeout,
            follow_redirects=False,
        )


def take_cookies(response: httpx.Response, jar: dict[str, str]) -> None:
    """Keep ``response``'s cookies in ``jar`` by hand (Secure cookies over loopback HTTP: see the top)."""
    for header in response.headers.get_list("set-cookie"):
        parsed: SimpleCookie = SimpleCookie()
        parsed.load(header)
        for name, morsel in parsed.items():
            if morsel["max-age"] == "0" or not morsel.value:
                jar.pop(name, None)
            else:
                jar[name] = morsel.value


def sign_in(web_url: str, *, timeout: float = 30.0, max_hops: int = 8) -> SignIn:
    """Sign in through ``web_url``'s ``/login`` → the fake's ``/auth`` → ``/callback``, by hand.

    Raises:
        AssertionError: a hop answered something else than a redirect or the end page, or no session.
    """
    web_host = urlsplit(web_url).netloc
    jar: dict[str, str] = {}
    url = f"{web_url}/login"
    code = ""
    with httpx.Client(timeout=timeout, follow_redirects=False) as http:
        for _ in range(max_hops):
            ours = urlsplit(url).netloc == web_host
            headers: dict[str, str] = {}
            if ours and jar:
                headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in jar.items())
            response = http.get(url, headers=headers)
            if ours:
                take_cookies(response, jar)
            if urlsplit(url).path.endswith("/callback"):
                code = (parse_qs(urlsplit(url).query).get("code") or [""])[0]
            if response.status_code not in (301, 302, 303, 307, 308):
                break
            url = urljoin(url, response.headers["location"])
        else:
            raise AssertionError(f"sign-in did not end within {max_hops} redirects (at {url})")
    assert code, f"the sign-in never reached /callback with a code (ended at {url}: {response.status_code})"
    session = jar.get(SESSION_COOKIE)
    assert session, f"/callback set no {SESSION_COOKIE} cookie ({response.status_code} at {url})"
    return SignIn(web_url=web_url, session=session, code=code, final=response)


# --------------------------------------------------------------------------------------- queue and fake


def busiest_window(arrivals_ms: list[int], width_ms: int = 60_000) -> int:
    """The most requests that arrived within any ``width_ms`` (a sliding window, not clock-aligned)."""
    times = sorted(arrivals_ms)
    best, lo = 0, 0
    for hi, at in enumerate(times):
        while at - times[lo] >= width_ms:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def fake_stats(fake_url: str) -> dict[str, Any]:
    """The fake's counters (``GET /_fake/stats``)."""
    response = httpx.get(f"{fake_url}/_fake/stats", timeout=10)
    response.raise_for_status()
    stats: dict[str, Any] = response.json()
    return stats


def metric_total(text: str, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` whose labels include ``labels``, in Prometheus text format."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name) or line.startswith("#"):
            continue
        match = re.fullmatch(rf"{re.escape(name)}(?:\{{(.*)\}})?\s+(\S+)", line.strip())
        if match is None:
            continue
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(1) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(match.group(2))
    return total


def enqueue(redis_url: str, queue: str, jobs: list[tuple[str, int, str]]) -> list[bool]:
    """Enqueue ``(function, user_id, job_id)`` jobs on arq's ``queue`` at once; whether each was new."""
    import asyncio

    from arq import create_pool
    from arq.connections import RedisSettings

    async def run() -> list[bool]:
        pool = await create_pool(RedisSettings.from_dsn(redis_url), default_queue_name=queue)
        try:
            found = await asyncio.gather(
                *(pool.enqueue_job(function, user_id, _job_id=job_id) for function, user_id, job_id in jobs)
            )
        finally:
            await pool.aclose()
        return [job is not None for job in found]

    return asyncio.run(run())


def wait_queue_idle(cluster: HostedCluster, queue: str, timeout: float) -> None:
    """Wait until arq's queue is empty and nothing is in progress (every job done, retries included)."""
    import redis

    with redis.Redis.from_url(cluster.redis_url, socket_timeout=5) as client:

        def idle() -> bool:
            # A finished cron job keeps its in-progress key a while (arq's guard against running it twice).
            running = [
                k for k in client.keys("arq:in-progress:*") if not k.startswith(b"arq:in-progress:cron:")
            ]
            return int(client.zcard(queue)) == 0 and not running

        try:
            wait_for(idle, timeout, f"the queue {queue} to drain")
        except AssertionError as exc:
            queued = client.zrange(queue, 0, -1, withscores=True)
            running = client.keys("arq:in-progress:*")
            raise AssertionError(f"{exc} (queued {queued}, running {running})\n{cluster.tails()}") from None


@dataclass
class JobRun:
    """What one worker's log says about one job id: how often it started, succeeded, retried, failed."""

    worker: str
    started: int = 0
    succeeded: int = 0
    retried: int = 0
    failed: int = 0


def job_runs(workers: list[HostedProcess], job_id: str) -> list[JobRun]:
    """Per worker that touched ``job_id``, its starts and outcomes as arq logged them."""
    runs: list[JobRun] = []
    for worker in workers:
        run = JobRun(worker.name)
        for line in worker.log().splitlines():
            if f" {job_id}:" not in line:
                continue
            if "→" in line:
                run.started += 1
            elif "●" in line and "←" in line:
                run.succeeded += 1
            elif "↻" in line:
                run.retried += 1
            elif "!" in line or "failed" in line:
                run.failed += 1
        if run.started or run.succeeded or run.retried or run.failed:
            runs.append(run)
    return runs


# -------------------------------------------------------------------------------------------- the store

RECORD_TABLES = {"cycles": "id", "recoveries": "cycle_id", "sleeps": "id", "workouts": "id"}


def record_ids(database_url: str, user_id: int) -> dict[str, list[str]]:
    """Every stored record id of ``user_id``, by table (sorted; a duplicate would show twice)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return {
                table: sorted(
                    str(row[0])
                    for row in conn.execute(
                        text(f"SELECT {column} FROM {table} WHERE user_id = :u"),
                        {"u": user_id},
                    )
                )
                for table, column in RECORD_TABLES.items()
            }
    finally:
        engine.dispose()


def record_count(database_url: str, user_id: int | None = None) -> int:
    """How many records the store holds (of ``user_id``, or of everybody)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    where = "" if user_id is None else " WHERE user_id = :u"
    try:
        with engine.connect() as conn:
            return sum(
                int(conn.execute(text(f"SELECT count(*) FROM {table}{where}"), {"u": user_id}).scalar() or 0)
                for table in RECORD_TABLES
            )
    finally:
        engine.dispose()


def user_ids(database_url: str) -> list[int]:
    """The ``users`` table's ids, in sign-in order."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return [int(r[0]) for r in conn.execute(text("SELECT user_id FROM users ORDER BY created_ms"))]
    finally:
        engine.dispose()


def pg_dump(database_url: str, bin_dir: Path, timeout: float = 60.0) -> str:
    """The whole database as ``pg_dump`` writes it (schema and data, plain SQL).

    Raises:
        subprocess.CalledProcessError: pg_dump failed.
    """
    from sqlalchemy import make_url

    url = make_url(database_url)
    argv = [
        str(bin_dir / "pg_dump"), "-h", str(url.host), "-p", str(url.port), "-U", str(url.username),
        "--no-password", str(url.database),
    ]  # fmt: skip
    result = subprocess.run(argv, capture_output=True, timeout=timeout, check=True)
    return result.stdout.decode("utf-8", "replace")
