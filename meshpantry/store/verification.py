"""Decoding and signature verification spread over the machine's cores.

Ed25519 verification is most of the cost of ingesting a record; decoding is
most of the rest. PyNaCl releases the GIL inside libsodium, so threads verify
in parallel. Each worker thread decodes *and* verifies its records one after
the other: a thread holds the GIL for one decode (~30 us) and then lets go of it
for one verification, so while one thread decodes the others verify, and no
thread waits long for the GIL. (A design where the calling thread decoded
whole chunks while workers only verified stalls the workers: each needs the
GIL back after every libsodium call, and a thread busy in Python keeps it for
the interpreter's whole switch interval, 5 ms.)

Small batches are checked on the calling thread: the hand-off to a worker
costs about as much as one signature check.

Threads only pay when there are idle cores. On a machine already busier than
its cores, a thread holding the GIL gets descheduled and every other thread
waits on it: measured on the 2-core build machine under others' load, one
thread ingested 20-80% *faster* than two, while on the idle machine two threads
were ~1.6x faster than one. So by default (:class:`ModeChoice`) the pool times
large batches both ways and keeps to the cheaper, trying the other now and
then as the load changes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from protocol import Record, decode_record, limits, verify_record
from protocol.errors import RemoteError

from .errors import FromTheFuture

#: Below this many records a batch is checked on the calling thread.
PARALLEL_MIN_RECORDS = 64

#: Records per task handed to a worker: large enough that the hand-off is
#: noise, small enough that the tasks spread evenly over the workers.
CHUNK_RECORDS = 64


def worker_count() -> int:
    """One checking thread per core this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True, slots=True)
class Checked:
    """The outcome for one raw record: exactly one of ``record`` and ``error``."""

    index: int  #: the caller's key for the raw record (its position in the batch)
    record: Record | None
    error: RemoteError | None
    record_id: bytes | None  #: known once the record decoded


def check(index: int, raw: bytes, horizon: int) -> Checked:
    """Decode ``raw``, bound its time by ``horizon`` (ms) and verify its signature."""
    try:
        record = decode_record(raw)
    except RemoteError as exc:
        return Checked(index, None, exc, None)
    if record.time > horizon:
        now = horizon - limits.MAX_FUTURE_SKEW_MS
        error = FromTheFuture(record.id, record.time, now, limits.MAX_FUTURE_SKEW_MS)
        return Checked(index, None, error, record.id)
    try:
        verify_record(record)
    except RemoteError as exc:
        return Checked(index, None, exc, record.id)
    return Checked(index, record, None, record.id)


def _check_chunk(items: Sequence[tuple[int, bytes]], horizon: int) -> list[Checked]:
    return [check(index, raw, horizon) for index, raw in items]


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
        """Where a batch of ``records`` should be checked."""
        if records < PARALLEL_MIN_RECORDS or self.workers == 1:
            return INLINE
        return self.choice.choose() if self.choice is not None else THREADS

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
        self, items: Sequence[tuple[int, bytes]], horizon: int, mode: str = THREADS
    ) -> Iterator[list[Checked]]:
        """Check every (index, raw) pair; yield the outcomes in the same order,
        a chunk at a time, so the caller can act on the first chunks while the
        workers check the rest.

        ``horizon`` is the latest record time accepted (ms). ``mode`` (from
        :meth:`mode_for`) says whether to spread the work over the worker
        threads; small batches and single-worker pools stay inline anyway.
        """
        if mode == INLINE or len(items) < PARALLEL_MIN_RECORDS or self.workers == 1:
            yield _check_chunk(items, horizon)
            return
        executor = self._started()
        futures = [
            executor.submit(_check_chunk, items[start : start + CHUNK_RECORDS], horizon)
            for start in range(0, len(items), CHUNK_RECORDS)
        ]
        for future in futures:
            yield future.result()

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
