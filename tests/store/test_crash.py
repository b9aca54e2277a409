"""Crash safety: SIGKILL a writer at random moments; nothing acknowledged is lost.

    parent                          child (tests.store.crash_writer)
      | spawn ------------------------> open store, append_own, print id, loop
      | (wait a seeded random moment)
      | SIGKILL ----------------------> dies mid-anything
      | read the printed ids
      | open the store: integrity ok, every printed id present,
      |   chain 1..n without gap or fork, next append is seq n+1
      | repeat

Half of the kills wait for the first acknowledged write before the random
delay, so they land in the append loop; the others land anywhere, including
during start-up, database creation and migrations.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from meshpantry.core.chain import next_record
from meshpantry.store import Store
from meshpantry.store.database import DB_FILE
from protocol import decode_and_verify
from tests.core.records import keypair
from tests.store.crash_writer import CRASH_DEVICE

ROOT = Path(__file__).resolve().parents[2]

#: Upper bound of the random delay before a kill, in seconds: long enough to
#: reach the write loop, short enough that 20 rounds fit in a few seconds.
MAX_DELAY_S = 0.25


def crash_once(directory: Path, rng: random.Random) -> list[str]:
    """Run the writer, kill it at a random moment, return the acknowledged ids."""
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.store.crash_writer", str(directory)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    acked: list[bytes] = []
    try:
        if rng.random() < 0.5:
            first = child.stdout.readline()  # the loop is running
            acked.append(first)
        time.sleep(rng.uniform(0, MAX_DELAY_S))
        child.send_signal(signal.SIGKILL)
        out, err = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL, err.decode(errors="replace")
    lines = b"".join(acked + [out]).split(b"\n")
    return [line.decode() for line in lines[:-1]]  # the last piece is unterminated


def check_after_crash(directory: Path, acknowledged: set[str]) -> int:
    """Check the store after a kill; return the chain length."""
    public, secret = keypair(CRASH_DEVICE)
    db_file = directory / DB_FILE
    if not db_file.exists():
        assert not acknowledged  # killed before the first write
        return 0
    with Store.open(directory) as store:
        assert store._conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        chain = [decode_and_verify(raw) for raw in store.chain(public)]
        held = {r.id.hex() for r in chain}
        assert acknowledged <= held, f"lost {len(acknowledged - held)} acknowledged records"
        assert [r.seq for r in chain] == list(range(1, len(chain) + 1)), "gap or fork"
        assert all(r.prev == p.id for p, r in zip(chain, chain[1:])), "broken prev link"
        if not chain:
            return 0
        # The next write continues at head + 1.
        head = store.own_head(public)
        assert (head.seq, head.id) == (len(chain), chain[-1].id)
        record = next_record(
            secret, head, neighbourhood=store.neighbourhood, kind="offer",
            body={"item": "check", "quantity": 1, "unit": "loaves"}, now=0,
        )
        store.append_own(record)
        return len(chain) + 1


def run_crashes(directory: Path, kills: int, seed: int) -> int:
    rng = random.Random(seed)
    acknowledged: set[str] = set()
    length = 0
    for round_ in range(kills):
        acknowledged.update(crash_once(directory, rng))
        try:
            length = check_after_crash(directory, acknowledged)
        except AssertionError as exc:
            raise AssertionError(f"seed {seed}, kill {round_ + 1}: {exc}") from exc
    return length


def test_twenty_kills_lose_nothing_acknowledged(tmp_path: Path):
    length = run_crashes(tmp_path / "node", kills=20, seed=20)
    assert length > 20  # the writer made progress between kills


@pytest.mark.slow
def test_two_hundred_kills_lose_nothing_acknowledged(tmp_path: Path):
    length = run_crashes(tmp_path / "node", kills=200, seed=200)
    assert length > 200
