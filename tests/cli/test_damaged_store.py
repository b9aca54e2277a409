"""A damaged store stops every command with the file named and what to do
(exit 7), the node included; ``meshpantry repair`` brings it back from the
records that verify."""

from __future__ import annotations

import random
import subprocess
import sys

from meshpantry.exit_codes import ExitCode
from meshpantry.pantry import Pantry
from meshpantry.store.database import DB_FILE
from tests.tui.nodes import LOOPBACK_ARGS

PAGE = 4096


def scramble_a_page_of_offers(founded) -> None:
    pantry = Pantry.open(founded.data_dir)
    try:
        offers = [pantry.offer_add(f"jar {i}", 1, "jar") for i in range(200)]
        needle = pantry.store._conn.execute(
            "SELECT raw FROM records WHERE id = ?", (bytes.fromhex(offers[100]["id"]),)
        ).fetchone()[0]
    finally:
        pantry.close()
    db = founded.data_dir / DB_FILE
    data = bytearray(db.read_bytes())
    start = data.index(needle) // PAGE * PAGE
    data[start : start + PAGE] = random.Random(3).randbytes(PAGE)
    db.write_bytes(bytes(data))


def test_every_command_refuses_a_scrambled_page_and_repair_mends_it(founded):
    scramble_a_page_of_offers(founded)
    # A writer checks the whole file first and refuses.
    code, out, err = founded.run("offer", "add", "plums", "1", "kg")
    assert code == ExitCode.DAMAGED, err
    assert str(founded.data_dir / DB_FILE) in err and "meshpantry repair" in err
    assert "Traceback" not in err and "nothing acknowledged was lost" not in err
    # A reader does not check the file (a read-only command stays fast): it
    # answers from the pages it can read, or refuses the same way, never with a
    # traceback.
    code, out, err = founded.run("offer", "list", "--all-pages")
    assert "Traceback" not in err
    assert code == 0 or (code == ExitCode.DAMAGED and "meshpantry repair" in err), err
    report = founded.json("repair")
    assert report["kept"] > 150 and report["unreadable_rows"] + report["dropped"] > 0
    assert len(founded.json("log", "--all-pages")["records"]) == report["kept"] == report["logged"]
    # The chain counts up to the gap the lost page left, until a neighbour fills it.
    assert 0 < len(founded.json("offer", "list", "--all-pages")["offers"]) < report["kept"]
    # Its own records may have been on the lost page: it fetches them from a
    # neighbour before writing again, and never reuses a seq.
    code, _, err = founded.run("offer", "add", "plums", "1", "kg")
    assert code == ExitCode.REFUSED and "recover its own chain" in err


def test_a_store_truncated_to_nothing_is_refused_not_started_afresh(founded):
    (founded.data_dir / DB_FILE).write_bytes(b"")
    code, _, err = founded.run("offer", "list")
    assert code == ExitCode.DAMAGED and "0 bytes" in err and "meshpantry repair" in err


def test_the_node_refuses_to_start_on_a_damaged_store(founded):
    scramble_a_page_of_offers(founded)
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "--data-dir", str(founded.data_dir), "node", *LOOPBACK_ARGS],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == ExitCode.DAMAGED, done.stderr
    assert "meshpantry repair" in done.stderr and "Traceback" not in done.stderr


def test_a_reading_command_brings_views_the_writer_left_behind_up_to_date(pair):
    """A bulk ingest (a large sync or a repair) leaves the views to grow at the
    next read; a reading command opens the store read-only and cannot grow
    them, so it asks again as the writer instead of failing with exit 5."""
    okafors, zhengs = pair
    pantry = Pantry.open(okafors.data_dir)
    try:
        for i in range(120):  # far more than the views grow inside one ingest
            pantry.offer_add(f"jar {i}", 1, "jar")
    finally:
        pantry.close()
    zhengs.receive(okafors.records())
    code, out, err = zhengs.run("offer", "list", "--all-pages", "--json")
    assert code == 0, err
    assert out.count('"jar ') == 120
