"""Scenarios as data: a TOML file says what happens in a run.

Layout (every table optional except ``[run]``)::

    name = "city-outage"
    description = "..."

    [run]
    nodes = 40              # devices, one node each
    second_devices = 0.1    # fraction of households with a second device
    duration_s = 900
    records = 600           # records households write over the run
    activity = [[0, 720]]   # windows (s) in which households act
    sample_ms = 500         # how often figures are sampled for the report

    [network]               # fields of NetworkOptions
    loss = 0.01

    [gossip]
    degree = 6
    round_ms = 100
    heartbeat_ms = 1000

    [sync]
    interval_s = 30         # each node syncs with one random peer this often (the node's planner)
    on_connect = 3          # new connections a node syncs with at most, per batch of them
    on_gap = true           # sync with the sender when gossip shows a chain gap
    sessions_per_node = 2

    [clock]
    drift_ppm = 300         # each node's rate error, up to this either way
    offset_ms = 300000      # each node's offset, up to this either way

    [workload]              # relative weights of household actions
    offer = 20
    claim = 25

    [hostile]               # a node that forges, replays and floods
    round_ms = 1000
    forge = 3
    outsider = 3
    malformed = 3
    replay = 10
    flood = 30

    [[event]]
    at_s = 120
    do = "partition"        # see EVENTS
    islands = [6, 12]

:func:`load` reads and checks a file; :func:`override` changes sizes for a run
(the command line's ``--nodes`` and ``--records``).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .network import NetworkOptions
from .workload import ACTIONS

#: Event kinds and the parameters each accepts.
EVENTS = {
    "partition": {"islands"},  # split into a random number of islands in [lo, hi]
    "heal_islands": {"every_s"},  # power returns island by island, one every every_s
    "repair": set(),  # one island, no cuts, no flapping
    "crash": {"fraction", "count", "same_island"},  # power cut of a group of nodes
    "restart": {"fraction"},  # power back to (a fraction of) the nodes without it
    "restore": {"count", "fraction"},  # devices restored from nothing: store lost, key kept
    "cut": {"pairs", "one_way"},  # cut random links, possibly in one direction only
    "flapping": {"links"},  # this fraction of mesh-sized links flaps (0 stops it)
    "courier": {"carry_s", "trips"},  # a bundle carried from one island to another
    "tag": {"tags"},  # tags households put on new offers and recipes from now on
    "hostile": {"active"},  # switch the hostile node on or off
}


class ScenarioError(ValueError):
    """A scenario file that does not describe a run; says which part."""

    def __init__(self, source: str, problem: str) -> None:
        super().__init__(f"{source}: {problem}")
        self.source = source
        self.problem = problem


@dataclass(frozen=True)
class Event:
    at_ms: int
    do: str
    params: dict[str, Any]


@dataclass(frozen=True)
class HostileOptions:
    """Per hostile round: records forged (bad signature), made by an outsider
    (valid signature, no membership), malformed, replayed, and junk flooded."""

    round_ms: int = 1000
    forge: int = 0
    outsider: int = 0
    malformed: int = 0
    replay: int = 0
    flood: int = 0


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    source: str
    nodes: int
    second_devices: float
    duration_ms: int
    records: int
    activity: tuple[tuple[int, int], ...]
    sample_ms: int
    network: NetworkOptions
    degree: int = 6
    gossip_round_ms: int = 100
    heartbeat_ms: int = 1000
    sync_interval_ms: int = 30_000
    sync_on_connect: int = 3
    sync_on_gap: bool = True
    sessions_per_node: int = 2
    drift_ppm: int = 0
    offset_ms: int = 0
    mix: dict[str, float] = field(default_factory=lambda: {"offer": 1.0})
    hostile: HostileOptions | None = None
    events: tuple[Event, ...] = ()


def _table(doc: dict, name: str, source: str) -> dict:
    value = doc.get(name, {})
    if not isinstance(value, dict):
        raise ScenarioError(source, f"[{name}] must be a table")
    return value


def _known(table: dict, allowed: set[str], where: str, source: str) -> None:
    unknown = set(table) - allowed
    if unknown:
        raise ScenarioError(source, f"unknown keys in {where}: {', '.join(sorted(unknown))}")


def parse(doc: dict, source: str = "<scenario>") -> Scenario:
    """Build a :class:`Scenario` from a parsed TOML document. Raises
    :class:`ScenarioError` naming the part that is wrong."""
    run = _table(doc, "run", source)
    _known(run, {"nodes", "second_devices", "duration_s", "records", "activity", "sample_ms"}, "[run]", source)
    for key in ("nodes", "duration_s", "records"):
        if not isinstance(run.get(key), int) or run[key] < (1 if key != "records" else 0):
            raise ScenarioError(source, f"[run] {key} must be a positive integer")
    duration = run["duration_s"] * 1000
    activity = tuple((int(a * 1000), int(b * 1000)) for a, b in run.get("activity", [[0, run["duration_s"]]]))
    for start, end in activity:
        if not 0 <= start < end <= duration:
            raise ScenarioError(source, f"activity window {start // 1000}-{end // 1000} s is outside the run")
    net = _table(doc, "network", source)
    _known(net, {f.name for f in fields(NetworkOptions)}, "[network]", source)
    try:
        network = NetworkOptions(**net)
    except (TypeError, ValueError) as error:
        raise ScenarioError(source, f"[network] {error}") from None
    gossip = _table(doc, "gossip", source)
    _known(gossip, {"degree", "round_ms", "heartbeat_ms"}, "[gossip]", source)
    sync = _table(doc, "sync", source)
    _known(sync, {"interval_s", "on_connect", "on_gap", "sessions_per_node"}, "[sync]", source)
    clock = _table(doc, "clock", source)
    _known(clock, {"drift_ppm", "offset_ms"}, "[clock]", source)
    mix = _table(doc, "workload", source) or {"offer": 1}
    _known(mix, set(ACTIONS), "[workload]", source)
    hostile = None
    if "hostile" in doc:
        table = _table(doc, "hostile", source)
        _known(table, {f.name for f in fields(HostileOptions)}, "[hostile]", source)
        hostile = HostileOptions(**table)
    events = []
    for number, entry in enumerate(doc.get("event", [])):
        do = entry.get("do")
        if do not in EVENTS:
            raise ScenarioError(source, f"event {number + 1}: unknown action {do!r}")
        params = {k: v for k, v in entry.items() if k not in ("do", "at_s")}
        _known(params, EVENTS[do], f"event {number + 1} ({do})", source)
        at = entry.get("at_s")
        if not isinstance(at, (int, float)) or not 0 <= at * 1000 <= duration:
            raise ScenarioError(source, f"event {number + 1} ({do}): at_s must lie within the run")
        events.append(Event(int(at * 1000), do, params))
    events.sort(key=lambda e: e.at_ms)
    return Scenario(
        name=str(doc.get("name", Path(source).stem)),
        description=str(doc.get("description", "")),
        source=source,
        nodes=run["nodes"],
        second_devices=float(run.get("second_devices", 0.0)),
        duration_ms=duration,
        records=run["records"],
        activity=activity,
        sample_ms=int(run.get("sample_ms", 1000)),
        network=network,
        degree=int(gossip.get("degree", 6)),
        gossip_round_ms=int(gossip.get("round_ms", 100)),
        heartbeat_ms=int(gossip.get("heartbeat_ms", 1000)),
        sync_interval_ms=int(sync.get("interval_s", 30) * 1000),
        sync_on_connect=int(sync.get("on_connect", 3)),
        sync_on_gap=bool(sync.get("on_gap", True)),
        sessions_per_node=int(sync.get("sessions_per_node", 2)),
        drift_ppm=int(clock.get("drift_ppm", 0)),
        offset_ms=int(clock.get("offset_ms", 0)),
        mix={k: float(v) for k, v in mix.items()},
        hostile=hostile,
        events=tuple(events),
    )


def load(path: str | Path) -> Scenario:
    """Read a scenario file. Raises :class:`ScenarioError` or OSError."""
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ScenarioError(str(path), f"not valid TOML: {error}") from None
    return parse(doc, str(path))


def override(scenario: Scenario, *, nodes: int | None = None, records: int | None = None) -> Scenario:
    """The scenario with another size (None keeps the file's)."""
    changes: dict[str, Any] = {}
    if nodes is not None:
        if nodes < 2:
            raise ScenarioError(scenario.source, "a run needs at least 2 nodes")
        changes["nodes"] = nodes
    if records is not None:
        changes["records"] = records
    return replace(scenario, **changes)
