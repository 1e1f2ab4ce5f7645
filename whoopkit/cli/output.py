"""Everything the command line writes to the terminal: the only module of ``whoopkit.cli`` that prints.

Data (exports, ``status --json``, summaries) goes to stdout; notes, progress bars, checks' advice
and errors go to stderr, so piping stdout into a file or ``jq`` gets the data alone. Dynamic text is
never parsed as Rich markup: WHOOP names, paths and error messages may contain square brackets.
"""

from __future__ import annotations

import json
import sys
from typing import IO, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

# Console() resolves sys.stdout / sys.stderr at write time, so test runners that swap them capture it.
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

OK_MARK = "✓"
BAD_MARK = "✗"


def line(text: str = "", *, style: str | None = None) -> None:
    """One line of normal output on stdout."""
    out.print(Text(text, style=style or ""))


def heading(text: str) -> None:
    """A bold section title on stdout."""
    out.print(Text(text, style="bold"))


def note(text: str) -> None:
    """A remark on stderr (about the data, not the data itself)."""
    err.print(Text(text, style="yellow"))


def error(text: str) -> None:
    """A failure, as ``whoopkit: <sentence>`` on stderr."""
    err.print(Text(f"whoopkit: {text}", style="red"))


def check(ok: bool, label: str, fix: str | None = None) -> None:
    """One doctor line: ✓ or ✗, what was checked, and on failure what to do."""
    mark = Text(OK_MARK, style="green") if ok else Text(BAD_MARK, style="red")
    row = Text.assemble(mark, " ", label)
    if not ok and fix:
        row.append(f"\n    → {fix}", style="yellow")
    out.print(row)


def json_object(value: Any) -> None:
    """``value`` as one line of JSON on stdout."""
    sys.stdout.write(json.dumps(value, ensure_ascii=False, sort_keys=True) + "\n")
    sys.stdout.flush()


def stdout_stream() -> IO[str]:
    """The stream exports write to when no ``-o`` is given."""
    return sys.stdout


def sync_progress() -> Progress:
    """The per-collection progress bars of ``whoopkit sync`` (on stderr)."""
    return Progress(
        TextColumn("{task.description:<11}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[records]} records"),
        TimeElapsedColumn(),
        console=err,
    )
