"""Vapi: the ``end-of-call-report`` server message as a call.

Vapi posts ``{"message": {...}}`` to the server URL when a call ends and its
post-processing is done (https://docs.vapi.ai/server-url/end-of-call-report;
the shape is the API's ``ServerMessageEndOfCallReport``): ``type``,
``endedReason``, ``startedAt`` / ``endedAt`` (ISO 8601), ``call`` (``id``,
``assistantId``, ``phoneCallProvider``, ``phoneCallProviderId``: the Twilio
CallSid on a Twilio number, ``customer.number``), ``assistant`` (``id``,
``name``), ``customer`` and ``artifact``: ``messages`` (``role`` ``bot`` /
``user`` / ``system``, ``message``) and ``performanceMetrics``
(https://docs.vapi.ai/changelog/2025/8/9; the API's ``PerformanceMetrics``):
``turnLatencies`` (per turn: ``modelLatency``, ``voiceLatency``,
``transcriberLatency``, ``endpointingLatency``, ``turnLatency``, in
milliseconds), ``numUserInterrupted`` and ``numAssistantInterrupted``.

Mapping: one turn per entry of ``turnLatencies`` (the caller spoke, the
assistant answered): ``turnLatency`` → ``reported_latency_ms``,
``transcriberLatency`` → ``stt_ttfb_ms``, ``modelLatency`` →
``llm_ttfb_ms``, ``voiceLatency`` → ``tts_ttfb_ms``, ``endpointingLatency``
→ ``endpointing_delay_ms``. The bot's replies become the turns' transcripts
when there are as many replies as turns. Interruptions are reported per
call only, so they are kept as the call's labels ``interruptions`` (the
assistant interrupted by the caller) and ``user_interrupted``, not spread
over turns. The customer's number becomes the label ``customer``, pseudonymised.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from voiceobs.collect.adapters.callreport import (
    pseudonymised,
    replies,
    required_id,
    section,
    timestamp,
)
from voiceobs.collect.adapters.origin import Origin
from voiceobs.collect.adapters.production import production_run, settle_status
from voiceobs.collect.adapters.spans import integer, number, text
from voiceobs.collect.plausible import check_turn
from voiceobs.errors import FailureClass, ReportError
from voiceobs.redact import Redactor
from voiceobs.results import RunResult, TurnResult, utcnow

NAME = "vapi"
REPORT_TYPE = "end-of-call-report"

#: ``turnLatencies`` fields -> measures (all in milliseconds).
TURN_FIELDS: dict[str, str] = {
    "turnLatency": "reported_latency_ms",
    "transcriberLatency": "stt_ttfb_ms",
    "modelLatency": "llm_ttfb_ms",
    "voiceLatency": "tts_ttfb_ms",
    "endpointingLatency": "endpointing_delay_ms",
}

#: ``endedReason`` values that are a normal end of a call (the rest that are not listed as
#: failures below are treated as normal too: Vapi adds reasons often).
_CONNECT_FAILURES = (
    "customer-did-not-answer",
    "customer-busy",
    "customer-did-not-give-microphone-permission",
)


def failure_of(reason: str | None) -> str | None:
    """The failure class a Vapi ``endedReason`` means, or None for a call that ended normally.

    Errors that kept the call from starting or connecting (``call.start.error-*``,
    ``*-failed-to-connect``, a customer who never answered) are ``connect_error``;
    every other ``*error*`` / ``*-failed*`` / ``*fault*`` reason (pipeline,
    provider and assistant errors) is ``internal_error``.
    """
    if not reason:
        return None
    r = reason.lower()
    if r.startswith("call.start.error") or "failed-to-connect" in r or r in _CONNECT_FAILURES:
        return FailureClass.CONNECT_ERROR.value
    if "error" in r or "-failed" in r or "fault" in r:
        return FailureClass.INTERNAL_ERROR.value
    return None


class VapiReport:
    """Vapi's end-of-call report as a production call (``framework = vapi``)."""

    name = NAME

    def __init__(self, redactor: Redactor | None = None) -> None:
        """Pseudonymise phone numbers with ``redactor`` (default: the shared one)."""
        self._redactor = redactor

    def parse(self, payload: Mapping[str, Any]) -> RunResult | None:
        """The call the report describes; None for any other server message."""
        if not isinstance(payload, Mapping):
            raise ReportError("Vapi report is not a JSON object; send the server message as sent")
        message = section(payload, "message") or payload
        if message.get("type") != REPORT_TYPE:
            return None
        call = section(message, "call")
        call_id = required_id(call.get("id"), "message.call.id", "Vapi")
        assistant = section(message, "assistant")
        assistant_id = text(call.get("assistantId")) or text(assistant.get("id")) or ""
        service = text(assistant.get("name")) or assistant_id or "vapi"
        started = timestamp(message.get("startedAt")) or timestamp(call.get("startedAt"))
        ended = timestamp(message.get("endedAt")) or timestamp(call.get("endedAt"))
        artifact = section(message, "artifact")
        metrics = section(artifact, "performanceMetrics")
        labels: dict[str, str] = {}
        if assistant_id:
            labels["assistant"] = assistant_id
        for field, label in (
            ("numAssistantInterrupted", "interruptions"),
            ("numUserInterrupted", "user_interrupted"),
        ):
            count = integer(metrics.get(field))
            if count is not None and count >= 0:
                labels[label] = str(count)
        customer = section(message, "customer") or section(call, "customer")
        phone = pseudonymised(customer.get("number"), self._redactor)
        if phone:
            labels["customer"] = phone
        run = production_run(
            NAME,
            call_id,
            Origin(service=service),
            started or ended or utcnow(),
            finished_at=ended,
            target=f"vapi://{assistant_id or service}",
            call_sid=text(call.get("phoneCallProviderId")),
            conversation_id=call_id,
            labels=labels,
        )
        latencies = metrics.get("turnLatencies")
        turns = (
            [t for t in latencies if isinstance(t, Mapping)] if isinstance(latencies, list) else []
        )
        said = replies(
            _messages(artifact.get("messages")),
            bot=frozenset({"bot", "assistant"}),
            user=frozenset({"user"}),
            key="message",
        )
        for i, entry in enumerate(turns):
            turn = TurnResult(turn_index=i, started_at=run.started_at)
            for field, measure in TURN_FIELDS.items():
                setattr(turn, measure, number(entry.get(field)))
            if len(said) == len(turns):
                turn.transcript = said[i]
            run.turns.append(check_turn(turn, ms_named=TURN_FIELDS.values()))
        reason = text(message.get("endedReason")) or text(call.get("endedReason"))
        failure = failure_of(reason)
        # The turns were measured whole; the call's end is what failed.
        return settle_status(run, (failure, f"endedReason: {reason}") if failure else None)


def _messages(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


__all__ = ["NAME", "TURN_FIELDS", "VapiReport", "failure_of"]
