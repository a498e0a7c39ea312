"""The caller's side of the wire protocols: what the probe sends, message by message."""

from __future__ import annotations

import json

import pytest

from voiceobs.probe.protocols import PcmWire, TwilioWire


def test_dtmf_messages_follow_twilio_media_streams() -> None:
    """As Twilio documents a ``dtmf`` message: event, streamSid, sequenceNumber, dtmf.track/digit."""
    wire = TwilioWire()
    connected, start = (json.loads(m) for m in wire.opening(None, {}))
    media = json.loads(wire.media(wire.silence(), 0))
    keys = [json.loads(wire.dtmf(d)) for d in "4#"]
    for msg, digit in zip(keys, "4#", strict=True):
        assert set(msg) == {"event", "streamSid", "sequenceNumber", "dtmf"}
        assert msg["event"] == "dtmf" and msg["streamSid"] == start["streamSid"]
        assert msg["dtmf"] == {"track": "inbound_track", "digit": digit}
        assert isinstance(msg["sequenceNumber"], str)
    # One sequence across every message of the stream, as Twilio numbers them.
    seqs = [int(m["sequenceNumber"]) for m in (start, media, *keys)]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert connected["event"] == "connected"


def test_raw_pcm_has_no_keypad() -> None:
    with pytest.raises(ValueError, match="protocol: twilio"):
        PcmWire().dtmf("1")
