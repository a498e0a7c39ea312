"""Bot-reported figures that cannot be true, refused before they reach an SLI.

Frameworks have known bugs that make some reported numbers wrong, and a
wrong number stored as truth is worse than none: it moves a p95 and pages
someone. So every bot-reported measure of a production turn passes the rules
below. A refused value becomes None on the turn and the reason is kept in
``TurnResult.flags[measure]`` (``"<rule>: <detail>"``), so the Calls page can
show what was refused and why, and :class:`Refusals` counts them for the
collector's metrics.

The rules (each names the bug it guards against):

``negative``
    A duration or count below zero. LiveKit reports a time to first token of
    -1 when a response produced none; stale anchors give negative delays.
``interrupted``
    A stage time to first byte (``stt_ttfb_ms``, ``llm_ttfb_ms``,
    ``tts_ttfb_ms``) on a turn the caller interrupted. The interruption
    stops every running metric, so the figure is the time to the
    interruption, not to a first byte (pipecat-ai/pipecat#1682 and #2791:
    sub-millisecond STT and sub-300 ms LLM "TTFB"s on barge-in).
``incomplete``
    A figure the framework itself marks unfinished (Pipecat's
    ``stt.incomplete``: the recogniser never finalised, its TTFB was
    force-stopped at the end of the user's turn).
``too_long``
    Longer than the measure's ceiling (:data:`CEILINGS_MS`). The known case
    is LiveKit's stale speaking anchor (livekit/agents#6093), which reports
    the time since an earlier turn as an end-of-utterance or transcription
    delay: 60 to over 200 s. The same ceilings catch milliseconds reported
    where seconds are named (a 0.8 s latency sent as 800 "seconds").
``seconds_as_ms``
    A voice-to-voice latency below :data:`FLOOR_MS` from a source that names
    its unit milliseconds (Vapi, Retell, ``voice.*_ms`` attributes): no
    caller hears a reply 50 ms after they stop, so 0.8 is 0.8 seconds
    sent in a millisecond field.
``not_measured``
    A value the framework writes when it could not measure (LiveKit writes
    0 for both end-of-turn delays of a turn whose anchors it rejected).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable

from voiceobs.results import RunResult, TurnResult

#: The bot-reported measures these rules watch (the rest of a turn is measured by voiceobs).
REPORTED_MEASURES: tuple[str, ...] = (
    "reported_latency_ms",
    "stt_ttfb_ms",
    "llm_ttfb_ms",
    "tts_ttfb_ms",
    "endpointing_delay_ms",
    "interruptions",
    "input_tokens",
    "output_tokens",
    "tts_characters",
)

#: Stage times to first byte: what an interruption corrupts.
STAGE_TTFBS: tuple[str, ...] = ("stt_ttfb_ms", "llm_ttfb_ms", "tts_ttfb_ms")

#: Longest believable value of each time measure (ms). No endpointer waits half a minute for
#: a caller, and past a minute of voice-to-voice silence the caller has hung up.
CEILINGS_MS: dict[str, float] = {
    "reported_latency_ms": 60_000.0,
    "stt_ttfb_ms": 30_000.0,
    "llm_ttfb_ms": 60_000.0,
    "tts_ttfb_ms": 30_000.0,
    "endpointing_delay_ms": 30_000.0,
}

#: Shortest believable voice-to-voice latency (ms) where the source names milliseconds.
FLOOR_MS: dict[str, float] = {"reported_latency_ms": 50.0}

RULES: tuple[str, ...] = (
    "negative",
    "interrupted",
    "incomplete",
    "too_long",
    "seconds_as_ms",
    "not_measured",
)


def refuse(turn: TurnResult, measure: str, rule: str, detail: str) -> None:
    """Drop ``measure`` from the turn and say why in ``turn.flags`` (first reason wins)."""
    if rule not in RULES:
        raise ValueError(f"unknown plausibility rule {rule!r}; known: {', '.join(RULES)}")
    setattr(turn, measure, None)
    turn.flags.setdefault(measure, f"{rule}: {detail}")


def check_turn(
    turn: TurnResult,
    *,
    interrupted: bool = False,
    ms_named: Iterable[str] = (),
) -> TurnResult:
    """Apply every rule to the turn's bot-reported measures (in place) and return it.

    ``interrupted``: the caller interrupted the bot in this turn (stage TTFBs
    are refused). ``ms_named``: measures the source reported in a field that
    names milliseconds (the seconds-as-milliseconds floor applies to those).
    """
    named = set(ms_named)
    for measure in REPORTED_MEASURES:
        value = getattr(turn, measure)
        if value is None:
            continue
        unit = "ms" if measure.endswith("_ms") else ""
        if value < 0:
            refuse(turn, measure, "negative", f"{value:g}{' ' + unit if unit else ''}")
            continue
        if interrupted and measure in STAGE_TTFBS:
            refuse(turn, measure, "interrupted", "measured on a turn the caller interrupted")
            continue
        ceiling = CEILINGS_MS.get(measure)
        if ceiling is not None and value > ceiling:
            refuse(turn, measure, "too_long", f"{value:g} ms is over {ceiling:g} ms")
            continue
        floor = FLOOR_MS.get(measure)
        if floor is not None and measure in named and value < floor:
            refuse(
                turn,
                measure,
                "seconds_as_ms",
                f"{value:g} ms is under {floor:g} ms: seconds in a millisecond field?",
            )
    return turn


def _rule(reason: str) -> str:
    return reason.split(":", 1)[0]


class Refusals:
    """How many reported values were refused, by framework, measure and rule (for ``/metrics``).

    Thread-safe: the collector's assembler and its webhook handlers count
    into one instance from different threads.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str, str]] = Counter()

    def count(self, run: RunResult, already: RunResult | None = None) -> int:
        """Count the flags on ``run``'s turns that ``already`` (its last emitted version) lacked."""
        seen: set[tuple[int, str, str]] = set()
        if already is not None:
            seen = {(t.turn_index, m, _rule(r)) for t in already.turns for m, r in t.flags.items()}
        new = [
            (t.turn_index, m, _rule(r))
            for t in run.turns
            for m, r in t.flags.items()
            if (t.turn_index, m, _rule(r)) not in seen
        ]
        with self._lock:
            for _, measure, rule in new:
                self._counts[(run.framework, measure, rule)] += 1
        return len(new)

    def snapshot(self) -> dict[tuple[str, str, str], int]:
        """A copy of the counts: (framework, measure, rule) -> refusals."""
        with self._lock:
            return dict(self._counts)

    @property
    def total(self) -> int:
        """Every refusal counted so far."""
        with self._lock:
            return sum(self._counts.values())


__all__ = [
    "CEILINGS_MS",
    "FLOOR_MS",
    "REPORTED_MEASURES",
    "RULES",
    "STAGE_TTFBS",
    "Refusals",
    "check_turn",
    "refuse",
]
