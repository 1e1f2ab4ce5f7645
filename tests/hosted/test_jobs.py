"""Hosted mode's sync jobs in process, on the real PostgreSQL and Redis and the in-process fake WHOOP."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from tests.conftest import FAKE_NOW
from tests.hosted.test_web import hosted_settings
from whoopkit.config import Settings
from whoopkit.fake_whoop import FakeWhoop, create_fake_whoop
from whoopkit.fake_whoop.data import USER_ID
from whoopkit.hosted.runtime import HostedRuntime

pytestmark = pytest.mark.anyio

DAYS = 30


@pytest.fixture
def multi_fake() -> FakeWhoop:
    """A fake WHOOP with two people."""
    return create_fake_whoop(auto_approve=True, now=FAKE_NOW, people=2, days=60)


@pytest.fixture
def settings_hosted(
    tmp_path: Path, postgres_url: str, redis_url: str, token_key: str, clean_env: None
) -> Settings:
    """Hosted settings on the test's database and Redis, a periodic refresh every hour."""
    return hosted_settings(tmp_path, postgres_url, redis_url, token_key).model_copy(
        update={"whoop_sync_interval": 3600.0}
    )


@pytest.fixture
async def runtime(settings_hosted: Settings, multi_fake: FakeWhoop) -> AsyncIterator[HostedRuntime]:
    """A hosted runtime on the fake."""
    opened = HostedRuntime.open(
        settings_hosted, transport=httpx.ASGITransport(app=multi_fake), clock=lambda: FAKE_NOW
    )
    try:
        yield opened
    finally:
        await opened.aclose()


def sign_up(runtime: HostedRuntime, fake: FakeWhoop, person: int = 0) -> int:
    """A user of the fake's ``person`` with a saved token and an account row (no browser)."""
    from whoopkit.hosted.accounts import Accounts
    from whoopkit.tokens import Token

    user_id = USER_ID + person
    runtime.tokens.save(user_id, Token.from_response(fake.issue_token(person=person), now=time.time()))
    Accounts(runtime)._upsert_user(user_id)
    return user_id


def stored(runtime: HostedRuntime, user_id: int) -> dict[str, int]:
    """Rows per collection of ``user_id``."""
    status = runtime.store.status(user_id)
    return {name: item.rows for name, item in status.collections.items()}


async def test_a_job_of_a_deleted_user_ends_at_once_without_asking_whoop(
    runtime: HostedRuntime, multi_fake: FakeWhoop
) -> None:
    from whoopkit.hosted.jobs import run_sync_job

    before = multi_fake.stats.requests
    assert await run_sync_job(runtime, "backfill", USER_ID + 7, days=DAYS) == "no_user"
    assert multi_fake.stats.requests == before


async def test_a_job_that_meets_a_whoop_outage_is_retried_and_the_retry_stores_each_record_once(
    runtime: HostedRuntime, multi_fake: FakeWhoop, tmp_path: Path
) -> None:
    from arq import Retry

    from whoopkit.hosted.jobs import run_sync_job

    user = sign_up(runtime, multi_fake)
    multi_fake.faults.fail_next(503, count=40)
    with pytest.raises(Retry):
        await run_sync_job(runtime, "backfill", user, days=DAYS)
    multi_fake.faults.clear()
    assert await run_sync_job(runtime, "backfill", user, days=DAYS, tries=2) == "done"
    once = stored(runtime, user)
    assert once["cycles"] >= DAYS - 1
    assert await run_sync_job(runtime, "refresh", user, days=DAYS) == "done"
    assert stored(runtime, user) == once  # a job that runs again adds nothing twice


async def test_a_user_whose_whoop_access_was_revoked_is_signed_out_not_retried(
    runtime: HostedRuntime, multi_fake: FakeWhoop
) -> None:
    from whoopkit.hosted.jobs import run_sync_job

    user = sign_up(runtime, multi_fake)
    token = runtime.tokens.load(user)
    assert token is not None
    await runtime.oauth.revoke(token.access_token)
    assert await run_sync_job(runtime, "refresh", user, days=DAYS) == "signed_out"


async def test_each_users_sync_touches_only_that_users_rows(
    runtime: HostedRuntime, multi_fake: FakeWhoop
) -> None:
    from whoopkit.hosted.jobs import run_sync_job

    first, second = sign_up(runtime, multi_fake, 0), sign_up(runtime, multi_fake, 1)
    await run_sync_job(runtime, "backfill", first, days=DAYS)
    assert stored(runtime, second) == {"cycles": 0, "recoveries": 0, "sleeps": 0, "workouts": 0}
    await run_sync_job(runtime, "backfill", second, days=DAYS)
    a = {
        c.id
        for c in runtime.service_for(first).stored_cycles(FAKE_NOW.date().replace(day=1), FAKE_NOW.date())
    }
    b = {
        c.id
        for c in runtime.service_for(second).stored_cycles(FAKE_NOW.date().replace(day=1), FAKE_NOW.date())
    }
    assert a and b and not a & b


async def test_the_periodic_refresh_queues_each_user_once_per_interval_and_not_while_a_sync_is_queued(
    runtime: HostedRuntime, multi_fake: FakeWhoop
) -> None:
    from whoopkit.hosted.jobs import QUEUE, enqueue, run_sync_job, schedule_refreshes

    first, second = sign_up(runtime, multi_fake, 0), sign_up(runtime, multi_fake, 1)
    assert await enqueue(runtime.redis, "backfill", second)
    assert not await enqueue(runtime.redis, "backfill", second)  # the same job id: dropped
    ctx = {"runtime": runtime}
    assert await schedule_refreshes(ctx) == 1  # the first user only: the second's backfill is queued
    assert await schedule_refreshes(ctx) == 0  # already queued, and due again only after the interval
    queued = {m.decode() for m in await runtime.redis.zrange(QUEUE, 0, -1)}
    assert queued == {f"refresh:{first}", f"backfill:{second}"}
    await runtime.redis.delete(QUEUE, f"arq:job:refresh:{first}", f"arq:job:backfill:{second}")
    await run_sync_job(runtime, "backfill", second, days=DAYS)
    assert await schedule_refreshes(ctx) == 0  # the second user just synced: not due for an interval


def test_worker_and_serve_without_hosted_settings_say_what_is_missing(
    tmp_path: Path, clean_env: None
) -> None:
    from tests.conftest import make_settings
    from whoopkit.cli import CliDeps, create_app

    settings = make_settings(tmp_path)
    app = create_app(CliDeps(settings=lambda: settings, env_file=tmp_path / ".env"))
    for args in (["worker"], ["serve", "--hosted", "--port", "1"]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 1, (args, result.output)
        assert "WHOOP_REDIS_URL" in result.output and "WHOOP_TOKEN_KEY" in result.output
        assert "Traceback" not in result.output


def test_migrate_brings_the_database_to_the_newest_schema_and_says_so(
    tmp_path: Path, postgres_url: str, clean_env: None
) -> None:
    from tests.conftest import make_settings
    from whoopkit.cli import CliDeps, create_app
    from whoopkit.store.schema import HEAD_REVISION

    settings = make_settings(tmp_path, WHOOP_DATABASE_URL=postgres_url)
    app = create_app(CliDeps(settings=lambda: settings, env_file=tmp_path / ".env"))
    for _ in range(2):  # again: nothing to do, same answer
        result = CliRunner().invoke(app, ["migrate"])
        assert result.exit_code == 0, result.output
        assert f"schema revision {HEAD_REVISION}" in result.output


def test_a_key_rotation_by_migrate_re_encrypts_every_login_and_the_old_key_can_then_go(
    tmp_path: Path, postgres_url: str, token_key: str, clean_env: None
) -> None:
    from tests.conftest import make_settings
    from whoopkit.cli import CliDeps, create_app
    from whoopkit.errors import TokenKeyError
    from whoopkit.hosted_tokens import HostedTokenStore
    from whoopkit.store import Store
    from whoopkit.token_crypto import TokenCipher, generate_key
    from whoopkit.tokens import Token

    store = Store.open(postgres_url)
    token = Token(
        access_token="a" * 32, refresh_token="r" * 32, expires_in=3600, expires_at=time.time() + 3600
    )
    try:
        HostedTokenStore(store.engine, TokenCipher(token_key)).save(USER_ID, token)
    finally:
        store.close()
    new_key = generate_key()
    settings = make_settings(
        tmp_path, WHOOP_DATABASE_URL=postgres_url, WHOOP_TOKEN_KEY=f"{new_key},{token_key}"
    )
    app = create_app(CliDeps(settings=lambda: settings, env_file=tmp_path / ".env"))
    result = CliRunner().invoke(app, ["migrate"])
    assert result.exit_code == 0, result.output
    assert "1 saved WHOOP logins re-encrypted" in result.output
    again = CliRunner().invoke(app, ["migrate"])
    assert "0 saved WHOOP logins re-encrypted" in again.output

    store = Store.open(postgres_url)
    try:
        assert HostedTokenStore(store.engine, TokenCipher(new_key)).load(USER_ID) == token  # new key alone
        with pytest.raises(TokenKeyError):
            HostedTokenStore(store.engine, TokenCipher(token_key)).load(USER_ID)
    finally:
        store.close()
