"""``voiceobs db``: create, upgrade and inspect the result store."""

from __future__ import annotations

import json

import click

from voiceobs.config import Settings
from voiceobs.errors import SchemaMismatch
from voiceobs.store import Store, make_engine, migrations, redact_url

db_option = click.option(
    "--db",
    "db_url",
    metavar="URL",
    default=None,
    help="Store URL (default: $VOICEOBS_DB_URL, config file, or SQLite in the data dir).",
)


@click.group()
def db() -> None:
    """Create, upgrade and inspect the result store."""


@db.command()
@db_option
def upgrade(db_url: str | None) -> None:
    """Create the store or migrate it to this voiceobs's schema (safe to repeat)."""
    settings = Settings.load(db_url)
    engine = make_engine(settings.db_url)
    before = migrations.current_revision(engine)
    migrations.upgrade(engine)
    after = migrations.current_revision(engine)
    click.echo(f"store: {redact_url(settings.db_url)}")
    if before == after:
        click.echo(f"schema: {after} (already up to date)")
    else:
        click.echo(f"schema: {before or 'empty'} -> {after}")


@db.command()
@db_option
def current(db_url: str | None) -> None:
    """Print the store's schema revision and whether it is up to date."""
    settings = Settings.load(db_url)
    engine = make_engine(settings.db_url)
    revision = migrations.current_revision(engine)
    head = migrations.head_revision()
    click.echo(f"store: {redact_url(settings.db_url)}")
    if revision is None:
        click.echo(f"schema: none (empty store); run `voiceobs db upgrade` to create {head}")
    elif revision == head:
        click.echo(f"schema: {revision} (head)")
    else:
        migrations.check(engine, settings.db_url)  # raises the right one-line error


@db.command()
@db_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(db_url: str | None, as_json: bool) -> None:
    """Show where the store is, its schema and how many rows it holds."""
    settings = Settings.load(db_url)
    store = Store.open(settings.db_url, check_schema=False)
    st = store.status()
    if as_json:
        click.echo(json.dumps({**st.__dict__, "up_to_date": st.up_to_date}, indent=2))
        return
    click.echo(f"store:   {st.url}")
    click.echo(f"backend: {st.backend}")
    if st.revision is None:
        click.echo(f"schema:  none; run `voiceobs db upgrade` to create {st.head}")
        raise SchemaMismatch(f"no voiceobs store at {st.url}; create it with `voiceobs db upgrade`")
    state = "up to date" if st.up_to_date else f"needs `voiceobs db upgrade` to {st.head}"
    click.echo(f"schema:  {st.revision} ({state})")
    for table, count in st.counts.items():
        click.echo(f"  {table:<16} {count:>10,d}")
