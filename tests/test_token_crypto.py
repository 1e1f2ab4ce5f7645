"""Tokens encrypted at rest for hosted mode: round trip, key rotation, user binding, no leaks."""

from __future__ import annotations

import base64
import logging
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from tests.conftest import make_settings
from whoopkit.errors import ConfigError, TokenKeyError
from whoopkit.logs import RedactSecretsFilter
from whoopkit.token_crypto import TokenCipher, generate_key
from whoopkit.tokens import Token

ACCESS = "acc-PLAINTEXT-4f9d2c"
REFRESH = "ref-PLAINTEXT-8b1e77"


def make_token() -> Token:
    """A token whose secrets are easy to spot in bytes."""
    return Token(
        access_token=ACCESS,
        refresh_token=REFRESH,
        expires_in=3600,
        scope="offline read:sleep",
        expires_at=1_700_003_600.0,
    )


def assert_no_secret(text: str | bytes, *secrets: str) -> None:
    """None of ``secrets`` (nor the plaintext tokens) occurs in ``text``."""
    data = text.encode() if isinstance(text, str) else text
    for secret in (ACCESS, REFRESH, *secrets):
        assert secret.encode() not in data


def test_round_trip_and_the_blob_hides_the_tokens() -> None:
    key = generate_key()
    cipher = TokenCipher(key)
    blob = cipher.encrypt(make_token(), user_id=42)
    assert_no_secret(blob, key)
    assert_no_secret(base64.urlsafe_b64decode(blob))
    assert cipher.decrypt(blob, user_id=42) == make_token()
    assert cipher.decrypt(blob.decode(), user_id="42") == make_token()
    assert cipher.decrypt(memoryview(blob), user_id=42) == make_token()
    assert not cipher.needs_rotation(blob)


def test_rotation_reencrypts_under_the_new_key_and_then_the_old_key_is_not_needed() -> None:
    old, new = generate_key(), generate_key()
    old_blob = TokenCipher(old).encrypt(make_token(), user_id=7)
    both = TokenCipher(f"{new}, {old}")
    assert both.decrypt(old_blob, user_id=7) == make_token()
    assert both.needs_rotation(old_blob)
    rotated = both.rotate(old_blob, user_id=7)
    assert rotated != old_blob
    assert not both.needs_rotation(rotated)
    assert TokenCipher(new).decrypt(rotated, user_id=7) == make_token()
    # Fresh blobs go under the newest key too.
    assert TokenCipher(new).decrypt(both.encrypt(make_token(), user_id=7), user_id=7) == make_token()
    with pytest.raises(TokenKeyError) as caught:
        TokenCipher(old).decrypt(rotated, user_id=7)
    assert caught.value.reason == "no_matching_key"
    with pytest.raises(TokenKeyError) as caught:
        TokenCipher(new).decrypt(old_blob, user_id=7)
    assert caught.value.reason == "no_matching_key"
    assert_no_secret(str(caught.value), old, new)


def test_a_blob_of_user_a_is_refused_for_user_b() -> None:
    cipher = TokenCipher(generate_key())
    blob_a = cipher.encrypt(make_token(), user_id=1001)
    for action in (
        lambda: cipher.decrypt(blob_a, user_id=1002),
        lambda: cipher.rotate(blob_a, user_id=1002),
    ):
        with pytest.raises(TokenKeyError) as caught:
            action()
        assert caught.value.reason == "wrong_user"
        assert_no_secret(str(caught.value))


@pytest.mark.parametrize(
    ("keys", "reason"),
    [
        ("", "no_key"),
        (" , ", "no_key"),
        ("not-a-key-SECRETISH", "key_format"),
        (base64.urlsafe_b64encode(b"short-SECRETISH").decode(), "key_format"),
        (f"{Fernet.generate_key().decode()},oops-SECRETISH", "key_format"),
    ],
)
def test_a_malformed_key_is_explained_without_echoing_it(keys: str, reason: str) -> None:
    with pytest.raises(TokenKeyError) as caught:
        TokenCipher(keys)
    assert caught.value.reason == reason
    assert isinstance(caught.value, ConfigError)
    message = str(caught.value)
    assert "SECRETISH" not in message
    assert "WHOOP_TOKEN_KEY" in message
    assert "python -m whoopkit.token_crypto" in message
    if "," in keys and reason == "key_format":
        assert "key 2 of 2" in message
        assert keys.split(",")[0] not in message


def test_a_corrupt_or_foreign_blob_gives_a_clear_error_without_the_blob() -> None:
    key = generate_key()
    cipher = TokenCipher(key)
    good = cipher.encrypt(make_token(), user_id=5)
    raw = bytearray(base64.urlsafe_b64decode(good))
    raw[40] ^= 0x01  # a flipped ciphertext bit: the HMAC no longer matches
    tampered = base64.urlsafe_b64encode(bytes(raw))
    not_ours = Fernet(key).encrypt(b'{"access_token": "x"}')  # authentic, but not a whoopkit payload
    cases = {
        b"": "corrupt",
        b"garbage!!!SECRETISH": "corrupt",
        good[:-8]: "corrupt",
        b"A" * 300_000: "corrupt",
        "é-SECRETISH": "corrupt",
        tampered: "no_matching_key",
        not_ours: "corrupt",
    }
    for blob, reason in cases.items():
        with pytest.raises(TokenKeyError) as caught:
            cipher.decrypt(blob, user_id=5)
        assert caught.value.reason == reason, blob[:20]
        message = str(caught.value)
        assert_no_secret(message, key, "SECRETISH")
        text = blob.decode("utf-8") if isinstance(blob, bytes) else blob
        if len(text) >= 8:
            assert text[:40] not in message
    with pytest.raises(TokenKeyError) as caught:
        cipher.needs_rotation(tampered)
    assert caught.value.reason == "no_matching_key"


def test_repr_str_and_pickle_never_show_keys_or_tokens(tmp_path: Path, clean_env: None) -> None:
    key = generate_key()
    settings = make_settings(tmp_path, WHOOP_TOKEN_KEY=key)
    assert settings.whoop_token_key is not None
    assert settings.whoop_token_key.get_secret_value() == key
    cipher = TokenCipher.from_settings(settings)
    for text in (
        repr(cipher),
        str(cipher),
        repr(settings),
        str(settings),
        repr(make_token()),
        str(make_token()),
    ):
        assert_no_secret(text, key)
    assert repr(cipher) == "TokenCipher(1 key)"
    with pytest.raises(TypeError):
        pickle.dumps(cipher)


def test_hosted_mode_without_a_key_says_how_to_make_one(tmp_path: Path, clean_env: None) -> None:
    settings = make_settings(tmp_path)
    assert settings.whoop_token_key is None
    with pytest.raises(TokenKeyError) as caught:
        TokenCipher.from_settings(settings)
    assert caught.value.reason == "no_key"
    assert "python -m whoopkit.token_crypto" in str(caught.value)


def test_the_key_helper_prints_a_usable_key() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "whoopkit.token_crypto"], capture_output=True, text=True, check=True
    ).stdout.strip()
    cipher = TokenCipher(out)
    assert cipher.decrypt(cipher.encrypt(make_token(), user_id=1), user_id=1) == make_token()
    assert generate_key() != generate_key()


def test_a_log_line_carrying_a_token_in_a_query_string_is_redacted() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s "%s"',
        ("1.2.3.4", f"GET /x?access_token={ACCESS}"),
        None,
    )
    RedactSecretsFilter().filter(record)
    assert_no_secret(record.getMessage())
