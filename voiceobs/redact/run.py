"""Redaction of whole results: the first step of the recording path, for every source of calls.

A ``RunResult`` carries free text in many places (transcripts, expected
replies, failure details, labels, the target URL with its query string,
span names, attributes, events and status messages). Every source of
results (a probe run, a production trace, a call report) passes its
results through :func:`redact_run` before anything is stored, spooled,
exported or printed, so no source can forget a field.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any

from voiceobs.redact.redactor import Redactor, default_redactor
from voiceobs.results import RunResult, SpanRecord, TurnResult

log = logging.getLogger(__name__)

#: What a field becomes when redacting it failed: the text is dropped, never kept raw.
FAILED = "[REDACTION FAILED]"


def _safe(fn: Callable[[Any], Any], value: Any) -> Any:
    if value is None:
        return None
    try:
        return fn(value)
    except Exception:  # redaction failing must not leak: drop the text instead
        log.exception("redaction failed; dropping the value")
        return FAILED if isinstance(value, str) else None


def _turn(turn: TurnResult, redactor: Redactor) -> TurnResult:
    return dataclasses.replace(
        turn,
        transcript=_safe(redactor.redact_text, turn.transcript),
        expected_text=_safe(redactor.redact_text, turn.expected_text),
        quality_errors={k: _safe(redactor.redact_text, v) or "" for k, v in turn.quality_errors.items()},
    )


def _span(span: SpanRecord, redactor: Redactor) -> SpanRecord:
    def attrs(mapping: dict[str, Any]) -> dict[str, Any]:
        return dict(_safe(redactor.redact_attributes, mapping) or {})

    return dataclasses.replace(
        span,
        name=_safe(redactor.redact_text, span.name),
        attributes=attrs(span.attributes),
        events=[
            {
                **e,
                "name": _safe(redactor.redact_text, str(e.get("name", ""))),
                "attributes": attrs(dict(e.get("attributes") or {})),
            }
            for e in span.events
        ],
        status_message=_safe(redactor.redact_text, span.status_message),
    )


def redact_run(run: RunResult, redactor: Redactor | None = None) -> RunResult:
    """A copy of ``run`` with every piece of free text redacted; ids, times and measures kept.

    ``redactor`` defaults to the shared one (keyed by ``VOICEOBS_REDACT_KEY``).
    The probe and span names a user chose are kept (they select SLOs);
    label values, being free text, are redacted.
    """
    r = redactor or default_redactor()
    return dataclasses.replace(
        run,
        target_url=_safe(r.redact_url, run.target_url) or "",
        labels={k: _safe(r.redact_text, v) or "" for k, v in run.labels.items()},
        failure_detail=_safe(r.redact_text, run.failure_detail),
        turns=[_turn(t, r) for t in run.turns],
        spans=[_span(s, r) for s in run.spans],
    )


__all__ = ["FAILED", "redact_run"]
