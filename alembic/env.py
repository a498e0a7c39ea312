"""Alembic environment: targets voiceobs.store metadata; batch mode so SQLite can ALTER."""

from __future__ import annotations

from alembic import context

from voiceobs.config import Settings
from voiceobs.store import make_engine, metadata
from voiceobs.store.partitions import autogenerate_filter

config = context.config
target_metadata = metadata


def run_migrations_offline() -> None:
    """Emit SQL without a database (``alembic upgrade --sql``)."""
    url = config.get_main_option("sqlalchemy.url") or Settings.load().db_url
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=url.startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Migrate the engine voiceobs handed over, or the configured store."""
    engine = config.attributes.get("engine")
    if engine is None:
        url = config.get_main_option("sqlalchemy.url") or Settings.load().db_url
        engine = make_engine(url)
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # Batch mode rebuilds a SQLite table by copying it and dropping the
            # original; with foreign keys on, dropping probe_runs would cascade
            # and delete every turn. The pragma only works outside a
            # transaction, so it goes to the raw connection before Alembic begins.
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        try:
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                render_as_batch=sqlite,
                compare_type=True,
                include_object=autogenerate_filter(connection.dialect.name),
            )
            with context.begin_transaction():
                context.run_migrations()
            connection.commit()
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                connection.commit()
                if broken:
                    raise RuntimeError(f"migration left rows without their parent: {broken[:5]}")
        finally:
            if sqlite:
                connection.connection.driver_connection.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
