"""Synthetic probes: real-time calls into voice pipelines, measured as a caller hears them.

Public surface: load or parse a spec, run it (``run_spec``), and the pieces
a host may reuse (``place_call`` for one call, the spool-aware ``save_results``).
"""

from voiceobs.probe.lock import RunLocked
from voiceobs.probe.runner import run_spec, run_spec_async, save_results
from voiceobs.probe.spec import ProbeSpec, load_spec, parse_spec

__all__ = ["ProbeSpec", "RunLocked", "load_spec", "parse_spec", "run_spec", "run_spec_async", "save_results"]
