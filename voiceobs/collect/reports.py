"""Which adapter reads each hosted platform's end-of-call report: a registry by platform name.

The webhook endpoints (``POST /webhooks/<platform>``) verify a post and hand
its JSON body to the :class:`~voiceobs.collect.model.CallReportAdapter`
registered here under the platform's name (``vapi``, ``retell``). The
transport knows adapters only through that protocol; the adapter modules
(``voiceobs.collect.adapters``) fill the registry with :func:`register`
when they are imported, which :func:`adapter_for` does on first use.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging

from voiceobs.collect.model import CallReportAdapter

log = logging.getLogger(__name__)

#: The platforms ``voiceobs collect`` has webhook endpoints for.
PLATFORMS: tuple[str, ...] = ("vapi", "retell")

#: Report adapters by platform name.
ADAPTERS: dict[str, CallReportAdapter] = {}

_ADAPTER_PACKAGE = "voiceobs.collect.adapters"
_loaded = False


def register(adapter: CallReportAdapter) -> None:
    """Make ``adapter`` read the reports of the platform it names (``adapter.name``)."""
    ADAPTERS[adapter.name] = adapter


def adapter_for(platform: str) -> CallReportAdapter | None:
    """The adapter registered for ``platform``, importing the adapter package once first."""
    _load_adapters()
    return ADAPTERS.get(platform)


def _load_adapters() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    try:
        if importlib.util.find_spec(_ADAPTER_PACKAGE) is None:
            return
        importlib.import_module(_ADAPTER_PACKAGE)
    except Exception as exc:  # a broken adapter must not take the receiver down
        log.error("cannot load the call report adapters (%s: %s)", type(exc).__name__, exc)


__all__ = ["ADAPTERS", "PLATFORMS", "adapter_for", "register"]
