"""What ``voiceobs serve`` can set: one dataclass, validated when it is built."""

from __future__ import annotations

from dataclasses import dataclass, field

from voiceobs.config import resolve
from voiceobs.errors import ConfigError
from voiceobs.pipelines.agent import AgentSettings
from voiceobs.pipelines.batcher import BatchSettings
from voiceobs.pipelines.codec import CodecConfig
from voiceobs.pipelines.faults import Faults

DEFAULT_APOLOGY = "Sorry, we are having technical difficulties. Please try again later."


@dataclass
class ServerConfig:
    """Everything ``voiceobs serve`` can set."""

    pipeline: str = "echo"
    host: str = "127.0.0.1"
    port: int = 8765
    device: str = "auto"
    max_calls: int = 64
    admin_token: str | None = None
    faults: Faults = field(default_factory=Faults)
    batch: BatchSettings = field(default_factory=BatchSettings)
    codec: CodecConfig = field(default_factory=CodecConfig)
    agent: AgentSettings = field(default_factory=AgentSettings)
    idle_timeout_s: float = 60.0
    apology: str = DEFAULT_APOLOGY

    def __post_init__(self) -> None:
        if self.max_calls < 1:
            raise ConfigError(f"--max-calls must be at least 1, got {self.max_calls}")
        if self.idle_timeout_s <= 0:
            raise ConfigError("idle timeout must be positive")
        if self.admin_token is None:
            token = resolve("admin_token", None, None)
            self.admin_token = str(token) if token else None


__all__ = ["DEFAULT_APOLOGY", "ServerConfig"]
