"""A tiny in-memory WHOOP token endpoint for httpx.MockTransport, with refresh-token rotation.

It behaves like WHOOP for the parts tokens/oauth care about: refresh tokens rotate, a reused
refresh token gets 400 ``invalid_grant``, and faults can be queued (``fail_next``).
"""

from __future__ import annotations

import json
import secrets
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import parse_qs

import httpx

ALL_SCOPES = "read:recovery read:cycles read:workout read:sleep read:profile read:body_measurement offline"


@dataclass
class MiniOAuth:
    """State of the fake token endpoint; ``transport()`` gives the MockTransport."""

    client_id: str = "demo-client"
    client_secret: str = "demo-secret"
    ttl: int = 3600
    refresh_tokens: set[str] = field(default_factory=set)
    access_tokens: set[str] = field(default_factory=set)
    codes: set[str] = field(default_factory=set)
    grants: Counter[str] = field(default_factory=Counter)
    invalid_grants: int = 0
    requests: list[httpx.Request] = field(default_factory=list)
    faults: list[httpx.Response | Exception] = field(default_factory=list)

    def mint(
        self, *, ttl: int | None = None, scope: str = ALL_SCOPES, refresh: bool = True
    ) -> dict[str, object]:
        """A token response as the token endpoint would send it."""
        access = "at-" + secrets.token_hex(12)
        self.access_tokens.add(access)
        body: dict[str, object] = {
            "access_token": access,
            "token_type": "bearer",
            "expires_in": self.ttl if ttl is None else ttl,
            "scope": scope,
        }
        if refresh:
            rt = "rt-" + secrets.token_hex(12)
            self.refresh_tokens.add(rt)
            body["refresh_token"] = rt
        return body

    def issue_code(self) -> str:
        """An authorization code the endpoint will accept once."""
        code = "code-" + secrets.token_hex(8)
        self.codes.add(code)
        return code

    def fail_next(self, fault: httpx.Response | Exception) -> None:
        """Answer the next token request with ``fault`` (a response, or an exception to raise)."""
        self.faults.append(fault)

    def _error(self, status: int, error: str, description: str = "") -> httpx.Response:
        body = {"error": error}
        if description:
            body["error_description"] = description
        return httpx.Response(status, json=body)

    def handle(self, request: httpx.Request) -> httpx.Response:
        """The MockTransport handler."""
        self.requests.append(request)
        if self.faults:
            fault = self.faults.pop(0)
            if isinstance(fault, Exception):
                raise fault
            return fault
        if request.method == "DELETE" and request.url.path.endswith("/v2/user/access"):
            token = request.headers.get("authorization", "").removeprefix("Bearer ")
            if token not in self.access_tokens:
                return httpx.Response(401)
            self.access_tokens.discard(token)
            return httpx.Response(204)
        if request.method != "POST" or not request.url.path.endswith("/token"):
            return httpx.Response(404)
        form = {k: v[0] for k, v in parse_qs(request.content.decode("utf-8")).items()}
        grant = form.get("grant_type", "")
        self.grants[grant] += 1
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return self._error(401, "invalid_client")
        if grant == "refresh_token":
            rt = form.get("refresh_token", "")
            if rt not in self.refresh_tokens:
                self.invalid_grants += 1
                return self._error(400, "invalid_grant", "The refresh token is malformed or not valid.")
            self.refresh_tokens.discard(rt)
            return httpx.Response(200, json=self.mint())
        if grant == "authorization_code":
            code = form.get("code", "")
            if code not in self.codes:
                self.invalid_grants += 1
                return self._error(400, "invalid_grant")
            self.codes.discard(code)
            return httpx.Response(200, json=self.mint())
        return self._error(400, "unsupported_grant_type")

    def transport(self) -> httpx.MockTransport:
        """A transport routing every request to :meth:`handle`."""
        return httpx.MockTransport(self.handle)


def form_of(request: httpx.Request) -> dict[str, str]:
    """The form fields of a recorded request."""
    return {k: v[0] for k, v in parse_qs(request.content.decode("utf-8")).items()}


def dumps(data: object) -> str:
    """JSON text (for writing token files by hand)."""
    return json.dumps(data)
