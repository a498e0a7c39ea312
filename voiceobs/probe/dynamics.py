"""Conversation dynamics from a call's stamps: greeting, endpointing, talk-over, dead air, barge-in.

Every figure here is taken from recorded send times (the pacer's actual
times, the DTMF messages' send times) and arrival stamps, never from the
ideal schedule, and "speech" is a received frame above the call's silence
threshold, as for ``turn_latency_ms``. docs/architecture.md defines each
measure; this module is that definition in code.

Two kinds of silence are kept apart on purpose: a silence *in the audio*
(frames that arrive on time but carry nothing: the bot stopped talking) is
dead air, measured as audio duration; a frame that arrives late or never is
a gap (``gap_*``), measured by arrival stamps. Their causes differ (the bot's
pipeline against the network or the bot's scheduling).
"""

from __future__ import annotations

import math

from voiceobs.probe.call import CallRecord, TurnRecord
from voiceobs.probe.interruptions import interrupted_reply_end

#: The measures this module computes (names from the vocabulary, ``voiceobs.measures``).
DYNAMICS: tuple[str, ...] = (
    "greeting_ms", "endpoint_wait_ms", "talk_over_ms", "early_endpoints", "dead_air_max_ms",
    "dead_air_count", "barge_in_stop_ms", "clear_ms",
)  # fmt: skip


def speech_start_sent(rec: CallRecord, turn: TurnRecord) -> float | None:
    """Send time of the caller's first speech in the turn (its first digit on a DTMF turn)."""
    if turn.prompt is None:
        return turn.sent_first_at
    return rec.sent_at(turn.first_frame + turn.prompt.first_speech_frame)


def measure_dynamics(
    rec: CallRecord, turn: TurnRecord, *, loopback: bool, dead_air_threshold_ms: float
) -> dict[str, float | int | None]:
    """The dynamics measures of one turn, keyed by measure name (None: not measured)."""
    m: dict[str, float | int | None] = dict.fromkeys(DYNAMICS)
    threshold = rec.silence_threshold_dbfs
    rx_at, level = rec.rx_at, rec.rx_level
    stop = turn.rx_end if turn.rx_end is not None else len(level)
    stop = min(stop, len(level), len(rx_at))
    if turn.kind == "greeting":
        if turn.first_loud is not None and turn.eos_at is not None:
            m["greeting_ms"] = (rx_at[turn.first_loud] - turn.eos_at) * 1000.0
        _dead_air(m, rec, turn, stop, dead_air_threshold_ms)
        return m
    speech_at = speech_start_sent(rec, turn)
    after = turn.rx_start  # frames of the interrupted reply are not this turn's own speech
    if turn.kind == "barge_in" and speech_at is not None:
        # A turn failed mid-interruption (the deadline) never reached its EoS: all it heard counts.
        caller_eos = turn.eos_at if turn.eos_at is not None else math.inf
        last = interrupted_reply_end(
            rx_at, level, threshold, start=speech_at, caller_eos=caller_eos, link_s=turn.end_silence_s
        )
        m["barge_in_stop_ms"] = 0.0 if last is None else (rx_at[last] - speech_at) * 1000.0
        if last is not None:
            after = max(after, last + 1)
        clears = [t for t in turn.clear_at if t >= speech_at]
        if clears:
            m["clear_ms"] = (clears[0] - speech_at) * 1000.0
    if turn.eos_at is None:
        return m
    if not loopback and speech_at is not None:
        _talk_over(m, rec, turn, speech_at, after, stop)
    _dead_air(m, rec, turn, stop, dead_air_threshold_ms)
    return m


def _talk_over(
    m: dict[str, float | int | None], rec: CallRecord, turn: TurnRecord, speech_at: float, after: int, stop: int
) -> None:
    """Bot speech heard while the caller spoke or paused mid-utterance, and the wait after EoS."""
    assert turn.eos_at is not None
    threshold, rx_at, level = rec.silence_threshold_dbfs, rec.rx_at, rec.rx_level
    over_samples, onsets = 0, 0
    prev: float | None = None
    first_speech: int | None = None
    for i in range(after, stop):
        t = rx_at[i]
        if t <= speech_at or level[i] <= threshold:
            continue
        if first_speech is None:
            first_speech = i
        if t > turn.eos_at:
            break
        over_samples += len(rec.rx_audio[i]) if i < len(rec.rx_audio) else 0
        if prev is None or t - prev >= turn.end_silence_s:
            onsets += 1
        prev = t
    m["talk_over_ms"] = over_samples * 1000.0 / rec.sample_rate
    m["early_endpoints"] = onsets
    if first_speech is not None:
        m["endpoint_wait_ms"] = (rx_at[first_speech] - turn.eos_at) * 1000.0


def _dead_air(
    m: dict[str, float | int | None], rec: CallRecord, turn: TurnRecord, stop: int, threshold_ms: float
) -> None:
    """The reply's silences between stretches of speech, as audio duration."""
    if turn.first_loud is None or turn.last_loud is None:
        return
    threshold, level = rec.silence_threshold_dbfs, rec.rx_level
    longest, count, run = 0, 0, 0
    end = min(turn.last_loud + 1, stop)
    for i in range(turn.first_loud, end):
        if level[i] > threshold:
            if run:
                longest = max(longest, run)
                count += int(run * 1000.0 / rec.sample_rate >= threshold_ms)
            run = 0
        else:
            run += len(rec.rx_audio[i])
    m["dead_air_max_ms"] = longest * 1000.0 / rec.sample_rate
    m["dead_air_count"] = count


__all__ = ["DYNAMICS", "interrupted_reply_end", "measure_dynamics", "speech_start_sent"]
