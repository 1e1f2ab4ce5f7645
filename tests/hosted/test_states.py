"""Hosted OAuth states on a real Redis: bound to the browser, single-use across processes, expiring."""

from __future__ import annotations

import redis

from whoopkit.errors import WhoopUnavailableError
from whoopkit.hosted.states import RedisLoginStates


def test_a_state_issued_by_one_web_process_is_accepted_once_by_another(redis_url: str) -> None:
    first, second = RedisLoginStates(redis_url), RedisLoginStates(redis_url)
    state, cookie = first.issue()
    assert second.matches(state, cookie)
    assert second.consume(state, cookie)
    assert not first.consume(state, cookie)
    assert not second.matches(state, cookie)


def test_a_state_without_its_browsers_cookie_or_never_issued_is_refused(redis_url: str) -> None:
    states = RedisLoginStates(redis_url)
    state, _cookie = states.issue()
    other_state, other_cookie = states.issue()
    assert not states.consume(state, other_cookie)
    assert not states.consume(state, None)
    assert not states.consume(None, None)
    assert not states.consume("made-up", "made-up")
    assert states.consume(other_state, other_cookie)
    assert states.consume(state, state)


def test_redis_holds_a_digest_of_the_state_with_a_ten_minute_expiry(redis_url: str) -> None:
    state, _ = RedisLoginStates(redis_url).issue()
    client = redis.Redis.from_url(redis_url)
    keys = [key.decode() for key in client.keys("whoopkit:oauth_state:*")]
    assert len(keys) == 1 and state not in keys[0]
    assert 0 < client.pttl(keys[0]) <= 600_000
    client.close()


def test_an_unreachable_redis_is_a_clear_error_not_a_traceback() -> None:
    states = RedisLoginStates("redis://127.0.0.1:1/0", socket_timeout=0.5)
    try:
        states.issue()
    except WhoopUnavailableError as exc:
        assert "session store is not reachable" in str(exc)
    else:
        raise AssertionError("issue() must fail without Redis")
    assert states.matches("s", None) is False
