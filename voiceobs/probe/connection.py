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
* every data message goes to ``on_message`` from ``data_received`` as it is
  parsed, stamped with the time its bytes were read, instead of waiting in a
  queue for a reader (which also stamped it late);
* ``on_close`` hears of the target's close frame at once (the TCP connection
  may outlive it by a close timeout), and ``clock.poll()`` runs after each
  message so frames due during a burst of replies go out on time.

The handshake, control frames (ping, pong, close) and the closing handshake
stay with websockets.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from typing import Protocol

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import InvalidState
from websockets.frames import Frame, Opcode
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


class Pollable(Protocol):
    """Something to give a turn between messages (the frame clock)."""

    def poll(self) -> None:
        """Do whatever is due now."""


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

    # -- receiving -------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
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


__all__ = ["MessageHandler", "Pollable", "ProbeConnection"]
