"""The probe's WebSocket connection: websockets for the handshake and close, a direct data path.

A paced call sends a frame every 20 ms and, against a full-duplex bot,
receives one as often; at 200 calls that is 20,000 messages a second on one
core. websockets' general-purpose paths (an awaited ``send`` and a queued
``recv``, a task wake-up each) cost more than the frames themselves, so during
a call:

* frames go out through :meth:`ProbeConnection.send_now`, which frames and
  masks the message itself (RFC 6455, masks drawn from the OS random source in
  blocks) and hands it to the transport synchronously: the frame clock can
  send from its timer without awaiting anything;
* every data message goes to ``on_message`` as it is parsed, stamped with
  the time its bytes were read, instead of waiting in a queue for a reader
  (which also stamped it late); unfragmented data frames, which is what voice
  bots send, are parsed here, and websockets' parser takes over for good at
  the first fragment, extension bit or anything else unusual;
* ``on_close`` hears of the target's close frame at once (the TCP connection
  may outlive it by a close timeout), and ``clock.poll()`` runs after each
  message (and between slices of a large read on websockets' parser) so
  frames due during a burst of replies go out on time.

The handshake, control frames (ping, pong, close) and the closing handshake
stay with websockets.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import InvalidState, PayloadTooBig
from websockets.frames import CLOSE_CODE_EXPLANATIONS, Frame, Opcode
from websockets.protocol import Event, State

from voiceobs.probe.pacing import now

try:
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - websockets built without its C extension
    from websockets.utils import apply_mask

#: Invoked with (payload, is_text, arrival time) for every complete data message.
MessageHandler = Callable[[bytes, bool, float], None]

_MASK_BLOCK = 4096  # 1024 masks per read of the OS random source
_PARSE_SLICE = 4096  # about ten Twilio media messages
_DIRECT_OPCODES = (1, 2, 8, 9, 10)  # text, binary, close, ping, pong
#: The largest message accepted (as ``max_size`` on connect): a voice frame is a few hundred bytes.
_MAX_MESSAGE = 2**20


class Pollable(Protocol):
    """Something to give a turn between messages (the frame clock)."""

    def poll(self) -> None:
        """Do whatever is due now."""


def _size(n: int) -> str:
    # Stored details are redacted, and a run of seven digits reads as an identifier there.
    return f"{n} bytes" if n < 1_000_000 else f"{n / 1024:.1f} KiB"


@dataclass(frozen=True)
class CloseInfo:
    """Who ended a connection, with which code and why: what a failure detail must say.

    A close code alone misleads: 1009 sent by the probe (it refused a frame)
    and 1009 sent by the target are different faults, and a close frame with
    an empty reason is still a close frame; 1006 means only that none came.
    """

    #: ``probe`` sent the first close frame, ``target`` did, or ``nobody`` (the TCP connection dropped).
    by: Literal["probe", "target", "nobody"]
    code: int
    reason: str = ""

    def describe(self, where: str = "") -> str:
        """One clause for a failure detail; ``where`` (e.g. ``in turn 2``) follows the verb."""
        at = f" {where}" if where else ""
        meaning = CLOSE_CODE_EXPLANATIONS.get(self.code, "unknown")
        if self.by == "nobody":
            return f"the connection dropped{at} with no close frame ({self.code})"
        if self.by == "probe":
            return f"the probe closed the call{at}: {self.reason or meaning} ({self.code})"
        why = f": {self.reason}" if self.reason else ", no reason given"
        return f"the target closed the call{at} with {self.code} ({meaning}){why}"


class ProbeConnection(ClientConnection):
    """A client connection with a synchronous send and per-message delivery (see module doc)."""

    on_message: MessageHandler | None = None
    on_close: Callable[[], None] | None = None
    clock: Pollable | None = None

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._fragments: list[bytes] | None = None
        self._fragments_text = False
        # Data messages that arrive before a handler is set (in the same read as
        # the handshake response, or while the call sends its start message) are
        # kept here, stamped, and handed over when it is.
        self._early: list[tuple[bytes, bool, float]] = []
        self._masks = b""
        self._mask_pos = 0
        self._direct = self._no_direct = False
        self._rx = b""

    def set_handlers(
        self,
        on_message: MessageHandler | None,
        on_close: Callable[[], None] | None = None,
        clock: Pollable | None = None,
    ) -> None:
        """Route messages to ``on_message`` from now on (None: stop delivering)."""
        self.on_message, self.on_close, self.clock = on_message, on_close, clock
        if on_message is not None:
            early, self._early = self._early, []
            for data, text, at in early:
                on_message(data, text, at)

    def close_info(self) -> CloseInfo:
        """How the connection ended (or is ending), from the closing handshake's frames."""
        p = self.protocol
        sent, rcvd = p.close_sent, p.close_rcvd
        if sent is not None and (rcvd is None or not p.close_rcvd_then_sent):
            # The probe closed first: websockets failed the connection on something it refused.
            reason = sent.reason
            exc = p.parser_exc
            if isinstance(exc, PayloadTooBig) and exc.size is not None and not exc.current_size:
                reason = f"frame of {_size(exc.size)} exceeds the limit of {_size(exc.max_size)}"
            return CloseInfo("probe", sent.code, reason)
        if rcvd is not None:
            return CloseInfo("target", rcvd.code, rcvd.reason)
        return CloseInfo("nobody", 1006)

    # -- receiving -------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._direct or self._can_go_direct():
            self._parse_direct(data)
            return
        # websockets parses a whole read before handing over the first message,
        # and a lagging bot's backlog can fill a 256 KiB read: milliseconds of
        # parsing in which no frame could be sent. Feeding it in slices lets
        # the clock run between them.
        clock = self.clock
        if clock is None or len(data) <= _PARSE_SLICE:
            super().data_received(data)
            return
        for i in range(0, len(data), _PARSE_SLICE):
            super().data_received(data[i : i + _PARSE_SLICE])
            clock.poll()

    def _can_go_direct(self) -> bool:
        # Only at a frame boundary: nothing half-parsed left in websockets' reader.
        if self.on_message is None or self._no_direct or self.protocol.state is not State.OPEN:
            return False
        buffered: bytes | bytearray = getattr(getattr(self.protocol, "reader", None), "buffer", b"?")
        if buffered:  # mid-frame, or a websockets without that reader: stay on its parser
            return False
        self._direct = True
        return True

    def _parse_direct(self, data: bytes) -> None:
        """Unfragmented data frames parsed here; anything else is handed to websockets.

        websockets' general parser (a generator per frame, an enum lookup, a
        read per header field) cost about as much as the rest of a received
        message together. A server's frames are unmasked and, from voice bots,
        unfragmented; control frames still go to websockets, whole, so pings
        are answered and the closing handshake is its own.
        """
        buf = self._rx + data if self._rx else data
        end, pos = len(buf), 0
        handler, clock = self.on_message, self.clock
        while end - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            n, head = b1 & 0x7F, 2
            if n == 126:
                if end - pos < 4:
                    break
                n, head = int.from_bytes(buf[pos + 2 : pos + 4], "big"), 4
            elif n == 127:
                if end - pos < 10:
                    break
                n, head = int.from_bytes(buf[pos + 2 : pos + 10], "big"), 10
            op = b0 & 0x0F
            if b1 & 0x80 or b0 & 0x70 or not b0 & 0x80 or op not in _DIRECT_OPCODES or n > _MAX_MESSAGE:
                # Masked, extension bits, a fragment, an unknown opcode, too big:
                # websockets decides (and fails the connection where it must).
                self._give_back(buf[pos:])
                return
            stop = pos + head + n
            if stop > end:
                break
            if op >= 8:  # ping, pong, close: whole frames, at a frame boundary
                super().data_received(buf[pos:stop])  # a close reaches on_close there
                if op == 8:
                    self._give_back(buf[stop:])
                    return
            elif handler is not None:
                handler(buf[pos + head : stop], op == 1, now())
            pos = stop
            if clock is not None:
                clock.poll()
        self._rx = buf[pos:]

    def _give_back(self, rest: bytes) -> None:
        """From here on websockets parses everything (it starts at a frame boundary)."""
        self._direct, self._no_direct, self._rx = False, True, b""
        if rest:
            super().data_received(rest)

    def process_event(self, event: Event) -> None:
        if not isinstance(event, Frame):
            super().process_event(event)
            return
        op = event.opcode
        if op is Opcode.TEXT or op is Opcode.BINARY:
            if event.fin:
                self._deliver(bytes(event.data), op is Opcode.TEXT)
            else:
                self._fragments, self._fragments_text = [bytes(event.data)], op is Opcode.TEXT
        elif op is Opcode.CONT and self._fragments is not None:
            self._fragments.append(bytes(event.data))
            if event.fin:
                data, self._fragments = b"".join(self._fragments), None
                self._deliver(data, self._fragments_text)
        else:
            super().process_event(event)
            if op is Opcode.CLOSE and self.on_close is not None:
                self.on_close()

    def _deliver(self, data: bytes, text: bool) -> None:
        handler = self.on_message
        if handler is None:
            self._early.append((data, text, now()))
            return
        handler(data, text, now())
        if self.clock is not None:
            self.clock.poll()

    # -- sending ---------------------------------------------------------------------------

    def _mask(self) -> bytes:
        pos = self._mask_pos
        if pos + 4 > len(self._masks):
            self._masks, pos = os.urandom(_MASK_BLOCK), 0
        self._mask_pos = pos + 4
        return self._masks[pos : pos + 4]

    def send_now(self, message: str | bytes) -> None:
        """Send one unfragmented message without waiting (text for str, binary for bytes).

        Raises InvalidState when the connection is no longer open. There is no
        back-pressure: a bot that stops reading fills the kernel's buffer and
        then asyncio's, which at 50 small frames a second the call's own
        deadline bounds; a paced frame must never wait for a drain.
        """
        if self.protocol.state is not State.OPEN:
            raise InvalidState(f"connection is {self.protocol.state.name.lower()}")
        if isinstance(message, str):
            payload, first = message.encode(), 0x81  # FIN + text
        else:
            payload, first = message, 0x82  # FIN + binary
        n = len(payload)
        if n < 126:
            header = struct.pack("!BB", first, 0x80 | n)
        elif n < 65536:
            header = struct.pack("!BBH", first, 0xFE, n)
        else:
            header = struct.pack("!BBQ", first, 0xFF, n)
        mask = self._mask()
        if not self.transport.is_closing():
            self.transport.write(header + mask + apply_mask(payload, mask))


__all__ = ["CloseInfo", "MessageHandler", "Pollable", "ProbeConnection"]
