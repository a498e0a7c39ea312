"""The ``voiceobs`` command: a click group whose subcommands live one per module.

Subcommands load lazily, so ``voiceobs version`` does not pay for importing
torch, and a command module that is not installed simply does not appear in
``--help``. Every ``VoiceObsError`` becomes one line on stderr and its exit
code; nothing a user can fix ends in a traceback.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import sys
from typing import Any

import click

from voiceobs.errors import VoiceObsError

# name -> (module under voiceobs.cli, attribute, one-line help shown before import)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "version": ("version", "version", "Print the voiceobs version."),
    "db": ("db", "db", "Create, upgrade and inspect the result store."),
    "quality": ("quality", "quality", "Score a degraded WAV against a reference."),
    "serve": ("serve", "serve", "Run a reference voice pipeline server."),
    "probe": ("probe", "probe", "Run synthetic probe calls from a spec."),
    "calls": ("calls", "calls", "List recent calls; show one call from both sides."),
    "metrics": ("metrics", "metrics", "Expose stored results to Prometheus."),
    "collect": ("collect", "collect", "Receive production traces and call reports (OTLP, webhooks)."),
    "slo": ("slo", "slo", "Evaluate SLOs, import OpenSLO, export Prometheus rules."),
    "gate": ("gate", "gate", "CI gate: exit non-zero when an SLO is breached."),
    "evaluate": ("failover", "evaluate", "One SLO evaluation pass that fires failover hooks."),
    "watch": ("failover", "watch", "Evaluate SLOs and fire hooks every N seconds."),
    "incident": ("failover", "incident", "Acknowledge, resolve or trigger hooks by hand."),
    "dashboard": ("dashboard", "dashboard", "Start the Streamlit SRE dashboard."),
    "users": ("users", "users", "Manage dashboard users."),
    "demo": ("demo", "demo", "Run the full voiceobs demo on this machine."),
}


def _available(name: str) -> bool:
    module = COMMANDS[name][0]
    return importlib.util.find_spec(f"voiceobs.cli.{module}") is not None


class LazyGroup(click.Group):
    """A group that imports a subcommand's module only when it is invoked."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(n for n in COMMANDS if _available(n))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS or not _available(cmd_name):
            return None
        module, attr, _ = COMMANDS[cmd_name]
        command = getattr(importlib.import_module(f"voiceobs.cli.{module}"), attr)
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(n, COMMANDS[n][2]) for n in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More log output (repeat for debug).")
def cli(verbose: int) -> None:
    """voiceobs: synthetic calls, audio quality, SLOs and failover for voice AI."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


def main(argv: list[str] | None = None) -> Any:
    """Console-script entry point: run the CLI and map errors to exit codes."""
    try:
        return cli.main(args=argv, prog_name="voiceobs", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.UsageError as exc:
        # One line, like every other user error: what is wrong, and where to look.
        command = exc.ctx.command_path if exc.ctx is not None else "voiceobs"
        click.echo(f"error: {exc.format_message()} (see `{command} --help`)", err=True)
        sys.exit(2)
    except click.ClickException as exc:
        click.echo(f"error: {exc.format_message()}", err=True)
        sys.exit(2)
    except VoiceObsError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
