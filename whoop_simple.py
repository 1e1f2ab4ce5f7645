"""Run the whoopkit web dashboard: ``python whoop_simple.py [--host H] [--port P]`` (127.0.0.1:3000)."""

import argparse
import sys

import uvicorn

from whoopkit.config import load_settings
from whoopkit.errors import ConfigError
from whoopkit.web.app import create_app

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", help="address to listen on (default: HOST or 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (default: PORT or 3000)")
    args = parser.parse_args()
    try:
        overrides = {k: v for k, v in (("HOST", args.host), ("PORT", args.port)) if v is not None}
        settings = load_settings(**overrides)
        app = create_app(settings)
    except ConfigError as exc:
        sys.exit(f"whoop_simple: {exc}")
    uvicorn.run(app, host=settings.host, port=settings.port, proxy_headers=False)
