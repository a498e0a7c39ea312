"""Synthetic probes: real-time calls into voice pipelines, measured as a caller hears them.

Public surface: load or parse a spec and place its calls (``run_spec_async``
returns raw results). Recording them (redaction, store, spool, metrics) is
``voiceobs.recording``'s job; ``voiceobs.run_spec`` does both.
"""

from voiceobs.probe.lock import RunLocked
from voiceobs.probe.runner import run_spec_async
from voiceobs.probe.spec import ProbeSpec, load_spec, parse_spec

__all__ = ["ProbeSpec", "RunLocked", "load_spec", "parse_spec", "run_spec_async"]
