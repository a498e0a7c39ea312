"""``voiceobs demo``: the whole job on one machine, fault and failover included.

Exit codes: 0 when the scenario ran (``--quick``) or when the long-running
demo was stopped by SIGTERM or Ctrl-C, its normal end; ``--quick`` stopped
before its script finished exits 128 + the signal (130 for SIGINT, 143 for
SIGTERM), as a shell reports an interrupted command. Either way every
process the demo started has exited first.
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

import click

from voiceobs.config import data_dir


@click.command()
@click.option(
    "--quick", is_flag=True, help="Compressed script (under two minutes) that exits at the end."
)
@click.option(
    "--dir",
    "workdir",
    type=click.Path(path_type=Path),
    default=None,
    help="Working folder for the demo store, specs and logs (default: <data dir>/demo).",
)
@click.option(
    "--db",
    "db_url",
    default=None,
    metavar="URL",
    help="Store URL (default: a SQLite file in the demo folder).",
)
@click.option("--dashboard/--no-dashboard", default=True, help="Start the dashboard too.")
@click.option("--dashboard-port", type=int, default=8501, show_default=True)
@click.option(
    "--report",
    "report_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Write what happened as JSON (the fault drill reads it).",
)
def demo(
    quick: bool,
    workdir: Path | None,
    db_url: str | None,
    dashboard: bool,
    dashboard_port: int,
    report_path: Path | None,
) -> None:
    """Run the demo: pipelines, probes, a fault, an SLO burn, failover, recovery.

    Without --quick it keeps probing after the scenario and leaves the
    dashboard up until Ctrl-C or SIGTERM, which stop every process it started
    (exit 0). --quick stopped early that way exits 130 or 143.
    """
    from voiceobs.demo import Demo, summary

    folder = workdir or data_dir() / "demo"
    runner = Demo(
        folder,
        db_url=db_url,
        quick=quick,
        dashboard=dashboard,
        dashboard_port=dashboard_port,
        keep_running=not quick,
    )
    report = runner.run()
    if runner.signalled is not None:
        name = signal.Signals(runner.signalled).name
        click.echo(f"\nstopped by {name}; every process the demo started has exited")
    click.echo(summary(report))
    if report_path:
        report_path.write_text(json.dumps(report.to_json(), indent=2, default=str))
    if runner.signalled is not None and quick and not runner.completed:
        sys.exit(128 + runner.signalled)
