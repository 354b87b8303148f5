"""Payloads through Temporal are encrypted (AES-256-GCM) with rotatable keys, earlier unencrypted ones
still decode, and operators decode histories through the codec endpoint, audited."""

from __future__ import annotations

import base64
import os

import pytest
from cryptography.exceptions import InvalidTag
from google.protobuf import json_format
from sqlalchemy import select
from temporalio.api.common.v1 import Payload, Payloads

from core.codec import ENCODING, KEY_ID, EncryptionCodec, UnknownKey, codec_for, payload_keys
from core.config import Settings
from db.models import AuditEntry
from db.seed import development_api_key
from tests.support import CaseService

KEY_1, KEY_2 = os.urandom(32), os.urandom(32)


def plain(text: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=f'"{text}"'.encode())


async def test_seal_and_open_with_rotated_keys() -> None:
    old = EncryptionCodec({"k1": KEY_1}, "k1")
    sealed_with_k1 = (await old.encode([plain("Threshold met")]))[0]
    assert sealed_with_k1.metadata["encoding"] == ENCODING
    assert sealed_with_k1.metadata[KEY_ID] == b"k1"
    assert b"Threshold met" not in sealed_with_k1.data

    rotated = EncryptionCodec({"k2": KEY_2, "k1": KEY_1}, "k2")
    sealed_with_k2 = (await rotated.encode([plain("Letter 3")]))[0]
    assert sealed_with_k2.metadata[KEY_ID] == b"k2"
    # The new key seals; the old one still opens what it sealed; unencrypted payloads pass through.
    opened = await rotated.decode([sealed_with_k1, sealed_with_k2, plain("from before encryption")])
    assert [payload.data for payload in opened] == [
        b'"Threshold met"',
        b'"Letter 3"',
        b'"from before encryption"',
    ]

    with pytest.raises(UnknownKey, match="k2"):
        await old.decode([sealed_with_k2])
    tampered = Payload()
    tampered.CopyFrom(sealed_with_k1)
    tampered.data = tampered.data[:-1] + bytes([tampered.data[-1] ^ 1])
    with pytest.raises(InvalidTag):
        await old.decode([tampered])
    # The key id is bound to the ciphertext: relabelling a payload does not open it.
    relabelled = Payload()
    relabelled.CopyFrom(sealed_with_k1)
    relabelled.metadata[KEY_ID] = b"k2"
    with pytest.raises(InvalidTag):
        await rotated.decode([relabelled])


def test_payload_keys_from_settings() -> None:
    encoded = base64.b64encode(KEY_2).decode()
    keys, current = payload_keys(
        Settings(payload_keys=f"new:{encoded}, old:{base64.b64encode(KEY_1).decode()}")
    )
    assert current == "new" and keys == {"new": KEY_2, "old": KEY_1}
    with pytest.raises(ValueError, match="32 bytes"):
        codec_for(Settings(payload_keys=f"short:{base64.b64encode(b'x' * 16).decode()}"))
    with pytest.raises(ValueError, match="id:base64key"):
        payload_keys(Settings(payload_keys="no-colon"))


async def test_codec_endpoint_decodes_for_operators_and_audits(service: CaseService) -> None:
    codec = codec_for(service.settings)
    sealed = await codec.encode([plain("Panel decision recorded")])
    body = json_format.MessageToJson(Payloads(payloads=sealed))
    headers = {
        "Content-Type": "application/json",
        "X-Namespace": "default",
        "Origin": "http://localhost:8233",
    }

    # Development: the local Web UI decodes without a key (CORS for its origin).
    decoded = await service.api.post("/codec/decode", content=body, headers=headers)
    assert decoded.status_code == 200, decoded.text
    assert decoded.headers["Access-Control-Allow-Origin"] == "http://localhost:8233"
    payloads = json_format.Parse(decoded.text, Payloads()).payloads
    assert [payload.data for payload in payloads] == [b'"Panel decision recorded"']
    with service.sessions() as session:
        audited = session.scalars(select(AuditEntry).where(AuditEntry.action == "decode_payloads")).all()
        assert audited and "1 payloads" in (audited[-1].detail or "")

    # A SPOC's key is not an operator's.
    spoc = {**headers, "Authorization": f"Bearer {development_api_key('blaby')}"}
    refused = await service.api.post("/codec/decode", content=body, headers=spoc)
    assert refused.status_code == 403
    broken = await service.api.post("/codec/decode", content="not json", headers=headers)
    assert broken.status_code == 400
