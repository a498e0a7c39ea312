"""``voiceobs evaluate``, ``voiceobs watch`` and ``voiceobs incident``: failover from the shell.

``evaluate`` is one pass for cron; ``watch`` is the same pass on a timer for
a long-running container, stopping cleanly on SIGTERM (the current pass
finishes, retry waits are cut short) so Kubernetes never has to kill it.
"""

from __future__ import annotations

import getpass
import json
import logging
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from voiceobs.config import Settings
from voiceobs.errors import ConfigError, HookError, SpecError, VoiceObsError
from voiceobs.failover import (
    HooksFile,
    Report,
    acknowledge,
    load_hooks,
    process,
    resolve,
    trigger_hook,
)
from voiceobs.failover.spec import parse_duration
from voiceobs.store import Store

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


def _print_report(report: Report, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
        return
    for i in report.opened:
        click.echo(f"incident {i} opened")
    for i in report.resolved:
        click.echo(f"incident {i} resolved")
    for d in report.deliveries:
        line = f"hook {d.hook} ({d.action}) {d.event} incident {d.incident_id}: {d.outcome}"
        if d.attempts > 1:
            line += f" after {d.attempts} attempts"
        if d.error and not d.ok:
            line += f" - {d.error}"
        click.echo(line, err=not d.ok)
    for e in report.errors:
        click.echo(f"warning: {e}", err=True)
    if not (report.opened or report.resolved or report.deliveries):
        click.echo("no incident changes")


def _open_store(db_url: str | None) -> Store:
    return Store.open(Settings.load(db_url).db_url)


@click.command()
@slos_option
@hooks_option
@db_option
@dry_run_option
@json_option
def evaluate(
    slos_path: str, hooks_path: str, db_url: str | None, dry_run: bool, as_json: bool
) -> None:
    """One SLO evaluation pass that opens/resolves incidents and fires hooks (for cron)."""
    hooks = load_hooks(hooks_path)
    run = _evaluator(slos_path)
    store = _open_store(db_url)
    try:
        report = process(store, run(store), hooks, dry_run=dry_run)
    finally:
        store.close()
    _print_report(report, as_json)


@click.command()
@slos_option
@hooks_option
@db_option
@dry_run_option
@click.option(
    "--interval", default="60s", show_default=True, help="Time between passes (e.g. 30s, 5m)."
)
def watch(
    slos_path: str, hooks_path: str, db_url: str | None, dry_run: bool, interval: str
) -> None:
    """Evaluate SLOs and fire hooks every --interval until SIGTERM or Ctrl-C."""
    try:
        every = parse_duration(interval)
    except ValueError as exc:
        raise ConfigError(f"--interval: {exc}") from None
    if every <= 0:
        raise ConfigError("--interval must be greater than zero")
    hooks = load_hooks(hooks_path)
    run = _evaluator(slos_path)
    store = _open_store(db_url)
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        log.info("received %s; finishing the current pass", signal.Signals(signum).name)
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    click.echo(f"watching every {every:g}s; SIGTERM or Ctrl-C stops", err=True)
    passes = 0
    try:
        while not stop.is_set():
            passes += 1
            _one_pass(store, run, hooks, dry_run, stop)
            stop.wait(every)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        store.close()
    click.echo(f"stopped after {passes} passes", err=True)


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
