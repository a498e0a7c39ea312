"""Failover hooks and incidents: act once when an SLO's error budget burns too fast.

``process`` turns a round of SLO results into incidents and hook deliveries
(webhook, Alertmanager, command, pipeline mode, Python entry point). Each
hook event is delivered at least once, by one evaluator at a time however
many race (the store hands out the lease), with an idempotency key that lets
the receiver drop the repeats a retry can cause. ``trigger_hook``, ``acknowledge`` and ``resolve`` are the
manual actions the dashboard and ``voiceobs incident`` offer, each recorded
with who did it.
"""

from __future__ import annotations

from voiceobs.failover.delivery import Delivery
from voiceobs.failover.incidents import (
    Report,
    SloLike,
    SloResultLike,
    acknowledge,
    process,
    resolve,
    trigger_hook,
)
from voiceobs.failover.payload import Notification
from voiceobs.failover.spec import Hook, HooksFile, Match, load_hooks, parse_hooks

__all__ = [
    "Delivery",
    "Hook",
    "HooksFile",
    "Match",
    "Notification",
    "Report",
    "SloLike",
    "SloResultLike",
    "acknowledge",
    "load_hooks",
    "parse_hooks",
    "process",
    "resolve",
    "trigger_hook",
]
