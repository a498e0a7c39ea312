"""Pipelines by name, for the server and the CLI."""

from __future__ import annotations

import torch

from voiceobs.errors import ConfigError
from voiceobs.pipelines.agent import AgentPipeline, AgentSettings
from voiceobs.pipelines.base import Pipeline
from voiceobs.pipelines.batcher import BatchSettings
from voiceobs.pipelines.codec import CodecConfig, CodecPipeline
from voiceobs.pipelines.echo import EchoPipeline
from voiceobs.pipelines.telemetry import PipelineMetrics

PIPELINES = ("echo", "codec", "agent")


def build_pipeline(
    name: str,
    device: torch.device,
    metrics: PipelineMetrics,
    batch: BatchSettings | None = None,
    codec: CodecConfig | None = None,
    agent: AgentSettings | None = None,
) -> Pipeline:
    """Construct (not load) the named reference pipeline."""
    if name == "echo":
        return EchoPipeline()
    if name == "codec":
        return CodecPipeline(codec, device)
    if name == "agent":
        return AgentPipeline(device=device, batch=batch, metrics=metrics, settings=agent)
    raise ConfigError(f"unknown pipeline {name!r}; use one of {', '.join(PIPELINES)}")


__all__ = ["PIPELINES", "build_pipeline"]
