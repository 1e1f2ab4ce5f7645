"""Sync in real OS processes against the fake WHOOP on loopback: kill -9 mid-sync, two syncs at once."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers.fake_server import FakeServer, running_fake_whoop
from whoopkit.config import PROJECT_ROOT
from whoopkit.tokens import Token, TokenStore

pytestmark = pytest.mark.slow

WORKER = PROJECT_ROOT / "tests" / "helpers" / "sync_worker.py"
TABLES = ("cycles", "recoveries", "sleeps", "workouts")
WAIT = 60.0


@pytest.fixture(scope="module")
def server() -> Iterator[FakeServer]:
    # Latency keeps a sync in flight long enough to be killed; a high limit keeps the fake's 429s out.
    with running_fake_whoop("--days", "365", "--latency-ms", "40", "--requests-per-minute", "100000") as fake:
        yield fake


def login(server: FakeServer, token_cache: Path) -> None:
    response = httpx.post(f"{server.url}/_fake/token", json={}, timeout=10)
    response.raise_for_status()
    TokenStore(token_cache).save(Token.from_response(response.json(), now=time.time()))


def start_sync(server: FakeServer, home: Path, days: int = 365) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), str(home / "data"), str(home / "token.json"), server.url, str(days)],
        cwd=PROJECT_ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
    )


def finish(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = proc.communicate(timeout=WAIT * 2)
    assert proc.returncode == 0, err
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    assert result["ok"], result
    return result


def rows(home: Path) -> dict[str, list[tuple[str, str]]]:
    with sqlite3.connect(home / "data" / "whoop.db") as conn:
        out: dict[str, list[tuple[str, str]]] = {}
        for table in TABLES:
            key = "cycle_id" if table == "recoveries" else "id"
            out[table] = sorted((str(k), raw) for k, raw in conn.execute(f"SELECT {key}, raw FROM {table}"))
        return out


def count_rows(home: Path) -> int:
    try:
        with sqlite3.connect(f"file:{home / 'data' / 'whoop.db'}?mode=ro", uri=True, timeout=5) as conn:
            return sum(conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in TABLES)
    except sqlite3.Error:
        return 0


def wait_for(condition: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail("timed out waiting")
        time.sleep(0.05)


def home_for(server: FakeServer, tmp_path: Path, name: str) -> Path:
    home = tmp_path / name
    (home / "data").mkdir(parents=True)
    login(server, home / "token.json")
    return home


def test_a_sync_killed_mid_way_resumes_to_exactly_the_rows_of_one_clean_sync(
    server: FakeServer, tmp_path: Path
) -> None:
    # 200 days: the killed run and its resume together stay inside 100 requests a minute.
    clean = home_for(server, tmp_path, "clean")
    finish(start_sync(server, clean, days=200))

    cut = home_for(server, tmp_path, "cut")
    proc = start_sync(server, cut, days=200)
    wait_for(lambda: count_rows(cut) > 150, WAIT)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=WAIT)
    partial = count_rows(cut)
    assert 0 < partial < sum(len(v) for v in rows(clean).values())

    resumed = finish(start_sync(server, cut, days=200))
    assert rows(cut) == rows(clean)
    assert resumed["new"] == sum(len(v) for v in rows(clean).values()) - partial


def test_two_processes_syncing_at_once_store_each_record_once_and_share_the_work(
    server: FakeServer, tmp_path: Path
) -> None:
    alone = home_for(server, tmp_path, "alone")
    single = finish(start_sync(server, alone))

    shared = home_for(server, tmp_path, "shared")
    first, second = start_sync(server, shared), start_sync(server, shared)
    a, b = finish(first), finish(second)
    assert rows(shared) == rows(alone)
    assert a["new"] + b["new"] == single["new"]
    # The later process waits for the lock, then finds only the head to re-list.
    assert a["requests"] + b["requests"] <= single["requests"] + 2 * len(TABLES)
