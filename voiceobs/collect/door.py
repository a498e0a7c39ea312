"""Redaction at the door: every decoded span is redacted before it is queued, written or logged.

Production spans carry whole LLM contexts, transcripts, TTS text, phone
numbers in SIP attributes and ``lk.pii.*`` attributes. Each span's name,
attributes, event names and attributes, and status message go through the
redaction policy (``Redactor.redact_attributes`` for attributes: keys a
framework marks personal are pseudonymised or dropped, free text redacted
by content, oversized values cut with a marker), and so does each sender's
resource, once per resource. A span whose redaction fails is dropped and
counted, never kept raw; nothing here logs span content.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from voiceobs.collect.model import IngestedSpan
from voiceobs.collect.otlp import Decoded
from voiceobs.redact import Redactor
from voiceobs.results import SpanRecord

log = logging.getLogger(__name__)

#: Column widths of the spans table (``voiceobs.store.models.Span``): longer values are cut
#: after redaction, so a cut never splits a finding before the redactor saw it whole.
NAME_MAX = 200
SERVICE_MAX = 200


@dataclass
class Admitted:
    """The redacted spans of one request, and how many redaction had to drop."""

    spans: list[IngestedSpan] = field(default_factory=list)
    dropped: Counter[str] = field(default_factory=Counter)


def redact_resource(resource: Mapping[str, Any], redactor: Redactor) -> dict[str, Any]:
    """The resource attributes redacted by the policy (``service.name`` and kin pass unchanged)."""
    return redactor.redact_attributes(resource)


def redact_record(record: SpanRecord, redactor: Redactor) -> SpanRecord:
    """A new record with its name, attributes, events and status message redacted."""
    events = [
        {
            "name": redactor.redact_text(str(e.get("name", ""))),
            "timestamp_ns": e.get("timestamp_ns", 0),
            "attributes": redactor.redact_attributes(e.get("attributes") or {}),
        }
        for e in record.events
    ]
    message = record.status_message
    return SpanRecord(
        trace_id=record.trace_id,
        span_id=record.span_id,
        parent_span_id=record.parent_span_id,
        name=redactor.redact_text(record.name)[:NAME_MAX],
        start_ns=record.start_ns,
        end_ns=record.end_ns,
        run_id=record.run_id,
        kind=record.kind,
        service_name=redactor.redact_text(record.service_name)[:SERVICE_MAX],
        status_code=record.status_code,
        status_message=redactor.redact_text(message) if message else None,
        attributes=redactor.redact_attributes(record.attributes),
        events=events,
    )


def admit(decoded: Decoded, redactor: Redactor) -> Admitted:
    """Redact every span of a decoded request; a span or resource that cannot be redacted is dropped."""
    out = Admitted()
    for rs in decoded.resources:
        count = sum(len(s.spans) for s in rs.scopes)
        try:
            resource = redact_resource(rs.resource, redactor)
        except Exception as exc:
            # Neither the resource, its spans nor the exception text (which may quote a value)
            # is logged: they are what could not be made safe.
            log.warning(
                "dropped %d span(s): redacting their resource failed (%s)", count, _kind(exc)
            )
            out.dropped["redaction_failed"] += count
            continue
        for scope in rs.scopes:
            try:
                scope_name = redactor.redact_text(scope.name)
            except Exception as exc:
                log.warning("redacting a scope name failed (%s); stored without it", _kind(exc))
                scope_name = ""
            for record in scope.spans:
                try:
                    clean = redact_record(record, redactor)
                except Exception as exc:
                    log.warning("dropped a span: redaction failed (%s)", _kind(exc))
                    out.dropped["redaction_failed"] += 1
                    continue
                out.spans.append(IngestedSpan(clean, resource, scope_name))
    return out


def _kind(exc: BaseException) -> str:
    return type(exc).__name__


__all__ = ["NAME_MAX", "SERVICE_MAX", "Admitted", "admit", "redact_record", "redact_resource"]
