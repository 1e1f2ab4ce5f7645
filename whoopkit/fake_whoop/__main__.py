"""Run the fake WHOOP on a port: ``python -m whoopkit.fake_whoop --port 8765 [--auto-approve]``."""

from __future__ import annotations

import argparse
import logging

from whoopkit.fake_whoop.app import create_fake_whoop

logger = logging.getLogger("whoopkit.fake_whoop")


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and serve the fake with uvicorn until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m whoopkit.fake_whoop", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--auto-approve", action="store_true", help="skip the consent page")
    parser.add_argument("--client-id", default="demo-client")
    parser.add_argument("--client-secret", default="demo-secret")
    parser.add_argument("--access-token-ttl", type=int, default=3600, metavar="S")
    parser.add_argument("--latency-ms", type=float, default=0.0, metavar="MS")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--requests-per-minute", type=int, default=100)
    parser.add_argument("--requests-per-day", type=int, default=10_000)
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error("--port must be between 0 and 65535")

    import uvicorn  # only here: the library itself never needs a server

    fake = create_fake_whoop(
        client_id=args.client_id,
        client_secret=args.client_secret,
        auto_approve=args.auto_approve,
        access_token_ttl=args.access_token_ttl,
        seed=args.seed,
        days=args.days,
        requests_per_minute=args.requests_per_minute,
        requests_per_day=args.requests_per_day,
    )
    fake.faults.latency = max(0.0, args.latency_ms / 1000)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logger.info(
        "Simulated WHOOP (demo) on http://%s:%d  OAuth base: /oauth/oauth2  API base: /developer",
        args.host,
        args.port,
    )
    uvicorn.run(fake, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
