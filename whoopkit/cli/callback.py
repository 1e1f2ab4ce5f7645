"""A one-shot HTTP listener for WHOOP's OAuth redirect (``whoopkit setup`` without the web app)."""

from __future__ import annotations

import html
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

PAGE = (
    "<!doctype html><meta charset='utf-8'><title>whoopkit</title>"
    "<body style='font-family:sans-serif;max-width:36em;margin:4em auto'><h1>{title}</h1><p>{body}</p>"
)


@dataclass(frozen=True)
class CallbackResult:
    """What WHOOP sent to the redirect URI: a code, or an error code, and the state."""

    code: str | None
    state: str | None
    error: str | None


def _bind_host(host: str) -> tuple[int, str]:
    if host in ("localhost", "127.0.0.1", ""):
        return socket.AF_INET, "127.0.0.1"
    if host == "::1":
        return socket.AF_INET6, "::1"
    return (socket.AF_INET6 if ":" in host else socket.AF_INET), host


def web_app_answers(origin: str, timeout: float = 1.0) -> bool:
    """Whether an HTTP server (presumably the web app) answers at ``origin``."""
    try:
        with httpx.Client(timeout=timeout) as http:
            http.get(origin + "/")
    except httpx.HTTPError:
        return False
    return True


class CallbackListener:
    """Serves ``path`` on ``host:port`` until the first request to it, in a background thread."""

    def __init__(self, host: str, port: int, path: str, notify: Callable[[], None] | None = None) -> None:
        """Prepare (not start) a listener for ``http://host:port/path``; ``notify`` runs on the callback."""
        self.host, self.port, self.path = host, port, path or "/"
        self._notify = notify
        self.result: CallbackResult | None = None
        self._received = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Bind the port and serve in a daemon thread.

        Raises:
            OSError: the port is taken or cannot be bound.
        """
        family, bind = _bind_host(self.host)
        listener = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "whoopkit-setup"

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path != listener.path:
                    self._answer(404, "Not found", "This is whoopkit setup's login listener.")
                    return
                query = parse_qs(parts.query)
                first = {key: values[0] for key, values in query.items() if values}
                result = CallbackResult(first.get("code"), first.get("state"), first.get("error"))
                if result.code:
                    self._answer(200, "Logged in", "You can close this tab and go back to the terminal.")
                else:
                    why = html.escape(result.error or "no authorization code")
                    self._answer(400, "Login failed", f"WHOOP answered: {why}. See the terminal.")
                listener._deliver(result)

            def _answer(self, status: int, title: str, body: str) -> None:
                payload = PAGE.format(title=html.escape(title), body=body).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                # The query string carries the authorization code: never log requests.
                return

        class Server(ThreadingHTTPServer):
            address_family = family
            daemon_threads = True

        self._server = Server((bind, self.port), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="whoopkit-callback", daemon=True
        )
        self._thread.start()

    def _deliver(self, result: CallbackResult) -> None:
        if not self._received.is_set():
            self.result = result
            self._received.set()
            if self._notify is not None:
                self._notify()

    def wait(self, timeout: float) -> CallbackResult | None:
        """The first callback, or None after ``timeout`` seconds (blocking; run it in a thread)."""
        self._received.wait(timeout)
        return self.result

    def close(self) -> None:
        """Stop serving and free the port."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
