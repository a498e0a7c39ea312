"""Calls assembled from spans that arrive in pieces, out of order, twice, or never finish.

A production bot exports a conversation's spans as they end, in batches,
through retries and collectors that reorder them; the span that ends the
conversation may never come (the bot crashed, the exporter dropped its last
batch). :class:`CallAssembler` groups spans by trace id and hands each
trace to the first adapter that recognises one of its spans (a more
specific adapter earlier in the list takes a trace over from a later one).
A call is emitted by :meth:`CallAssembler.due` once its adapter says it is
complete, or once no span of it has come for ``idle_timeout_s``; a span
that comes after that re-emits the call under the same id, so the store's
``replace_run`` rewrites it.

Replays change nothing: a span is keyed by its span id, and a span already
held (equal in content) is counted as a duplicate and ignored, so a batch
sent twice neither re-emits nor duplicates anything.

Memory is bounded three ways, and every eviction is counted in
:attr:`CallAssembler.stats`:

* at most ``max_conversations`` conversations are held; a new one evicts a
  closed conversation first, else the least recently updated open one,
  which is emitted with what it has (never dropped unseen);
* at most ``max_spans_per_conversation`` spans are held per conversation;
  spans past it are counted and not held (the transport still stores them);
* ``grace_s`` after a call was emitted with nothing new since, its spans are
  released. What is kept is a tombstone: the call's id, sender and the ids
  of the spans it had (bounded by ``max_tombstones`` and
  ``max_tombstone_span_ids`` in all), so a replay of those spans is still a
  no-op.

The trade-off of releasing: a span genuinely new to a released call cannot
be merged into spans the assembler no longer has. Rebuilding the call from
that span alone would give a call with only part of its turns, and under
the same id it would overwrite the whole call in the store. So without a
``reload`` hook such a span is counted (``late_dropped``) and not applied to
the call; the span itself is still stored by the transport, so the call's
waterfall shows it. With ``reload`` (a function from trace id to the span
records already stored for it, e.g. read back from the store), the call is
rebuilt from those records plus the new span and re-emitted. A larger
``grace_s`` trades memory for fewer such cases.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from voiceobs.collect.model import Adapter, IngestedSpan
from voiceobs.collect.plausible import Refusals
from voiceobs.results import RunResult, SpanRecord

log = logging.getLogger(__name__)

#: Reads back the span records already stored for a trace id (for late spans after release).
Reload = Callable[[str], Sequence[SpanRecord]]


@dataclass
class AssemblyStats:
    """Counters the collector exports: what was taken, ignored, evicted or lost, and why."""

    spans_added: int = 0
    duplicates: int = 0
    spans_updated: int = 0
    invalid: int = 0
    spans_over_cap: int = 0
    calls_emitted: int = 0
    calls_reemitted: int = 0
    evicted_open: int = 0
    released: int = 0
    unrecognised: int = 0
    late_dropped: int = 0
    reloaded: int = 0
    reload_errors: int = 0
    build_errors: int = 0
    tombstones_evicted: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counters by name (for Prometheus labels or a health endpoint)."""
        return dataclasses.asdict(self)


@dataclass
class _Conversation:
    trace_id: str
    last_seen: float
    spans: dict[str, IngestedSpan] = field(default_factory=dict)
    adapter: int | None = None  # index into the assembler's adapters
    changed: bool = True
    closed_at: float | None = None
    #: The last version emitted, without spans (its flags say what was counted already).
    emitted: RunResult | None = None


@dataclass(frozen=True)
class _Tombstone:
    adapter: int
    resource: Mapping[str, Any]
    scope: str
    span_ids: frozenset[str]
    emitted: RunResult | None


class CallAssembler:
    """Groups ingested spans into conversations and emits each as a call when it is due.

    ``adapters`` are tried in order (put the generic adapter last); ``clock``
    gives monotonic seconds (injected by tests). Thread-safe: the transport
    adds spans from its request handlers while its writer calls :meth:`due`.
    """

    def __init__(
        self,
        adapters: Sequence[Adapter],
        *,
        idle_timeout_s: float = 60.0,
        grace_s: float = 300.0,
        max_conversations: int = 10_000,
        max_spans_per_conversation: int = 5_000,
        max_tombstones: int = 50_000,
        max_tombstone_span_ids: int = 1_000_000,
        reload: Reload | None = None,
        clock: Callable[[], float] = time.monotonic,
        refusals: Refusals | None = None,
    ) -> None:
        """Hold at most ``max_conversations`` calls; see the module docstring for every bound."""
        if not adapters:
            raise ValueError("CallAssembler needs at least one adapter")
        if (
            idle_timeout_s <= 0
            or grace_s < 0
            or max_conversations < 1
            or max_spans_per_conversation < 1
        ):
            raise ValueError("timeouts must be positive and caps at least 1")
        self.adapters: tuple[Adapter, ...] = tuple(adapters)
        self.idle_timeout_s = idle_timeout_s
        self.grace_s = grace_s
        self.max_conversations = max_conversations
        self.max_spans_per_conversation = max_spans_per_conversation
        self.max_tombstones = max_tombstones
        self.max_tombstone_span_ids = max_tombstone_span_ids
        self.reload = reload
        self.clock = clock
        #: Refused implausible values, counted once per call version that first carried them.
        self.refusals = refusals or Refusals()
        self.stats = AssemblyStats()
        self._lock = threading.Lock()
        self._open: OrderedDict[str, _Conversation] = OrderedDict()
        self._tombstones: OrderedDict[str, _Tombstone] = OrderedDict()
        self._tombstone_ids = 0
        self._pending: list[RunResult] = []

    # -- intake ----------------------------------------------------------------------------

    def add(self, spans: Iterable[IngestedSpan]) -> int:
        """Take a batch of spans (any order, any traces); returns how many were new or changed."""
        taken = 0
        with self._lock:
            now = self.clock()
            for span in spans:
                taken += self._add_one(span, now)
        return taken

    def _add_one(self, span: IngestedSpan, now: float) -> int:
        trace_id, span_id = span.record.trace_id, span.record.span_id
        if not trace_id or not span_id:
            self.stats.invalid += 1
            return 0
        conv = self._open.get(trace_id)
        if conv is None:
            tomb = self._tombstones.get(trace_id)
            if tomb is not None:
                if span_id in tomb.span_ids:
                    self.stats.duplicates += 1
                    return 0
                conv = self._reopen(trace_id, tomb, now)
                if conv is None:
                    self.stats.late_dropped += 1
                    return 0
            else:
                conv = self._new(trace_id, now)
        held = conv.spans.get(span_id)
        if held is not None:
            if held == span:
                self.stats.duplicates += 1
                return 0
            self.stats.spans_updated += 1
        elif len(conv.spans) >= self.max_spans_per_conversation:
            self.stats.spans_over_cap += 1
            return 0
        else:
            self.stats.spans_added += 1
        conv.spans[span_id] = span
        self._choose_adapter(conv, span)
        conv.changed = True
        conv.last_seen = now
        self._open.move_to_end(trace_id)
        return 1

    def _choose_adapter(self, conv: _Conversation, span: IngestedSpan) -> None:
        limit = len(self.adapters) if conv.adapter is None else conv.adapter
        for i in range(limit):
            try:
                if self.adapters[i].recognises(span):
                    conv.adapter = i
                    return
            except Exception:  # an adapter's bug must not lose the span
                log.warning(
                    "adapter %s failed to inspect a span", self.adapters[i].name, exc_info=True
                )

    def _new(self, trace_id: str, now: float) -> _Conversation:
        while len(self._open) >= self.max_conversations:
            self._evict_one(now)
        conv = _Conversation(trace_id=trace_id, last_seen=now)
        self._open[trace_id] = conv
        return conv

    def _evict_one(self, now: float) -> None:
        # A closed call with nothing new goes first: it is already in the store.
        victim = next(
            (c for c in self._open.values() if c.closed_at is not None and not c.changed), None
        )
        if victim is None:
            victim = next(iter(self._open.values()))
            if victim.changed and victim.adapter is not None:
                run = self._build(victim, now)
                if run is not None:
                    self._pending.append(run)
            self.stats.evicted_open += 1
        self._release(victim)

    def _reopen(self, trace_id: str, tomb: _Tombstone, now: float) -> _Conversation | None:
        if self.reload is None:
            return None
        try:
            records = list(self.reload(trace_id))
        except Exception:
            self.stats.reload_errors += 1
            log.warning("reloading the spans of a released call failed", exc_info=True)
            return None
        self._drop_tombstone(trace_id)
        conv = self._new(trace_id, now)
        conv.adapter = tomb.adapter
        conv.emitted = tomb.emitted
        conv.closed_at = now
        for record in records[: self.max_spans_per_conversation]:
            conv.spans[record.span_id] = IngestedSpan(record, tomb.resource, tomb.scope)
        self.stats.reloaded += 1
        return conv

    # -- output ----------------------------------------------------------------------------

    def due(self, now: float | None = None) -> list[RunResult]:
        """Calls to record now: complete or idle since their last emit, or changed by late spans.

        Also releases the spans of calls emitted more than ``grace_s`` ago
        with nothing new since.
        """
        with self._lock:
            now = self.clock() if now is None else now
            out, self._pending = self._pending, []
            for conv in list(self._open.values()):
                idle = now - conv.last_seen >= self.idle_timeout_s
                if not conv.changed:
                    if conv.closed_at is not None and now - conv.closed_at >= self.grace_s:
                        self._release(conv)
                    continue
                if conv.adapter is None:
                    if idle:  # nothing here any adapter knows (a web framework's own spans)
                        self.stats.unrecognised += 1
                        self._forget(conv)
                    continue
                if conv.closed_at is None and not idle and not self._complete(conv):
                    continue
                run = self._build(conv, now)
                if run is not None:
                    out.append(run)
            return out

    def flush_all(self) -> list[RunResult]:
        """Every call not yet emitted in its latest form, whatever its state (at shutdown); then forget all."""
        with self._lock:
            now = self.clock()
            out, self._pending = self._pending, []
            for conv in list(self._open.values()):
                if conv.changed and conv.adapter is not None:
                    run = self._build(conv, now)
                    if run is not None:
                        out.append(run)
            self._open.clear()
            self._tombstones.clear()
            self._tombstone_ids = 0
            return out

    @property
    def open_conversations(self) -> int:
        """Conversations whose spans are held now."""
        with self._lock:
            return len(self._open)

    @property
    def held_spans(self) -> int:
        """Spans held now, over every conversation."""
        with self._lock:
            return sum(len(c.spans) for c in self._open.values())

    def _complete(self, conv: _Conversation) -> bool:
        assert conv.adapter is not None
        try:
            return bool(self.adapters[conv.adapter].complete(list(conv.spans.values())))
        except Exception:
            log.warning(
                "adapter %s failed to judge a call complete",
                self.adapters[conv.adapter].name,
                exc_info=True,
            )
            return False

    def _build(self, conv: _Conversation, now: float) -> RunResult | None:
        assert conv.adapter is not None
        adapter = self.adapters[conv.adapter]
        conv.changed = False
        if conv.closed_at is None:
            conv.closed_at = now
        try:
            run = adapter.build(list(conv.spans.values()))
        except Exception:
            # The span contents are not logged: they may hold what redaction could not see.
            self.stats.build_errors += 1
            log.warning(
                "adapter %s failed to build a call from %d spans",
                adapter.name,
                len(conv.spans),
                exc_info=True,
            )
            return None
        if run is None:
            return None
        self.refusals.count(run, conv.emitted)
        if conv.emitted is None:
            self.stats.calls_emitted += 1
        else:
            self.stats.calls_reemitted += 1
        conv.emitted = dataclasses.replace(run, spans=[])
        return run

    # -- release ---------------------------------------------------------------------------

    def _forget(self, conv: _Conversation) -> None:
        self._open.pop(conv.trace_id, None)

    def _release(self, conv: _Conversation) -> None:
        self._forget(conv)
        self.stats.released += 1
        if conv.adapter is None:
            return
        first = next(iter(conv.spans.values()), None)
        tomb = _Tombstone(
            adapter=conv.adapter,
            resource=dict(first.resource) if first is not None else {},
            scope=first.scope if first is not None else "",
            span_ids=frozenset(conv.spans),
            emitted=conv.emitted,
        )
        self._drop_tombstone(conv.trace_id)
        self._tombstones[conv.trace_id] = tomb
        self._tombstone_ids += len(tomb.span_ids)
        while self._tombstones and (
            len(self._tombstones) > self.max_tombstones
            or self._tombstone_ids > self.max_tombstone_span_ids
        ):
            oldest = next(iter(self._tombstones))
            self._drop_tombstone(oldest)
            self.stats.tombstones_evicted += 1

    def _drop_tombstone(self, trace_id: str) -> None:
        tomb = self._tombstones.pop(trace_id, None)
        if tomb is not None:
            self._tombstone_ids -= len(tomb.span_ids)


__all__ = ["AssemblyStats", "CallAssembler", "Reload"]
