"""The invariant checks catch what they promise to catch: each test breaks
one invariant by hand after a healthy run and expects that one to fail."""

from array import array

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meshpantry.core.chain import ChainHead, next_record
from simulations.sim.invariants import check, set_digest
from simulations.sim.scenario import load, override
from simulations.sim.simulation import Simulation
from simulations.__main__ import resolve_scenario


@pytest.fixture
def sim():
    """A healthy small run, stopped before its own check so tests can tamper."""
    scenario = override(load(resolve_scenario("hostile-node")), nodes=6, records=60)
    simulation = Simulation(scenario, 9, backend="memory")
    outcome = simulation.run()
    assert outcome.ok
    return simulation


def names(sim):
    return {v.invariant for v in check(sim)[0]}


def test_healthy_run_passes(sim):
    assert names(sim) == set()


def test_a_node_missing_an_acknowledged_record_is_caught(sim):
    node = sim.honest[2]
    position = sim.honest[0].acknowledged[-1]
    node.store.log.remove(position)
    node.store.held[position] = 0
    assert {"converged", "no_loss"} <= names(sim)


def test_an_acknowledged_record_lost_everywhere_is_caught(sim):
    """Every node lacks it: the sets agree, so only no_loss can tell."""
    position = sim.honest[0].acknowledged[-1]
    for node in sim.honest:
        node.store.log.remove(position)
        node.store.held[position] = 0
    violations = check(sim)[0]
    lost = [v for v in violations if v.invariant == "no_loss"]
    assert len(lost) == len(sim.honest)
    assert "converged" not in {v.invariant for v in violations}


def test_a_hostile_record_in_a_log_is_caught(sim):
    bad = sorted(sim.hostile.made)[0]
    for node in sim.honest:
        node.store.log.append(bad)
    assert "nothing_bad_accepted" in names(sim)


def test_an_own_chain_fork_is_caught(sim):
    """Node 1 signs a second record at a seq it already used (as if it had
    forgotten its head after a crash) and every node takes it."""
    node = sim.honest[1]
    head = node.head
    earlier = ChainHead(head.seq - 1, sim.table.record(node.acknowledged[-2]).id, head.lamport)
    twin = next_record(node.secret, earlier, neighbourhood=sim.neighbourhood, kind="offer",
                       body={"item": "forked eggs", "quantity": 1, "unit": "items"}, now=node.now(0))
    position = sim.table.add(twin.raw, twin)
    sim.table.verdict(position)
    for other in sim.honest:
        other.store.log.append(position)
        other.store._grow(position)
        other.store.held[position] = 1
    assert "no_own_fork" in names(sim)


def test_different_states_are_caught(sim):
    """One node loses a whole household's records: sets and states differ."""
    node = sim.honest[3]
    keep = [p for p in node.store.log if sim.table.record(p).author != sim.honest[4].public or sim.table.record(p).kind == "join"]
    node.store.log = type(node.store.log)("i", keep)
    assert "converged" in names(sim)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 2**31 - 1), unique=True, max_size=300))
def test_a_logs_set_digest_is_that_of_its_positions_in_any_order(positions):
    """A store's log (an array, digested with numpy) and the same positions
    as a list in another order give one digest."""
    assert set_digest(array("i", positions)) == set_digest(sorted(positions, reverse=True))
