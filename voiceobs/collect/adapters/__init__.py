"""One adapter per source of production calls, behind the protocols of ``voiceobs.collect.model``.

Span adapters (Pipecat, LiveKit Agents, the generic ``voice.*`` schema) turn
one conversation's spans into a call; call-report adapters (Vapi, Retell)
turn one webhook body into a call (``voiceobs.collect.reports`` names them).
"""

from __future__ import annotations

from voiceobs.collect.adapters.generic import GenericAdapter
from voiceobs.collect.adapters.livekit import LiveKitAdapter
from voiceobs.collect.adapters.pipecat import PipecatAdapter
from voiceobs.collect.model import Adapter


def span_adapters() -> list[Adapter]:
    """The span adapters in the order the assembler tries them (the generic schema last)."""
    return [PipecatAdapter(), LiveKitAdapter(), GenericAdapter()]


__all__ = ["GenericAdapter", "LiveKitAdapter", "PipecatAdapter", "span_adapters"]
