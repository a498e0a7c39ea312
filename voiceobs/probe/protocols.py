"""The caller's side of the two wire protocols a probe speaks.

Twilio Media Streams is followed as Twilio itself sends it (``connected``,
``start`` with ``mediaFormat`` and ``customParameters``, ``media`` with a
base64 mu-law payload, ``track``, ``chunk`` and ``timestamp``, ``mark``,
``stop``), so the same probe can call any bot that serves Twilio, not only
the reference pipelines. Raw PCM is the reference server's simpler protocol:
binary 16-bit little-endian 16 kHz frames between a JSON start and stop.

Outgoing media messages are built by string formatting from payloads encoded
once per prompt: the pacing loop must not spend its millisecond on JSON.
Incoming media is only validated as it arrives (JSON parsed with orjson, the
base64 checked); turning the codes into samples is left to ``decode``, which
the call runs over many frames at once, off the per-message path.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import orjson

from voiceobs.audio.g711 import mulaw_decode, mulaw_encode


class WireError(Exception):
    """The target sent something the protocol does not allow (a ``protocol_error``)."""


@dataclass
class Incoming:
    """One message from the target: media (its payload still encoded), a mark, a clear, or other."""

    kind: str  # "media" | "mark" | "clear" | "started" | "other"
    #: A media message's audio as the wire carries it (mu-law codes, or int16 LE bytes).
    payload: bytes | None = None
    name: str | None = None
    raw: dict[str, object] = field(default_factory=dict)


class WireProtocol(Protocol):
    """What a protocol client must provide to the call loop (an extension point)."""

    sample_rate: int
    #: Bytes per sample in a media payload (what ``decode`` turns into one int16).
    sample_width: int
    #: The event that acknowledges the start message (``connect_ms`` ends there), if any.
    ack_event: str | None

    def opening(self, traceparent: str | None, params: dict[str, str]) -> list[str | bytes]:
        """Messages that open the call, in order."""

    def media(self, payload: str | bytes, timestamp_ms: int) -> str | bytes:
        """One 20 ms caller frame, ready to send (payload pre-encoded by the prompt)."""

    def mark(self, name: str) -> str | None:
        """The reply to a target's mark (Twilio echoes it back once played); None if none."""

    def closing(self) -> list[str | bytes]:
        """Messages that end the call."""

    def dtmf(self, digit: str) -> str | bytes:
        """One keypad digit pressed by the caller."""

    def parse(self, message: str | bytes) -> Incoming:
        """Decode one message from the target; raises WireError on a protocol violation."""

    def silence(self) -> str | bytes:
        """The payload of one silent frame (what the caller sends between prompts)."""

    def decode(self, payload: bytes) -> np.ndarray:
        """Samples (int16) of one or more media payloads laid end to end."""


def _sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


class TwilioWire:
    """Twilio Media Streams, caller side (the side Twilio plays), mu-law 8 kHz mono."""

    sample_rate = 8000
    sample_width = 1
    #: Twilio bots never acknowledge ``start``.
    ack_event: str | None = None

    def __init__(self) -> None:
        self.stream_sid = _sid("MZ")
        self.call_sid = _sid("CA")
        self.account_sid = _sid("AC")
        self._seq = 0
        self._chunk = 0
        # One mu-law silence frame (code 0xFF is zero), encoded once.
        self._silence = base64.b64encode(
            mulaw_encode(np.zeros(160, dtype=np.int16)).tobytes()
        ).decode("ascii")
        self._prefix = '{"event":"media","sequenceNumber":"'
        self._mid = '","media":{"track":"inbound","chunk":"'

    def _next(self) -> int:
        self._seq += 1
        return self._seq

    def opening(self, traceparent: str | None, params: dict[str, str]) -> list[str | bytes]:
        """``connected`` then ``start`` with the media format and custom parameters."""
        custom = dict(params)
        if traceparent:
            custom["traceparent"] = traceparent
        connected = {"event": "connected", "protocol": "Call", "version": "1.0.0"}
        start = {
            "event": "start",
            "sequenceNumber": str(self._next()),
            "start": {
                "accountSid": self.account_sid,
                "streamSid": self.stream_sid,
                "callSid": self.call_sid,
                "tracks": ["inbound"],
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                "customParameters": custom,
            },
            "streamSid": self.stream_sid,
        }
        return [json.dumps(connected), json.dumps(start)]

    def media(self, payload: str | bytes, timestamp_ms: int) -> str:
        """A ``media`` event; base64 needs no JSON escaping, so formatting is safe."""
        self._chunk += 1
        return (
            f'{self._prefix}{self._next()}{self._mid}{self._chunk}","timestamp":"{timestamp_ms}",'
            f'"payload":"{payload!s}"}},"streamSid":"{self.stream_sid}"}}'
        )

    def mark(self, name: str) -> str:
        """Twilio sends a bot's mark back when the audio before it has played."""
        return json.dumps(
            {
                "event": "mark",
                "sequenceNumber": str(self._next()),
                "streamSid": self.stream_sid,
                "mark": {"name": name},
            }
        )

    def dtmf(self, digit: str) -> str:
        """A ``dtmf`` event, as Twilio sends one per key the caller presses (inbound track)."""
        return json.dumps(
            {
                "event": "dtmf",
                "streamSid": self.stream_sid,
                "sequenceNumber": str(self._next()),
                "dtmf": {"track": "inbound_track", "digit": digit},
            }
        )

    def closing(self) -> list[str | bytes]:
        """A ``stop`` event, as Twilio sends when the caller hangs up."""
        stop = {
            "event": "stop",
            "sequenceNumber": str(self._next()),
            "streamSid": self.stream_sid,
            "stop": {"accountSid": self.account_sid, "callSid": self.call_sid},
        }
        return [json.dumps(stop)]

    def silence(self) -> str:
        """A 20 ms mu-law silence payload."""
        return self._silence

    def decode(self, payload: bytes) -> np.ndarray:
        """mu-law codes to int16 samples."""
        return mulaw_decode(payload)

    def parse(self, message: str | bytes) -> Incoming:
        """Decode ``media``/``mark``/``clear``; anything malformed is a WireError."""
        if isinstance(message, bytes):
            raise WireError("binary frame on the Twilio Media Streams protocol (JSON text only)")
        try:
            data = orjson.loads(message)
        except orjson.JSONDecodeError:
            raise WireError(f"malformed JSON from the target: {message[:80]!r}") from None
        if not isinstance(data, dict):
            raise WireError("a Twilio message must be a JSON object")
        event = data.get("event")
        if event == "media":
            media = data.get("media")
            payload = media.get("payload") if isinstance(media, dict) else None
            if not isinstance(payload, str):
                raise WireError("media event without media.payload")
            try:
                codes = binascii.a2b_base64(payload, strict_mode=True)
            except (binascii.Error, ValueError):
                raise WireError("media payload is not valid base64") from None
            return Incoming("media", payload=codes, raw=data)
        if event == "mark":
            mark = data.get("mark")
            name = mark.get("name") if isinstance(mark, dict) else None
            return Incoming("mark", name=str(name) if name is not None else "", raw=data)
        if event == "clear":
            return Incoming("clear", raw=data)
        if not isinstance(event, str):
            raise WireError("message without an event field")
        return Incoming("other", raw=data)


class PcmWire:
    """The reference server's raw PCM protocol: JSON start/stop around binary int16 LE frames."""

    sample_rate = 16000
    sample_width = 2
    ack_event: str | None = "started"

    def __init__(self) -> None:
        self.call_id = _sid("call-")
        self._silence = np.zeros(320, dtype="<i2").tobytes()

    def opening(self, traceparent: str | None, params: dict[str, str]) -> list[str | bytes]:
        """The start message; a ``fault`` parameter is lifted to its own field as the server reads it."""
        params = dict(params)
        start: dict[str, object] = {
            "event": "start",
            "call_id": self.call_id,
            "sample_rate": self.sample_rate,
            "encoding": "pcm_s16le",
            "channels": 1,
        }
        fault = params.pop("voiceobs_fault", None) or params.pop("fault", None)
        if fault:
            start["fault"] = fault
        if traceparent:
            start["traceparent"] = traceparent
        start["params"] = params
        return [json.dumps(start)]

    def media(self, payload: str | bytes, timestamp_ms: int) -> bytes:
        """Binary frames are sent as they are."""
        return payload if isinstance(payload, bytes) else payload.encode()

    def mark(self, name: str) -> None:
        """Raw PCM has no marks to echo."""
        return None

    def dtmf(self, digit: str) -> str:
        """Raw PCM carries no keypad events (a spec with dtmf turns needs Twilio)."""
        raise ValueError("the raw PCM protocol has no dtmf messages; use protocol: twilio")

    def closing(self) -> list[str | bytes]:
        """The stop message."""
        return [json.dumps({"event": "stop", "call_id": self.call_id})]

    def silence(self) -> bytes:
        """A 20 ms int16 silence frame."""
        return self._silence

    def decode(self, payload: bytes) -> np.ndarray:
        """Little-endian int16 bytes to samples."""
        return np.frombuffer(payload, dtype="<i2").astype(np.int16)

    def parse(self, message: str | bytes) -> Incoming:
        """Binary messages are audio; text messages are JSON events (mark, clear, ...)."""
        if isinstance(message, bytes):
            if len(message) % 2:
                raise WireError(f"PCM frame of {len(message)} bytes is not whole 16-bit samples")
            return Incoming("media", payload=message)
        try:
            data = orjson.loads(message)
        except orjson.JSONDecodeError:
            raise WireError(f"malformed JSON from the target: {message[:80]!r}") from None
        if not isinstance(data, dict):
            raise WireError("a PCM control message must be a JSON object")
        event = data.get("event") or data.get("type")
        if event == "clear":
            return Incoming("clear", raw=data)
        if event == "mark":
            return Incoming("mark", name=str(data.get("name", "")), raw=data)
        if event == "started":
            return Incoming("started", raw=data)
        if event == "error":
            raise WireError(f"the target reported an error: {str(data.get('message', ''))[:120]}")
        return Incoming("other", raw=data)


def wire_for(protocol: str) -> WireProtocol:
    """A fresh protocol client for one call."""
    if protocol == "twilio":
        return TwilioWire()
    if protocol == "pcm":
        return PcmWire()
    raise ValueError(f"unknown protocol {protocol!r}")


__all__ = ["Incoming", "PcmWire", "TwilioWire", "WireError", "WireProtocol", "wire_for"]
