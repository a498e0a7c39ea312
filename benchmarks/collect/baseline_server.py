"""The named baseline: the same collector (HTTP, decoding, redaction, queue), spans written one ORM
insert per span, a transaction each (how ``Store.save_spans`` stored spans before the bulk path).

    python benchmarks/collect/baseline_server.py --db URL --port 4318
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Sequence

import uvicorn
from sqlalchemy import select

from voiceobs.collect.ingest import Collector, CollectorSettings
from voiceobs.collect.runner import uvicorn_config
from voiceobs.collect.server import CollectConfig, create_app
from voiceobs.results import SpanRecord
from voiceobs.store import Store
from voiceobs.store.models import Span


class PerSpanStore(Store):
    """``save_spans_bulk`` as the baseline does it: per span, a lookup and an ORM insert."""

    def save_spans_bulk(self, spans: Sequence[SpanRecord]) -> int:
        new = 0
        for x in spans:
            with self.session() as s:
                if s.scalar(select(Span.id).where(Span.trace_id == x.trace_id, Span.span_id == x.span_id)):
                    continue
                s.add(Span(**dataclasses.asdict(x)))
                new += 1
        return new


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--queue-size", type=int, default=50_000)
    args = parser.parse_args()
    store = PerSpanStore.open(args.db, create=True)
    collector = Collector(store, settings=CollectorSettings(queue_spans=args.queue_size))
    app = create_app(collector, CollectConfig())
    uvicorn.Server(uvicorn_config(app, "127.0.0.1", args.port)).run()
    store.close()


if __name__ == "__main__":
    main()
