"""The outage clock on real node processes: an island's node records when
the outage began, and when a member returns, the catch-up ends in a
summary of what arrived while apart."""

from __future__ import annotations

import io
import json
import os
from contextlib import redirect_stderr, redirect_stdout

import pytest

from cli.main import main as cli_main
from simulations.processes import NodeProcess, eventually, free_port, make_neighbourhood

pytestmark = pytest.mark.timeout(120)


def cli(data_dir, *argv):
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = cli_main(["--data-dir", str(data_dir), *argv])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def quick_outage():
    """Nodes started here count one second alone as an outage."""
    os.environ["MESHPANTRY_OUTAGE_AFTER"] = "1"
    yield
    os.environ.pop("MESHPANTRY_OUTAGE_AFTER", None)


def test_an_island_records_its_outage_and_the_reunion_says_what_arrived(tmp_path, quick_outage):
    """
    House 0's node alone: outage begins (persisted, shown by status).
    House 1 writes offers, a recipe and a story on its own island, then its
    node starts and dials House 0: the outage ends, and House 0's status
    says what arrived while apart.
    """
    dirs = make_neighbourhood(tmp_path, 2)
    for a, b in ((0, 1), (1, 0)):  # they met before the outage
        assert cli(dirs[a], "bundle", "export", str(tmp_path / "met.mpb"))[0] == 0
        assert cli(dirs[b], "bundle", "import", str(tmp_path / "met.mpb"))[0] == 0
    alone = NodeProcess(dirs[0], free_port(), sync_interval=1.0)
    other = None
    try:
        alone.start()
        alone.wait_ready()
        outage = eventually(lambda: alone.call("status")["outage"]["in_outage"] and alone.call("status")["outage"],
                            30, "the outage clock starts")
        assert outage["began"] is not None and outage["ended"] is None
        code, out, _ = cli(dirs[0], "status")
        assert code == 0 and "ISLAND since" in out
        assert cli(dirs[0], "offer", "add", "milk", "2", "l", "--best-before", "+1d")[0] == 0
        code, out, _ = cli(dirs[0], "--json", "offer", "list")
        assert json.loads(out)["offers"][0]["outage_hours"] is not None  # beside the best-before of a perishable
        for argv in (("offer", "add", "bread", "2", "pc"), ("offer", "add", "apples", "3", "kg"),
                     ("recipe", "add", "Outage stew", "--tag", "born in the outage")):
            assert cli(dirs[1], *argv)[0] == 0
        recipe = json.loads(cli(dirs[1], "--json", "recipe", "list")[1])["recipes"][0]["id"]
        assert cli(dirs[1], "recipe", "story", recipe, "By candle light.")[0] == 0
        other = NodeProcess(dirs[1], free_port(), peers=[alone.address], sync_interval=1.0)
        other.start()
        other.wait_ready()

        def reunited():
            o = alone.call("status")["outage"]
            return o["ended"] is not None and (o["arrived"] or {}).get("stories") == 1 and o

        outage = eventually(reunited, 60, "the reunion's summary")
        assert outage["arrived"]["offers"] == 2 and outage["arrived"]["recipes"] == 1
        alone.stop()
        code, out, _ = cli(dirs[0], "status")  # the node stopped: read from the store
        assert "last outage" in out and "2 offers" in out and "1 recipe" in out and "1 story" in out
    finally:
        alone.stop()
        if other is not None:
            other.stop()
