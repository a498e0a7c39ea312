"""One probe call: connect, speak each turn on the absolute clock, listen, hang up.

Three coroutines share one call: the sender sends a frame every 20 ms for
the whole call (prompt frames when a turn is speaking, silence otherwise, as
a real phone line does, which is also what lets a VAD-driven bot hear the
caller stop); the receiver stamps every message on arrival; the conductor
walks the turns and decides, from the stamps, when a reply started and ended.
Nothing is scored here: the call only records, so nothing slow runs on the
pacing path. Every wait is bounded by a deadline, and every way a call can
fail ends in a ``ProbeError`` with its failure class.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from opentelemetry import trace
from opentelemetry.context import Context
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from voiceobs.errors import FailureClass, ProbeError
from voiceobs.probe.pacing import FRAME_S, Pacer, aligned_start, now
from voiceobs.probe.prompts import Prompt
from voiceobs.probe.protocols import WireError, WireProtocol

#: Close codes that mean the target broke the protocol or failed inside
#: (as opposed to hanging up, which truncates the call).
_PROTOCOL_CLOSE_CODES = {1002, 1003, 1007, 1008, 1009, 1010, 1011, 1014}


@dataclass(frozen=True)
class TurnPlan:
    """What the conductor needs to run one turn."""

    prompt: Prompt
    end_silence_s: float = 0.8
    max_reply_s: float = 15.0
    pause_s: float = 0.2


@dataclass(frozen=True)
class CallPlan:
    """Everything about a call that is fixed before it starts."""

    url: str
    turns: Sequence[TurnPlan]
    connect_timeout_s: float = 5.0
    first_audio_timeout_s: float = 5.0
    call_timeout_s: float = 60.0
    silence_threshold_dbfs: float = -45.0
    params: dict[str, str] = field(default_factory=dict)
    #: Offset of this call on the 20 ms grid (spreads concurrent calls apart).
    phase_s: float = 0.0


@dataclass
class TurnRecord:
    """The raw facts of one turn, stamped on the probe's monotonic clock."""

    index: int
    prompt: Prompt
    first_frame: int  # call-wide index of the prompt's first frame
    rx_start: int = 0  # first received message index at the turn's start
    sent_first_at: float | None = None
    eos_at: float | None = None
    first_any: int | None = None  # received message indices
    first_loud: int | None = None
    last_loud: int | None = None
    rx_end: int | None = None
    ended_at: float | None = None
    marks: list[str] = field(default_factory=list)
    cleared: int = 0
    failure: FailureClass | None = None
    detail: str | None = None
    #: The turn span, so scoring (after the call) can hang its span under it.
    span_context: trace.SpanContext | None = None


@dataclass
class CallRecord:
    """What one call recorded; measures and scores are computed from this afterwards."""

    sample_rate: int
    silence_threshold_dbfs: float
    connect_started_at: float = 0.0
    connected_at: float | None = None
    t0: float = 0.0
    pacer: Pacer | None = None
    rx_at: list[float] = field(default_factory=list)
    rx_audio: list[np.ndarray] = field(default_factory=list)
    rx_level: list[float] = field(default_factory=list)
    turns: list[TurnRecord] = field(default_factory=list)
    failure: FailureClass | None = None
    detail: str | None = None
    close_code: int | None = None

    @property
    def connect_ms(self) -> float | None:
        """WebSocket open and start message delivered, in ms."""
        if self.connected_at is None:
            return None
        return (self.connected_at - self.connect_started_at) * 1000.0

    def sent_at(self, frame: int) -> float | None:
        """Actual send time of call-wide frame ``frame``."""
        if self.pacer is None or frame >= len(self.pacer.actual):
            return None
        return self.pacer.actual[frame]


def _level_dbfs(audio: np.ndarray) -> float:
    if audio.size == 0:
        return -120.0
    x = audio.astype(np.float32) / 32768.0
    ms = float(np.dot(x, x)) / x.size
    return max(10.0 * np.log10(ms), -120.0) if ms > 0 else -120.0


class _Call:
    def __init__(
        self,
        plan: CallPlan,
        wire: WireProtocol,
        traceparent: str | None,
        tracer: trace.Tracer,
        context: Context | None,
    ) -> None:
        self.plan = plan
        self.wire = wire
        self.traceparent = traceparent
        self.tracer = tracer
        self.context = context
        self.rec = CallRecord(wire.sample_rate, plan.silence_threshold_dbfs)
        self.ws: ClientConnection | None = None
        self.changed = asyncio.Event()
        self.queue: list[str | bytes] = []  # frames of the prompt being spoken
        self.queue_pos = 0
        self.next_frame = 0
        self.frame_waiters: dict[int, asyncio.Future[float]] = {}
        self.closed: ConnectionClosed | None = None
        self.wire_error: str | None = None

    # -- sender ----------------------------------------------------------------------------

    async def sender(self) -> None:
        assert self.ws is not None and self.rec.pacer is not None
        ws, pacer, wire = self.ws, self.rec.pacer, self.wire
        silence = wire.silence()
        k = 0
        while True:
            await pacer.wait(k)
            if self.queue_pos < len(self.queue):
                payload = self.queue[self.queue_pos]
                self.queue_pos += 1
            else:
                payload = silence
            message = wire.media(payload, k * 20)
            sent = now()
            await ws.send(message)
            pacer.record(k, sent)
            k += 1
            self.next_frame = k
            waiter = self.frame_waiters.pop(k - 1, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(sent)

    def speak(self, prompt: Prompt) -> int:
        """Queue a prompt; returns the call-wide index its first frame will have."""
        self.queue = list(prompt.wire)
        self.queue_pos = 0
        return self.next_frame

    def frame_sent(self, frame: int) -> asyncio.Future[float]:
        fut: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        if self.rec.pacer is not None and frame < len(self.rec.pacer.actual):
            fut.set_result(self.rec.pacer.actual[frame])
        else:
            self.frame_waiters[frame] = fut
        return fut

    # -- receiver --------------------------------------------------------------------------

    async def receiver(self) -> None:
        assert self.ws is not None
        rec, wire, ws = self.rec, self.wire, self.ws
        try:
            async for message in ws:
                at = now()
                try:
                    msg = wire.parse(message)
                except WireError as exc:
                    self.wire_error = str(exc)
                    self.changed.set()
                    return
                if msg.kind == "media" and msg.audio is not None:
                    rec.rx_at.append(at)
                    rec.rx_audio.append(msg.audio)
                    rec.rx_level.append(_level_dbfs(msg.audio))
                elif msg.kind == "mark":
                    if rec.turns:
                        rec.turns[-1].marks.append(msg.name or "")
                    reply = wire.mark(msg.name or "")
                    if reply is not None:
                        await ws.send(reply)
                elif msg.kind == "clear" and rec.turns:
                    rec.turns[-1].cleared += 1
                self.changed.set()
        except ConnectionClosed as exc:
            self.closed = exc
        else:
            self.closed = ConnectionClosed(ws.protocol.close_rcvd, ws.protocol.close_sent)
        self.changed.set()

    # -- conductor -------------------------------------------------------------------------

    def _raise_if_broken(self, turn: TurnRecord) -> None:
        if self.wire_error is not None:
            raise ProbeError(FailureClass.PROTOCOL_ERROR, self.wire_error)
        if self.closed is not None:
            rcvd = self.closed.rcvd
            code = rcvd.code if rcvd is not None else 1006
            reason = (rcvd.reason if rcvd is not None else "") or "no close frame"
            self.rec.close_code = code
            if code in _PROTOCOL_CLOSE_CODES:
                raise ProbeError(
                    FailureClass.PROTOCOL_ERROR,
                    f"the target closed the call with code {code} ({reason}) in turn {turn.index + 1}",
                )
            started = "mid-reply" if turn.first_loud is not None else "before replying"
            raise ProbeError(
                FailureClass.TRUNCATED,
                f"the target hung up {started} in turn {turn.index + 1} (close code {code}, {reason})",
            )

    async def _wait_change(self, until: float) -> None:
        timeout = until - now()
        if timeout <= 0:
            return
        self.changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.changed.wait(), timeout)

    async def run_turn(self, turn: TurnRecord, plan: TurnPlan) -> None:
        rec = self.rec
        threshold = self.plan.silence_threshold_dbfs
        with self.tracer.start_as_current_span(
            "send",
            attributes={
                "voice.audio_seconds": plan.prompt.duration_s,
                "voice.prompt_frames": plan.prompt.n_frames,
            },
        ):
            first = self.speak(plan.prompt)
            turn.first_frame = first
            turn.rx_start = len(rec.rx_at)
            eos_frame = first + plan.prompt.last_speech_frame
            eos_future = self.frame_sent(eos_frame)
            turn.sent_first_at = await self._await_frame(self.frame_sent(first), turn)
            turn.eos_at = await self._await_frame(eos_future, turn)
        with self.tracer.start_as_current_span("await_reply") as span:
            await self._await_reply(turn, plan, threshold)
            span.set_attribute("voice.reply_frames", (turn.rx_end or 0) - turn.rx_start)

    async def _await_frame(self, fut: asyncio.Future[float], turn: TurnRecord) -> float:
        # The sender runs on the clock; only a broken socket can stop it.
        while not fut.done():
            self._raise_if_broken(turn)
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(fut), 0.1)
        return fut.result()

    async def _await_reply(self, turn: TurnRecord, plan: TurnPlan, threshold: float) -> None:
        rec = self.rec
        assert turn.eos_at is not None
        eos = turn.eos_at
        first_deadline = eos + self.plan.first_audio_timeout_s
        stall_s = max(plan.end_silence_s, 1.0)
        cursor = turn.rx_start
        quiet_after_loud = False
        while True:
            n = len(rec.rx_at)
            for i in range(cursor, n):
                if rec.rx_at[i] <= eos:
                    continue
                if turn.first_any is None:
                    turn.first_any = i
                if rec.rx_level[i] > threshold:
                    if turn.first_loud is None:
                        turn.first_loud = i
                    turn.last_loud = i
                    quiet_after_loud = False
                elif turn.last_loud is not None:
                    quiet_after_loud = True
            cursor = n
            t = now()
            if turn.first_loud is None:
                self._raise_if_broken(turn)
                if t >= first_deadline:
                    if turn.first_any is None:
                        raise ProbeError(
                            FailureClass.TIMEOUT,
                            f"no reply audio within {self.plan.first_audio_timeout_s:g} s of the "
                            f"end of speech in turn {turn.index + 1}",
                        )
                    raise ProbeError(
                        FailureClass.NO_AUDIO,
                        f"the reply in turn {turn.index + 1} stayed below "
                        f"{threshold:g} dBFS for {self.plan.first_audio_timeout_s:g} s",
                    )
                await self._wait_change(first_deadline)
                continue
            assert turn.last_loud is not None and turn.first_loud is not None
            last_loud_at = rec.rx_at[turn.last_loud]
            last_any_at = rec.rx_at[n - 1] if n else last_loud_at
            started_at = rec.rx_at[turn.first_loud]
            # A reply that trails off (quiet frames or a mark after the last loud one)
            # has ended; a stream that just stops after a loud frame is a stall.
            ended_cleanly = quiet_after_loud or bool(turn.marks)
            end_at = last_loud_at + plan.end_silence_s
            if ended_cleanly and t >= end_at:
                break
            if t >= started_at + plan.max_reply_s:
                break
            if not ended_cleanly and t >= last_any_at + stall_s:
                raise ProbeError(
                    FailureClass.TIMEOUT,
                    f"the reply in turn {turn.index + 1} stopped mid-way: nothing arrived for "
                    f"{stall_s:g} s after a frame with speech",
                )
            self._raise_if_broken(turn)
            wake = min(end_at if ended_cleanly else last_any_at + stall_s, started_at + plan.max_reply_s)
            await self._wait_change(wake)
        turn.rx_end = len(rec.rx_at)
        turn.ended_at = now()

    async def _await_ack(self, ws: ClientConnection) -> None:
        message = await asyncio.wait_for(ws.recv(), self.plan.connect_timeout_s)
        try:
            msg = self.wire.parse(message)
        except WireError as exc:
            raise ProbeError(FailureClass.PROTOCOL_ERROR, str(exc)) from None
        if msg.kind != self.wire.ack_event:
            raise ProbeError(
                FailureClass.PROTOCOL_ERROR,
                f"expected a {self.wire.ack_event!r} event after start, got {msg.kind!r}",
            )

    async def run(self) -> CallRecord:
        rec, plan = self.rec, self.plan
        rec.connect_started_at = now()
        try:
            self.ws = await connect(
                plan.url,
                open_timeout=plan.connect_timeout_s,
                close_timeout=1.0,
                compression=None,
                max_size=2**20,
                ping_interval=None,
            )
        except InvalidStatus as exc:
            raise ProbeError(
                FailureClass.CONNECT_ERROR,
                f"the target refused the call: HTTP {exc.response.status_code}",
            ) from None
        except InvalidURI as exc:
            raise ProbeError(FailureClass.CONNECT_ERROR, f"invalid target URL: {exc}") from None
        except TimeoutError:
            raise ProbeError(
                FailureClass.CONNECT_ERROR,
                f"no WebSocket handshake within {plan.connect_timeout_s:g} s",
            ) from None
        except (OSError, InvalidHandshake) as exc:
            raise ProbeError(FailureClass.CONNECT_ERROR, f"cannot connect: {exc}") from None
        ws = self.ws
        tasks: list[asyncio.Task[None]] = []
        try:
            try:
                for message in self.wire.opening(self.traceparent, plan.params):
                    await asyncio.wait_for(ws.send(message), plan.connect_timeout_s)
                if self.wire.ack_event is not None:
                    await self._await_ack(ws)
            except (ConnectionClosed, TimeoutError) as exc:
                raise ProbeError(
                    FailureClass.CONNECT_ERROR, f"the target did not start the call: {exc}"
                ) from None
            rec.connected_at = now()
            rec.t0 = aligned_start(now() + FRAME_S, plan.phase_s)
            rec.pacer = Pacer(rec.t0)
            tasks = [
                asyncio.create_task(self.sender()),
                asyncio.create_task(self.receiver()),
            ]
            for i, turn_plan in enumerate(plan.turns):
                turn = TurnRecord(index=i, prompt=turn_plan.prompt, first_frame=self.next_frame)
                rec.turns.append(turn)
                with self.tracer.start_as_current_span(
                    "turn", attributes={"voice.turn_index": i, "voice.prompt_id": turn_plan.prompt.key}
                ) as span:
                    turn.span_context = span.get_span_context()
                    try:
                        await self.run_turn(turn, turn_plan)
                    except ProbeError as exc:
                        turn.failure, turn.detail = exc.failure_class, str(exc)
                        span.set_status(trace.StatusCode.ERROR, exc.failure_class.value)
                        raise
                    if tasks[0].done():
                        tasks[0].result()  # a sender crash is a bug: surface it
                if turn_plan.pause_s and i + 1 < len(plan.turns):
                    await asyncio.sleep(turn_plan.pause_s)
            with contextlib.suppress(ConnectionClosed, TimeoutError):
                for message in self.wire.closing():
                    await asyncio.wait_for(ws.send(message), 1.0)
        except ConnectionClosed as exc:
            # The sender died on a closed socket: classify it like the receiver would.
            self.closed = self.closed or exc
            turn = rec.turns[-1] if rec.turns else TurnRecord(0, plan.turns[0].prompt, 0)
            self._raise_if_broken(turn)
            raise
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(BaseException):
                    await task
            try:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(ws.close(), 1.0)
            finally:
                # A close that timed out or was cancelled (the call's own deadline)
                # must not leave the socket to the garbage collector.
                transport = getattr(ws, "transport", None)
                if transport is not None and not transport.is_closing():
                    transport.abort()
        return rec


async def place_call(
    plan: CallPlan,
    wire: WireProtocol,
    *,
    traceparent: str | None = None,
    tracer: trace.Tracer | None = None,
    record: list[CallRecord] | None = None,
) -> CallRecord:
    """Place one call and return its record; a failure raises ProbeError with its class.

    The whole call runs under ``call_timeout_s``. ``record``, when given,
    receives the record even if the call fails, so a failed call's partial
    measurements (connect time, pacing) are kept with its failure.
    """
    call = _Call(plan, wire, traceparent, tracer or trace.get_tracer("voiceobs.probe"), None)
    if record is not None:
        record.append(call.rec)
    try:
        async with asyncio.timeout(plan.call_timeout_s):
            return await call.run()
    except TimeoutError:
        call.rec.failure = FailureClass.TIMEOUT
        raise ProbeError(
            FailureClass.TIMEOUT, f"the call did not finish within {plan.call_timeout_s:g} s"
        ) from None
    except ProbeError as exc:
        call.rec.failure, call.rec.detail = exc.failure_class, str(exc)
        raise


__all__ = ["CallPlan", "CallRecord", "TurnPlan", "TurnRecord", "place_call"]
