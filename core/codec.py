"""Encrypts every payload that goes through Temporal (workflow inputs, activity arguments and results,
updates, signals, queries, memos) with AES-256-GCM, so that whoever can read Temporal's database or Web
UI sees ciphertext. The API's codec endpoint (api/routes/codec.py) lets signed-in operators decode them in
the Web UI.

Each encrypted payload names the key it was sealed with (`encryption-key-id`), so keys can be rotated:
new payloads use the current key, older ones decode with the key they name. Payloads from before
encryption (no key id) pass through as they are, so earlier histories still replay.

Workflows carry ids and enums, not personal data (texts live in the database); this is the second lock.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import os
from collections.abc import Sequence

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes, PayloadCodec

from core.config import Settings

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
NONCE_BYTES = 12


class UnknownKey(ValueError):
    """A payload sealed with a key this service does not have (a key removed too soon)."""


class EncryptionCodec(PayloadCodec):
    def __init__(self, keys: dict[str, bytes], current: str) -> None:
        if current not in keys:
            raise ValueError(f"the current payload key {current!r} is not among the keys")
        for key_id, key in keys.items():
            if len(key) != 32:
                raise ValueError(f"payload key {key_id!r} must be 32 bytes (AES-256), not {len(key)}")
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self._current = current

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.seal(payload) for payload in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.open(payload) for payload in payloads]

    def seal(self, payload: Payload) -> Payload:
        nonce = os.urandom(NONCE_BYTES)
        key_id = self._current.encode()
        # The key id is bound to the ciphertext as associated data: it cannot be swapped for another.
        sealed = self._ciphers[self._current].encrypt(nonce, payload.SerializeToString(), key_id)
        return Payload(metadata={"encoding": ENCODING, KEY_ID: key_id}, data=nonce + sealed)

    def open(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload  # from before encryption
        key_id = payload.metadata.get(KEY_ID, b"").decode()
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise UnknownKey(
                f"no payload key {key_id!r}: keep old keys in PAYLOAD_KEYS until no history uses them"
            )
        nonce, sealed = payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:]
        return Payload.FromString(cipher.decrypt(nonce, sealed, key_id.encode()))


def payload_keys(settings: Settings) -> tuple[dict[str, bytes], str]:
    """The payload keys and the current key's id.

    `PAYLOAD_KEYS` is `id:base64key,id:base64key` with the current key first (32 random bytes each, e.g.
    `openssl rand -base64 32`). Without it (development and tests), one key is derived from SECRET_KEY;
    production refuses to start without PAYLOAD_KEYS (see core/config.py).
    """
    if settings.payload_keys:
        keys: dict[str, bytes] = {}
        for entry in settings.payload_keys.split(","):
            key_id, _, encoded = entry.strip().partition(":")
            if not key_id or not encoded:
                raise ValueError("PAYLOAD_KEYS must be id:base64key pairs separated by commas")
            keys[key_id] = base64.b64decode(encoded, validate=True)
        return keys, next(iter(keys))
    derived = hashlib.sha256(b"community-trigger payload key|" + settings.secret_key.encode()).digest()
    return {"derived": derived}, "derived"


def codec_for(settings: Settings) -> EncryptionCodec:
    keys, current = payload_keys(settings)
    return EncryptionCodec(keys, current)


def data_converter_for(settings: Settings) -> DataConverter:
    """Pydantic models as JSON, then encrypted: what the API, the worker and the tests use."""
    # Failures too: an error's message and stack trace (a database error quotes its parameters) go into
    # histories and pending activities encoded, so through the codec like any payload.
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=codec_for(settings),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
