"""Reference voice pipelines (echo, codec, agent), the micro-batcher and fault injection."""

from voiceobs.pipelines.base import CallInfo, CallSink, Pipeline, Session
from voiceobs.pipelines.faults import Faults

__all__ = ["CallInfo", "CallSink", "Faults", "Pipeline", "Session"]
