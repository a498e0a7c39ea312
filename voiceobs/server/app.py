"""The ASGI application: WebSocket call endpoints plus health, metrics and admin.

Routes:

* ``WS /twilio``  Twilio Media Streams (:mod:`voiceobs.server.twilio`)
* ``WS /pcm``     raw 16 kHz PCM (:mod:`voiceobs.server.pcm`)
* ``GET /healthz`` 200 while the process serves requests
* ``GET /readyz``  200 once the pipeline is loaded and below ``max_calls``, else 503
* ``GET /metrics`` Prometheus text from the server's own registry
* ``GET/POST /admin/mode``  ``{"mode": "normal"|"degraded"}``
* ``GET/POST /admin/fault`` ``{"fault": "delay=300"}`` (``""`` clears)

Admin routes need ``Authorization: Bearer <token>`` with the token from
``--admin-token-file``, ``VOICEOBS_ADMIN_TOKEN`` or ``admin_token`` in the
config file (``--admin-token`` too, though ``ps`` shows it); with no token configured they
answer 403, so a server is never left open by accident. Failover hooks use
``POST /admin/mode`` to put a bot into degraded mode, where every caller
gets a text notice and a short spoken apology instead of silence.

Admission control: past ``max_calls`` concurrent calls, new calls are
refused at the WebSocket handshake with HTTP 503 (and counted), never
accepted and then slowed down.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from collections.abc import AsyncIterator

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from voiceobs.errors import ConfigError
from voiceobs.pipelines.base import Pipeline
from voiceobs.pipelines.faults import Faults
from voiceobs.pipelines.registry import build_pipeline
from voiceobs.pipelines.vad import resolve_device
from voiceobs.server.config import DEFAULT_APOLOGY, ServerConfig
from voiceobs.server.metrics import ServerMetrics
from voiceobs.server.pcm import PcmHandler
from voiceobs.server.state import ServerState
from voiceobs.server.twilio import TwilioHandler

log = logging.getLogger(__name__)

def create_app(config: ServerConfig, pipeline: Pipeline | None = None) -> Starlette:
    """Build the ASGI app; the pipeline loads in the lifespan startup."""
    metrics = ServerMetrics()
    if pipeline is None:
        device = resolve_device(config.device)
        pipeline = build_pipeline(
            config.pipeline, device, metrics, config.batch, config.codec, config.agent
        )
    elif hasattr(pipeline, "metrics"):
        # A pipeline built by the caller reports into this server's registry too.
        pipeline.metrics = metrics
    state = ServerState(config, pipeline, metrics)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await pipeline.load()
        for rate in (8000, 16000):
            await asyncio.to_thread(state.apology, rate)
        state.ready = True
        log.info("pipeline %s loaded; serving", pipeline.name)
        try:
            yield
        finally:
            state.ready = False
            await pipeline.aclose()
            # The last calls' spans (a reply's transport span ends as the caller hangs up)
            # go out now, while the process can still wait for the collector's answer.
            await asyncio.to_thread(_flush_traces)

    async def twilio(ws: WebSocket) -> None:
        await TwilioHandler(ws, state).run()

    async def pcm(ws: WebSocket) -> None:
        await PcmHandler(ws, state).run()

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        body = {
            "ready": state.ready and state.active < config.max_calls,
            "loaded": state.ready,
            "active_calls": state.active,
            "max_calls": config.max_calls,
            "mode": state.mode,
            "pipeline": pipeline.name,
        }
        return JSONResponse(body, status_code=200 if body["ready"] else 503)

    async def metrics_endpoint(request: Request) -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    def authorized(request: Request) -> Response | None:
        token = config.admin_token
        if not token:
            return JSONResponse(
                {
                    "error": "admin endpoint disabled: start the server with "
                    "--admin-token-file or VOICEOBS_ADMIN_TOKEN"
                },
                status_code=403,
            )
        header = request.headers.get("authorization", "")
        given = header[7:] if header.lower().startswith("bearer ") else ""
        if not hmac.compare_digest(given.encode(), token.encode()):
            return JSONResponse(
                {"error": "missing or wrong bearer token"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        return None

    async def read_json(request: Request) -> dict[str, object] | Response:
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"error": "body must be JSON"}, status_code=400)
        if not isinstance(body, dict):
            return JSONResponse({"error": "body must be a JSON object"}, status_code=400)
        return body

    async def admin_mode(request: Request) -> Response:
        denied = authorized(request)
        if denied is not None:
            return denied
        if request.method == "POST":
            body = await read_json(request)
            if isinstance(body, Response):
                return body
            mode = body.get("mode")
            if mode not in ("normal", "degraded"):
                return JSONResponse(
                    {"error": "mode must be 'normal' or 'degraded'"}, status_code=400
                )
            await state.set_mode(str(mode))
            log.warning("server mode set to %s", mode)
        return JSONResponse({"mode": state.mode, "active_calls": state.active})

    async def admin_fault(request: Request) -> Response:
        denied = authorized(request)
        if denied is not None:
            return denied
        if request.method == "POST":
            body = await read_json(request)
            if isinstance(body, Response):
                return body
            try:
                state.faults = Faults.parse(str(body.get("fault") or ""))
            except ConfigError as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
            log.warning("server faults set to %r", state.faults.describe())
        return JSONResponse({"fault": state.faults.describe()})

    app = Starlette(
        routes=[
            WebSocketRoute("/twilio", twilio),
            WebSocketRoute("/pcm", pcm),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics_endpoint),
            Route("/admin/mode", admin_mode, methods=["GET", "POST"]),
            Route("/admin/fault", admin_fault, methods=["GET", "POST"]),
        ],
        lifespan=lifespan,
    )
    app.state.voiceobs = state
    return app




def _flush_traces(timeout_s: float = 10.0) -> None:
    """Export the spans still batched by the global tracer provider, if it can be flushed."""
    from opentelemetry import trace

    flush = getattr(trace.get_tracer_provider(), "force_flush", None)
    if flush is None:
        return
    try:
        flush(int(timeout_s * 1000))
    except Exception as exc:  # telemetry never throws into the host
        log.warning("flushing spans at shutdown failed: %s", type(exc).__name__)


__all__ = ["DEFAULT_APOLOGY", "ServerConfig", "ServerState", "create_app"]
