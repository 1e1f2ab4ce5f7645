"""A separate OS process that asks a TokenManager for an access token at a signalled moment.

Usage: python tests/helpers/refresh_worker.py TOKEN_CACHE OAUTH_BASE_URL API_BASE_URL

It builds the whole stack first, prints ``ready`` and then blocks on stdin; when the test writes a
line to every worker at once, they all call ``access_token()`` together. It prints one JSON line:
``{"ok": true, "sha256": <hash of the token>}`` or ``{"ok": false, "error": <class>, "message": ...}``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import httpx

from whoopkit.config import load_settings
from whoopkit.errors import WhoopkitError
from whoopkit.oauth import OAuthClient
from whoopkit.tokens import TokenManager, TokenStore


async def main(token_cache: str, oauth_base: str, api_base: str) -> dict[str, object]:
    settings = load_settings(
        _env_file=None,
        WHOOP_CLIENT_ID="demo-client",
        WHOOP_CLIENT_SECRET="demo-secret",
        WHOOP_OAUTH_BASE_URL=oauth_base,
        WHOOP_API_BASE_URL=api_base,
        WHOOP_TOKEN_CACHE=token_cache,
    )
    async with httpx.AsyncClient(timeout=10) as http:
        manager = TokenManager(TokenStore(settings.whoop_token_cache), OAuthClient(http, settings))
        manager.current()  # warm up: read the file once, like a long-running server would have
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        try:
            token = await manager.access_token()
        except WhoopkitError as exc:
            return {"ok": False, "error": type(exc).__name__, "message": str(exc)}
        return {
            "ok": True,
            "sha256": hashlib.sha256(token.encode("utf-8")).hexdigest(),
            "refreshed": manager.refreshes,
        }


if __name__ == "__main__":
    result = asyncio.run(main(*sys.argv[1:4]))
    print(json.dumps(result), flush=True)
