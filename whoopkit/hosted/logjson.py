"""Structured logs for hosted processes: one JSON object per line, secrets redacted.

Each line holds ``ts`` (UTC, ISO 8601 with milliseconds), ``level``, ``logger`` and ``msg``, then every
``extra={...}`` field of the call, then ``exception`` (the formatted traceback) when there is one.
uvicorn's access lines also get ``client``, ``method``, ``path`` and ``status`` as fields.

Secrets stay out, on top of :func:`whoopkit.logs.redact` (``code=``, ``state=``, ``access_token=`` in query
strings): ``refresh_token=``, ``client_secret=`` and ``password=`` parameters, ``Bearer`` credentials,
passwords in URLs (``redis://:pw@host``), and every extra field whose name says it is a secret (``token``,
``code``, ``state``, ``secret``, ``password``, ``authorization``, ``cookie``) are replaced by ``REDACTED``,
in the message, the fields and the traceback alike.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import IO, Any

from whoopkit.logs import redact

REDACTED = "REDACTED"

# Every attribute a plain LogRecord has; whatever else a record carries came in through ``extra``.
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
_SECRET_FIELD = re.compile(
    r"token|secret|password|passwd|authorization|cookie|^code$|^state$|_code$|_state$", re.I
)
_MORE_PARAMS = re.compile(r"((?:refresh_token|client_secret|password)=)[^&\s\"]*", re.I)
_BEARER = re.compile(r"(\bBearer\s+)[A-Za-z0-9\-._~+/]+=*", re.I)
_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.\-]*://[^:/@\s]*:)[^@\s/]+(@)", re.I)
_ACCESS_FIELDS = ("client", "method", "path", "http_version", "status")


def scrub(text: str) -> str:
    """``text`` with every secret pattern this module knows replaced by ``REDACTED``."""
    text = redact(text)
    text = _MORE_PARAMS.sub(rf"\1{REDACTED}", text)
    text = _BEARER.sub(rf"\1{REDACTED}", text)
    return _URL_PASSWORD.sub(rf"\1{REDACTED}\2", text)


def _jsonable(value: Any) -> Any:
    """A JSON-ready copy of ``value`` with its strings scrubbed (anything unknown becomes its ``str``)."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {
            str(key): REDACTED if _SECRET_FIELD.search(str(key)) else _jsonable(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(item) for item in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return scrub(str(value))


class JsonFormatter(logging.Formatter):
    """Formats a record as one line of JSON (see the module's docstring for the fields)."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a single-line JSON object; never raises on odd arguments or extras."""
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            # A bad %-format must not lose the line: keep the template and the arguments apart.
            message = f"{record.msg} {record.args!r}"
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "msg": scrub(message),
        }
        if record.name == "uvicorn.access" and isinstance(record.args, tuple) and len(record.args) == 5:
            entry.update(zip(_ACCESS_FIELDS, (_jsonable(arg) for arg in record.args), strict=True))
        for key, value in vars(record).items():
            if key in _STANDARD_ATTRS or key.startswith("_") or key in entry:
                continue
            entry[key] = REDACTED if _SECRET_FIELD.search(key) else _jsonable(value)
        if record.exc_info and record.exc_info[0] is not None:
            entry["exception"] = scrub(self.formatException(record.exc_info))
        elif record.exc_text:
            entry["exception"] = scrub(record.exc_text)
        if record.stack_info:
            entry["stack"] = scrub(self.formatStack(record.stack_info))
        return json.dumps(entry, ensure_ascii=False, default=str, separators=(",", ":"))


class _JsonHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler :func:`configure_json_logging` installs (so a second call replaces it)."""


def configure_json_logging(level: str = "INFO", *, stream: IO[str] | None = None) -> None:
    """Send every log record of the process to ``stream`` (stderr) as JSON lines, at ``level`` and above.

    Installs one handler on the root logger (replacing one a previous call installed) and makes
    uvicorn's and arq's loggers propagate to it, so run uvicorn with ``log_config=None``: its own
    configuration would give them plain-text handlers again.

    Raises:
        ValueError: ``level`` is not a logging level name.
    """
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}: use DEBUG, INFO, WARNING, ERROR or CRITICAL")
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _JsonHandler)]:
        root.removeHandler(handler)
    handler = _JsonHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(numeric)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "arq", "arq.worker"):
        named = logging.getLogger(name)
        # Their plain-text handlers would print each line a second time, unredacted JSON aside.
        for old in [h for h in named.handlers if isinstance(h, logging.StreamHandler)]:
            named.removeHandler(old)
        named.propagate = True
        # Whatever configured them before (uvicorn's own dictConfig, a level set elsewhere) no longer filters.
        named.disabled = False
        named.setLevel(logging.NOTSET)
