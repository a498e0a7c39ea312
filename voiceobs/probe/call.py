"""One probe call: connect, speak each turn on the absolute clock, listen, hang up.

Three parts share one call: the loop's ``FrameClock`` sends a frame every
20 ms for the whole call (prompt frames when a turn is speaking, silence
otherwise, as a real phone line does, which is also what lets a VAD-driven bot
hear the caller stop); every message from the target is stamped and checked
the moment the connection parses it; the conductor walks the turns and
decides, from the stamps, when a reply started and ended. Nothing is scored
here: the call only records, so nothing slow runs on the pacing path.

A turn is one of four kinds: the caller speaks a prompt; listens to a bot
that speaks first (a greeting, timed from the protocol start); interrupts
the reply before it (a barge-in, spoken a set time after the reply's first
speech, whose deadline is watched while it is still being spoken); or
presses keys (DTMF messages, sent by the conductor between the frames).

Frames go out and come in without a task wake-up each (the clock writes to
the socket from its timer, the connection hands each message to the call from
``data_received``), received audio is decoded in batches, and the conductor
looks at what arrived every ``LISTEN_POLL_S`` or at once for a mark, a clear
or a hang-up, not for every frame: at 200 calls per-frame wake-ups cost more
CPU than the frames themselves. Every wait is bounded by a deadline, and
every way a call can fail ends in a ``ProbeError`` with its failure class.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from opentelemetry import trace
from websockets.asyncio.client import connect
from websockets.exceptions import (
    ConnectionClosed,
    InvalidHandshake,
    InvalidState,
    InvalidStatus,
    InvalidURI,
)
from websockets.proxy import get_proxy
from websockets.uri import parse_uri

from voiceobs.errors import FailureClass, ProbeError
from voiceobs.probe.connection import CloseInfo, ProbeConnection
from voiceobs.probe.interruptions import interrupted_reply_end
from voiceobs.probe.pacing import FRAME_S, Pacer, aligned_start, frame_clock, now
from voiceobs.probe.prompts import Prompt, levels_dbfs
from voiceobs.probe.protocols import WireError, WireProtocol

#: Close codes that mean the target broke the protocol or failed inside
#: (as opposed to hanging up, which truncates the call).
_PROTOCOL_CLOSE_CODES = {1002, 1003, 1007, 1008, 1009, 1010, 1011, 1014}
#: How often the conductor looks at the frames that came in while it waits for a
#: reply. Frames are stamped on arrival, so this bounds only how soon a reply's
#: end is noticed (and the next turn starts), never a measured latency; waking
#: for every frame instead cost more CPU than the frames themselves at 200 calls.
LISTEN_POLL_S = 0.1
_INT16_FULL_SCALE = 32768.0
#: What a send raises on a socket that is closing: the close itself is the news.
_CLOSING_ERRORS = (InvalidState, ConnectionClosed)


#: What the caller does in a turn: speak a prompt, listen to a bot that speaks first,
#: interrupt the previous reply, or press keys.
TurnKind = Literal["prompt", "greeting", "barge_in", "dtmf"]


@dataclass(frozen=True)
class TurnPlan:
    """What the conductor needs to run one turn."""

    prompt: Prompt | None
    end_silence_s: float = 0.8
    max_reply_s: float = 15.0
    pause_s: float = 0.2
    kind: TurnKind = "prompt"
    #: The next turn (a ``barge_in``) starts this long after this reply's first speech arrived.
    interrupt_after_s: float | None = None
    #: On a ``barge_in`` turn: the interrupted reply must have stopped this long after it began.
    deadline_s: float = 2.0
    #: Keypad digits of a ``dtmf`` turn, and the time between two of them.
    dtmf: str = ""
    dtmf_gap_s: float = 0.2
    #: A silence inside the reply this long is not its end (the spec's dead-air limit).
    dead_air_limit_s: float | None = None


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
    prompt: Prompt | None
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
    #: Arrival time of every ``clear`` the turn received.
    clear_at: list[float] = field(default_factory=list)
    kind: TurnKind = "prompt"
    #: The caller interrupted this reply (it was not heard to its end).
    interrupted: bool = False
    #: A ``barge_in`` turn's deadline, and the send time of each DTMF digit.
    deadline_s: float = 2.0
    dtmf_at: list[float] = field(default_factory=list)
    #: The reply's end-of-reply silence (what links speech across a barge-in).
    end_silence_s: float = 0.8
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
    #: Media payloads as received; ``rx_audio`` and ``rx_level`` lag behind until decoded.
    rx_payload: list[bytes] = field(default_factory=list)
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


@functools.lru_cache(maxsize=64)
def _proxy_for(url: str) -> str | Literal[True] | None:
    """The proxy for ``url`` from the environment, looked up once per target.

    websockets looks it up on every connect by scanning the environment, about
    a millisecond of CPU per call that would land while other calls are pacing.
    """
    try:
        return get_proxy(parse_uri(url))
    except InvalidURI:
        return True  # let connect() report the bad URL itself


class _Call:
    def __init__(
        self,
        plan: CallPlan,
        wire: WireProtocol,
        traceparent: str | None,
        tracer: trace.Tracer,
    ) -> None:
        self.plan = plan
        self.wire = wire
        self.traceparent = traceparent
        self.tracer = tracer
        self.rec = CallRecord(wire.sample_rate, plan.silence_threshold_dbfs)
        self.ws: ProbeConnection | None = None
        self.changed = asyncio.Event()
        self.queue: Sequence[str | bytes] = ()  # frames of the prompt being spoken
        self.queue_pos = 0
        self.next_frame = 0
        self.frame_waiters: dict[int, asyncio.Future[float]] = {}
        self.closed: CloseInfo | None = None
        self.wire_error: str | None = None
        self.send_error: BaseException | None = None
        self.ack: asyncio.Future[None] | None = None
        #: While a barge-in turn speaks: when the interrupted reply must have stopped.
        self.barge_deadline: float | None = None
        self._silence = wire.silence()
        #: Where marks and clears go until the first turn exists (then they are its own).
        self.before_first_turn = TurnRecord(index=0, prompt=plan.turns[0].prompt, first_frame=0)
        #: The loop's frame clock (a call is made inside the loop that runs it).
        self.clock = frame_clock()

    # -- sending (called by the frame clock, inside the event loop) ------------------------

    def send_frame(self, k: int, at: float) -> bool:
        """The next 20 ms of the caller's line: a prompt frame, or silence."""
        if self.queue_pos < len(self.queue):
            payload = self.queue[self.queue_pos]
            self.queue_pos += 1
        else:
            payload = self._silence
        assert self.ws is not None
        self.ws.send_now(self.wire.media(payload, k * 20))
        assert self.rec.pacer is not None
        self.rec.pacer.record(k, at)
        self.next_frame = k + 1
        waiter = self.frame_waiters.pop(k, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(at)
        return True

    def stream_failed(self, exc: BaseException) -> None:
        """A frame could not be sent: a closing socket, or a bug that must surface."""
        self.send_error = exc
        self.changed.set()

    def speak(self, prompt: Prompt) -> int:
        """Queue a prompt; returns the call-wide index its first frame will have."""
        self.queue = prompt.wire
        self.queue_pos = 0
        return self.next_frame

    def frame_sent(self, frame: int) -> asyncio.Future[float]:
        fut: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        if self.rec.pacer is not None and frame < len(self.rec.pacer.actual):
            fut.set_result(self.rec.pacer.actual[frame])
        else:
            self.frame_waiters[frame] = fut
        return fut

    # -- receiving (called by the connection as each message is parsed) --------------------

    def on_message(self, data: bytes, text: bool, at: float) -> None:
        try:
            self._receive(data, text, at)
        except Exception as exc:  # never raise into the connection's data_received
            self.send_error = exc
            self.changed.set()

    def _receive(self, data: bytes, text: bool, at: float) -> None:
        if self.wire_error is not None:
            return
        try:
            msg = self.wire.parse(data.decode() if text else data)
        except (WireError, UnicodeDecodeError) as exc:
            detail = str(exc) if isinstance(exc, WireError) else "a text frame that is not UTF-8"
            self.wire_error = detail
            if self.ack is not None and not self.ack.done():
                self.ack.set_exception(ProbeError(FailureClass.PROTOCOL_ERROR, detail))
            self.changed.set()
            return
        if self.ack is not None and not self.ack.done():
            if msg.kind == self.wire.ack_event:
                self.ack.set_result(None)
            else:
                self.ack.set_exception(
                    ProbeError(
                        FailureClass.PROTOCOL_ERROR,
                        f"expected a {self.wire.ack_event!r} event after start, got {msg.kind!r}",
                    )
                )
            return
        rec = self.rec
        if msg.kind == "media" and msg.payload is not None:
            # Kept as it came; the conductor decodes frames in batches (decode_received).
            rec.rx_at.append(at)
            rec.rx_payload.append(msg.payload)
            return
        # Marks and clears before the first turn (a bot announcing its mode as the
        # call opens) belong to the first turn, as the caller hears them there.
        turn = rec.turns[-1] if rec.turns else self.before_first_turn
        if msg.kind == "mark":
            turn.marks.append(msg.name or "")
            reply = self.wire.mark(msg.name or "")
            if reply is not None and self.ws is not None:
                self.ws.send_now(reply)
        elif msg.kind == "clear":
            turn.cleared += 1
            turn.clear_at.append(at)
        self.changed.set()

    def on_close(self) -> None:
        """The target sent a close frame, or the connection is gone."""
        ws = self.ws
        assert ws is not None
        if self.closed is None:
            self.closed = ws.close_info()
        if self.ack is not None and not self.ack.done():
            self.ack.set_exception(
                ProbeError(
                    FailureClass.CONNECT_ERROR,
                    f"the target did not start the call: {self.closed.describe()}",
                )
            )
        self.changed.set()

    async def _watch_close(self) -> None:
        assert self.ws is not None
        await self.ws.wait_closed()  # a connection dropped without a close frame
        self.on_close()

    # -- conductor -------------------------------------------------------------------------

    def _raise_if_broken(self, turn: TurnRecord) -> None:
        if self.wire_error is not None:
            raise ProbeError(FailureClass.PROTOCOL_ERROR, self.wire_error)
        if self.closed is not None:
            closed, n = self.closed, turn.index + 1
            self.rec.close_code = closed.code
            # The probe refusing what the target sent is the target breaking the protocol.
            if closed.by == "probe" or closed.code in _PROTOCOL_CLOSE_CODES:
                raise ProbeError(FailureClass.PROTOCOL_ERROR, closed.describe(f"in turn {n}"))
            started = "mid-reply" if turn.first_loud is not None else "before replying"
            raise ProbeError(FailureClass.TRUNCATED, closed.describe(f"{started} in turn {n}"))
        # A send refused because the socket is closing is reported by the close
        # above once it completes; anything else is a probe bug and must surface.
        if self.send_error is not None and not isinstance(self.send_error, _CLOSING_ERRORS):
            raise self.send_error

    async def _wait_change(self, until: float) -> None:
        if until <= now():
            return
        self.changed.clear()
        # The loop's clock is the probe's (both time.monotonic), so deadlines carry over.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout_at(until):
                await self.changed.wait()

    @contextlib.contextmanager
    def _span(self, name: str, attributes: dict[str, Any] | None = None) -> Iterator[trace.Span]:
        """A span whose start and end (redaction, export hand-off) let due frames go first."""
        clock = self.clock
        try:
            with self.tracer.start_as_current_span(name, attributes=attributes) as span:
                clock.poll()
                yield span
        finally:
            clock.poll()

    async def run_turn(self, turn: TurnRecord, plan: TurnPlan) -> None:
        rec = self.rec
        threshold = self.plan.silence_threshold_dbfs
        turn.kind, turn.deadline_s, turn.end_silence_s = plan.kind, plan.deadline_s, plan.end_silence_s
        if plan.kind == "greeting":
            # The caller says nothing: the greeting is timed from the protocol start.
            assert rec.connected_at is not None
            turn.rx_start = 0
            turn.sent_first_at = turn.eos_at = rec.connected_at
            with self._span("await_reply") as span:
                await self._await_reply(turn, plan, threshold)
                span.set_attribute("voice.reply_frames", (turn.rx_end or 0) - turn.rx_start)
            return
        if plan.kind == "dtmf":
            with self._span("send", {"voice.dtmf_digits": len(plan.dtmf)}):
                turn.rx_start = len(rec.rx_at)
                await self._send_dtmf(turn, plan)
            with self._span("await_reply") as span:
                await self._await_reply(turn, plan, threshold)
                span.set_attribute("voice.reply_frames", (turn.rx_end or 0) - turn.rx_start)
            return
        assert plan.prompt is not None
        self.barge_deadline = None
        with self._span(
            "send",
            {
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
            if plan.kind == "barge_in":
                speech = await self._await_frame(self.frame_sent(first + plan.prompt.first_speech_frame), turn)
                self.barge_deadline = speech + plan.deadline_s
            turn.eos_at = await self._await_frame(eos_future, turn)
            self.barge_deadline = None
        with self._span("await_reply") as span:
            # When the caller stopped speaking, on the wall clock: what another process
            # (a bot's own trace, a test's ground truth) can line its times up with.
            span.set_attribute("voice.eos_unix_ns", time.time_ns() - int((now() - turn.eos_at) * 1e9))
            await self._await_reply(turn, plan, threshold)
            span.set_attribute("voice.reply_frames", (turn.rx_end or 0) - turn.rx_start)

    async def _send_dtmf(self, turn: TurnRecord, plan: TurnPlan) -> None:
        """Each digit as its own message, ``dtmf_gap_s`` apart; EoS is the last one's send time."""
        assert self.ws is not None
        for i, digit in enumerate(plan.dtmf):
            if i:
                await asyncio.sleep(plan.dtmf_gap_s)
            self._raise_if_broken(turn)
            message = self.wire.dtmf(digit)
            try:
                self.ws.send_now(message)
            except _CLOSING_ERRORS:
                self._raise_if_broken(turn)
                raise
            turn.dtmf_at.append(now())
        turn.sent_first_at, turn.eos_at = turn.dtmf_at[0], turn.dtmf_at[-1]

    async def _await_frame(self, fut: asyncio.Future[float], turn: TurnRecord) -> float:
        # The clock sends on schedule; only a broken socket can stop it.
        while not fut.done():
            self._raise_if_broken(turn)
            wait = 0.1
            deadline = self.barge_deadline
            if deadline is not None:
                # An interruption longer than its deadline: the bot must have stopped by then.
                # Nothing is decoded before the deadline, so interrupting costs the pacing
                # thread nothing until there is something to judge.
                left = deadline - now()
                if left <= 0:
                    self.decode_received()
                    self._check_barge_in(turn, deadline, len(self.rec.rx_level))
                else:
                    wait = min(wait, left)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await asyncio.shield(fut)
        return fut.result()

    def decode_received(self) -> None:
        """Decode the frames received since the last call, in one batch: samples and levels."""
        rec = self.rec
        start, stop = len(rec.rx_audio), len(rec.rx_payload)
        if start >= stop:
            return
        chunks = rec.rx_payload[start:stop]
        width = self.wire.sample_width  # payload sizes are whole samples (checked on arrival)
        audio = self.wire.decode(b"".join(chunks))
        size = len(chunks[0]) // width
        if size and all(len(c) == size * width for c in chunks):
            # The usual case, every frame the same length: one reshape, no per-frame numpy.
            frames = audio.reshape(len(chunks), size)
            rec.rx_audio.extend(frames)
            rec.rx_level.extend(levels_dbfs(frames, _INT16_FULL_SCALE).tolist())
            return
        for chunk in chunks:
            n = len(chunk) // width
            frame, audio = audio[:n], audio[n:]
            rec.rx_audio.append(frame)
            rec.rx_level.append(float(levels_dbfs(frame.reshape(1, n), _INT16_FULL_SCALE)[0]) if n else -120.0)

    async def _await_reply(self, turn: TurnRecord, plan: TurnPlan, threshold: float) -> None:
        rec = self.rec
        assert turn.eos_at is not None
        eos = turn.eos_at
        first_deadline = eos + self.plan.first_audio_timeout_s
        end_silence_s = plan.end_silence_s
        if plan.dead_air_limit_s is not None:
            # A silence up to the dead-air limit is dead air inside the reply, not its end.
            end_silence_s = max(end_silence_s, plan.dead_air_limit_s + 0.1)
        stall_s = max(end_silence_s, 1.0)
        cursor = turn.rx_start
        quiet_after_loud = False
        barge_deadline = None
        if plan.kind == "barge_in" and turn.sent_first_at is not None:
            assert turn.prompt is not None
            started = self.rec.sent_at(turn.first_frame + turn.prompt.first_speech_frame)
            barge_deadline = (started or turn.sent_first_at) + plan.deadline_s
        while True:
            self.decode_received()
            n = len(rec.rx_level)
            if barge_deadline is not None:
                self._check_barge_in(turn, barge_deadline, n)
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
            if plan.interrupt_after_s is not None and turn.first_loud is not None:
                interrupt_at = rec.rx_at[turn.first_loud] + plan.interrupt_after_s
                if t >= interrupt_at:
                    turn.interrupted = True
                    break
                self._raise_if_broken(turn)
                await self._wait_change(min(interrupt_at, t + LISTEN_POLL_S))
                continue
            if turn.first_loud is None:
                self._raise_if_broken(turn)
                if t >= first_deadline:
                    if turn.kind == "greeting":
                        raise ProbeError(
                            FailureClass.TIMEOUT,
                            f"no greeting within {self.plan.first_audio_timeout_s:g} s of the call's start "
                            "(the spec expects a bot that speaks first)",
                        )
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
                await self._wait_change(min(first_deadline, t + LISTEN_POLL_S))
                continue
            assert turn.last_loud is not None and turn.first_loud is not None
            last_loud_at = rec.rx_at[turn.last_loud]
            last_any_at = rec.rx_at[n - 1] if n else last_loud_at
            started_at = rec.rx_at[turn.first_loud]
            # A reply that trails off (quiet frames or a mark after the last loud one)
            # has ended; a stream that just stops after a loud frame is a stall.
            ended_cleanly = quiet_after_loud or bool(turn.marks)
            end_at = last_loud_at + end_silence_s
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
            if barge_deadline is not None and t < barge_deadline:
                wake = min(wake, barge_deadline)
            await self._wait_change(min(wake, t + LISTEN_POLL_S))
        turn.rx_end = n
        turn.ended_at = now()

    def _check_barge_in(self, turn: TurnRecord, deadline: float, n: int) -> None:
        """A reply still going at the barge-in deadline fails the turn there and then."""
        if now() < deadline:
            return
        assert turn.prompt is not None
        start = self.rec.sent_at(turn.first_frame + turn.prompt.first_speech_frame)
        if start is None:
            return
        # While the caller is still interrupting, everything the bot says is the reply going on.
        caller_eos = turn.eos_at if turn.eos_at is not None else math.inf
        last = interrupted_reply_end(
            self.rec.rx_at[:n], self.rec.rx_level[:n], self.plan.silence_threshold_dbfs,
            start=start, caller_eos=caller_eos, link_s=turn.end_silence_s,
        )  # fmt: skip
        if last is not None and self.rec.rx_at[last] > deadline:
            raise ProbeError(
                FailureClass.BARGE_IN_IGNORED,
                f"the bot still spoke {turn.deadline_s * 1000:g} ms after the caller interrupted it "
                f"in turn {turn.index + 1}",
            )

    async def _await_ack(self) -> None:
        assert self.ack is not None
        try:
            await asyncio.wait_for(asyncio.shield(self.ack), self.plan.connect_timeout_s)
        except TimeoutError:
            raise TimeoutError(
                f"no {self.wire.ack_event!r} event within {self.plan.connect_timeout_s:g} s"
            ) from None

    async def run(self) -> CallRecord:
        rec, plan = self.rec, self.plan
        rec.connect_started_at = now()
        try:
            ws = await connect(
                plan.url,
                open_timeout=plan.connect_timeout_s,
                close_timeout=1.0,
                compression=None,
                max_size=2**20,
                ping_interval=None,
                proxy=_proxy_for(plan.url),
                create_connection=ProbeConnection,
            )
            assert isinstance(ws, ProbeConnection)
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
        self.ws = ws
        if self.wire.ack_event is not None:
            self.ack = asyncio.get_running_loop().create_future()
        # From here on every message is stamped as it arrives, greetings included.
        clock = self.clock
        clock.poll()
        ws.set_handlers(self.on_message, self.on_close, clock)
        watcher = asyncio.create_task(self._watch_close())
        stream = None
        try:
            try:
                for message in self.wire.opening(self.traceparent, plan.params):
                    await asyncio.wait_for(ws.send(message), plan.connect_timeout_s)
                if self.ack is not None:
                    await self._await_ack()
            except (ConnectionClosed, TimeoutError) as exc:
                why = ws.close_info().describe() if isinstance(exc, ConnectionClosed) else str(exc)
                raise ProbeError(
                    FailureClass.CONNECT_ERROR, f"the target did not start the call: {why}"
                ) from None
            rec.connected_at = now()
            rec.t0 = aligned_start(now() + FRAME_S, plan.phase_s)
            rec.pacer = Pacer(rec.t0)
            stream = clock.start(rec.pacer, self)
            for i, turn_plan in enumerate(plan.turns):
                turn = TurnRecord(index=i, prompt=turn_plan.prompt, first_frame=self.next_frame)
                if i == 0:
                    early = self.before_first_turn
                    turn.marks, turn.cleared, turn.clear_at = early.marks, early.cleared, early.clear_at
                rec.turns.append(turn)
                prompt_id = turn_plan.prompt.key if turn_plan.prompt is not None else turn_plan.kind
                with self._span(
                    "turn", {"voice.turn_index": i, "voice.prompt_id": prompt_id, "voice.turn_kind": turn_plan.kind}
                ) as span:
                    turn.span_context = span.get_span_context()
                    try:
                        await self.run_turn(turn, turn_plan)
                    except ProbeError as exc:
                        turn.failure, turn.detail = exc.failure_class, str(exc)
                        span.set_status(trace.StatusCode.ERROR, exc.failure_class.value)
                        raise
                # An interruption comes at once; a greeting is answered as the caller would.
                interrupting = turn_plan.interrupt_after_s is not None
                if turn_plan.pause_s and i + 1 < len(plan.turns) and not interrupting:
                    await asyncio.sleep(turn_plan.pause_s)
            clock.stop(stream)
            with contextlib.suppress(ConnectionClosed, TimeoutError):
                for message in self.wire.closing():
                    await asyncio.wait_for(ws.send(message), 1.0)
        finally:
            if stream is not None:
                clock.stop(stream)
            ws.set_handlers(None)
            self.decode_received()
            watcher.cancel()
            with contextlib.suppress(BaseException):
                await watcher
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
    call = _Call(plan, wire, traceparent, tracer or trace.get_tracer("voiceobs.probe"))
    # Starting a call is a millisecond of work; frames of calls already running
    # that fall due meanwhile go first.
    call.clock.poll()
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


__all__ = ["CallPlan", "CallRecord", "TurnKind", "TurnPlan", "TurnRecord", "place_call"]
