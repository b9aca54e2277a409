"""Steps 1-4 of the ingest pipeline for a batch, the signatures spread over the cores.

The checks and their order are :mod:`meshpantry.core.ingest`'s: decode
(:func:`protocol.decode_record`), then neighbourhood and time bound
(:func:`~meshpantry.core.ingest.check_decoded`) on the calling thread, then the signature
(:func:`~meshpantry.core.ingest.check_signature`) on worker threads.

Ed25519 verification is most of the cost of ingesting a record; decoding is
most of the rest. PyNaCl releases the GIL inside libsodium, so threads verify
in parallel. The calling thread decodes the whole batch first (pure Python,
GIL-bound), then worker threads verify it chunk by chunk while the caller
admits and stores the chunks already verified. A verifying worker holds the
GIL only for the few microseconds around each libsodium call, so the workers
hardly contend.

Two other layouts were measured on the shared 2-core build machine and lost:
workers that each decode *and* verify (medians 15-25% lower, and far less
steady under load: a worker descheduled mid-decode holds the GIL while the
others wait), and a caller that decodes while the workers verify (the workers
stall: each needs the GIL back after every libsodium call, and a thread busy in
Python keeps it for up to the switch interval, 5 ms).

Small batches are checked on the calling thread: the hand-off to a worker
costs about as much as one signature check.

Threads only pay when there are idle cores. On a machine already busier than
its cores, one thread sometimes ingested faster than two, and every hand-off
costs CPU: in a heal of twenty nodes on two cores, waking the workers and
taking their chunks back (``Condition.notify``, ``submit``) was 8% of
the nodes' GIL time. So by default large batches are checked inline while
the load average leaves no core idle; with one idle, the pool
(:class:`ModeChoice`) times large batches both ways and keeps to the
cheaper, trying the other now and then as the load changes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from meshpantry.core.ingest import check_decoded, check_signature
from protocol import Record, decode_record
from protocol.errors import RemoteError

#: Below this many records a batch is checked on the calling thread.
PARALLEL_MIN_RECORDS = 64

#: Records per task handed to a worker: large enough that the hand-off is
#: noise, small enough that the tasks spread evenly over the workers.
CHUNK_RECORDS = 64


def worker_count() -> int:
    """One checking thread (or process) per core this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


#: Cores that must be idle (cores minus the one-minute load average) before
#: a large batch is checked off the calling thread, here on threads and in
#: the node's checking processes (:mod:`meshpantry.node.checking`).
IDLE_CORES = 1.0


def idle_cores(cores: int) -> float:
    """Cores not in use by the one-minute load average (all when unknown)."""
    try:
        return cores - os.getloadavg()[0]
    except OSError:
        return float(cores)


@dataclass(frozen=True, slots=True)
class Checked:
    """The outcome for one raw record: exactly one of ``record`` and ``error``."""

    index: int  #: the caller's key for the raw record (its position in the batch)
    record: Record | None
    error: RemoteError | None
    record_id: bytes | None  #: known once the record decoded


def decode(index: int, raw: bytes, neighbourhood: bytes, now: int) -> Checked:
    """Steps 1-3 for ``raw`` (decode, neighbourhood, time bound by ``now``, the
    receiver's clock in ms); the signature is not checked yet."""
    try:
        record = decode_record(raw)
    except RemoteError as exc:
        return Checked(index, None, exc, None)
    try:
        check_decoded(record, neighbourhood=neighbourhood, now=now)
    except RemoteError as exc:
        return Checked(index, None, exc, record.id)
    return Checked(index, record, None, record.id)


def _verify_chunk(decoded: Sequence[Checked]) -> list[Checked]:
    """``decoded`` with each record whose signature fails turned into its error."""
    out = []
    for checked in decoded:
        record = checked.record
        if record is not None:
            try:
                check_signature(record)
            except RemoteError as exc:
                checked = Checked(checked.index, None, exc, record.id)
        out.append(checked)
    return out


THREADS = "threads"
INLINE = "inline"

#: Every this many large batches the mode out of favour is tried again, so the
#: choice follows the machine's load; it costs at most one batch in eight.
RETRY_EVERY = 8

#: Weight of the newest batch in a mode's running cost per record: recent
#: enough to follow a change of load within a few batches.
COST_WEIGHT = 0.3


class ModeChoice:
    """Chooses where large batches are checked, from their measured cost.

    Each mode's cost is a running average of seconds per record over the
    batches it ran. Each mode runs once first; then the cheaper one runs,
    except every ``RETRY_EVERY``-th large batch, which runs the other.
    """

    def __init__(self) -> None:
        self.cost: dict[str, float | None] = {THREADS: None, INLINE: None}
        self.batches = 0

    def choose(self) -> str:
        self.batches += 1
        for mode, cost in self.cost.items():
            if cost is None:
                return mode
        best = min(self.cost, key=lambda mode: self.cost[mode])  # type: ignore[arg-type]
        if self.batches % RETRY_EVERY == 0:
            return INLINE if best == THREADS else THREADS
        return best

    def observe(self, mode: str, records: int, seconds: float) -> None:
        """Fold in one batch of ``records`` that took ``seconds`` in ``mode``."""
        per_record = seconds / max(1, records)
        old = self.cost[mode]
        self.cost[mode] = per_record if old is None else old + COST_WEIGHT * (per_record - old)


class VerifierPool:
    """Worker threads shared by every ingest of one store; created on first use.

    ``workers=None`` runs one thread per core and lets :class:`ModeChoice`
    decide per large batch between them and the calling thread; a number fixes
    the thread count (1: always the calling thread).
    """

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or worker_count()
        self.choice = ModeChoice() if workers is None and self.workers > 1 else None
        self._executor: ThreadPoolExecutor | None = None

    def mode_for(self, records: int) -> str:
        """Where a batch of ``records`` should be checked: inline when the
        load average leaves no core idle (see the module doc), else as
        :class:`ModeChoice` finds cheaper."""
        if records < PARALLEL_MIN_RECORDS or self.workers == 1:
            return INLINE
        if self.choice is None:
            return THREADS
        if idle_cores(self.workers) < IDLE_CORES:
            return INLINE
        return self.choice.choose()

    def observe(self, mode: str, records: int, seconds: float) -> None:
        """Report how long a batch checked in ``mode`` took, start to end."""
        if self.choice is not None and records >= PARALLEL_MIN_RECORDS:
            self.choice.observe(mode, records, seconds)

    def _started(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                max_workers=self.workers, thread_name_prefix="meshpantry-verify"
            )
        return self._executor

    def check_all(
        self,
        items: Sequence[tuple[int, bytes]],
        neighbourhood: bytes,
        now: int,
        mode: str = THREADS,
    ) -> Iterator[list[Checked]]:
        """Check every (index, raw) pair: decode them all on the calling
        thread, then verify; yield the outcomes in the same order, a chunk at a
        time, so the caller can act on the first chunks while the workers
        verify the rest.

        ``neighbourhood`` and ``now`` (the receiver's clock, ms) are what
        steps 2 and 3 check against. ``mode`` (from
        :meth:`mode_for`) says whether to spread the work over the worker
        threads; small batches and single-worker pools stay inline anyway.
        """
        decoded = [decode(index, raw, neighbourhood, now) for index, raw in items]
        chunks = [
            decoded[start : start + CHUNK_RECORDS] for start in range(0, len(decoded), CHUNK_RECORDS)
        ]
        if mode == INLINE or len(items) < PARALLEL_MIN_RECORDS or self.workers == 1:
            for chunk in chunks:
                yield _verify_chunk(chunk)
            return
        executor = self._started()
        futures = [executor.submit(_verify_chunk, chunk) for chunk in chunks]
        for future in futures:
            yield future.result()

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
