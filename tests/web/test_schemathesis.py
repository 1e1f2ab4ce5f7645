"""Schemathesis over every route and method of the web app: no request, however odd, gets a 5xx.

The app serves no ``/openapi.json`` (``openapi_url=None``), so the schema comes from ``app.openapi()``.
The routes read their query values, cookies and form fields from the request rather than declaring
them, so FastAPI's schema lists no parameters; ``openapi_of`` adds the ones each route reads, and the
headers the security checks read, so that schemathesis fuzzes them too (its coverage phase adds
boundary values, repeated query values and unexpected methods). The run is seeded and derandomized,
so it sends the same requests every time.

Two states: the demo logged in (the in-process fake WHOOP behind it, a generated ``POST /logout``
undone before the next request), and real mode logged out. ``Host`` is not fuzzed there (nearly
every value is a plain 421); odd ones are sent directly below.
"""

from __future__ import annotations

import copy
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from tests.conftest import FAKE_NOW, make_settings
from tests.web.conftest import BASE_URL, REDIRECT_URI, Clock
from tests.web.fake_ollama import FakeOllama
from whoopkit.config import Settings
from whoopkit.fake_whoop import FakeWhoop, create_fake_whoop
from whoopkit.runtime import DEMO_TOKEN_FILE
from whoopkit.tokens import Token, TokenStore
from whoopkit.web.app import create_app
from whoopkit.web.routers.auth import STATE_COOKIE

RANGE_VIEW = ("days", "format")
# What each route reads from the query string (besides the security middleware's access_token,
# which only a remote setup reads).
QUERY_BY_PATH: dict[str, tuple[str, ...]] = {
    "/": ("logged_out", "deleted"),
    "/callback": ("state", "code", "error", "error_description"),
    "/cycles-view": RANGE_VIEW,
    "/workouts-view": RANGE_VIEW,
    "/sleep-view": RANGE_VIEW,
    "/recovery-view": RANGE_VIEW,
    "/ai-insights-view": ("wait",),
    "/what-affects-my-recovery": ("days", "outcome"),
}
COOKIES_BY_PATH: dict[str, tuple[str, ...]] = {"/callback": (STATE_COOKIE,)}
FORM_BY_PATH: dict[str, tuple[str, ...]] = {"/logout": ("delete_data", "csrf_token")}
# Read on every request by the cross-site checks (of the data pages and of the logout form).
HEADERS = ("Origin", "Sec-Fetch-Site", "Sec-Fetch-Mode")
# Values that mean something to the app, so that generation reaches them besides arbitrary text.
MEANINGFUL: dict[str, list[str]] = {
    "days": ["7", "28", "365", "366", "all"],
    "outcome": ["recovery", "hrv", "rhr"],
    "format": ["csv"],
    "wait": ["1"],
    "error": ["access_denied"],
    "delete_data": ["1"],
    "Origin": ["null", "http://evil.example"],
    "Sec-Fetch-Site": ["cross-site", "none"],
    "Sec-Fetch-Mode": ["navigate"],
}

SECURITY_HEADERS = ("content-security-policy", "x-frame-options", "x-content-type-options", "referrer-policy")

CONFIG = schemathesis.Config.from_dict(
    {
        "seed": 9,
        "generation": {"mode": "all", "max-examples": 8, "deterministic": True},
        "phases": {"stateful": {"enabled": False}},
        "checks": {"enabled": False, "not_a_server_error": {"enabled": True}},
        # HEAD runs its GET route: random cases for it, but the boundary cases only once, for GET.
        "operations": [{"include-method": "HEAD", "phases": {"coverage": {"enabled": False}}}],
    }
)
_ENV_NAMES = [field.alias for field in Settings.model_fields.values() if field.alias]


def _text(name: str) -> dict[str, Any]:
    if name in MEANINGFUL:
        return {"anyOf": [{"enum": MEANINGFUL[name]}, {"type": "string"}]}
    return {"type": "string"}


def _optional(name: str, where: str) -> dict[str, Any]:
    return {"name": name, "in": where, "required": False, "schema": _text(name)}


def openapi_of(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document, with the query values, cookies, form fields and headers it reads."""
    with warnings.catch_warnings():
        # HEAD shares its GET route's operation ID; the IDs are made unique below.
        warnings.filterwarnings("ignore", message="Duplicate Operation ID", category=UserWarning)
        doc = copy.deepcopy(app.openapi())
    paths: dict[str, dict[str, Any]] = doc["paths"]
    unknown = (QUERY_BY_PATH.keys() | COOKIES_BY_PATH.keys() | FORM_BY_PATH.keys()) - paths.keys()
    assert not unknown, f"routes this test describes are gone: {sorted(unknown)}"
    for path, operations in paths.items():
        for method, operation in operations.items():
            operation["operationId"] = f"{method}_{path}"
            operation["parameters"] = [
                *operation.get("parameters", []),
                *(_optional(name, "query") for name in QUERY_BY_PATH.get(path, ())),
                *(_optional(name, "cookie") for name in COOKIES_BY_PATH.get(path, ())),
                *(_optional(name, "header") for name in HEADERS),
            ]
            if path in FORM_BY_PATH:
                fields = {name: _text(name) for name in FORM_BY_PATH[path]}
                operation["requestBody"] = {
                    "required": False,
                    "content": {
                        "application/x-www-form-urlencoded": {
                            "schema": {"type": "object", "properties": fields}
                        }
                    },
                }
    return doc


@dataclass
class Target:
    """The app under test in one state, and how to put its login back after a generated logout."""

    client: TestClient
    fake: FakeWhoop
    token_file: Path | None  # None: logged out on purpose

    def keep_logged_in(self) -> None:
        """Save a fresh token again if a generated ``POST /logout`` went through."""
        if self.token_file is not None and not self.token_file.exists():
            token = Token.from_response(self.fake.issue_token(), now=time.time())
            TokenStore(self.token_file).save(token)


@pytest.fixture(scope="module", params=["demo-logged-in", "logged-out"])
def target(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, fake_ollama: FakeOllama
) -> Iterator[Target]:
    """The app in one state: one app (and lifespan) per state, shared by every operation's test."""
    state: str = request.param
    demo = state.startswith("demo")
    with pytest.MonkeyPatch.context() as env:
        for name in _ENV_NAMES:
            env.delenv(name, raising=False)
        fake_ollama.reset()
        app_settings = make_settings(
            tmp_path_factory.mktemp(state),
            WHOOP_REDIRECT_URI=REDIRECT_URI,
            OLLAMA_HOST=fake_ollama.url,
            OLLAMA_TIMEOUT=10,
            WHOOP_SYNC_INTERVAL=0,
        )
        fake = create_fake_whoop(
            client_id="demo-client", client_secret="demo-secret", auto_approve=True, now=FAKE_NOW
        )
        token_file = app_settings.whoop_data_dir / DEMO_TOKEN_FILE if demo else None
        app = create_app(app_settings, demo=demo, fake=fake, clock=Clock(FAKE_NOW))
        # A 500 comes back as a response, so that schemathesis reports it with the request that caused it.
        client = TestClient(app, base_url=BASE_URL, follow_redirects=False, raise_server_exceptions=False)
        with client:
            target = Target(client=client, fake=fake, token_file=token_file)
            target.keep_logged_in()
            if demo:
                assert client.get("/dashboard").status_code == 200
            yield target


def httpx_kwargs(case: schemathesis.Case[Any]) -> dict[str, Any]:
    """The case as ``TestClient.request`` arguments (schemathesis serialises it for ``requests``)."""
    kwargs = case.as_transport_kwargs(base_url=BASE_URL)
    # httpx deprecates per-request cookies and raw bytes as ``data``: send them as they go on the wire.
    cookies = kwargs.pop("cookies", None) or {}
    if cookies:
        kwargs["headers"]["Cookie"] = "; ".join(f"{name}={value}" for name, value in cookies.items())
    if isinstance(kwargs.get("data"), bytes | str):
        kwargs["content"] = kwargs.pop("data")
    return kwargs


def _schema() -> schemathesis.BaseSchema:
    # The route table does not depend on the settings, so any will do; nothing is started or written.
    schema_settings = make_settings(Path(tempfile.gettempdir()) / "whoopkit-schema", HOST="127.0.0.1")
    return schemathesis.openapi.from_dict(openapi_of(create_app(schema_settings)), config=CONFIG)


schema = _schema()


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None)
def test_no_generated_request_to_any_route_gets_a_server_error(
    case: schemathesis.Case[Any], target: Target
) -> None:
    target.keep_logged_in()
    response = target.client.request(**httpx_kwargs(case))
    case.validate_response(response, checks=[not_a_server_error])
    missing = [h for h in SECURITY_HEADERS if h not in response.headers]
    assert not missing, (
        f"{case.method} {case.formatted_path} answered {response.status_code} without {missing}"
    )


ODD_HOSTS = [
    "[::1",
    "[::1]:",
    "[::1]:port",
    "localhost:99999",
    "localhost:-1",
    "localhost:",
    "[",
    "]",
    "",
    "localhost@evil.example",
    "[fe80::1%25eth0]",
    "127.0.0.1:0",
    "x" * 300,
    "l\u00f3calhost",
]


@pytest.mark.parametrize("host", ODD_HOSTS, ids=lambda host: repr(host)[:24])
def test_an_odd_host_header_never_gets_a_server_error_and_keeps_the_security_headers(
    target: Target, host: str
) -> None:
    # As bytes: a server hands on whatever octets arrived, ASCII or not.
    response = target.client.get("/dashboard", headers={b"host": host.encode("latin-1")})
    assert response.status_code < 500, f"Host {host!r}: {response.status_code} {response.text[:200]}"
    missing = [h for h in SECURITY_HEADERS if h not in response.headers]
    assert not missing, f"Host {host!r} answered {response.status_code} without {missing}"


class BreakableClock(Clock):
    """The app's clock, which a test can make raise (a bug no handler expects)."""

    broken = False

    def __call__(self) -> datetime:
        if self.broken:
            raise RuntimeError("the clock broke")
        return super().__call__()


def test_an_unexpected_error_is_a_500_page_that_still_has_the_security_headers(
    web_settings: Settings, fake: FakeWhoop
) -> None:
    clock = BreakableClock(FAKE_NOW)
    app = create_app(web_settings, fake=fake, clock=clock)
    TokenStore(web_settings.whoop_token_cache).save(Token.from_response(fake.issue_token(), now=time.time()))
    with TestClient(app, base_url=BASE_URL, follow_redirects=False, raise_server_exceptions=False) as client:
        clock.broken = True
        response = client.get("/cycles-view")
    assert response.status_code == 500
    assert "Something went wrong" in response.text
    assert "RuntimeError" not in response.text and "the clock broke" not in response.text
    missing = [h for h in SECURITY_HEADERS if h not in response.headers]
    assert not missing, f"the 500 page lacks {missing}"
