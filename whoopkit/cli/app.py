"""The ``whoopkit`` Typer application: the commands, their options and the error boundary.

Every command talks to WHOOP and the store only through ``whoopkit.service``; ``doctor`` and
``setup`` also read the configuration and the token file directly, since they must work when the
service cannot be built. Exit codes: 0 success, 1 failure, 2 usage error (Click's own).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import re
import sys
from collections.abc import Callable, Coroutine, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from pydantic import BaseModel

from whoopkit.cli import doctor as checks
from whoopkit.cli import export as exporting
from whoopkit.cli import files, importing, output, serving, wizard
from whoopkit.cli.deps import CliDeps
from whoopkit.errors import AuthError, WhoopkitError

if TYPE_CHECKING:
    from whoopkit.service import SyncProgress, SyncReport, WhoopService
    from whoopkit.store import StoreStatus

T = TypeVar("T")

# The worker's defaults (whoopkit.hosted.jobs; not imported here: --help must stay light).
DEFAULT_CONCURRENCY = 10
DEFAULT_JOB_TIMEOUT = 3600
DEFAULT_BACKFILL_DAYS = 365

COLLECTION_NAMES = ("cycles", "recoveries", "sleeps", "workouts")
#: Older than this, ``export`` says the data may be out of date.
STALE_AFTER = timedelta(days=1)
DEBUG_ENV = "WHOOPKIT_DEBUG"
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

CLAUDE_HELP = (
    "Claude Desktop's config file. Default: the OS's location (macOS ~/Library/Application Support/"
    "Claude/, Windows %APPDATA%\\Claude\\, Linux ~/.config/Claude/claude_desktop_config.json)."
)


@contextlib.contextmanager
def boundary() -> Iterator[None]:
    """Turn whoopkit's errors into one sentence on stderr and exit code 1; usage errors stay Click's (2)."""
    try:
        yield
    except (typer.Exit, typer.Abort, typer.TyperException):
        raise
    except AuthError as exc:
        output.error(f"{exc} Or run `whoopkit setup`.")
        raise typer.Exit(1) from None
    except WhoopkitError as exc:
        output.error(str(exc))
        raise typer.Exit(1) from None
    except BrokenPipeError:
        # The reader went away (`whoopkit export ... | head`): stop quietly, as Python's docs advise.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(1) from None
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        output.error(f"{exc.strerror or exc}{where}.")
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        output.error("interrupted.")
        raise typer.Exit(130) from None
    except Exception as exc:
        if os.environ.get(DEBUG_ENV):
            raise
        output.error(f"unexpected {type(exc).__name__}: {exc}. Set {DEBUG_ENV}=1 to see the traceback.")
        raise typer.Exit(1) from None


def _run(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return asyncio.run(factory())


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat(timespec="seconds") if value else None


def _shown(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if value else "never"


def _ago(then: datetime, now: datetime) -> str:
    seconds = max(0.0, (now - then).total_seconds())
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 172_800:
        return f"{seconds / 3600:.0f} h ago"
    return f"{seconds / 86_400:.0f} days ago"


def _size(size: int | None) -> str:
    if size is None:
        return "size unknown"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} kB"
    return f"{size / 1024 / 1024:.1f} MB"


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    return value


def last_sync(status: StoreStatus) -> datetime | None:
    """When the least recently synced collection was last synced (None if any never was)."""
    times = [c.last_sync for c in status.collections.values()]
    if not times or any(t is None for t in times):
        return None
    return min(t for t in times if t is not None)


def _parse_day(value: str | None, flag: str) -> date | None:
    if value is None:
        return None
    try:
        if not _DATE.fullmatch(value):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date like 2026-11-20.", param_hint=flag) from None


async def _demo_login_if_needed(service: WhoopService) -> None:
    if not service.demo:
        return
    output.note(
        "Demo mode: no WHOOP credentials are set, so this uses the simulated WHOOP and its own store "
        "(run `whoopkit setup` to connect your account)."
    )
    # The demo's fake lives in this process: its login is a local round trip, not a user's login.
    await service.demo_login()


def _with_service(
    deps: CliDeps, body: Callable[[WhoopService], Coroutine[Any, Any, T]], *, demo: bool | None = None
) -> T:
    settings = deps.settings()

    async def main() -> T:
        service = deps.service(settings, demo)
        try:
            return await body(service)
        except AuthError as exc:
            # The library says what is wrong; where to log in is this face's to say, from settings.
            raise type(exc)(
                f"{exc} Run `whoopkit setup`, or start the web app and log in at {service.login_url}."
            ) from None
        finally:
            await service.aclose()

    return _run(main)


# ---------------------------------------------------------------------------------------- commands


def _requests(count: int) -> str:
    return f"{count} request" if count == 1 else f"{count} requests"


def _sync_summary(report: SyncReport) -> str:
    return (
        f"Synced in {report.seconds:.1f} s: {report.new} new, {report.updated} updated, "
        f"{report.deleted} deleted, {_requests(report.requests)} used."
    )


async def run_sync(service: WhoopService, days: int | None) -> SyncReport:
    """Sync with a progress bar per collection, then print the summary line."""
    await _demo_login_if_needed(service)
    service.require_login()
    with output.sync_progress() as progress:
        tasks = {name: progress.add_task(name, total=None, records=0) for name in COLLECTION_NAMES}

        def on_progress(event: SyncProgress) -> None:
            task = tasks.get(event.collection)
            if task is None:
                task = tasks[event.collection] = progress.add_task(event.collection, total=None, records=0)
            progress.update(task, completed=event.done, total=event.total, records=event.records)

        report = await service.sync(days=days, progress=on_progress)
        shown = {t.id: t for t in progress.tasks}
        for name, task in tasks.items():
            done = report.collections.get(name)
            # A collection with nothing to fetch never reports: show it as finished.
            finished = shown[task].completed or 1
            progress.update(task, completed=finished, total=finished, records=done.records if done else 0)
    for name, part in report.collections.items():
        output.line(
            f"  {name:<11} {part.new} new, {part.updated} updated, {part.deleted} deleted, "
            f"{_requests(part.requests)}"
        )
    output.line(_sync_summary(report))
    return report


def status_object(service: WhoopService) -> dict[str, Any]:
    """Everything ``status --json`` prints: login, store and rate budget."""
    auth = service.auth_status()
    store = service.store_status()
    return {
        "demo": service.demo,
        "login": _jsonable(auth),
        "store": {**_jsonable(store), "last_sync": _iso(last_sync(store))},
        "rate_budget": service.rate_budget(),
    }


def show_status(service: WhoopService) -> None:
    """The human-readable ``status``."""
    auth = service.auth_status()
    now = service.now()
    output.heading("Login" + (" (demo mode: simulated WHOOP)" if service.demo else ""))
    if not auth.logged_in:
        why = auth.error or "there is no token file"
        output.line(f"  not logged in: {why}")
        output.line("  run `whoopkit setup` to log in")
    else:
        left = auth.seconds_left or 0.0
        expiry = f"expires {_shown(auth.expires_at)}" + (
            " (expired)" if auth.expired else f" (in {left / 60:.0f} min)"
        )
        output.line(f"  logged in; token file {auth.path}" if auth.path else "  logged in")
        renew = (
            "yes (offline granted)" if auth.has_offline_scope and auth.can_refresh else "no (offline missing)"
        )
        output.line(f"  {expiry}; renews itself: {renew}")
        output.line(f"  scopes: {' '.join(auth.scopes) or 'none'}")
        if auth.missing_scopes:
            output.line(f"  missing scopes: {' '.join(auth.missing_scopes)}")
    store = service.store_status()
    output.heading("Store")
    output.line(f"  {store.location} ({_size(store.size_bytes)})")
    if store.recovered_from:
        output.line(f"  rebuilt: the previous file was unreadable and was moved to {store.recovered_from}")
    for name, part in store.collections.items():
        span = (
            f"{part.oldest.date().isoformat()} → {part.newest.date().isoformat()}"
            if part.oldest and part.newest
            else "—"
        )
        synced = f"synced {_shown(part.last_sync)}" + (
            f" ({_ago(part.last_sync, now)})" if part.last_sync else ""
        )
        complete = "" if part.complete or not part.rows else ", backfill incomplete"
        output.line(f"  {name:<11} {part.rows:>6} rows  {span:<25} {synced}{complete}")
    budget = service.rate_budget()
    output.heading("Rate budget")
    if not budget:
        output.line("  unknown")
    else:
        minute = (
            f"{budget.get('last_minute', 0)} of {budget.get('per_minute', 100)} requests in the last minute"
        )
        day = f", {budget['today']} of {budget.get('per_day', 10_000)} today" if "today" in budget else ""
        output.line(f"  {minute}{day}")


def do_export(
    service: WhoopService,
    kind: exporting.Kind,
    fmt: exporting.Format,
    since: date | None,
    until: date | None,
    out_file: Path | None,
) -> int:
    """Write the export; returns the exit code (1 when nothing was ever synced)."""
    if service.demo:
        output.note("Demo mode: exporting the simulated WHOOP's store, not yours (run `whoopkit setup`).")
    store = service.store_status()
    rows = sum(c.rows for c in store.collections.values())
    synced = last_sync(store)
    if rows == 0 and synced is None:
        output.error("nothing synced yet: run `whoopkit sync` first.")
        return 1
    if synced is None or service.now() - synced > STALE_AFTER:
        when = (
            f"last synced {_shown(synced)}, {_ago(synced, service.now())}" if synced else "never fully synced"
        )
        output.note(f"Note: this is the local store ({when}); run `whoopkit sync` for newer data.")
    with contextlib.ExitStack() as stack:
        stream = (
            # Health data: the file is private like the store, and appears only once complete.
            stack.enter_context(files.atomic_output(out_file)) if out_file else output.stdout_stream()
        )
        if fmt is exporting.Format.csv:
            start, end = since or exporting.FIRST_DAY, until or exporting.LAST_DAY
            count = exporting.write_csv(stream, kind, exporting.summaries(service, kind, start, end))
        else:
            count = exporting.write_jsonl(stream, exporting.raw_lines(service, kind, since, until))
        stream.flush()
    if out_file:
        output.note(f"Wrote {count} {kind.value} to {out_file}.")
    elif count == 0:
        output.note(f"No {kind.value} stored in that range.")
    return 0


def run_doctor(deps: CliDeps, claude_config: Path) -> list[checks.Check]:
    """Run every check (none raises); the caller prints them."""
    try:
        settings = deps.settings()
    except WhoopkitError as exc:
        return [checks.Check(False, "the configuration cannot be read", str(exc))]
    found = [*checks.check_env(deps.env_file, settings), checks.check_redirect(settings)]
    found.extend(checks.check_token(settings.whoop_token_cache))

    async def database() -> list[checks.Check]:
        try:
            service = deps.service(settings, False)
        except WhoopkitError as exc:
            fix = (
                "if it was written by a newer whoopkit, update this checkout (`git pull`); otherwise move "
                "the file aside and run `whoopkit sync` to rebuild it from WHOOP"
            )
            return [checks.Check(False, f"the database cannot be opened: {exc}", fix)]
        try:
            return checks.check_database(service)
        finally:
            await service.aclose()

    found.extend(_run(database))
    found.append(checks.check_ollama(settings, deps.ollama_transport))
    found.append(checks.check_claude(claude_config))
    return found


# ---------------------------------------------------------------------------------------- the app


def create_app(deps: CliDeps | None = None) -> typer.Typer:
    """The ``whoopkit`` command line; ``deps`` replaces settings, the service, paths or the browser."""
    deps = deps or CliDeps()
    app = typer.Typer(
        name="whoopkit",
        help="Your WHOOP data on your machine: sync it, check the setup, export it.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )

    @app.command()
    def sync(
        days: Annotated[
            int | None,
            typer.Option("--days", min=1, help="Backfill only the last N days (default: all history)."),
        ] = None,
    ) -> None:
        """Fetch new and changed records from WHOOP into the local store, with progress per collection."""
        with boundary():
            _with_service(deps, lambda service: run_sync(service, days))

    @app.command()
    def status(
        as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead.")] = False,
    ) -> None:
        """Show the login (expiry, scopes), the store (rows, range, last sync, size) and the rate budget."""
        with boundary():

            async def body(service: WhoopService) -> None:
                if as_json:
                    output.json_object(status_object(service))
                else:
                    show_status(service)

            _with_service(deps, body)

    @app.command()
    def doctor(
        claude_config: Annotated[
            Path | None, typer.Option("--claude-config", envvar=files.CLAUDE_CONFIG_ENV, help=CLAUDE_HELP)
        ] = None,
    ) -> None:
        """Check the setup, one ✓ or ✗ line per check with what to do; exits 1 if any check fails."""
        with boundary():
            found = run_doctor(deps, files.claude_config_path(claude_config))
            for item in found:
                output.check(item.ok, item.label, item.fix)
            failed = sum(not item.ok for item in found)
            if failed:
                output.line(f"{failed} of {len(found)} checks failed.")
                raise typer.Exit(1)
            output.line(f"All {len(found)} checks passed.")

    @app.command()
    def setup(
        client_id: Annotated[str | None, typer.Option(help="The app's Client ID (else asked).")] = None,
        client_secret: Annotated[
            str | None, typer.Option(help="The app's Client Secret (else asked, hidden).")
        ] = None,
        no_login: Annotated[bool, typer.Option("--no-login", help="Skip the login (step 3).")] = False,
        no_browser: Annotated[
            bool, typer.Option("--no-browser", help="Do not open a browser; just print the address.")
        ] = False,
        login_timeout: Annotated[
            float, typer.Option(min=1, help="Seconds to wait for WHOOP's answer.")
        ] = 300.0,
        claude: Annotated[
            bool | None,
            typer.Option("--claude/--no-claude", help="Add the server to Claude Desktop (default: ask)."),
        ] = None,
        claude_config: Annotated[
            Path | None, typer.Option("--claude-config", envvar=files.CLAUDE_CONFIG_ENV, help=CLAUDE_HELP)
        ] = None,
        yes: Annotated[bool, typer.Option("--yes", "-y", help="Answer yes to every question.")] = False,
    ) -> None:
        """Guided first run: register a WHOOP app, save its credentials, log in, add Claude Desktop."""
        with boundary():
            settings = deps.settings()
            wizard.show_registration(settings)
            new_id, new_secret = wizard.ask_credentials(settings, client_id, client_secret)
            wizard.save_credentials(deps.env_file, new_id, new_secret)
            settings = wizard.with_credentials(settings, new_id, new_secret)
            if no_login:
                output.heading("Step 3 of 4: log in to WHOOP")
                output.line("Skipped (--no-login); run `whoopkit setup` again to log in.")
            else:
                _run(lambda: wizard.login(deps, settings, wait_seconds=login_timeout, browser=not no_browser))
            if claude is False:
                output.heading("Step 4 of 4: Claude Desktop")
                output.line("Skipped (--no-claude).")
            else:
                wizard.offer_claude(
                    files.claude_config_path(claude_config), settings, assume_yes=yes or claude is True
                )
            output.line("Done. `whoopkit sync` fetches your history; `whoopkit doctor` checks the setup.")

    @app.command()
    def export(
        kind: Annotated[exporting.Kind, typer.Option("--kind", help="What to export.")],
        fmt: Annotated[
            exporting.Format,
            typer.Option(
                "--format",
                help="csv: one row per record (per day for days), units in the "
                "column names; jsonl: the raw WHOOP records.",
            ),
        ],
        since: Annotated[
            str | None, typer.Option(metavar="YYYY-MM-DD", help="First day (a WHOOP day, included).")
        ] = None,
        until: Annotated[str | None, typer.Option(metavar="YYYY-MM-DD", help="Last day (included).")] = None,
        out_file: Annotated[
            Path | None,
            typer.Option("--output", "-o", help="Write to FILE, not stdout.", dir_okay=False),
        ] = None,
    ) -> None:
        """Export the local store (never calls WHOOP) as CSV or JSONL, to stdout or a file."""
        first, last = _parse_day(since, "--since"), _parse_day(until, "--until")
        if first and last and first > last:
            raise typer.BadParameter(f"--since {first} is after --until {last}.", param_hint="--since")
        with boundary():

            async def body(service: WhoopService) -> int:
                return do_export(service, kind, fmt, first, last, out_file)

            code = _with_service(deps, body)
        if code:
            raise typer.Exit(code)

    @app.command("import")
    def import_export(
        paths: Annotated[
            list[Path],
            typer.Argument(
                metavar="PATH",
                help="The export zip the WHOOP app mailed you, its unpacked folder, or its CSV files.",
            ),
        ],
        dry_run: Annotated[bool, typer.Option("--dry-run", help="Read and report; write nothing.")] = False,
        as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead.")] = False,
    ) -> None:
        """Import the WHOOP app's data export: the journal, and history older than the API's."""
        with boundary():

            async def body(service: WhoopService) -> int:
                return await importing.run_import(service, paths, dry_run=dry_run, as_json=as_json)

            code = _with_service(deps, body)
        if code:
            raise typer.Exit(code)

    @app.command()
    def serve(
        hosted: Annotated[
            bool, typer.Option("--hosted", help="Many users on PostgreSQL and Redis (as WHOOP_HOSTED=1).")
        ] = False,
        host: Annotated[str | None, typer.Option("--host", help="Address to listen on (HOST).")] = None,
        port: Annotated[
            int | None, typer.Option("--port", min=1, max=65535, help="Port to listen on (PORT).")
        ] = None,
    ) -> None:
        """Run the web dashboard (the demo when no WHOOP credentials are set); --hosted for many users."""
        with boundary():
            settings = deps.settings()
            updates: dict[str, Any] = {}
            if host is not None:
                updates["host"] = host
            if port is not None:
                updates["port"] = port
            serving.serve(settings.model_copy(update=updates), hosted=hosted or settings.whoop_hosted)

    @app.command()
    def worker(
        concurrency: Annotated[
            int, typer.Option("--concurrency", min=1, max=1000, help="Jobs this process runs at once.")
        ] = DEFAULT_CONCURRENCY,
        job_timeout: Annotated[
            int, typer.Option("--job-timeout", min=10, help="Seconds a job may run before it is re-queued.")
        ] = DEFAULT_JOB_TIMEOUT,
        backfill_days: Annotated[
            int,
            typer.Option("--backfill-days", min=1, max=3650, help="History a new user's first sync fetches."),
        ] = DEFAULT_BACKFILL_DAYS,
        metrics_port: Annotated[
            int | None,
            typer.Option("--metrics-port", min=1, max=65535, help="Serve Prometheus metrics here."),
        ] = None,
    ) -> None:
        """Run a hosted-mode sync worker (backfills, refreshes, on-demand syncs); start more to scale."""
        from whoopkit.hosted.jobs import WorkerOptions

        with boundary():
            options = WorkerOptions(
                concurrency=concurrency, job_timeout=job_timeout, backfill_days=backfill_days
            )
            serving.worker(deps.settings(), options, metrics_port=metrics_port)

    @app.command()
    def migrate() -> None:
        """Create or upgrade the database's tables; re-encrypt hosted logins under the newest token key."""
        with boundary():
            location, revision, rotated = serving.migrate(deps.settings())
            output.line(f"The database {location} is at schema revision {revision} (the newest).")
            if rotated is not None:
                output.line(f"{rotated} saved WHOOP logins re-encrypted under the newest WHOOP_TOKEN_KEY.")

    return app


def main() -> None:
    """Run the command line (the ``whoopkit`` console script and ``python -m whoopkit``)."""
    create_app()(prog_name="whoopkit")
