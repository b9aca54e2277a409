"""Real-node drills: processes on loopback, a power cut and cut links, then
agreement measured from the nodes' own dumps."""

import pytest

from simulations.drill import run_drill


def test_four_node_drill_converges_and_keeps_every_invariant(tmp_path):
    """
    islands {a, b} | {c, d}; one node SIGKILLed; islands write; power returns
    """
    outcome = run_drill(nodes=4, islands=2, kill=0.25, writes=2, seed=1, root=tmp_path)
    assert outcome.violations == []
    assert outcome.converge_s is not None and outcome.converge_s < 60
    assert len(outcome.killed) == 1 and outcome.records > outcome.acknowledged > 0


@pytest.mark.slow
def test_twelve_node_drill(tmp_path):
    outcome = run_drill(nodes=12, islands=3, kill=0.25, writes=3, seed=2, root=tmp_path)
    assert outcome.violations == [] and outcome.converge_s is not None
