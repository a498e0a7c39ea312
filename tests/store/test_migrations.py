"""Migrations and models agree, and upgrading keeps the rows a store already holds."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from tests.store.factories import make_run
from voiceobs.errors import SchemaMismatch
from voiceobs.store import Store, make_engine, metadata, migrations


def test_autogenerate_finds_no_difference(db_url: str) -> None:
    store = Store.open(db_url, create=True)
    with store.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(ctx, metadata) == []
    store.close()


def test_upgrade_from_every_revision_keeps_rows(db_url: str) -> None:
    scripts = ScriptDirectory.from_config(migrations.alembic_config())
    revisions = [s.revision for s in reversed(list(scripts.walk_revisions()))]
    engine = make_engine(db_url)
    # Start at the first revision, store a run, then walk to head.
    command.upgrade(migrations.alembic_config(engine), revisions[0])
    store = Store(engine, db_url)
    run = make_run(turns=2)
    assert store.save_run(run)
    migrations.upgrade(engine)
    assert migrations.current_revision(engine) == migrations.head_revision()
    again = Store.open(db_url)
    got = again.get_run(run.id)
    assert got is not None and len(got.turns) == 2
    assert got.turns[1].pesq_wb == 3.9


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
