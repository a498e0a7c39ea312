"""Schema migrations with Alembic, run from code so users need no alembic.ini.

The migration scripts live in the top-level ``alembic/`` folder of a source
checkout, and inside the wheel as ``voiceobs/_migrations``; both are found
here. A store is refused when its revision is unknown to this voiceobs
(created by a newer release) or behind it (needs ``voiceobs db upgrade``).
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from voiceobs.errors import SchemaMismatch, StoreError
from voiceobs.store.engine import redact_url, translate_db_error


def script_location() -> Path:
    """The folder holding env.py and versions/."""
    package_dir = Path(__file__).resolve().parent.parent
    for candidate in (package_dir / "_migrations", package_dir.parent / "alembic"):
        if (candidate / "env.py").is_file():
            return candidate
    raise StoreError("voiceobs is installed without its migrations; reinstall the package")


def alembic_config(engine: Engine | None = None) -> Config:
    """An Alembic Config pointing at our scripts; ``engine`` is handed to env.py."""
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location()))
    if engine is not None:
        cfg.attributes["engine"] = engine
    return cfg


def head_revision() -> str | None:
    """The newest revision this voiceobs ships."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The store's revision, or None for an empty (never migrated) database."""
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except SQLAlchemyError as exc:
        raise translate_db_error(exc, str(engine.url)) from exc


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the store to ``revision``; creates every table on an empty database."""
    refuse_newer(engine, current_revision(engine))
    try:
        command.upgrade(alembic_config(engine), revision)
    except SQLAlchemyError as exc:
        raise translate_db_error(exc, str(engine.url)) from exc


def refuse_newer(engine: Engine, revision: str | None) -> None:
    """Raise SchemaMismatch when ``revision`` comes from a newer voiceobs than this one."""
    if revision is None:
        return
    scripts = ScriptDirectory.from_config(alembic_config())
    known = {s.revision for s in scripts.walk_revisions()}
    if revision not in known:
        raise SchemaMismatch(
            f"the store at {redact_url(str(engine.url))} has schema {revision}, newer than this "
            "voiceobs knows; upgrade voiceobs (pip install -U voiceobs) or point --db elsewhere"
        )


def check(engine: Engine, url: str | None = None) -> None:
    """Raise SchemaMismatch unless the store is exactly at our head revision."""
    revision = current_revision(engine)
    shown = redact_url(url or str(engine.url))
    if revision is None:
        raise SchemaMismatch(f"no voiceobs store at {shown}; create it with `voiceobs db upgrade`")
    refuse_newer(engine, revision)
    if revision != head_revision():
        raise SchemaMismatch(
            f"the store at {shown} is at schema {revision}, older than this voiceobs; "
            "run `voiceobs db upgrade`"
        )


__all__ = [
    "alembic_config",
    "check",
    "current_revision",
    "head_revision",
    "refuse_newer",
    "script_location",
    "upgrade",
]
