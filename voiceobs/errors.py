"""Exceptions raised by voiceobs, and the failure classes a probe call can end in.

Every error voiceobs raises on purpose derives from one root, so a caller can
catch them all with one clause while still telling user mistakes from faults::

    VoiceObsError                 root; str(err) is one line saying what to fix
    ├── ConfigError               a bad setting, flag or environment variable
    ├── SpecError                 a probe, SLO or hook spec that is malformed
    ├── StoreError                the result store
    │   ├── StoreUnavailable      cannot connect (wrong URL, server down)
    │   ├── SchemaMismatch        store is older (needs upgrade) or newer than this code
    │   ├── StoreFull             the disk under the store or spool is full
    │   └── ResultsLost           neither the store nor the spool took some results
    ├── AudioError                audio that cannot be read or is unusable
    │   └── QualityError          a quality metric cannot be computed (has a reason)
    ├── PipelineError             a reference pipeline or its server
    ├── ProbeError                a probe call failed (has a FailureClass)
    ├── HookError                 a failover hook could not be delivered
    └── ReportError               a platform's call report that cannot become a call

The CLI turns any ``VoiceObsError`` into its one-line message and a non-zero
exit code; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class FailureClass(StrEnum):
    """Why a probe call failed; stored with every failed result.

    The set is closed so SLOs, dashboards and alerts can group failures
    without parsing free text.
    """

    CONNECT_ERROR = "connect_error"
    PROTOCOL_ERROR = "protocol_error"
    TIMEOUT = "timeout"
    NO_AUDIO = "no_audio"
    TRUNCATED = "truncated"
    QUALITY_ERROR = "quality_error"
    INTERNAL_ERROR = "internal_error"
    #: The bot still spoke when the barge-in deadline passed.
    BARGE_IN_IGNORED = "barge_in_ignored"
    #: A reply fell silent mid-way for longer than the spec allows.
    DEAD_AIR = "dead_air"
    #: A bot that speaks first did not greet within the spec's limit.
    SLOW_GREETING = "slow_greeting"
    #: The probe worker process placing the call died before returning it (``--workers``).
    WORKER_LOST = "worker_lost"


class VoiceObsError(Exception):
    """Root of every error voiceobs raises on purpose.

    The message is meant for a person: one line, what went wrong and how to
    fix it.
    """

    exit_code: int = 2


class ConfigError(VoiceObsError):
    """A setting, flag or environment variable has a value voiceobs cannot use."""


class SpecError(VoiceObsError):
    """A YAML spec (probe, SLO, hooks) is malformed.

    Carries where the problem is so the message can point a person at the
    exact line: ``file:line: field: problem``.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.path = path
        self.line = line
        self.field = field
        self.reason = message
        where = ""
        if path:
            where = f"{path}:{line}: " if line else f"{path}: "
        if field:
            where += f"{field}: "
        super().__init__(f"{where}{message}")


class StoreError(VoiceObsError):
    """The result store failed in a way the user can act on."""


class StoreUnavailable(StoreError):
    """The store cannot be reached: a wrong URL, a server that is down, no permission."""


class SchemaMismatch(StoreError):
    """The store's schema is not the one this voiceobs expects."""


class StoreFull(StoreError):
    """The disk under the store (or the spool) has no space left."""


class ResultsLost(StoreError):
    """Results that neither the store nor the spool could take.

    ``lost`` holds them (``RunResult``s, already redacted), so the caller can
    still print them: a result must never disappear silently.
    """

    def __init__(self, message: str, lost: list[Any]) -> None:
        self.lost = lost
        super().__init__(message)


class AudioError(VoiceObsError):
    """Audio that cannot be read, decoded or used."""


class QualityError(AudioError):
    """A quality metric cannot be computed for this audio.

    ``reason`` is a short machine-readable code (``no_speech``, ``too_short``,
    ``invalid_samples``, ``unsupported_rate``, ...) stored next to the result.
    """

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(f"{reason}: {message}")


class PipelineError(VoiceObsError):
    """A reference pipeline or its server could not do what was asked."""


class ProbeError(VoiceObsError):
    """A probe call failed; ``failure_class`` says how."""

    exit_code = 1

    def __init__(self, failure_class: FailureClass, message: str) -> None:
        self.failure_class = failure_class
        super().__init__(f"{failure_class.value}: {message}")


class HookError(VoiceObsError):
    """A failover hook could not be delivered."""

    exit_code = 1


class ReportError(VoiceObsError):
    """A hosted platform's end-of-call report (a webhook body) lacks what a call needs.

    The message names the missing or malformed field, so the webhook can
    answer 400 with it and the platform's delivery log says what to fix.
    """


__all__ = [
    "AudioError",
    "ConfigError",
    "FailureClass",
    "HookError",
    "PipelineError",
    "ProbeError",
    "QualityError",
    "ReportError",
    "ResultsLost",
    "SchemaMismatch",
    "SpecError",
    "StoreError",
    "StoreFull",
    "StoreUnavailable",
    "VoiceObsError",
]
