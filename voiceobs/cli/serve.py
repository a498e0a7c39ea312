"""``voiceobs serve``: run a reference voice pipeline behind the streaming server.

SIGTERM and SIGINT stop it gracefully (new calls refused, live calls closed
with 1012 "service restart", the pipeline unloaded) and it then exits 0:
stopping is how a server is meant to end, and a supervisor (systemd,
Kubernetes, the demo) should not read it as a crash.

The admin token is a secret, so the command line (which ``ps`` shows every
user on the host) is the worst place for it: give ``--admin-token-file`` or
``VOICEOBS_ADMIN_TOKEN`` (or ``admin_token`` in the config file) instead;
``--admin-token`` still works for compatibility.
"""

from __future__ import annotations

import logging
import signal
from pathlib import Path
from typing import Any

import click

from voiceobs.config import resolve
from voiceobs.errors import ConfigError


def read_token_file(path: Path) -> str:
    """The token in ``path`` (surrounding whitespace and the trailing newline dropped)."""
    try:
        token = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--admin-token-file: cannot read {path}: {exc}") from None
    if not token:
        raise ConfigError(f"--admin-token-file: {path} is empty; write the token into it")
    return token


def admin_token(flag: str | None, file: Path | None) -> str | None:
    """The admin token: ``--admin-token`` or ``--admin-token-file`` > env > config file."""
    if flag is not None and file is not None:
        raise ConfigError("give --admin-token or --admin-token-file, not both")
    explicit = read_token_file(file) if file is not None else flag
    token = resolve("admin_token", explicit or None, None)
    return str(token) if token else None


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
    "admin_token_flag",
    default=None,
    help="Bearer token for /admin; visible in `ps`, so prefer --admin-token-file or "
    "VOICEOBS_ADMIN_TOKEN. Unset everywhere disables admin.",
)
@click.option(
    "--admin-token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Read the /admin bearer token from this file (e.g. a mounted secret).",
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
@click.option(
    "--otlp-endpoint",
    default=None,
    metavar="URL",
    help="Export the pipeline's traces over OTLP/HTTP here, e.g. a voiceobs collect at "
    "http://127.0.0.1:4318 (default: $VOICEOBS_OTLP_ENDPOINT, or the standard "
    "OTEL_EXPORTER_OTLP_ENDPOINT).",
)
def serve(
    pipeline_name,
    host,
    port,
    device,
    max_calls,
    admin_token_flag,
    admin_token_file,
    fault,
    max_batch,
    max_wait_ms,
    codec_config,
    hangover_ms,
    voice,
    otlp_endpoint,
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
        admin_token=admin_token(admin_token_flag, admin_token_file),
        faults=Faults.parse(fault),
        batch=BatchSettings(max_batch=max_batch, max_wait_ms=max_wait_ms),
        codec=CodecConfig.load(codec_config),
        agent=AgentSettings(hangover_ms=hangover_ms, voice=agent_voice),
    )
    _export_traces(pipeline_name, otlp_endpoint)
    app = create_app(config)
    click.echo(f"voiceobs serve: {pipeline_name} on ws://{host}:{port}/twilio and /pcm", err=True)
    level = logging.getLogger().getEffectiveLevel()
    stopped_by: list[int] = []

    def record(signum: int, _frame: Any) -> None:
        stopped_by.append(signum)

    # uvicorn catches SIGTERM/SIGINT itself, shuts down gracefully, then raises the
    # signal again for the handler it found: this one, so the process exits 0
    # instead of dying by the signal after a clean stop.
    previous = {sig: signal.signal(sig, record) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        uvicorn.run(
            app,
            host=host,
            port=port,
            ws="websockets-sansio",
            log_level="info" if level <= logging.INFO else "warning",
        )
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if stopped_by:
        click.echo(f"voiceobs serve: stopped by {signal.Signals(stopped_by[0]).name}", err=True)


def _export_traces(pipeline: str, endpoint: str | None) -> None:
    """Send the pipeline's stage spans over OTLP, as a production bot does, when asked to.

    The pipelines trace through OpenTelemetry's global provider, which does
    nothing until one is set: with an endpoint (the flag, the setting, or
    the SDK's own variables) the spans go there, redacted first.
    """
    from voiceobs.tracing import otlp_endpoint_from_environment, setup_tracing

    url = resolve("otlp_endpoint", endpoint, None)
    standard = otlp_endpoint_from_environment()
    if not url and not standard:
        return
    setup_tracing(f"voiceobs-{pipeline}", otlp_endpoint=str(url) if url else None, set_global=True)
    click.echo(f"voiceobs serve: exporting traces to {url or standard}", err=True)
