"""A separate OS process that asks a HostedTokenStore for one user's token at a signalled moment.

Usage: python tests/helpers/hosted_refresh_worker.py DATABASE_URL OAUTH_BASE_URL USER_ID ROLE, with
``WHOOP_TOKEN_KEY`` in the environment (a key never goes in argv, where ``ps`` shows it).

It builds the whole stack (httpx client, OAuth client, store with a warm database connection) first,
prints ``ready`` and blocks on stdin; when the test writes a line to every process at once they all call
``fresh_token()`` together. ``ROLE`` (``web`` or ``worker``) only labels the output. It prints one JSON
line: ``{"ok": true, "sha256": <hash of the access token>, "refreshed": n}`` or
``{"ok": false, "error": <class>, "code": <OAuth code>, "message": ...}``; never a token.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import httpx
from sqlalchemy import text

from whoopkit.config import load_settings
from whoopkit.errors import WhoopkitError
from whoopkit.hosted_tokens import HostedTokenStore, oauth_refresh
from whoopkit.oauth import OAuthClient
from whoopkit.token_crypto import TokenCipher


async def main(database_url: str, oauth_base: str, user_id: str, role: str) -> dict[str, object]:
    """Build the stack, wait for the signal, fetch the token once; the JSON-ready outcome."""
    settings = load_settings(
        _env_file=None,
        WHOOP_CLIENT_ID="demo-client",
        WHOOP_CLIENT_SECRET="demo-secret",
        WHOOP_OAUTH_BASE_URL=oauth_base,
    )
    store = HostedTokenStore(database_url, TokenCipher(os.environ["WHOOP_TOKEN_KEY"]))
    with store.engine.connect() as conn:  # warm the pool, like a long-running process would have
        conn.execute(text("SELECT 1"))
    async with httpx.AsyncClient(timeout=10) as http:
        refresh = oauth_refresh(OAuthClient(http, settings))
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        try:
            token = await store.fresh_token(int(user_id), refresh)
        except WhoopkitError as exc:
            code = getattr(exc, "code", "")
            return {"ok": False, "role": role, "error": type(exc).__name__, "code": code, "message": str(exc)}
        finally:
            store.engine.dispose()
    return {
        "ok": True,
        "role": role,
        "sha256": hashlib.sha256(token.access_token.encode("utf-8")).hexdigest(),
        "refreshed": store.refreshes,
    }


if __name__ == "__main__":
    result = asyncio.run(main(*sys.argv[1:5]))
    print(json.dumps(result), flush=True)
