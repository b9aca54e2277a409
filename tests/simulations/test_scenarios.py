"""Every scenario file loads, and a few seeds of each keep every invariant."""

from pathlib import Path

import pytest

from simulations.__main__ import resolve_scenario
from simulations.sim.scenario import ScenarioError, load, override, parse
from simulations.sim.simulation import Simulation

SCENARIOS = sorted(p.stem for p in (Path(__file__).parents[2] / "simulations" / "scenarios").glob("*.toml"))
#: Small enough for the default suite: ~0.3 s per run with the in-memory store.
SMALL = {"nodes": 8, "records": 90}


def run(name, seed, backend="memory", **size):
    scenario = override(load(resolve_scenario(name)), **{**SMALL, **size})
    return Simulation(scenario, seed, backend=backend).run()


def test_the_story_scenarios_exist():
    assert {"city-outage", "rolling-blackouts", "flapping-links", "courier", "hostile-node"} <= set(SCENARIOS)


@pytest.mark.parametrize("name", SCENARIOS)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_invariants_hold(name, seed):
    outcome = run(name, seed)
    assert outcome.ok, [f"{v.invariant}: {v.detail}" for v in outcome.violations] + [outcome.replay_command()]
    assert outcome.figures["convergence"]["converged_at_ms"] is not None or not outcome.figures["convergence"]["last_heal_ms"]
    assert outcome.checks["states_built"] >= 1 and outcome.checks["records_compared"] > 0


@pytest.mark.parametrize("name", ["city-outage", "hostile-node"])
def test_invariants_hold_on_the_real_sqlite_store(name):
    """Real SQLite stores on temporary files, power cuts rolling back commits."""
    outcome = run(name, 5, backend="sqlite", nodes=6, records=60)
    assert outcome.backend == "sqlite"
    assert outcome.ok, [v.detail for v in outcome.violations]
    assert outcome.checks["states_built"] == 6  # one state per node, from its own database


def test_city_outage_splits_into_islands_and_heals():
    outcome = run("city-outage", 7, nodes=16, records=150)
    assert 6 <= outcome.figures["islands_max"] <= 12
    assert outcome.figures["power"]["crashes"] >= 1
    assert outcome.samples[-1]["islands"] == 1 and outcome.samples[-1]["complete"] == 16


def test_courier_carries_news_between_islands():
    outcome = run("courier", 4, nodes=12, records=150)
    couriers = outcome.figures["couriers"]
    assert couriers and sum(c["new"] for c in couriers) > 0


def test_hostile_node_makes_bad_records_and_none_is_accepted():
    outcome = run("hostile-node", 2)
    assert outcome.figures["hostile"]["bad_records_made"] > 100
    assert outcome.ok


def test_scenario_errors_name_the_problem():
    with pytest.raises(ScenarioError, match="unknown action"):
        parse({"run": {"nodes": 3, "duration_s": 10, "records": 1}, "event": [{"at_s": 1, "do": "explode"}]})
    with pytest.raises(ScenarioError, match="unknown keys in \\[network\\]"):
        parse({"run": {"nodes": 3, "duration_s": 10, "records": 1}, "network": {"lossy": 1}})
    with pytest.raises(ScenarioError, match="within the run"):
        parse({"run": {"nodes": 3, "duration_s": 10, "records": 1}, "event": [{"at_s": 11, "do": "repair"}]})
