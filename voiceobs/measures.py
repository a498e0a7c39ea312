"""The vocabulary of per-turn measures: one table that every other module derives from.

A measure's name is the field of ``TurnResult``, the store's column, the
SLO spec's ``measure:``, the dashboard's series and (through
:attr:`Measure.histogram`) the Prometheus histogram. Its unit decides how it
is exported (milliseconds become seconds), its direction decides what
"worse" means on a chart and in a default threshold, and its buckets are
where Prometheus rules can read an SLO threshold. Adding a measure here,
and a field of the same name to ``TurnResult``, is all it takes for the
store, the exporter, the SLO engine and the dashboard to carry it (the
vocabulary test fails until both exist).
"""

from __future__ import annotations

from dataclasses import dataclass

#: Buckets (seconds) for voice latencies, 10 ms .. 10 s.
LATENCY_BUCKETS: tuple[float, ...] = (
    0.01, 0.025, 0.05, 0.1, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.75, 0.8, 1.0,
    1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 10.0,
)  # fmt: skip
MOS_BUCKETS: tuple[float, ...] = (1.0, 1.5, 2.0, 2.5, 2.75, 3.0, 3.25, 3.5, 3.75, 4.0, 4.25, 4.5, 5.0)
INTELLIGIBILITY_BUCKETS: tuple[float, ...] = (
    0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.97, 0.99, 1.0,
)  # fmt: skip
WER_BUCKETS: tuple[float, ...] = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0)

#: Kinds of measure: how long something took, how it sounded, or how often it happened.
KINDS = ("time", "quality", "count")


@dataclass(frozen=True)
class Measure:
    """One per-turn figure: its name, unit, direction and how Prometheus sees it."""

    name: str
    kind: str
    unit: str
    description: str
    #: True when a larger value is better (PESQ), False when worse (latency, WER).
    higher_is_better: bool = False
    #: Histogram bucket bounds in exported units; empty when the measure is not exported.
    buckets: tuple[float, ...] = ()
    #: Where the dashboard flags a turn until a user says otherwise (None: never).
    flag_at: float | None = None

    @property
    def exported(self) -> bool:
        """Whether ``voiceobs metrics`` exports a histogram of this measure."""
        return bool(self.buckets)

    @property
    def histogram(self) -> str:
        """The Prometheus histogram's name (``turn_latency_ms`` -> ``voiceobs_turn_latency_seconds``)."""
        base = self.name.removeprefix("turn_")
        if self.unit == "ms":
            return f"voiceobs_turn_{base.removesuffix('_ms')}_seconds"
        return f"voiceobs_turn_{base}"

    @property
    def scale(self) -> float:
        """Stored value / exported value (milliseconds are exported as seconds)."""
        return 1000.0 if self.unit == "ms" else 1.0

    def exported_value(self, value: float) -> float:
        """A stored value in the histogram's unit."""
        return value / self.scale

    def worse(self, value: float, threshold: float) -> bool:
        """Whether ``value`` is on the bad side of ``threshold`` for this measure."""
        return value < threshold if self.higher_is_better else value > threshold


def _time(name: str, description: str, *, exported: bool = False) -> Measure:
    return Measure(name, "time", "ms", description, buckets=LATENCY_BUCKETS if exported else ())


_ALL: tuple[Measure, ...] = (
    _time("connect_ms", "WebSocket open and protocol start acknowledged.", exported=True),
    _time("ttfb_ms", "End of caller speech to the first reply frame of any content.", exported=True),
    _time("turn_latency_ms", "End of caller speech to first reply audio above silence.", exported=True),
    _time("path_delay_ms", "How late a loopback target returns the prompt.", exported=True),
    _time("response_ms", "How long the reply lasted, first to last frame received."),
    _time("gap_p50_ms", "Median gap between reply frames' arrivals."),
    _time("gap_p99_ms", "99th percentile gap between reply frames' arrivals."),
    _time("gap_max_ms", "Longest gap between reply frames' arrivals."),
    Measure("gaps_over_60ms", "count", "count", "Arrival gaps long enough to hear as a dropout."),
    _time("pacing_error_p99_ms", "How late the probe sent its frames (p99): the probe host's health."),
    Measure("pesq_wb", "quality", "MOS", "Wide-band PESQ (MOS-LQO) of the turn.", True, MOS_BUCKETS, 3.0),
    Measure("pesq_nb", "quality", "MOS", "Narrow-band PESQ (MOS-LQO) of the turn.", True, MOS_BUCKETS, 3.0),
    Measure("stoi", "quality", "ratio", "STOI of the turn.", True, INTELLIGIBILITY_BUCKETS, 0.85),
    Measure("estoi", "quality", "ratio", "Extended STOI of the turn.", True, INTELLIGIBILITY_BUCKETS, 0.7),
    Measure("dnsmos_ovrl", "quality", "MOS", "DNSMOS overall quality of the reply.", True, MOS_BUCKETS, 3.0),
    Measure("dnsmos_sig", "quality", "MOS", "DNSMOS speech quality of the reply.", True, MOS_BUCKETS),
    Measure("dnsmos_bak", "quality", "MOS", "DNSMOS background quality of the reply.", True, MOS_BUCKETS),
    Measure("wer", "quality", "ratio", "Word error rate of the reply's transcript.", False, WER_BUCKETS, 0.25),
    # What only the bot knows: its own figures, from production traces and call reports.
    _time("reported_latency_ms", "Voice-to-voice latency the bot itself reported for the turn.", exported=True),
    _time(
        "unseen_latency_ms",
        "Caller-heard latency minus the bot-reported one, on a call seen from both sides: "
        "time the bot does not see (transport, buffering, telephony).",
        exported=True,
    ),
    _time("stt_ttfb_ms", "Time to the speech recogniser's first result, as the bot reported it.", exported=True),
    _time("llm_ttfb_ms", "Time to the language model's first token, as the bot reported it.", exported=True),
    _time("tts_ttfb_ms", "Time to the speech synthesiser's first audio, as the bot reported it.", exported=True),
    _time(
        "endpointing_delay_ms",
        "How long the bot waited after the caller stopped before it took the turn as ended.",
        exported=True,
    ),
    Measure("interruptions", "count", "count", "Times the caller interrupted the bot in the turn."),
    Measure("input_tokens", "count", "count", "Language-model input tokens of the turn (a cost driver)."),
    Measure("output_tokens", "count", "count", "Language-model output tokens of the turn (a cost driver)."),
    Measure("tts_characters", "count", "count", "Characters synthesised for the turn (a cost driver)."),
    # Conversation dynamics, measured from the caller's side.
    _time("greeting_ms", "Protocol start to the first speech of a bot that speaks first.", exported=True),
    _time(
        "endpoint_wait_ms",
        "End of caller speech to the bot's first speech, by arrival (negative: it started early).",
        exported=True,
    ),
    _time(
        "talk_over_ms",
        "Bot speech heard while the caller was still speaking or pausing mid-utterance.",
        exported=True,
    ),
    Measure("early_endpoints", "count", "count", "Times the bot started speaking before the caller finished."),
    _time("dead_air_max_ms", "Longest silence in the reply's audio between two stretches of speech.", exported=True),
    Measure("dead_air_count", "count", "count", "Silences in the reply's audio longer than the dead-air threshold."),
    _time(
        "barge_in_stop_ms",
        "First speech frame of the caller's interruption to the last bot frame still carrying speech.",
        exported=True,
    ),
    _time("clear_ms", "First speech frame of the caller's interruption to the bot's clear message.", exported=True),
)

#: Every per-turn measure by name, in the order the store and exports list them.
MEASURES: dict[str, Measure] = {m.name: m for m in _ALL}

#: Names of every per-turn measure (the numeric columns of ``turns``).
TURN_MEASURES: tuple[str, ...] = tuple(MEASURES)

#: Quality scores a probe can compute per turn (what a spec's ``metrics:`` may name).
QUALITY_METRICS: tuple[str, ...] = tuple(m.name for m in _ALL if m.kind == "quality")

#: Millisecond measures (what a latency SLI may name).
TIME_MEASURES: tuple[str, ...] = tuple(m.name for m in _ALL if m.unit == "ms")

#: Measures exported as Prometheus histograms.
EXPORTED_MEASURES: tuple[str, ...] = tuple(m.name for m in _ALL if m.exported)

#: The latency figures a caller feels, as the dashboard's Latency page offers them.
LATENCY_MEASURES: tuple[str, ...] = (
    "turn_latency_ms", "ttfb_ms", "connect_ms", "path_delay_ms", "reported_latency_ms",
    "unseen_latency_ms",
)  # fmt: skip

#: How a conversation flows, as the caller hears it (the Latency page's dynamics panel).
DYNAMICS_MEASURES: tuple[str, ...] = (
    "greeting_ms", "endpoint_wait_ms", "talk_over_ms", "early_endpoints", "dead_air_max_ms",
    "dead_air_count", "barge_in_stop_ms", "clear_ms",
)  # fmt: skip

#: Per-stage figures a bot reports, in the order a turn passes through them.
STAGE_TTFB_MEASURES: tuple[str, ...] = ("stt_ttfb_ms", "llm_ttfb_ms", "tts_ttfb_ms")


def measure(name: str) -> Measure:
    """The measure called ``name``; KeyError names the known ones."""
    try:
        return MEASURES[name]
    except KeyError:
        raise KeyError(f"unknown measure {name!r}; known: {', '.join(MEASURES)}") from None


__all__ = [
    "DYNAMICS_MEASURES",
    "EXPORTED_MEASURES",
    "INTELLIGIBILITY_BUCKETS",
    "KINDS",
    "LATENCY_BUCKETS",
    "LATENCY_MEASURES",
    "MEASURES",
    "MOS_BUCKETS",
    "QUALITY_METRICS",
    "STAGE_TTFB_MEASURES",
    "TIME_MEASURES",
    "TURN_MEASURES",
    "WER_BUCKETS",
    "Measure",
    "measure",
]
