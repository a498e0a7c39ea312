"""Migrations and models agree, and upgrading keeps the rows a store already holds."""

from __future__ import annotations

from datetime import timedelta

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from tests.store.factories import make_run
from voiceobs.errors import SchemaMismatch
from voiceobs.results import utcnow
from voiceobs.store import Store, make_engine, metadata, migrations
from voiceobs.store.partitions import autogenerate_filter


def test_autogenerate_finds_no_difference(db_url: str) -> None:
    store = Store.open(db_url, create=True)
    with store.engine.connect() as conn:
        # PostgreSQL's day partitions and partition-keyed unique keys are no model's (see partitions).
        include = autogenerate_filter(conn.dialect.name)
        opts = {"compare_type": True, "include_object": include}
        ctx = MigrationContext.configure(conn, opts=opts)
        assert compare_metadata(ctx, metadata) == []
    store.close()


def test_upgrade_from_every_revision_keeps_rows(db_url: str) -> None:
    scripts = ScriptDirectory.from_config(migrations.alembic_config())
    revisions = [s.revision for s in reversed(list(scripts.walk_revisions()))]
    engine = make_engine(db_url)
    # Start at the first revision and store a call the way that schema held it
    # (plain SQL: today's models have columns the first schema lacks), then walk to head.
    command.upgrade(migrations.alembic_config(engine), revisions[0])
    started = "2026-11-01 12:00:00" if engine.dialect.name == "sqlite" else "2026-11-01T12:00:00+00:00"
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO probe_runs (id, probe_name, target_url, region, pipeline, protocol, labels,"
                " started_at, status, probe_host, voiceobs_version) VALUES ('r1', 'echo-loopback',"
                " 'ws://127.0.0.1:8765/twilio', 'local', 'echo', 'twilio', '{}', :at, 'ok', 'h', 'old')"
            ),
            {"at": started},
        )
        for i, pesq in enumerate((4.1, 3.9)):
            conn.execute(
                text(
                    "INSERT INTO turns (run_id, turn_index, prompt_id, started_at, probe_name,"
                    " target_url, region, ok, pesq_wb, quality_errors) VALUES ('r1', :i, 'p', :at,"
                    " 'echo-loopback', 'ws://127.0.0.1:8765/twilio', 'local', :ok, :pesq, '{}')"
                ),
                {"i": i, "at": started, "pesq": pesq, "ok": True},
            )
    migrations.upgrade(engine)
    assert migrations.current_revision(engine) == migrations.head_revision()
    again = Store.open(db_url)
    got = again.get_run("r1")
    assert got is not None and len(got.turns) == 2
    assert got.turns[1].pesq_wb == 3.9
    # Calls stored before production traffic existed were all placed by probes.
    assert (got.source, got.framework) == ("synthetic", "voiceobs")
    assert [(t.source, t.framework, t.flags, t.reported_latency_ms) for t in got.turns] == [
        ("synthetic", "voiceobs", {}, None)
    ] * 2
    # And today's code writes beside them.
    assert again.save_run(make_run(turns=1))
    again.close()


def test_downgrade_then_upgrade_round_trips(db_url: str) -> None:
    engine = make_engine(db_url)
    migrations.upgrade(engine)
    command.downgrade(migrations.alembic_config(engine), "base")
    assert migrations.current_revision(engine) is None
    migrations.upgrade(engine)
    assert migrations.current_revision(engine) == migrations.head_revision()


def test_store_from_a_newer_voiceobs_is_refused(db_url: str) -> None:
    store = Store.open(db_url, create=True)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'ffff_future'"))
    try:
        Store.open(db_url)
    except SchemaMismatch as exc:
        assert "newer than this voiceobs" in str(exc)
    else:
        raise AssertionError("a newer schema must be refused")


def test_empty_database_asks_for_upgrade(db_url: str) -> None:
    try:
        Store.open(db_url)
    except SchemaMismatch as exc:
        assert "voiceobs db upgrade" in str(exc)
    else:
        raise AssertionError("an empty database must be refused")


def test_upgrade_to_delivery_state_keeps_claims_and_gives_them_their_state(db_url: str) -> None:
    """0003 adds claim states; claims already stored get the state their audit trail shows."""
    engine = make_engine(db_url)
    command.upgrade(migrations.alembic_config(engine), "0002")
    old = Store(engine, db_url)
    incident, _ = old.open_incident("latency", "page")
    now = utcnow()

    def claim(hook: str, event: str, ago: timedelta) -> None:
        at = now - ago
        if engine.dialect.name == "sqlite":
            at = at.replace(tzinfo=None)  # SQLite holds naive UTC, as the store writes it
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO hook_claims (incident_id, hook_name, event, claimed_at, claimed_by)"
                    " VALUES (:i, :h, :e, :at, 'old-host')"
                ),
                {"i": incident.id, "h": hook, "e": event, "at": at},
            )

    def attempt(hook: str, event: str, outcome: str, n: int = 1) -> None:
        old.record_delivery(hook_name=hook, action="webhook", event=event, outcome=outcome,
                            incident_id=incident.id, attempt=n, error=f"{outcome} {n}")  # fmt: skip

    claim("pager", "firing", timedelta(minutes=5))
    attempt("pager", "firing", "failed", 1)
    attempt("pager", "firing", "ok", 2)
    claim("down", "firing", timedelta(hours=1))
    attempt("down", "firing", "failed")
    claim("old", "firing", timedelta(days=2))
    attempt("old", "firing", "timeout")
    claim("calm", "firing", timedelta(minutes=1))
    attempt("calm", "firing", "suppressed", 0)
    claim("pager", "dry:resolved", timedelta(minutes=1))
    attempt("pager", "resolved", "dry_run")
    rows_before = len(old.deliveries())

    migrations.upgrade(engine)
    store = Store.open(db_url)
    claims = {(c.hook_name, c.event): c for c in store.hook_claims(incident.id)}
    assert {k: (c.state, c.attempts) for k, c in claims.items()} == {
        ("pager", "firing"): ("delivered", 2),
        ("down", "firing"): ("pending", 1),
        ("old", "firing"): ("given_up", 1),
        ("calm", "firing"): ("suppressed", 0),
        ("pager", "dry:resolved"): ("delivered", 0),
    }
    assert len({c.idempotency_key for c in claims.values()}) == 5
    down = claims[("down", "firing")]
    assert down.give_up_at == down.claimed_at + timedelta(hours=24)
    assert down.last_error == "failed 1" and claims[("old", "firing")].last_error == "timeout 1"
    assert len(store.deliveries()) == rows_before  # the audit trail is untouched
    # The pending one is due: the next pass retries it.
    lease = store.take_hook_lease(incident.id, "down", "firing", lease_seconds=30)
    assert lease is not None and lease.claim.idempotency_key == down.idempotency_key
    assert store.take_hook_lease(incident.id, "pager", "firing", lease_seconds=30) is None
    store.close()
    engine.dispose()


def test_upgrade_to_dynamics_keeps_turns_as_spoken_prompts_from_a_clean_caller(db_url: str) -> None:
    """0005 adds the conversation-dynamics measures; turns already stored keep every value."""
    engine = make_engine(db_url)
    command.upgrade(migrations.alembic_config(engine), "0004")
    started = (
        "2026-11-01 12:00:00" if engine.dialect.name == "sqlite" else "2026-11-01T12:00:00+00:00"
    )
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO probe_runs (id, probe_name, target_url, region, pipeline, protocol, labels,"
                " started_at, status, probe_host, voiceobs_version, source, framework, service,"
                " deployment) VALUES ('r4', 'agent', 'ws://127.0.0.1:8765/twilio', 'local', 'agent',"
                " 'twilio', '{}', :at, 'ok', 'h', 'old', 'synthetic', 'voiceobs', '', '')"
            ),
            {"at": started},
        )
        conn.execute(
            text(
                "INSERT INTO turns (run_id, turn_index, prompt_id, started_at, probe_name, target_url,"
                " region, ok, turn_latency_ms, quality_errors, source, framework, service, flags)"
                " VALUES ('r4', 0, 'p', :at, 'agent', 'ws://127.0.0.1:8765/twilio', 'local', :ok, 812.5,"
                " '{}', 'synthetic', 'voiceobs', '', '{}')"
            ),
            {"at": started, "ok": True},
        )
    migrations.upgrade(engine)
    store = Store.open(db_url)
    got = store.get_run("r4")
    assert got is not None and len(got.turns) == 1
    turn = got.turns[0]
    assert turn.turn_latency_ms == 812.5
    assert (turn.kind, turn.caller, turn.snr_db) == ("prompt", {}, None)
    assert (turn.barge_in_stop_ms, turn.greeting_ms, turn.dead_air_max_ms, turn.early_endpoints) == (
        None, None, None, None,
    )  # fmt: skip
    # Today's code stores the new measures beside the old row.
    run = make_run(turns=1)
    run.turns[0].barge_in_stop_ms, run.turns[0].kind = 240.0, "barge_in"
    run.turns[0].caller, run.turns[0].snr_db = {"snr_db": 10.0}, 10.0
    assert store.save_run(run)
    new = store.get_run(run.id)
    assert new is not None
    assert (new.turns[0].barge_in_stop_ms, new.turns[0].kind, new.turns[0].caller, new.turns[0].snr_db) == (
        240.0, "barge_in", {"snr_db": 10.0}, 10.0,
    )  # fmt: skip
    store.close()
    engine.dispose()
