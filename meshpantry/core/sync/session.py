"""The sync session: a state machine with no IO.

Bytes in through :meth:`SyncSession.receive_data`, events out of
:meth:`~SyncSession.next_event`, bytes out of :meth:`~SyncSession.data_to_send`,
time through ``now`` (ms of one monotonic clock, see :mod:`.deadlines`),
deadlines through :meth:`~SyncSession.get_timer` and
:meth:`~SyncSession.handle_timer`. Both peers run this class; the initiator
speaks first.

Theory of operation (the message flow is in ``protocol/SYNC.md``):

* The initiator sends HELLO and either a RECONCILE (reconcile mode) or
  WANT_AUTHOR (fetch-own-chain mode, followed at once by its END).
* RECONCILE messages alternate strictly, initiator first (see
  :mod:`.reconcile`). The side whose reply would say nothing sends no reply:
  its reconciliation is over, and the peer learns it from the END that side
  sends after its records. A reply of SKIPs that names needed ids ends the
  sender's reconciliation too (the answer to it says nothing): its records
  follow it in the same flight, and a RECONCILE answering it is out of turn.
* Records are sent only once this side's reconciliation is over, in
  (lamport, id) order cut into batches, each batch in chain order; since a
  chain's lamports increase with seq, every author's records go out in seq
  order. At most a window of batches are built and not yet acknowledged
  (WINDOW at first, doubling with each whole window acknowledged up to
  MAX_WINDOW); the receiver ACKs every batch (the driver only after
  its host took it in), so a slow reader or a slow store holds the sender to
  MAX_WINDOW batches in memory.
* END means "no more records from me". A side is done when it has sent END,
  received END and all its batches are acknowledged.
* Shortcut for equal sets: a RECONCILE says ``idle`` when its sender has
  nothing left to send; a reply that settles everything to an idle message,
  from a side with nothing to send either, is END(final): both are done, one
  round trip in all.
* Anything wrong from the peer (a frame that does not decode, a rule broken,
  too many rounds or records, silence past a deadline) ends the session: an ABORT frame is
  queued for the peer and a Failed event is emitted. Nothing raises to the
  host except assertion errors (our own bugs). An initiator's host may also
  withdraw a session no answer has come to yet (:meth:`SyncSession.withdraw`,
  ABORT 8: it gives way to another session, no fault of either side).
"""

from __future__ import annotations

import enum
from collections import deque
from typing import Callable

from protocol import limits
from protocol import sync as wire
from protocol.errors import RemoteError

from . import reconcile
from .errors import (
    ConnectionLost,
    FrameTooSlow,
    PeerAborted,
    ProtocolViolation,
    SessionTooLong,
    Stalled,
    StoreFailed,
    TooManyRecords,
    TooManyRounds,
    UnsupportedSyncVersion,
    Withdrawn,
)
from .deadlines import FRAME_MS, MAX_SESSION_MS, PEER_SILENCE_MS, TRICKLE_BYTES_PER_S
from .events import Done, Event, Failed, Progress, RecordsReceived, SyncStats
from .items import ItemIndex, SyncItems, index_of
from .outbox import Outbox, guarded
from .work import MAX_SESSION_WORK, TooMuchWork

#: Reconcile messages (both directions) one session may take. An honest
#: session needs a few, plus the messages that overflow MAX_RECONCILE_BYTES
#: or the work bound: 100,000 records split evenly between two islands (the
#: worst case measured) take 11 (version 1's rules took 43, and this limit
#: was set at twice that). It bounds a hostile peer.
MAX_ROUNDS = 96

#: Records one session may deliver: ten times the 100,000-record
#: neighbourhood we benchmark. A peer cannot stream forever.
MAX_SESSION_RECORDS = 1_000_000

#: Unacknowledged RECORDS batches at the start of a session: 16 x 256 KiB,
#: about 14,000 records of ~300 bytes, so the records of a difference of
#: 10,000 go out in one flight.
WINDOW = 16

#: The window doubles each time a whole window has been acknowledged, up to
#: this many batches (8 MiB): a new device taking 100,000 records needs
#: about 5 round trips of records instead of 30, while a slow reader still
#: holds the sender to a bounded amount of memory.
MAX_WINDOW = 32

#: Silence from the peer after which the session fails (see :mod:`.deadlines`).
IDLE_TIMEOUT_MS = PEER_SILENCE_MS

class Role(enum.Enum):
    INITIATOR = "initiator"
    RESPONDER = "responder"


class State(enum.Enum):
    OPEN = "open"
    DONE = "done"
    FAILED = "failed"


_ABORT_CODES: list[tuple[type, int]] = [
    (UnsupportedSyncVersion, wire.ABORT_VERSION),
    (ProtocolViolation, wire.ABORT_PROTOCOL),
    (TooManyRounds, wire.ABORT_ROUNDS),
    (TooManyRecords, wire.ABORT_RECORDS),
    (Stalled, wire.ABORT_TIMEOUT),
    (SessionTooLong, wire.ABORT_TIMEOUT),
    (FrameTooSlow, wire.ABORT_TIMEOUT),
    (StoreFailed, wire.ABORT_INTERNAL),
    (Withdrawn, wire.ABORT_WITHDRAWN),
    (RemoteError, wire.ABORT_DECODE),
    (Exception, wire.ABORT_INTERNAL),  # our own side failed (stream, ingest)
]


class SyncSession:
    """One sync session with one peer. See the module docstring.

    ``items`` is the store's item source; its ``sync_items`` is read once,
    when reconciliation starts. ``want_author`` (initiator only) switches to
    fetch-own-chain mode: ask for every record by that author and send none.

    ``now`` everywhere is one monotonic clock in ms (:mod:`.deadlines`);
    ``idle_timeout_ms``, ``frame_timeout_ms`` and ``max_session_ms`` are the
    session's deadlines, defaulting to PEER_SILENCE_MS, FRAME_MS and
    MAX_SESSION_MS. ``work_budget`` bounds the units of work (:mod:`.work`)
    the peer's reconcile messages may ask of this side in all: the message
    that would pass it is refused before anything is solved
    (:class:`.work.TooMuchWork`, ABORT 2).
    """

    #: The reconcile rules (``opening``, ``respond`` and ``message_work``) and the record
    #: windows. A benchmark runs a subclass with the rules of version 1 to
    #: compare (simulations/sync_v1.py); nothing else changes them.
    rules = reconcile
    first_window = WINDOW
    max_window = MAX_WINDOW
    batch_records = wire.MAX_BATCH_RECORDS

    def __init__(
        self,
        items: SyncItems,
        role: Role,
        *,
        now: int,
        want_author: bytes | None = None,
        below: int | None = None,
        idle_timeout_ms: int = IDLE_TIMEOUT_MS,
        max_session_ms: int = MAX_SESSION_MS,
        frame_timeout_ms: int = FRAME_MS,
        work_budget: int = MAX_SESSION_WORK,
    ) -> None:
        assert idle_timeout_ms > 0 and max_session_ms > 0 and frame_timeout_ms > 0 and work_budget >= 0
        assert want_author is None or (role is Role.INITIATOR and len(want_author) == limits.KEY_BYTES)
        assert below is None or (role is Role.INITIATOR and want_author is None)
        self.role = role
        self.state = State.OPEN
        self._items = items
        self._idle_timeout_ms = idle_timeout_ms
        self._frame_timeout_ms = frame_timeout_ms
        self._frame_began: int | None = None  # first byte of the frame not yet whole
        self._frame_arrivals = 0  # reads that brought bytes of that frame
        self._started = now
        self._session_deadline = now + max_session_ms
        self._reader = wire.FrameReader()
        self._out = bytearray()
        self._events: deque[Event] = deque()
        self._last_rx = now
        self._sent_since_rx = False
        self._index: ItemIndex | None = None
        self._mode: str | None = None  # "reconcile", "fetch" or "serve"
        self._hello_seen = role is Role.INITIATOR
        self._awaiting = False  # the peer owes us a reconcile reply
        self._reconciled = False  # our side's reconciliation is over
        self._last_idle = False  # idle flag of our last RECONCILE
        self._to_send: set[int] = set()
        self._outbox = Outbox(items, self.batch_records)
        self._batches_sent = self._batches_acked = self._batches_received = self._acks_sent = 0
        self._window = self.first_window
        self._window_from = 0  # acknowledged batches when the window last grew
        self._end_sent = self._end_received = False
        self._expected = self._received = self._records_sent = 0
        self._rounds = self._round_trips = self._bytes_sent = self._bytes_received = 0
        self._work_budget = work_budget
        self._work = 0  # units the peer's reconcile messages asked of us
        self._whole = False  # the first RECONCILE covered the whole key space
        if role is Role.INITIATOR:
            self._start(want_author, below)

    # --- host API -------------------------------------------------------------

    @classmethod
    def initiator(cls, items: SyncItems, *, now: int, below: int | None = None,
                  work_budget: int = MAX_SESSION_WORK) -> "SyncSession":
        """The side that speaks first. With ``below`` (a Lamport counter, from
        :class:`.horizon.Horizon`; routine syncs only), records at or above
        it are left to gossip: neither side sends them in this session."""
        return cls(items, Role.INITIATOR, now=now, below=below, work_budget=work_budget)

    @classmethod
    def responder(cls, items: SyncItems, *, now: int, work_budget: int = MAX_SESSION_WORK) -> "SyncSession":
        return cls(items, Role.RESPONDER, now=now, work_budget=work_budget)

    @classmethod
    def fetch_author(cls, items: SyncItems, author: bytes, *, now: int,
                     work_budget: int = MAX_SESSION_WORK) -> "SyncSession":
        """A session that asks the peer for every record by ``author`` (a
        device restoring its own chain before it writes)."""
        return cls(items, Role.INITIATOR, now=now, want_author=author, work_budget=work_budget)

    @property
    def finished(self) -> bool:
        return self.state is not State.OPEN

    @property
    def reconciled_whole(self) -> bool:
        """True for a reconcile session whose first RECONCILE left no range
        to gossip (no SKIP): once done, both sides hold the union of their
        sets as they were when it reconciled (see :mod:`.agreement`)."""
        return self._whole

    @property
    def awaiting_records(self) -> bool:
        """True from the end of this side's reconciliation, or the first
        records the peer sent (a peer whose reconciliation is over sends its
        records before the END that tells this side so), until the peer's
        END: what the peer sends is on its way, and another session
        reconciling now would ask for it again (:mod:`.turns`, rule 3)."""
        return (self.state is State.OPEN and self._mode == "reconcile" and not self._end_received
                and (self._reconciled or self._received > 0))

    @property
    def reconciling(self) -> bool:
        """True while this side reconciles and may still find records
        missing (:mod:`.turns`, rule 4): an open reconcile session whose
        reconciliation is not over. Not yet for a responder the peer has
        sent nothing (a peer that stays silent holds no one up), and never
        for a session that fetches or serves one author's chain."""
        return self.state is State.OPEN and self._mode == "reconcile" and not self._reconciled

    @property
    def held(self) -> int | None:
        """Items this side held when it began to reconcile (None before, or
        in fetch mode)."""
        return None if self._index is None else len(self._index)

    @property
    def stats(self) -> SyncStats:
        return SyncStats(
            bytes_sent=self._bytes_sent,
            bytes_received=self._bytes_received,
            records_sent=self._records_sent,
            records_received=self._received,
            rounds=self._rounds,
            round_trips=self._round_trips,
            work=self._work,
        )

    def receive_data(self, data: bytes, now: int) -> None:
        """Feed bytes from the peer, in any chunking. Ignored once finished."""
        if self.state is not State.OPEN or not data:
            return
        self._bytes_received += len(data)
        self._last_rx = now
        if self._sent_since_rx:
            self._round_trips += 1
            self._sent_since_rx = False
        try:
            pending = self._reader.buffered > 0
            bodies = self._reader.feed(data)
            if self._reader.buffered == 0:
                self._frame_began = None
            elif bodies or not pending:
                self._frame_began, self._frame_arrivals = now, 1
            else:
                self._frame_arrivals += 1
            for body in bodies:
                self._on_frame(wire.decode_frame(body))
                if self.state is not State.OPEN:
                    return
            self._advance()
        except (RemoteError, StoreFailed) as error:
            self._fail(error)

    def data_to_send(self) -> bytes:
        """Bytes to write to the peer now (possibly empty); the host must
        write all of them, in order."""
        try:
            self._advance()
        except (RemoteError, StoreFailed) as error:
            self._fail(error)
        out = bytes(self._out)
        self._out.clear()
        if out:
            self._sent_since_rx = True
        return out

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    def events(self) -> list[Event]:
        """Every pending event, oldest first."""
        out = list(self._events)
        self._events.clear()
        return out

    def get_timer(self) -> int | None:
        """The next deadline (ms on the clock of ``now``) at which
        :meth:`handle_timer` must be called, or None once finished: the
        earliest of the peer's silence deadline, the deadline of a frame that
        has begun arriving, and the session's own."""
        if self.state is not State.OPEN:
            return None
        timer = min(self._last_rx + self._idle_timeout_ms, self._session_deadline)
        if self._frame_began is not None:
            timer = min(timer, self._frame_began + self._frame_timeout_ms)
        return timer

    def handle_timer(self, now: int) -> None:
        """Fire the deadlines that passed by ``now``: a silent peer fails the
        session as :class:`Stalled`, a frame begun too long ago as
        :class:`FrameTooSlow`, an overlong session as :class:`SessionTooLong`;
        each queues ABORT(timeout) for the peer. Calling it early, or after
        the session finished, does nothing."""
        if self.state is not State.OPEN:
            return
        if self._frame_began is not None and now >= self._frame_began + self._frame_timeout_ms:
            self._fail(FrameTooSlow(now - self._frame_began, self._reader.buffered, self._frame_arrivals,
                                    TRICKLE_BYTES_PER_S))
        elif now >= self._last_rx + self._idle_timeout_ms:
            self._fail(Stalled(now - self._last_rx))
        elif now >= self._session_deadline:
            self._fail(SessionTooLong(now - self._started, self._session_deadline - self._started))

    def abandon(self, error: Exception) -> None:
        """Our side cannot go on (the host's ingest or stream failed): fail
        with ``error`` and tell the peer it was our fault (ABORT internal).
        Unsent output is dropped, so the peer never sees an ACK for records
        the host did not ingest; this holds even if the session had reached
        Done with its last ACK still unsent."""
        if self.state is State.FAILED:
            return
        self._out.clear()
        self._acks_sent = self._batches_received
        self.state = State.OPEN
        self._fail(error)

    def withdraw(self, reason: str) -> None:
        """End this initiator's session before any answer came, for a
        reason of the host's (it gives way to another session): the peer is
        told with ABORT 8, no fault of either side, and the session fails
        with :class:`Withdrawn`. Output not yet taken is dropped: the ABORT
        is all that is left to send. The host sends it only where it begins
        a frame of its own (everything taken before written whole)."""
        assert self.role is Role.INITIATOR, "only the side that started a session withdraws it"
        self._out.clear()
        self._fail(Withdrawn(reason))

    def connection_lost(self, now: int) -> None:
        """The stream ended (EOF or reset). Fails an open session."""
        if self.state is State.OPEN:
            self._fail(ConnectionLost(self._reader.buffered), tell_peer=False)

    # --- frames in ------------------------------------------------------------

    def _on_frame(self, frame: wire.Frame) -> None:
        if isinstance(frame, wire.Abort):
            self._fail(PeerAborted(frame.code, frame.reason), tell_peer=False)
            return
        if not self._hello_seen:
            if not isinstance(frame, wire.Hello):
                raise ProtocolViolation(f"{type(frame).__name__} before HELLO")
            if frame.version != wire.SYNC_VERSION:
                raise UnsupportedSyncVersion(frame.version)
            self._hello_seen = True
            return
        handler = self._HANDLERS.get(type(frame))
        if handler is None:
            raise ProtocolViolation(f"{type(frame).__name__} is not allowed here")
        handler(self, frame)

    def _on_reconcile(self, frame: wire.Reconcile) -> None:
        if self._mode is None and self.role is Role.RESPONDER:
            self._mode = "reconcile"
            self._index = guarded(lambda: index_of(self._items))
            self._awaiting = True
            self._whole = not any(isinstance(entry.mode, wire.Skip) for entry in frame.entries)
        if self._mode != "reconcile" or not self._awaiting or self._reconciled:
            raise ProtocolViolation("RECONCILE out of turn")
        self._count_round()
        assert self._index is not None
        self._work += self.rules.message_work(self._index, frame.entries)  # raises over one message's bound
        if self._work > self._work_budget:
            raise TooMuchWork(self._work, self._work_budget, "this sync session")
        reply = self.rules.respond(self._index, frame)
        self._to_send |= reply.send
        self._expected += reply.expect
        if not reply.settled:
            self._count_round()
            self._send_reconcile(wire.Reconcile(tuple(reply.entries), tuple(reply.needs), self._idle()))
            if all(isinstance(entry.mode, (wire.Skip, wire.WantListed)) for entry in reply.entries):
                # Only needed ids (in needs, or as bits over the peer's short
                # lists): the peer's answer is all SKIP, so it sends no
                # RECONCILE, and my records need not wait for it.
                self._reconciled = True
            return
        self._awaiting = False
        self._reconciled = True
        if frame.idle and self._idle():
            self._emit(wire.End(final=True))
            self._end_sent = True
            self._finish()

    def _on_want_author(self, frame: wire.WantAuthor) -> None:
        if self.role is not Role.RESPONDER or self._mode is not None:
            raise ProtocolViolation("WANT_AUTHOR out of turn")
        self._mode = "serve"
        self._reconciled = True
        self._outbox.load_author(frame.author)

    def _on_records(self, frame: wire.Records) -> None:
        if self._mode is None or self._end_received:
            raise ProtocolViolation("RECORDS out of turn")
        self._received += len(frame.raws)
        if self._received > MAX_SESSION_RECORDS:
            raise TooManyRecords(self._received, MAX_SESSION_RECORDS)
        self._batches_received += 1
        self._events.append(RecordsReceived(list(frame.raws)))
        self._events.append(Progress(self._received, max(self._expected, self._received)))

    def _on_ack(self, frame: wire.Ack) -> None:
        if not self._batches_acked <= frame.batches <= self._batches_sent:
            raise ProtocolViolation(f"ACK of {frame.batches} batches, {self._batches_sent} sent")
        self._batches_acked = frame.batches
        if frame.batches - self._window_from >= self._window:
            self._window = min(2 * self._window, self.max_window)
            self._window_from = frame.batches

    def _on_end(self, frame: wire.End) -> None:
        if self._end_received or self._mode is None:
            raise ProtocolViolation("END out of turn")
        self._end_received = True
        was_awaiting = self._awaiting
        if self._awaiting:
            self._awaiting = False
            self._reconciled = True
        elif not self._reconciled:
            raise ProtocolViolation("END while the peer owes a RECONCILE reply")
        if frame.final:
            if not (was_awaiting and self._last_idle and self._idle() and self._mode == "reconcile"):
                raise ProtocolViolation("END(final) to a session that is not idle")
            self._end_sent = True
            self._finish()

    _HANDLERS: dict[type, Callable[["SyncSession", object], None]] = {
        wire.Reconcile: _on_reconcile,
        wire.WantAuthor: _on_want_author,
        wire.Records: _on_records,
        wire.Ack: _on_ack,
        wire.End: _on_end,
    }

    # --- frames out -----------------------------------------------------------

    def _start(self, want_author: bytes | None, below: int | None) -> None:
        self._emit(wire.Hello())
        try:
            if want_author is not None:
                self._mode = "fetch"
                self._reconciled = True
                self._emit(wire.WantAuthor(want_author))
                self._emit(wire.End())
                self._end_sent = True
                return
            self._mode = "reconcile"
            self._index = guarded(lambda: index_of(self._items))
        except StoreFailed as error:
            self._fail(error)
            return
        self._count_round()
        entries = tuple(self.rules.opening(self._index, below))
        self._whole = not any(isinstance(entry.mode, wire.Skip) for entry in entries)
        self._send_reconcile(wire.Reconcile(entries, (), True))

    def _send_reconcile(self, frame: wire.Reconcile) -> None:
        self._last_idle = frame.idle
        self._awaiting = True
        self._emit(frame)

    def _emit(self, frame: wire.Frame) -> None:
        if self._batches_received > self._acks_sent and not isinstance(frame, wire.Ack):
            self._emit(wire.Ack(self._batches_received))
        if isinstance(frame, wire.Ack):
            self._acks_sent = frame.batches
        data = wire.encode_frame(frame)
        self._bytes_sent += len(data)
        self._out += data

    def _idle(self) -> bool:
        return not self._to_send and not self._outbox.loaded and self._batches_acked == self._batches_sent

    def _count_round(self) -> None:
        self._rounds += 1
        if self._rounds > MAX_ROUNDS:
            raise TooManyRounds(self._rounds, MAX_ROUNDS)

    def _advance(self) -> None:
        if self.state is not State.OPEN:
            return
        if self._batches_received > self._acks_sent:
            self._emit(wire.Ack(self._batches_received))
        if not self._reconciled:
            return
        if self._to_send:
            assert self._index is not None
            self._outbox.load_ids([self._index.keys[p][1] for p in sorted(self._to_send)])
            self._to_send = set()
        while self._batches_sent - self._batches_acked < self._window:
            batch = self._outbox.next_batch()
            if not batch:
                break
            self._emit(wire.Records(tuple(batch)))
            self._batches_sent += 1
            self._records_sent += len(batch)
        if not self._end_sent and self._outbox.empty():
            self._emit(wire.End())
            self._end_sent = True
        if self._end_sent and self._end_received and self._batches_acked == self._batches_sent:
            self._finish()

    def _finish(self) -> None:
        self.state = State.DONE
        self._events.append(Done(self.stats))

    def _fail(self, error: Exception, *, tell_peer: bool = True) -> None:
        if self.state is not State.OPEN:
            return
        if tell_peer and not isinstance(error, PeerAborted):
            code = next(code for kind, code in _ABORT_CODES if isinstance(error, kind))
            self._emit(wire.Abort(code, str(error)[: wire.MAX_REASON_BYTES]))
        self.state = State.FAILED
        self._outbox.clear()
        self._events.append(Failed(error, self.stats))
