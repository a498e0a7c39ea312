"""IP addresses: public ones go, loopback and unspecified stay."""

from __future__ import annotations

from voiceobs.redact import Redactor


def test_ips() -> None:
    r = Redactor(use_env=False)
    assert r.redact_text("client 203.0.113.7 and 2001:db8::1 left") == "client [IP] and [IP] left"
    assert (
        r.redact_text("my IP is one nine two dot one six eight dot one dot two") == "my IP is [IP]"
    )
    kept = "listening on 127.0.0.1:8000, [::1]:9000 and 0.0.0.0:80"
    assert r.redact_text(kept) == kept
