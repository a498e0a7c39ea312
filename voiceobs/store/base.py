"""The store handle every aggregate shares: one engine, one way to open it, one transaction shape.

Each aggregate of the store (runs, evaluations, incidents, hook claims)
lives in its own module as a mixin over ``StoreBase``; ``voiceobs.store.Store``
puts them together. All of them open transactions through ``session()``, so
a driver error always becomes a one-line ``StoreError``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Self

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from voiceobs.store.engine import make_engine, redact_url, translate_db_error


class StoreBase:
    """A handle on one result store (SQLite file or PostgreSQL database)."""

    def __init__(self, engine: Engine, url: str | None = None) -> None:
        self.engine = engine
        self.url = url or engine.url.render_as_string(hide_password=False)
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def open(cls, url: str, *, create: bool = False, check_schema: bool = True) -> Self:
        """Open the store at ``url``.

        ``create`` brings a new or old store to the current schema (migrations);
        otherwise a store at the wrong schema raises ``SchemaMismatch`` with
        the command that fixes it.
        """
        from voiceobs.store import migrations

        store = cls(make_engine(url), url)
        if create:
            migrations.upgrade(store.engine)
        elif check_schema:
            migrations.check(store.engine, url)
        return store

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    @property
    def display_url(self) -> str:
        """The URL with its password hidden, for messages."""
        return redact_url(self.url)

    def close(self) -> None:
        """Release pooled connections."""
        self.engine.dispose()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: committed on success, rolled back on error, errors made one-line."""
        session = self._sessions()
        try:
            yield session
            session.commit()
        except SQLAlchemyError as exc:
            session.rollback()
            raise translate_db_error(exc, self.url) from exc
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()


__all__ = ["StoreBase"]
