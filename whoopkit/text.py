"""Free text from outside (WHOOP's sport and profile names, a model's answer) made fit for one line.

Such text is data, never instructions (issue 9.7): a sport name may carry newlines and a fake
"SYSTEM:" line aimed at whatever model reads a tool's summary. Every face puts outside text into its
human-readable output only through :func:`one_line`; the raw value stays in structured fields.
"""

from __future__ import annotations

import re

MAX_NAME_CHARS = 40
"""How much of a name (sport, person) a readable sentence shows; the Ollama prompt's sport cap too."""

# C0/C1 controls except tab and newline (which become spaces below), zero-width and bidi controls.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
_SPACE = re.compile(r"\s+")


def one_line(text: str, limit: int | None = MAX_NAME_CHARS) -> str:
    """``text`` without control characters, every run of whitespace (newlines too) one space, and at
    most ``limit`` characters (cut ones end in "…"); ``limit=None`` keeps the whole length."""
    flat = _SPACE.sub(" ", _CONTROL.sub("", text)).strip()
    if limit is not None and len(flat) > limit:
        return flat[: max(0, limit - 1)].rstrip() + "…"
    return flat
