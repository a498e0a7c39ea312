"""``voiceobs calls``: recent calls, probe and production alike, and one call from both sides.

``calls list`` is the terminal view of what the dashboard's Calls page
shows; ``calls show ID`` prints one call's turns (what the caller did in
each: spoke, listened to a greeting, barged in, pressed keys, and under which
hard-caller condition) with every measure taken,
the values refused as implausible (flags), and, for a call seen from both
sides, the caller-heard latency beside the bot-reported one and the time the
bot does not see. Both print JSON with ``--json``, each call with its turns.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import click

from voiceobs.cli.params import DURATION
from voiceobs.config import Settings
from voiceobs.errors import ConfigError
from voiceobs.measures import TURN_MEASURES
from voiceobs.results import SOURCES, utcnow
from voiceobs.store import ProbeRun, Store
from voiceobs.store.joins import joined_turns

db_option = click.option(
    "--db", "db_url", metavar="URL", default=None,
    help="Store URL (default: $VOICEOBS_DB_URL, config file, or SQLite in the data dir).",
)  # fmt: skip

_RUN_FIELDS = ("id", "source", "framework", "service", "deployment", "probe_name", "target_url",
               "region", "status", "failure_class", "failure_detail", "trace_id", "call_sid",
               "stream_sid", "conversation_id", "joined_run_id")  # fmt: skip


def _turn_json(turn: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "turn_index": turn.turn_index,
        "kind": turn.kind,
        "ok": turn.ok,
        "failure_class": turn.failure_class,
        "measures": {m: getattr(turn, m) for m in TURN_MEASURES if getattr(turn, m) is not None},
    }
    if turn.caller:
        out["caller"] = dict(turn.caller)
    if turn.flags:
        out["flags"] = dict(turn.flags)
    if turn.quality_errors:
        out["quality_errors"] = dict(turn.quality_errors)
    if turn.transcript:
        out["transcript"] = turn.transcript
    return out


def _run_json(run: ProbeRun) -> dict[str, Any]:
    out: dict[str, Any] = {f: getattr(run, f) for f in _RUN_FIELDS}
    out["started_at"] = run.started_at.isoformat()
    out["finished_at"] = run.finished_at.isoformat() if run.finished_at else None
    out["labels"] = dict(run.labels or {})
    out["turns"] = [_turn_json(t) for t in run.turns]
    return out


def _open(db_url: str | None) -> Store:
    return Store.open(Settings.load(db_url).db_url)


@click.group()
def calls() -> None:
    """Recent calls (probe and production) and one call's turns, measures and joined figures."""


@calls.command("list")
@db_option
@click.option("--source", type=click.Choice(SOURCES), default=None,
              help="Only probe calls (synthetic) or real callers' calls (production).")
@click.option("--since", type=DURATION, default="1h", show_default=True, metavar="DURATION",
              help="How far back to look (e.g. 15m, 1h, 7d).")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON document: the calls with their turns.")
def list_(db_url: str | None, source: str | None, since: timedelta, limit: int, as_json: bool) -> None:
    """Calls newest first, with the worst latency each one's caller or bot saw."""
    store = _open(db_url)
    try:
        runs = store.list_runs(since=utcnow() - since, source=source, with_turns=True, limit=limit)
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps([_run_json(r) for r in runs], indent=2, default=str))
        return
    from rich.table import Table

    table = Table(title=f"calls in the last {_since_text(since)}")
    for col in ("id", "started", "source", "probe / service", "status", "turns", "latency max ms",
                "reported max ms", "joined"):  # fmt: skip
        table.add_column(col, justify="right" if "ms" in col or col == "turns" else "left")
    for r in runs:
        heard = [t.turn_latency_ms for t in r.turns if t.turn_latency_ms is not None]
        told = [t.reported_latency_ms for t in r.turns if t.reported_latency_ms is not None]
        table.add_row(
            r.id[:12], r.started_at.strftime("%Y-%m-%d %H:%M:%S"), r.source,
            r.service or r.probe_name, r.status if r.status == "ok" else f"{r.failure_class or r.status}",
            str(len(r.turns)), _ms(max(heard) if heard else None), _ms(max(told) if told else None),
            (r.joined_run_id or "")[:12],
        )  # fmt: skip
    _console().print(table)
    if not runs:
        click.echo(f"no calls in the last {_since_text(since)}" + (f" from {source}" if source else ""))


@calls.command("show")
@click.argument("run_id", metavar="ID")
@db_option
@click.option("--json", "as_json", is_flag=True, help="The call (and its other side) as JSON.")
def show(run_id: str, db_url: str | None, as_json: bool) -> None:
    """One call's turns, every measure taken, flags, and its other side when joined."""
    store = _open(db_url)
    try:
        run = store.find_run(run_id)
        if run is None:
            raise ConfigError(f"no call {run_id!r} in {store.display_url}; see `voiceobs calls list`")
        other = store.get_run(run.joined_run_id) if run.joined_run_id else None
    finally:
        store.close()
    if as_json:
        out = _run_json(run)
        out["joined"] = _run_json(other) if other is not None else None
        out["joined_turns"] = joined_turns(run, other)
        click.echo(json.dumps(out, indent=2, default=str))
        return
    console = _console()
    _print_run(console, run)
    if other is not None:
        console.print()
        _print_joined(console, run, other)


def _print_run(console: Any, run: ProbeRun) -> None:
    from rich.table import Table

    who = run.service or run.probe_name
    status = "ok" if run.status == "ok" else f"[red]{run.failure_class or run.status}[/red]"
    console.print(f"[bold]call {run.id}[/bold]  {run.source} · {run.framework or '-'} · {who}  {status}")
    console.print(f"started {run.started_at.isoformat()}  target {run.target_url}  region {run.region or '-'}")
    keys = ", ".join(f"{k} {getattr(run, k)}" for k in ("call_sid", "stream_sid", "conversation_id",
                                                        "trace_id") if getattr(run, k))  # fmt: skip
    if keys:
        console.print(keys)
    if run.failure_detail:
        console.print(f"[red]failed[/red]: {run.failure_detail}")
    table = Table()
    table.add_column("turn", justify="right")
    table.add_column("kind")
    table.add_column("status")
    table.add_column("measures")
    table.add_column("flags")
    for t in run.turns:
        measures = "  ".join(
            f"{m} {_num(getattr(t, m))}" for m in TURN_MEASURES if getattr(t, m) is not None
        )
        flags = "; ".join(f"{k}: {v}" for k, v in (t.flags or {}).items())
        kind = t.kind + (" (" + ", ".join(f"{k} {v}" for k, v in t.caller.items()) + ")" if t.caller else "")
        table.add_row(str(t.turn_index + 1), kind, "ok" if t.ok else (t.failure_class or "failed"), measures, flags)
    console.print(table)


def _print_joined(console: Any, run: ProbeRun, other: ProbeRun) -> None:
    from rich.table import Table

    table = Table(title=f"seen from both sides (joined with {other.source} call {other.id[:12]})")
    for col in ("turn", "caller heard ms", "bot reported ms", "unseen ms"):
        table.add_column(col, justify="right")
    for row in joined_turns(run, other):
        table.add_row(str(row["turn_index"] + 1), _ms(row["caller_heard_ms"]),
                      _ms(row["bot_reported_ms"]), _ms(row["unseen_ms"]))  # fmt: skip
    console.print(table)
    console.print("unseen: transport, buffering and telephony the bot's own figures leave out")


def _console() -> Any:
    """A console as wide as the terminal, or wide enough for whole ids in a pipe or a log."""
    import sys

    from rich.console import Console

    return Console(soft_wrap=True, highlight=False, width=None if sys.stdout.isatty() else 220)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _num(value: float | int) -> str:
    return str(value) if isinstance(value, int) else f"{value:.3g}" if abs(value) < 10 else f"{value:.0f}"


def _since_text(since: timedelta) -> str:
    from voiceobs.durations import format_duration

    return format_duration(since)
