"""Per-turn measures from a call's stamps, exactly as shared/DESIGN.md defines them.

All times are the probe's monotonic clock. EoS is the actual send time of the
prompt's last speech frame; a reply frame is a received frame that arrived
after EoS. ``path_delay_ms`` places received frames on a timeline by their
arrival stamps before aligning, because a bot that sends nothing until it has
audio makes an offset inside the concatenated audio meaningless as a delay.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal

from voiceobs.probe.call import CallRecord, TurnRecord
from voiceobs.probe.pacing import percentile

#: An inter-arrival gap longer than this is audible as a dropout.
GAP_LIMIT_MS = 60.0


@dataclass
class TurnMeasures:
    """The timing figures of one turn (milliseconds; None when not measurable)."""

    ttfb_ms: float | None = None
    turn_latency_ms: float | None = None
    path_delay_ms: float | None = None
    response_ms: float | None = None
    gap_p50_ms: float | None = None
    gap_p99_ms: float | None = None
    gap_max_ms: float | None = None
    gaps_over_60ms: int | None = None
    pacing_error_p99_ms: float | None = None


def timeline(
    rec: CallRecord, start: int, stop: int, origin: float
) -> tuple[np.ndarray, np.ndarray]:
    """Received frames ``start..stop`` placed by arrival time from ``origin``.

    A frame plays from its arrival, or right after the previous frame when
    that is still playing (a burst queues, as in a playout buffer). Returns
    the audio (float32, zeros where nothing arrived) and a mask of where
    something did arrive.
    """
    rate = rec.sample_rate
    if stop <= start:
        return np.zeros(0, np.float32), np.zeros(0, bool)
    positions: list[int] = []
    cursor = 0
    for i in range(start, stop):
        pos = max(round((rec.rx_at[i] - origin) * rate), cursor, 0)
        positions.append(pos)
        cursor = pos + len(rec.rx_audio[i])
    out = np.zeros(cursor, np.float32)
    mask = np.zeros(cursor, bool)
    for pos, i in zip(positions, range(start, stop), strict=True):
        chunk = rec.rx_audio[i].astype(np.float32) / 32768.0
        out[pos : pos + len(chunk)] = chunk
        mask[pos : pos + len(chunk)] = True
    return out, mask


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
    energy = np.convolve(padded.astype(np.float64) ** 2, np.ones(n), mode="valid")
    m = min(len(corr), len(energy))
    score = corr[:m] / np.sqrt(np.maximum(energy[:m], 1e-9))
    best = int(np.argmax(score))
    if score[best] <= 0:
        return None
    return best


#: The stretch of prompt, from its first speech sample, matched to time that sample's arrival.
_ONSET_S = 0.2
#: How far the onset match may move from the whole-prompt match.
_REFINE_S = 0.06


def path_delay_ms(rec: CallRecord, turn: TurnRecord) -> float | None:
    """How late the prompt came back: aligned arrival minus send time of its first speech sample.

    The whole prompt is aligned first (robust against a lookalike stretch),
    then its first ``_ONSET_S`` of speech is aligned again near that lag:
    the definition is about the first speech sample, and arrival jitter later
    in the reply shifts a whole-prompt match by a few milliseconds.
    """
    if turn.sent_first_at is None or turn.rx_end is None or rec.pacer is None:
        return None
    origin = rec.pacer.due(turn.first_frame)  # the prompt's sample 0 on the schedule
    audio, _ = timeline(rec, turn.rx_start, turn.rx_end, origin)
    lag = find_lag(turn.prompt.audio, audio)
    if lag is None:
        return None
    rate = rec.sample_rate
    n = rate // 50
    speech_sample = turn.prompt.first_speech_frame * n
    onset = turn.prompt.audio[speech_sample : speech_sample + int(_ONSET_S * rate)]
    lo = max(lag + speech_sample - int(_REFINE_S * rate), 0)
    hi = lag + speech_sample + int(_REFINE_S * rate) + len(onset)
    local = find_lag(onset, audio[lo:hi])
    onset_at = lo + local if local is not None else lag + speech_sample
    arrival = origin + onset_at / rate
    sent = rec.sent_at(turn.first_frame + turn.prompt.first_speech_frame)
    if sent is None:
        return None
    return (arrival - sent) * 1000.0


def measure_turn(rec: CallRecord, turn: TurnRecord, *, loopback: bool) -> TurnMeasures:
    """ttfb, turn latency, path delay, reply length, gaps and pacing error of one turn."""
    m = TurnMeasures()
    if rec.pacer is not None and rec.pacer.actual:
        last = len(rec.pacer.actual)
        if turn.ended_at is not None:
            last = int(np.searchsorted(rec.pacer.actual, turn.ended_at, side="right"))
        m.pacing_error_p99_ms = percentile(rec.pacer.errors_ms(turn.first_frame, last), 99)
    if turn.eos_at is None:
        return m
    if turn.first_any is not None:
        m.ttfb_ms = (rec.rx_at[turn.first_any] - turn.eos_at) * 1000.0
    if turn.first_loud is not None:
        m.turn_latency_ms = (rec.rx_at[turn.first_loud] - turn.eos_at) * 1000.0
    # A loopback target answers while the caller still speaks: its "reply" is
    # everything received during the turn, not only what arrives after EoS.
    if loopback:
        first: int | None = turn.rx_start
        stop = turn.rx_end if turn.rx_end is not None else len(rec.rx_at)
        if stop > turn.rx_start:
            samples = sum(len(rec.rx_audio[i]) for i in range(turn.rx_start, stop))
            m.response_ms = samples * 1000.0 / rec.sample_rate
        else:
            first = None
    else:
        first = turn.first_any
        if turn.first_loud is not None and turn.last_loud is not None:
            samples = sum(len(rec.rx_audio[i]) for i in range(turn.first_loud, turn.last_loud + 1))
            m.response_ms = samples * 1000.0 / rec.sample_rate
        stop = turn.rx_end if turn.rx_end is not None else len(rec.rx_at)
        if turn.last_loud is not None:
            stop = min(stop, turn.last_loud + 1)
    if first is not None:
        stamps = np.asarray(rec.rx_at[first:stop])
        gaps = np.diff(stamps) * 1000.0
        if gaps.size:
            m.gap_p50_ms = percentile(gaps, 50)
            m.gap_p99_ms = percentile(gaps, 99)
            m.gap_max_ms = float(gaps.max())
            m.gaps_over_60ms = int((gaps > GAP_LIMIT_MS).sum())
        else:
            m.gaps_over_60ms = 0
    if loopback:
        m.path_delay_ms = path_delay_ms(rec, turn)
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


__all__ = ["GAP_LIMIT_MS", "TurnMeasures", "find_lag", "measure_turn", "path_delay_ms", "reply_audio", "timeline"]
