"""The ``voiceobs collect`` HTTP application: OTLP/HTTP traces, platform webhooks, health, metrics.

Routes:

* ``POST /v1/traces``       OTLP/HTTP, protobuf or JSON, gzip/deflate or none. 200 with an
  ``ExportTraceServiceResponse`` (``partial_success`` when spans were refused); 400 bad data,
  413 body over the limit, 415 wrong Content-Type or Content-Encoding, 429 queue full and 503
  store down with a full spool or shutting down (both with Retry-After): every error body is a
  ``google.rpc.Status`` in the request's encoding
* ``POST /webhooks/vapi``   Vapi's server messages (end-of-call-report recorded, others ignored)
* ``POST /webhooks/retell`` Retell's webhook events (call_analyzed recorded, others ignored);
  both 401 without a valid signature when a secret is configured, 400 unreadable, 413, 501 no
  adapter, 503 (with Retry-After) when the call could be neither stored nor spooled
* ``GET /healthz``          200 while the process serves requests
* ``GET /readyz``           200 while the store or the spool takes writes, else 503 (JSON status)
* ``GET /metrics``          Prometheus text from the collector's own registry

The application's lifespan starts the collector's writer and, at shutdown
(SIGTERM or SIGINT through uvicorn), drains the queue and records every
open call before the process exits.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import anyio
import anyio.to_thread
import orjson
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from voiceobs.collect import otlp
from voiceobs.collect.decoders import DecoderDied, DecoderPool, decode_and_admit
from voiceobs.collect.door import Admitted
from voiceobs.collect.ingest import Admission, Collector
from voiceobs.collect.metrics import CollectorMetrics
from voiceobs.collect.model import CallReportAdapter
from voiceobs.collect.reports import PLATFORMS, adapter_for
from voiceobs.collect.webhooks import VERIFIERS
from voiceobs.redact import Redactor, default_redactor

log = logging.getLogger(__name__)

#: Default limit on a request body, on the wire and once decompressed (16 MiB).
MAX_BODY_BYTES = 16 << 20


@dataclass
class CollectConfig:
    """What the HTTP side needs beyond the collector: the body limit and the webhook secrets."""

    max_body_bytes: int = MAX_BODY_BYTES
    #: Secret per platform (``vapi``, ``retell``); None accepts unsigned posts.
    webhook_secrets: Mapping[str, str | None] = field(default_factory=dict)
    #: Report adapters by platform; None looks them up in ``voiceobs.collect.reports``.
    report_adapters: Mapping[str, CallReportAdapter] | None = None
    #: Requests decoded and redacted at once (CPU-bound: more than one per core only adds waiting).
    decode_threads: int = 1
    #: Worker processes that decode and redact (``voiceobs.collect.decoders``); 0 decodes on a
    #: thread of the server's own process, sharing its core with the writer.
    decode_processes: int = 0


class _Refused(Exception):
    def __init__(self, status: int, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it is known to be over ``limit``."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise otlp.OtlpError(
            413, f"the body is over the limit of {limit} bytes; send smaller batches"
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise otlp.OtlpError(
                413, f"the body is over the limit of {limit} bytes; send smaller batches"
            )
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(
    collector: Collector, config: CollectConfig | None = None, redactor: Redactor | None = None
) -> Starlette:
    """The Starlette app serving ``collector``; its lifespan starts and drains the collector."""
    cfg = config or CollectConfig()
    red = redactor or collector.redactor or default_redactor()
    # The calls the collector records are redacted by the same redactor as their spans.
    collector.redactor = collector.redactor or red
    metrics = collector.metrics
    limit = cfg.max_body_bytes
    for platform in PLATFORMS:
        if not cfg.webhook_secrets.get(platform):
            log.warning(
                "no secret set for /webhooks/%s: unsigned posts are accepted (set %s)",
                platform, {"vapi": "VOICEOBS_VAPI_SECRET", "retell": "VOICEOBS_RETELL_API_KEY"}[platform],
            )  # fmt: skip

    # Decoding and redaction hold the GIL; more of them at once than CPUs would only starve the
    # writer thread (the queue would grow, and with it the time to queryable) for no throughput.
    pool = DecoderPool(cfg.decode_processes, red) if cfg.decode_processes > 0 else None
    decoders = anyio.CapacityLimiter(cfg.decode_processes or cfg.decode_threads)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        collector.start()
        if pool is not None:
            await run_in_threadpool(pool.warm)
        try:
            yield
        finally:
            # Blocking on purpose: the process must not exit before the queue is drained.
            await run_in_threadpool(collector.stop)
            if pool is not None:
                await run_in_threadpool(pool.close)

    def timed(
        route: str, handler: Callable[[Request], Awaitable[Response]]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            start = time.perf_counter()
            response = await handler(request)
            metrics.request_seconds.labels(route).observe(time.perf_counter() - start)
            metrics.requests.labels(route, str(response.status_code)).inc()
            return response

        return endpoint

    async def decode(
        body: bytes, encoding: str | None, media: str
    ) -> tuple[otlp.Decoded, Admitted]:
        async with decoders:
            if pool is not None:
                try:
                    return await pool.decode(body, encoding, media, limit, time.time_ns())
                except DecoderDied as exc:
                    wait = collector.settings.retry_after_unavailable_s
                    raise _Refused(503, f"{exc} after {wait} s", wait) from None
            payload = otlp.decompress(body, encoding, limit)
            return await anyio.to_thread.run_sync(
                decode_and_admit, payload, media, time.time_ns(), red
            )

    async def traces(request: Request) -> Response:
        media = otlp.JSON
        try:
            media = otlp.media_type(request.headers.get("content-type"))
            verdict = collector.admission()
            if verdict is not Admission.ACCEPTED:
                raise _refusal(collector, verdict)
            body = await _read_body(request, limit)
            await _writer_first(collector)
            decoded, admitted = await decode(body, request.headers.get("content-encoding"), media)
        except otlp.OtlpError as exc:
            return _otlp_error(media, exc.status, str(exc))
        except _Refused as exc:
            return _otlp_error(media, exc.status, str(exc), exc.retry_after)
        encoding = "protobuf" if media == otlp.PROTOBUF else "json"
        metrics.spans_received.labels(encoding).inc(decoded.accepted + decoded.rejected_count)
        for reason, n in decoded.rejected.items():
            metrics.spans_dropped.labels(reason).inc(n)
        for flag, n in decoded.flags.items():
            metrics.span_flags.labels(flag).inc(n)
        verdict = collector.offer(admitted.spans)
        if verdict is not Admission.ACCEPTED:
            refused = _refusal(collector, verdict)
            return _otlp_error(media, refused.status, str(refused), refused.retry_after)
        return Response(otlp.success_body(media, decoded), media_type=media)

    def webhook(platform: str) -> Callable[[Request], Awaitable[Response]]:
        verify = VERIFIERS[platform]

        async def endpoint(request: Request) -> Response:
            try:
                body = await _read_body(request, limit)
            except otlp.OtlpError as exc:
                return _webhook_answer(metrics, platform, "bad_request", exc.status, str(exc))
            secret = cfg.webhook_secrets.get(platform)
            if secret and not verify(request.headers, body, secret, time.time()):
                return _webhook_answer(
                    metrics, platform, "unauthorized", 401,
                    f"missing or invalid {platform} signature; check the secret configured on both sides",
                )  # fmt: skip
            try:
                payload = orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                return _webhook_answer(
                    metrics, platform, "bad_request", 400, f"the body is not valid JSON ({exc})"
                )
            if not isinstance(payload, dict):
                return _webhook_answer(
                    metrics, platform, "bad_request", 400, "the body must be a JSON object"
                )
            adapters = cfg.report_adapters
            adapter = adapters.get(platform) if adapters is not None else adapter_for(platform)
            if adapter is None:
                return _webhook_answer(
                    metrics, platform, "no_adapter", 501, f"no adapter reads {platform} reports in this build"
                )  # fmt: skip
            try:
                run = adapter.parse(payload)
            except Exception as exc:  # the payload is not logged: it is a caller's call
                log.warning("a %s report could not be read (%s)", platform, type(exc).__name__)
                return _webhook_answer(
                    metrics, platform, "bad_request", 400,
                    f"the {platform} report could not be read ({type(exc).__name__})",
                )  # fmt: skip
            if run is None:
                return _webhook_answer(
                    metrics, platform, "ignored", 200, "not an end-of-call report"
                )
            if not await run_in_threadpool(collector.record_calls, [run], platform):
                response = _webhook_answer(
                    metrics, platform, "unavailable", 503, "the call could be neither stored nor spooled"
                )  # fmt: skip
                response.headers["Retry-After"] = str(collector.settings.retry_after_unavailable_s)
                return response
            metrics.webhooks.labels(platform, "recorded").inc()
            return JSONResponse({"status": "recorded", "id": run.id})

        return endpoint

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    async def readyz(request: Request) -> Response:
        status = collector.status()
        return JSONResponse(status, status_code=200 if status["ready"] else 503)

    async def metrics_endpoint(request: Request) -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    routes = [
        Route("/v1/traces", timed("/v1/traces", traces), methods=["POST"]),
        *[
            Route(f"/webhooks/{p}", timed(f"/webhooks/{p}", webhook(p)), methods=["POST"])
            for p in PLATFORMS
        ],
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics_endpoint),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.collector = collector
    app.state.decoders = pool
    return app


async def _writer_first(collector: Collector) -> None:
    """Wait (without the GIL) while more than a batch is queued, up to ``writer_first_s``.

    Decoding and the writer share one interpreter lock. Under full load the
    decoders would win it more often than the writer and the queue, and the
    time from receipt to queryable, would grow to its bound; pausing intake
    for a moment instead slows senders a little (their requests take longer)
    and keeps the queue, and that time, short. Past the wait the request is
    decoded anyway: the queue bound still answers 429.
    """
    deadline = time.monotonic() + collector.settings.writer_first_s
    while collector.queue.depth > collector.settings.batch_spans and time.monotonic() < deadline:
        await anyio.sleep(0.005)


def _refusal(collector: Collector, verdict: Admission) -> _Refused:
    wait = collector.retry_after(verdict)
    if verdict is Admission.QUEUE_FULL:
        return _Refused(429, f"the ingest queue is full; retry after {wait} s", wait)
    if verdict is Admission.UNAVAILABLE:
        return _Refused(503, f"the store is down and the spool is full; retry after {wait} s", wait)
    return _Refused(503, f"the collector is shutting down; retry after {wait} s", wait)


def _otlp_error(media: str, status: int, message: str, retry_after: int | None = None) -> Response:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return Response(
        otlp.status_body(media, status, message),
        status_code=status,
        media_type=media,
        headers=headers,
    )


def _webhook_answer(
    metrics: CollectorMetrics, platform: str, outcome: str, status: int, message: str
) -> Response:
    metrics.webhooks.labels(platform, outcome).inc()
    body = {"error": message} if status >= 400 else {"status": outcome, "detail": message}
    return JSONResponse(body, status_code=status)


__all__ = ["MAX_BODY_BYTES", "CollectConfig", "create_app"]
