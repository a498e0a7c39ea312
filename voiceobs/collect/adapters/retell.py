"""Retell: the ``call_analyzed`` webhook event as a call.

Retell posts ``{"event": ..., "call": {...}}`` (https://docs.retellai.com/features/webhook-overview);
``call_analyzed`` carries the whole call object of the Get Call API
(https://docs.retellai.com/api-references/get-call), ``call_ended`` the same
without ``call_analysis`` (both are taken; they describe one call under one
id). Fields used: ``call_id``, ``agent_id`` / ``agent_name``, ``call_type``,
``direction``, ``from_number`` / ``to_number``, ``start_timestamp`` /
``end_timestamp`` (Unix ms), ``disconnection_reason``,
``telephony_identifier.twilio_call_sid``, ``transcript_object`` (``role``
``agent`` / ``user``, ``content``) and ``latency``
(https://docs.retellai.com/reliability/check-actual-latency): per stage
(``e2e``, ``asr``, ``llm``, ``tts``, ``llm_websocket_network_rtt``,
``knowledge_base``, ``s2s``) ``p50`` / ``p90`` / ``p95`` / ``p99`` / ``max``
/ ``min`` / ``num`` and ``values`` (every measurement, in order), in
milliseconds. Older payloads name them ``e2e_latency``, ``llm_latency``, ...

Mapping: one turn per ``latency.e2e.values`` entry → ``reported_latency_ms``;
``asr`` / ``llm`` / ``tts`` values → ``stt_ttfb_ms`` / ``llm_ttfb_ms`` /
``tts_ttfb_ms`` when the stage has exactly one value per turn (an LLM stage
with tool calls has more, and no way to tell which is the turn's). A call
reported with percentiles only has no turns. The agent's replies become
the turns' transcripts when there are as many as turns. ``from_number`` and
``to_number`` become the labels ``from`` / ``to``, pseudonymised.
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
from voiceobs.collect.adapters.spans import number, text
from voiceobs.collect.plausible import check_turn
from voiceobs.errors import FailureClass, ReportError
from voiceobs.redact import Redactor
from voiceobs.results import RunResult, TurnResult, utcnow

NAME = "retell"
EVENTS = frozenset({"call_analyzed", "call_ended"})

#: Latency stages -> per-turn measures (milliseconds); ``e2e`` defines the turns.
STAGES: dict[str, str] = {
    "e2e": "reported_latency_ms",
    "asr": "stt_ttfb_ms",
    "llm": "llm_ttfb_ms",
    "tts": "tts_ttfb_ms",
}

#: ``disconnection_reason`` values that mean the call never connected.
CONNECT_FAILURES = frozenset(
    {
        "dial_busy",
        "dial_failed",
        "dial_no_answer",
        "concurrency_limit_reached",
        "error_user_not_joined",
        "error_twilio",
        "error_asr",
        "invalid_destination",
        "telephony_provider_permission_denied",
        "telephony_provider_unavailable",
        "sip_routing_error",
        "registered_call_timeout",
    }
)


def failure_of(reason: str | None) -> str | None:
    """The failure class a Retell ``disconnection_reason`` means, or None for a normal end.

    Reasons that kept the call from connecting are ``connect_error``;
    ``error_no_audio_received`` is ``no_audio``; any other ``error_*``
    (LLM websocket, inbound webhook, Retell's own) is ``internal_error``.
    Hang-ups, transfers, inactivity, voicemail and max duration are normal ends.
    """
    if not reason:
        return None
    r = reason.lower()
    if r in CONNECT_FAILURES:
        return FailureClass.CONNECT_ERROR.value
    if r == "error_no_audio_received":
        return FailureClass.NO_AUDIO.value
    if r.startswith("error"):
        return FailureClass.INTERNAL_ERROR.value
    return None


def _values(stat: Mapping[str, Any]) -> list[float | None]:
    raw = stat.get("values")
    return [number(v) for v in raw] if isinstance(raw, list) else []


class RetellReport:
    """Retell's analysed call as a production call (``framework = retell``)."""

    name = NAME

    def __init__(self, redactor: Redactor | None = None) -> None:
        """Pseudonymise phone numbers with ``redactor`` (default: the shared one)."""
        self._redactor = redactor

    def parse(self, payload: Mapping[str, Any]) -> RunResult | None:
        """The call the event describes; None for other events (``call_started``, transfers...)."""
        if not isinstance(payload, Mapping):
            raise ReportError("Retell event is not a JSON object; send the webhook body as sent")
        if payload.get("event") not in EVENTS:
            return None
        call = section(payload, "call")
        call_id = required_id(call.get("call_id"), "call.call_id", "Retell")
        agent_id = text(call.get("agent_id")) or ""
        service = text(call.get("agent_name")) or agent_id or "retell"
        started = timestamp(call.get("start_timestamp"))
        ended = timestamp(call.get("end_timestamp"))
        labels: dict[str, str] = {}
        if agent_id:
            labels["agent"] = agent_id
        for key in ("call_type", "direction"):
            if value := text(call.get(key)):
                labels[key] = value
        for key, label in (("from_number", "from"), ("to_number", "to")):
            phone = pseudonymised(call.get(key), self._redactor)
            if phone:
                labels[label] = phone
        telephony = section(call, "telephony_identifier")
        run = production_run(
            NAME,
            call_id,
            Origin(service=service),
            started or ended or utcnow(),
            finished_at=ended,
            target=f"retell://{agent_id or service}",
            call_sid=text(telephony.get("twilio_call_sid")),
            conversation_id=call_id,
            labels=labels,
        )
        latency = section(call, "latency")
        stages = {s: _values(section(latency, s) or section(call, f"{s}_latency")) for s in STAGES}
        turns = len(stages["e2e"])
        said = replies(
            _messages(call.get("transcript_object")),
            bot=frozenset({"agent"}),
            user=frozenset({"user"}),
            key="content",
        )
        for i in range(turns):
            turn = TurnResult(turn_index=i, started_at=run.started_at)
            for stage, measure in STAGES.items():
                values = stages[stage]
                if len(values) == turns:
                    setattr(turn, measure, values[i])
            if len(said) == turns:
                turn.transcript = said[i]
            run.turns.append(check_turn(turn, ms_named=STAGES.values()))
        reason = text(call.get("disconnection_reason"))
        failure = failure_of(reason)
        return settle_status(run, (failure, f"disconnection_reason: {reason}") if failure else None)


def _messages(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


__all__ = ["CONNECT_FAILURES", "EVENTS", "NAME", "STAGES", "RetellReport", "failure_of"]
