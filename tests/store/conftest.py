"""Real PostgreSQL and Redis servers for the store tests (see ``tests/helpers/servers.py``).

- ``postgres_server`` / ``redis_server`` (session): one throwaway server each, on loopback in a temp
  dir, started on first use and stopped at the end of the session (also when tests fail).
- ``postgres_url``: a fresh, empty database for one test (``postgresql+psycopg://…``), dropped after.
- ``redis_url``: ``redis://127.0.0.1:<port>/0``, emptied before the test.

Without the server binaries (or the Python drivers) these fixtures skip with the reason;
``scripts/test`` installs them, so on CI they run.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers.servers import (
    PostgresServer,
    RedisServer,
    missing_postgres,
    missing_redis,
    running_postgres,
    running_redis,
)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL cluster for the whole session."""
    if reason := missing_postgres():
        pytest.skip(reason)
    with running_postgres() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """The URL of a new empty PostgreSQL database, dropped after the test."""
    with postgres_server.fresh_database() as url:
        yield url


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A throwaway Redis (no persistence) for the whole session."""
    if reason := missing_redis():
        pytest.skip(reason)
    with running_redis() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The URL of the session's Redis, emptied for this test."""
    redis_server.flush()
    return redis_server.url
