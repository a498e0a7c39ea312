"""One call seen from both sides: joined by trace id or call SID, whichever side arrives first."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.store.factories import T0, make_run
from voiceobs.errors import StoreError
from voiceobs.results import RunResult, SpanRecord, TurnResult
from voiceobs.store import Store
from voiceobs.store.joins import join_call, join_calls


def _probe(**kw: object) -> RunResult:
    run = make_run(turns=2, latency_ms=900.0, with_spans=False)
    run.framework, run.call_sid, run.stream_sid = "voiceobs", "CAprobe1", "MZprobe1"
    for k, v in kw.items():
        setattr(run, k, v)
    return run


def _bot(reported: list[float | None], **kw: object) -> RunResult:
    run = RunResult(
        probe_name="support-bot", target_url="pipecat://support-bot", started_at=T0 + timedelta(seconds=1),
        source="production", framework="pipecat", service="support-bot", conversation_id="CAprobe1",
    )  # fmt: skip
    run.turns = [TurnResult(i, reported_latency_ms=r) for i, r in enumerate(reported)]
    for k, v in kw.items():
        setattr(run, k, v)
    return run


@pytest.mark.parametrize("order", ["probe first", "bot first"])
def test_join_by_call_sid_gives_the_unseen_latency(store: Store, order: str) -> None:
    probe, bot = _probe(), _bot([610.0, 720.0])
    first, second = (probe, bot) if order == "probe first" else (bot, probe)
    store.save_run(first)
    assert join_call(store, first.id) is None  # the other side has not arrived yet
    store.save_run(second)
    assert join_call(store, second.id) == first.id
    p, b = store.get_run(probe.id), store.get_run(bot.id)
    assert p is not None and b is not None
    assert (p.joined_run_id, b.joined_run_id) == (bot.id, probe.id)
    # The probe's turns: caller-heard 900 ms each, the bot saw 610 and 720.
    assert [(t.turn_latency_ms, t.reported_latency_ms, t.unseen_latency_ms) for t in p.turns] == [
        (900.0, 610.0, 290.0),
        (900.0, 720.0, 180.0),
    ]
    # Joining again changes nothing (and does not rewrite the turns).
    ids = [t.id for t in p.turns]
    assert join_call(store, bot.id) == probe.id
    again = store.get_run(probe.id)
    assert again is not None and [t.id for t in again.turns] == ids


def test_join_by_trace_id(store: Store) -> None:
    probe = _probe(call_sid=None, stream_sid=None)
    bot = _bot([500.0], conversation_id=None, trace_id=probe.trace_id)
    store.save_run(probe)
    store.save_run(bot)
    assert join_call(store, bot.id) == probe.id


def test_unrelated_and_distant_calls_are_not_joined(store: Store) -> None:
    store.save_run(_probe())
    assert store.save_run(_bot([500.0], conversation_id="CAother"))
    late = _bot([500.0], started_at=T0 + timedelta(hours=3))
    store.save_run(late)
    assert join_call(store, late.id) is None
    # Two probe calls never join each other, whatever they share.
    twin = _probe(started_at=T0 + timedelta(seconds=5))
    store.save_run(twin)
    assert join_call(store, twin.id) is None


def test_replace_run_rewrites_turns_keeps_spans_and_the_join(store: Store) -> None:
    probe, bot = _probe(), _bot([610.0])
    store.save_run(probe)
    store.save_run(bot)
    join_call(store, bot.id)
    span = SpanRecord(trace_id="a" * 32, span_id="b" * 16, name="turn", start_ns=1, end_ns=2)
    grown = _bot([610.0, 700.0])
    grown.id, grown.spans = bot.id, [span]
    assert store.replace_run(grown) is True
    again = store.replace_run(grown)  # a replayed batch: same content, no duplicates
    assert again is True
    row = store.get_run(bot.id)
    assert row is not None and [t.reported_latency_ms for t in row.turns] == [610.0, 700.0]
    assert row.joined_run_id == probe.id
    assert [s.span_id for s in store.spans_for_run(bot.id)] == ["b" * 16]
    fresh = _bot([1.0])
    assert store.replace_run(fresh) is False  # new: inserted
    assert store.get_run(fresh.id) is not None


def _reported(store: Store, run: RunResult) -> list[float | None]:
    row = store.get_run(run.id)
    assert row is not None and row.finished_at is not None
    assert all(t.source == "production" for t in row.turns)
    return [t.reported_latency_ms for t in row.turns]


def test_replace_runs_stores_a_batch_keeping_joins_and_each_call_s_newest_version(store: Store) -> None:
    probe, bot = _probe(), _bot([610.0])
    store.save_run(probe)
    store.save_run(bot)
    join_call(store, bot.id)
    grown = _bot([610.0, 700.0])
    grown.id = bot.id
    others = [_bot([float(i)], conversation_id=f"CAother{i}") for i in range(5)]
    newer = _bot([1.0, 2.0], conversation_id="CAother0")
    newer.id = others[0].id  # the same call twice in one batch: its newest version wins
    assert store.replace_runs([grown, *others, newer]) == 1  # one was stored already
    # The same batch again, as a replayed spool would bring it: nothing duplicated.
    assert store.replace_runs([grown, *others, newer]) == 6
    assert _reported(store, grown) == [610.0, 700.0]
    row = store.get_run(grown.id)
    assert row is not None and row.joined_run_id == probe.id  # the join survives the rewrite
    assert _reported(store, newer) == [1.0, 2.0]
    for i, run in enumerate(others[1:], start=1):
        assert _reported(store, run) == [float(i)]
    assert store.count_runs(source="production") == 6


def test_replace_runs_is_all_or_nothing(store: Store) -> None:
    good = _bot([1.0], conversation_id="CAgood")
    bad = _bot([2.0], conversation_id="CAbad")
    bad.turns = [TurnResult(0), TurnResult(0)]  # two turns with one index: the batch is refused
    with pytest.raises(StoreError):
        store.replace_runs([good, bad])
    assert store.get_run(good.id) is None


def test_join_calls_joins_only_the_runs_with_a_counterpart(store: Store) -> None:
    probe = _probe()
    store.save_run(probe)
    bots = [_bot([600.0])] + [_bot([500.0], conversation_id=f"CAnone{i}") for i in range(4)]
    far = _bot([500.0], started_at=T0 + timedelta(hours=3))  # the probe's SID, but hours apart
    for b in [*bots, far]:
        store.save_run(b)
    assert join_calls(store, [b.id for b in [*bots, far]]) == {bots[0].id: probe.id}
    p = store.get_run(probe.id)
    assert p is not None and p.joined_run_id == bots[0].id
    assert [t.unseen_latency_ms for t in p.turns] == [300.0, None]
    assert join_calls(store, []) == {}
    # From the probe's side, the same pair.
    assert join_calls(store, [probe.id]) == {probe.id: bots[0].id}
