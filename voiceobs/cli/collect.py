"""``voiceobs collect``: receive production traces (OTLP/HTTP) and call reports (webhooks).

Point any OpenTelemetry SDK exporter or an OpenTelemetry Collector's
``otlphttp`` exporter at ``http://HOST:PORT`` (``/v1/traces``); point Vapi's
server URL at ``/webhooks/vapi`` and Retell's webhook at ``/webhooks/retell``.

The webhook secrets are settings, never flags (the command line is what
``ps`` shows every user): ``VOICEOBS_VAPI_SECRET`` / ``vapi_secret`` and
``VOICEOBS_RETELL_API_KEY`` / ``retell_api_key`` in the config file.

Every ``prune_interval`` (default 1h; 0 or off disables) it applies the
retention policy on a thread of its own, as ``voiceobs db prune`` does.

SIGTERM and SIGINT stop it cleanly: no new requests, in-flight ones
answered, the queue written (or spooled), every open call recorded as it
stands, and then exit 0.
"""

from __future__ import annotations

import logging
import signal
from typing import Any

import click

from voiceobs.cli.params import DURATION, ByteSize, CountOrAuto

_DEFAULTS = {"queue": 50_000, "batch": 5_000, "body": "16MiB", "spool": "1GiB", "idle": "30s"}


def _count_prune(collector: Any) -> Any:
    """Count each scheduled prune in the collector's own metrics (outcome, rows by table)."""

    def observe(report: Any) -> None:
        metrics = collector.metrics
        if report is None:
            metrics.prunes.labels("failed").inc()
            return
        metrics.prunes.labels("ok").inc()
        for table, rows in report.removed.items():
            if rows:
                metrics.pruned_rows.labels(table).inc(rows)

    return observe


@click.command("collect")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", type=click.IntRange(0, 65535), default=4318, show_default=True, help="TCP port (4318 is OTLP/HTTP's).")  # fmt: skip
@click.option("--db", "db_url", metavar="URL", default=None, help="Store URL (default: $VOICEOBS_DB_URL, config, or SQLite in the data dir).")  # fmt: skip
@click.option("--queue-size", type=click.IntRange(1), default=_DEFAULTS["queue"], show_default=True, help="Spans held for the writer before requests get 429 + Retry-After.")  # fmt: skip
@click.option("--batch-size", type=click.IntRange(1), default=_DEFAULTS["batch"], show_default=True, help="Most spans written to the store in one bulk statement.")  # fmt: skip
@click.option("--idle-timeout", type=DURATION, default=_DEFAULTS["idle"], show_default=True, help="A call with no new spans for this long is closed and recorded.")  # fmt: skip
@click.option("--max-body", type=ByteSize(min=1024), default=_DEFAULTS["body"], show_default=True, help="Largest request body, sent and decompressed (413 above it).")  # fmt: skip
@click.option("--spool-limit", type=ByteSize(), default=_DEFAULTS["spool"], show_default=True, help="Most span batches kept in the spool while the store is down (then 503).")  # fmt: skip
@click.option("--decoders", type=CountOrAuto(), default="auto", show_default=True, help="Worker processes that decode and redact requests (0: on the server's own core; auto: one per core beyond the first, at most 4).")  # fmt: skip
def collect(
    host: str,
    port: int,
    db_url: str | None,
    queue_size: int,
    batch_size: int,
    idle_timeout: Any,
    max_body: int,
    spool_limit: int,
    decoders: int | None,
) -> None:
    """Receive OTLP traces and Vapi/Retell call reports from production bots, until SIGTERM."""
    import uvicorn

    from voiceobs.collect.decoders import auto_processes
    from voiceobs.collect.ingest import Collector, CollectorSettings
    from voiceobs.collect.runner import load_assembler, uvicorn_config
    from voiceobs.collect.server import CollectConfig, create_app
    from voiceobs.collect.webhooks import configured_secrets
    from voiceobs.config import Settings
    from voiceobs.errors import StoreUnavailable
    from voiceobs.store import Store
    from voiceobs.store.engine import redact_url
    from voiceobs.store.retention import PruneSchedule, RetentionPolicy, prune_interval

    policy = RetentionPolicy.load()
    every = prune_interval()
    settings = Settings.load(db_url)
    store: Store | str = settings.db_url
    try:
        store = Store.open(settings.db_url, create=True)
    except StoreUnavailable as exc:
        # Not fatal: a receiver that cannot start during a database outage loses exactly
        # the spans the spool is there to keep.
        click.echo(f"voiceobs collect: {exc}; spooling until it is back", err=True)
    collector = Collector(
        store,
        assembler=load_assembler(idle_timeout.total_seconds()),
        settings=CollectorSettings(
            queue_spans=queue_size, batch_spans=batch_size, spool_max_bytes=spool_limit
        ),
    )
    config = CollectConfig(
        max_body_bytes=max_body,
        webhook_secrets=configured_secrets(),
        decode_processes=auto_processes() if decoders is None else decoders,
    )
    app = create_app(collector, config)
    click.echo(
        f"voiceobs collect: OTLP/HTTP on http://{host}:{port}/v1/traces, webhooks on "
        f"/webhooks/vapi and /webhooks/retell, store {redact_url(settings.db_url)}, "
        f"{config.decode_processes or 'no'} decoder process(es)",
        err=True,
    )
    level = logging.getLogger().getEffectiveLevel()
    stopped_by: list[int] = []

    def on_signal(signum: int, _frame: Any) -> None:
        stopped_by.append(signum)

    # uvicorn catches SIGTERM/SIGINT itself, shuts down (the lifespan drains the
    # collector), then raises the signal again for the handler it found: this one,
    # so the process exits 0 after a clean stop instead of dying by the signal.
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    # Its own thread, on the store the writer uses (None while it is down): intake never waits.
    schedule = (
        PruneSchedule(policy, every, observe=_count_prune(collector)) if every is not None else None
    )
    if schedule is not None:
        schedule.start(lambda: collector.link.get() if collector.link.up else None)
    try:
        server = uvicorn.Server(
            uvicorn_config(app, host, port, "info" if level <= logging.INFO else "warning")
        )
        server.run()
    finally:
        if schedule is not None:
            schedule.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if not isinstance(store, str):
            store.close()
    totals = collector.metrics.totals()
    if stopped_by:
        click.echo(
            f"voiceobs collect: stopped by {signal.Signals(stopped_by[0]).name}; "
            f"{totals['spans_stored']} span(s) stored, {totals['spans_spooled']} spooled, "
            f"{totals['calls_stored']} call(s) recorded"
            + (
                f", {schedule.runs} prune(s) ({schedule.errors} failed)"
                if schedule is not None
                else ""
            ),
            err=True,
        )
