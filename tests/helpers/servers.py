"""Throwaway PostgreSQL and Redis servers for the tests: real servers from the machine's own binaries
(Debian's ``postgresql`` and ``redis-server``, installed by ``scripts/test``), never the system services.

- Each server runs in its own temporary directory under the system temp dir, on loopback only
  (``127.0.0.1``) on a free port; PostgreSQL's Unix socket is in that directory too.
- PostgreSQL refuses to run as root, so as root it runs as the unprivileged ``postgres`` user that
  Debian's package creates (else ``nobody``); its data directory is owned by that user. Auth is
  ``trust`` for the superuser ``whoopkit`` (loopback only, for a throwaway cluster).
- Readiness is a bounded poll: a real connection (PostgreSQL) or ``PING`` (Redis) until it answers,
  failing with the server's log once the timeout passes or the server exits.
- ``stop()`` (also run at interpreter exit) shuts the server down and removes its directory. With
  ``setpriv`` (util-linux) the servers also get a parent-death signal, so a killed test run leaves
  no orphan.

Use :func:`running_postgres` / :func:`running_redis` (context managers) from session fixtures, and
:meth:`PostgresServer.fresh_database` for a database per test. :func:`missing_postgres` /
:func:`missing_redis` say why a server cannot run here (None when it can), for ``pytest.skip``.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import itertools
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

HOST = "127.0.0.1"
PG_SUPERUSER = "whoopkit"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
_POLL = 0.05  # how long each readiness attempt waits on the server process before trying again
_database_numbers = itertools.count(1)


class ServerError(RuntimeError):
    """A server that should have started did not (the message carries the end of its log)."""


# ------------------------------------------------------------------------------------------- finding


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", path.parent.parent.name)) or (0,)


def postgres_bin_dir() -> Path | None:
    """The directory holding ``initdb`` and ``postgres``: ``$WHOOP_TEST_PG_BIN``, then ``PATH``, then the
    newest ``/usr/lib/postgresql/<version>/bin`` (where Debian puts them, off ``PATH``)."""
    candidates: list[Path] = []
    if env := os.environ.get("WHOOP_TEST_PG_BIN"):
        candidates.append(Path(env))
    if found := shutil.which("initdb"):
        candidates.append(Path(found).resolve().parent)
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=_version_key, reverse=True)
    for candidate in candidates:
        folder = candidate.parent if candidate.name == "initdb" else candidate
        if all(os.access(folder / name, os.X_OK) for name in ("initdb", "postgres")):
            return folder
    return None


def redis_server_bin() -> Path | None:
    """``redis-server`` on ``PATH`` (Debian: ``/usr/bin``), or ``$WHOOP_TEST_REDIS_SERVER``."""
    found = os.environ.get("WHOOP_TEST_REDIS_SERVER") or shutil.which("redis-server")
    return Path(found) if found and os.access(found, os.X_OK) else None


def _unprivileged_user() -> pwd.struct_passwd | None:
    """The account PostgreSQL runs as when we are root; None when we are not root (run as ourselves)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise ServerError("running as root, and no 'postgres' or 'nobody' user exists to run PostgreSQL as")


def missing_postgres() -> str | None:
    """Why a throwaway PostgreSQL cannot run here, or None."""
    if postgres_bin_dir() is None:
        return (
            "PostgreSQL's initdb/postgres are not installed (Debian: apt-get install postgresql; "
            "scripts/test installs it)"
        )
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "the psycopg driver is not installed (pip install -r requirements-dev.txt)"
    return None


def missing_redis() -> str | None:
    """Why a throwaway Redis cannot run here, or None."""
    if redis_server_bin() is None:
        return "redis-server is not installed (Debian: apt-get install redis-server; scripts/test does)"
    try:
        import redis  # noqa: F401
    except ImportError:
        return "the redis client is not installed (pip install -r requirements-dev.txt)"
    return None


# ------------------------------------------------------------------------------------------- running


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def _guarded(argv: list[str], death_signal: str) -> list[str]:
    # setpriv sets the parent-death signal and then execs the server: the server is our direct child,
    # and dies with us even if this process is killed outright.
    setpriv = shutil.which("setpriv")
    return [setpriv, f"--pdeathsig={death_signal}", *argv] if setpriv else argv


@dataclass
class _Process:
    """One server process, its private directory and its log."""

    name: str
    directory: Path
    log_path: Path
    stop_signal: int
    process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = field(default=None, repr=False)

    def start(self, argv: list[str], user: pwd.struct_passwd | None) -> None:
        if self._log is None:
            self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            argv,
            cwd=self.directory,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=_server_env(user),
            user=user.pw_uid if user else None,
            group=user.pw_gid if user else None,
            extra_groups=[] if user else None,
            start_new_session=True,  # a Ctrl-C in the terminal reaches pytest, which then stops us
        )

    def log_tail(self, lines: int = 25) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def wait_until(self, ready: Callable[[], bool], timeout: float) -> None:
        """Poll ``ready`` until it is true; raise with the log if the server exits or time runs out."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                code = self.process.returncode
                raise ServerError(f"{self.name} exited with code {code} while starting:\n{self.log_tail()}")
            if ready():
                return
            if time.monotonic() > deadline:
                raise ServerError(f"{self.name} was not ready within {timeout:.0f} s:\n{self.log_tail()}")
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=_POLL)

    def stop(self) -> None:
        """Stop the server (politely, then by force) and remove its directory; safe to call twice."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(self.stop_signal)
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=STOP_TIMEOUT)
        if self._log is not None:
            self._log.close()
            self._log = None
        shutil.rmtree(self.directory, ignore_errors=True)


def _server_env(user: pwd.struct_passwd | None) -> dict[str, str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "LANG": "C", "TZ": "UTC"}
    env["HOME"] = user.pw_dir if user else os.environ.get("HOME", "/")
    return env


def _private_dir(prefix: str, user: pwd.struct_passwd | None) -> Path:
    # The system temp dir, not pytest's tmp_path: pytest's is private to root, and the postgres user
    # must be able to reach its data directory.
    directory = Path(tempfile.mkdtemp(prefix=prefix))
    if user is not None:
        os.chown(directory, user.pw_uid, user.pw_gid)
    directory.chmod(0o700)
    return directory


# ------------------------------------------------------------------------------------------ PostgreSQL


@dataclass
class PostgresServer:
    """A running throwaway PostgreSQL cluster."""

    port: int
    directory: Path
    _proc: _Process

    @property
    def url(self) -> str:
        """The SQLAlchemy URL of the ``postgres`` maintenance database."""
        return self.url_for("postgres")

    def url_for(self, database: str) -> str:
        """The SQLAlchemy URL (psycopg 3 driver) of ``database`` on this server."""
        return f"postgresql+psycopg://{PG_SUPERUSER}@{HOST}:{self.port}/{database}"

    def _admin(self, statement: str, name: str) -> None:
        """Run ``statement`` with ``{}`` replaced by the quoted identifier ``name``, outside a transaction."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(
            host=HOST,
            port=self.port,
            user=PG_SUPERUSER,
            dbname="postgres",
            autocommit=True,
            connect_timeout=5,
        ) as conn:
            conn.execute(sql.SQL(statement).format(sql.Identifier(name)))

    def create_database(self, name: str) -> str:
        """Create an empty UTF-8 database ``name``; returns its URL."""
        self._admin("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'", name)
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        """Drop ``name``, closing whatever connections a test left open."""
        self._admin("DROP DATABASE IF EXISTS {} WITH (FORCE)", name)

    @contextlib.contextmanager
    def fresh_database(self) -> Iterator[str]:
        """An empty database for one test (its URL), dropped afterwards."""
        name = f"test_{os.getpid()}_{next(_database_numbers)}"
        url = self.create_database(name)
        try:
            yield url
        finally:
            self.drop_database(name)

    def stop(self) -> None:
        """Shut the cluster down and delete its files."""
        self._proc.stop()


def _pg_ready(port: int) -> bool:
    import psycopg

    try:
        with psycopg.connect(host=HOST, port=port, user=PG_SUPERUSER, dbname="postgres", connect_timeout=2):
            return True
    except psycopg.OperationalError:
        return False  # refused (not listening yet) or "the database system is starting up"


def start_postgres(timeout: float = START_TIMEOUT) -> PostgresServer:
    """initdb a new cluster in a temp dir and start it on a free loopback port (see the module doc)."""
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        raise ServerError(missing_postgres() or "PostgreSQL is not installed")
    user = _unprivileged_user()
    directory = _private_dir("whoopkit-pg-", user)
    data = directory / "data"
    # SIGINT is PostgreSQL's "fast" shutdown: clients are disconnected, nothing is waited for.
    proc = _Process("PostgreSQL", directory, directory / "postgres.log", signal.SIGINT)
    initdb = [
        str(bin_dir / "initdb"), "-D", str(data), "-U", PG_SUPERUSER, "--auth=trust", "-E", "UTF8",
        "--locale=C", "--no-sync",
    ]  # fmt: skip
    try:
        init = subprocess.run(
            initdb,
            cwd=directory,
            env=_server_env(user),
            user=user.pw_uid if user else None,
            group=user.pw_gid if user else None,
            extra_groups=[] if user else None,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
        if init.returncode != 0:
            output = (init.stdout + init.stderr).decode("utf-8", "replace")
            raise ServerError(f"initdb failed ({init.returncode}):\n{output[-2000:]}")
        for attempt in range(3):  # another process may take the free port before the server binds it
            port = free_port()
            argv = [
                str(bin_dir / "postgres"), "-D", str(data), "-p", str(port), "-k", str(directory),
                "-c", f"listen_addresses={HOST}", "-c", "fsync=off", "-c", "synchronous_commit=off",
                "-c", "full_page_writes=off", "-c", "max_connections=100",
            ]  # fmt: skip
            proc.start(_guarded(argv, "INT"), user)
            try:
                proc.wait_until(functools.partial(_pg_ready, port), timeout)
            except ServerError:
                if attempt < 2 and "already in use" in proc.log_tail():
                    proc.process = None
                    continue
                raise
            server = PostgresServer(port=port, directory=directory, _proc=proc)
            atexit.register(server.stop)
            return server
        raise ServerError("PostgreSQL could not bind a free port")  # pragma: no cover
    except BaseException:
        proc.stop()
        raise


@contextlib.contextmanager
def running_postgres(timeout: float = START_TIMEOUT) -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL for the ``with`` block; stopped (and its files removed) afterwards."""
    server = start_postgres(timeout)
    try:
        yield server
    finally:
        server.stop()


# ----------------------------------------------------------------------------------------------- Redis


@dataclass
class RedisServer:
    """A running throwaway Redis (no persistence)."""

    port: int
    directory: Path
    _proc: _Process

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``."""
        return f"redis://{HOST}:{self.port}/0"

    def flush(self) -> None:
        """Empty every database (between tests)."""
        import redis

        with redis.Redis(host=HOST, port=self.port, socket_timeout=5) as client:
            client.flushall()

    def stop(self) -> None:
        """Shut Redis down and delete its directory."""
        self._proc.stop()


def _redis_ready(port: int) -> bool:
    import redis

    try:
        with redis.Redis(host=HOST, port=port, socket_connect_timeout=1, socket_timeout=1) as client:
            return bool(client.ping())
    except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError):
        return False


def start_redis(timeout: float = START_TIMEOUT) -> RedisServer:
    """Start ``redis-server`` on a free loopback port with no persistence, in a temp dir."""
    binary = redis_server_bin()
    if binary is None:
        raise ServerError(missing_redis() or "redis-server is not installed")
    directory = _private_dir("whoopkit-redis-", None)
    proc = _Process("Redis", directory, directory / "redis.log", signal.SIGTERM)
    try:
        for attempt in range(3):
            port = free_port()
            argv = [
                str(binary), "--port", str(port), "--bind", HOST, "--dir", str(directory), "--save", "",
                "--appendonly", "no", "--daemonize", "no", "--protected-mode", "yes",
            ]  # fmt: skip
            proc.start(_guarded(argv, "TERM"), None)
            try:
                proc.wait_until(functools.partial(_redis_ready, port), timeout)
            except ServerError:
                if attempt < 2 and "already in use" in proc.log_tail():
                    proc.process = None
                    continue
                raise
            server = RedisServer(port=port, directory=directory, _proc=proc)
            atexit.register(server.stop)
            return server
        raise ServerError("Redis could not bind a free port")  # pragma: no cover
    except BaseException:
        proc.stop()
        raise


@contextlib.contextmanager
def running_redis(timeout: float = START_TIMEOUT) -> Iterator[RedisServer]:
    """A throwaway Redis for the ``with`` block; stopped (and its directory removed) afterwards."""
    server = start_redis(timeout)
    try:
        yield server
    finally:
        server.stop()
