"""Steps 1-4 of the ingest pipeline for large batches from peers, in worker
processes: a new device catching up verifies on every core.

Theory of operation:

* A large batch (a sync session's records, a bundle) is cut into slices of
  :data:`SLICE_RECORDS`; every slice goes at once to a pool of worker
  processes, one per core, which run :func:`meshpantry.core.ingest.check_record`
  (decode, neighbourhood, time bound, signature: the same ordered checks,
  from the same module) on each raw record and send back the records that
  passed, pickled (their log rows as plain tuples, membership records
  whole: :func:`.batch_checks.check_slice_packed`), and a line for each
  that failed.
* The node takes the slices back in order and hands them to
  :meth:`Store.ingest_verified <meshpantry.store.Store.ingest_verified>` on
  its own thread (steps 5-9: duplicates, admission, waiting room, forks,
  append), while the workers check the slices after it. Slices already
  checked when the node comes for one go with it, up to
  :data:`STORE_RECORDS` records, into one store transaction: a transaction
  costs about as much as 50 records' rows, and the log's indexes take
  larger batches faster. A session's batch submitted while the checks of
  its batch before are still being taken joins them (:meth:`CheckingProcesses.submit`),
  so a session that takes in a frame at a time still stores in large
  transactions. Decoding and
  verifying, about four fifths of the work per record, leave the node's
  thread; unpickling a checked record costs a quarter of decoding it.
* Nothing is written outside the node's thread: the store's transactions, and
  so its crash guarantees, are those of any ingest. A session takes in (and
  acknowledges) batches ahead of its store up to :data:`STORE_AHEAD_RECORDS`
  records, and is done only once every batch is stored.
* Why processes: the store's own worker threads verify in parallel (libsodium
  releases the GIL), but decoding is Python and holds the GIL, so a node
  taking in 100,000 records kept one core busy decoding. Workers fork from a
  fork server (the node runs trio and libp2p threads, which must not be
  forked) that imports only :mod:`.batch_checks` and the pure core: about a
  tenth of a second, once, where a spawned worker would import the whole
  command line again. Nor does a worker import the node's main module, as
  multiprocessing has every child do (:class:`_WorkerProcess`): that was the
  whole command line again, 0.2 s of a core a worker, before its first check.
* Only with an idle core, or when catching up: the processes cost a little
  more CPU per record than checking on the node's thread (pickling, a second
  process), which pays only when a core would otherwise wait. A batch goes to
  them while the load average leaves at least :data:`IDLE_CORES` core idle;
  on a machine already busy (twenty nodes healing on two cores) the store's
  own path runs. A session that is catching up (see
  :func:`catching_up`: a new device taking in its neighbourhood) uses them
  whatever the load: that is when the device's time matters most, and on a
  shared machine the node's share of the cores grows with its processes.
* If the pool breaks (a worker killed), the batch is checked on the node's
  thread as before and the pool is started again next time.
* A node that holds next to nothing when it starts (a new device) starts
  the fork server at once (:meth:`CheckingProcesses.prepare`), in the
  background: its first sync will catch up, and the first batch's workers
  then fork in milliseconds. Started with the first batch, the fork server
  held the node's thread (which reads the session) until it had imported
  the checks: 0.1 s on a quiet machine, 0.4 s on a busy one.
"""

from __future__ import annotations

import logging
import sys
import time
import types
from collections import deque
from itertools import islice
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import forkserver
from multiprocessing.context import ForkServerContext, ForkServerProcess
from typing import AsyncIterator, Awaitable, Callable, Sequence

import trio

from meshpantry.core.record_log import Logged
from meshpantry.store.verification import IDLE_CORES, idle_cores, worker_count

from .batch_checks import Failure, check_slice_packed, unpacked

log = logging.getLogger(__name__)

#: Below this many records a batch is checked on the node's thread (the
#: store's own pool): handing a slice to a process and taking it back costs
#: about a millisecond, a few records' worth.
MIN_RECORDS = 256

#: Seconds the one-minute load average remembers the workers' own load.
LOAD_WINDOW_S = 60.0

#: Records a session must have brought, to a node that held fewer when it
#: began (a new device), before its batches count as catching up: less than
#: one RECORDS frame (256 KiB, about 900 records of 290 bytes), so a new
#: device's first frame already goes to the workers (at 10,000 its first
#: 10,000 records were checked on the node's thread, about a second of one
#: core). A heal's sessions reach nodes that hold a neighbourhood's worth.
CATCH_UP_RECORDS = 512

#: Records per slice: large enough that the hand-off is noise, small enough
#: that the node ingests the first slice while the workers check the next
#: ones (a sync batch of 256 KiB holds about 700 records).
SLICE_RECORDS = 256


#: Records stored in one transaction at most when checked slices are
#: waiting (at about 12 µs a record, a pause of the node's loop of 100 ms).
#: Storing 30,000 checked records took 26.9 µs a record in transactions of
#: 256, 19.9 µs in transactions of 2,048; at 100,000 the log's id index is
#: larger and every commit writes most of its pages again: the log's rows
#: alone took 16.2 µs a record in transactions of 890, 14.4 in 2,048 and
#: 11.6 in 8,192.
STORE_RECORDS = 8_192

#: Records the node waits for before it stores, when a batch has that many
#: still to check: while the workers are slower than the store (two
#: processes checking, the node storing, on two cores) it took each slice
#: as it came, one transaction of 256 records at a time, each costing the
#: cores the workers need about as much as its 256 rows. Half the largest
#: transaction: the node's loop pauses about 50 ms a transaction, and a
#: transaction of 4,096 costs a record about 1.5 µs less than one of 2,048.
STORE_MIN_RECORDS = 4_096


#: Records a sync session takes in (and acknowledges) ahead of its store at
#: most: two of the largest store transactions (:data:`STORE_RECORDS`),
#: about two thirds of a second of both workers' checks. While the node
#: stores one group the workers check the records taken in after it; a
#: bound of one batch instead left them idle for most of a large batch's
#: store (a new device's catch-up arrived in batches of up to 28,000
#: records, each followed by a frame's worth taken in alone). A larger bound
#: only lengthens the store's tail after the last check.
STORE_AHEAD_RECORDS = 16_384


#: The main module a worker process is started with: none. A child of
#: multiprocessing runs the parent's main module again (by name, or by path
#: for a script), for the functions it may define; the checks live in
#: :mod:`.batch_checks`, and the node's main module is the command line.
_NO_MAIN = types.ModuleType("__main__")


class _WorkerProcess(ForkServerProcess):
    """A checking process: forked from the fork server, told of no main
    module to run again (see :data:`_NO_MAIN`)."""

    @staticmethod
    def _Popen(process_obj):  # type: ignore[no-untyped-def]
        # The start reads the main module from sys.modules; nothing else of
        # the node reads it (nothing is defined or pickled from it).
        main = sys.modules["__main__"]
        sys.modules["__main__"] = _NO_MAIN
        try:
            return ForkServerProcess._Popen(process_obj)
        finally:
            sys.modules["__main__"] = main


class _WorkerContext(ForkServerContext):
    """The fork server's context, its processes :class:`_WorkerProcess`."""

    Process = _WorkerProcess


def catching_up(received: int, held_at_start: int) -> bool:
    """Whether a session that has brought ``received`` records to a node
    that held ``held_at_start`` when it began is a new device catching up:
    the node held fewer than :data:`CATCH_UP_RECORDS` (next to nothing) and
    the session brought at least that many. A node that held a
    neighbourhood's worth and lacks more (a heal after a long cut) checks
    in the processes only with an idle core: twenty such nodes on two
    cores each started its fork server and pickled every record across, for
    no core to spare."""
    return received >= CATCH_UP_RECORDS and held_at_start < CATCH_UP_RECORDS


class CheckingProcesses:
    """The node's pool of checking processes, started on first use.
    ``min_idle_cores``: see :data:`IDLE_CORES`."""

    def __init__(self, workers: int | None = None, *, min_idle_cores: float = IDLE_CORES) -> None:
        self.workers = workers or worker_count()
        #: Idle cores a batch needs to go to the workers (``-inf``: always).
        self.min_idle_cores = min_idle_cores
        self._pool: ProcessPoolExecutor | None = None
        self._last_used = float("-inf")  #: time.monotonic() of the last batch checked
        #: key -> the last checks submitted with it (see :meth:`submit`)
        self._open: dict[object, Checks] = {}

    def wanted(self, records: int, *, catching_up: bool = False) -> bool:
        """Whether a batch of ``records`` is worth the worker processes now:
        always while ``catching_up``, else with an idle core. While the
        workers ran within the load average's minute, the load they made is
        counted as idle: it is this catch-up's own."""
        if records < MIN_RECORDS or self.workers == 1:
            return False
        if catching_up:
            return True
        own = self.workers if time.monotonic() - self._last_used < LOAD_WINDOW_S else 0
        return idle_cores(self.workers) + own >= self.min_idle_cores

    def prepare(self) -> None:
        """Start the fork server the workers fork from, without waiting for
        it (it imports the checks in its own process); nothing when there is
        one core. The workers themselves start with the first batch."""
        if self.workers > 1:
            _WorkerContext().set_forkserver_preload([check_slice_packed.__module__])
            forkserver.ensure_running()

    def _started(self) -> ProcessPoolExecutor:
        if self._pool is None:
            context = _WorkerContext()
            context.set_forkserver_preload([check_slice_packed.__module__])
            self._pool = ProcessPoolExecutor(self.workers, mp_context=context)
        return self._pool

    def submit(self, raws: Sequence[bytes], neighbourhood: bytes, now: int, *, key: object = None) -> "Checks":
        """Start checking ``raws`` in the workers, a slice per task, now;
        :meth:`Checks.groups` takes the results. Raises
        :class:`BrokenProcessPool` if the pool broke (it is then dropped).

        ``key`` (a session's peer): while the checks of the last batch
        submitted with the same key are still taken by their
        :meth:`Checks.groups`, with fewer than :data:`STORE_RECORDS` records
        not taken yet, this batch's slices join them (its own checks then
        yield nothing), so that the node stores what the workers checked of
        both in one transaction: a session taking in its records a frame at
        a time still stores them :data:`STORE_RECORDS` at a time (a
        transaction of 890 records cost 16 µs a record, of 8,192 11 µs, at
        100,000 records). The bound keeps one store from taking in a whole
        session: the session counts the batches its store has not begun as
        ahead of it (:data:`STORE_AHEAD_RECORDS`)."""
        pool = self._started()
        self._last_used = time.monotonic()
        try:
            slices = deque(
                (pool.submit(check_slice_packed, raws[start : start + SLICE_RECORDS], neighbourhood, now),
                 raws[start : start + SLICE_RECORDS])
                for start in range(0, len(raws), SLICE_RECORDS)
            )
        except BrokenProcessPool:
            self.close()
            raise
        before = self._open.get(key) if key is not None else None
        if before is not None and before.taking and before.backlog() < STORE_RECORDS:
            before._slices.extend(slices)
            return Checks(self, deque(), joined=before)
        checks = Checks(self, slices)
        if key is not None:
            self._open[key] = checks
            checks._key = key
        return checks

    def seal(self, key: object) -> None:
        """No later batch joins the checks submitted with ``key`` (the batch
        after them is stored on its own, in its turn)."""
        before = self._open.pop(key, None) if key is not None else None
        if before is not None:
            before.taking = False

    def _closed(self, checks: "Checks") -> None:
        if checks._key is not None and self._open.get(checks._key) is checks:
            del self._open[checks._key]

    async def check(
        self, raws: Sequence[bytes], neighbourhood: bytes, now: int,
    ) -> AsyncIterator[tuple[list[Logged], list[Failure]]]:
        """:meth:`submit` and :meth:`Checks.groups` in one."""
        checks = self.submit(raws, neighbourhood, now)
        try:
            async for group in checks.groups():
                yield group
        finally:
            checks.cancel()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        for checks in list(self._open.values()):
            checks.taking = False
        self._open.clear()


class Checks:
    """The checks of one batch (and of the batches that joined it, see
    :meth:`CheckingProcesses.submit`), running in the worker processes."""

    def __init__(
        self, owner: CheckingProcesses, slices: deque[tuple[Future, Sequence[bytes]]], *,
        joined: "Checks | None" = None,
    ) -> None:
        self._owner = owner
        self._slices = slices  #: (future, the raw records it checks), in order
        self._key: object = None
        #: The checks this batch's slices joined (they yield its records).
        self._joined = joined
        #: Slices submitted later may still join: :meth:`groups` has not
        #: ended nor been cancelled.
        self.taking = True
        self._ended = trio.Event()  #: set once :meth:`groups` ended or was cancelled

    async def groups(self) -> AsyncIterator[tuple[list[Logged], list[Failure]]]:
        """The slices checked (records that passed, failures), in order: the
        next slices making up :data:`STORE_MIN_RECORDS` (or all there are),
        with the slices after them that are checked already, up to
        :data:`STORE_RECORDS` records. Raises :class:`BrokenProcessPool` when
        the workers die; the pool is then dropped (the caller checks
        :meth:`unchecked` itself). The checks of a batch that joined an
        earlier one yield nothing, once that one's have ended."""
        if self._joined is not None:
            await self._joined._ended.wait()
        slices = self._slices
        try:
            while slices:
                # The first slices making up STORE_MIN_RECORDS (or all there
                # are): the node would only wait for them anyway.
                for future, _ in list(islice(slices, STORE_MIN_RECORDS // SLICE_RECORDS)):
                    if not future.done():
                        await trio.to_thread.run_sync(future.result, abandon_on_cancel=True)
                head = slices[0][0]
                records, failures = unpacked(head.result())
                slices.popleft()
                while slices and slices[0][0].done() and len(records) + SLICE_RECORDS <= STORE_RECORDS:
                    more, more_failures = unpacked(slices[0][0].result())
                    slices.popleft()
                    records.extend(more)
                    failures.extend(more_failures)
                yield records, failures
        except BrokenProcessPool:
            self._owner.close()
            raise
        finally:
            self._end()

    def _end(self) -> None:
        self.taking = False
        self._owner._closed(self)
        self._ended.set()

    @property
    def joined(self) -> bool:
        """Whether this batch's slices joined the checks of an earlier one."""
        return self._joined is not None

    def backlog(self) -> int:
        """Records of the slices not taken yet."""
        return sum(len(raws) for _, raws in self._slices)

    def unchecked(self) -> list[bytes]:
        """The raw records of the slices not taken yet (after the workers died)."""
        return [raw for _, raws in self._slices for raw in raws]

    def cancel(self) -> None:
        """Give up on the slices not taken yet."""
        self._end()
        for future, _ in self._slices:
            future.cancel()
        self._slices.clear()


@dataclass(frozen=True)
class Pending:
    """A batch of peers' records on its way in (see
    :meth:`meshpantry.node.runner.Node.ingest_soon`): ``store()`` stores it
    and says how many records were new; ``drop()`` gives up on it (either
    exactly once). ``joined``: its checks joined those of the batch before
    it (:meth:`CheckingProcesses.submit`), whose ``store()`` stores its
    records (its own only waits for that one's)."""

    store: Callable[[], Awaitable[int]]
    drop: Callable[[], None]
    joined: bool = False
