"""``voiceobs metrics serve``: the store's recent results on /metrics for a long-running scrape."""

from __future__ import annotations

import time

import click


@click.group()
def metrics() -> None:
    """Expose stored results to Prometheus."""


@metrics.command()
@click.option("--db", "db_url", metavar="URL", default=None, help="Store URL (default: $VOICEOBS_DB_URL, config, or SQLite in the data dir).")  # fmt: skip
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=9464, show_default=True, help="Port to listen on.")
@click.option("--window", type=click.IntRange(1, 10_080), default=15, show_default=True, help="Minutes of results to describe.")  # fmt: skip
def serve(db_url: str | None, host: str, port: int, window: int) -> None:
    """Serve /metrics from the store until interrupted."""
    from datetime import timedelta

    from prometheus_client import CollectorRegistry, start_http_server

    from voiceobs.config import Settings
    from voiceobs.metrics import StoreCollector
    from voiceobs.store import Store

    settings = Settings.load(db_url)
    store = Store.open(settings.db_url)
    registry = CollectorRegistry()
    registry.register(StoreCollector(store, timedelta(minutes=window)))
    server, _thread = start_http_server(port, addr=host, registry=registry)
    bound = server.server_address[1]
    click.echo(f"serving http://{host}:{bound}/metrics from {store.display_url}", err=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        server.shutdown()
        store.close()
