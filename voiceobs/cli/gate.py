"""``voiceobs gate``: fail a CI job when an SLO is breached, burning past a page threshold, or unmeasured.

Exit codes: 0 every SLO holds; 1 any is breached or pages; 2 a usage, spec
or store error (the CLI maps every VoiceObsError to its exit code, 2);
3 nothing is breached but an SLO had no events in its window (a gate that
passes on nothing would let a broken probe or selector through).
``--allow-no-data`` skips empty SLOs instead, except those the gate's own
``--run-probes`` specs feed: a probe that ran and fed nothing is a failure.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

import click

from voiceobs.cli.params import DURATION, check_output_path, write_output
from voiceobs.config import Settings
from voiceobs.errors import ConfigError, ProbeError
from voiceobs.probe import ProbeSpec
from voiceobs.slo import (
    SLO,
    GatePolicy,
    evaluate,
    junit_xml,
    load_slos,
    markdown,
    pct,
    reason,
    verdict,
)
from voiceobs.slo.report import FAILING
from voiceobs.store import Store

#: Exit code when the only reason the gate fails is an SLO without events.
EXIT_NO_DATA = 3


def _run_probes(specs: tuple[str, ...], store: Store) -> list[ProbeSpec]:
    """Run each probe spec once, recording its results, before the gate evaluates."""
    from voiceobs.probe import RunLocked, load_spec
    from voiceobs.recording import run_spec

    loaded = []
    for path in specs:
        if not Path(path).is_file():
            raise ConfigError(f"--run-probes: no probe spec at {path}")
        spec = load_spec(path)
        loaded.append(spec)
        click.echo(f"running probes from {path}", err=True)
        try:
            run_spec(spec, store=store)
        except (ProbeError, RunLocked) as exc:
            # A failed call is a stored, failed result: let the SLOs judge it.
            click.echo(f"probe run reported: {exc}", err=True)
    return loaded


def _feeds(spec: ProbeSpec, slo: SLO) -> bool:
    """Whether results of ``spec`` fall under ``slo``'s selector."""
    sel = slo.selector
    return (
        sel.source in (None, "synthetic")
        and sel.framework in (None, "voiceobs")
        and sel.service is None
        and sel.deployment is None
        and sel.probe in (None, spec.name)
        and sel.target in (None, spec.target)
        and sel.region in (None, spec.region)
        and all(spec.labels.get(k) == v for k, v in sel.labels.items())
    )


@click.command()
@click.option("--slos", "slos_path", required=True, metavar="FILE", help="SLO spec to gate on.")
@click.option("--db", "db_url", metavar="URL", default=None,
              help="Store URL (default: $VOICEOBS_DB_URL, config file, or SQLite in the data dir).")
@click.option("--since", type=DURATION, metavar="DURATION", default=None,
              help="Judge the SLI over the last DURATION (e.g. 1h) instead of each SLO's window.")
@click.option("--junit", type=click.Path(dir_okay=False), default=None,
              help="Write JUnit XML here (one test case per SLO).")
@click.option("--markdown", "markdown_path", type=click.Path(dir_okay=False), default=None,
              help="Append a Markdown summary here (e.g. $GITHUB_STEP_SUMMARY).")
@click.option("--run-probes", "probe_specs", multiple=True, metavar="SPEC",
              help="Run these probe specs first (repeatable), then gate on the fresh results.")
@click.option("--allow-no-data", is_flag=True,
              help="Skip an SLO with no events in its window instead of failing (exit 3); "
                   "SLOs that --run-probes specs feed still fail.")
@click.option("--require-data", is_flag=True, hidden=True,
              help="Kept for compatibility: requiring data is the default now.")
def gate(
    slos_path: str,
    db_url: str | None,
    since: timedelta | None,
    junit: str | None,
    markdown_path: str | None,
    probe_specs: tuple[str, ...],
    allow_no_data: bool,
    require_data: bool,
) -> None:
    """CI gate: exit 1 when an SLO is breached or pages, 3 when one has no data."""
    slos = load_slos(slos_path)
    outputs = [check_output_path(p, flag) for p, flag in ((junit, "--junit"), (markdown_path, "--markdown")) if p]
    store = Store.open(Settings.load(db_url).db_url)
    try:
        specs = _run_probes(probe_specs, store) if probe_specs else []
        results = evaluate(store, slos, window=since)
    finally:
        store.close()
    fed = frozenset(slo.name for slo in slos if any(_feeds(s, slo) for s in specs))
    policy = GatePolicy(allow_no_data=allow_no_data and not require_data, fed=fed)
    if junit:
        write_output(outputs[0], junit_xml(results, policy), flag="--junit")
    if markdown_path:
        write_output(outputs[-1], markdown(results, policy), flag="--markdown", append=True)
    states = [verdict(r, policy) for r in results]
    for r, state in zip(results, states, strict=True):
        line = f"{state.upper():9} {r.slo.name}: SLI {pct(r.sli)} / {pct(r.slo.objective)} over {r.window}"
        if state in (*FAILING, "skipped"):
            line += f" - {reason(r, policy)}"
        click.echo(line)
    breached = sum(s in ("breached", "burning") for s in states)
    empty = sum(s == "no data" for s in states)
    skipped = sum(s == "skipped" for s in states)
    if breached or empty:
        parts = [f"{breached} breached or burning"] if breached else []
        if empty:
            parts.append(f"{empty} with no data in the window")
        click.echo(
            f"gate failed: {breached + empty} of {len(results)} SLO(s) do not hold ({', '.join(parts)})",
            err=True,
        )
        sys.exit(1 if breached else EXIT_NO_DATA)
    note = f" ({skipped} with no data, skipped by --allow-no-data)" if skipped else ""
    click.echo(f"gate passed: {len(results) - skipped} of {len(results)} SLO(s) hold{note}")
