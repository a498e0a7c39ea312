"""The hosted platforms whose end-of-call reports ``voiceobs collect`` takes, by webhook name.

``POST /webhooks/<name>`` verifies a post, then hands its JSON body to
``ADAPTERS[name].parse``: a ``RunResult`` to record (with ``replace``: a
platform may deliver a report more than once, and the call id makes every
delivery the same call), None for a message that is not an end-of-call
report (answer 200 and ignore it), or ``ReportError`` for a report that
lacks what a call needs (answer 400 with its message). The transport knows
adapters only through the ``CallReportAdapter`` protocol; another platform
is one :func:`register` away.
"""

from __future__ import annotations

from voiceobs.collect.adapters.retell import RetellReport
from voiceobs.collect.adapters.vapi import VapiReport
from voiceobs.collect.model import CallReportAdapter

#: The platforms ``voiceobs collect`` has webhook endpoints for.
PLATFORMS: tuple[str, ...] = ("vapi", "retell")

#: Webhook name -> the adapter that parses its reports.
ADAPTERS: dict[str, CallReportAdapter] = {
    "vapi": VapiReport(),
    "retell": RetellReport(),
}


def register(adapter: CallReportAdapter) -> None:
    """Make ``adapter`` read the reports of the platform it names (``adapter.name``)."""
    ADAPTERS[adapter.name] = adapter


def adapter_for(platform: str) -> CallReportAdapter | None:
    """The adapter registered for ``platform``, or None."""
    return ADAPTERS.get(platform)


__all__ = ["ADAPTERS", "PLATFORMS", "adapter_for", "register"]
