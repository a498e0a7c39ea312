"""URLs: credentials by parameter name, personal data by content, the rest kept readable."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlsplit

import pytest

from voiceobs.redact import Redactor
from voiceobs.redact.urls import decode


@pytest.fixture
def plain() -> Redactor:
    return Redactor(use_env=False)


ISSUE_URL = (
    "ws://127.0.0.1:8765/twilio?email=jane.doe@example.com&card=4111111111111111"
    "&token=SECRETTOKEN123"
)


def test_the_issue_url(plain: Redactor) -> None:
    out = plain.redact_url(ISSUE_URL)
    assert out == "ws://127.0.0.1:8765/twilio?email=[EMAIL]&card=[CARD]&token=[SECRET]"
    parts = urlsplit(out)  # still a URL: scheme, loopback host, port and path as they were
    assert (parts.scheme, parts.hostname, parts.port, parts.path) == (
        "ws",
        "127.0.0.1",
        8765,
        "/twilio",
    )
    assert dict(parse_qsl(parts.query)) == {
        "email": "[EMAIL]",
        "card": "[CARD]",
        "token": "[SECRET]",
    }


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        # credentials by name, whatever they look like
        ("https://api.example.com/x?api_key=abc", "https://api.example.com/x?api_key=[SECRET]"),
        (
            "https://h.example.com/?Access-Token=a&page=2",
            "https://h.example.com/?Access-Token=[SECRET]&page=2",
        ),
        (
            "https://s3.example.com/o?X-Amz-Signature=ff00&X-Amz-Expires=300",
            "https://s3.example.com/o?X-Amz-Signature=[SECRET]&X-Amz-Expires=300",
        ),
        (
            "https://h.example.com/cb?code=4/0AX4XfWh&state=xyz",
            "https://h.example.com/cb?code=[SECRET]&state=xyz",
        ),
        ("https://h.example.com/?my_session_id=9", "https://h.example.com/?my_session_id=[SECRET]"),
        (
            "https://h.example.com/#access_token=ya29.a0Af&expires_in=3599",
            "https://h.example.com/#access_token=[SECRET]&expires_in=3599",
        ),
        # userinfo
        (
            "wss://bot:hunter2@voice.example.com:8443/s",
            "wss://bot:[SECRET]@voice.example.com:8443/s",
        ),
        ("postgres://app:pw@127.0.0.1:5432/db", "postgres://app:[SECRET]@127.0.0.1:5432/db"),
        (
            "https://ghp_16C7e42F292c6912E7710c83@github.com/o/r.git",
            "https://[SECRET]@github.com/o/r.git",
        ),
        ("ftp://jane.doe@example.com@files.example.com/", "ftp://[EMAIL]@files.example.com/"),
        # personal data by content, decoded
        (
            "https://h.example.com/?email=jane.doe%40example.com",
            "https://h.example.com/?email=[EMAIL]",
        ),
        (
            "https://h.example.com/?q=call+me+on+415-555-1212",
            "https://h.example.com/?q=call+me+on+[PHONE]",
        ),
        ("https://h.example.com/?to=%2B14155551212", "https://h.example.com/?to=[PHONE]"),
        (
            "https://h.example.com/v1/users/jane.doe@example.com/calls",
            "https://h.example.com/v1/users/[EMAIL]/calls",
        ),
        ("https://h.example.com/calls/+14155551212", "https://h.example.com/calls/[PHONE]"),
        # personal data by name, when content alone would not tell
        (
            "https://h.example.com/?name=Priya&phone=5551212",
            "https://h.example.com/?name=[NAME]&phone=[PHONE]",
        ),
        # hosts: loopback and names kept, other addresses redacted
        ("http://10.1.2.3:8080/x", "http://[IP]:8080/x"),
        ("http://[2001:db8::1]:9000/x", "http://[[IP]]:9000/x"),
    ],
)
def test_redact_url(plain: Redactor, url: str, expected: str) -> None:
    assert plain.redact_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "ws://127.0.0.1:8765/twilio",
        "http://localhost:8000/health?verbose=1",
        "wss://[::1]:9000/stream",
        "https://docs.example.com/guide?page=2&lang=en#install",
        "https://example.com/a/b/c.html",
        "",
    ],
)
def test_urls_without_personal_data_come_back_unchanged(plain: Redactor, url: str) -> None:
    assert plain.redact_url(url) is url


def test_a_url_inside_a_url_is_followed(plain: Redactor) -> None:
    url = (
        "https://app.example.com/login?next=%2Fhome&redirect_uri="
        "https%3A%2F%2Fcb.example.com%2F%3Ftoken%3Dabcdef123456%26email%3Djane%2540example.com"
    )
    out = plain.redact_url(url)
    assert "abcdef123456" not in out and "jane" not in out
    assert out.startswith(
        "https://app.example.com/login?next=%2Fhome&redirect_uri=https%3A%2F%2Fcb"
    )
    assert "token%3D[SECRET]" in out


def test_keyed_secrets_correlate_without_showing(plain: Redactor) -> None:
    keyed = Redactor(b"k", use_env=False)
    a = keyed.redact_url("https://h.example.com/?token=abc")
    b = keyed.redact_url("https://other.example.com/?api_key=abc")
    tag = re.search(r"\[SECRET:[0-9a-f]{8}\]", a)
    assert tag is not None and tag.group(0) in b


def test_urls_in_text_and_attributes_are_redacted(plain: Redactor) -> None:
    text = f"connect to {ISSUE_URL}, then retry."
    assert plain.redact_text(text) == (
        "connect to ws://127.0.0.1:8765/twilio?email=[EMAIL]&card=[CARD]&token=[SECRET], then retry."
    )
    out = plain.redact_attributes({"voiceobs.target": ISSUE_URL, "url.full": ISSUE_URL})
    assert set(out.values()) == {plain.redact_url(ISSUE_URL)}
    assert "SECRETTOKEN123" not in str(out)


def test_ports_and_paths_are_not_mistaken_for_numbers(plain: Redactor) -> None:
    for url in ("ws://127.0.0.1:65000/a/2024-01-15/b", "https://h.example.com:8443/v1/2/3/4/5/6/7"):
        assert plain.redact_text(f"target {url} ok") == f"target {url} ok"


@pytest.mark.parametrize(
    ("raw", "plus", "text"),
    [
        ("a%40b", False, "a@b"),
        ("a+b", True, "a b"),
        ("a+b", False, "a+b"),
        ("%E2%82%AC1", False, "€1"),
        ("%zz", False, "%zz"),
    ],
)
def test_decode_keeps_offsets(raw: str, plus: bool, text: str) -> None:
    decoded, offsets = decode(raw, plus=plus)
    assert decoded == text
    assert len(offsets) == len(decoded) + 1 and offsets[-1] == len(raw)
    assert offsets == sorted(offsets)
