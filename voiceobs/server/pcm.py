"""Raw PCM over WebSocket, served at ``ws://HOST:PORT/pcm``.

For bots and probes that skip telephony: wideband audio, no codec, no
base64. Audio is binary frames of 16-bit signed little-endian mono PCM at
16 000 Hz, exactly 20 ms each (320 samples = **640 bytes**); control
messages are JSON text frames.

Caller -> server:

1. First, a start message (text)::

       {"event": "start",
        "sample_rate": 16000, "encoding": "pcm_s16le", "channels": 1,   (these values only)
        "call_id": "any string",                                        (optional)
        "traceparent": "00-<trace id>-<span id>-01",                    (optional, W3C)
        "tracestate": "...",                                            (optional)
        "fault": "delay=300,garble",                                    (optional, see faults)
        "params": {"voiceobs_codec": "{...}"}}                          (optional, str -> str)

2. Then binary audio frames, 640 bytes each, paced in real time.
3. Optionally ``{"event": "stop"}`` (text): the server closes with 1000.

Server -> caller:

* ``{"event": "started", "call_id": "...", "sample_rate": 16000, "frame_bytes": 640,
  "mode": "normal"}`` (text) right after a valid start: the protocol start
  acknowledgement (``connect_ms`` ends here);
* binary reply audio, 640-byte frames in the same format;
* text events: ``{"event": "clear"}`` (barge-in: drop buffered playback),
  ``{"event": "mark", "name": "voiceobs-reply-done"}`` (after each complete
  agent reply), ``{"event": "mode", "mode": "degraded", "message": "..."}``
  when the server is, or switches to, degraded mode (a spoken apology
  follows as audio), and ``{"event": "mode", "mode": "normal", "message": ""}``
  when it switches back.

Bad input closes the call (codes in :mod:`voiceobs.server.calls`): a
binary frame before ``start`` or a second ``start`` -> 1008, a frame that is
not 640 bytes or malformed JSON -> 1007, an unsupported format -> 1003, an
unknown event -> 1008.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from voiceobs.errors import ConfigError
from voiceobs.pipelines.base import CallInfo
from voiceobs.pipelines.faults import Faults
from voiceobs.server.calls import CallHandler, CallStopped, ProtocolViolation, extract_trace_context
from voiceobs.server.outbound import Wire

SAMPLE_RATE = 16000
FRAME_BYTES = 640


class _PcmWire:
    def __init__(self, handler: PcmHandler) -> None:
        self._h = handler

    async def audio(self, frame: np.ndarray) -> None:
        await self._h.send_bytes(frame.astype("<i2").tobytes())

    async def clear(self) -> None:
        await self._h.send_text(json.dumps({"event": "clear"}))

    async def mark(self, name: str) -> None:
        await self._h.send_text(json.dumps({"event": "mark", "name": name}))

    async def mode(self, mode: str, message: str) -> None:
        await self._h.send_text(json.dumps({"event": "mode", "mode": mode, "message": message}))

    def abort(self) -> None:
        self._h.abort()


class PcmHandler(CallHandler):
    """One raw-PCM call."""

    protocol = "pcm"

    def wire(self) -> Wire:
        """Binary PCM plus JSON text events."""
        return _PcmWire(self)

    async def on_bytes(self, data: bytes) -> None:
        """One 20 ms audio frame."""
        if self.info is None:
            raise ProtocolViolation(1008, "media_before_start", "audio before the start message")
        if len(data) != FRAME_BYTES:
            raise ProtocolViolation(
                1007, "payload_size", f"audio frames must be {FRAME_BYTES} bytes, got {len(data)}"
            )
        await self.on_audio(np.frombuffer(data, dtype="<i2").astype(np.int16))

    async def on_text(self, text: str) -> None:
        """start, stop, or a caller event."""
        try:
            message = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ProtocolViolation(1007, "malformed_json", f"malformed JSON: {exc.msg}") from exc
        if not isinstance(message, dict) or not isinstance(message.get("event"), str):
            raise ProtocolViolation(1008, "no_event", "message must be a JSON object with 'event'")
        event = message["event"]
        if event == "start":
            await self._on_start(message)
        elif event == "stop":
            raise CallStopped()
        elif event == "mark":
            return
        else:
            raise ProtocolViolation(1008, "unknown_event", f"unknown event {event[:40]!r}")

    async def _on_start(self, message: dict[str, Any]) -> None:
        if self.info is not None:
            raise ProtocolViolation(1008, "second_start", "second start message on one call")
        if (
            message.get("sample_rate", SAMPLE_RATE) != SAMPLE_RATE
            or message.get("encoding", "pcm_s16le") != "pcm_s16le"
            or message.get("channels", 1) != 1
        ):
            raise ProtocolViolation(
                1003, "media_format", "PCM calls must be pcm_s16le, 16000 Hz, 1 channel"
            )
        params = message.get("params") or {}
        if not isinstance(params, dict):
            raise ProtocolViolation(1008, "bad_start", "params must be an object of strings")
        params = {str(k): str(v) for k, v in params.items()}
        try:
            faults = Faults.parse(message.get("fault") or params.get("voiceobs_fault"))
        except ConfigError as exc:
            raise ProtocolViolation(1008, "bad_fault", str(exc)) from exc
        call_id = str(message.get("call_id") or self.call_id)
        info = CallInfo(
            call_id=call_id,
            protocol=self.protocol,
            sample_rate=SAMPLE_RATE,
            trace_context=extract_trace_context(
                message.get("traceparent"), message.get("tracestate")
            ),
            params=params,
        )
        ack = {
            "event": "started",
            "call_id": call_id,
            "sample_rate": SAMPLE_RATE,
            "frame_bytes": FRAME_BYTES,
            "mode": self.state.mode,
        }
        await self.send_text(json.dumps(ack))
        await self.begin_call(info, faults)


__all__ = ["FRAME_BYTES", "SAMPLE_RATE", "PcmHandler"]
