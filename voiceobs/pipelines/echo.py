"""The ``echo`` pipeline: every inbound frame goes straight back out.

It is the transport baseline: whatever latency or quality loss a probe
measures against ``echo`` is the network, the protocol and the codec, not a
model. Frames are returned unchanged, so on the Twilio path the mu-law codes
come back bit for bit.
"""

from __future__ import annotations

import numpy as np

from voiceobs.pipelines.base import CallInfo, CallSink, Session


class EchoSession:
    """Sends each frame back as soon as it arrives."""

    def __init__(self, sink: CallSink) -> None:
        self._sink = sink

    async def on_audio(self, frame: np.ndarray) -> None:
        """Return the frame unchanged."""
        await self._sink.send_audio(frame)

    async def close(self) -> None:
        """Nothing to release."""


class EchoPipeline:
    """Loopback with no model and no state."""

    name = "echo"

    async def load(self) -> None:
        """Nothing to load."""

    def open_session(self, call: CallInfo, sink: CallSink) -> Session:
        """One stateless echo per call."""
        return EchoSession(sink)

    async def aclose(self) -> None:
        """Nothing to release."""


__all__ = ["EchoPipeline", "EchoSession"]
