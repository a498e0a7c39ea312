"""``voiceobs serve``: run a reference voice pipeline behind the streaming server."""

from __future__ import annotations

import logging
import os

import click

from voiceobs.errors import ConfigError


@click.command("serve")
@click.option(
    "--pipeline",
    "pipeline_name",
    required=True,
    type=click.Choice(["echo", "codec", "agent"]),
    help="Which reference pipeline.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", default=8765, show_default=True, type=int, help="TCP port (0: any free).")
@click.option(
    "--device",
    default="auto",
    show_default=True,
    type=click.Choice(["auto", "cpu", "cuda"]),
    help="Torch device for VAD and DSP.",
)
@click.option(
    "--max-calls",
    default=64,
    show_default=True,
    type=int,
    help="Concurrent calls before new ones get HTTP 503 at the handshake.",
)
@click.option(
    "--admin-token",
    default=None,
    envvar="VOICEOBS_ADMIN_TOKEN",
    help="Bearer token for /admin (env VOICEOBS_ADMIN_TOKEN); unset disables admin.",
)
@click.option(
    "--fault",
    default=None,
    envvar="VOICEOBS_FAULT",
    help="Server-wide faults, e.g. 'delay=300,garble' (see voiceobs.pipelines.faults).",
)
@click.option(
    "--max-batch",
    default=32,
    show_default=True,
    type=int,
    help="Micro-batching: most VAD windows per inference (1 turns batching off).",
)
@click.option(
    "--max-wait-ms",
    default=5.0,
    show_default=True,
    type=float,
    help="Micro-batching: longest wait to fill a batch.",
)
@click.option(
    "--codec-config",
    default=None,
    envvar="VOICEOBS_CODEC_CONFIG",
    help="codec pipeline settings: inline JSON or a JSON file path.",
)
@click.option(
    "--hangover-ms",
    default=300.0,
    show_default=True,
    type=float,
    help="agent: silence that ends the caller's turn.",
)
@click.option(
    "--voice",
    default="hibari",
    show_default=True,
    envvar="VOICEOBS_AGENT_VOICE",
    help="agent: who speaks the replies: hibari (neural, clear to ASR), espeak, "
    "or engine:name such as espeak:en-gb.",
)
def serve(
    pipeline_name,
    host,
    port,
    device,
    max_calls,
    admin_token,
    fault,
    max_batch,
    max_wait_ms,
    codec_config,
    hangover_ms,
    voice,
):
    """Serve a pipeline over Twilio Media Streams (/twilio) and raw PCM (/pcm)."""
    import uvicorn

    from voiceobs.audio.tts import parse_voice
    from voiceobs.errors import AudioError
    from voiceobs.pipelines.agent import AgentSettings
    from voiceobs.pipelines.batcher import BatchSettings
    from voiceobs.pipelines.codec import CodecConfig
    from voiceobs.pipelines.faults import Faults
    from voiceobs.server.app import ServerConfig, create_app

    if not 0 <= port <= 65535:
        raise ConfigError(f"--port must be within 0..65535, got {port}")
    try:
        agent_voice = parse_voice(voice)
    except AudioError as exc:
        raise ConfigError(f"--voice {voice}: {exc}") from None
    config = ServerConfig(
        pipeline=pipeline_name,
        host=host,
        port=port,
        device=device,
        max_calls=max_calls,
        admin_token=admin_token or os.environ.get("VOICEOBS_ADMIN_TOKEN"),
        faults=Faults.parse(fault),
        batch=BatchSettings(max_batch=max_batch, max_wait_ms=max_wait_ms),
        codec=CodecConfig.load(codec_config),
        agent=AgentSettings(hangover_ms=hangover_ms, voice=agent_voice),
    )
    app = create_app(config)
    click.echo(f"voiceobs serve: {pipeline_name} on ws://{host}:{port}/twilio and /pcm", err=True)
    level = logging.getLogger().getEffectiveLevel()
    uvicorn.run(
        app,
        host=host,
        port=port,
        ws="websockets-sansio",
        log_level="info" if level <= logging.INFO else "warning",
    )
