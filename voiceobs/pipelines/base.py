"""The contract between the streaming server and a voice pipeline.

The server owns the sockets and the wire formats (Twilio mu-law JSON, raw
PCM); a pipeline only ever sees 20 ms frames of int16 linear audio at the
call's sample rate and answers through a :class:`CallSink`. Keeping the two
apart is what lets one pipeline serve both protocols and lets a user's own
bot implement the same two small protocols to sit behind the same server.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
from opentelemetry.context import Context

from voiceobs.pipelines.faults import Faults

#: Every frame on every path is 20 ms long.
FRAME_MS = 20


def frame_samples(sample_rate: int) -> int:
    """Samples in one 20 ms frame at ``sample_rate``."""
    return sample_rate * FRAME_MS // 1000


@dataclass
class CallInfo:
    """What a pipeline knows about the call it serves.

    ``trace_context`` carries the caller's W3C trace context so the stage
    spans join the caller's trace; ``params`` are the caller's custom
    parameters (Twilio ``customParameters`` or the PCM start message's
    ``params``), which pipelines may read for per-call configuration;
    ``faults`` are the call's faults (server-wide merged with per-call).
    """

    call_id: str
    protocol: str
    sample_rate: int
    trace_context: Context | None = None
    params: dict[str, str] = field(default_factory=dict)
    #: The call's faults (the server's and this call's own), for pipelines that act on them.
    faults: Faults = field(default_factory=Faults)


class CallSink(Protocol):
    """Where a pipeline sends what the caller should hear or be told."""

    async def send_audio(self, frame: np.ndarray) -> None:
        """Queue one 20 ms int16 frame at the call's rate for the caller."""

    async def clear(self) -> None:
        """Drop queued audio and tell the caller to stop playback (barge-in)."""

    async def send_event(self, name: str) -> None:
        """Send a named text event (Twilio ``mark``; PCM ``{"event": "mark"}``)."""


class Session(Protocol):
    """One call's pipeline state."""

    async def on_audio(self, frame: np.ndarray) -> None:
        """Take one inbound 20 ms int16 frame; must not block for long."""

    async def close(self) -> None:
        """The call ended: stop background work and release resources.

        A session that takes keypad input also has ``async def on_dtmf(digit)``
        (Twilio ``dtmf`` messages); the server calls it when present.
        """


@runtime_checkable
class Pipeline(Protocol):
    """A voice pipeline: loads its models once, then opens one session per call."""

    name: str

    async def load(self) -> None:
        """Load models and warm caches; the server is ready only after this."""

    def open_session(self, call: CallInfo, sink: CallSink) -> Session:
        """Start serving one call."""

    async def aclose(self) -> None:
        """Release shared resources (background schedulers) at shutdown."""


__all__ = ["FRAME_MS", "CallInfo", "CallSink", "Pipeline", "Session", "frame_samples"]
