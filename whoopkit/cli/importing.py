"""``whoopkit import``: read the WHOOP app's data export into the store and say what it held and did.

Per file: the rows read, the columns used and the columns ignored (their exact headers), the rows
skipped and why, and the journal questions found; then per kind what the store gained (new, updated,
unchanged) and how many records the API also has (matched: the API's numbers are the ones shown).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from whoopkit.cli import output
from whoopkit.errors import ImportFileError

if TYPE_CHECKING:
    from whoopkit.imports import FileSummary, ImportReport
    from whoopkit.service import WhoopService

KINDS = ("cycles", "recoveries", "sleeps", "workouts")
_ONE = {
    "cycles": "cycle",
    "recoveries": "recovery",
    "sleeps": "sleep",
    "workouts": "workout",
    "journal": "answer",
}
_MANY = {"cycles": "cycles", "recoveries": "recoveries", "sleeps": "sleeps", "workouts": "workouts"}
# A folder like Downloads holds many other files: name a few.
SHOWN_IGNORED = 5
# Beyond this many skipped rows a file's reasons are summarised, not listed one by one.
SHOWN_SKIPS = 10


def report_object(report: ImportReport) -> dict[str, Any]:
    """Everything ``import --json`` prints."""
    return {**dataclasses.asdict(report), "skipped": report.skipped}


def _count(n: int, kind: str) -> str:
    return f"{n} {_ONE[kind] if n == 1 else _MANY.get(kind, 'answers')}"


def _names(headers: Sequence[str]) -> str:
    return ", ".join(headers) if headers else "none"


def _show_file(summary: FileSummary) -> None:
    made = ", ".join(_count(n, kind) for kind, n in summary.records.items() if n) or "nothing"
    rows = f"{summary.rows} row" if summary.rows == 1 else f"{summary.rows} rows"
    output.heading(f"{summary.path}")
    output.line(f"  {rows} read → {made}")
    output.line(f"  columns used ({len(summary.columns_used)}): {_names(summary.columns_used)}")
    output.line(f"  columns ignored ({len(summary.columns_ignored)}): {_names(summary.columns_ignored)}")
    if summary.questions:
        output.line(f"  journal questions ({len(summary.questions)}): {'; '.join(summary.questions)}")
    for change in summary.questions_changed:
        output.line(
            f"  line {change.line}: question kept as {change.question!r} ({change.reason})", style="yellow"
        )
    if summary.skipped:
        output.line(f"  skipped {len(summary.skipped)} of {summary.rows} rows:", style="yellow")
        for skip in summary.skipped[:SHOWN_SKIPS]:
            output.line(f"    line {skip.line}: {skip.reason}", style="yellow")
        if len(summary.skipped) > SHOWN_SKIPS:
            output.line(f"    … and {len(summary.skipped) - SHOWN_SKIPS} more", style="yellow")


def show_report(report: ImportReport) -> None:
    """The human-readable report of one import (or dry run)."""
    for summary in report.files:
        _show_file(summary)
    if report.ignored_files:
        shown = _names(report.ignored_files[:SHOWN_IGNORED])
        more = len(report.ignored_files) - SHOWN_IGNORED
        output.line(
            f"Files ignored ({len(report.ignored_files)}): {shown}" + (f", … {more} more" if more > 0 else "")
        )
    output.heading("Dry run: nothing was written" if report.dry_run else "Store")
    for kind in KINDS:
        total = report.records.get(kind, 0)
        matched = report.matched.get(kind, 0)
        if report.dry_run:
            what = f"{total} read"
        else:
            what = (
                f"{report.new.get(kind, 0)} new, {report.updated.get(kind, 0)} updated, "
                f"{report.unchanged.get(kind, 0)} unchanged"
            )
        output.line(f"  {kind:<11} {what}; {matched} matched to API records")
    journal = (
        f"{report.journal_answers} read"
        if report.dry_run
        else (
            f"{report.new.get('journal', 0)} new, {report.updated.get('journal', 0)} updated, "
            f"{report.unchanged.get('journal', 0)} unchanged"
        )
    )
    output.line(f"  {'journal':<11} {journal}; {report.journal_matched} tied to API cycles")
    if sum(bool(f.questions) for f in report.files) > 1:
        output.line(f"Journal questions found ({len(report.questions)}): {'; '.join(report.questions)}")
    matched = sum(report.matched.values())
    if matched:
        output.note(
            f"{matched} imported records are also synced from WHOOP: the API's numbers are the ones shown."
        )
    if report.skipped:
        output.note(f"{report.skipped} rows were skipped (listed above with their lines).")


async def run_import(service: WhoopService, paths: Sequence[Path], *, dry_run: bool, as_json: bool) -> int:
    """Import ``paths`` and print the report; returns the exit code (1 for a malformed file).

    Raises:
        AuthError: no WHOOP account is known yet.
        StoreError: the database could not be written.
    """
    if service.demo:
        output.note(
            "Demo mode: no WHOOP credentials are set, so this imports into the simulated WHOOP's own store "
            "(run `whoopkit setup` to connect your account)."
        )
        await service.demo_login()
    try:
        report = await service.import_export(list(paths), dry_run=dry_run)
    except ImportFileError as exc:
        output.error(f"cannot import {str(exc).rstrip('.')}; nothing was imported.")
        return 1
    if as_json:
        output.json_object(report_object(report))
    else:
        show_report(report)
    return 0
