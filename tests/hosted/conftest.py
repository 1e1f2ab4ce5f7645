"""Fixtures of the hosted-mode tests.

- ``token_key``: a new Fernet key (``WHOOP_TOKEN_KEY``) for one test.
- ``hosted_stack``: a function ``start(*fake_args) -> (FakeServer, HostedCluster)``: the fake WHOOP as its
  own process (``--auto-approve`` plus ``fake_args``), and a :class:`~tests.helpers.hosted.HostedCluster`
  on the test's fresh PostgreSQL database (``postgres_url``) and emptied Redis (``redis_url``). At teardown,
  passed or failed, every web and worker process is stopped and reaped, then the fake.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.helpers.fake_server import FakeServer, running_fake_whoop
from tests.helpers.hosted import HostedCluster, StartStack


@pytest.fixture
def token_key() -> str:
    """A fresh ``WHOOP_TOKEN_KEY`` (one Fernet key)."""
    from whoopkit.token_crypto import generate_key

    return generate_key()


@pytest.fixture
def hosted_stack(postgres_url: str, redis_url: str, tmp_path: Path, token_key: str) -> Iterator[StartStack]:
    """Start the fake WHOOP and a hosted cluster on it; everything is stopped at teardown."""
    with ExitStack() as stack:

        def start(*fake_args: str) -> tuple[FakeServer, HostedCluster]:
            fake = stack.enter_context(running_fake_whoop("--auto-approve", *fake_args))
            workdir = tmp_path / "hosted"
            workdir.mkdir(exist_ok=True)
            cluster = HostedCluster(
                database_url=postgres_url,
                redis_url=redis_url,
                fake_url=fake.url,
                workdir=workdir,
                token_key=token_key,
            )
            stack.callback(cluster.close)  # runs before the fake stops (LIFO)
            return fake, cluster

        yield start
