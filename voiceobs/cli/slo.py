"""``voiceobs slo``: evaluate SLOs, import OpenSLO, export Prometheus rules."""

from __future__ import annotations

import json
import sys

import click

from voiceobs.cli.params import check_output_path, write_output
from voiceobs.config import Settings, resolve
from voiceobs.durations import format_duration
from voiceobs.slo import (
    SloResult,
    burn_text,
    evaluate,
    generate_rules,
    import_openslo,
    load_slos,
    pct,
)
from voiceobs.store import Store
from voiceobs.store.retention import RetentionPolicy

DEFAULT_SLOS = "probes/slos.yaml"

slos_option = click.option(
    "--slos",
    "slos_path",
    metavar="FILE",
    default=None,
    help=f"SLO spec (default: $VOICEOBS_SLOS, config file, or {DEFAULT_SLOS}).",
)
db_option = click.option(
    "--db",
    "db_url",
    metavar="URL",
    default=None,
    help="Store URL (default: $VOICEOBS_DB_URL, config file, or SQLite in the data dir).",
)


def slos_file(explicit: str | None) -> str:
    """The SLO spec to use, by the usual precedence."""
    return str(resolve("slos", explicit, DEFAULT_SLOS))


@click.group()
def slo() -> None:
    """Evaluate SLOs, import OpenSLO, export Prometheus rules."""


@slo.command()
@slos_option
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.option("--no-record", is_flag=True, help="Do not store this evaluation.")
def status(slos_path: str | None, db_url: str | None, as_json: bool, no_record: bool) -> None:
    """A table of SLI, objective, budget remaining, burn rates and alert state."""
    slos = load_slos(slos_file(slos_path))
    retention = RetentionPolicy.load()
    store = Store.open(Settings.load(db_url).db_url)
    try:
        results = evaluate(store, slos, record=not no_record, retention=retention)
    finally:
        store.close()
    for note in retention_notes(results, retention):
        click.echo(f"note: {note}", err=True)
    if as_json:
        click.echo(json.dumps([r.to_json() for r in results], indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"SLOs ({store.display_url})")
    for col in ("SLO", "Standing", "SLI", "Objective", "Budget left", "Alert", "Burn rates", "Window"):
        table.add_column(col)
    style = {"ok": "green", "ticket": "yellow", "page": "bold red"}
    standing_style = {"met": "green", "at_risk": "yellow", "breached": "bold red", "no_data": "dim"}
    for r in results:
        table.add_row(
            r.slo.name,
            f"[{standing_style[r.standing]}]{r.standing.replace('_', ' ')}[/]",
            pct(r.sli),
            pct(r.slo.objective),
            pct(r.budget_remaining, 1),
            f"[{style[r.alert_state]}]{r.alert_state}[/]",
            burn_text(r),
            f"{r.window} ({r.good}/{r.total})",
        )
    # As wide as the terminal, or wide enough for whole names in a pipe or a CI log.
    Console(width=None if sys.stdout.isatty() else 200).print(table)


def retention_notes(results: list[SloResult], retention: RetentionPolicy) -> list[str]:
    """One line per SLO whose window reaches past raw retention (or past the rollups)."""
    notes = []
    for r in results:
        age = r.evaluated_at - r.window_start
        if retention.rollups is not None and age > retention.rollups:
            notes.append(
                f"{r.slo.name}: window {r.window} reaches past rollup retention (rollups kept "
                f"{format_duration(retention.rollups)}); older events are not counted"
            )
        elif retention.turns is not None and age > retention.turns:
            notes.append(
                f"{r.slo.name}: window {r.window} reaches past raw retention (turns kept "
                f"{format_duration(retention.turns)}); computed from per-minute rollups"
            )
    return notes


@slo.command(name="import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Write the native spec here instead of stdout.")
def import_(file: str, output: str | None) -> None:
    """Convert an OpenSLO v1 file to a voiceobs SLO spec, explaining what it cannot map."""
    target = check_output_path(output, "--output") if output else None
    result = import_openslo(file)
    for note in result.notes:
        click.echo(f"note: {note}", err=True)
    text = result.to_yaml()
    if target is not None:
        write_output(target, text, flag="--output")
        click.echo(f"wrote {len(result.slos)} SLO(s) to {output}", err=True)
    else:
        click.echo(text, nl=False)


@slo.command()
@slos_option
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Write the rule file here instead of stdout.")
def rules(slos_path: str | None, output: str | None) -> None:
    """Prometheus recording and burn-rate alerting rules for the SLOs."""
    target = check_output_path(output, "--output") if output else None
    result = generate_rules(load_slos(slos_file(slos_path)))
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    if target is not None:
        write_output(target, result.to_yaml(), flag="--output")
    else:
        click.echo(result.to_yaml(), nl=False)
