"""A run is decided by its seed alone: same seed, same trace, in any process."""

import os
import subprocess
import sys
from pathlib import Path

from simulations.sim.scenario import load, override
from simulations.sim.simulation import Simulation

ROOT = Path(__file__).parents[2]
SCENARIO = ROOT / "simulations" / "scenarios" / "city-outage.toml"


def digest(seed: int, name: Path = SCENARIO) -> str:
    scenario = override(load(name), nodes=8, records=80)
    return Simulation(scenario, seed, backend="memory").run().trace_digest


def test_same_seed_same_trace():
    assert digest(11) == digest(11)


def test_different_seeds_differ():
    assert digest(11) != digest(12)


def test_same_trace_in_another_process_with_another_hash_seed():
    """Bytes and strings hash differently per process; nothing may depend on it."""
    code = (
        "from simulations.sim.scenario import load, override;"
        "from simulations.sim.simulation import Simulation;"
        f"s = override(load({str(SCENARIO)!r}), nodes=8, records=80);"
        "print(Simulation(s, 11, backend='memory').run().trace_digest)"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    found = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert found.stdout.strip() == digest(11)


def test_model_and_real_store_run_the_same_way():
    """With the same seed, the in-memory model and real SQLite stores see the
    same run: same records written, same crashes, same convergence."""
    scenario = override(load(ROOT / "simulations" / "scenarios" / "rolling-blackouts.toml"), nodes=5, records=50)
    memory = Simulation(scenario, 3, backend="memory").run()
    sqlite = Simulation(scenario, 3, backend="sqlite").run()
    assert memory.ok and sqlite.ok
    assert memory.figures["records"]["written"] == sqlite.figures["records"]["written"]
    assert memory.figures["power"]["crashes"] == sqlite.figures["power"]["crashes"]
    assert memory.samples[-1]["complete"] == sqlite.samples[-1]["complete"] == 5
