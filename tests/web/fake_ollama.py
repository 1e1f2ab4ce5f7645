"""A small fake Ollama HTTP server on loopback, so tests run the REAL ``ollama`` client against it.

Implements ``/api/chat`` (non-streaming JSON and NDJSON streaming), ``/api/tags`` and ``/api/version``,
and answers 404 ``{"error": "model 'x' not found"}`` for a model it does not have.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import anyio
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

DEFAULT_REPLY = {
    "summary": "Recovery is solid and HRV sits near your 30-day baseline.",
    "recommendations": ["Keep today's strain moderate.", "Aim for eight hours in bed tonight."],
    "flags": [{"level": "info", "message": "Resting heart rate is stable."}],
}
CREATED_AT = "2026-01-01T00:00:00Z"


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class FakeOllama:
    """State of the fake: which models exist, what the model says, what was asked."""

    models: set[str] = field(default_factory=lambda: {"llama3.2"})
    reply: str = json.dumps(DEFAULT_REPLY)
    requests: list[dict[str, Any]] = field(default_factory=list)
    delay: float = 0.0  # seconds before answering /api/chat (to exercise client timeouts)
    url: str = ""  # set once the server runs
    raw: bytes | None = None  # when set, /api/chat answers 200 with these bytes (not Ollama's JSON)
    trickle: float = 0.0  # when set, /api/chat sends its answer one byte per this many seconds

    def reset(self) -> None:
        """Back to one model (llama3.2), the default answer, no delay, no recorded requests."""
        self.models = {"llama3.2"}
        self.reply = json.dumps(DEFAULT_REPLY)
        self.delay = 0.0
        self.raw = None
        self.trickle = 0.0
        self.requests.clear()

    def app(self) -> Starlette:
        """The ASGI app serving the Ollama endpoints."""

        async def chat(request: Request) -> Response:
            body = await request.json()
            self.requests.append(body)
            if self.delay:
                await anyio.sleep(self.delay)
            if self.raw is not None:
                return Response(self.raw, media_type="text/html")
            model = str(body.get("model", ""))
            if model not in self.models:
                return JSONResponse({"error": f"model '{model}' not found"}, status_code=404)
            if body.get("stream", True):
                return StreamingResponse(self._stream(model), media_type="application/x-ndjson")
            answer = JSONResponse(self._message(model, self.reply, done=True))
            if self.trickle:
                return StreamingResponse(
                    self._drip(bytes(answer.body), self.trickle), media_type="application/json"
                )
            return answer

        async def tags(request: Request) -> Response:
            return JSONResponse(
                {"models": [{"name": f"{m}:latest", "model": f"{m}:latest", "size": 1} for m in self.models]}
            )

        async def version(request: Request) -> Response:
            return JSONResponse({"version": "0.0.0-fake"})

        return Starlette(
            routes=[
                Route("/api/chat", chat, methods=["POST"]),
                Route("/api/tags", tags),
                Route("/api/version", version),
            ]
        )

    @staticmethod
    def _message(model: str, content: str, *, done: bool) -> dict[str, Any]:
        part: dict[str, Any] = {
            "model": model,
            "created_at": CREATED_AT,
            "message": {"role": "assistant", "content": content},
            "done": done,
        }
        if done:
            part.update(done_reason="stop", total_duration=1, eval_count=1, prompt_eval_count=1)
        return part

    async def _drip(self, body: bytes, interval: float) -> AsyncIterator[bytes]:
        # Stops dripping once reset, so a test that gave up does not leave a connection busy for long.
        for i in range(len(body)):
            if self.trickle:
                await anyio.sleep(interval)
            yield body[i : i + 1]

    async def _stream(self, model: str) -> AsyncIterator[bytes]:
        # Split the reply into a few chunks the way a real model streams tokens.
        step = max(1, len(self.reply) // 4)
        for i in range(0, len(self.reply), step):
            yield (json.dumps(self._message(model, self.reply[i : i + step], done=False)) + "\n").encode()
        yield (json.dumps(self._message(model, "", done=True)) + "\n").encode()


class ServerThread:
    """Run an ASGI app with uvicorn on a free loopback port in a daemon thread."""

    def __init__(self, app: Any, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="auto")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = threading.Event()
        for _ in range(500):
            if self.server.started:
                return self
            deadline.wait(0.01)
        raise RuntimeError("server did not start within 5 s")

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
