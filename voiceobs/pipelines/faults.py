"""Deterministic fault injection, so probes and SLOs can be tested against real failures.

A fault set is written as a comma-separated list of ``name`` or
``name=value`` items, e.g. ``delay=300,garble``. It can be set

* per server: ``voiceobs serve --fault delay=300`` (or ``VOICEOBS_FAULT``), or
  at run time with ``POST /admin/fault {"fault": "stall"}`` (admin token);
* per call, in the URL query string: ``ws://host:port/twilio?voiceobs_fault=refuse``
  (the only way to ask for ``refuse``, since it acts before any message);
* per call, in the start message: Twilio ``start.customParameters.voiceobs_fault``
  or the PCM start field ``"fault"``.

Per-call faults are added to the server's. Every fault is deterministic (no
randomness, or a fixed seed), and each maps to one failure class a probe is
expected to report:

=================  ===========================================================  ====================
fault              what the server does                                         probe should see
=================  ===========================================================  ====================
``delay=MS``       holds every outbound message (audio, marks, clear) MS ms     slower ttfb/latency
                   longer than it otherwise would; order is kept
``stall``          after the start message, never sends anything again and      ``timeout``
                   never closes; inbound audio is read and discarded
``stall=S``        as ``stall``, but only S seconds after the first outbound    ``timeout``
                   audio frame (the reply starts, then stops mid-way)
``drop=S``         S seconds after the first outbound audio frame (0: right     ``truncated``
                   after it), aborts the TCP connection with no close frame
                   (the client sees close code 1006)
``garble``         replaces every outbound audio frame with the frame reversed  ``quality_error``
                   in time plus noise at 0 dB SNR (seed 0): as loud as the
                   reply, unintelligible
``silence``        every outbound audio frame is digital silence (same count,   ``no_audio``
                   same timing)
``refuse``         refuses the WebSocket handshake with HTTP 503 (query string  ``connect_error``
                   or server-wide only)
``crash``          the handler raises right after the start message; the        ``protocol_error``
                   server closes the call with code 1011 ("internal error")
``crash=S``        as ``crash``, S seconds after the start message
=================  ===========================================================  ====================

Conversation faults, acted on by the ``agent`` pipeline (the reference bot
that greets, takes turns and can be interrupted):

=======================  =====================================================  ======================
fault                    what the agent does                                    probe should see
=======================  =====================================================  ======================
``ignore_barge_in``      keeps talking when the caller interrupts (no ``clear``;  ``barge_in_ignored``
                         its answer to the interruption waits for the reply)
``stop_late=MS``         sends ``clear`` when it hears the interruption, as a     ``barge_in_stop_ms``
                         healthy agent does, but keeps speaking MS ms longer:     MS after ``clear_ms``
                         its last speech frame goes out exactly MS after it
``dead_air=MS``          falls silent for MS ms (whole 20 ms frames of digital    ``dead_air_max_ms`` MS
                         silence, paced as speech) mid-way through each reply,
                         between two frames of speech
``early_endpoint=MS``    ends the caller's turn after MS ms of silence (150 if    ``talk_over_ms``,
                         no value) instead of its hangover: answers during a      ``early_endpoints``
                         caller's pause
``greeting_delay=MS``    greets (``voiceobs_greeting``) MS ms late                ``greeting_ms`` + MS
=======================  =====================================================  ======================
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from voiceobs.errors import ConfigError

_NAMES = (
    "delay", "stall", "drop", "garble", "silence", "refuse", "crash",
    "ignore_barge_in", "stop_late", "dead_air", "early_endpoint", "greeting_delay",
)  # fmt: skip
#: Faults whose value is milliseconds (the others take seconds).
_MS = ("delay", "stop_late", "dead_air", "early_endpoint", "greeting_delay")
#: The largest value each numeric fault takes: ten minutes in ms, the others one hour in seconds.
_MOST = {
    "delay": 600_000.0, "stall": 3600.0, "drop": 3600.0, "crash": 3600.0,
    "stop_late": 600_000.0, "dead_air": 600_000.0, "early_endpoint": 600_000.0, "greeting_delay": 600_000.0,
}  # fmt: skip
#: ``early_endpoint`` with no value: ends the caller's turn after this much silence.
EARLY_ENDPOINT_MS = 150.0


@dataclass(frozen=True)
class Faults:
    """A parsed fault set; the empty set (all defaults) is a healthy server."""

    delay_ms: float = 0.0
    stall_after_s: float | None = None
    stall_at_start: bool = False
    drop_after_s: float | None = None
    garble: bool = False
    silence: bool = False
    refuse: bool = False
    crash_after_s: float | None = None
    ignore_barge_in: bool = False
    stop_late_ms: float | None = None
    dead_air_ms: float | None = None
    early_endpoint_ms: float | None = None
    greeting_delay_ms: float = 0.0

    @property
    def any(self) -> bool:
        """True when at least one fault is active."""
        return self != Faults()

    @classmethod
    def parse(cls, text: str | None) -> Faults:
        """Parse ``delay=300,garble``; a one-line ConfigError says what to fix."""
        faults = cls()
        if not text or not text.strip():
            return faults
        for raw in text.split(","):
            item = raw.strip()
            if not item:
                continue
            name, _, value = item.partition("=")
            name = name.strip().lower()
            if name not in _NAMES:
                raise ConfigError(f"unknown fault {name!r}; use one of {', '.join(_NAMES)}")
            number: float | None = None
            if value.strip():
                try:
                    number = float(value)
                except ValueError as exc:
                    raise ConfigError(f"fault {name}={value!r}: value must be a number") from exc
                if not math.isfinite(number) or number < 0:
                    raise ConfigError(f"fault {name}={value}: value must be a finite number, 0 or more")
                most = _MOST.get(name)
                if most is not None and number > most:
                    unit = "ms" if name in _MS else "s"
                    raise ConfigError(
                        f"fault {name}={value}: at most {most:g} {unit}; a longer fault is a typo, "
                        "not a test (the probe's own deadlines are seconds)"
                    )
            if name == "delay":
                if number is None:
                    raise ConfigError("fault delay needs milliseconds, e.g. delay=300")
                faults = replace(faults, delay_ms=faults.delay_ms + number)
            elif name == "stall":
                if number is None:
                    faults = replace(faults, stall_at_start=True)
                else:
                    faults = replace(faults, stall_after_s=number)
            elif name == "drop":
                faults = replace(faults, drop_after_s=number or 0.0)
            elif name == "crash":
                faults = replace(faults, crash_after_s=number or 0.0)
            elif name in ("stop_late", "dead_air", "greeting_delay"):
                if number is None:
                    raise ConfigError(f"fault {name} needs milliseconds, e.g. {name}=300")
                if name == "stop_late":
                    faults = replace(faults, stop_late_ms=number)
                elif name == "dead_air":
                    faults = replace(faults, dead_air_ms=number)
                else:
                    faults = replace(faults, greeting_delay_ms=faults.greeting_delay_ms + number)
            elif name == "early_endpoint":
                faults = replace(faults, early_endpoint_ms=EARLY_ENDPOINT_MS if number is None else number)
            else:
                if number is not None:
                    raise ConfigError(f"fault {name} takes no value")
                faults = replace(faults, **{name: True})
        return faults

    def merge(self, other: Faults) -> Faults:
        """Server faults plus per-call faults (delays add, flags or, earliest times win)."""

        def first(a: float | None, b: float | None) -> float | None:
            values = [v for v in (a, b) if v is not None]
            return min(values) if values else None

        return Faults(
            delay_ms=self.delay_ms + other.delay_ms,
            stall_after_s=first(self.stall_after_s, other.stall_after_s),
            stall_at_start=self.stall_at_start or other.stall_at_start,
            drop_after_s=first(self.drop_after_s, other.drop_after_s),
            garble=self.garble or other.garble,
            silence=self.silence or other.silence,
            refuse=self.refuse or other.refuse,
            crash_after_s=first(self.crash_after_s, other.crash_after_s),
            ignore_barge_in=self.ignore_barge_in or other.ignore_barge_in,
            stop_late_ms=other.stop_late_ms if other.stop_late_ms is not None else self.stop_late_ms,
            dead_air_ms=other.dead_air_ms if other.dead_air_ms is not None else self.dead_air_ms,
            early_endpoint_ms=first(self.early_endpoint_ms, other.early_endpoint_ms),
            greeting_delay_ms=self.greeting_delay_ms + other.greeting_delay_ms,
        )

    def describe(self) -> str:
        """The canonical text form (round-trips through ``parse``)."""
        parts: list[str] = []
        if self.delay_ms:
            parts.append(f"delay={self.delay_ms:g}")
        if self.stall_at_start:
            parts.append("stall")
        if self.stall_after_s is not None:
            parts.append(f"stall={self.stall_after_s:g}")
        if self.drop_after_s is not None:
            parts.append(f"drop={self.drop_after_s:g}")
        for flag in ("garble", "silence", "refuse"):
            if getattr(self, flag):
                parts.append(flag)
        if self.crash_after_s is not None:
            parts.append(f"crash={self.crash_after_s:g}")
        if self.ignore_barge_in:
            parts.append("ignore_barge_in")
        for name in ("stop_late", "dead_air", "early_endpoint"):
            value = getattr(self, f"{name}_ms")
            if value is not None:
                parts.append(f"{name}={value:g}")
        if self.greeting_delay_ms:
            parts.append(f"greeting_delay={self.greeting_delay_ms:g}")
        return ",".join(parts)


class Garbler:
    """The ``garble`` transform: time-reversed frame plus equal-power noise, seed 0."""

    def __init__(self, seed: int = 0) -> None:
        self._rng = np.random.default_rng(seed)

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """Garble one int16 frame; a silent frame stays silent-ish but never exactly zero."""
        x = frame[::-1].astype(np.float32)
        rms = float(np.sqrt(np.mean(x * x))) if x.size else 0.0
        noise = self._rng.standard_normal(x.size).astype(np.float32) * max(rms, 1.0)
        return np.clip(x + noise, -32768, 32767).astype(np.int16)


__all__ = ["EARLY_ENDPOINT_MS", "Faults", "Garbler"]
