"""Soak: thousands of seeds across every scenario (``make soak``)."""

import pytest

from simulations.__main__ import resolve_scenario
from simulations.sim.scenario import load, override
from simulations.sim.simulation import Simulation

from .test_scenarios import SCENARIOS

#: Seeds per scenario: five scenarios x 400 seeds = 2,000 runs, ~15 minutes.
SEEDS = 400


@pytest.mark.slow
@pytest.mark.timeout(3600)
@pytest.mark.parametrize("name", SCENARIOS)
def test_many_seeds(name):
    scenario = override(load(resolve_scenario(name)), nodes=8, records=90)
    failed = []
    for seed in range(1000, 1000 + SEEDS):
        outcome = Simulation(scenario, seed, backend="memory").run()
        if not outcome.ok:
            failed.append(f"seed {seed}: {outcome.violations[0].detail}\n  replay: {outcome.replay_command()}")
    assert not failed, "\n".join(failed[:10])


@pytest.mark.slow
@pytest.mark.timeout(3600)
@pytest.mark.parametrize("name", ["city-outage", "hostile-node", "rolling-blackouts"])
def test_sqlite_seeds(name):
    """The real store on temporary files, fewer seeds (each run fsyncs)."""
    scenario = override(load(resolve_scenario(name)), nodes=6, records=60)
    for seed in range(50):
        outcome = Simulation(scenario, seed, backend="sqlite").run()
        assert outcome.ok, (seed, outcome.violations[:3], outcome.replay_command())
