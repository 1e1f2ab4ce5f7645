"""A separate OS process that runs one full sync against a fake WHOOP server, for crash and race tests.

Usage: python tests/helpers/sync_worker.py DATA_DIR TOKEN_CACHE FAKE_URL DAYS

Prints ``started`` once the service is built, then one JSON line with the sync report
(``{"ok": true, "requests": N, "new": N, ...}``) or ``{"ok": false, "error": <class>}``.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from whoopkit.config import load_settings
from whoopkit.errors import WhoopkitError
from whoopkit.service import build_service


async def main(data_dir: str, token_cache: str, url: str, days: int) -> dict[str, object]:
    settings = load_settings(
        _env_file=None,
        WHOOP_CLIENT_ID="demo-client",
        WHOOP_CLIENT_SECRET="demo-secret",
        WHOOP_API_BASE_URL=f"{url}/developer",
        WHOOP_OAUTH_BASE_URL=f"{url}/oauth/oauth2",
        WHOOP_TOKEN_CACHE=token_cache,
        WHOOP_DATA_DIR=data_dir,
        WHOOP_DEMO=False,
    )
    service = build_service(settings, demo=False)
    print("started", flush=True)
    try:
        report = await service.sync(days=days)
    except WhoopkitError as exc:
        return {"ok": False, "error": type(exc).__name__, "message": str(exc)}
    finally:
        await service.aclose()
    return {
        "ok": True,
        "requests": report.requests,
        "new": report.new,
        "updated": report.updated,
        "deleted": report.deleted,
    }


if __name__ == "__main__":
    result = asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
    print(json.dumps(result), flush=True)
