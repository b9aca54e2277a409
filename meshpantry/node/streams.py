"""libp2p streams made safe and plain.

Two traps of py-libp2p 0.8.1 shape this module (``meshpantry/node/LIBP2P.md``,
"Streams"):

* an exception escaping a stream handler (even ``StreamEOF``) can take the
  whole host down, so every handler is wrapped by :func:`safe_handler`, which
  swallows and counts every error and resets the stream;
* streams have no read deadline, so :class:`StreamChannel` bounds every read
  and write in time as well as in size.

:class:`StreamChannel` gives a libp2p stream the small interface the sync
driver and peer exchange speak: ``await read(max_bytes) -> bytes`` (``b""`` at
end of stream), ``await write(data)``, ``await close()``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Awaitable, Callable

import trio
from libp2p.abc import INetStream
from libp2p.network.stream.exceptions import StreamClosed, StreamEOF, StreamError, StreamReset

log = logging.getLogger(__name__)

#: Longest wait for bytes from a peer in one read. A member that is syncing
#: answers within milliseconds; ten seconds absorbs a loaded Raspberry Pi
#: while cutting off a peer that went silent mid-session.
READ_TIMEOUT_S = 10.0

#: Longest wait for one write to be accepted (yamux window full because the
#: peer does not read).
WRITE_TIMEOUT_S = 10.0

#: Largest read asked of the stream at once. yamux delivers frames of up to
#: 256 KiB; larger requests gain nothing and would let one read hold more.
MAX_READ_BYTES = 256 * 1024

#: Writes are split in chunks of this size: yamux moves 64 KiB+ chunks at
#: 70-100 MiB/s on loopback against ~15 MiB/s for 16 KiB chunks.
WRITE_CHUNK_BYTES = 64 * 1024

#: Seconds allowed to reset a stream we are abandoning.
RESET_TIMEOUT_S = 2.0


class StreamTimeout(Exception):
    """A read or write on a peer's stream exceeded its time bound."""

    def __init__(self, operation: str, seconds: float) -> None:
        super().__init__(f"stream {operation} took longer than {seconds} s")
        self.operation, self.seconds = operation, seconds


class StreamBroken(Exception):
    """The peer reset the stream or the connection died."""

    def __init__(self, operation: str, cause: str) -> None:
        super().__init__(f"stream {operation} failed: {cause}")
        self.operation, self.cause = operation, cause


@dataclass
class HandlerStats:
    """Counts kept by :func:`safe_handler` for the status page."""

    served: int = 0  #: handler calls that returned normally
    failed: int = 0  #: handler calls that raised (and were contained)


class StreamChannel:
    """A libp2p stream as ``read``/``write``/``close`` with time and size bounds.

    ``read(max_bytes)`` returns between 1 and ``max_bytes`` bytes, or ``b""``
    once the peer closed its side. ``read`` and ``write`` raise
    :class:`StreamTimeout` or :class:`StreamBroken`; ``close`` never raises.
    """

    def __init__(
        self,
        stream: INetStream,
        read_timeout_s: float = READ_TIMEOUT_S,
        write_timeout_s: float = WRITE_TIMEOUT_S,
    ) -> None:
        self.stream = stream
        self.read_timeout_s = read_timeout_s
        self.write_timeout_s = write_timeout_s
        self._eof = False
        self._pending = b""  # bytes read beyond what a caller asked for...
        self._taken = 0  # ...of which this many were handed out already

    @property
    def peer_id(self):  # -> libp2p ID
        return self.stream.muxed_conn.peer_id

    async def read(self, max_bytes: int) -> bytes:
        assert max_bytes > 0
        if self._taken < len(self._pending):
            start = self._taken
            self._taken = min(len(self._pending), start + max_bytes)
            return self._pending[start : self._taken]
        if self._eof:
            return b""
        # Read ahead whatever the stream holds, keeping the rest for the next
        # call: a frame then costs one trip through the muxer's buffers and
        # locks, not one for its 4-byte length and another for its body.
        want = MAX_READ_BYTES
        try:
            with trio.fail_after(self.read_timeout_s):
                data = await self.stream.read(want)
        except trio.TooSlowError:
            raise StreamTimeout("read", self.read_timeout_s) from None
        except (StreamEOF, StreamClosed):
            self._eof = True
            return b""
        except (StreamReset, StreamError, OSError) as error:
            raise StreamBroken("read", f"{type(error).__name__}: {error}") from None
        if not data:
            self._eof = True
            return b""
        if len(data) > max_bytes:
            self._pending, self._taken = data, max_bytes
            return data[:max_bytes]
        return data

    async def read_exactly(self, count: int) -> bytes:
        """``count`` bytes, or raise :class:`StreamBroken` if the stream ends first."""
        parts: list[bytes] = []
        remaining = count
        while remaining:
            chunk = await self.read(remaining)
            if not chunk:
                raise StreamBroken("read", f"end of stream {remaining} bytes short")
            parts.append(chunk)
            remaining -= len(chunk)
        return b"".join(parts)

    async def write(self, data: bytes) -> None:
        view = memoryview(data)
        try:
            with trio.fail_after(self.write_timeout_s):
                for start in range(0, len(view), WRITE_CHUNK_BYTES):
                    await self.stream.write(bytes(view[start : start + WRITE_CHUNK_BYTES]))
        except trio.TooSlowError:
            raise StreamTimeout("write", self.write_timeout_s) from None
        except (StreamError, OSError) as error:
            raise StreamBroken("write", f"{type(error).__name__}: {error}") from None

    async def close(self) -> None:
        await close_quietly(self.stream)

    async def reset(self) -> None:
        await reset_quietly(self.stream)


async def close_quietly(stream: INetStream) -> None:
    """Close ``stream``; a stream that is already gone is not an error."""
    with trio.move_on_after(RESET_TIMEOUT_S):
        try:
            await stream.close()
        except Exception as error:  # nothing useful to do with a failed close
            log.debug("close failed: %r", error)


async def reset_quietly(stream: INetStream) -> None:
    """Reset ``stream`` without raising."""
    with trio.move_on_after(RESET_TIMEOUT_S):
        try:
            await stream.reset()
        except Exception as error:
            log.debug("reset failed: %r", error)


StreamHandler = Callable[[INetStream], Awaitable[None]]


def safe_handler(
    handler: StreamHandler, name: str = "", stats: HandlerStats | None = None
) -> StreamHandler:
    """Wrap a stream handler so that no exception escapes it.

    On any exception (``StreamEOF``, timeouts, a peer's bad bytes, a bug) the
    error is logged, counted in ``stats`` and the stream is reset. Trio's
    cancellation passes through untouched so the host can still shut down.
    When the handler returns normally the stream is closed.
    """
    label = name or getattr(handler, "__name__", "handler")
    counts = stats if stats is not None else HandlerStats()

    async def guarded(stream: INetStream) -> None:
        try:
            await handler(stream)
        except trio.Cancelled:
            await reset_quietly_shielded(stream)
            raise
        except Exception as error:  # containment is the point of this wrapper
            counts.failed += 1
            log.info("%s: stream handler failed: %s: %s", label, type(error).__name__, error)
            await reset_quietly(stream)
            return
        counts.served += 1
        await close_quietly(stream)

    guarded.__name__ = f"safe_{label}"
    guarded.stats = counts  # type: ignore[attr-defined]
    return guarded


async def reset_quietly_shielded(stream: INetStream) -> None:
    """Reset ``stream`` even while the surrounding scope is being cancelled."""
    with trio.CancelScope(shield=True):
        await reset_quietly(stream)


class HeardChannel:
    """A session's channel whose every read that brings bytes tells the
    liveness check the peer talks (``heard()``). A peer busy with a large
    sync may answer a ping late: its pings queue behind the records on the
    same connection. Without this a heal on a loaded machine closed healthy
    connections mid-session as silent, failing the session and starting the
    redial, the handshakes and the sessions over."""

    def __init__(self, channel: StreamChannel, heard: Callable[[], None]) -> None:
        self.channel, self.heard = channel, heard

    async def read(self, max_bytes: int) -> bytes:
        data = await self.channel.read(max_bytes)
        if data:
            self.heard()
        return data

    async def write(self, data: bytes) -> None:
        await self.channel.write(data)

    async def close(self) -> None:
        await self.channel.close()
