"""``voiceobs metrics serve``: the store's rollups as cumulative series on /metrics."""

from __future__ import annotations

import signal
import threading
from typing import Any

import click


@click.group()
def metrics() -> None:
    """Expose stored results to Prometheus."""


@metrics.command()
@click.option("--db", "db_url", metavar="URL", default=None, help="Store URL (default: $VOICEOBS_DB_URL, config, or SQLite in the data dir).")  # fmt: skip
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=9464,
    show_default=True,
    help="Port to listen on.",
)
@click.option("--min-interval", type=click.FloatRange(0, 3600), default=10.0, show_default=True, help="Seconds between store reads; scrapes in between get the last figures.")  # fmt: skip
def serve(db_url: str | None, host: str, port: int, min_interval: float) -> None:
    """Serve /metrics from the store until SIGTERM or Ctrl-C (then exit 0).

    Counters and histograms count from the day before it started and only
    grow, so Prometheus can rate() them; `voiceobs slo rules` writes rules
    over them. They are read from the store's rollups (refreshed first), so
    a scrape costs the same at any store size.
    """
    from prometheus_client import CollectorRegistry, start_http_server

    from voiceobs.config import Settings
    from voiceobs.metrics import StoreCollector
    from voiceobs.store import Store

    settings = Settings.load(db_url)
    store = Store.open(settings.db_url)
    registry = CollectorRegistry()
    registry.register(StoreCollector(store, min_interval_s=min_interval))
    server, _thread = start_http_server(port, addr=host, registry=registry)
    bound = server.server_address[1]
    click.echo(f"serving http://{host}:{bound}/metrics from {store.display_url}", err=True)
    stop = threading.Event()
    stopped_by: list[int] = []

    def on_signal(signum: int, _frame: Any) -> None:
        stopped_by.append(signum)
        stop.set()

    # Without a handler SIGTERM would kill the process mid-scrape with the store open;
    # here it ends the wait, and the server and the store are closed in order.
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        while not stop.wait(3600):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        server.shutdown()
        server.server_close()
        store.close()
    click.echo(f"stopped by {signal.Signals(stopped_by[0]).name}", err=True)
