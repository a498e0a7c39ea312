"""Each platform's signature scheme, checked against what its docs and SDK produce."""

from __future__ import annotations

import hashlib
import hmac
import time

import pytest

from voiceobs.collect.webhooks import (
    configured_secrets,
    sign_retell,
    sign_vapi,
    verify_retell,
    verify_vapi,
)

BODY = b'{"event":"call_analyzed","call":{"call_id":"c1"}}'
KEY = "key_live_5e9d"


def _retell_sdk_signature(body: str, api_key: str, ms: int) -> str:
    """What retell-sdk's ``sign``/``verify`` pair agree on: HMAC-SHA256(key, body + ms), hex."""
    digest = hmac.new(api_key.encode(), (body + str(ms)).encode(), hashlib.sha256).hexdigest()
    return f"v={ms},d={digest}"


def test_retell_accepts_its_sdk_signature_and_refuses_changes() -> None:
    now = time.time()
    ms = int(now * 1000)
    header = _retell_sdk_signature(BODY.decode(), KEY, ms)
    assert header == sign_retell(BODY, KEY, now)
    assert verify_retell({"x-retell-signature": header}, BODY, KEY, now)
    assert not verify_retell({"x-retell-signature": header}, BODY + b" ", KEY, now)
    assert not verify_retell({"x-retell-signature": header}, BODY, "other", now)
    assert not verify_retell({"x-retell-signature": header}, BODY, KEY, now + 301)  # five minutes
    assert verify_retell({"x-retell-signature": header}, BODY, KEY, now + 299)
    for bad in ("", "garbage", f"v={ms}", f"d={header.split('d=')[1]}", header.replace("v=", "v=x")):
        assert not verify_retell({"x-retell-signature": bad}, BODY, KEY, now)
    assert not verify_retell({}, BODY, KEY, now)


def test_vapi_schemes() -> None:
    now = time.time()
    secret = "vapi-secret-8c2"
    assert verify_vapi({"x-vapi-secret": secret}, BODY, secret, now)
    assert verify_vapi({"x-vapi-signature": secret}, BODY, secret, now)  # the "secret token" credential
    assert verify_vapi({"authorization": f"Bearer {secret}"}, BODY, secret, now)
    hex_digest = hmac.new(secret.encode(), BODY, hashlib.sha256).hexdigest()
    assert sign_vapi(BODY, secret) == hex_digest
    assert verify_vapi({"x-vapi-signature": hex_digest}, BODY, secret, now)
    assert verify_vapi({"x-vapi-signature": "sha256=" + hex_digest}, BODY, secret, now)
    assert not verify_vapi({"x-vapi-signature": hex_digest}, BODY + b"x", secret, now)
    stamp = str(int(now))
    plan = hmac.new(secret.encode(), stamp.encode() + b"." + BODY, hashlib.sha256).hexdigest()
    assert verify_vapi({"x-signature": plan, "x-timestamp": stamp}, BODY, secret, now)
    assert verify_vapi({"x-signature": plan, "x-timestamp": stamp}, BODY, secret, now + 200)
    assert not verify_vapi({"x-signature": plan, "x-timestamp": stamp}, BODY, secret, now + 400)
    assert not verify_vapi({"x-signature": plan, "x-timestamp": str(int(now) + 1)}, BODY, secret, now)
    for headers in ({}, {"x-vapi-secret": "nope"}, {"authorization": "Basic " + secret}, {"x-vapi-signature": ""}):
        assert not verify_vapi(headers, BODY, secret, now)


def test_secrets_come_from_settings_not_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    assert configured_secrets() == {"vapi": None, "retell": None}
    monkeypatch.setenv("VOICEOBS_VAPI_SECRET", "s1")
    monkeypatch.setenv("VOICEOBS_RETELL_API_KEY", "k1")
    assert configured_secrets() == {"vapi": "s1", "retell": "k1"}
