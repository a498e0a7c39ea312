"""``voiceobs evaluate``, ``voiceobs watch`` and ``voiceobs incident``: failover from the shell.

``evaluate`` is one pass for cron; ``watch`` is the same pass on a timer for
a long-running container, stopping cleanly on SIGTERM (the current pass
finishes, retry waits are cut short) so Kubernetes never has to kill it.
Hook delivery is at least once: a delivery that fails is retried by later
passes, so ``evaluate`` fails (exit 1) only for one it gave up on.
"""

from __future__ import annotations

import getpass
import json
import logging
import signal
import sys
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import click

from voiceobs.cli.params import DURATION
from voiceobs.config import Settings
from voiceobs.errors import (
    ConfigError,
    HookError,
    SchemaMismatch,
    SpecError,
    StoreUnavailable,
    VoiceObsError,
)
from voiceobs.failover import (
    Delivery,
    HooksFile,
    Report,
    acknowledge,
    load_hooks,
    process,
    resolve,
    trigger_hook,
)
from voiceobs.failover.payload import iso
from voiceobs.store import HookClaim, Store
from voiceobs.store.partitions import PartitionSchedule
from voiceobs.store.retention import PruneSchedule, RetentionPolicy, prune_interval, summary
from voiceobs.store.sqlite_file import SqliteFileGuard

log = logging.getLogger("voiceobs.failover")

db_option = click.option(
    "--db",
    "db_url",
    metavar="URL",
    default=None,
    help="Store URL (default: $VOICEOBS_DB_URL, config file, or SQLite in the data dir).",
)
slos_option = click.option(
    "--slos", "slos_path", required=True, metavar="FILE", help="SLO spec (YAML)."
)
hooks_option = click.option(
    "--hooks", "hooks_path", required=True, metavar="FILE", help="Hooks file (YAML)."
)
dry_run_option = click.option(
    "--dry-run", is_flag=True, help="Record what each hook would do without doing it."
)
json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")


def _evaluator(slos_path: str) -> Callable[[Store], list[Any]]:
    """Load the SLO specs once; return a function that evaluates them against a store."""
    try:
        import voiceobs.slo as slo_engine
    except ImportError as exc:
        raise ConfigError(f"the SLO engine (voiceobs.slo) is not available: {exc}") from exc
    if not Path(slos_path).is_file():
        raise SpecError("no such SLO file; pass --slos with an existing YAML file", path=slos_path)
    slos = slo_engine.load_slos(slos_path)

    def run(store: Store) -> list[Any]:
        return list(slo_engine.evaluate(store, slos))

    return run


def _delivery_line(d: Delivery) -> str:
    head = f"hook {d.hook} ({d.action}) {d.event} incident {d.incident_id}: "
    if d.given_up:
        return head + str(d.error)  # "given up after N attempts: why; last error: ..."
    line = head + d.outcome
    if d.attempts > 1:
        line += f" after {d.attempts} attempts"
    if d.error and not d.ok:
        line += f" - {d.error}"
    if d.state == "pending" and d.next_attempt_at is not None:
        line += f"; will retry from {iso(d.next_attempt_at)}"
        if d.give_up_at is not None:
            line += f" (gives up at {iso(d.give_up_at)})"
    return line


def _print_report(report: Report, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
        return
    for i in report.opened:
        click.echo(f"incident {i} opened")
    for i in report.resolved:
        click.echo(f"incident {i} resolved")
    for d in report.deliveries:
        click.echo(_delivery_line(d), err=not d.ok)
    for e in report.errors:
        click.echo(f"warning: {e}", err=True)
    if not (report.opened or report.resolved or report.deliveries):
        click.echo("no incident changes")


def _given_up_error(report: Report) -> HookError | None:
    gone = report.given_up
    if not gone:
        return None
    which = ", ".join(f"{d.hook} {d.event} incident {d.incident_id}" for d in gone)
    noun = "delivery" if len(gone) == 1 else "deliveries"
    return HookError(
        f"{len(gone)} hook {noun} given up in this pass ({which}); nobody will retry "
        f"{'it' if len(gone) == 1 else 'them'}: see `voiceobs incident deliveries --state given_up`"
    )


class _Stopper:
    """SIGTERM/SIGINT set ``stop`` (retry waits end, the pass winds down); a second one kills."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _Stopper:
        for s in (signal.SIGTERM, signal.SIGINT):
            self._previous[s] = signal.signal(s, self._on_signal)
        return self

    def _on_signal(self, signum: int, _frame: Any) -> None:
        log.info("received %s; finishing the current pass", signal.Signals(signum).name)
        self.signum = signum
        self.stop.set()
        for s, handler in self._previous.items():
            signal.signal(s, handler)

    def __exit__(self, *exc: object) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)


def _open_store(db_url: str | None) -> Store:
    return Store.open(Settings.load(db_url).db_url)


@click.command()
@slos_option
@hooks_option
@db_option
@dry_run_option
@json_option
def evaluate(
    slos_path: str,
    hooks_path: str,
    db_url: str | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """One SLO evaluation pass that opens/resolves incidents and fires hooks (for cron).

    Delivery is at least once: a hook that still fails after its retries is
    reported and left pending, and a later pass retries it until its
    give_up_after. Exit 0 when the pass ran (failures that will be retried
    included), 1 when a delivery was given up in this pass, 2 on a usage,
    spec or store error, 143/130 when SIGTERM/SIGINT cut the pass short
    (unfinished deliveries stay pending for the next pass).
    """
    hooks = load_hooks(hooks_path)
    run = _evaluator(slos_path)
    store = _open_store(db_url)
    with _Stopper() as stopper:
        try:
            report = process(store, run(store), hooks, dry_run=dry_run, stop=stopper.stop)
        finally:
            store.close()
    _print_report(report, as_json)
    problem = _given_up_error(report)
    if problem is not None:
        raise problem
    if stopper.signum is not None:
        name = signal.Signals(stopper.signum).name
        click.echo(
            f"stopped by {name}: unfinished deliveries are pending; the next pass retries them",
            err=True,
        )
        sys.exit(128 + stopper.signum)  # the shell's convention for "ended by this signal"


@click.command()
@slos_option
@hooks_option
@db_option
@dry_run_option
@click.option(
    "--interval", type=DURATION, default="60s", show_default=True,
    help="Time between passes (e.g. 30s, 5m, 1h30m).",
)
def watch(
    slos_path: str, hooks_path: str, db_url: str | None, dry_run: bool, interval: timedelta
) -> None:
    """Evaluate SLOs and fire hooks every --interval until SIGTERM or Ctrl-C.

    Failed deliveries are retried by later passes; a given-up one is reported
    and the watch goes on. A SQLite store whose file is replaced while it runs
    is reopened; one whose file is removed stops the watch (exit 2). Every
    prune_interval (default 1h; 0 or off disables) it also applies the
    retention policy, as `voiceobs db prune` does. Each pass also refreshes
    the rows `voiceobs metrics serve` reads.
    """
    every = interval.total_seconds()
    # A prune between passes takes at most one interval: evaluation is never held up longer.
    schedule = _prune_schedule(max(1.0, every))
    hooks = load_hooks(hooks_path)
    run = _evaluator(slos_path)
    url = Settings.load(db_url).db_url
    held = [Store.open(url)]
    guard = SqliteFileGuard.for_store(held[0])
    if guard is not None:
        guard.attach(held[0].engine)
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        log.info("received %s; finishing the current pass", signal.Signals(signum).name)
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    click.echo(f"watching every {every:g}s; SIGTERM or Ctrl-C stops", err=True)
    passes = 0
    partitions = PartitionSchedule()  # PostgreSQL's day partitions, made a week ahead, hourly
    try:
        while not stop.is_set():
            if guard is not None:
                held[0] = _follow_store_file(guard, held[0], url)
            partitions.tick(held[0])
            passes += 1
            # Before the pass: a pass can wait on a hook's retry, and these rows should not.
            _refresh_exporter_rows(held[0])
            _one_pass(held[0], run, hooks, dry_run, stop)
            if schedule is not None and not stop.is_set():
                _prune_if_due(schedule, held[0], stop)
            stop.wait(every)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        held[0].close()
    click.echo(f"stopped after {passes} passes", err=True)


def _refresh_exporter_rows(store: Store) -> None:
    """The exporter's rows, which an exporter that may only read the store reads as they stand."""
    from voiceobs.results import utcnow
    from voiceobs.store import rollups

    try:
        rollups.refresh_metric_rollups(store, RetentionPolicy.load().rollup_horizon(utcnow()))
    except Exception as exc:  # the watch goes on: alerts matter more than the exporter's rows
        click.echo(f"warning: cannot refresh the exporter's rows: {exc}", err=True)


def _prune_schedule(max_seconds: float) -> PruneSchedule | None:
    """The retention policy applied every prune_interval (None: off); bad settings fail here."""
    policy = RetentionPolicy.load()
    every = prune_interval()
    if every is None:
        return None
    return PruneSchedule(policy, every, max_seconds=max_seconds)


def _prune_if_due(schedule: PruneSchedule, store: Store, stop: threading.Event) -> None:
    """Prune between passes when due; a failure is reported and counted, and the watch goes on."""
    failed = schedule.errors
    report = schedule.run_if_due(store, stop)
    if schedule.errors > failed:
        click.echo(
            f"warning: prune failed ({schedule.errors} so far): {schedule.last_error}", err=True
        )
    elif report is not None and report.total:
        click.echo(f"pruned {summary(report)}", err=True)


def _follow_store_file(guard: SqliteFileGuard, store: Store, url: str) -> Store:
    """The store to use for the next pass: the same, reopened if its file was replaced.

    A removed file stops the watch: writing on would lose every incident
    and delivery record to a file nobody can open.
    """
    change = guard.check()
    if change == "same":
        return store
    emptied = guard.let_go(store)
    if change == "removed":
        raise StoreUnavailable(
            f"the SQLite store {guard.path} was removed while watch was running; stopped so "
            "nothing more is written to a deleted file (restore it, or create one with "
            "`voiceobs db upgrade`, and start watch again)"
        )
    if not emptied:
        raise StoreUnavailable(
            f"the SQLite store {guard.path} was replaced while watch was running, and the old "
            f"file's write-ahead log ({guard.path.name}-wal) could not be emptied (another "
            "process still has the old file open?); stopped rather than open the new file beside "
            "it: stop the processes using the old file, then start watch again"
        )
    try:
        fresh = Store.open(url)
    except SchemaMismatch as exc:
        raise StoreUnavailable(
            f"the SQLite store {guard.path} was replaced while watch was running by a file that "
            f"is not a usable store ({exc}); stopped"
        ) from None
    guard.reset()
    guard.attach(fresh.engine)
    log.warning("the SQLite store %s was replaced; reopened it", guard.path)
    click.echo(
        f"warning: the SQLite store {guard.path} was replaced while watch was running; "
        "reopened it, later passes use the new file",
        err=True,
    )
    return fresh


def _one_pass(
    store: Store, run: Callable[[Store], list[Any]], hooks: HooksFile, dry_run: bool,
    stop: threading.Event,
) -> None:  # fmt: skip
    try:
        report = process(store, run(store), hooks, dry_run=dry_run, stop=stop)
    except VoiceObsError as exc:  # a store outage must not end the watch: try again next pass
        click.echo(f"warning: pass failed: {exc}", err=True)
        return
    if report.opened or report.resolved or report.deliveries or report.errors:
        _print_report(report, as_json=False)
    problem = _given_up_error(report)
    if problem is not None:  # reported, and the watch goes on: other events still need it
        click.echo(f"error: {problem}", err=True)


@click.group()
def incident() -> None:
    """List incidents; acknowledge, resolve or trigger hooks by hand (recorded with who)."""


by_option = click.option(
    "--by", "actor", default=None, help="Who is acting (default: the current user)."
)


def _actor(actor: str | None) -> str:
    return actor or getpass.getuser()


@incident.command("list")
@db_option
@click.option("--open", "open_only", is_flag=True, help="Only open incidents.")
@json_option
def list_cmd(db_url: str | None, open_only: bool, as_json: bool) -> None:
    """Incidents newest first."""
    store = _open_store(db_url)
    try:
        rows = store.list_incidents(open_only=open_only)
        counts = store.hook_claim_counts([r.id for r in rows])
    finally:
        store.close()
    if as_json:
        out = [
            {
                "id": r.id,
                "slo": r.slo_name,
                "severity": r.severity,
                "state": r.state,
                "summary": r.summary,
                "opened_at": r.opened_at.isoformat(),
                "acknowledged_by": r.acknowledged_by,
                "resolved_at": r.resolved_at.isoformat() if r.resolved_at else None,
                "resolved_by": r.resolved_by,
                "deliveries": counts.get(r.id, {}),
            }
            for r in rows
        ]
        click.echo(json.dumps(out, indent=2))
        return
    if not rows:
        click.echo("no incidents")
    for r in rows:
        click.echo(
            f"{r.id:>5}  {r.state:<12} {r.severity:<6} {r.slo_name}  opened {r.opened_at:%Y-%m-%d %H:%M:%S}Z"
            + (f"  by {r.resolved_by}" if r.resolved_by else "")
            + _unfinished(counts.get(r.id, {}))
        )


def _unfinished(counts: dict[str, int]) -> str:
    # Only what needs a look: deliveries still owed, or given up.
    parts = [
        f"{counts[state]} {label}"
        for state, label in (
            ("pending", "pending"), ("delivering", "delivering"), ("given_up", "given up"),
        )
        if counts.get(state)
    ]  # fmt: skip
    return f"  hooks: {', '.join(parts)}" if parts else ""


CLAIM_STATES = ("pending", "delivering", "delivered", "given_up", "suppressed")


def _claim_json(c: HookClaim) -> dict[str, Any]:
    def ts(value: Any) -> str | None:
        return iso(value) if value is not None else None

    dry, _, event = c.event.rpartition(":")
    return {
        "incident_id": c.incident_id,
        "hook": c.hook_name,
        "event": event,
        "dry_run": bool(dry),
        "state": c.state,
        "attempts": c.attempts,
        "claimed_at": ts(c.claimed_at),
        "claimed_by": c.claimed_by,
        "next_attempt_at": ts(c.next_attempt_at) if c.state == "pending" else None,
        "lease_until": ts(c.lease_until),
        "give_up_at": ts(c.give_up_at),
        "finished_at": ts(c.finished_at),
        "idempotency_key": c.idempotency_key,
        "last_error": c.last_error,
    }


@incident.command("deliveries")
@click.argument("incident_id", type=int, required=False)
@click.option("--state", "states", multiple=True, type=click.Choice(CLAIM_STATES),
              help="Only deliveries in this state (repeatable).")  # fmt: skip
@db_option
@json_option
def deliveries_cmd(
    incident_id: int | None, states: tuple[str, ...], db_url: str | None, as_json: bool
) -> None:
    """Where each hook delivery stands: pending (retried later), delivered or given up."""
    store = _open_store(db_url)
    try:
        claims = store.hook_claims(incident_id, states=states or None)
    finally:
        store.close()
    rows = [_claim_json(c) for c in claims]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no hook deliveries")
    for r in rows:
        when = ""
        if r["state"] == "pending":
            when = f"  next try {r['next_attempt_at']}, gives up {r['give_up_at'] or 'never'}"
        elif r["state"] == "delivering":
            when = f"  by {r['claimed_by']} until {r['lease_until']}"
        elif r["finished_at"]:
            when = f"  at {r['finished_at']}"
        error = (
            f"  last error: {r['last_error']}"
            if r["last_error"] and r["state"] != "delivered"
            else ""
        )
        click.echo(
            f"{r['incident_id']:>5}  {r['hook']:<20} {r['event']:<8}"
            f"{' (dry run)' if r['dry_run'] else ''} {r['state']:<10} "
            f"{r['attempts']} attempt{'s' if r['attempts'] != 1 else ''}{when}  "
            f"key {r['idempotency_key']}{error}"
        )


@incident.command("ack")
@click.argument("incident_id", type=int)
@by_option
@click.option("--note", default="", help="Why, for the audit trail.")
@db_option
def ack_cmd(incident_id: int, actor: str | None, note: str, db_url: str | None) -> None:
    """Acknowledge an open incident."""
    store = _open_store(db_url)
    try:
        changed = acknowledge(store, incident_id, _actor(actor), note=note)
    finally:
        store.close()
    click.echo(f"incident {incident_id} " + ("acknowledged" if changed else "is not open"))


@incident.command("resolve")
@click.argument("incident_id", type=int)
@by_option
@click.option("--note", default="", help="Why, for the audit trail.")
@click.option("--hooks", "hooks_path", default=None, metavar="FILE",
              help="Send the resolved notifications now (otherwise the next pass sends them).")  # fmt: skip
@db_option
def resolve_cmd(
    incident_id: int, actor: str | None, note: str, hooks_path: str | None, db_url: str | None
) -> None:
    """Resolve an incident by hand."""
    hooks = load_hooks(hooks_path) if hooks_path else None
    store = _open_store(db_url)
    try:
        changed = resolve(store, incident_id, _actor(actor), note=note, hooks=hooks)
    finally:
        store.close()
    click.echo(f"incident {incident_id} " + ("resolved" if changed else "was already resolved"))


@incident.command("trigger")
@click.argument("incident_id", type=int)
@click.argument("hook_name")
@hooks_option
@by_option
@dry_run_option
@db_option
def trigger_cmd(
    incident_id: int,
    hook_name: str,
    hooks_path: str,
    actor: str | None,
    dry_run: bool,
    db_url: str | None,
) -> None:
    """Fire one hook for an incident now (bypasses bindings and cooldown)."""
    hooks = load_hooks(hooks_path)
    hook = hooks.get(hook_name)
    store = _open_store(db_url)
    try:
        d = trigger_hook(
            store, incident_id, hook, _actor(actor), dry_run=dry_run,
            external_url=hooks.external_url,
        )  # fmt: skip
    finally:
        store.close()
    msg = f"hook {d.hook} ({d.action}) for incident {incident_id}: {d.outcome}"
    if not d.ok:
        raise HookError(f"{msg} after {d.attempts} attempts: {d.error}")
    click.echo(msg)
