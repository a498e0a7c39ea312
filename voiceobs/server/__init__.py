"""The streaming server for the reference pipelines (Twilio Media Streams and raw PCM)."""

from voiceobs.server.app import ServerConfig, create_app
from voiceobs.server.runner import ServerHandle, running_server, start_server

__all__ = ["ServerConfig", "ServerHandle", "create_app", "running_server", "start_server"]
