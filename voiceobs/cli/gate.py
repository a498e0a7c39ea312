"""``voiceobs gate``: fail a CI job when an SLO is breached or burning past a page threshold.

Exit codes: 0 every SLO holds, 1 any is breached or pages, 2 a usage, spec
or store error (the CLI maps every VoiceObsError to its exit code, 2).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from voiceobs.config import Settings
from voiceobs.errors import ConfigError, ProbeError
from voiceobs.slo import (
    evaluate,
    junit_xml,
    load_slos,
    markdown,
    parse_duration,
    pct,
    reason,
    verdict,
)
from voiceobs.store import Store


def _run_probes(specs: tuple[str, ...], store: Store) -> None:
    """Run each probe spec once, recording its results, before the gate evaluates."""
    from voiceobs.probe import RunLocked
    from voiceobs.recording import run_spec

    for spec in specs:
        if not Path(spec).is_file():
            raise ConfigError(f"--run-probes: no probe spec at {spec}")
        click.echo(f"running probes from {spec}", err=True)
        try:
            run_spec(spec, store=store)
        except (ProbeError, RunLocked) as exc:
            # A failed call is a stored, failed result: let the SLOs judge it.
            click.echo(f"probe run reported: {exc}", err=True)


@click.command()
@click.option("--slos", "slos_path", required=True, metavar="FILE", help="SLO spec to gate on.")
@click.option("--db", "db_url", metavar="URL", default=None,
              help="Store URL (default: $VOICEOBS_DB_URL, config file, or SQLite in the data dir).")
@click.option("--since", metavar="DURATION", default=None,
              help="Judge the SLI over the last DURATION (e.g. 1h) instead of each SLO's window.")
@click.option("--junit", type=click.Path(dir_okay=False), default=None,
              help="Write JUnit XML here (one test case per SLO).")
@click.option("--markdown", "markdown_path", type=click.Path(dir_okay=False), default=None,
              help="Write a Markdown summary here (e.g. $GITHUB_STEP_SUMMARY).")
@click.option("--run-probes", "probe_specs", multiple=True, metavar="SPEC",
              help="Run these probe specs first (repeatable), then gate on the fresh results.")
@click.option("--require-data", is_flag=True,
              help="Fail an SLO that has no events in its window instead of skipping it.")
def gate(
    slos_path: str,
    db_url: str | None,
    since: str | None,
    junit: str | None,
    markdown_path: str | None,
    probe_specs: tuple[str, ...],
    require_data: bool,
) -> None:
    """CI gate: exit 1 when an SLO is breached or burning past its page threshold."""
    window = None
    if since is not None:
        try:
            window = parse_duration(since)
        except ValueError as exc:
            raise ConfigError(f"--since: {exc}") from None
    slos = load_slos(slos_path)
    store = Store.open(Settings.load(db_url).db_url)
    try:
        if probe_specs:
            _run_probes(probe_specs, store)
        results = evaluate(store, slos, window=window)
    finally:
        store.close()
    if junit:
        Path(junit).write_text(junit_xml(results, require_data=require_data), encoding="utf-8")
    if markdown_path:
        with Path(markdown_path).open("a", encoding="utf-8") as fh:
            fh.write(markdown(results, require_data=require_data))
    failed = 0
    for r in results:
        state = verdict(r, require_data=require_data)
        line = f"{state.upper():9} {r.slo.name}: SLI {pct(r.sli)} / {pct(r.slo.objective)} over {r.window}"
        if state in ("breached", "burning", "no data"):
            line += f" - {reason(r)}"
        click.echo(line)
        failed += state in ("breached", "burning")
    if failed:
        click.echo(f"gate failed: {failed} of {len(results)} SLO(s) do not hold", err=True)
        sys.exit(1)
    empty = sum(r.no_data for r in results)
    note = f" ({empty} with no data in the window)" if empty else ""
    click.echo(f"gate passed: {len(results) - empty} of {len(results)} SLO(s) hold{note}")
