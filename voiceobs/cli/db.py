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


@db.command()
@db_option
@click.option("--dry-run", is_flag=True, help="Say what would be removed; remove nothing.")
@click.option(
    "--vacuum",
    is_flag=True,
    help="SQLite: then rewrite the file in incremental auto-vacuum mode (VACUUM). Holds the "
    "write lock until done: once, for a store made before that mode, when nothing writes.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def prune(db_url: str | None, dry_run: bool, vacuum: bool, as_json: bool) -> None:
    """Remove what the retention policy says has expired, and say what went.

    The policy is the retention_* settings ($VOICEOBS_RETENTION_TURNS, ... or
    the config file); `voiceobs watch` and `voiceobs collect` run the same
    prune every prune_interval.
    """
    from voiceobs.store import retention

    policy = retention.RetentionPolicy.load()
    settings = Settings.load(db_url)
    store = Store.open(settings.db_url)
    try:
        if vacuum and store.backend != "sqlite":
            retention.vacuum(store)  # raises the one-line error
        report = retention.prune(store, policy, dry_run=dry_run)
        rewritten = retention.vacuum(store) if vacuum and not dry_run else None
    finally:
        store.close()
    if as_json:
        out = report.to_json()
        if rewritten is not None:
            out["vacuum"] = {"pages_before": rewritten[0], "pages_after": rewritten[1]}
        click.echo(json.dumps(out, indent=2))
        return
    click.echo(f"store: {redact_url(settings.db_url)}")
    kept = ", ".join(f"{kind} {value}" for kind, value in report.policy.items())
    click.echo(f"policy: {kept}")
    verb = "would remove" if dry_run else "removed"
    click.echo(f"{verb}: {retention.summary(report)}")
    for table, count in report.removed.items():
        click.echo(f"  {table:<18} {count:>10,d}")
    if not dry_run:
        click.echo(
            f"in {report.seconds:.2f}s, {report.batches} batches, longest "
            f"{report.longest_batch_s * 1000:.0f} ms"
        )
    if report.stopped:
        click.echo("stopped before the end; run it again to finish", err=True)
    if report.auto_vacuum is not None and not dry_run:
        if report.auto_vacuum == "incremental":
            click.echo(f"file: {report.pages_freed:,d} pages given back")
        elif rewritten is None and report.free_pages:
            click.echo(
                f"file: {report.free_pages:,d} free pages stay in the file (reused by new rows); "
                "`voiceobs db prune --vacuum` once, when nothing writes, lets later prunes "
                "give them back",
                err=True,
            )
    if rewritten is not None:
        click.echo(
            f"vacuum: {rewritten[0]:,d} -> {rewritten[1]:,d} pages (incremental from now on)"
        )
