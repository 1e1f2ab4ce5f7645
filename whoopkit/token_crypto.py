"""Encryption of WHOOP tokens at rest for hosted mode (Fernet, from the ``cryptography`` package).

``WHOOP_TOKEN_KEY`` holds one or more Fernet keys separated by commas, newest first. A blob is
encrypted under the first key and opened with any of them (``MultiFernet``), so a key rotation is:

1. prepend a new key: ``WHOOP_TOKEN_KEY=<new>,<old>`` (make one with ``python -m whoopkit.token_crypto``);
2. re-encrypt every row: ``if cipher.needs_rotation(blob): blob = cipher.rotate(blob, user_id=uid)``;
3. drop the old key: ``WHOOP_TOKEN_KEY=<new>``. Blobs that were not rotated stop opening then.

Fernet authenticates the ciphertext but has no associated data, so nothing in it ties a blob to the row
it sits in: somebody able to write the database could copy user A's blob into user B's row and make B's
requests run as A. So the payload carries the owner's WHOOP ``user_id`` inside the encrypted part
(``{"v": 1, "user_id": ..., "token": {...}}``), and :meth:`TokenCipher.decrypt` refuses a blob whose
owner is not the user it is read for. ``user_id`` is a required argument for that reason.

What Fernet leaves in clear: the blob's creation time (seconds) and roughly the token's length.
Errors never quote a key, a blob or a token; the cipher's repr only says how many keys it holds.
"""

from __future__ import annotations

import base64
import binascii
import json
import sys
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr, ValidationError

from whoopkit.config import Settings
from whoopkit.errors import TokenKeyError
from whoopkit.tokens import Token

#: The payload format written inside the ciphertext.
PAYLOAD_VERSION = 1
#: A token blob is well under 4 KB; anything much larger is refused without being decrypted.
MAX_BLOB_BYTES = 256 * 1024
#: A Fernet token: version (1), timestamp (8), IV (16), ciphertext (n x 16, n >= 1), HMAC (32).
_FERNET_VERSION = 0x80
_FERNET_OVERHEAD = 1 + 8 + 16 + 32
KEY_HELP = (
    "a key is 44 characters of URL-safe base64 encoding 32 random bytes; make one with "
    "`python -m whoopkit.token_crypto`, and separate several keys with commas, newest first"
)

Blob = bytes | bytearray | memoryview | str
UserId = int | str


def generate_key() -> str:
    """A new random Fernet key, as text for ``WHOOP_TOKEN_KEY``."""
    return Fernet.generate_key().decode("ascii")


def _parse_keys(keys: str | SecretStr) -> list[Fernet]:
    raw = keys.get_secret_value() if isinstance(keys, SecretStr) else keys
    parts = [part.strip() for part in raw.split(",")]
    parts = [part for part in parts if part]
    if not parts:
        raise TokenKeyError(f"WHOOP_TOKEN_KEY is empty: {KEY_HELP}.", reason="no_key")
    fernets = []
    for index, part in enumerate(parts, start=1):
        try:
            fernets.append(Fernet(part))
        except (ValueError, TypeError, binascii.Error):
            where = "" if len(parts) == 1 else f" (key {index} of {len(parts)})"
            raise TokenKeyError(
                f"WHOOP_TOKEN_KEY is not a valid Fernet key{where}: {KEY_HELP}.", reason="key_format"
            ) from None
    return fernets


def _as_bytes(blob: Blob) -> bytes:
    if isinstance(blob, str):
        try:
            return blob.encode("ascii")
        except UnicodeEncodeError:
            raise _corrupt("it is not ASCII text") from None
    if isinstance(blob, bytes | bytearray | memoryview):
        return bytes(blob)
    raise _corrupt(f"it is a {type(blob).__name__}, not bytes")


def _corrupt(why: str) -> TokenKeyError:
    return TokenKeyError(
        f"The stored encrypted WHOOP token is corrupt ({why}): the user has to log in again.",
        reason="corrupt",
    )


def _check_shape(data: bytes) -> None:
    """Refuse, before any decryption, what cannot be a Fernet token.

    Raises:
        TokenKeyError: reason ``corrupt``.
    """
    if len(data) > MAX_BLOB_BYTES:
        raise _corrupt(f"it is larger than {MAX_BLOB_BYTES // 1024} KB")
    try:
        raw = base64.b64decode(data, altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise _corrupt("it is not URL-safe base64") from None
    body = len(raw) - _FERNET_OVERHEAD
    if not raw or raw[0] != _FERNET_VERSION or body < 16 or body % 16:
        raise _corrupt("it is not a Fernet token")


def _no_matching_key() -> TokenKeyError:
    return TokenKeyError(
        "No key in WHOOP_TOKEN_KEY opens the stored WHOOP token: it was encrypted under a key that is no "
        "longer configured (put the old key back after the new one until every row is rotated), or it "
        "was altered.",
        reason="no_matching_key",
    )


def _describe(exc: ValidationError) -> str:
    # Only field names: pydantic's messages can quote the (secret) input.
    err = exc.errors()[0]
    field = ".".join(str(part) for part in err["loc"]) or "the object"
    return f"token field {field} is missing or invalid"


class TokenCipher:
    """Encrypts and decrypts tokens with the keys of ``WHOOP_TOKEN_KEY``, binding each to its user."""

    def __init__(self, keys: str | SecretStr) -> None:
        """Use ``keys``: one or more comma-separated Fernet keys, newest first.

        Raises:
            TokenKeyError: reason ``no_key`` (empty) or ``key_format`` (not Fernet keys).
        """
        fernets = _parse_keys(keys)
        self._primary = fernets[0]
        self._multi = MultiFernet(fernets)
        self.key_count = len(fernets)

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenCipher:
        """The cipher of ``settings.whoop_token_key``.

        Raises:
            TokenKeyError: reason ``no_key`` (unset) or ``key_format`` (not Fernet keys).
        """
        key = settings.whoop_token_key
        if key is None or not key.get_secret_value().strip():
            raise TokenKeyError(
                f"Hosted mode stores tokens encrypted and needs WHOOP_TOKEN_KEY: {KEY_HELP}.", reason="no_key"
            )
        return cls(key)

    def __repr__(self) -> str:
        """Only the number of keys."""
        return f"TokenCipher({self.key_count} key{'s' if self.key_count != 1 else ''})"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        """Refuse pickling, so a cipher never travels in a job's arguments."""
        raise TypeError("TokenCipher cannot be pickled: build it from WHOOP_TOKEN_KEY where it is used")

    def encrypt(self, token: Token, *, user_id: UserId) -> bytes:
        """The token encrypted under the newest key and bound to ``user_id``."""
        payload = {"v": PAYLOAD_VERSION, "user_id": str(user_id), "token": token.model_dump(mode="json")}
        return self._multi.encrypt(json.dumps(payload, separators=(",", ":")).encode("utf-8"))

    def decrypt(self, blob: Blob, *, user_id: UserId) -> Token:
        """The token in ``blob``, which must belong to ``user_id``.

        Raises:
            TokenKeyError: reason ``corrupt``, ``no_matching_key`` or ``wrong_user``.
        """
        data = _as_bytes(blob)
        _check_shape(data)
        try:
            plain = self._multi.decrypt(data)
        except InvalidToken:
            raise _no_matching_key() from None
        return self._open(plain, user_id)

    def needs_rotation(self, blob: Blob) -> bool:
        """Whether ``blob`` opens only with an older key (so :meth:`rotate` would change it).

        Raises:
            TokenKeyError: reason ``corrupt`` or ``no_matching_key``.
        """
        data = _as_bytes(blob)
        _check_shape(data)
        try:
            self._primary.decrypt(data)
        except InvalidToken:
            pass
        else:
            return False
        try:
            self._multi.decrypt(data)
        except InvalidToken:
            raise _no_matching_key() from None
        return True

    def rotate(self, blob: Blob, *, user_id: UserId) -> bytes:
        """``blob`` re-encrypted under the newest key (its timestamp kept), after checking its owner.

        Raises:
            TokenKeyError: reason ``corrupt``, ``no_matching_key`` or ``wrong_user``.
        """
        data = _as_bytes(blob)
        self.decrypt(data, user_id=user_id)
        return self._multi.rotate(data)

    @staticmethod
    def _open(plain: bytes, user_id: UserId) -> Token:
        try:
            payload = json.loads(plain.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise _corrupt("its content is not JSON") from None
        if not isinstance(payload, dict) or payload.get("v") != PAYLOAD_VERSION:
            raise _corrupt("it was not written by this version of whoopkit")
        owner, fields = payload.get("user_id"), payload.get("token")
        if not isinstance(owner, str) or not isinstance(fields, dict):
            raise _corrupt("its owner or its token is missing")
        if owner != str(user_id):
            raise TokenKeyError(
                "The stored WHOOP token belongs to another user than the one it was read for, so it was "
                "refused: the row was copied or mixed up; that user has to log in again.",
                reason="wrong_user",
            )
        try:
            return Token.model_validate(fields)
        except ValidationError as exc:
            raise _corrupt(_describe(exc)) from None


def main() -> None:
    """Print a new key for ``WHOOP_TOKEN_KEY`` (``python -m whoopkit.token_crypto``)."""
    sys.stdout.write(generate_key() + "\n")


if __name__ == "__main__":
    main()
