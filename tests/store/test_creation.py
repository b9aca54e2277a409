"""A store is created whole or not at all.

A node killed while its store is being created (the first start after
``init``, a power cut during it) must start next time. SQLite creates the file
on connect and writes its first page with the first commit, so a kill in
between used to leave an empty file, which the next open took for a store
truncated to nothing (:class:`StoreDamaged`). The store is now built under a
staging name and renamed into place once its schema is committed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from meshpantry.core.chain import next_record
from meshpantry.store import Store
from meshpantry.store.database import CREATING_SUFFIX, DB_FILE
from meshpantry.store.errors import StoreDamaged
from tests.core.records import keypair

ROOT = Path(__file__).resolve().parents[2]

#: A child that opens a new store and is killed (SIGKILL, by itself) at the
#: moment named on its command line: before the migrations run, or after the
#: first of them committed.
_KILLED_WHILE_CREATING = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from meshpantry.store import Store, migrations

    moment = sys.argv[2]
    real = migrations.migrate

    def migrate(conn, now):
        if moment == "before":
            os.kill(os.getpid(), signal.SIGKILL)
        real(conn, now, migrations.MIGRATIONS[:1])  # committed
        os.kill(os.getpid(), signal.SIGKILL)

    migrations.migrate = migrate
    Store.open(Path(sys.argv[1]))
""")


def _kill_while_creating(directory: Path, moment: str) -> None:
    child = subprocess.run(
        [sys.executable, "-c", _KILLED_WHILE_CREATING, str(directory), moment],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, timeout=60,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr.decode(errors="replace")


@pytest.mark.parametrize("moment", ["before", "after"])
def test_a_store_killed_while_being_created_opens_next_time(tmp_path: Path, moment: str):
    directory = tmp_path / "node"
    _kill_while_creating(directory, moment)
    assert not (directory / DB_FILE).exists()  # nothing where the store goes

    public, secret = keypair(1)
    with Store.open(directory) as store:
        assert store._conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        genesis = next_record(secret, store.own_head(public), neighbourhood=b"", kind="neighbourhood",
                              body={"name": "Crash Street"}, now=0)
        store.append_own(genesis)
    with Store.open(directory) as store:
        assert len(list(store.chain(public))) == 1
    leftovers = [p.name for p in directory.iterdir() if CREATING_SUFFIX in p.name]
    assert leftovers == []


def test_an_empty_store_file_is_still_damage(tmp_path: Path):
    """Creating whole does not weaken the check: an empty file where a store
    was is reported, not silently replaced by a new store."""
    directory = tmp_path / "node"
    Store.open(directory).close()
    (directory / DB_FILE).write_bytes(b"")
    with pytest.raises(StoreDamaged, match="0 bytes"):
        Store.open(directory)
