"""Repository operations on SQLite and PostgreSQL (the `store` fixture runs each test on both)."""

from __future__ import annotations

from datetime import timedelta

from tests.store.factories import T0, make_run
from voiceobs.results import SpanRecord, utcnow
from voiceobs.store import Store


def test_save_run_stores_turns_and_spans_in_one_go(store: Store) -> None:
    run = make_run(turns=3)
    assert store.save_run(run) is True
    got = store.get_run(run.id)
    assert got is not None
    assert got.probe_name == "echo-loopback"
    assert got.started_at == T0
    assert [t.turn_index for t in got.turns] == [0, 1, 2]
    assert got.turns[0].turn_latency_ms == 420.0
    assert got.turns[0].transcript == "check my order [PHONE]"
    # Turns carry the run's dimensions for index-only SLO queries.
    assert {t.target_url for t in got.turns} == {run.target_url}
    spans = store.spans_for_run(run.id)
    assert [s.name for s in spans] == ["probe.run", "call"]
    assert spans[1].attributes == {"voice.audio_seconds": 2.5}


def test_saving_the_same_run_twice_is_a_no_op(store: Store) -> None:
    run = make_run()
    assert store.save_run(run) is True
    assert store.save_run(run) is False
    assert store.count_runs() == 1
    assert len(store.query_turns()) == 2


def test_failed_run_keeps_its_failure_class(store: Store) -> None:
    run = make_run(status="failed")
    store.save_run(run)
    got = store.get_run(run.id)
    assert got is not None and got.status == "failed"
    assert got.failure_class == "timeout"
    assert got.turns[0].turn_latency_ms is None


def test_query_turns_filters_by_window_and_dimensions(store: Store) -> None:
    for i in range(6):
        store.save_run(
            make_run(
                started_at=T0 + timedelta(minutes=10 * i),
                region="eu" if i % 2 else "us",
                target=f"ws://127.0.0.1:{8000 + i % 3}/twilio",
                turns=1,
                with_spans=False,
            )
        )
    window = store.query_turns(since=T0 + timedelta(minutes=10), until=T0 + timedelta(minutes=40))
    assert sorted(t.started_at for t in window) == [T0 + timedelta(minutes=m) for m in (10, 20, 30)]
    assert {t.region for t in store.query_turns(region="eu")} == {"eu"}
    assert len(store.query_turns(region="eu")) == 3
    assert len(store.query_turns(target="ws://127.0.0.1:8001/twilio")) == 2
    assert len(store.query_turns(probe="nope")) == 0
    newest_first = store.list_runs(limit=2)
    assert [r.started_at for r in newest_first] == [
        T0 + timedelta(minutes=50),
        T0 + timedelta(minutes=40),
    ]


def test_save_spans_skips_ones_already_stored(store: Store) -> None:
    spans = [
        SpanRecord(trace_id="f" * 32, span_id=f"{i:016x}", name="asr", start_ns=i, end_ns=i + 5)
        for i in range(3)
    ]
    assert store.save_spans(spans) == 3
    assert (
        store.save_spans(
            [
                *spans,
                SpanRecord(trace_id="f" * 32, span_id="e" * 16, name="tts", start_ns=9, end_ns=10),
            ]
        )
        == 1
    )


def test_evaluations_are_appended_and_latest_is_per_slo(store: Store) -> None:
    for i, state in enumerate(["ok", "page", "ok"]):
        store.record_evaluation(
            slo_name="latency", window="30d", objective=0.99, good=90 + i, total=100,
            sli=0.9, budget_remaining=-9.0, burn_rates={"1h": 10.0, "5m": None},
            alert_state=state, evaluated_at=T0 + timedelta(minutes=i),
        )  # fmt: skip
    store.record_evaluation(slo_name="availability", window="30d", objective=0.999, good=1,
                            total=1, sli=1.0, budget_remaining=1.0, burn_rates={},
                            alert_state="ok", evaluated_at=T0)  # fmt: skip
    history = store.evaluations("latency")
    assert [e.alert_state for e in history] == ["ok", "page", "ok"]
    assert history[1].burn_rates == {"1h": 10.0, "5m": None}
    latest = {e.slo_name: e for e in store.latest_evaluations()}
    assert latest["latency"].good == 92
    assert set(latest) == {"latency", "availability"}


def test_one_open_incident_per_slo_and_severity(store: Store) -> None:
    first, created = store.open_incident("latency", "page", summary="burning")
    assert created
    again, created_again = store.open_incident("latency", "page")
    assert not created_again and again.id == first.id
    ticket, created_ticket = store.open_incident("latency", "ticket")
    assert created_ticket and ticket.id != first.id
    assert store.acknowledge_incident(first.id, by="alice")
    assert store.resolve_incident(first.id, by="bob") is True
    assert store.resolve_incident(first.id, by="carol") is False  # already resolved
    resolved = store.get_incident(first.id)
    assert resolved is not None
    assert (resolved.state, resolved.resolved_by, resolved.acknowledged_by) == (
        "resolved",
        "bob",
        "alice",
    )
    assert [a.action for a in store.incident_actions(first.id)] == ["acknowledge", "resolve"]
    # After resolution a new incident may open for the same SLO.
    reopened, created_new = store.open_incident("latency", "page")
    assert created_new and reopened.id != first.id
    assert {i.id for i in store.list_incidents(open_only=True)} == {ticket.id, reopened.id}


def test_a_hook_is_claimed_once_per_incident_event(store: Store) -> None:
    incident, _ = store.open_incident("latency", "page")
    assert store.claim_hook(incident.id, "failover", "firing", by="host-a") is True
    assert store.claim_hook(incident.id, "failover", "firing", by="host-b") is False
    assert store.claim_hook(incident.id, "failover", "resolved") is True
    store.record_delivery(
        hook_name="failover",
        action="webhook",
        event="firing",
        outcome="failed",
        incident_id=incident.id,
        attempt=1,
        response_code=500,
        error="HTTP 500",
    )
    store.record_delivery(hook_name="failover", action="webhook", event="firing", outcome="success",
                          incident_id=incident.id, attempt=2, response_code=200)  # fmt: skip
    trail = store.deliveries(incident.id)
    assert [(d.attempt, d.outcome, d.response_code) for d in trail] == [
        (1, "failed", 500),
        (2, "success", 200),
    ]


def test_a_hook_claim_is_leased_retried_and_finished(store: Store) -> None:
    incident, _ = store.open_incident("latency", "page")
    now = utcnow()
    give_up = now + timedelta(hours=1)
    lease = store.take_hook_lease(
        incident.id, "pager", "firing", by="a", lease_seconds=30, give_up_at=give_up, now=now
    )
    assert lease is not None and lease.interrupted is None
    key = lease.claim.idempotency_key
    assert lease.claim.state == "delivering" and lease.claim.give_up_at == give_up
    # While the lease runs nobody else gets it.
    assert store.take_hook_lease(incident.id, "pager", "firing", by="b", lease_seconds=30) is None
    # Failed: pending until next_attempt_at; then due; a stale token cannot touch it.
    retry = now + timedelta(seconds=5)
    assert store.release_hook_lease(
        lease.claim.id, lease.token, attempts=2, next_attempt_at=retry, error="HTTP 500"
    )
    assert not store.release_hook_lease(
        lease.claim.id, lease.token, attempts=1, next_attempt_at=retry, error="x"
    )
    [pending] = store.hook_claims(incident.id, states=["pending"])
    assert (pending.attempts, pending.last_error, pending.lease_token) == (2, "HTTP 500", None)
    assert store.due_hook_claims(now=now) == []
    assert [c.id for c in store.due_hook_claims(now=retry)] == [pending.id]
    assert store.take_hook_lease(incident.id, "pager", "firing", lease_seconds=30, now=now) is None
    again = store.take_hook_lease(incident.id, "pager", "firing", by="b", lease_seconds=30,
                                  now=retry)  # fmt: skip
    assert again is not None and again.interrupted is None
    assert again.claim.idempotency_key == key  # one key for every attempt of the event
    # b dies mid-delivery: once its lease has run out, c takes over and learns of it.
    later = retry + timedelta(seconds=31)
    assert [c.id for c in store.due_hook_claims(now=later)] == [pending.id]
    taken = store.take_hook_lease(incident.id, "pager", "firing", by="c", lease_seconds=30,
                                  now=later)  # fmt: skip
    assert taken is not None and taken.interrupted is not None
    assert taken.interrupted.claimed_by == "b"
    assert taken.claim.attempts == 3  # b's cut-off attempt counts
    # b's late failure report is ignored (it lost the lease); c's success ends the claim.
    assert not store.finish_hook_lease(again.claim.id, again.token, state="given_up", attempts=1)
    assert store.finish_hook_lease(taken.claim.id, taken.token, state="delivered", attempts=1)
    [done] = store.hook_claims(incident.id)
    assert (done.state, done.attempts, done.lease_until) == ("delivered", 4, None)
    assert store.take_hook_lease(incident.id, "pager", "firing", lease_seconds=30,
                                 now=later + timedelta(days=9)) is None  # fmt: skip
    assert store.hook_claim_counts([incident.id]) == {incident.id: {"delivered": 1}}


def test_status_counts_rows(store: Store) -> None:
    store.save_run(make_run(turns=3))
    st = store.status()
    assert st.up_to_date
    assert st.counts["probe_runs"] == 1
    assert st.counts["turns"] == 3
    assert st.counts["spans"] == 2
