"""``voiceobs demo``: the whole job on one machine, fault and failover included."""

from __future__ import annotations

import json
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
    dashboard up until Ctrl-C, which stops every process it started.
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
    try:
        report = runner.run()
    except KeyboardInterrupt:
        report = runner.report
        click.echo("\nstopped; every process the demo started has exited")
    click.echo(summary(report))
    if report_path:
        report_path.write_text(json.dumps(report.to_json(), indent=2, default=str))
