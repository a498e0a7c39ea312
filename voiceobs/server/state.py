"""The shared, mutable state of one running server: mode, faults, admission and live calls."""

from __future__ import annotations

import contextlib
from typing import Protocol

import numpy as np

from voiceobs.audio.g711 import float_to_int16
from voiceobs.audio.tts import render_speech
from voiceobs.pipelines.base import Pipeline
from voiceobs.pipelines.faults import Faults
from voiceobs.server.config import ServerConfig
from voiceobs.server.metrics import ServerMetrics


class LiveCall(Protocol):
    """What the state needs of a call in progress: to be told when the mode changes."""

    async def enter_degraded(self) -> None: ...

    async def leave_degraded(self) -> None: ...


class ServerState:
    """Shared mutable state of one running server."""

    def __init__(self, config: ServerConfig, pipeline: Pipeline, metrics: ServerMetrics) -> None:
        self.config = config
        self.pipeline = pipeline
        self.metrics = metrics
        self.faults = config.faults
        self.mode = "normal"
        self.degraded_message = config.apology
        self.active = 0
        self.ready = False
        self.calls: set[LiveCall] = set()
        self._apology: dict[int, np.ndarray] = {}

    def admit(self, query_faults: Faults) -> tuple[str, str] | None:
        """None to accept; otherwise (metric reason, message) for the 503."""
        if self.faults.refuse or query_faults.refuse:
            return "fault", "voiceobs fault: refuse"
        if not self.ready:
            return "not_ready", "server is still loading its pipeline; retry shortly"
        if self.active >= self.config.max_calls:
            return "capacity", f"server at capacity ({self.config.max_calls} calls); retry later"
        return None

    def apology(self, sample_rate: int) -> np.ndarray:
        """The degraded-mode apology at the call's rate (rendered at startup)."""
        if sample_rate not in self._apology:
            audio = render_speech(self.config.apology, sample_rate)
            self._apology[sample_rate] = float_to_int16(audio)
        return self._apology[sample_rate]

    async def set_mode(self, mode: str) -> None:
        """Switch mode and tell every active call."""
        if mode == self.mode:
            return
        self.mode = mode
        for call in list(self.calls):
            with contextlib.suppress(Exception):
                if mode == "degraded":
                    await call.enter_degraded()
                else:
                    await call.leave_degraded()


__all__ = ["LiveCall", "ServerState"]
