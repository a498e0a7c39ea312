"""Twilio Media Streams, served at ``ws://HOST:PORT/twilio``.

The server follows Twilio's public bidirectional Media Streams protocol, so
a probe written against this endpoint can call any bot that speaks it (and
Twilio itself could call this server). All messages are JSON text frames.

Caller -> server::

    {"event": "connected", "protocol": "Call", "version": "1.0.0"}            (optional, first)
    {"event": "start", "sequenceNumber": "1", "streamSid": "MZ...",
     "start": {"streamSid": "MZ...", "callSid": "CA...", "accountSid": "AC...",
               "tracks": ["inbound"],
               "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
               "customParameters": {"traceparent": "00-...-...-01",      (optional)
                                    "voiceobs_fault": "delay=300",        (optional)
                                    "voiceobs_codec": "{...json...}"}}}   (optional)
    {"event": "media", "sequenceNumber": "2", "streamSid": "MZ...",
     "media": {"track": "inbound", "chunk": "1", "timestamp": "20",
               "payload": "<base64 of exactly 160 mu-law bytes = 20 ms>"}}
    {"event": "mark", "streamSid": "MZ...", "mark": {"name": "..."}}      (playback receipts)
    {"event": "dtmf", "streamSid": "MZ...", "sequenceNumber": "5",
     "dtmf": {"track": "inbound_track", "digit": "1"}}                     (a key the caller pressed)
    {"event": "stop", "streamSid": "MZ...", "stop": {...}}                 -> server closes 1000

Server -> caller (``streamSid`` echoes the start message's)::

    {"event": "media", "streamSid": "MZ...", "media": {"payload": "<base64, 160 mu-law bytes>"}}
    {"event": "mark",  "streamSid": "MZ...", "mark": {"name": "voiceobs-reply-done"}}
    {"event": "clear", "streamSid": "MZ..."}                               (barge-in)

The server never acknowledges ``start`` (Twilio bots do not). Text events
are ``mark`` messages: ``voiceobs-reply-done`` after each complete agent
reply, ``voiceobs-degraded`` when the server is (or switches to) degraded
mode, followed by a spoken apology, and ``voiceobs-normal`` when it
switches back. Media on tracks other than ``inbound`` is ignored. Bad input
closes the call; see :mod:`voiceobs.server.calls` for the codes.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

import numpy as np

from voiceobs.audio.g711 import mulaw_decode, mulaw_encode
from voiceobs.errors import ConfigError
from voiceobs.pipelines.base import CallInfo
from voiceobs.pipelines.faults import Faults
from voiceobs.server.calls import (
    FAULT_PARAM,
    CallHandler,
    CallStopped,
    ProtocolViolation,
    extract_trace_context,
)
from voiceobs.server.outbound import Wire

#: mu-law bytes in one 20 ms media payload at 8 kHz.
PAYLOAD_BYTES = 160
DEGRADED_MARK = "voiceobs-degraded"
NORMAL_MARK = "voiceobs-normal"
_KNOWN = {"connected", "start", "media", "mark", "dtmf", "stop"}
#: The keys a Twilio caller can press.
DTMF_DIGITS = "0123456789*#ABCD"


class _TwilioWire:
    def __init__(self, handler: TwilioHandler) -> None:
        self._h = handler

    async def audio(self, frame: np.ndarray) -> None:
        payload = base64.b64encode(mulaw_encode(frame).tobytes()).decode("ascii")
        await self._h.send_json({"event": "media", "media": {"payload": payload}})

    async def clear(self) -> None:
        await self._h.send_json({"event": "clear"})

    async def mark(self, name: str) -> None:
        await self._h.send_json({"event": "mark", "mark": {"name": name}})

    async def mode(self, mode: str, message: str) -> None:
        await self.mark(DEGRADED_MARK if mode == "degraded" else NORMAL_MARK)

    def abort(self) -> None:
        self._h.abort()


class TwilioHandler(CallHandler):
    """One Twilio Media Streams call."""

    protocol = "twilio"
    stream_sid: str = ""

    def wire(self) -> Wire:
        """mu-law JSON encoder bound to this call's streamSid."""
        return _TwilioWire(self)

    async def send_json(self, message: dict[str, Any]) -> None:
        """Every outbound message carries the call's streamSid right after the event."""
        body = {"event": message["event"], "streamSid": self.stream_sid}
        body.update({k: v for k, v in message.items() if k != "event"})
        await self.send_text(json.dumps(body, separators=(",", ":")))

    async def on_bytes(self, data: bytes) -> None:
        """Twilio sends only text frames."""
        raise ProtocolViolation(
            1003,
            "binary_frame",
            "binary frames are not part of Twilio Media Streams; send JSON text",
        )

    async def on_text(self, text: str) -> None:
        """Dispatch one JSON message."""
        try:
            message = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ProtocolViolation(1007, "malformed_json", f"malformed JSON: {exc.msg}") from exc
        if not isinstance(message, dict) or not isinstance(message.get("event"), str):
            raise ProtocolViolation(1008, "no_event", "message must be a JSON object with 'event'")
        event = message["event"]
        if event not in _KNOWN:
            raise ProtocolViolation(1008, "unknown_event", f"unknown event {event[:40]!r}")
        if event == "start":
            await self._on_start(message)
        elif event == "media":
            await self._on_media(message)
        elif event == "dtmf":
            await self._on_dtmf(message)
        elif event == "stop":
            raise CallStopped()
        # connected, mark: valid, nothing to do.

    async def _on_dtmf(self, message: dict[str, Any]) -> None:
        """One keypad digit, as Twilio delivers it; the pipeline hears it if it listens for keys."""
        if self.info is None:
            raise ProtocolViolation(1008, "media_before_start", "dtmf before start")
        dtmf = message.get("dtmf")
        digit = dtmf.get("digit") if isinstance(dtmf, dict) else None
        if not isinstance(digit, str) or len(digit) != 1 or digit not in DTMF_DIGITS:
            raise ProtocolViolation(
                1008, "bad_dtmf", f"dtmf.digit must be one of {DTMF_DIGITS}, got {str(digit)[:10]!r}"
            )
        await self.on_dtmf(digit)

    async def _on_start(self, message: dict[str, Any]) -> None:
        if self.info is not None:
            raise ProtocolViolation(1008, "second_start", "second start message on one stream")
        start = message.get("start")
        if not isinstance(start, dict):
            raise ProtocolViolation(1008, "bad_start", "start message has no 'start' object")
        sid = message.get("streamSid") or start.get("streamSid")
        if not isinstance(sid, str) or not sid:
            raise ProtocolViolation(1008, "bad_start", "start message has no streamSid")
        fmt = start.get("mediaFormat")
        if not isinstance(fmt, dict) or (
            fmt.get("encoding") != "audio/x-mulaw"
            or int(fmt.get("sampleRate", 0) or 0) != 8000
            or int(fmt.get("channels", 1) or 1) != 1
        ):
            raise ProtocolViolation(
                1003, "media_format", "mediaFormat must be audio/x-mulaw, 8000 Hz, 1 channel"
            )
        params = start.get("customParameters") or {}
        if not isinstance(params, dict):
            raise ProtocolViolation(1008, "bad_start", "customParameters must be an object")
        params = {str(k): str(v) for k, v in params.items()}
        try:
            faults = Faults.parse(params.get(FAULT_PARAM))
        except ConfigError as exc:
            raise ProtocolViolation(1008, "bad_fault", str(exc)) from exc
        self.stream_sid = sid
        info = CallInfo(
            call_id=str(start.get("callSid") or self.call_id),
            protocol=self.protocol,
            sample_rate=8000,
            trace_context=extract_trace_context(
                params.get("traceparent"), params.get("tracestate")
            ),
            params=params,
        )
        await self.begin_call(info, faults)

    async def _on_media(self, message: dict[str, Any]) -> None:
        if self.info is None:
            raise ProtocolViolation(1008, "media_before_start", "media before start")
        media = message.get("media")
        if not isinstance(media, dict) or not isinstance(media.get("payload"), str):
            raise ProtocolViolation(1008, "bad_media", "media message has no media.payload")
        if media.get("track", "inbound") != "inbound":
            return
        try:
            raw = base64.b64decode(media["payload"], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ProtocolViolation(
                1007, "bad_base64", "media.payload is not valid base64"
            ) from exc
        if len(raw) != PAYLOAD_BYTES:
            raise ProtocolViolation(
                1007,
                "payload_size",
                f"media.payload must be {PAYLOAD_BYTES} bytes (20 ms mu-law), got {len(raw)}",
            )
        await self.on_audio(mulaw_decode(raw))


__all__ = ["DEGRADED_MARK", "DTMF_DIGITS", "NORMAL_MARK", "PAYLOAD_BYTES", "TwilioHandler"]
