"""The review tests reuse the web and deadline fixtures of the suite (re-exported for this folder)."""

from tests.test_deadlines import loopback_fake, pool  # noqa: F401
from tests.web.conftest import authed, client, fake_ollama, ollama, web_settings  # noqa: F401
