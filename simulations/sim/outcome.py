"""What a run produced: its figures, its invariants' verdict, and how to
replay it exactly."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .invariants import Violation

if TYPE_CHECKING:  # pragma: no cover
    from .simulation import Simulation


@dataclass
class RunOutcome:
    scenario: str
    source: str
    seed: int
    backend: str
    nodes: int
    records: int
    trace_digest: str
    violations: list[Violation]
    checks: dict[str, int]
    figures: dict[str, Any]
    samples: list[dict[str, Any]] = field(repr=False)

    @property
    def ok(self) -> bool:
        return not self.violations

    def replay_command(self) -> str:
        """One line that runs this exact run again."""
        return shlex.join([
            "python", "-m", "simulations", "run", self.source, "--seed", str(self.seed),
            "--nodes", str(self.nodes), "--records", str(self.records), "--backend", self.backend,
        ])

    def as_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "source": self.source,
            "seed": self.seed,
            "backend": self.backend,
            "nodes": self.nodes,
            "records": self.records,
            "ok": self.ok,
            "trace_digest": self.trace_digest,
            "replay": self.replay_command(),
            "violations": [{"invariant": v.invariant, "detail": v.detail} for v in self.violations],
            "checks": self.checks,
            "figures": self.figures,
            "samples": self.samples,
        }

    @classmethod
    def from_simulation(
        cls, sim: "Simulation", violations: list[Violation], checks: dict[str, int], wall: dict[str, float]
    ) -> "RunOutcome":
        s = sim.scenario
        samples = sim.samples
        nodes = len(sim.honest)
        heals = sim.timeline.heal_times
        last_heal = max(heals) if heals else None
        converged_at = None
        if last_heal is not None:
            for sample in samples:
                if sample["t_ms"] >= last_heal and sample["complete"] == nodes and sample["up"] == nodes:
                    converged_at = sample["t_ms"]
                    break
        clocks = [n.clock for n in sim.honest]
        figures = {
            "records": {
                "valid": sim.valid_records,
                "founding": len(sim.founding.records),
                "written": dict(sim.workload.written),
                "table": len(sim.table),
                "signature_checks": sim.table.verifications,
            },
            "convergence": {
                "first_heal_ms": min(heals) if heals else None,
                "last_heal_ms": last_heal,
                "converged_at_ms": converged_at,
                "after_heal_ms": None if converged_at is None or last_heal is None else converged_at - last_heal,
                "after_first_heal_ms": None if converged_at is None or not heals else converged_at - min(heals),
                "sample_ms": s.sample_ms,
            },
            "islands_max": max((x["islands"] for x in samples), default=1),
            "gossip": {
                "messages": sim.gossip.messages,
                "record_copies": sim.gossip.record_copies,
                "repaired_by_iwant": sim.gossip.repaired,
                "datagrams_sent": sim.network.sent,
                "datagrams_lost": sim.network.lost,
                "datagrams_duplicated": sim.network.duplicated,
                "messages_ignored": sim.gossip_ignored,
                "messages_rejected": sim.gossip_rejected,
            },
            "sync": {
                "sessions": sim.catchup.started,
                "done": sim.catchup.done,
                "failed": sim.catchup.failed,
                "stalled": sim.catchup.stalled,
                "bytes": sim.catchup.bytes,
                "records": sim.catchup.records,
                "gaps_seen": sim.gaps,
                "cut_offs": len(sim.planning.cut_offs),
                "devices_restored": sim.restored,
                "chains_recovered": len(sim.planning.recoveries),
                "lost_with_devices": sim.lost_with_devices,
                "session_s": round(sim.catchup.session_seconds, 3),
            },
            "power": {
                "crashes": sim.timeline.crashes,
                "records_rolled_back": sum(n.lost_on_crash for n in sim.honest),
            },
            "clocks": {
                "offset_ms": [min(c.offset_ms for c in clocks), max(c.offset_ms for c in clocks)],
                "drift_ppm": [min(c.drift_ppm for c in clocks), max(c.drift_ppm for c in clocks)],
            },
            "couriers": sim.timeline.couriers,
            "hostile": None if sim.hostile is None else {
                "bad_records_made": len(sim.hostile.made),
                "replayed": sim.hostile.replayed,
            },
            "wall_s": {k: round(v, 3) for k, v in wall.items()},
            "events_traced": sim.trace_lines,
        }
        return cls(
            scenario=s.name, source=s.source, seed=sim.seed, backend=sim.backend, nodes=nodes,
            records=s.records, trace_digest=sim.trace_digest, violations=violations, checks=checks,
            figures=figures, samples=samples,
        )
