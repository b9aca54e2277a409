"""A child process for the crash test: writes own records until it is killed.

Run as ``python -m tests.store.crash_writer DATA_DIR``. It opens (creating if
needed) the store in DATA_DIR, founds a neighbourhood on the first run, then
appends records to device 1's chain forever, printing each record's id in hex
on its own line right after :meth:`Store.append_own` returns. A printed id is
an acknowledged write: it must survive any kill.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from meshpantry.core.chain import next_record
from meshpantry.store import Store
from tests.core.records import keypair

#: Device 1 is the founder of the crash test's neighbourhood.
CRASH_DEVICE = 1


def main(directory: Path) -> None:
    public, secret = keypair(CRASH_DEVICE)
    store = Store.open(directory)
    head = store.own_head(public)
    if head.seq == 0:
        genesis = next_record(
            secret, head, neighbourhood=b"", kind="neighbourhood",
            body={"name": "Crash Street"}, now=int(time.time() * 1000),
        )
        store.append_own(genesis)
        print(genesis.id.hex(), flush=True)
        head = head.after(genesis)
    hood = store.neighbourhood
    assert hood is not None
    while True:
        record = next_record(
            secret, head, neighbourhood=hood, kind="offer",
            body={"item": "bread", "quantity": head.seq + 1, "unit": "loaves"},
            now=int(time.time() * 1000),
        )
        store.append_own(record)
        print(record.id.hex(), flush=True)
        head = head.after(record)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
