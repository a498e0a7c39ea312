"""Against the real echo server: a known delay gives each latency figure, from recorded times."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from tests.helpers import SHORT_PROMPT, ServerProcess
from voiceobs.probe.call import CallPlan, CallRecord, TurnPlan, place_call
from voiceobs.probe.measure import measure_turn
from voiceobs.probe.prompts import frame_levels_dbfs, load_prompt
from voiceobs.probe.protocols import wire_for

pytestmark = pytest.mark.slow


def _call(url: str, protocol: str, fault: str = "", **kw: float) -> CallRecord:
    rate = 8000 if protocol == "twilio" else 16000
    prompt = load_prompt(text=SHORT_PROMPT, sample_rate=rate, protocol=protocol)
    plan = CallPlan(
        url=url,
        turns=[TurnPlan(prompt, end_silence_s=0.3)],
        params={"voiceobs_fault": fault} if fault else {},
        first_audio_timeout_s=kw.get("first_audio_s", 3.0),
        call_timeout_s=20,
    )
    return asyncio.run(place_call(plan, wire_for(protocol)))


@pytest.mark.parametrize("protocol", ["twilio", "pcm"])
def test_known_delay_gives_each_latency_figure(echo_server: ServerProcess, protocol: str) -> None:
    delay_ms = 1200.0  # longer than the prompt's EoS offset: the whole echo arrives after EoS
    base = _call(echo_server.url(protocol), protocol)
    slow = _call(echo_server.url(protocol), protocol, f"delay={delay_ms:g}")
    b, s = base.turns[0], slow.turns[0]
    mb = measure_turn(base, b, loopback=True)
    ms = measure_turn(slow, s, loopback=True)
    prompt = s.prompt
    assert s.eos_at is not None and s.sent_first_at is not None and slow.pacer is not None
    transport = mb["path_delay_ms"]
    assert transport is not None and 0 <= transport < 100  # sanity only: loopback
    # path delay: the arrival of the prompt's first speech frame, echoed, minus its send
    # time, both as recorded. The injected delay is a floor: a busy host's server adds its
    # own lateness, which is real delay and must be measured, not assumed away.
    slow_path = ms["path_delay_ms"]
    assert slow_path is not None
    sent = slow.pacer.actual
    j = prompt.first_speech_frame
    echoed = (slow.rx_at[s.rx_start + j] - sent[s.first_frame + j]) * 1000.0
    assert abs(slow_path - echoed) < 5.0
    assert slow_path - transport > delay_ms - 5.0
    # EoS is the recorded send time of the prompt's last speech frame (not its ideal
    # time: a busy host sends late, and the figures must follow what was sent).
    assert s.sent_first_at == sent[s.first_frame]
    assert s.eos_at == sent[s.first_frame + prompt.last_speech_frame]
    # Every echoed frame arrives the call's own path delay after it was sent, so
    # the figures below are predicted from this call's recorded send times.
    # ttfb: the echo of frame 0 is the first reply frame.
    assert ms["ttfb_ms"] is not None
    assert abs(ms["ttfb_ms"] - ((s.sent_first_at - s.eos_at) * 1000.0 + slow_path)) < 5.0
    # turn latency: the echo of the first frame above the silence threshold
    levels = frame_levels_dbfs(prompt.audio, prompt.sample_rate)
    first_loud = int(np.flatnonzero(levels > slow.silence_threshold_dbfs)[0])
    loud_sent = sent[s.first_frame + first_loud]
    expected = (loud_sent - s.eos_at) * 1000.0 + slow_path
    assert ms["turn_latency_ms"] is not None
    assert abs(ms["turn_latency_ms"] - expected) < 5.0
    response = ms["response_ms"]
    assert response is not None and response > 0
    # Gaps are the reply's inter-arrival times as recorded (a loaded host's server may
    # stall a frame past 60 ms: that is a real gap, counted, not an error of the probe).
    # (A loopback target's reply is everything received during the turn.)
    stop = s.rx_end if s.rx_end is not None else len(slow.rx_at)
    arrival_gaps = np.diff(np.asarray(slow.rx_at[s.rx_start : stop])) * 1000.0
    assert ms["gap_max_ms"] == pytest.approx(float(arrival_gaps.max()))
    assert ms["gaps_over_60ms"] == int((arrival_gaps > 60.0).sum())
    # connect: handshake plus start (acknowledged on PCM); loopback, so fast
    assert base.connect_ms is not None and 0 < base.connect_ms < 500
