"""The life of one call, shared by both wire protocols.

Admission (HTTP 503 at the handshake when full or when the ``refuse`` fault
is set), the receive loop with its deadlines, bad-input handling (close only
this call, with a WebSocket close code and a reason, log it, count it), the
injected ``crash`` fault, degraded mode, and clean-up. Protocol modules only
parse and encode messages.

Close codes the server uses:

====  ===========================================================
1000  the caller sent ``stop``
1001  the caller sent nothing for ``idle_timeout_s`` (default 60 s)
1003  unsupported data: binary frame on the JSON protocol, wrong media format
1007  invalid payload: malformed JSON, non-base64 or wrong-size audio
1008  policy violation: unknown event, media before start, second start
1011  internal error: the handler failed (or the ``crash`` fault)
====  ===========================================================
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any

import numpy as np
from opentelemetry.context import Context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from starlette.responses import PlainTextResponse
from starlette.websockets import WebSocket, WebSocketState

from voiceobs.errors import ConfigError, VoiceObsError
from voiceobs.pipelines.base import CallInfo, Session
from voiceobs.pipelines.faults import Faults
from voiceobs.server.outbound import Outbound, Wire

if TYPE_CHECKING:
    from voiceobs.server.state import ServerState

log = logging.getLogger(__name__)

FAULT_PARAM = "voiceobs_fault"
_propagator = TraceContextTextMapPropagator()


class ProtocolViolation(Exception):
    """Bad input from the caller: close this call with ``code`` and ``reason``."""

    def __init__(self, code: int, key: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.key = key
        self.reason = reason[:120]  # close reasons must fit in a control frame


class CallStopped(Exception):
    """The caller ended the call cleanly."""


class InjectedCrash(RuntimeError):
    """The ``crash`` fault: a deliberate handler failure."""


def extract_trace_context(traceparent: object, tracestate: object = None) -> Context | None:
    """The caller's W3C trace context, or None when absent or malformed."""
    if not isinstance(traceparent, str) or not traceparent:
        return None
    carrier = {"traceparent": traceparent}
    if isinstance(tracestate, str) and tracestate:
        carrier["tracestate"] = tracestate
    ctx = _propagator.extract(carrier)
    from opentelemetry import trace

    span_ctx = trace.get_current_span(ctx).get_span_context()
    return ctx if span_ctx.is_valid else None


class CallHandler:
    """Base class: subclasses parse messages and encode outbound ones."""

    protocol = "base"

    def __init__(self, ws: WebSocket, state: ServerState) -> None:
        self.ws = ws
        self.state = state
        self.call_id = uuid.uuid4().hex[:16]
        self.session: Session | None = None
        self.outbound: Outbound | None = None
        self.info: CallInfo | None = None
        self.faults = state.faults
        self._crash_at: float | None = None
        self._send_lock = asyncio.Lock()

    # --- subclass hooks -------------------------------------------------
    async def on_text(self, text: str) -> None:
        """Handle one text message."""
        raise NotImplementedError

    async def on_bytes(self, data: bytes) -> None:
        """Handle one binary message."""
        raise NotImplementedError

    def wire(self) -> Wire:
        """The protocol's outbound encoder."""
        raise NotImplementedError

    # --- shared machinery ----------------------------------------------
    async def send_text(self, text: str) -> None:
        """Serialised send: the pipeline and the server may both write."""
        async with self._send_lock:
            if self.ws.application_state == WebSocketState.CONNECTED:
                await self.ws.send_text(text)

    async def send_bytes(self, data: bytes) -> None:
        """Serialised binary send."""
        async with self._send_lock:
            if self.ws.application_state == WebSocketState.CONNECTED:
                await self.ws.send_bytes(data)

    def abort(self) -> None:
        """Drop the TCP connection with no close frame (the ``drop`` fault)."""
        transport = _find_transport(getattr(self.ws, "_send", None))
        if transport is not None:
            transport.abort()
        else:  # an ASGI server that hides its transport: the closest honest substitute
            asyncio.get_running_loop().create_task(self.ws.close(1001, "voiceobs fault: drop"))

    async def begin_call(self, info: CallInfo, call_faults: Faults) -> None:
        """The start message arrived: open the pipeline session and arm faults."""
        self.faults = self.faults.merge(call_faults)
        info.faults = self.faults
        self.info = info
        if self.faults.crash_after_s is not None:
            self._crash_at = time.monotonic() + self.faults.crash_after_s
        self.outbound = Outbound(self.wire(), self.faults)
        try:
            self.session = self.state.pipeline.open_session(info, self.outbound)
        except ConfigError as exc:
            raise ProtocolViolation(1008, "bad_parameters", str(exc)) from exc
        self.state.calls.add(self)
        if self.state.mode == "degraded":
            await self.enter_degraded()

    async def on_audio(self, frame: np.ndarray) -> None:
        """Inbound audio goes to the pipeline unless degraded mode has taken over."""
        if self.session is not None and self.state.mode != "degraded":
            await self.session.on_audio(frame)

    async def on_dtmf(self, digit: str) -> None:
        """A keypad digit goes to a pipeline that takes keys (``on_dtmf``); others ignore it."""
        handler = getattr(self.session, "on_dtmf", None)
        if handler is not None and self.state.mode != "degraded":
            await handler(digit)

    async def enter_degraded(self) -> None:
        """Mute the pipeline, send the notice, then speak the apology."""
        if self.outbound is None or self.info is None:
            return
        self.outbound.muted = True
        await self.outbound.send_mode("degraded", self.state.degraded_message)
        asyncio.get_running_loop().create_task(self._speak_apology())

    async def _speak_apology(self) -> None:
        assert self.outbound is not None and self.info is not None
        audio = self.state.apology(self.info.sample_rate)
        n = self.info.sample_rate // 50
        t0 = time.monotonic()
        with contextlib.suppress(Exception):
            for k, i in enumerate(range(0, audio.size - n + 1, n)):
                wait = t0 + k * 0.02 - 0.06 - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                await self.outbound.emit_audio(audio[i : i + n])

    async def leave_degraded(self) -> None:
        """Back to normal: unmute the pipeline and say so."""
        if self.outbound is None:
            return
        self.outbound.muted = False
        await self.outbound.send_mode("normal", "")

    def deadline(self) -> tuple[float, bool]:
        """Seconds until the next deadline, and whether it is the injected crash."""
        idle = self.state.config.idle_timeout_s
        if self._crash_at is not None:
            left = self._crash_at - time.monotonic()
            if left < idle:
                return max(0.0, left), True
        return idle, False

    async def run(self) -> None:
        """Admission, accept, the receive loop, and every way a call ends."""
        state = self.state
        query_faults = Faults()
        try:
            query_faults = Faults.parse(self.ws.query_params.get(FAULT_PARAM))
        except ConfigError as exc:
            await self.ws.send_denial_response(PlainTextResponse(str(exc), status_code=400))
            state.metrics.rejected_calls.labels("bad_fault").inc()
            return
        refusal = state.admit(query_faults)
        if refusal is not None:
            reason, message = refusal
            state.metrics.rejected_calls.labels(reason).inc()
            log.info("refused a %s call at the handshake: %s", self.protocol, message)
            await self.ws.send_denial_response(PlainTextResponse(message, status_code=503))
            return
        state.active += 1
        state.metrics.active_calls.set(state.active)
        self.faults = self.faults.merge(query_faults)
        try:
            await self.ws.accept()
            state.metrics.calls.labels(self.protocol).inc()
            await self._loop()
        except ProtocolViolation as exc:
            state.metrics.protocol_errors.labels(self.protocol, exc.key).inc()
            log.warning("%s call %s: closing (%d): %s", self.protocol, self.call_id, exc.code, exc)
            await self._close(exc.code, exc.reason)
        except CallStopped:
            await self._close(1000, "stop")
        except TimeoutError:
            await self._close(1001, "idle timeout")
        except (InjectedCrash, VoiceObsError, Exception) as exc:
            if not _is_disconnect(exc):
                state.metrics.internal_errors.labels(self.protocol).inc()
                log.error("%s call %s failed: %r", self.protocol, self.call_id, exc)
                await self._close(1011, "internal error")
        finally:
            state.calls.discard(self)
            if self.session is not None:
                with contextlib.suppress(Exception):
                    await self.session.close()
            if self.outbound is not None:
                await self.outbound.close()
            state.active -= 1
            state.metrics.active_calls.set(state.active)

    async def _loop(self) -> None:
        while True:
            timeout, is_crash = self.deadline()
            try:
                message: MutableMapping[str, Any] = await asyncio.wait_for(
                    self.ws.receive(), timeout
                )
            except TimeoutError:
                if is_crash:
                    raise InjectedCrash("voiceobs fault: crash") from None
                raise
            kind = message["type"]
            if kind == "websocket.disconnect":
                return
            if message.get("text") is not None:
                await self.on_text(message["text"])
            elif message.get("bytes") is not None:
                await self.on_bytes(message["bytes"])

    async def _close(self, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):
            async with self._send_lock:
                if self.ws.application_state == WebSocketState.CONNECTED:
                    await self.ws.close(code, reason)


def _find_transport(send: object, depth: int = 0) -> Any:
    """The ASGI server's transport behind ``send`` (Starlette wraps it in closures)."""
    if send is None or depth > 6:
        return None
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is not None and hasattr(transport, "abort"):
        return transport
    for cell in getattr(send, "__closure__", None) or ():
        with contextlib.suppress(ValueError):
            found = _find_transport(cell.cell_contents, depth + 1)
            if found is not None:
                return found
    return None


def _is_disconnect(exc: BaseException) -> bool:
    from starlette.websockets import WebSocketDisconnect

    return isinstance(exc, WebSocketDisconnect) or type(exc).__name__ in {
        "ClientDisconnected",
        "ConnectionClosed",
        "ConnectionClosedError",
        "ConnectionClosedOK",
    }


__all__ = [
    "FAULT_PARAM",
    "CallHandler",
    "CallStopped",
    "InjectedCrash",
    "ProtocolViolation",
    "extract_trace_context",
]
