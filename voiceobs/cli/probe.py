"""``voiceobs probe run SPEC``: one probe run, then exit (cron, CI, by hand).

Exit codes: 0 when every call succeeded, 1 when any call failed (or another
run of the spec still holds its lock), 2 for a usage or spec error. With
``--workers N`` the calls are placed by N processes and the exit code and
output are those of one run: a worker that died counts its calls failed
(``worker_lost``). Progress
is drawn only on an interactive terminal; under cron (no TTY) the command
prints its summary and nothing else, so cron mails stay short.
"""

from __future__ import annotations

import json
import sys

import click

from voiceobs.results import RunResult, TurnResult


@click.group()
def probe() -> None:
    """Run synthetic probe calls from a spec."""


def _fmt(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


#: The dynamics figures the summary shows when a turn has them, with short names.
_DYNAMICS = (("greeting_ms", "greeting"), ("barge_in_stop_ms", "stop"), ("clear_ms", "clear"),
             ("talk_over_ms", "talk-over"), ("dead_air_max_ms", "dead air"))  # fmt: skip


def _dynamics(turn: TurnResult) -> str:
    parts = []
    for name, label in _DYNAMICS:
        value = getattr(turn, name)
        if value is not None and (value or name in ("barge_in_stop_ms", "greeting_ms")):
            parts.append(f"{label} {value:.0f}")
    if turn.snr_db is not None:
        parts.append(f"snr {turn.snr_db:g} dB")
    return ", ".join(parts) or "-"


def _summary(results: list[RunResult]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"probe {results[0].probe_name}" if results else "probe")
    for col in ("call", "turn", "kind", "status", "connect ms", "ttfb ms", "latency ms", "path ms",
                "gap p99 ms", "pacing p99 ms", "pesq_nb", "stoi", "wer", "dynamics"):  # fmt: skip
        table.add_column(col, justify="right" if "ms" in col or col in ("pesq_nb", "stoi", "wer") else "left")
    for i, r in enumerate(results, 1):
        for t in r.turns or []:
            status = "ok" if t.ok else (t.failure_class or "failed")
            table.add_row(
                str(i), str(t.turn_index + 1), t.kind, status, _fmt(t.connect_ms), _fmt(t.ttfb_ms),
                _fmt(t.turn_latency_ms), _fmt(t.path_delay_ms, 1), _fmt(t.gap_p99_ms, 1),
                _fmt(t.pacing_error_p99_ms, 2), _fmt(t.pesq_nb, 2), _fmt(t.stoi, 2), _fmt(t.wer, 2),
                _dynamics(t),
            )  # fmt: skip
    console = Console(soft_wrap=True)
    console.print(table)
    failed = [r for r in results if not r.ok]
    for r in failed:
        console.print(f"[red]failed[/red] {r.failure_class}: {r.failure_detail}", markup=True, highlight=False)
    console.print(f"{len(results) - len(failed)}/{len(results)} calls succeeded")


@probe.command("run")
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--db", "db_url", metavar="URL", default=None, help="Store URL (default: $VOICEOBS_DB_URL, config, or SQLite in the data dir).")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON instead of a table.")
@click.option("--pushgateway", metavar="URL", default=None, help="Push the run's metrics to this Prometheus Pushgateway (pushadd).")  # fmt: skip
@click.option("--concurrency", type=click.IntRange(1, 10_000), default=None, help="Calls in parallel (overrides the spec); without `calls:` in the spec, also the number of calls placed.")  # fmt: skip
@click.option("--workers", metavar="N|auto", default=None, help="Processes that place the calls, each pacing its share on its own clock (default: auto, one per core from 100 concurrent calls, else 1).")  # fmt: skip
def run(
    spec: str, db_url: str | None, as_json: bool, pushgateway: str | None, concurrency: int | None, workers: str | None
) -> None:
    """Place the spec's calls once, store the results, print a summary."""
    from voiceobs.config import resolve
    from voiceobs.errors import ResultsLost
    from voiceobs.probe import load_spec
    from voiceobs.probe.workers import resolve_workers
    from voiceobs.recording import lost_as_json, run_spec
    from voiceobs.redact import default_redactor

    # --concurrency N is a load probe: N concurrent calls unless the spec sets `calls:`.
    parsed = load_spec(spec).with_concurrency(concurrency)  # a SpecError exits 2 with file:line: field:
    resolve_workers(parsed, workers)  # a bad --workers is a one-line error before any call
    interactive = sys.stderr.isatty() and not as_json
    pushgateway = resolve("pushgateway", pushgateway, None)
    try:
        if interactive:
            from rich.progress import Progress

            with Progress(transient=True) as bar:
                # The target's query string may carry a token: show it as it will be stored.
                shown = default_redactor().redact_url(parsed.target)
                task = bar.add_task(f"calling {shown}", total=parsed.total_calls * len(parsed.sweep_points()))

                def tick(done: int, total: int, ok: bool) -> None:
                    bar.update(task, completed=done)

                results = run_spec(parsed, db_url=db_url, pushgateway=pushgateway, progress=tick, workers=workers)  # fmt: skip
        else:
            results = run_spec(parsed, db_url=db_url, pushgateway=pushgateway, workers=workers)
    except ResultsLost as exc:
        # Neither the store nor the spool took them: the terminal is the last place left.
        click.echo(lost_as_json(exc))
        raise
    if as_json:
        payload = []
        for r in results:
            data = r.to_json()
            data.pop("spans", None)
            payload.append(data)
        click.echo(json.dumps(payload, indent=2))
    else:
        _summary(results)
    if not all(r.ok for r in results):
        sys.exit(1)
