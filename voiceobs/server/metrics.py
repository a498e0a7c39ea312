"""The server's Prometheus collectors, in the server's own registry.

A private :class:`~prometheus_client.CollectorRegistry` (never the global
one) lets tests and the demo run several servers in one process and read
each one's ``/metrics`` without cross-talk.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from voiceobs.pipelines.telemetry import PipelineMetrics


class ServerMetrics(PipelineMetrics):
    """Pipeline stage metrics plus call admission and protocol health."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        super().__init__(registry)
        self.active_calls = Gauge(
            "voiceobs_server_active_calls",
            "Calls currently connected.",
            registry=self.registry,
        )
        self.calls = Counter(
            "voiceobs_server_calls",
            "Calls accepted, by protocol.",
            ["protocol"],
            registry=self.registry,
        )
        self.rejected_calls = Counter(
            "voiceobs_server_rejected_calls",
            "Calls refused at the handshake, by reason (capacity, fault, not_ready).",
            ["reason"],
            registry=self.registry,
        )
        self.protocol_errors = Counter(
            "voiceobs_server_protocol_errors",
            "Calls closed for bad input, by protocol and reason.",
            ["protocol", "reason"],
            registry=self.registry,
        )
        self.internal_errors = Counter(
            "voiceobs_server_internal_errors",
            "Calls closed with 1011 because the handler failed (including injected crashes).",
            ["protocol"],
            registry=self.registry,
        )


__all__ = ["ServerMetrics"]
