"""Per-turn measures from a call's stamps, exactly as docs/architecture.md defines them.

All times are the probe's monotonic clock. EoS is the actual send time of the
prompt's last speech frame; a reply frame is a received frame that arrived
after EoS. ``path_delay_ms`` places received frames on a timeline by their
arrival stamps before aligning, because a bot that sends nothing until it has
audio makes an offset inside the concatenated audio meaningless as a delay.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

from voiceobs.probe.call import CallRecord, TurnRecord
from voiceobs.probe.dynamics import measure_dynamics
from voiceobs.probe.pacing import percentile

#: An inter-arrival gap longer than this is audible as a dropout.
GAP_LIMIT_MS = 60.0


#: The measures this module computes (names from the vocabulary, ``voiceobs.measures``).
TIMING_MEASURES: tuple[str, ...] = (
    "ttfb_ms", "turn_latency_ms", "path_delay_ms", "response_ms",
    "gap_p50_ms", "gap_p99_ms", "gap_max_ms", "gaps_over_60ms", "pacing_error_p99_ms",
)  # fmt: skip


def find_lag(reference: np.ndarray, received: np.ndarray) -> int | None:
    """Non-negative lag (samples) at which ``reference`` best matches inside ``received``.

    Normalised by the energy of each window of ``received`` so a loud stretch
    of unrelated audio cannot outscore the real match.
    """
    n = len(reference)
    if n == 0 or len(received) < n // 2 or not np.any(reference):
        return None
    padded = np.concatenate([received, np.zeros(n, np.float32)])
    corr = signal.correlate(padded, reference, mode="valid", method="fft")
    # Energy of every window of n samples, from a running sum: O(len) where a
    # convolution with a window of ones is O(len * n), seconds per call for a long reply.
    running = np.concatenate([[0.0], np.cumsum(padded.astype(np.float64) ** 2)])
    energy = running[n:] - running[:-n]
    m = min(len(corr), len(energy))
    score = corr[:m] / np.sqrt(np.maximum(energy[:m], 1e-9))
    best = int(np.argmax(score))
    if score[best] <= 0:
        return None
    return best


def path_delay_ms(rec: CallRecord, turn: TurnRecord) -> float | None:
    """How late the prompt came back: arrival of its first speech sample minus that sample's send time.

    Two steps, so that neither the bot's silences nor arrival jitter can bias it:

    1. *Which* received sample carries the prompt's first speech sample is a
       content question: the prompt, from that sample on, is matched inside
       the received frames laid end to end. Matching on a timeline built
       from arrival stamps instead mixes jitter into the content (frames
       shift by a millisecond or two) and lets a neighbouring pitch period,
       10 ms away, outscore the truth.
    2. *When* it arrived is the arrival stamp of the frame that holds it,
       plus its offset in that frame. A bot that sends nothing until it has
       audio (a Pipecat echo bot) therefore still reads its real delay: the
       position in the concatenated audio is never taken as a time.
    """
    if turn.sent_first_at is None or turn.rx_end is None or rec.pacer is None or turn.prompt is None:
        return None
    frames = rec.rx_audio[turn.rx_start : turn.rx_end]
    if not frames:
        return None
    rate = rec.sample_rate
    speech_sample = turn.prompt.first_speech_frame * (rate // 50)
    reference = turn.prompt.audio[speech_sample:]
    stream = np.concatenate(frames).astype(np.float32) / 32768.0
    at = find_lag(reference, stream)
    if at is None:
        return None
    bounds = np.cumsum([0] + [len(f) for f in frames])
    i = int(np.searchsorted(bounds, at, side="right")) - 1
    if not 0 <= i < len(frames):
        return None
    arrival = rec.rx_at[turn.rx_start + i] + (at - int(bounds[i])) / rate
    sent = rec.sent_at(turn.first_frame + turn.prompt.first_speech_frame)
    if sent is None:
        return None
    return (arrival - sent) * 1000.0


def measure_turn(
    rec: CallRecord, turn: TurnRecord, *, loopback: bool, dead_air_threshold_ms: float = 500.0
) -> dict[str, float | int | None]:
    """ttfb, turn latency, path delay, reply length, gaps, pacing error and dynamics of one turn.

    Keyed by measure name; a measure that cannot be taken is None. A
    greeting's wait is ``greeting_ms`` only: it is not an answer to the
    caller, so it stays out of the latency figures.
    """
    m = _timing(rec, turn, loopback=loopback)
    m.update(measure_dynamics(rec, turn, loopback=loopback, dead_air_threshold_ms=dead_air_threshold_ms))
    if turn.kind == "greeting":
        m["ttfb_ms"] = m["turn_latency_ms"] = None
    return m


def _timing(rec: CallRecord, turn: TurnRecord, *, loopback: bool) -> dict[str, float | int | None]:
    m: dict[str, float | int | None] = dict.fromkeys(TIMING_MEASURES)
    if rec.pacer is not None and rec.pacer.actual:
        last = len(rec.pacer.actual)
        if turn.ended_at is not None:
            last = int(np.searchsorted(rec.pacer.actual, turn.ended_at, side="right"))
        m["pacing_error_p99_ms"] = percentile(rec.pacer.errors_ms(turn.first_frame, last), 99)
    if turn.eos_at is None:
        return m
    if turn.first_any is not None:
        m["ttfb_ms"] = (rec.rx_at[turn.first_any] - turn.eos_at) * 1000.0
    if turn.first_loud is not None:
        m["turn_latency_ms"] = (rec.rx_at[turn.first_loud] - turn.eos_at) * 1000.0
    # A loopback target answers while the caller still speaks: its "reply" is
    # everything received during the turn, not only what arrives after EoS.
    if loopback:
        first: int | None = turn.rx_start
        stop = turn.rx_end if turn.rx_end is not None else len(rec.rx_at)
        if stop > turn.rx_start:
            samples = sum(len(rec.rx_audio[i]) for i in range(turn.rx_start, stop))
            m["response_ms"] = samples * 1000.0 / rec.sample_rate
        else:
            first = None
    else:
        first = turn.first_any
        if turn.first_loud is not None and turn.last_loud is not None:
            samples = sum(len(rec.rx_audio[i]) for i in range(turn.first_loud, turn.last_loud + 1))
            m["response_ms"] = samples * 1000.0 / rec.sample_rate
        stop = turn.rx_end if turn.rx_end is not None else len(rec.rx_at)
        if turn.last_loud is not None:
            stop = min(stop, turn.last_loud + 1)
    if first is not None:
        stamps = np.asarray(rec.rx_at[first:stop])
        gaps = np.diff(stamps) * 1000.0
        if gaps.size:
            m["gap_p50_ms"] = percentile(gaps, 50)
            m["gap_p99_ms"] = percentile(gaps, 99)
            m["gap_max_ms"] = float(gaps.max())
            m["gaps_over_60ms"] = int((gaps > GAP_LIMIT_MS).sum())
        else:
            m["gaps_over_60ms"] = 0
    if loopback:
        m["path_delay_ms"] = path_delay_ms(rec, turn)
    return m


def reply_audio(rec: CallRecord, turn: TurnRecord, *, loopback: bool) -> np.ndarray:
    """The audio to score: everything received in the turn (loopback) or the reply itself."""
    if loopback:
        start = turn.rx_start
    else:
        start = turn.first_any if turn.first_any is not None else (turn.rx_end or turn.rx_start)
    stop = turn.rx_end if turn.rx_end is not None else len(rec.rx_audio)
    if stop <= start:
        return np.zeros(0, np.float32)
    return np.concatenate(rec.rx_audio[start:stop]).astype(np.float32) / 32768.0


__all__ = ["GAP_LIMIT_MS", "TIMING_MEASURES", "find_lag", "measure_turn", "path_delay_ms", "reply_audio"]
