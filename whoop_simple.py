"""Run the whoopkit web dashboard: ``python whoop_simple.py [--host H] [--port P]`` (localhost:3000)."""

import argparse
import sys

try:
    import uvicorn  # noqa: F401 - imported here so that a missing one is worded like the others

    from whoopkit.config import load_settings
    from whoopkit.errors import ConfigError
    from whoopkit.web.app import create_app, serve
except ModuleNotFoundError as exc:  # run with an interpreter that lacks the packages (not the venv)
    from whoopkit.firstrun import exit_for_missing_module

    exit_for_missing_module(exc, "whoop_simple.py")
    raise

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", help="address to listen on (default: HOST or 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (default: PORT or 3000)")
    args = parser.parse_args()
    try:
        overrides = {k: v for k, v in (("HOST", args.host), ("PORT", args.port)) if v is not None}
        settings = load_settings(**overrides)
        serve(create_app(settings))
    except ConfigError as exc:
        sys.exit(f"whoop_simple: {exc}")
