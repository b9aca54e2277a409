"""Runs a sans-IO :class:`SyncSession` over a byte stream, on trio.

The loop is thin: write what the session has to send, hand received records
to ``ingest``, read (bounded by ``trio.fail_after``), feed the session, until
the session is done or failed. Every exception (a timeout, a broken stream, a
failing ingest) becomes a failed :class:`SyncResult`; nothing escapes to the
caller except trio's cancellation.

Any object with ``async read(max_bytes) -> bytes`` (``b""`` at end of stream),
``async write(data)`` and ``async close()`` will do: the node's libp2p stream
channel, or :class:`TrioStream` around a trio stream (memory streams in tests).
"""

from __future__ import annotations

import inspect
import logging
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Protocol

import trio

from meshpantry.core.sync import Done, Failed, Progress, RecordsReceived, SyncSession, SyncStats

log = logging.getLogger(__name__)

#: Bytes asked of the stream per read: one yamux window's worth of frames.
READ_BYTES = 256 * 1024

#: Writes go out in pieces of at most this size. Large writes are what make
#: yamux fast (64 KiB or more); 256 KiB is one record batch.
WRITE_BYTES = 256 * 1024

#: Default bound on any single read or write, and on the quiet period of a peer.
DEFAULT_TIMEOUT_S = 20.0

#: Bound on sending our ABORT and closing after a failure: best effort only.
_GOODBYE_S = 2.0


class ByteStream(Protocol):
    async def read(self, max_bytes: int) -> bytes: ...

    async def write(self, data: bytes) -> None: ...

    async def close(self) -> None: ...


class TrioStream:
    """A trio ``Stream`` seen as a :class:`ByteStream`."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self._stream = stream

    async def read(self, max_bytes: int) -> bytes:
        return await self._stream.receive_some(max_bytes)

    async def write(self, data: bytes) -> None:
        await self._stream.send_all(data)

    async def close(self) -> None:
        await self._stream.aclose()


Ingest = Callable[[list[bytes]], Awaitable[Any] | Any]
OnProgress = Callable[[Progress], None]


@dataclass(frozen=True, slots=True)
class SyncResult:
    """How a session ended. ``error`` is None exactly when ``ok``."""

    ok: bool
    stats: SyncStats
    error: BaseException | None = None


def _now_ms() -> int:
    return int(trio.current_time() * 1000)


async def run_sync(
    stream: ByteStream,
    session: SyncSession,
    ingest: Ingest,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    on_progress: OnProgress | None = None,
) -> SyncResult:
    """Run ``session`` over ``stream`` until it ends; close the stream.

    ``ingest(raws)`` receives each batch of records (it may be async); an
    exception from it fails the session. ``timeout_s`` bounds every read and
    write. Returns a :class:`SyncResult`; never raises except trio.Cancelled.
    """
    result: SyncResult | None = None
    try:
        while result is None:
            # Ingest before flushing: an ACK the peer sees means "ingested".
            result = await _deliver(session, ingest, on_progress)
            await _flush(stream, session, timeout_s)
            if result is None:  # building output can end the session too
                result = await _deliver(session, ingest, on_progress)
            if result is not None:
                break
            try:
                with trio.fail_after(timeout_s):
                    data = await stream.read(READ_BYTES)
            except trio.TooSlowError:
                session.give_up(_now_ms())
                result = await _deliver(session, ingest, on_progress)
                break
            if not data:
                session.connection_lost(_now_ms())
            else:
                session.receive_data(data, _now_ms())
    except trio.Cancelled:
        raise
    except Exception as error:  # a broken stream or a failing ingest ends this session only
        log.debug("sync session ended by %r", error)
        session.abandon(error)
        result = SyncResult(False, session.stats, error)
    if result is None:  # give_up always fails an open session; belt and braces
        result = SyncResult(False, session.stats, RuntimeError("session ended without an outcome"))
    if not result.ok:
        with trio.move_on_after(_GOODBYE_S):
            try:
                await _flush(stream, session, _GOODBYE_S)
            except Exception:  # the peer may be gone; the ABORT is a courtesy
                pass
    with trio.move_on_after(_GOODBYE_S) as scope:
        scope.shield = True
        try:
            await stream.close()
        except Exception:  # closing a broken stream may fail; nothing left to do
            pass
    return result


async def _flush(stream: ByteStream, session: SyncSession, timeout_s: float) -> None:
    while True:
        data = session.data_to_send()
        if not data:
            return
        view = memoryview(data)
        for start in range(0, len(view), WRITE_BYTES):
            with trio.fail_after(timeout_s):
                await stream.write(bytes(view[start : start + WRITE_BYTES]))


async def _deliver(session: SyncSession, ingest: Ingest, on_progress: OnProgress | None) -> SyncResult | None:
    for event in session.events():
        if isinstance(event, RecordsReceived):
            outcome = ingest(event.raws)
            if inspect.isawaitable(outcome):
                await outcome
        elif isinstance(event, Progress):
            if on_progress is not None:
                on_progress(event)
        elif isinstance(event, Done):
            return SyncResult(True, event.stats)
        elif isinstance(event, Failed):
            return SyncResult(False, event.stats, event.error)
    return None
