"""The seams hosted mode plugs into: the service reaches the login only through ``TokenAccess``."""

from __future__ import annotations

import dataclasses

import pytest

from whoopkit.errors import ConfigError
from whoopkit.runtime import Whoop
from whoopkit.tokens import TokenManager

pytestmark = pytest.mark.anyio


async def test_the_local_runtime_keeps_its_login_in_the_token_file(whoop: Whoop) -> None:
    assert isinstance(whoop.tokens, TokenManager)
    assert whoop.store is whoop.tokens.store
    assert whoop.tokens.exists()


async def test_a_runtime_whose_logins_live_elsewhere_says_it_has_no_token_file(whoop: Whoop) -> None:
    elsewhere = dataclasses.replace(whoop, tokens=object())  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="database, not in a token file"):
        _ = elsewhere.store


async def test_logging_out_removes_the_token_file_through_the_token_access(whoop: Whoop) -> None:
    token = whoop.tokens.current()
    whoop.tokens.delete()
    assert not whoop.tokens.exists()
    whoop.tokens.save_login(token)
    assert whoop.tokens.current().access_token == token.access_token
