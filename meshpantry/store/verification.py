"""Signature verification spread over the machine's cores.

Ed25519 verification is most of the cost of ingesting a record (LIBP2P-NOTES.md:
~85% of the whole path). PyNaCl releases the GIL inside libsodium, so plain
threads verify in parallel while the calling thread goes on decoding the next
records. :class:`Verifier` hands out chunks as they are decoded
(:meth:`Verifier.submit`) and gathers the failures at the end
(:meth:`Verifier.failures`). Small batches are verified inline: starting
threads costs more than it saves.
"""

from __future__ import annotations

import os
import sys
from concurrent.futures import Future, ThreadPoolExecutor

from protocol import BadSignature, Record, verify_record

#: Below this many records a batch is verified on the calling thread: the
#: hand-off to a worker costs ~50 us, about one signature check.
PARALLEL_MIN_RECORDS = 64

#: The interpreter's thread switch interval while workers verify, in seconds.
#: A worker needs the GIL back after every libsodium call; with the default
#: 5 ms the decoding thread keeps it that long, so the workers would crawl until
#: decoding ends. 0.2 ms lets them keep pace at the cost of more switches.
VERIFY_SWITCH_INTERVAL_S = 0.0002

#: Records per task handed to a worker: large enough that the hand-off is noise,
#: small enough that the calling thread's decoding overlaps the first tasks.
CHUNK_RECORDS = 128


def worker_count() -> int:
    """One verifying thread per core this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _verify_chunk(items: list[tuple[int, Record]]) -> list[tuple[int, BadSignature]]:
    failed = []
    for key, record in items:
        try:
            verify_record(record)
        except BadSignature as exc:
            failed.append((key, exc))
    return failed


class VerifierPool:
    """Worker threads shared by every ingest of one store; created on first use."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or worker_count()
        self._executor: ThreadPoolExecutor | None = None

    def executor(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                max_workers=self.workers, thread_name_prefix="meshpantry-verify"
            )
        return self._executor

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None


class Verifier:
    """Verification of one batch.

    ``parallel`` decides whether :meth:`submit` hands chunks to ``pool`` or
    queues them for :meth:`failures` to check on the calling thread.
    """

    def __init__(self, pool: VerifierPool, *, parallel: bool) -> None:
        self._pool = pool
        self._parallel = parallel and pool.workers > 1
        self._pending: list[tuple[int, Record]] = []
        self._futures: list[Future] = []
        self._saved_interval: float | None = None

    def submit(self, key: int, record: Record) -> None:
        """Queue ``record`` for checking; ``key`` names it in :meth:`failures`."""
        self._pending.append((key, record))
        if self._parallel and len(self._pending) >= CHUNK_RECORDS:
            self._flush()

    def _flush(self) -> None:
        if self._saved_interval is None:
            self._saved_interval = sys.getswitchinterval()
            sys.setswitchinterval(min(self._saved_interval, VERIFY_SWITCH_INTERVAL_S))
        chunk, self._pending = self._pending, []
        self._futures.append(self._pool.executor().submit(_verify_chunk, chunk))

    def failures(self) -> dict[int, BadSignature]:
        """Wait for every submitted record; return {key: error} of those whose
        signature does not verify."""
        try:
            failed = _verify_chunk(self._pending)
            self._pending = []
            for future in self._futures:
                failed.extend(future.result())
            self._futures = []
        finally:
            if self._saved_interval is not None:
                sys.setswitchinterval(self._saved_interval)
                self._saved_interval = None
        return dict(failed)
