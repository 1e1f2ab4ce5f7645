"""Tokens at rest are encrypted: after a real sign-in and a backfill by real processes, a ``pg_dump`` of the
whole database holds neither the access token, nor the refresh token, nor the authorization code, and
no process logged any of them (nor the session id).

The tokens are the ones the sign-in stored (decrypted here with the test's key, which the dump does not
hold); the code is the one the fake put in the ``/callback`` URL. Text is looked for as itself and, since a
``bytea`` column dumps as hex, as its hex too.
"""

from __future__ import annotations

import pytest

from tests.helpers.hosted import StartStack, pg_dump, record_count, sign_in, wait_for, wait_queue_idle
from tests.helpers.servers import postgres_bin_dir

pytestmark = pytest.mark.slow

USER = 10_129  # the fake's person 0


def test_a_pg_dump_after_a_sign_in_and_a_backfill_holds_no_token_and_no_code(
    hosted_stack: StartStack, token_key: str
) -> None:
    from whoopkit.hosted.jobs import QUEUE
    from whoopkit.hosted_tokens import HostedTokenStore
    from whoopkit.token_crypto import TokenCipher

    bin_dir = postgres_bin_dir()
    if bin_dir is None or not (bin_dir / "pg_dump").exists():
        pytest.skip("pg_dump is not installed next to initdb")
    _fake, cluster = hosted_stack("--days", "30")
    cluster.migrate()
    webs, _workers = cluster.start_many(
        webs=1, workers=1, worker_args=("--backfill-days", "14"), worker_env={"WHOOP_SYNC_INTERVAL": "86400"}
    )
    assert webs[0].url is not None
    signed = sign_in(webs[0].url)
    wait_for(lambda: record_count(cluster.database_url, USER) > 0, 30, "the backfill's records")
    wait_queue_idle(cluster, QUEUE, 30)
    assert signed.get("/dashboard").status_code == 200

    store = HostedTokenStore(cluster.database_url, TokenCipher(token_key))
    try:
        token = store.load(USER)
    finally:
        store.engine.dispose()
    assert token is not None and token.refresh_token

    dump = pg_dump(cluster.database_url, bin_dir)
    assert "COPY public.user_tokens" in dump and "COPY public.cycles" in dump  # the data is in the dump
    secrets = {
        "access token": token.access_token,
        "refresh token": token.refresh_token,
        "authorization code": signed.code,
    }
    for what, secret in secrets.items():
        assert len(secret) >= 16, what
        assert secret not in dump, f"the {what} is in the pg_dump"
        # A bytea column is dumped as hex: a plaintext blob would show only in that form.
        assert secret.encode("utf-8").hex() not in dump, f"the {what} is in the pg_dump (as bytea hex)"
    logs = cluster.logs()
    for what, secret in {**secrets, "session id": signed.session}.items():
        assert secret not in logs, f"a process logged the {what}"
