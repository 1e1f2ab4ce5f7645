"""Log hygiene every face shares: secrets in query strings never reach a log line.

uvicorn's access log prints each request's path with its query string. The web app's login flow
puts OAuth ``code`` and ``state`` there, remote mode an ``access_token``, and a client of the MCP
HTTP transport may send an ``access_token`` too; all of them are redacted before the line is written.
"""

from __future__ import annotations

import logging
import re

_SECRET_PARAMS = re.compile(r"((?:access_token|code|state)=)[^&\s\"]*", re.IGNORECASE)


def redact(text: str) -> str:
    """``/callback?code=abc&state=xyz`` → ``/callback?code=REDACTED&state=REDACTED`` (also access_token)."""
    return _SECRET_PARAMS.sub(r"\1REDACTED", text)


class RedactSecretsFilter(logging.Filter):
    """Keeps OAuth codes, states and access tokens out of uvicorn's access log lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact secret query parameters in the record's arguments; never drops a record."""
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


def install_log_redaction() -> None:
    """Attach :class:`RedactSecretsFilter` to uvicorn's access logger (once)."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactSecretsFilter) for f in access.filters):
        access.addFilter(RedactSecretsFilter())
