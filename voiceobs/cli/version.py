"""``voiceobs version``."""

from __future__ import annotations

import platform

import click

from voiceobs._version import __version__


@click.command()
@click.option("--verbose", "-v", is_flag=True, help="Also print Python and key library versions.")
def version(verbose: bool) -> None:
    """Print the voiceobs version."""
    click.echo(f"voiceobs {__version__}")
    if verbose:
        import sqlalchemy

        click.echo(f"python {platform.python_version()}")
        click.echo(f"sqlalchemy {sqlalchemy.__version__}")
