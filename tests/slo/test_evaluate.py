"""Evaluation on real stores: hand-computed SLIs, budgets, burn rates and alert states."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.slo.helpers import T0, add_calls, add_latency, add_turns
from voiceobs.slo import evaluate, parse_slos
from voiceobs.store import SloRollup, Store
from voiceobs.store.sli import counts, source_for

MIN = timedelta(minutes=1)
US = timedelta(microseconds=1)


def spec(body: str) -> str:
    return "version: voiceobs/v1\nslos:\n" + body


LATENCY_30D = parse_slos(spec("""
  - name: lat
    sli: {kind: latency, threshold_ms: 500}
    objective: 99%
    window: 30d
"""))


def test_window_boundaries_are_half_open(store: Store) -> None:
    """[now - w, now): the row at now - w is in, the row at now is out, at any sub-minute now."""
    now = T0 + timedelta(hours=2, seconds=30, milliseconds=250)
    add_latency(store, now - timedelta(hours=1), 900)            # in 1h (bad)
    add_latency(store, now - timedelta(hours=1) - US, 900)       # out of 1h
    add_latency(store, now - timedelta(minutes=5), 100)          # in 5m and 1h (good)
    add_latency(store, now - timedelta(minutes=5) - US, 900)     # in 1h only (bad)
    add_latency(store, now - US, 100)                            # in everything (good)
    add_latency(store, now, 900)                                 # out: the future
    add_latency(store, now - timedelta(minutes=30, seconds=10), 100)  # 1h only (good)
    [hour] = evaluate(store, LATENCY_30D, now=now, window=timedelta(hours=1), record=False)
    assert (hour.good, hour.total) == (3, 5)
    [five] = evaluate(store, LATENCY_30D, now=now, window=timedelta(minutes=5), record=False)
    assert (five.good, five.total) == (2, 2)
    [full] = evaluate(store, LATENCY_30D, now=now, record=False)
    assert (full.good, full.total) == (3, 6)
    # burn = (1 - SLI) / (1 - objective): 1h has 2 bad of 5 -> 0.4 / 0.01 = 40
    assert full.burn_rates["1h"] == pytest.approx(40.0)
    assert full.burn_rates["5m"] == pytest.approx(0.0)
    assert full.sli == pytest.approx(0.5)
    assert full.budget_remaining == pytest.approx(1 - 0.5 / 0.01)


def test_rollup_matches_raw_scan_at_random_instants(store: Store) -> None:
    rng = random.Random(7)
    rows = [(T0 + timedelta(seconds=rng.uniform(0, 5 * 3600)), rng.random() > 0.1,
             {"turn_latency_ms": rng.choice([None, rng.uniform(100, 900)])}) for _ in range(600)]
    add_turns(store, rows)
    slo = LATENCY_30D[0]
    src = source_for(slo.sli_query())
    for _ in range(12):
        now = T0 + timedelta(seconds=rng.uniform(0, 6 * 3600))
        for length in (timedelta(minutes=5), timedelta(minutes=37, seconds=13), timedelta(hours=3)):
            [r] = evaluate(store, [slo], now=now, window=length, record=False)
            with store.engine.connect() as conn:
                good, total = conn.execute(counts(src, now - length, now)).one()
            assert (r.good, r.total) == (good, total)
    with store.engine.connect() as conn:
        minutes = conn.execute(select(SloRollup.minute)).scalars().all()
    # One row per whole minute (an SQL division that went fractional would make one per row).
    assert 0 < len(minutes) <= 6 * 60 + 1
    assert all(isinstance(m, int) for m in minutes)
    assert len(set(minutes)) == len(minutes)


def test_late_rows_are_folded_into_old_minutes(store: Store) -> None:
    now = T0 + timedelta(hours=3)
    add_latency(store, T0 + timedelta(minutes=10), 100)
    [r] = evaluate(store, LATENCY_30D, now=now, record=False)
    assert (r.good, r.total) == (1, 1)
    # A spool replayed hours later: old started_at, new (higher) id.
    add_latency(store, T0 + timedelta(minutes=10, seconds=5), 900)
    add_latency(store, T0 + timedelta(minutes=90), 100)
    [r] = evaluate(store, LATENCY_30D, now=now, record=False)
    assert (r.good, r.total) == (2, 3)


def test_null_measures_failed_calls_bad_unmeasured_excluded_or_bad(store: Store) -> None:
    slos = parse_slos(spec("""
  - name: pesq-exclude
    sli: {kind: quality, measure: pesq_wb, op: ">=", threshold: 3.5}
    objective: 90%
    window: 1d
  - name: pesq-bad
    sli: {kind: quality, measure: pesq_wb, op: ">=", threshold: 3.5, missing: bad}
    objective: 90%
    window: 1d
  - name: wer
    sli: {kind: quality, measure: wer, op: "<", threshold: 0.2}
    objective: 90%
    window: 1d
"""))
    at = T0 + timedelta(minutes=1)
    add_turns(store, [
        (at, True, {"pesq_wb": 4.0, "wer": 0.1}),     # good, good
        (at, True, {"pesq_wb": 3.5, "wer": 0.2}),     # good (>= is inclusive), bad (< is strict)
        (at, True, {"pesq_wb": 2.0}),                 # bad; wer not measured
        (at, True, {}),                               # nothing measured
    ])
    add_turns(store, [(at, False, {})], status="failed")  # failed call: bad everywhere
    excl, bad, wer = evaluate(store, slos, now=T0 + timedelta(hours=1), record=False)
    assert (excl.good, excl.total) == (2, 4)   # the unmeasured ok turn is left out
    assert (bad.good, bad.total) == (2, 5)     # ... or counted bad
    assert (wer.good, wer.total) == (1, 3)


def test_availability_counts_calls_and_selects_by_labels(store: Store) -> None:
    slos = parse_slos(spec("""
  - name: avail
    selector: {probe: echo-loopback, labels: {team: voice}}
    sli: {kind: availability}
    objective: 99.5%
    window: 1d
  - name: lat-voice
    selector: {labels: {team: voice}}
    sli: {kind: latency, threshold_ms: 500}
    objective: 99%
    window: 1d
"""))
    at = T0 + timedelta(minutes=5)
    add_calls(store, [(at, "ok")] * 7 + [(at, "failed")] * 2, labels={"team": "voice"})
    add_calls(store, [(at, "failed")] * 5, labels={"team": "other"})
    add_calls(store, [(at, "failed")] * 3, probe="codec-loopback", labels={"team": "voice"})
    add_latency(store, at, 100, labels={"team": "voice"})
    add_latency(store, at, 900, labels={"team": "other"})
    avail, lat = evaluate(store, slos, now=T0 + timedelta(hours=1), record=False)
    assert (avail.good, avail.total) == (7 + 1, 9 + 1)  # + the run holding the voice turn
    assert (lat.good, lat.total) == (1, 1)


def test_calendar_month_starts_on_the_first(store: Store) -> None:
    slos = parse_slos(spec("""
  - name: month
    sli: {kind: latency, threshold_ms: 500}
    objective: 99%
    window: calendar_month
"""))
    add_latency(store, T0 - US, 900)                # 31 Oct: last month
    add_latency(store, T0, 100)                     # 1 Nov 00:00: this month
    add_latency(store, T0 + timedelta(days=20), 900)
    [r] = evaluate(store, slos, now=T0 + timedelta(days=25), record=False)
    assert r.window == "calendar_month" and r.window_start == T0
    assert (r.good, r.total) == (1, 2)


def test_evaluations_are_recorded(store: Store) -> None:
    add_latency(store, T0, 100)
    add_latency(store, T0, 900)
    now = T0 + timedelta(minutes=10)
    [r] = evaluate(store, LATENCY_30D, now=now)
    [row] = store.evaluations("lat")
    assert row.evaluated_at == now and row.window == "30d"
    assert (row.good, row.total, row.sli) == (1, 2, 0.5)
    assert row.alert_state == r.alert_state == "page"
    assert row.burn_rates == pytest.approx(r.burn_rates)
    assert row.budget_remaining == pytest.approx(-49.0)


# -- alert states ----------------------------------------------------------------------------
# A 3-day SLO at 99%: the workbook windows scaled by 3d/30d = 0.1 give
#   page   14.4x over 6m and 30s,   page 6x over 36m and 3m,   ticket 1x over 7h12m and 36m.
# Ten turns a minute (one every 6 s); in minute m the first bad(m) turns are bad.

THREE_DAY = parse_slos(spec("""
  - name: burn
    sli: {kind: latency, threshold_ms: 500}
    objective: 99%
    window: 3d
"""))


def bad_in_minute(m: int) -> int:
    if 100 <= m < 400:
        return 1 if m % 4 == 0 else 0   # 2.5%: a slow burn
    if 400 <= m < 440:
        return 1                        # 10%
    if 440 <= m < 450:
        return 5                        # 50%
    return 0


@pytest.fixture
def burning(store: Store) -> Store:
    rows = []
    for m in range(520):
        for k in range(10):
            at = T0 + timedelta(minutes=m, seconds=6 * k)
            rows.append((at, True, {"turn_latency_ms": 900.0 if k < bad_in_minute(m) else 100.0}))
    add_turns(store, rows)
    return store


def state_at(store: Store, minute: int) -> tuple[str, dict[str, float | None]]:
    [r] = evaluate(store, THREE_DAY, now=T0 + timedelta(minutes=minute), record=False)
    return r.alert_state, r.burn_rates


def test_scaled_windows_for_a_three_day_slo(burning: Store) -> None:
    _, burns = state_at(burning, 400)
    assert list(burns) == ["30s", "3m", "6m", "36m", "7h12m"]


def test_every_alert_state_transition(burning: Store) -> None:
    # 100: nothing bad yet.
    state, burns = state_at(burning, 100)
    assert state == "ok" and burns["7h12m"] == 0.0
    # 300: 50 bad of the 3000 turns so far (1.67x) and 9 of 360 in 36m (2.5x): ticket only.
    state, burns = state_at(burning, 300)
    assert burns["7h12m"] == pytest.approx((50 / 3000) / 0.01)  # data starts at minute 0
    assert burns["36m"] == pytest.approx((9 / 360) / 0.01)
    assert burns["6m"] == pytest.approx((1 / 60) / 0.01)
    assert state == "ticket"                                     # ok -> ticket
    # 440: 36m at 10% (10x) and 3m at 10% -> page (6x pair); 6m at 10% stays under 14.4x.
    state, burns = state_at(burning, 440)
    assert burns["36m"] == pytest.approx(10.0) and burns["3m"] == pytest.approx(10.0)
    assert burns["6m"] == pytest.approx(10.0)
    assert state == "page"                                       # ticket -> page, ok(100) -> page
    # 450: 6m at 50% but the last 30 s of minute 449 are clean (bad turns come first).
    state, burns = state_at(burning, 450)
    assert burns["6m"] == pytest.approx(50.0) and burns["30s"] == 0.0
    assert burns["36m"] == pytest.approx(((26 + 50) / 360) / 0.01)
    assert state == "page"
    # 455: 3m clean -> no page; 7h12m holds 75 + 40 + 50 bad of 4320 and 36m 71 of 360.
    state, burns = state_at(burning, 455)
    assert burns["3m"] == 0.0 and burns["36m"] == pytest.approx((71 / 360) / 0.01)
    assert burns["7h12m"] == pytest.approx((165 / 4320) / 0.01)
    assert state == "ticket"                                     # page -> ticket
    # 490: 36m clean -> ok.
    state, burns = state_at(burning, 490)
    assert burns["36m"] == 0.0
    assert state == "ok"                                         # ticket -> ok, page(450) -> ok
    # 444m20s, windows cut mid-minute: 30s [443:50, 444:20) holds turn 9 of minute 443 (good)
    # and turns 0-3 of minute 444 (bad): 4 of 5. 6m [438:20, 444:20) holds 6 + 10 + 40 + 4
    # turns of which 0 + 1 + 20 + 4 are bad.
    [r] = evaluate(burning, THREE_DAY, now=T0 + timedelta(minutes=444, seconds=20), record=False)
    assert r.burn_rates["30s"] == pytest.approx((4 / 5) / 0.01)
    assert r.burn_rates["6m"] == pytest.approx((25 / 60) / 0.01)
    assert ("page", "6m", "30s") in {(f.severity, f.long_window, f.short_window) for f in r.firing}


def test_alerting_switches_turn_severities_off(burning: Store) -> None:
    no_page = parse_slos(spec("""
  - name: burn
    sli: {kind: latency, threshold_ms: 500}
    objective: 99%
    window: 3d
    alerting: {page: false}
"""))
    [r] = evaluate(burning, no_page, now=T0 + timedelta(minutes=440), record=False)
    assert r.alert_state == "ticket"
    assert all(f.severity == "ticket" for f in r.firing)


def test_selectors_split_production_from_synthetic_calls(store: Store) -> None:
    now = T0 + timedelta(hours=2)
    at = now - timedelta(minutes=30)
    # Probe turns are fast; real callers' turns (reported by the bot) are slow.
    add_turns(store, [(at, True, {"turn_latency_ms": 300.0})] * 4)
    add_turns(store, [(at, True, {"reported_latency_ms": 900.0})] * 3,
              probe="support-bot", source="production", framework="pipecat",
              service="support-bot", deployment="prod")  # fmt: skip
    add_turns(store, [(at, True, {"reported_latency_ms": 200.0})] * 2,
              probe="support-bot", source="production", framework="pipecat",
              service="support-bot", deployment="staging")  # fmt: skip
    spec = """\
version: voiceobs/v1
slos:
  - name: synthetic-latency
    selector: {source: synthetic}
    sli: {kind: latency, threshold_ms: 500}
    objective: 90%
    window: 1d
  - name: production-voice-to-voice
    selector: {source: production, framework: pipecat, service: support-bot}
    sli: {kind: latency, measure: reported_latency_ms, threshold_ms: 500}
    objective: 90%
    window: 1d
  - name: production-prod-only
    selector: {source: production, deployment: prod}
    sli: {kind: latency, measure: reported_latency_ms, threshold_ms: 500}
    objective: 90%
    window: 1d
"""
    results = {r.slo.name: r for r in evaluate(store, parse_slos(spec), now=now)}
    assert (results["synthetic-latency"].good, results["synthetic-latency"].total) == (4, 4)
    assert (results["production-voice-to-voice"].good, results["production-voice-to-voice"].total) == (2, 5)
    assert (results["production-prod-only"].good, results["production-prod-only"].total) == (0, 3)


@pytest.mark.parametrize(
    ("good", "total", "firing", "standing", "alert"),
    [
        (100, 100, [], "met", "ok"),
        (995, 1000, ["ticket"], "met", "ticket"),  # burning slowly, budget still half there
        (92, 100, [], "at_risk", "ok"),  # 8 % bad of a 10 % budget: 20 % left
        (60, 100, [], "breached", "ok"),  # after the burn: short windows recovered, budget spent
        (60, 100, ["page", "ticket"], "breached", "page"),
        (0, 0, [], "no_data", "ok"),
    ],
)
def test_standing_and_alert_state_are_two_things(
    good: int, total: int, firing: list[str], standing: str, alert: str
) -> None:
    from voiceobs.slo import Firing, SloResult

    [slo] = parse_slos(
        "version: voiceobs/v1\nslos:\n  - name: s\n    sli: {kind: availability}\n"
        "    objective: 90%\n    window: 1d\n"
    )
    result = SloResult(
        slo=slo, evaluated_at=T0, window="1d", window_start=T0, good=good, total=total,
        burn_rates={}, alerts=(),
        firing=[Firing(sev, "1h", "5m", 14.4, 20.0, 20.0) for sev in firing],
    )  # fmt: skip
    assert (result.standing, result.alert_state) == (standing, alert)
    assert result.to_json()["standing"] == standing and result.to_json()["alert_state"] == alert
