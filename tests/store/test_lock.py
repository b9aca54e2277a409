"""One writer per data directory; readers need no lock; a dead writer frees it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from meshpantry.store import ReadOnlyStore, Store, StoreLocked, StoreMissing

ROOT = Path(__file__).resolve().parents[2]

SECOND_WRITER = """
import sys
from meshpantry.store import Store, StoreLocked
try:
    Store.open(sys.argv[1])
except StoreLocked as exc:
    print(exc.pid, exc, sep="\\n")
    sys.exit(3)
sys.exit(0)
"""

HOLDER = """
import sys, time
from meshpantry.store import Store
store = Store.open(sys.argv[1])
print("holding", flush=True)
time.sleep(60)
"""


def python(code: str, *args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def test_a_second_writer_in_another_process_is_told_who_holds_the_store(tmp_path: Path):
    with Store.open(tmp_path):
        child = python(SECOND_WRITER, str(tmp_path))
        out, err = child.communicate(timeout=60)
    assert child.returncode == 3, err
    pid, message = out.splitlines()
    assert int(pid) == os.getpid()
    assert message == (
        f"another meshpantry process (pid {os.getpid()}) is using {tmp_path}; "
        "stop it or talk to it through its node"
    )


def test_a_killed_writer_leaves_no_stale_lock(tmp_path: Path):
    holder = python(HOLDER, str(tmp_path))
    try:
        assert holder.stdout.readline().strip() == "holding"
        with pytest.raises(StoreLocked) as caught:
            Store.open(tmp_path)
        assert caught.value.pid == holder.pid
        with Store.open(tmp_path, writer=False) as reader:  # readers need no lock
            assert reader.count() == 0
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    with Store.open(tmp_path) as store:
        assert store.writer


def test_a_second_writer_in_the_same_process_is_refused_too(tmp_path: Path):
    with Store.open(tmp_path):
        with pytest.raises(StoreLocked):
            Store.open(tmp_path / "meshpantry.sqlite3")
    Store.open(tmp_path).close()


def test_readers_cannot_write_and_need_an_existing_database(tmp_path: Path):
    with pytest.raises(StoreMissing):
        Store.open(tmp_path / "nothing", writer=False)
    Store.open(tmp_path).close()
    with Store.open(tmp_path, writer=False) as reader:
        for attempt in (
            lambda: reader.set_setting("x", 1),
            lambda: reader.ingest([], now=0),
            lambda: reader.block(b"x" * 32),
            lambda: reader.remember_peer("p", [], 0),
        ):
            with pytest.raises(ReadOnlyStore):
                attempt()
