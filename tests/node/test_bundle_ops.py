"""Bundles with the node running: export and import go through the control
socket (the node holds the store), and a refusal comes back typed."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stderr, redirect_stdout

import pytest

from cli.main import main as cli_main
from meshpantry.exit_codes import ExitCode
from simulations.processes import make_neighbourhood, start_mesh

pytestmark = pytest.mark.timeout(120)


def cli(data_dir, *argv):
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = cli_main(["--data-dir", str(data_dir), *argv])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def island(tmp_path_factory):
    """House 0's node runs; House 1 is on another island, its node stopped."""
    root = tmp_path_factory.mktemp("bundles")
    dirs = make_neighbourhood(root, 2)
    code, _, err = cli(dirs[0], "bundle", "export", str(root / "founding.mpb"))
    assert code == 0, err
    assert cli(dirs[1], "bundle", "import", str(root / "founding.mpb"))[0] == 0
    (node,) = start_mesh(dirs[:1])
    yield node, dirs[1], root
    node.stop()


def test_a_running_node_imports_and_answers_a_bundle(island):
    node, away, root = island
    assert cli(away, "offer", "add", "apples", "3", "kg")[0] == 0
    code, out, err = cli(away, "--json", "bundle", "export", str(root / "away.mpb"))
    assert code == 0, err
    code, out, err = cli(node.data_dir, "--json", "bundle", "import", str(root / "away.mpb"))
    assert code == 0, err
    assert json.loads(out)["new_by_kind"]["offer"] == 1
    assert any(o["item"] == "apples" for o in node.call("offer_list"))
    node.call("offer_add", item="pears", quantity=2, unit="kg")
    code, out, err = cli(node.data_dir, "--json", "bundle", "export", str(root / "back.mpb"), "--for", str(root / "away.mpb"))
    assert code == 0, err
    assert json.loads(out)["records"] == 1  # the pears: all House 1 lacks
    code, out, err = cli(away, "--json", "bundle", "import", str(root / "back.mpb"))
    assert code == 0 and json.loads(out)["new_by_kind"] == {"offer": 1}


def test_the_node_refuses_a_damaged_bundle_typed(island):
    node, _, root = island
    before = node.call("dump", ids=False, state=False)["count"]
    damaged = root / "damaged.mpb"
    damaged.write_bytes((root / "founding.mpb").read_bytes()[:-5])
    code, _, err = cli(node.data_dir, "bundle", "import", str(damaged))
    assert code == ExitCode.REFUSED and "truncated" in err
    assert node.call("dump", ids=False, state=False)["count"] == before
