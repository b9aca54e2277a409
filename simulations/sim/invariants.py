"""The invariants every run must keep, checked at its end.

1. **Converged**: every node has power and holds the same record set, and
   builds the same state from it (:func:`state_digest` of
   :func:`meshpantry.core.state.build_state`).
2. **No acknowledged record lost**: every record a node made durable before
   publishing is held by every node at the end, and no power cut took one
   from its own author (checked at each cut).
3. **Nothing bad accepted**: no log holds a forged, outsider-made or malformed
   record (everything the hostile node made), and every logged record decodes,
   verifies and has a member as author.
4. **No offer over-allocated**: in every state, each offer's accepted claims
   add up to its ``allocated``, which is at most its quantity.
5. **No own chain forks**: no honest device has two records at one seq in any
   node's log, and the views report no fork.

With the real store, each node's state is built from its own database. With
the in-memory model, nodes holding identical record sets share one
:func:`build_state` (it is a pure function of the set); different sets are
reported by invariant 1 anyway.
"""

from __future__ import annotations

import hashlib
import sys
from array import array
from dataclasses import dataclass, fields, is_dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

import numpy

from meshpantry.core.board import ClaimStatus
from meshpantry.core.state import NeighbourhoodState, build_state
from protocol import Record

if TYPE_CHECKING:  # pragma: no cover
    from .simulation import Simulation


@dataclass(frozen=True)
class Violation:
    invariant: str  #: one of INVARIANTS
    detail: str


INVARIANTS = ("converged", "no_loss", "nothing_bad_accepted", "no_overallocation", "no_own_fork")


def _canonical(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return (type(value).__name__, tuple((f.name, _canonical(getattr(value, f.name))) for f in fields(value)))
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return ("map", tuple(sorted(((_canonical(k), _canonical(v)) for k, v in value.items()), key=repr)))
    if isinstance(value, (set, frozenset)):
        return ("set", tuple(sorted((_canonical(v) for v in value), key=repr)))
    if isinstance(value, (list, tuple)):
        return tuple(_canonical(v) for v in value)
    if isinstance(value, Exception):
        data = getattr(value, "data", {"message": str(value)})
        return ("error", type(value).__name__, _canonical(data))
    return value


def state_digest(state: NeighbourhoodState) -> str:
    """A digest of everything a state shows; equal states, equal digests."""
    return hashlib.sha256(repr(_canonical(state)).encode()).hexdigest()


def set_digest(positions: Any) -> str:
    """A digest of a set of record positions (4 bytes little-endian each, sorted)."""
    if type(positions) is array and positions.typecode == "i" and positions:  # a store's log: sorted by numpy
        ordered = numpy.sort(numpy.frombuffer(positions, dtype=numpy.intc)).astype("<u4")
        return hashlib.sha256(ordered.tobytes()).hexdigest()
    packed = array("I", sorted(positions))
    if sys.byteorder == "big":
        packed.byteswap()
    return hashlib.sha256(packed.tobytes()).hexdigest()


def check(sim: "Simulation") -> tuple[list[Violation], dict[str, int]]:
    """Check every invariant; returns (violations, counts of what was checked)."""
    violations: list[Violation] = []
    checks = dict.fromkeys(("nodes", "records_compared", "states_built", "offers_checked", "acknowledged"), 0)
    nodes = sim.honest
    table = sim.table

    # 1. converged
    down = [n.number for n in nodes if not n.up]
    if down:
        violations.append(Violation("converged", f"{len(down)} nodes still without power at the end: {down[:10]}"))
    digests: dict[str, list[int]] = {}
    for node in nodes:
        digests.setdefault(set_digest(node.store.log), []).append(node.number)
        checks["records_compared"] += node.store.count()
    checks["nodes"] = len(nodes)
    if len(digests) > 1:
        sizes = sorted(((len(v), nodes[v[0]].store.count()) for v in digests.values()), reverse=True)
        violations.append(Violation(
            "converged", f"{len(digests)} different record sets at the end (nodes, records): {sizes[:6]}"))
    states: dict[str, NeighbourhoodState] = {}
    state_of: dict[int, str] = {}
    if sim.backend == "sqlite":
        for node in nodes:
            state = build_state(node.store.records(), sim.neighbourhood)
            checks["states_built"] += 1
            digest = state_digest(state)
            states.setdefault(digest, state)
            state_of[node.number] = digest
    else:
        for members in digests.values():
            held = (table.verdict(p) for p in nodes[members[0]].store.log)
            state = build_state([r for r in held if isinstance(r, Record)], sim.neighbourhood)
            checks["states_built"] += 1
            # One record set, one state (build_state is pure): a digest is
            # needed only to compare the states of different sets.
            digest = state_digest(state) if len(digests) > 1 else "the one record set"
            states.setdefault(digest, state)
            for number in members:
                state_of[number] = digest
    if len(states) > 1:
        violations.append(Violation("converged", f"{len(states)} different states shown by the nodes"))

    # 2. no acknowledged record lost
    acknowledged = sorted({p for node in nodes for p in node.acknowledged})
    checks["acknowledged"] = len(acknowledged)
    for number, position in sim.durability_failures:
        violations.append(Violation("no_loss", f"node {number} lost its own acknowledged record #{position} in a power cut"))
    for members in digests.values():  # nodes with one set digest hold one set: ask one of them
        missing = nodes[members[0]].store.lacking(acknowledged)
        for number in members if missing else ():
            violations.append(Violation("no_loss", f"node {number} lacks {len(missing)} acknowledged records, e.g. #{missing[0]}"))

    # 3. nothing bad accepted
    members = {public for public, _ in sim.founding.keys}
    made = sim.hostile.made if sim.hostile is not None else set()
    union: set[int] = set()
    for holders in digests.values():  # one set digest, one record set: take one node's
        union.update(nodes[holders[0]].store.log)
    for position in sorted(union):
        if position in made:
            violations.append(Violation("nothing_bad_accepted", f"hostile record #{position} is in a log"))
            continue
        verdict = table.verdict(position)
        if not isinstance(verdict, Record):
            violations.append(Violation("nothing_bad_accepted", f"record #{position} in a log fails: {verdict!r}"))
        elif verdict.author not in members:
            violations.append(Violation("nothing_bad_accepted", f"record #{position} by a non-member is in a log"))

    # 4. no offer over-allocated
    for digest, state in states.items():
        for offer in state.offers.values():
            checks["offers_checked"] += 1
            accepted = sum(
                state.claims[c].accepted_quantity for c in offer.claims
                if state.claims[c].status is ClaimStatus.ACCEPTED
            )
            if accepted != offer.allocated or offer.allocated > offer.quantity:
                violations.append(Violation(
                    "no_overallocation",
                    f"offer {offer.id.hex()[:12]}: {accepted} accepted, {offer.allocated} allocated of {offer.quantity}"))

    # 5. no own chain forks
    at_seq: dict[tuple[bytes, int], bytes] = {}
    for position in sorted(union):
        verdict = table.verdict(position)
        if not isinstance(verdict, Record):
            continue
        key = (verdict.author, verdict.seq)
        held = at_seq.setdefault(key, verdict.id)
        if held != verdict.id:
            violations.append(Violation("no_own_fork", f"device {verdict.author.hex()[:12]} has two records at seq {verdict.seq}"))
    for state in states.values():
        for fork in state.forks:
            violations.append(Violation("no_own_fork", f"the views report a fork: {fork}"))
    return violations, checks
