"""Time partitions of ``turns`` and ``spans`` on PostgreSQL: made ahead, dropped whole by retention.

On PostgreSQL both tables are declarative RANGE-partitioned (migration 0007):
``turns`` by ``started_at``, ``spans`` by ``start_ns``, one partition per UTC
day named ``<table>_pYYYYMMDD``, and a ``<table>_default`` partition that
takes any row no day partition covers, so an insert never fails. A day is
the unit because retention is set in days: dropping whole days removes all
but the last partial day of what a policy expires, and the remainder a
prune deletes row by row is at most one day of rows (weekly partitions
would leave up to a week to delete one row at a time). A year of raw
retention is 365 partitions per table, which the planner prunes cheaply.

``ensure_partitions`` creates the days from today to ``ahead`` (a schedule in
``voiceobs watch`` and ``voiceobs collect`` calls it every hour), and moves
rows that landed in the default partition into the day that now holds them:
PostgreSQL refuses to attach a partition whose range has rows in the
default one, so those rows are moved (same ids, same values) into the new
table in the transaction that attaches it. Several hosts may run it at
once: a transaction-scoped advisory lock per table serialises them, and
each re-reads the partitions under the lock before creating anything.

Adding a day (its rows moved, then ``ATTACH PARTITION``) and dropping one
each hold an ACCESS EXCLUSIVE lock on the parent for their transaction, so
no insert is routed to the default partition while its range changes
(PostgreSQL would refuse that row); both wait at most ``LOCK_TIMEOUT`` for
it, so a long reader delays writers at most that long, and a change that
gets no lock is retried later. They take the tables their foreign keys
point at first, in the order writers do, so they never deadlock with one.
Days are made a week ahead, so this happens once a day per table, when
the default partition is empty: milliseconds. SQLite has no partitions:
every function here is a no-op there.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from math import ceil

from sqlalchemy import Connection, text
from sqlalchemy.exc import SQLAlchemyError

from voiceobs.errors import StoreError, VoiceObsError
from voiceobs.results import utcnow
from voiceobs.store.base import StoreBase
from voiceobs.store.engine import translate_db_error

log = logging.getLogger(__name__)

#: The partitioned tables and the column each is partitioned by.
PARTITION_KEYS: dict[str, str] = {"turns": "started_at", "spans": "start_ns"}
#: How far ahead of today ``ensure_partitions`` creates day partitions by default.
DEFAULT_AHEAD = timedelta(days=7)
#: How often the watch and collector loops call ``ensure_partitions``.
ENSURE_EVERY_S = 3600.0
#: Longest a partition change waits for a table lock before giving up until the next call.
LOCK_TIMEOUT = "2s"

DAY = timedelta(days=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NS_PER_DAY = 86_400 * 10**9
#: A partition's name: its table and the UTC day it holds, or the default one.
PARTITION_NAME = re.compile(r"^(turns|spans)_(p\d{8}|default)$")
_BOUND = re.compile(r"FOR VALUES FROM \((.+)\) TO \((.+)\)")


@dataclass(frozen=True)
class Partition:
    """One partition of a partitioned table: its name, its range, and (when counted) its rows.

    ``lower`` and ``upper`` are UTC times (``spans`` bounds in nanoseconds are
    converted); None is an unbounded side, and both are None for the default
    partition.
    """

    table: str
    name: str
    lower: datetime | None
    upper: datetime | None
    default: bool = False
    rows: int | None = None

    def overlaps(self, lower: datetime, upper: datetime) -> bool:
        """True when this partition's range meets ``[lower, upper)``."""
        if self.default:
            return False
        return (self.lower is None or self.lower < upper) and (
            self.upper is None or lower < self.upper
        )


def partition_name(table: str, day: date) -> str:
    """The name of ``table``'s partition for the UTC ``day``."""
    return f"{table}_p{day:%Y%m%d}"


def default_partition_name(table: str) -> str:
    """The name of the partition taking the rows no day partition covers."""
    return f"{table}_default"


def is_partitioned(store: StoreBase, table: str) -> bool:
    """True when ``table`` is a partitioned table in this store (never on SQLite)."""
    _check_table(table)
    if store.backend != "postgresql":
        return False
    with _begin(store) as conn:
        return _is_partitioned(conn, table)


def list_partitions(store: StoreBase, table: str) -> list[Partition]:
    """``table``'s partitions, oldest first, the default one last; empty when not partitioned."""
    _check_table(table)
    if store.backend != "postgresql":
        return []
    with _begin(store) as conn:
        return _partitions(conn, table)


def ensure_partitions(
    store: StoreBase, now: datetime, ahead: timedelta = DEFAULT_AHEAD
) -> list[str]:
    """Create the day partitions from ``now``'s UTC day to ``ahead`` after it; return those made.

    Also creates the day of every row sitting in a default partition, moving
    those rows into it, so the default partition empties at every call.
    Idempotent, and safe to run from several hosts at once. A no-op on
    SQLite and on tables that are not partitioned.
    """
    _check_aware(now, "now")
    if store.backend != "postgresql":
        return []
    first = now.astimezone(UTC).date()
    days = {first + timedelta(days=i) for i in range(max(0, ceil(ahead / DAY)) + 1)}
    created: list[str] = []
    for table in PARTITION_KEYS:
        with _begin(store) as conn:
            if not _is_partitioned(conn, table):
                continue
            known = _partitions(conn, table)
            wanted = days | set(_default_days(conn, table, known))
        for day in sorted(wanted):
            lower, upper = _day_range(day)
            if any(p.overlaps(lower, upper) for p in known):
                continue  # already there: no lock, no transaction beyond the read above
            name = _create_day(store, table, day)
            if name is not None:
                created.append(name)
    if created:
        log.info("created partitions %s", ", ".join(created))
    return created


def expired_partitions(store: StoreBase, table: str, cutoff: datetime) -> list[Partition]:
    """``table``'s partitions holding only rows older than ``cutoff``, oldest first, rows counted.

    The default partition is never listed: its old rows are deleted row by
    row with the rest of what a prune removes.
    """
    _check_table(table)
    _check_aware(cutoff, "cutoff")
    if store.backend != "postgresql":
        return []
    with _begin(store) as conn:
        return [
            replace(p, rows=_count(conn, p.name))
            for p in _expired(_partitions(conn, table), cutoff)
        ]


def drop_partitions_before(
    store: StoreBase, table: str, cutoff: datetime, dry_run: bool = False
) -> int:
    """Drop ``table``'s partitions entirely older than ``cutoff``; return how many rows went with them.

    ``dry_run`` counts them and drops nothing. Each partition is dropped in
    its own transaction under the parent's lock, after counting it there,
    so the count is exactly what was removed. Rows older than ``cutoff``
    that remain (in the default partition, or in the day the cutoff falls
    in) are the caller's to delete row by row. 0 on SQLite.
    """
    if dry_run:
        return sum(p.rows or 0 for p in expired_partitions(store, table, cutoff))
    _check_aware(cutoff, "cutoff")
    if not is_partitioned(store, table):
        return 0
    with _begin(store) as conn:  # counted under the lock below, not twice
        expired = _expired(_partitions(conn, table), cutoff)
    removed = 0
    for p in expired:
        with _begin(store) as conn:
            _lock(conn, table)
            _lock_referenced(conn, table)
            conn.exec_driver_sql(f'LOCK TABLE "{table}" IN ACCESS EXCLUSIVE MODE')
            # Re-read under the lock: another host may have dropped it meanwhile.
            if p.name not in {q.name for q in _expired(_partitions(conn, table), cutoff)}:
                continue
            rows = _count(conn, p.name)
            conn.exec_driver_sql(f'DROP TABLE "{p.name}"')
        removed += rows
        log.info("dropped partition %s (%d rows)", p.name, rows)
    return removed


class PartitionSchedule:
    """Calls ``ensure_partitions`` at most every ``every_s`` seconds, from a loop that runs anyway.

    Monitoring never breaks what it watches: a failure (the store down, a
    lock not granted in time) is logged and tried again ``retry_s`` later,
    long before the days made ahead run out.
    """

    def __init__(
        self,
        every_s: float = ENSURE_EVERY_S,
        ahead: timedelta = DEFAULT_AHEAD,
        retry_s: float = 60.0,
    ) -> None:
        self.every_s = every_s
        self.ahead = ahead
        self.retry_s = retry_s
        self._next = 0.0

    def tick(self, store: StoreBase, monotonic_s: float | None = None) -> list[str]:
        """Ensure partitions when due; returns the partitions created (empty when not due)."""
        now_s = time.monotonic() if monotonic_s is None else monotonic_s
        if now_s < self._next or store.backend != "postgresql":
            return []
        self._next = now_s + self.every_s
        try:
            return ensure_partitions(store, utcnow(), ahead=self.ahead)
        except VoiceObsError as exc:
            self._next = now_s + min(self.retry_s, self.every_s)
            log.warning(
                "could not create partitions ahead (%s); retried in %.0f s", exc, self.retry_s
            )
            return []


def autogenerate_filter(dialect: str) -> Callable[..., bool]:
    """Alembic's ``include_object`` for a store of ``dialect``: partitions are not model tables.

    On PostgreSQL the day partitions come and go with time, and the keys of
    the partitioned tables hold the partition key where the models (shared
    with SQLite) do not, and partitioned ``turns`` have no foreign key to
    ``probe_runs`` (migration 0008); comparing the models with such a store
    skips these, so autogenerate neither drops partitions nor "restores" the keys.
    Everything is compared on SQLite.
    """

    def include(
        obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
    ) -> bool:
        if dialect != "postgresql":
            return True
        if type_ == "table" and reflected and name and PARTITION_NAME.match(name):
            return False
        table = getattr(getattr(obj, "table", None), "name", None)
        keyed = type_ == "unique_constraint" and table in PARTITION_KEYS
        # Migration 0008 drops the partitioned turns' key to probe_runs (see there).
        unkeyed = type_ == "foreign_key_constraint" and table == "turns"
        return not ((keyed or unkeyed) and compare_to is None)

    return include


# -- internals -------------------------------------------------------------------------


@contextmanager
def _begin(store: StoreBase) -> Iterator[Connection]:
    try:
        with store.engine.begin() as conn:
            # Bounds of timestamptz partitions are printed in the session's zone; read them in UTC.
            conn.exec_driver_sql("SET LOCAL TimeZone = 'UTC'")
            yield conn
    except SQLAlchemyError as exc:
        raise translate_db_error(exc, store.url) from exc


def _check_table(table: str) -> None:
    if table not in PARTITION_KEYS:
        raise StoreError(
            f"{table!r} is not a partitioned table; use one of {', '.join(PARTITION_KEYS)}"
        )


def _check_aware(value: datetime, what: str) -> None:
    if value.tzinfo is None:
        raise StoreError(f"naive datetime given as {what}; use datetime.now(UTC)")


def _lock(conn: Connection, table: str) -> None:
    """Serialise partition changes of ``table`` across hosts, until this transaction ends.

    Waiting for another host's change is unbounded (it is bounded by its own
    table locks); the table locks taken after it wait at most ``LOCK_TIMEOUT``.
    """
    conn.execute(
        text("SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.voiceobs.' || :t))"),
        {"t": table},
    )
    conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")


def _lock_referenced(conn: Connection, table: str) -> None:
    """Lock the tables ``table``'s foreign keys point at, as writers do: before ``table``.

    Attaching or dropping a partition locks the referenced table (``probe_runs``
    for ``turns``) in SHARE ROW EXCLUSIVE mode; a writer locks ``probe_runs``
    first and the partition after, so taking them the other way round would
    deadlock with it. Taken first, the writer just waits for this transaction.
    """
    q = (
        "SELECT DISTINCT confrelid::regclass::text FROM pg_constraint"
        " WHERE conrelid = to_regclass(:t) AND contype = 'f'"
    )
    for name in conn.execute(text(q), {"t": table}).scalars():
        conn.exec_driver_sql(f"LOCK TABLE {name} IN SHARE ROW EXCLUSIVE MODE")


def _is_partitioned(conn: Connection, table: str) -> bool:
    return bool(
        conn.execute(
            text(
                "SELECT EXISTS (SELECT 1 FROM pg_partitioned_table WHERE partrelid = to_regclass(:t))"
            ),
            {"t": table},
        ).scalar()
    )


def _partitions(conn: Connection, table: str) -> list[Partition]:
    rows = conn.execute(
        text(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i"
            " JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass(:t)"
        ),
        {"t": table},
    ).all()
    out: list[Partition] = []
    for name, bound in rows:
        if bound == "DEFAULT":
            out.append(Partition(table, name, None, None, default=True))
            continue
        match = _BOUND.fullmatch(bound or "")
        if match is None:  # not a range bound: nothing here would know what it holds
            continue
        lower, upper = (_bound_value(table, match.group(i)) for i in (1, 2))
        out.append(Partition(table, name, lower, upper))
    out.sort(key=lambda p: (p.default, p.lower or datetime.min.replace(tzinfo=UTC), p.name))
    return out


def _bound_value(table: str, literal: str) -> datetime | None:
    value = literal.strip().strip("'")
    if value in ("MINVALUE", "MAXVALUE"):
        return None
    if PARTITION_KEYS[table] == "start_ns":
        return _EPOCH + timedelta(microseconds=int(value) // 1000)
    return datetime.fromisoformat(value).astimezone(UTC)


def _expired(partitions: list[Partition], cutoff: datetime) -> list[Partition]:
    return [p for p in partitions if not p.default and p.upper is not None and p.upper <= cutoff]


def _count(conn: Connection, name: str) -> int:
    return int(conn.exec_driver_sql(f'SELECT count(*) FROM "{name}"').scalar() or 0)


def _day_range(day: date) -> tuple[datetime, datetime]:
    lower = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return lower, lower + DAY


def _literal(table: str, at: datetime) -> str:
    """``at`` as a partition bound of ``table``: a timestamptz or integer nanoseconds."""
    if PARTITION_KEYS[table] == "start_ns":
        return str(_ns(at))
    return f"'{at.isoformat()}'"


def _ns(at: datetime) -> int:
    delta = at - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 10**9 + delta.microseconds * 1000


def _default_days(conn: Connection, table: str, known: list[Partition]) -> list[date]:
    """The UTC days of the rows in ``table``'s default partition."""
    default = next((p for p in known if p.default), None)
    if default is None:
        return []
    if PARTITION_KEYS[table] == "start_ns":
        q = f'SELECT DISTINCT floor(start_ns::numeric / {_NS_PER_DAY})::bigint FROM "{default.name}"'
        numbers = [int(n) for n in conn.exec_driver_sql(q).scalars()]
        days = []
        for n in numbers:
            try:
                days.append(date(1970, 1, 1) + timedelta(days=n))
            except OverflowError:  # a row beyond the calendar Python knows stays in the default
                continue
        return days
    q = f"""SELECT DISTINCT (started_at AT TIME ZONE 'UTC')::date FROM "{default.name}" """
    return [d for d in conn.exec_driver_sql(q).scalars() if d < date.max]


def _columns(conn: Connection, table: str) -> str:
    names = conn.execute(
        text(
            "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(:t) AND attnum > 0"
            " AND NOT attisdropped ORDER BY attnum"
        ),
        {"t": table},
    ).scalars()
    return ", ".join(f'"{n}"' for n in names)


def _create_day(store: StoreBase, table: str, day: date) -> str | None:
    """Attach ``table``'s partition for ``day``, moving its rows out of the default; None if there."""
    lower, upper = _day_range(day)
    name = partition_name(table, day)
    key = PARTITION_KEYS[table]
    with _begin(store) as conn:
        _lock(conn, table)
        known = _partitions(conn, table)
        if any(p.overlaps(lower, upper) for p in known):
            return None  # another host made it while this one waited for the lock
        conn.exec_driver_sql(f'CREATE TABLE "{name}" (LIKE "{table}")')
        default = next((p for p in known if p.default), None)
        # Writers wait at the parent until the day is attached: an insert routed to the default
        # partition while its range shrinks would fail, and one that added a row of this day
        # between the move and the attach would make the attach fail.
        _lock_referenced(conn, table)
        conn.exec_driver_sql(f'LOCK TABLE "{table}" IN ACCESS EXCLUSIVE MODE')
        if default is not None:
            cols = _columns(conn, table)
            params = (
                {"lo": _ns(lower), "hi": _ns(upper)}
                if key == "start_ns"
                else {"lo": lower, "hi": upper}
            )
            moved = conn.execute(
                text(
                    f'WITH moved AS (DELETE FROM "{default.name}" WHERE "{key}" >= :lo'
                    f' AND "{key}" < :hi RETURNING {cols}) INSERT INTO "{name}" ({cols})'
                    f" SELECT {cols} FROM moved"
                ),
                params,
            ).rowcount
            if moved:
                log.info("moved %d row(s) of %s from %s into %s", moved, day, default.name, name)
        conn.exec_driver_sql(
            f'ALTER TABLE "{table}" ATTACH PARTITION "{name}" FOR VALUES FROM'
            f" ({_literal(table, lower)}) TO ({_literal(table, upper)})"
        )
    return name


__all__ = [
    "DEFAULT_AHEAD",
    "ENSURE_EVERY_S",
    "PARTITION_KEYS",
    "PARTITION_NAME",
    "Partition",
    "PartitionSchedule",
    "autogenerate_filter",
    "default_partition_name",
    "drop_partitions_before",
    "ensure_partitions",
    "expired_partitions",
    "is_partitioned",
    "list_partitions",
    "partition_name",
]
