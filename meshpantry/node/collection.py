"""The node process's garbage collection: a young collection every
:data:`YOUNG_ALLOCATIONS` container allocations instead of CPython's 700.

Why: a node taking in a large sync (a new device joining a neighbourhood of
100,000 records) makes a few small objects a record on its trio thread, and
keeps thousands of them through each store transaction. At CPython's
threshold they outlived two young collections, reached the oldest
generation, and each time it had grown by a quarter a full collection went
through the whole heap: seven of about 60 ms in one catch-up, with the young
ones 0.45 s of the trio thread's 2.5 s (measured with ``gc.callbacks`` and
the thread's CPU clock). At 50,000 the same catch-up made three young
collections and no full one, and the views' first fold after it two full
collections instead of eighteen. Garbage in reference cycles waits longer
for its collection: at most 50,000 allocations' worth, a few megabytes.
"""

from __future__ import annotations

import gc

#: Container allocations (less deallocations) between young collections.
YOUNG_ALLOCATIONS = 50_000


def tune() -> None:
    """Collect the young generation every :data:`YOUNG_ALLOCATIONS`
    allocations; the older generations keep their thresholds (counted in
    collections of the generation below)."""
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_ALLOCATIONS, middle, oldest)
