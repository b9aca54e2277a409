"""Runs a sans-IO :class:`SyncSession` over a byte stream, on trio.

The loop is thin, and has one clock: trio's (``trio.current_time()`` in ms,
the monotonic clock the session was created with). It writes what the
session has to send, hands received records to ``ingest``, reads, and feeds
the session, until the session is done or failed. Every wait (a read, a write
the peer does not take) lasts at most until the session's next deadline
(:meth:`SyncSession.get_timer`); when that passes the loop fires it
(:meth:`SyncSession.handle_timer`) and the session decides what expired (see
:mod:`meshpantry.core.sync.deadlines`). Nothing else bounds the session.

The stream is read by a task of its own, ahead of the session, into a
buffer of at most :data:`READ_AHEAD_BYTES`; each time the loop comes back
from ``ingest`` it takes everything read meanwhile. The peer's window of
records keeps arriving while the host ingests (a muxer stream that is not
read stops its sender after one muxer window, about 256 KiB), and the next
``ingest`` gets them all in one call, which a host that checks records on
several cores needs to keep them busy. Acknowledgements go out only after
``ingest`` returned, so a slow host holds the sender, and the buffer bounds
what a peer can make this side hold.

``ingest`` returns once the host has *taken the records in*: a host may
store them later, behind the session (checking the next batch while it
stores this one), as long as it bounds what it holds and ``settle()``
returns only once everything taken in is stored. The session is reported
done only after ``settle()``; an exception from it fails the session as our
own fault (the peer, already done, is not told).

Whose fault: the stream breaking or ending is a lost connection (nothing is
sent to the peer); an ``ingest`` that raises is our own failure (the peer is
told ABORT internal). Nothing escapes to the caller except trio's
cancellation.

A session the caller cancels (an initiator that gives way to another
session) may be withdrawn: :func:`withdraw` tells the peer with ABORT 8,
but only when the loop was not cancelled in the middle of a write
(:class:`Writing`). Cancelled there, a frame may be half written, and an
ABORT after it would read to the peer as a malformed frame (cause to cut
this node off): the stream is only closed.

Any object with ``async read(max_bytes) -> bytes`` (``b""`` at end of stream),
``async write(data)`` and ``async close()`` will do: the node's libp2p stream
channel (with its own time bounds lifted), or :class:`TrioStream` around a
trio stream (memory streams in tests).
"""

from __future__ import annotations

import inspect
import logging
from collections import deque
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Protocol

import trio

from meshpantry.core.sync import Done, Failed, Progress, RecordsReceived, Stalled, SyncSession, SyncStats
from meshpantry.core.sync.deadlines import PEER_SILENCE_MS

log = logging.getLogger(__name__)

#: Bytes asked of the stream per read: one yamux window's worth of frames.
READ_BYTES = 256 * 1024

#: Bytes read ahead of the session at most: a window of record batches (32 x
#: 256 KiB, the sender's largest) and a reconcile message (512 KiB). The
#: reader waits while the buffer holds this much; an honest peer never
#: sends more without an acknowledgement.
READ_AHEAD_BYTES = 9 * 1024 * 1024

#: Writes go out in pieces of at most this size. Large writes are what make
#: yamux fast (64 KiB or more); 256 KiB is one record batch.
WRITE_BYTES = 256 * 1024

#: Bound on sending our ABORT and closing after a failure. Not a session
#: deadline (the session is over): the ABORT is a courtesy to a peer that
#: may be gone, and must not hold the caller.
GOODBYE_MS = 2_000


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
Settle = Callable[[], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class SyncResult:
    """How a session ended. ``error`` is None exactly when ``ok``."""

    ok: bool
    stats: SyncStats
    error: BaseException | None = None


@dataclass(slots=True)
class Writing:
    """Whether a write of a session's output is under way: a loop cancelled
    then may have left a frame half written. Anywhere else, what it wrote
    ends with a whole frame."""

    mid_frame: bool = False


def now_ms() -> int:
    """The sync clock: trio's monotonic clock in ms. Sessions run by
    :func:`run_sync` must be created with ``now=now_ms()``."""
    return int(trio.current_time() * 1000)


class _StreamFailed(Exception):
    """The stream broke under a read or write (wraps the cause)."""


class _Inbox:
    """The stream read ahead of the session by :meth:`pump` (a task of its
    own), at most :data:`READ_AHEAD_BYTES` held."""

    def __init__(self, stream: ByteStream, limit: int = READ_AHEAD_BYTES) -> None:
        self._stream = stream
        self._limit = limit
        self._chunks: deque[bytes] = deque()
        self._held = 0
        self._ended: bool | BaseException = False  #: True at end of stream; the error if it broke
        self._changed = trio.Event()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def pump(self) -> None:
        """Read until the stream ends or breaks (runs until cancelled)."""
        while True:
            while self._held >= self._limit:
                await self._changed.wait()
            try:
                data = await self._stream.read(READ_BYTES)
            except Exception as error:  # the stream broke; take() reports it
                self._ended = error
                self._wake()
                return
            if data:
                self._chunks.append(data)
                self._held += len(data)
            else:
                self._ended = True
            self._wake()
            if not data:
                return

    def ready(self) -> bool:
        """Whether :meth:`take` would return at once."""
        return bool(self._chunks) or self._ended is not False

    async def take(self) -> bytes:
        """Everything read so far, waiting for some; ``b""`` at the end of the
        stream. Raises :class:`_StreamFailed` once the stream broke and
        everything read before was taken."""
        while not self.ready():
            await self._changed.wait()
        if self._chunks:
            data = b"".join(self._chunks)
            self._chunks.clear()
            self._held = 0
            self._wake()
            return data
        if self._ended is True:
            return b""
        raise _StreamFailed() from self._ended


async def run_sync(
    stream: ByteStream,
    session: SyncSession,
    ingest: Ingest,
    *,
    on_progress: OnProgress | None = None,
    settle: Settle | None = None,
    on_data: Callable[[], None] | None = None,
    writing: Writing | None = None,
) -> SyncResult:
    """Run ``session`` over ``stream`` until it ends; close the stream.

    ``ingest(raws)`` takes in each batch of records (it may be async); an
    exception from it fails the session as our own fault. ``settle()``, if
    given, is awaited before a session that went well is reported done (see
    the module). ``on_data()``, if given, is called each time the session
    has taken in bytes from the peer (the host reads the session's state).
    ``writing``, if given, says at any moment whether a write is under way
    (see :func:`withdraw`).
    The session's deadlines bound every wait. Returns a
    :class:`SyncResult`; never raises except trio.Cancelled.
    """
    async with trio.open_nursery() as nursery:
        inbox = _Inbox(stream)
        nursery.start_soon(inbox.pump)
        result = await _run(stream, inbox, session, ingest, on_progress, on_data, writing or Writing())
        nursery.cancel_scope.cancel()  # nothing more is read
    await close_stream(stream)
    if result.ok and settle is not None:
        try:
            await settle()
        except trio.Cancelled:
            raise
        except Exception as error:  # storing what was taken in failed: our fault
            log.debug("sync session's records not stored: %r", error)
            result = SyncResult(False, result.stats, error)
    return result


async def withdraw(stream: ByteStream, session: SyncSession, writing: Writing, reason: str) -> None:
    """End an initiator's session whose loop the caller cancelled (it gives
    way to another session), then close the stream: ABORT 8 first, within
    :data:`GOODBYE_MS`, when no answer had come and the loop was not cancelled
    in the middle of a write (the ABORT is then a frame of its own, or the
    stream's first); else only the close, as for a session cut short."""
    if not writing.mid_frame and not session.finished and session.stats.bytes_received == 0:
        session.withdraw(reason)
        with trio.move_on_after(GOODBYE_MS / 1000) as scope:
            scope.shield = True
            try:
                await _flush(stream, session)
            except Exception:  # the peer may be gone; the ABORT is a courtesy
                pass
    await close_stream(stream)


async def close_stream(stream: ByteStream) -> None:
    """Close a session's stream, within :data:`GOODBYE_MS` and shielded
    from cancellation; a broken stream's failure to close is no error."""
    with trio.move_on_after(GOODBYE_MS / 1000) as scope:
        scope.shield = True
        try:
            await stream.close()
        except Exception:  # closing a broken stream may fail; nothing left to do
            pass


async def _run(
    stream: ByteStream, inbox: _Inbox, session: SyncSession, ingest: Ingest, on_progress: OnProgress | None,
    on_data: Callable[[], None] | None, writing: Writing,
) -> SyncResult:
    result: SyncResult | None = None
    deadline = session.get_timer()
    try:
        while result is None:
            # Ingest before flushing: an ACK the peer sees means "taken in".
            result = await _deliver(session, ingest, on_progress)
            if result is not None and not result.ok:
                break  # its ABORT goes out below, on its own short bound
            if not session.finished:
                deadline = session.get_timer()
            assert deadline is not None, "a session has a deadline until it finishes"
            with trio.move_on_at(deadline / 1000) as waiting:
                await _flush(stream, session, writing)  # a finished session's last ACK or END too
                if result is None:  # building output can end the session too
                    result = await _deliver(session, ingest, on_progress)
                if result is not None:
                    break
                data = await inbox.take()
            if waiting.cancelled_caught:
                # The scope ended at the deadline: time has reached it, even
                # if the ms reading rounds down.
                session.handle_timer(max(now_ms(), deadline))
                if result is not None:  # the peer did not take a finished session's last bytes
                    result = SyncResult(False, session.stats, Stalled(PEER_SILENCE_MS))
            elif not data:
                session.connection_lost(now_ms())
            else:
                session.receive_data(data, now_ms())
                if on_data is not None:
                    on_data()
    except trio.Cancelled:
        raise
    except _StreamFailed as error:  # reset, closed, connection gone
        log.debug("sync stream broke: %r", error.__cause__)
        session.connection_lost(now_ms())
        # Records of the last read were never acknowledged: the peer sends
        # them again next time, so they are not ingested here.
        failures = [e for e in session.events() if isinstance(e, Failed)]
        result = SyncResult(False, session.stats, failures[0].error if failures else error.__cause__)
    except Exception as error:  # a failing ingest ends this session only, as our fault
        log.debug("sync session ended by %r", error)
        session.abandon(error)
        result = SyncResult(False, session.stats, error)
    if not result.ok:
        with trio.move_on_after(GOODBYE_MS / 1000):
            try:
                await _flush(stream, session)
            except Exception:  # the peer may be gone; the ABORT is a courtesy
                pass
    return result


async def _flush(stream: ByteStream, session: SyncSession, writing: Writing | None = None) -> None:
    while True:
        data = session.data_to_send()
        if not data:
            return
        if writing is not None:
            writing.mid_frame = True  # stays so if the loop is cancelled in the middle
        view = memoryview(data)
        for start in range(0, len(view), WRITE_BYTES):
            try:
                await stream.write(bytes(view[start : start + WRITE_BYTES]))
            except trio.Cancelled:
                raise
            except Exception as error:
                raise _StreamFailed() from error
        if writing is not None:
            writing.mid_frame = False


async def _deliver(session: SyncSession, ingest: Ingest, on_progress: OnProgress | None) -> SyncResult | None:
    """Hand the session's events to the host. The records of consecutive
    batches that one read brought go to ``ingest`` in one call (in order), so
    a host that checks them on several cores gets them all at once; progress
    is reported after them."""
    raws: list[bytes] = []
    progress: Progress | None = None

    async def flush() -> None:
        nonlocal raws, progress
        if raws:
            outcome = ingest(raws)
            raws = []
            if inspect.isawaitable(outcome):
                await outcome
        if progress is not None and on_progress is not None:
            on_progress(progress)
        progress = None

    for event in session.events():
        if isinstance(event, RecordsReceived):
            raws += event.raws
        elif isinstance(event, Progress):
            progress = event
        elif isinstance(event, Done):
            await flush()
            return SyncResult(True, event.stats)
        elif isinstance(event, Failed):
            await flush()
            return SyncResult(False, event.stats, event.error)
    await flush()
    return None
