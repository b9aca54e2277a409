"""Start-up races over the store's writer lock, with real processes.

    short command ──holds the lock──┐
    meshpantry node ────waits───────┴──▶ opens the store, serves
    meshpantry status ── reads, never takes the lock
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cli.main import main
from cli.tui.node_process import node_command, stop_node, wait_for_socket_blocking
from meshpantry.pantry import Pantry

ROOT = Path(__file__).resolve().parents[2]

#: A process that holds the writer lock (as a short command does) for argv[2]
#: seconds, or until its stdin closes.
HOLDER = (
    "import select, sys\n"
    "from meshpantry.pantry import Pantry\n"
    "pantry = Pantry.open(sys.argv[1])\n"
    "print('held', flush=True)\n"
    "select.select([sys.stdin], [], [], float(sys.argv[2]))\n"
    "pantry.close()\n"
)


def hold_lock(data_dir: Path, seconds: float) -> subprocess.Popen:
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(data_dir), str(seconds)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return holder


@pytest.fixture
def household_dir(tmp_path) -> Path:
    data_dir = tmp_path / "rowan"
    Pantry.create(data_dir, "Rowan").close()
    return data_dir


def test_node_waits_for_a_short_command_and_refuses_a_second_node(household_dir):
    """A node started while a command holds the lock waits for it (saying so)
    and starts once it is free; a second node on the same directory is
    refused at once."""
    holder = hold_lock(household_dir, 60)
    argv = node_command(household_dir, ("--network", "loopback", "--listen", "127.0.0.1:0", "--no-mdns"))
    node = subprocess.Popen(argv, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, cwd=ROOT)
    try:
        assert node.stderr is not None
        said = node.stderr.readline().decode()
        assert "waiting up to" in said and "to finish with" in said, said
        assert node.poll() is None, "the node gave up instead of waiting"
        holder.stdin.close()  # the short command ends
        holder.wait(10)
        wait_for_socket_blocking(household_dir, node)
        second = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, timeout=60)
        assert second.returncode == 5 and "already running" in second.stderr, second.stderr
    finally:
        stop_node(node)
        holder.kill()
        holder.wait()


def test_reading_commands_never_take_the_writer_lock(household_dir, capsys):
    """`status` and `whoami` while another process (a starting node) holds the
    lock answer at once from a reader connection."""
    holder = hold_lock(household_dir, 60)
    try:
        for command in ("status", "whoami"):
            code = main(["--data-dir", str(household_dir), command, "--json"])
            out, err = capsys.readouterr()
            assert code == 0 and "Rowan" in out and "waiting" not in err, err
    finally:
        holder.kill()
        holder.wait()


def test_writing_commands_wait_for_the_lock(household_dir, capsys):
    """A write while another command holds the lock waits for it, saying so, then succeeds."""
    holder = hold_lock(household_dir, 1.0)
    try:
        code = main(["--data-dir", str(household_dir), "neighbourhood", "create", "Rowan Row"])
        out, err = capsys.readouterr()
    finally:
        holder.kill()
        holder.wait()
    assert code == 0 and "Founded Rowan Row" in out, err
    assert "waiting up to" in err
