"""The courier scenario carries bundles made by the node's own bundle code;
three islands that no radio ever joins end identical by bundles alone."""

from __future__ import annotations

from meshpantry.core.state import build_state
from simulations.sim.invariants import set_digest, state_digest
from simulations.sim.scenario import parse
from simulations.sim.simulation import Simulation

#: Three islands from the first minute, never repaired; a courier walks
#: between two of them every 40 s and brings back the answer each time.
THREE_ISLANDS = {
    "name": "three-islands",
    "run": {"nodes": 9, "duration_s": 900, "records": 120, "activity": [[0, 300]], "sample_ms": 1000},
    "sync": {"interval_s": 30, "on_connect": 3},
    "workload": {"offer": 20, "claim": 20, "decision": 15, "recipe": 5, "step": 5, "story": 4, "meal": 3, "pledge": 5},
    "event": [
        {"at_s": 30, "do": "partition", "islands": [3, 3]},
        {"at_s": 60, "do": "courier", "carry_s": 40, "trips": 18},
    ],
}


def test_three_islands_end_identical_by_bundles_alone():
    sim = Simulation(parse(THREE_ISLANDS), 11, backend="memory")
    outcome = sim.run()
    assert outcome.ok, [v.detail for v in outcome.violations]
    assert len(set(sim.network.island[n.number] for n in sim.honest)) == 3  # never healed
    couriers = outcome.figures["couriers"]
    assert any(c["answer"] and c["new"] for c in couriers)  # return bundles carried news too
    assert len({set_digest(n.store.log) for n in sim.honest}) == 1
    assert len({state_digest(build_state(n.store.records(), sim.neighbourhood)) for n in sim.honest}) == 1
    print(f"three islands, {len(sim.honest)} nodes: {len(couriers)} bundles "
          f"({sum(c['answer'] for c in couriers)} answers), {sum(c['new'] for c in couriers)} records new "
          f"to their island, {sum(c['bytes'] for c in couriers)} bytes carried, {sim.honest[0].store.count()} records each")
