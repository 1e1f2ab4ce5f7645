"""Every line a stdio client sends gets a JSON-RPC reply, even one the SDK cannot parse (issue 9.6).

The SDK's stdio transport (mcp 2.3) hands a line it cannot parse to the session as an exception,
and the session only logs it at debug level: the client waits for an answer that never comes.
That happens to plain garbage and, less obviously, to a valid JSON-RPC request whose strings hold
a lone surrogate such as ``"\\ud800"`` (legal JSON escape syntax, but not Unicode, so pydantic's
parser refuses it). Over streamable HTTP the SDK answers -32700 itself.

:class:`Replying` wraps the transport's read stream at our boundary: such an exception becomes an
error reply on the write stream, with the request's id whenever the line is JSON enough to have one.
"""

from __future__ import annotations

import json
import logging
import re
from types import TracebackType
from typing import Any, Self

import anyio
from mcp.shared._stream_protocols import ReadStream, WriteStream
from mcp.shared.message import SessionMessage
from mcp_types import INVALID_PARAMS, INVALID_REQUEST, PARSE_ERROR, ErrorData, JSONRPCError
from pydantic import ValidationError

logger = logging.getLogger(__name__)

_SURROGATE = re.compile("[\ud800-\udfff]")


def _has_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        return _SURROGATE.search(value) is not None
    if isinstance(value, dict):
        return any(_has_surrogate(k) or _has_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_surrogate(v) for v in value)
    return False


def _request_id(message: Any) -> int | str | None:
    """The id to answer with; None when there is none we could echo (a surrogate cannot be written)."""
    if not isinstance(message, dict):
        return None
    ident = message.get("id")
    if isinstance(ident, bool) or not isinstance(ident, int | str) or _has_surrogate(ident):
        return None
    return ident


def _unparsed(exc: ValidationError) -> tuple[bool, Any]:
    """What the client sent, as far as Python's lenient ``json`` reads it: ``(is_json, value)``."""
    errors = exc.errors(include_url=False)
    raw = errors[0].get("input") if errors else None
    if errors and errors[0]["type"] == "json_invalid":
        if not isinstance(raw, str | bytes):
            return False, None
        try:
            return True, json.loads(raw)
        except ValueError:  # JSONDecodeError, UnicodeDecodeError
            return False, None
        except RecursionError:
            return True, _TooDeep(_shallow_id(raw))
    return True, raw


class _TooDeep:
    """A JSON message nested deeper than any parser here will follow; only its id was read."""

    def __init__(self, ident: int | str | None) -> None:
        self.ident = ident


_TOP_ID = re.compile(r'"id"\s*:\s*(-?\d{1,18}|"(?:[^"\\\ud800-\udfff]|\\.){0,200}")')


def _shallow_id(raw: str | bytes) -> int | str | None:
    # The id of a top-level request comes before the first nested object or list in every client seen;
    # past that point an "id" could belong to the arguments, so it is not echoed.
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    head = re.split(r"[\[{]", text[1:], maxsplit=1)[0] if text.startswith("{") else ""
    match = _TOP_ID.search(head)
    if match is None:
        return None
    value = match.group(1)
    return int(value) if not value.startswith('"') else value[1:-1]


def error_reply(exc: ValidationError) -> JSONRPCError | None:
    """The JSON-RPC error for a line the SDK could not parse, or None when none is due.

    No reply is due to a notification (no ``id``, with a ``method``) or to a client's response: JSON-RPC
    answers neither.
    """
    is_json, message = _unparsed(exc)
    if not is_json:
        return _error(None, PARSE_ERROR, "Parse error: the message is not valid JSON.")
    if isinstance(message, _TooDeep):
        return _error(message.ident, INVALID_REQUEST, "Invalid request: the message is nested too deeply.")
    if isinstance(message, list):
        return _error(None, INVALID_REQUEST, "Invalid request: JSON-RPC batches are not supported.")
    if not isinstance(message, dict):
        return _error(None, INVALID_REQUEST, "Invalid request: a JSON-RPC message is a JSON object.")
    ident = _request_id(message)
    if "id" not in message and "method" in message:
        return None
    if "method" not in message and ("result" in message or "error" in message):
        return None
    if _has_surrogate(message.get("params")):
        return _error(
            ident,
            INVALID_PARAMS,
            "Invalid params: a string contains a lone UTF-16 surrogate (such as \\ud800), which is not "
            "valid Unicode; send the text as proper UTF-8.",
        )
    if _has_surrogate(message):
        return _error(
            ident,
            INVALID_REQUEST,
            "Invalid request: the method or id contains a lone UTF-16 surrogate (such as \\ud800), "
            "which is not valid Unicode.",
        )
    return _error(ident, INVALID_REQUEST, "Invalid request: not a JSON-RPC 2.0 request object.")


def _error(ident: int | str | None, code: int, message: str) -> JSONRPCError:
    return JSONRPCError(jsonrpc="2.0", id=ident, error=ErrorData(code=code, message=message))


class Replying:
    """A read stream that answers unparsable lines on ``write`` instead of passing them on."""

    def __init__(
        self, inner: ReadStream[SessionMessage | Exception], write: WriteStream[SessionMessage]
    ) -> None:
        self._inner = inner
        self._write = write

    @property
    def last_context(self) -> Any:
        """The sender's context of the last item (the SDK's dispatcher reads it, if present)."""
        return getattr(self._inner, "last_context", None)

    async def receive(self) -> SessionMessage | Exception:
        """The next message the SDK can handle; unparsable lines are answered on the way.

        Raises:
            anyio.EndOfStream: the client closed stdin.
        """
        while True:
            item = await self._inner.receive()
            if not isinstance(item, ValidationError):
                return item
            try:
                reply = error_reply(item)
            except RecursionError:
                # Deep nesting the checks above cannot walk: still an answer, never a dead session.
                reply = _error(None, INVALID_REQUEST, "Invalid request: the message is nested too deeply.")
            logger.warning(
                "answered an unparsable MCP message with %s",
                f"JSON-RPC error {reply.error.code}" if reply else "nothing (a notification or response)",
            )
            if reply is not None:
                await self._write.send(SessionMessage(reply))

    async def aclose(self) -> None:
        """Close the wrapped stream."""
        await self._inner.aclose()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> SessionMessage | Exception:
        try:
            return await self.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> bool | None:
        await self.aclose()
        return None
