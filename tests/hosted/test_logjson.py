"""Hosted JSON logs: one object per line, extra fields kept, secrets redacted, exceptions as a field."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from whoopkit.hosted.logjson import REDACTED, JsonFormatter, configure_json_logging


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """configure_json_logging writing to a buffer; the root logger is put back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    named = {
        name: (list(logging.getLogger(name).handlers), logging.getLogger(name).propagate)
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "arq", "arq.worker")
    }
    buffer = io.StringIO()
    configure_json_logging("DEBUG", stream=buffer)
    try:
        yield buffer
    finally:
        for handler in list(root.handlers):
            if handler not in handlers:
                root.removeHandler(handler)
        root.setLevel(level)
        for name, (old, propagate) in named.items():
            logger = logging.getLogger(name)
            logger.handlers[:] = old
            logger.propagate = propagate


def lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    text = buffer.getvalue()
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def test_a_record_becomes_one_json_line_with_ts_level_logger_msg_and_its_extra_fields(
    stream: io.StringIO,
) -> None:
    logging.getLogger("whoopkit.hosted.jobs").info(
        "backfill of %d days done\nin %s", 365, "12 s", extra={"user_id": 7, "kind": "backfill", "records": 3}
    )
    (entry,) = lines(stream)
    assert entry["level"] == "INFO"
    assert entry["logger"] == "whoopkit.hosted.jobs"
    assert entry["msg"] == "backfill of 365 days done\nin 12 s"
    assert entry["ts"].endswith("Z") and entry["ts"][10] == "T"
    assert (entry["user_id"], entry["kind"], entry["records"]) == (7, "backfill", 3)
    assert "exception" not in entry


def test_a_url_with_code_and_state_is_redacted_in_the_message_and_in_fields(stream: io.StringIO) -> None:
    url = "/callback?code=c0de-s3cret&state=st4te-s3cret&next=/dashboard"
    logging.getLogger("whoopkit.web").warning("callback %s", url, extra={"url": url})
    (entry,) = lines(stream)
    assert entry["msg"] == f"callback /callback?code={REDACTED}&state={REDACTED}&next=/dashboard"
    assert entry["url"] == f"/callback?code={REDACTED}&state={REDACTED}&next=/dashboard"
    assert "s3cret" not in stream.getvalue()


def test_uvicorns_access_line_is_redacted_and_split_into_fields(stream: io.StringIO) -> None:
    logging.getLogger("uvicorn.access").info(
        '%s - "%s %s HTTP/%s" %d', "10.0.0.9:5123", "GET", "/callback?code=abc123&state=xyz789", "1.1", 303
    )
    (entry,) = lines(stream)
    assert entry["path"] == f"/callback?code={REDACTED}&state={REDACTED}"
    assert (entry["method"], entry["status"], entry["client"]) == ("GET", 303, "10.0.0.9:5123")
    assert "abc123" not in stream.getvalue() and "xyz789" not in stream.getvalue()


def test_tokens_never_reach_a_line_whatever_field_or_text_they_travel_in(stream: io.StringIO) -> None:
    token = "eyJhbGciOi.t0ken-s3cret.sig"
    logging.getLogger("whoopkit.tokens").info(
        "sent Authorization: Bearer %s to redis://:pa55word@redis:6379/0 with refresh_token=%s",
        token,
        token,
        extra={"access_token": token, "headers": {"Authorization": f"Bearer {token}"}, "session_cookie": "x"},
    )
    text = stream.getvalue()
    assert token not in text
    assert "pa55word" not in text
    (entry,) = lines(stream)
    assert entry["access_token"] == REDACTED
    assert entry["headers"] == {"Authorization": REDACTED}
    assert entry["session_cookie"] == REDACTED
    assert f"Bearer {REDACTED}" in entry["msg"]


def test_an_exception_becomes_a_field_of_the_same_line(stream: io.StringIO) -> None:
    try:
        raise ValueError("bad value from /callback?code=exc-s3cret")
    except ValueError:
        logging.getLogger("whoopkit.hosted.worker").exception("job failed", extra={"job": "refresh:7"})
    (entry,) = lines(stream)
    assert entry["level"] == "ERROR"
    assert entry["msg"] == "job failed"
    assert entry["exception"].startswith("Traceback (most recent call last):")
    assert "ValueError: bad value from /callback?code=REDACTED" in entry["exception"]
    assert "exc-s3cret" not in stream.getvalue()


def test_a_second_configuration_replaces_the_handler_instead_of_doubling_lines(stream: io.StringIO) -> None:
    second = io.StringIO()
    configure_json_logging("INFO", stream=second)
    logging.getLogger("whoopkit").info("once")
    logging.getLogger("whoopkit").debug("below the level")
    assert stream.getvalue() == ""
    assert [entry["msg"] for entry in lines(second)] == ["once"]


def test_an_unknown_level_is_refused_with_the_names_that_work() -> None:
    with pytest.raises(ValueError, match="DEBUG, INFO"):
        configure_json_logging("LOUD")


def test_odd_arguments_and_values_still_give_one_valid_line() -> None:
    record = logging.LogRecord("whoopkit", logging.INFO, __file__, 1, "%d apples", ("many",), None)
    record.when = object()
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["msg"].startswith("%d apples")
    assert entry["when"].startswith("<object object")
