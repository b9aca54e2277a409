"""The sync protocol on libp2p streams: the node's adapter around the sync
planner (:mod:`meshpantry.core.sync.planner`) and the sync session.

* Protocol id ``/meshpantry/sync/3`` (the version of ``protocol/SYNC.md``);
  the dialling side is the initiator. A peer speaking only another version
  fails the protocol negotiation: it is unreachable for sync, never banned.
* Every decision (with whom, when, in what mode, whom to cut off) is the
  planner's. :class:`SyncService` reports to it what happened (peers up and
  down, gossip gaps, sessions ended, hostile peers), performs the actions it
  returns, and sleeps until its timer, all on one clock: trio's, in ms.
* Records a session receives go through the node's ingest (decode, verify,
  admit, store) like gossip; progress and the outcome are published on the
  control socket and remembered in the address book. A session stores its
  batches behind itself (:mod:`.store_behind`): while the node stores one
  batch, the next ones' checks already run in the worker processes, and the
  session is done only once every batch is stored.
* Any failure ends that session only; nothing escapes into the host.
* One session per pair at a time: a session with a peer that is itself
  syncing with this node (its session is served or waits for a slot here)
  is not started but reported busy, and the planner tries again shortly; a
  session served by us moves records both ways, so a second one in the other
  direction would only send every record twice (a new device and the node
  it joined each started one on connect, and the node sent all 100,000
  records on both). When both start at once, the side that leads (the
  smaller id, as on connect) sheds the other's stream.
* A session is evidence for the liveness check (:mod:`.liveness`): every
  read that brings bytes shows the peer alive, and a stream that could not
  even be opened by its deadline counts as a missed probe (the connection is
  likely stalled).
* Records are not asked of two peers at once: which session goes first is
  :mod:`.sync_turns`'s.
* No session that could not move a record: a session that reconciled the
  whole key space and left this node holding exactly the union of both sets
  shows the peer holding this node's set (:mod:`~meshpantry.core.sync.agreement`);
  with a peer exchange's equal fingerprints, the planner drops the sessions
  queued with that peer while this node's set is unchanged.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Sequence

import trio
from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID

from meshpantry.control.events import PeerEvent, SyncEvent
from meshpantry.core.sync import PeerAborted, Progress, Role, SyncSession
from meshpantry.core.sync.deadlines import FRAME_MS, OPEN_STREAM_MS
from meshpantry.core.sync.errors import FrameTooSlow, ProtocolViolation, TooManyRecords, TooManyRounds
from meshpantry.core.sync.horizon import Horizon
from meshpantry.core.sync.items import index_of
from meshpantry.core.sync.agreement import Agreement, settled_on_union
from meshpantry.core.sync.work import WorkLedger
from meshpantry.core.sync.planner import (
    Action,
    CutOff,
    Forget,
    Mode,
    Outcome,
    PlannerConfig,
    StartSession,
    SyncPlanner,
)
from protocol.errors import DecodeError
from protocol.sync import SYNC_VERSION

from .checking import Pending
from .store_behind import StoreBehind
from .streams import HeardChannel, StreamChannel, safe_handler
from .sync_driver import SyncResult, Writing, now_ms, run_sync, withdraw
from .sync_turns import GaveWay, Turn, Turns

log = logging.getLogger("meshpantry.sync")

SYNC_PROTOCOL = TProtocol(f"/meshpantry/sync/{SYNC_VERSION}")

#: Session failures only a faulty or hostile peer causes (unlike silence or a
#: dropped connection, which power cuts cause every day).
HOSTILE_ERRORS = (DecodeError, ProtocolViolation, TooManyRounds, TooManyRecords)

#: Sessions peers start with this node that run at once. Separate from the
#: planner's outgoing limit so that two nodes syncing each other can never
#: deadlock. Two, and one per peer: a peer that is slow (or hostile, until its
#: frame deadline cuts it off) holds at most one, and the others keep syncing.
MAX_SERVED_SYNCS = 2

#: Sessions one peer may have served or waiting at once: a peer syncs with
#: us one session at a time, so a second stream is shed at once.
MAX_SERVED_PER_PEER = 1

#: Sessions waiting for a served slot at once; more are shed at once (their
#: initiators retry on their planner's schedule). A neighbourhood's routine
#: syncs come a few a minute; after a power cut a burst of tens rejoin, which
#: the planners' jitter spreads over seconds.
MAX_WAITING_SYNCS = 8

#: Longest a session waits for a served slot before it is shed. Honest
#: sessions of an ordinary evening take well under a second; a peer's
#: initiator gives up after PEER_SILENCE_MS anyway, so waiting longer only
#: holds its stream.
SLOT_WAIT_MS = 10_000

#: Bound on resetting a shed stream (a courtesy to a peer that may be gone).
GOODBYE_S = 2.0



@dataclass(frozen=True)
class ServeLimits:
    """The fair share of the sessions peers start (defaults: the constants
    above; smaller only in tests)."""

    served: int = MAX_SERVED_SYNCS  #: sessions served at once
    per_peer: int = MAX_SERVED_PER_PEER  #: sessions one peer has served or waiting
    waiting: int = MAX_WAITING_SYNCS  #: sessions waiting for a slot
    slot_wait_ms: int = SLOT_WAIT_MS  #: longest wait for a slot
    frame_ms: int = FRAME_MS  #: a served session's frame deadline (:mod:`~meshpantry.core.sync.deadlines`)


def is_hostile(error: BaseException | None) -> bool:
    """Whether a session's failure shows a faulty or hostile peer (cut it
    off) rather than a stall or a lost connection (try again later)."""
    if isinstance(error, FrameTooSlow):
        return error.trickled
    return isinstance(error, HOSTILE_ERRORS)


#: ``ingest(raws, peer, catching_up=...)``: see :func:`.checking.catching_up`.
Ingest = Callable[..., Awaitable[Any]]
#: ``ingest_soon(raws, peer, catching_up=...) -> Pending``: see
#: :meth:`meshpantry.node.runner.Node.ingest_soon`.
IngestSoon = Callable[..., Pending]
Publish = Callable[[str, dict], None]


def _wall_ms() -> int:
    """Wall-clock time, for the address book's "last synced" (shown to people,
    never compared with the sync clock)."""
    return int(time.time() * 1000)


def _channel(stream: Any) -> StreamChannel:
    """The stream without time bounds of its own: the session's deadlines
    (:mod:`meshpantry.core.sync.deadlines`) bound every read and write."""
    return StreamChannel(stream, read_timeout_s=math.inf, write_timeout_s=math.inf)


def planner_config(settings: Any) -> PlannerConfig:
    """The planner's knobs from the node's settings."""
    return PlannerConfig(interval_ms=round(settings.sync_interval_s * 1000), jitter=settings.sync_jitter)


class NodeStanding:
    """Membership and holdings as the planner asks for them, from the store
    (through the node's membership gate when given: revoked devices are then
    no members either). A peer the household denied by hand is never a
    member here."""

    def __init__(self, store: Any, denied: set[str], gate: Any = None) -> None:
        self.store, self.denied, self.gate = store, denied, gate

    def is_member(self, peer: str) -> bool:
        from .host import author_from_peer_id

        if peer in self.denied:
            return False
        if self.gate is not None:
            return self.gate.is_member(peer)
        try:
            return self.store.is_member_device(author_from_peer_id(ID.from_base58(peer)))
        except Exception:  # noqa: BLE001 - not an author's id, or no neighbourhood yet
            return False

    def holds(self, record_id: bytes) -> bool:
        return self.store.has(record_id)


class SyncTotals(dict):
    """Counters over every session, for the status page."""

    def __init__(self) -> None:
        super().__init__(dict.fromkeys(("sessions", "failed", "bytes_sent", "bytes_received",
                                        "records_received", "record_bytes_received", "round_trips",
                                        "idle_sessions", "skipped", "deferred", "gave_way", "withdrawn"), 0))


class SyncService:
    """The node's sync: the planner, the sessions it starts, the sessions
    peers start. Created once networking runs; :meth:`run` is its loop."""

    def __init__(
        self,
        *,
        me: str,
        libp2p: Any,
        store: Any,
        pantry: Any,
        liveness: Any,
        ingest: Ingest,
        publish: Publish,
        denied: set[str],
        rng: Any,
        horizon: Horizon,
        settings: Any,
        progress: dict[str, dict],
        totals: SyncTotals,
        last_sync: dict[str, int],
        limits: ServeLimits = ServeLimits(),
        gate: Any = None,
        ingest_soon: IngestSoon | None = None,
    ) -> None:
        self.libp2p = libp2p
        self.store = store
        self.pantry = pantry
        self.liveness = liveness
        self.ingest = ingest
        self.ingest_soon: IngestSoon = ingest_soon or self._ingest_when_stored
        self.publish = publish
        self.progress = progress
        self.totals = totals
        self.last_sync = last_sync
        self.denied = denied
        self.limits = limits
        self.serve_slots = trio.CapacityLimiter(limits.served)
        self.served: dict[str, int] = {}  #: peer -> its sessions served or waiting now
        self.outgoing: dict[str, Mode] = {}  #: peer -> the mode of our session with it running now
        #: reconcile work each peer's sessions cost us lately: a session's budget
        #: is what is left of its peer's (:class:`~meshpantry.core.sync.work.WorkLedger`)
        self.work = WorkLedger()
        self.waiting = 0  #: sessions waiting for a served slot now
        self.shed = 0  #: streams shed at once since start
        self.turns = Turns(me)  #: whose session goes first
        #: peers known to hold the set this node holds (sessions that settled
        #: both sides on one set; :mod:`~meshpantry.core.sync.agreement`)
        self.agreement: Agreement[str] = Agreement()
        self.planner: SyncPlanner[str] = SyncPlanner(
            me, NodeStanding(store, denied, gate), rng, now=now_ms(), horizon=horizon,
            recovering=not pantry.chain_recovered, config=planner_config(settings), agrees=self.agrees,
        )
        self._skipped_seen = 0  #: the planner's skipped count already added to the totals
        self._nursery: trio.Nursery | None = None
        self._changed = trio.Event()
        #: ``still_agrees(peer)``: a peer exchange found both sides holding
        #: the same set, and this side's has not changed since (set by the
        #: runner once peer exchange runs).
        self.still_agrees: Callable[[str], bool] = lambda peer: False

    # --- events in (each performs the planner's answer) -------------------------

    def peers_up(self, peers: list[str], agreeing: Sequence[str] = ()) -> None:
        self.perform(self.planner.peers_up(peers, now_ms(), agreeing))

    def peer_down(self, peer: str) -> None:
        self.perform(self.planner.peer_down(peer, now_ms()))

    def gap_seen(self, peer: str, missing: list[bytes]) -> None:
        self.perform(self.planner.gap_seen(peer, missing, now_ms()))

    def requested(self, peer: str) -> None:
        self.perform(self.planner.requested(peer, now_ms()))

    def hostile(self, peer: str, why: str) -> None:
        self.perform(self.planner.hostile(peer, why, now_ms()))

    def session_ended(self, peer: str, outcome: Outcome) -> None:
        self.perform(self.planner.session_ended(peer, outcome, now_ms()))

    def timer_fired(self) -> None:
        self.perform(self.planner.handle_timer(now_ms()))

    def is_cut_off(self, peer: str) -> bool:
        return self.planner.is_cut_off(peer, now_ms())

    def agrees(self, peer: str) -> bool:
        """This node still holds the set it last shared with ``peer`` (a
        session or a peer exchange found both holding it): a session could
        not move a record from here (planner rule 8)."""
        if self.still_agrees(peer):
            return True
        if not len(self.agreement):
            return False
        index = index_of(self.store)
        return self.agreement.still_agrees(peer, index.fingerprint(0, len(index)))

    # --- the loop ---------------------------------------------------------------

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Serve sessions peers start, and sleep until the planner's timer."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            self.libp2p.set_stream_handler(SYNC_PROTOCOL, safe_handler(self._serve, "sync"))
            task_status.started()
            while True:
                with trio.move_on_at(self.planner.get_timer() / 1000):
                    await self._changed.wait()
                self.timer_fired()
                # After firing: what the timer itself changed is read at the
                # top of the loop; only changes from other tasks wake it.
                self._changed = trio.Event()

    def perform(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, StartSession):
                assert self._nursery is not None, "sessions start once the service runs"
                self._nursery.start_soon(self._session, action)
            elif isinstance(action, CutOff):
                log.warning("cutting off %s for %d s: %s", action.peer,
                            (action.until - now_ms()) // 1000, action.reason)
                self.publish(PeerEvent(peer=action.peer, up=False, banned=action.reason))
            elif isinstance(action, Forget):
                self.progress.pop(action.peer, None)
                self.agreement.forget(action.peer)
        skipped = self.planner.skipped
        self.totals["skipped"] += skipped - self._skipped_seen
        self._skipped_seen = skipped
        self._changed.set()  # the timer may have moved

    # --- sessions we start ------------------------------------------------------

    async def _session(self, action: StartSession) -> None:
        peer = action.peer
        async with self.turns.session(self.planner.me, peer) as turn:
            if action.mode is Mode.RECOVER:
                turn.go()
                turn.reconciled()  # it fetches one chain: it never reconciles, nor gives way
            else:
                if self.served.get(peer) and not self._after_served(peer, action.mode):
                    return
                # Records the peers we serve, or another session, are
                # bringing now would come twice: reconcile once they landed.
                await turn.wait()
                if self.served.get(peer) and not self._after_served(peer, action.mode):
                    return
                if self.planner.skippable(peer) and self.agrees(peer):
                    # A session served meanwhile (maybe the peer's own) left
                    # both sides holding one set: this one could not move a record.
                    self.totals["skipped"] += 1
                    self.session_ended(peer, Outcome.DONE)
                    return
            self.outgoing[peer] = action.mode
            try:
                outcome = await self._start(peer, action, turn)
            finally:
                del self.outgoing[peer]
        self.session_ended(peer, outcome)

    def _after_served(self, peer: str, mode: Mode) -> bool:
        """The peer's own session with us runs now, and a session moves
        records both ways: a routine one of ours could move none (skipped,
        done); a full one is reported busy and the planner tries it again
        shortly (the peer's may be routine). Returns False: not started."""
        if mode is Mode.ROUTINE:
            self.totals["skipped"] += 1
            self.session_ended(peer, Outcome.DONE)
        else:
            self.totals["deferred"] += 1
            self.session_ended(peer, Outcome.BUSY)
        return False

    async def _start(self, peer: str, action: StartSession, turn: Turn | None = None) -> Outcome:
        budget = self.work.allowance(peer, now_ms())
        if action.mode is Mode.RECOVER:
            session = SyncSession.fetch_author(self.store, self.pantry.device, now=now_ms(), work_budget=budget)
        else:
            session = SyncSession.initiator(self.store, now=now_ms(), below=action.below, work_budget=budget)
        outcome = await self._open_and_run(peer, session, turn)
        if action.mode is Mode.RECOVER and outcome is Outcome.DONE:
            self.pantry.mark_chain_recovered()
            log.warning("own chain recovered from %s: %d records", peer,
                        self.store.own_head(self.pantry.device).seq)
        return outcome

    async def _open_and_run(self, peer: str, session: SyncSession, turn: Turn | None = None) -> Outcome:
        peer_id = ID.from_base58(peer)
        try:
            with trio.fail_at((now_ms() + OPEN_STREAM_MS) / 1000):
                stream = await self.libp2p.new_stream(peer_id, [SYNC_PROTOCOL])
        except trio.Cancelled:
            raise
        except trio.TooSlowError:
            log.info("cannot open a sync stream to %s within %d ms", peer, OPEN_STREAM_MS)
            await self.liveness.missed(peer_id, f"sync stream not opened within {OPEN_STREAM_MS} ms")
            return Outcome.UNREACHABLE
        except Exception as error:  # no route, negotiation refused: try later
            log.info("cannot open a sync stream to %s: %r", peer, error)
            return Outcome.UNREACHABLE
        result = await self._run(peer, self._heard_channel(stream), session, turn)
        if result.ok:
            self.liveness.heard(peer_id)
            return Outcome.DONE
        if isinstance(result.error, GaveWay):
            return Outcome.BUSY  # the planner starts it again shortly
        return Outcome.HOSTILE if is_hostile(result.error) else Outcome.FAILED

    # --- sessions peers start ---------------------------------------------------

    async def _serve(self, stream: Any) -> None:
        """Serve a session a peer started, within its fair share: one per
        peer, at most :data:`MAX_WAITING_SYNCS` waiting, each waiting at most
        :data:`SLOT_WAIT_MS`; a stream beyond any of these is shed at once
        (reset, with the reason logged). A session that fails hostile cuts
        the peer off (the planner's CutOff)."""
        peer = str(stream.muxed_conn.peer_id)
        if peer in self.denied or self.is_cut_off(peer):
            raise PermissionError(f"sync from cut-off peer {peer}")
        if not self.planner.eligible(peer, now_ms()):
            raise PermissionError(f"sync refused: {peer} is not a member of this neighbourhood")
        limits = self.limits
        if self.outgoing.get(peer) is Mode.FULL and self.planner.leads(peer):
            return await self._shed(stream, peer, "this node's own full sync session with it runs now")
        if self.served.get(peer, 0) >= limits.per_peer:
            return await self._shed(stream, peer, "it already has a sync session with this node")
        if self.serve_slots.available_tokens == 0 and self.waiting >= limits.waiting:
            return await self._shed(stream, peer, f"{self.waiting} sync sessions already wait for a slot")
        self.served[peer] = self.served.get(peer, 0) + 1
        try:
            async with self.turns.session(peer) as turn:
                self.waiting += 1
                try:
                    with trio.move_on_after(limits.slot_wait_ms / 1000) as waited:
                        await self.serve_slots.acquire()
                finally:
                    self.waiting -= 1
                if waited.cancelled_caught:
                    return await self._shed(stream, peer, f"no sync slot free within {limits.slot_wait_ms} ms")
                try:
                    await turn.wait()
                    session = SyncSession(self.store, Role.RESPONDER, now=now_ms(), frame_timeout_ms=limits.frame_ms,
                                          work_budget=self.work.allowance(peer, now_ms()))
                    result = await self._run(peer, self._heard_channel(stream), session, turn)
                finally:
                    self.serve_slots.release()
        finally:
            self.served[peer] -= 1
            if not self.served[peer]:
                del self.served[peer]
        if result.ok:
            self.liveness.heard(stream.muxed_conn.peer_id)
        elif is_hostile(result.error):
            self.hostile(peer, f"sync: {result.error}")

    def _heard_channel(self, stream: Any) -> HeardChannel:
        """The session's channel over ``stream``: each read that brings bytes
        counts as hearing its peer (:class:`.streams.HeardChannel`)."""
        peer_id = stream.muxed_conn.peer_id
        return HeardChannel(_channel(stream), lambda: self.liveness.heard(peer_id))

    async def _shed(self, stream: Any, peer: str, reason: str) -> None:
        self.shed += 1
        log.info("sync stream from %s shed: %s", peer, reason)
        with trio.move_on_after(GOODBYE_S):
            try:
                await stream.reset()
            except Exception:  # noqa: BLE001 - the stream may already be gone
                pass

    # --- either side --------------------------------------------------------------

    def _note_agreement(self, peer: str, session: SyncSession, stored: int) -> None:
        """A session that ended well and left this side holding exactly the
        union of both sets (:func:`~meshpantry.core.sync.agreement.settled_on_union`)
        shows the peer holding this side's set now."""
        held = session.held
        if held is None:
            return
        index = index_of(self.store)
        if settled_on_union(session.reconciled_whole, held, stored, len(index)):
            self.agreement.agreed(peer, index.fingerprint(0, len(index)))
        else:
            self.agreement.differs(peer)

    def _ingest_when_stored(self, raws: list[bytes], peer: str, *, catching_up: bool = False) -> Pending:
        """``ingest_soon`` for a host that has only ``ingest``: the batch is
        checked and stored when its turn comes."""

        async def store() -> int:
            return await self.ingest(raws, peer, catching_up=catching_up)

        return Pending(store, lambda: None)

    async def _run(self, peer: str, channel: StreamChannel, session: SyncSession,
                   turn: Turn | None = None) -> SyncResult:
        state = {"active": True, "received": 0, "expected": 0, "behind": 0}
        self.progress[peer] = state

        def progress(event: Progress) -> None:
            state.update(received=event.received, expected=event.expected,
                         behind=max(0, event.expected - event.received))
            self.publish(SyncEvent(peer=peer, **state))

        def receiving() -> None:
            """This session's reconciliation is over (the turns' rule 4), and
            records of it are on their way here (expected from the peer, or
            taken in and not stored yet): rule 3."""
            if turn is not None:
                turn.reconciled(not session.reconciling)
                turn.receiving(session.awaiting_records or behind.unstored > 0)

        def heard() -> None:
            if turn is not None and session.role is Role.INITIATOR:
                turn.answered()  # no longer gives way (the turns' rule 5)
            receiving()

        behind = StoreBehind(self.ingest_soon, peer, len(index_of(self.store)), on_change=receiving)
        receiving()  # a session a peer started reconciles once its first message came
        gave_way = False
        writing = Writing()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(behind.run)
            try:
                with turn.yielding() if turn is not None else trio.CancelScope() as yielding:
                    result = await run_sync(channel, session, behind.take, on_progress=progress,
                                            settle=behind.settle, on_data=heard, writing=writing)
                if yielding.cancelled_caught:
                    # Unanswered, it gave way to a session a peer started here
                    # (rule 5): nothing came, nothing is stored; the peer is
                    # told (ABORT 8, no fault) and the stream goes.
                    gave_way = True
                    await withdraw(channel, session, writing,
                                   "this node gives way to a session another member started with it")
                    result = SyncResult(False, session.stats, GaveWay(f"gave way to {turn.gave_way_to}"))
            finally:
                behind.close()  # what was taken in is still stored
        state.update(active=False, behind=0 if result.ok else state["behind"])
        stats = result.stats
        self.work.charge(peer, stats.work, now_ms())
        totals = self.totals
        totals["sessions"] += 1
        # The peer withdrew its unanswered session (its rule 5): no failure.
        withdrawn = isinstance(result.error, PeerAborted) and result.error.withdrawn
        totals["failed"] += 0 if result.ok or gave_way or withdrawn else 1
        totals["gave_way"] += gave_way
        totals["withdrawn"] += withdrawn
        totals["bytes_sent"] += stats.bytes_sent
        totals["bytes_received"] += stats.bytes_received
        totals["records_received"] += stats.records_received
        totals["record_bytes_received"] += behind.record_bytes
        totals["round_trips"] += stats.round_trips
        # A session that moved no record either way could have been skipped.
        totals["idle_sessions"] += stats.records_received == 0 and stats.records_sent == 0
        if result.ok:
            self._note_agreement(peer, session, behind.stored)
            self.last_sync[peer] = _wall_ms()
            self.store.mark_synced(peer, _wall_ms())
            log.info("synced with %s (%s): %d records in (%d new here), %d out, %d bytes, %d round trips", peer,
                     "started here" if session.role is Role.INITIATOR else "started there",
                     stats.records_received, behind.stored, stats.records_sent,
                     stats.bytes_sent + stats.bytes_received, stats.round_trips)
        elif gave_way:
            log.info("sync with %s ended unanswered: it %s", peer, result.error)
        elif withdrawn:
            log.info("sync with %s ended before this node answered: the peer gave way to another "
                     "session, and starts its own again shortly", peer)
        else:
            log.info("sync with %s failed: %r", peer, result.error)
        ended = "done" if result.ok else "gave way" if gave_way else "withdrawn" if withdrawn else "failed"
        self.publish(SyncEvent(peer=peer, **state, ok=result.ok, ended=ended,
                               records_in=stats.records_received, records_out=stats.records_sent))
        return result
