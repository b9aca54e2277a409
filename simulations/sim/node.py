"""A simulated node: one device of a household, running the real core.

A node signs its household's records with
:func:`meshpantry.core.chain.next_record`, makes each durable in its store
*before* publishing it (that moment is the record's **acknowledgement**), and
takes in peers' records through its store's ingest. Its wall clock drifts
(:class:`~.clock.NodeClock`). A crash is a power cut: the store loses what was
not durable, the node's memory (gossip outbox, sessions) is gone, and on
restart the chain head is read back from the store, as a real node does.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from meshpantry.core.chain import ChainHead, next_record
from meshpantry.core.membership import Admission
from meshpantry.core.sync.horizon import Horizon
from meshpantry.pantry.errors import ChainNotRecovered
from protocol import Record

from .clock import NodeClock
from .memory_store import IngestOutcome
from .record_table import RecordTable


class NodeStore(Protocol):
    """What a simulated node needs of its store, in the run's positions: the
    real SQLite store (:class:`~.sqlite_store.SqliteStore`) or the memory
    store (:class:`~.memory_store.MemoryStore`). Both take records in through
    the node's one ingest pipeline (:mod:`meshpantry.core.ingest`) over the
    core's storage interface (:class:`meshpantry.core.record_log.RecordLog`);
    this protocol only adds what the simulator itself asks (positions, power
    cuts, the sync item list)."""

    log: Any
    held: bytearray  #: held[position] == 1 when the log holds that record
    max_lamport: int

    def holds(self, position: int) -> bool: ...
    def lacking(self, positions: list[int]) -> list[int]: ...
    def grow_to(self, size: int) -> None: ...
    def count(self) -> int: ...
    def append_own(self, position: int) -> None: ...
    def ingest(
        self, positions: list[int], now: int, checked: Sequence[Record] | None = None,
        checked_at: list[int] | None = None,
    ) -> IngestOutcome: ...
    def own_head(self, author: bytes) -> ChainHead: ...
    def admission(self, record: Record) -> Admission: ...
    def admitter(self, records: Sequence[Record]) -> Callable[[Record], Admission]: ...
    def power_cut(self, rng: random.Random) -> int: ...
    def records(self) -> list[Record]: ...
    def sync_items(self) -> list[tuple[int, bytes]]: ...
    def raws_in_chain_order(self, ids: list[bytes]) -> list[bytes]: ...


class SimNode:
    """One device. ``household`` is its household id (the first device's key)."""

    def __init__(
        self,
        number: int,
        public: bytes,
        secret: bytes,
        household: bytes,
        store: NodeStore,
        table: RecordTable,
        neighbourhood: bytes,
        clock: NodeClock,
    ) -> None:
        self.number = number
        self.public = public
        self.secret = secret
        self.household = household
        self.store = store
        self.table = table
        self.neighbourhood = neighbourhood
        self.clock = clock
        self.head = ChainHead()
        self.up = True
        self.epoch = 0  #: bumped by every crash: in-flight work for an older epoch is void
        self.outbox: list[int] = []  #: positions to push to the mesh at the next gossip round
        self.acknowledged: list[int] = []  #: own records made durable, in seq order
        self.lost_on_crash = 0
        self.horizon = Horizon()  #: what routine syncs leave to gossip (virtual ms, the node's monotonic clock)
        #: the store was restored from nothing: the device's own chain may be
        #: missing, and it writes nothing until its planner's recovery session
        #: fetched it (the pantry's ``chain_recovered`` gate)
        self.recovering = False
        self.restored = False  #: restored from nothing once: its chain may arrive late

    def now(self, virtual_ms: int) -> int:
        """This node's wall-clock reading at virtual time ``virtual_ms``."""
        return self.clock.read(virtual_ms)

    def write(self, kind: str, body: dict[str, Any], virtual_ms: int) -> int:
        """Sign, make durable and queue for gossip one record; returns its position.

        Raises the protocol's decode errors for a body that breaks its schema
        (nothing is signed then).
        """
        assert self.up, "a node without power writes nothing"
        if self.recovering:
            raise ChainNotRecovered()
        # The head is read from the store, as the pantry reads it for every
        # write: after a recovery the chain may still be arriving.
        head = self.store.own_head(self.public) if self.restored else self.head
        if self.store.max_lamport > head.lamport:
            head = ChainHead(head.seq, head.id, self.store.max_lamport)
        record = next_record(
            self.secret, head, neighbourhood=self.neighbourhood, kind=kind, body=body,
            now=self.now(virtual_ms),
        )
        position = self.table.add(record.raw, record)
        self.table.verdict(position)
        self.store.append_own(position)  # durable before anyone hears of it
        self.head = head.after(record)
        self.acknowledged.append(position)
        self.outbox.append(position)
        self.horizon.observe(virtual_ms, self.store.max_lamport)
        return position

    def receive(
        self, positions: list[int], virtual_ms: int, *, forward: bool = True,
        checked: Sequence[Record] | None = None, checked_at: list[int] | None = None,
    ) -> IngestOutcome:
        """Ingest peers' records. With ``forward`` (records that came by
        gossip), newly logged ones are queued to be pushed on, as GossipSub
        forwards a message it sees first; records from sync are not.
        ``checked``: the gossip decision's records, ``checked_at`` their
        positions (see the store's ingest)."""
        outcome = self.store.ingest(positions, self.clock.read(virtual_ms), checked, checked_at)
        if outcome.added:
            self.horizon.observe(virtual_ms, self.store.max_lamport)
            if forward:
                self.outbox.extend(outcome.added)
        return outcome

    def crash(self, rng: random.Random) -> None:
        """Power cut: memory gone, the store keeps only what was durable."""
        self.up = False
        self.epoch += 1
        self.outbox = []
        self.horizon = Horizon()
        self.lost_on_crash += self.store.power_cut(rng)

    def restore(self, store: NodeStore) -> None:
        """The device is restored from nothing (its key kept, its store
        lost): an empty ``store``, no chain head, memory gone, and no writing
        until the own chain is recovered (:meth:`chain_recovered`)."""
        self.store = store
        self.epoch += 1
        self.outbox = []
        self.horizon = Horizon()
        self.head = ChainHead()
        self.recovering = True
        self.restored = True

    def chain_recovered(self) -> None:
        """A recovery session fetched the own chain: the head comes from what
        it brought, and the device may write again."""
        self.recovering = False
        self.head = self.store.own_head(self.public)

    def restart(self) -> None:
        """Power back: the chain head comes from the durable log."""
        self.up = True
        self.head = self.store.own_head(self.public)
