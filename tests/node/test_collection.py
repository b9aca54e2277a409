"""The node process collects garbage in young generations of 50,000
allocations (see meshpantry/node/collection.py)."""

from __future__ import annotations

import gc

from meshpantry.node import collection


def test_a_node_collects_its_young_generation_every_50000_allocations():
    """Only the youngest threshold changes: the older generations are still
    collected after as many collections of the one below as before."""
    before = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        collection.tune()
        assert gc.get_threshold() == (collection.YOUNG_ALLOCATIONS, 10, 10) == (50_000, 10, 10)
    finally:
        gc.set_threshold(*before)


def test_the_node_command_tunes_collection_before_it_runs_the_node(tmp_path, monkeypatch):
    """``meshpantry node`` sets the threshold before trio runs the node (the
    tests' in-process nodes keep the test run's own)."""
    import io
    from contextlib import redirect_stdout

    from cli.main import main as cli_main
    from meshpantry.node import command

    with redirect_stdout(io.StringIO()):
        assert cli_main(["--data-dir", str(tmp_path), "init", "--household", "Ada"]) == 0
    seen: list[tuple[int, int, int]] = []

    def run(*_args):
        seen.append(gc.get_threshold())

    monkeypatch.setattr(command.trio, "run", run)
    before = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        argv = ["--data-dir", str(tmp_path), "node", "--network", "loopback", "--listen", "127.0.0.1:0", "--no-mdns"]
        assert cli_main(argv) == 0
    finally:
        gc.set_threshold(*before)
    assert seen == [(50_000, 10, 10)]
