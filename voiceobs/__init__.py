"""voiceobs: observability and SLOs for voice AI, measured the way callers hear it.

The public API, in the order data flows::

    from voiceobs import run_spec, Store, load_slos, evaluate, process, load_hooks

    store = Store.open("sqlite:///voiceobs.db", create=True)
    results = run_spec("probes/echo.yaml", store=store)      # place real calls, redact, store
    slo_results = evaluate(store, load_slos("probes/slos.yaml"))
    process(store, slo_results, load_hooks("probes/hooks.yaml"))  # incidents + failover

    from voiceobs import quality
    quality.score(reference, degraded, 16000, metrics=["pesq_wb", "stoi"])

Names resolve lazily, so ``import voiceobs`` stays cheap for the CLI and
cron jobs that need only the store.
"""

from __future__ import annotations

import importlib
from typing import Any

from voiceobs._version import __version__
from voiceobs.errors import (
    AudioError,
    ConfigError,
    FailureClass,
    HookError,
    PipelineError,
    ProbeError,
    QualityError,
    ResultsLost,
    SchemaMismatch,
    SpecError,
    StoreError,
    StoreFull,
    StoreUnavailable,
    VoiceObsError,
)
from voiceobs.results import RunResult, SpanRecord, TurnResult

_LAZY: dict[str, str] = {
    "Store": "voiceobs.store",
    "Settings": "voiceobs.config",
    "run_spec": "voiceobs.recording",
    "record": "voiceobs.recording",
    "run_spec_async": "voiceobs.probe",
    "load_spec": "voiceobs.probe",
    "ProbeSpec": "voiceobs.probe",
    "load_slos": "voiceobs.slo",
    "evaluate": "voiceobs.slo",
    "SLO": "voiceobs.slo",
    "SloResult": "voiceobs.slo",
    "load_hooks": "voiceobs.failover",
    "process": "voiceobs.failover",
    "acknowledge": "voiceobs.failover",
    "resolve": "voiceobs.failover",
    "trigger_hook": "voiceobs.failover",
    "redact_text": "voiceobs.redact",
    "Redactor": "voiceobs.redact",
    "setup_tracing": "voiceobs.tracing",
    "RedactingSpanProcessor": "voiceobs.tracing",
    "quality": "voiceobs.quality",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'voiceobs' has no attribute {name!r}")
    mod = importlib.import_module(module)
    value = mod if module.endswith(f".{name}") else getattr(mod, name)
    globals()[name] = value
    return value


__all__ = [
    "AudioError",
    "ConfigError",
    "FailureClass",
    "HookError",
    "PipelineError",
    "ProbeError",
    "QualityError",
    "ResultsLost",
    "RunResult",
    "SchemaMismatch",
    "SpanRecord",
    "SpecError",
    "StoreError",
    "StoreFull",
    "StoreUnavailable",
    "TurnResult",
    "VoiceObsError",
    "__version__",
    *_LAZY,
]
