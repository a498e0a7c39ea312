"""What flows inside the collector: spans as they arrived, and the adapters that make calls of them.

Kept apart from the transport (OTLP decoding, webhooks) and from the
frameworks' vocabularies (one adapter module each), so either side can
change without the other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from voiceobs.results import RunResult, SpanRecord


@dataclass(frozen=True)
class IngestedSpan:
    """One span as it arrived, already redacted, with the resource and scope that sent it.

    ``record`` is what the store keeps (hex ids, nanosecond times, JSON-safe
    attributes); ``resource`` holds the sender's OTel resource attributes
    (``service.name``, ``deployment.environment``, ...), which the store does
    not keep per span but a call takes its service and labels from.
    """

    record: SpanRecord
    resource: Mapping[str, Any] = field(default_factory=dict)
    scope: str = ""


class Adapter(Protocol):
    """Turns the spans of one conversation from one framework into a call.

    A conversation is one trace (its spans share the trace id). The
    assembler asks each adapter in turn whether it ``recognises`` a span and
    gives the trace to the first that does; ``build`` may be called many
    times as spans arrive, and must give the same ``RunResult.id`` every
    time for the same conversation, so a later build replaces the earlier
    one in the store.
    """

    #: The framework's name as stored in ``RunResult.framework`` (``pipecat``, ``livekit``, ...).
    name: str

    def recognises(self, span: IngestedSpan) -> bool:
        """Whether this span comes from this adapter's framework."""
        ...

    def complete(self, spans: Sequence[IngestedSpan]) -> bool:
        """Whether the conversation has ended (its root span arrived), so the call can close now."""
        ...

    def build(self, spans: Sequence[IngestedSpan]) -> RunResult | None:
        """The call these spans describe so far (``source = production``), or None if not a call."""
        ...


class CallReportAdapter(Protocol):
    """Turns one hosted platform's end-of-call report (a webhook body) into a call."""

    #: The platform's name as stored in ``RunResult.framework`` (``vapi``, ``retell``).
    name: str

    def parse(self, payload: Mapping[str, Any]) -> RunResult | None:
        """The call the report describes, or None for a message that is not an end-of-call report."""
        ...


__all__ = ["Adapter", "CallReportAdapter", "IngestedSpan"]
