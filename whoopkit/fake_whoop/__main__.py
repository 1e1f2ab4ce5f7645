"""Run the fake WHOOP on a port: ``python -m whoopkit.fake_whoop --port 8765 [--auto-approve]``.

``--days N`` sets how much history it serves (e.g. 365) and ``--latency-ms N`` adds that much delay
to every API and token request (the benchmarks use 300). ``--people N`` simulates N people, each
authorization signing in the one picked on the consent page (or ``?person=k`` / ``login_hint``), else
the next in turn; ``--member-cap M`` refuses a new person once M have authorized (WHOOP's cap on an
unapproved app is 10). The rules are in ``whoopkit.fake_whoop.app``. ``GET /_fake/requests[?since=MS]``
lists every API request's arrival (epoch ms), status and person, for a benchmark's busiest-window count.

``--port 0`` picks a free port; the one line logged to stderr at start-up names the actual URL
(``Simulated WHOOP (demo) listening on http://127.0.0.1:PORT``), and the socket already accepts
connections when that line appears, so another process can wait for it instead of polling.

``python -m whoopkit.fake_whoop export PATH [--days N] [--seed S] [--planted] [--now ISO]`` writes
the member's WHOOP app export instead of serving: a zip when PATH ends in ``.zip``, else the four
CSV files into the directory PATH. ``--planted`` plants the default ``PlantedEffects()``: recovery
12 points lower, HRV 10 % lower and resting heart rate 2 bpm higher on the day after an alcohol day,
and no weekday effect at all (``alcohol_recovery=-12, alcohol_hrv_pct=-10, alcohol_rhr_bpm=2,
weekday_effects=False``, alcohol on 20 % of days).
"""

from __future__ import annotations

import argparse
import logging
import socket
from datetime import UTC, datetime
from pathlib import Path

from whoopkit.fake_whoop.app import create_fake_whoop
from whoopkit.fake_whoop.data import PlantedEffects, generate_dataset
from whoopkit.fake_whoop.export import write_export

logger = logging.getLogger("whoopkit.fake_whoop")


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host.strip("[]"), port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _moment(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an ISO date-time") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def export_main(argv: list[str]) -> None:
    """Parse ``export PATH ...`` and write the WHOOP app export of a generated dataset."""
    parser = argparse.ArgumentParser(
        prog="python -m whoopkit.fake_whoop export",
        description="Write the simulated member's WHOOP app export (zip or a directory of CSV files).",
    )
    parser.add_argument("path", type=Path, help="a .zip file, or a directory for the four CSV files")
    parser.add_argument("--days", type=int, default=180, metavar="N", help="days of history (default 180)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--planted",
        action="store_true",
        help="plant the default effects (after alcohol: -12 recovery, -10%% HRV, +2 bpm RHR; no weekday)",
    )
    parser.add_argument(
        "--now", type=_moment, default=None, metavar="ISO", help="when the data ends (default: now)"
    )
    args = parser.parse_args(argv)
    if args.days < 1:
        parser.error("--days must be at least 1")
    effects = PlantedEffects() if args.planted else None
    dataset = generate_dataset(seed=args.seed, days=args.days, now=args.now, effects=effects)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        write_export(dataset, args.path)
    except OSError as exc:
        parser.exit(1, f"Cannot write the export to {args.path}: {exc.strerror or exc}\n")
    logger.info(
        "Wrote the WHOOP export of %d days (seed %d%s) to %s",
        args.days,
        args.seed,
        ", planted effects" if effects is not None else "",
        args.path,
    )


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and serve the fake with uvicorn until interrupted (or run ``export``)."""
    if argv is None:
        import sys

        argv = sys.argv[1:]
    if argv[:1] == ["export"]:
        export_main(argv[1:])
        return
    parser = argparse.ArgumentParser(
        prog="python -m whoopkit.fake_whoop", description="Run the simulated WHOOP (OAuth + API v2)."
    )
    parser.add_argument("--port", type=int, required=True, help="0 picks a free port")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--auto-approve", action="store_true", help="skip the consent page")
    parser.add_argument("--client-id", default="demo-client")
    parser.add_argument("--client-secret", default="demo-secret")
    parser.add_argument("--access-token-ttl", type=int, default=3600, metavar="S")
    parser.add_argument(
        "--latency-ms", type=float, default=0.0, metavar="MS", help="delay added to every API/token request"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--days", type=int, default=180, metavar="N", help="days of history (default 180)")
    parser.add_argument("--requests-per-minute", type=int, default=100)
    parser.add_argument("--requests-per-day", type=int, default=10_000)
    parser.add_argument("--people", type=int, default=1, metavar="N", help="simulated people (default 1)")
    parser.add_argument(
        "--member-cap", type=int, default=None, metavar="M", help="refuse a new person once M authorized"
    )
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error("--port must be between 0 and 65535")
    if args.access_token_ttl < 0 or args.latency_ms < 0:
        parser.error("--access-token-ttl and --latency-ms must not be negative")
    if args.days < 1:
        parser.error("--days must be at least 1")
    if args.people < 1 or (args.member_cap is not None and args.member_cap < 1):
        parser.error("--people and --member-cap must be at least 1")

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
        people=args.people,
        member_cap=args.member_cap,
    )
    fake.faults.latency = args.latency_ms / 1000
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        sock = _listen(args.host, args.port)
    except OSError as exc:
        parser.exit(1, f"Cannot listen on {args.host}:{args.port}: {exc.strerror or exc}\n")
    port = sock.getsockname()[1]
    shown = f"[{args.host.strip('[]')}]" if ":" in args.host else args.host
    logger.info("Simulated WHOOP (demo) listening on http://%s:%d", shown, port)
    server = uvicorn.Server(uvicorn.Config(fake, log_level="warning", lifespan="off"))
    server.run(sockets=[sock])


if __name__ == "__main__":
    main()
