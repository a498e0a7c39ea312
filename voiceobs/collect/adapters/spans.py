"""Reading one conversation's spans: typed attribute values, times and the span tree.

Frameworks put numbers in attributes as ints, floats or (after an OTLP/JSON
hop, or a careless exporter) strings, and a redactor may have replaced a
value with a placeholder. Every reader here returns None for a value it
cannot use instead of raising: one odd attribute must never lose a call.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from voiceobs.collect.model import IngestedSpan


def number(value: Any) -> float | None:
    """A finite float from an int, float or numeric string; None for anything else (bools too)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        out = float(value)
    elif isinstance(value, str):
        try:
            out = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return out if math.isfinite(out) else None


def integer(value: Any) -> int | None:
    """An int from an integral number (``3``, ``3.0``, ``"3"``); None otherwise."""
    out = number(value)
    if out is None or out != int(out):
        return None
    return int(out)


def flag(value: Any) -> bool | None:
    """A bool from a bool or the strings ``true`` / ``false``; None otherwise."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def text(value: Any) -> str | None:
    """A non-empty string, or None."""
    return value if isinstance(value, str) and value.strip() else None


def seconds_to_ms(value: Any) -> float | None:
    """A duration the framework reported in seconds, in milliseconds."""
    out = number(value)
    return None if out is None else out * 1000.0


def json_object(value: Any) -> dict[str, Any]:
    """A JSON object held in a string attribute (LiveKit's ``lk.*_metrics``); empty if it is not one."""
    if isinstance(value, dict):
        return value
    if not isinstance(value, str):
        return {}
    try:
        out = json.loads(value)
    except ValueError:
        return {}
    return out if isinstance(out, dict) else {}


def ns_to_datetime(ns: int) -> datetime:
    """A span time (Unix nanoseconds) as an aware UTC datetime."""
    return datetime.fromtimestamp(ns / 1e9, tz=UTC)


def duration_ms(span: IngestedSpan) -> float | None:
    """How long the span lasted, in milliseconds (None when its end precedes its start)."""
    d = span.record.end_ns - span.record.start_ns
    return d / 1e6 if d >= 0 else None


def failed(span: IngestedSpan) -> bool:
    """Whether the span says its work failed (OTel status ERROR, or an ``error.type`` attribute)."""
    return span.record.status_code == "ERROR" or bool(
        text(span.record.attributes.get("error.type"))
    )


class SpanTree:
    """One trace's spans indexed by id, by parent and by name, each list in start order."""

    def __init__(self, spans: Iterable[IngestedSpan]) -> None:
        self.spans: list[IngestedSpan] = sorted(
            spans, key=lambda s: (s.record.start_ns, s.record.span_id)
        )
        self.by_id: dict[str, IngestedSpan] = {s.record.span_id: s for s in self.spans}
        self._children: dict[str, list[IngestedSpan]] = defaultdict(list)
        self._names: dict[str, list[IngestedSpan]] = defaultdict(list)
        for s in self.spans:
            if s.record.parent_span_id:
                self._children[s.record.parent_span_id].append(s)
            self._names[s.record.name].append(s)

    def named(self, *names: str) -> list[IngestedSpan]:
        """Spans with any of these names, in start order."""
        if len(names) == 1:
            return list(self._names.get(names[0], ()))
        out = [s for n in names for s in self._names.get(n, ())]
        return sorted(out, key=lambda s: (s.record.start_ns, s.record.span_id))

    def children(self, span: IngestedSpan) -> list[IngestedSpan]:
        """Direct children of ``span`` that have arrived."""
        return list(self._children.get(span.record.span_id, ()))

    def descendants(self, span: IngestedSpan) -> list[IngestedSpan]:
        """Every span below ``span`` that has arrived, in start order (cycles are cut)."""
        out: list[IngestedSpan] = []
        seen = {span.record.span_id}
        stack = [span]
        while stack:
            for child in self._children.get(stack.pop().record.span_id, ()):
                if child.record.span_id not in seen:
                    seen.add(child.record.span_id)
                    out.append(child)
                    stack.append(child)
        return sorted(out, key=lambda s: (s.record.start_ns, s.record.span_id))

    def ancestor_in(self, span: IngestedSpan, ids: set[str]) -> str | None:
        """The nearest ancestor of ``span`` whose id is in ``ids`` (None if its chain leaves the trace)."""
        seen: set[str] = set()
        parent = span.record.parent_span_id
        while parent and parent not in seen:
            if parent in ids:
                return parent
            seen.add(parent)
            up = self.by_id.get(parent)
            parent = up.record.parent_span_id if up is not None else None
        return None


def containing(span: IngestedSpan, candidates: Sequence[IngestedSpan]) -> IngestedSpan | None:
    """The last of ``candidates`` (in start order) whose time range holds ``span``'s start."""
    start = span.record.start_ns
    best = None
    for c in candidates:
        if c.record.start_ns <= start <= max(c.record.end_ns, c.record.start_ns):
            best = c
    return best


__all__ = [
    "SpanTree",
    "containing",
    "duration_ms",
    "failed",
    "flag",
    "integer",
    "json_object",
    "ns_to_datetime",
    "number",
    "seconds_to_ms",
    "text",
]
