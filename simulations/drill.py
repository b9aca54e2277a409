"""Outage drills with real ``meshpantry node`` processes.

    python -m simulations drill --nodes 12 --islands 3 --kill 0.25 --links auto --out DIR

Theory of operation. N households get their own data directories (the first
founds the neighbourhood, the others join with invite codes), and one real
node process each, with every other node as a static peer (mDNS off). The
drill talks to them only through their control sockets
(:mod:`simulations.processes`). Links are cut in one of two ways (``links``):

* ``netns``: each node runs in its own network namespace on a private
  virtual LAN (:mod:`simulations.netns`, 10.77.0.0/24 behind a bridge that
  only the drill's user namespace sees). Cutting moves each island onto its
  own bridge: packets between islands simply vanish, with no reset, as in a
  real outage, and the nodes must notice stalled connections on their own.
* ``deny``: every node listens on 127.0.0.1 and denies the peers outside its
  island through the control call ``deny_peers`` (for machines that refuse
  namespaces to the drill's user).
* ``auto`` (default): ``netns`` when :func:`simulations.netns.available`,
  otherwise ``deny``.

1. **An ordinary evening**: every household offers something; the drill waits
   until every node holds the same records.
2. **The outage**: links between islands are cut and a group of nodes loses
   power (SIGKILL: no clean shutdown).
3. **Life in the islands**: the nodes with power offer, claim offers they can
   see, accept claims on their own offers and add recipes.
4. **Power returns**: the killed nodes restart, the links are restored, and
   the clock starts: the drill polls ``dump`` until every node reports the
   same record ids and the same state digest.

The invariants are then checked from the nodes' own dumps: the same record
set and state everywhere; every record acknowledged by a control call is held
by every node; nothing held that no household wrote (nothing outsider-made);
no offer over-allocated; no fork.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import random
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from . import netns
from .processes import NodeProcess, eventually, make_neighbourhood, start_mesh
from .sim.progress import PhaseLog

#: Time allowed for the mesh to agree before the outage (connect, gossip, sync).
SETTLE_TIMEOUT_S = 90.0
#: Time allowed after power returns: nodes restart (~2 s each, in parallel),
#: redial with backoff and sync.
CONVERGE_TIMEOUT_S = 180.0
#: Poll interval while waiting for agreement: fine enough to measure seconds.
POLL_S = 0.25
#: How links can be cut; see the module docstring.
LINK_METHODS = ("auto", "netns", "deny")
LINK_NAMES = {"netns": "network namespaces (island bridges)", "deny": "per-node peer deny lists"}
ITEMS = (("eggs", "items"), ("flour", "g"), ("apples", "kg"), ("rice", "g"), ("bread", "loaves"))


@dataclass
class DrillOutcome:
    nodes: int
    islands: list[list[int]]
    killed: list[int]
    seed: int
    links: str = "deny"  #: how links were cut: "netns" or "deny"
    acknowledged: int = 0
    records: int = 0
    settle_s: float = 0.0
    outage_s: float = 0.0  #: links cut until power returned (they are restored once the killed nodes answer)
    converge_s: float | None = None
    violations: list[str] = field(default_factory=list)
    silent_drops: int = 0  #: connections the nodes closed because their peer went silent (liveness check)
    timeline: list[tuple[float, int]] = field(default_factory=list)  #: (s after power, distinct record sets)

    @property
    def ok(self) -> bool:
        return not self.violations and self.converge_s is not None

    def as_json(self) -> dict[str, Any]:
        return {**self.__dict__, "ok": self.ok}

    def summary(self) -> str:
        rows = [
            ("drill", f"{self.nodes} real nodes, seed {self.seed}"),
            ("islands", " | ".join(",".join(map(str, g)) for g in self.islands)),
            ("links cut by", LINK_NAMES.get(self.links, self.links)),
            ("power cut (SIGKILL)", ", ".join(map(str, self.killed)) or "none"),
            ("records", f"{self.records} held by every node, {self.acknowledged} acknowledged by the drill"),
            ("agreement before the outage", f"{self.settle_s:.1f} s"),
            ("links cut for", f"{self.outage_s:.1f} s"),
            ("identical after power returned", "never" if self.converge_s is None else f"{self.converge_s:.1f} s"),
            ("silent peers dropped", str(self.silent_drops)),
            ("invariants", "all hold" if not self.violations else f"{len(self.violations)} VIOLATED"),
        ]
        width = max(len(k) for k, _ in rows)
        lines = [f"{k.ljust(width)}  {v}" for k, v in rows]
        lines += [f"  ! {v}" for v in self.violations]
        return "\n".join(lines)


def _dumps(nodes: list[NodeProcess], *, ids: bool = False) -> list[dict]:
    return [node.call("dump", ids=ids, state=True) for node in nodes]


def _distinct(dumps: list[dict]) -> int:
    return len({(d["ids_digest"], d.get("state_digest")) for d in dumps})


def _write(node: NodeProcess, rng: random.Random, acknowledged: set[str], visible: list[dict]) -> None:
    """One household action through the control socket; remembers the id."""
    roll = rng.random()
    if roll < 0.25 and visible:
        offer = rng.choice(visible)
        try:
            claim = node.call("claim_add", offer_ref=offer["id"], quantity=1, message="could I have one?")
        except Exception:  # noqa: BLE001 - own offer or withdrawn: the household picks another action
            pass
        else:
            acknowledged.add(claim["id"])
            return
    if roll < 0.35:
        recipe = node.call("recipe_add", title="blackout dal", steps=["Rinse the lentils.", "Simmer."],
                           story="Cooked on a camping stove.", tags=["born in the outage"])
        acknowledged.add(recipe["id"])
        return
    item, unit = rng.choice(ITEMS)
    offer = node.call("offer_add", item=item, quantity=rng.randint(2, 9), unit=unit)
    acknowledged.add(offer["id"])


def choose_links(links: str) -> str:
    """The link-cutting method for ``links`` ("auto", "netns" or "deny"):
    "auto" becomes "netns" when this machine offers namespaces, else "deny".
    Raises ValueError for an unknown name."""
    if links not in LINK_METHODS:
        raise ValueError(f"links must be one of {', '.join(LINK_METHODS)}, not {links!r}")
    if links == "auto":
        return "netns" if netns.available() else "deny"
    return links


def run_drill(nodes: int = 12, islands: int = 3, kill: float = 0.25, writes: int = 3, seed: int = 1,
              root: Path | None = None, converge_timeout: float = CONVERGE_TIMEOUT_S,
              links: str = "auto", outage: float = 0.0,
              progress: Callable[[str], None] | None = None) -> DrillOutcome:
    """Run one drill; returns its outcome (never raises for a failed invariant).

    ``links`` chooses how islands are cut (see :func:`choose_links`);
    ``outage`` is the least time in seconds the links stay cut (the islands'
    own writes take a few seconds anyway). Raises
    ValueError for an unknown method, :class:`simulations.netns.LanUnavailable`
    if "netns" is asked for and the machine refuses it, and AssertionError if
    the mesh does not agree before the outage. ``progress`` hears one line
    per phase (the command line prints them)."""
    say = progress or (lambda phase: None)
    method = choose_links(links)
    rng = random.Random(seed)
    owned = root is None
    root = Path(tempfile.mkdtemp(prefix="meshpantry-drill-")) if root is None else Path(root)
    order = list(range(nodes))
    rng.shuffle(order)
    groups = [sorted(order[i::islands]) for i in range(islands)]
    killed = sorted(rng.sample(range(nodes), round(kill * nodes)))
    outcome = DrillOutcome(nodes, groups, killed, seed, links=method)
    acknowledged: set[str] = set()
    procs: list[NodeProcess] = []
    with contextlib.ExitStack() as cleanup:
        if owned:
            cleanup.callback(shutil.rmtree, root, ignore_errors=True)
        with contextlib.redirect_stdout(io.StringIO()):  # the setup commands talk to a user
            dirs = make_neighbourhood(root, nodes)
        lan = cleanup.enter_context(netns.VirtualLan(nodes)) if method == "netns" else None
        cleanup.callback(lambda: [node.stop() for node in procs])  # runs before the LAN closes
        placement: dict[str, Any] = {}
        if lan is not None:
            placement = {"hosts": [lan.address(i) for i in range(nodes)],
                         "launchers": [lan.launcher(i) for i in range(nodes)]}
        say(f"starting {nodes} node processes ({LINK_NAMES[method]})")
        procs += start_mesh(dirs, links=lambda i: list(range(i)), sync_interval=2.0, **placement)
        say("every node answers; waiting for the mesh to agree")

        started = time.monotonic()
        # New members count once their invite reached them: let the mesh agree first.
        eventually(lambda: _distinct(_dumps(procs)) == 1, SETTLE_TIMEOUT_S, "agreement after joining")
        for node in procs:
            for _ in range(writes):
                _write(node, rng, acknowledged, [])
        eventually(lambda: _distinct(_dumps(procs)) == 1, SETTLE_TIMEOUT_S, "agreement before the outage")
        outcome.settle_s = time.monotonic() - started
        devices = {node.call("whoami")["device"] for node in procs}

        say(f"agreed after {outcome.settle_s:.1f} s; cutting {islands} islands and the power of {len(killed)} nodes")
        cut = time.monotonic()
        if lan is not None:
            lan.cut(groups)
        else:
            island_of = {n: g for g in groups for n in g}
            for number, node in enumerate(procs):
                outside = [procs[p].peer_id for p in range(nodes) if p not in island_of[number]]
                node.call("deny_peers", peers=outside)
        for number in killed:
            procs[number].kill()
        alive = [n for n in range(nodes) if n not in killed]
        for _ in range(writes):
            for number in alive:
                node = procs[number]
                visible = [o for o in node.call("offer_list") if o.get("remaining", 1) > 0] if rng.random() < 0.5 else []
                _write(node, rng, acknowledged, visible)
        for number in alive:  # offerers accept what they see claimed, island by island
            for swap in node_swaps(procs[number]):
                try:
                    procs[number].call("claim_accept", claim_ref=swap)
                except Exception:  # noqa: BLE001 - already decided or would overdraw: a normal refusal
                    pass

        say("islands wrote on their own; waiting out the outage")
        time.sleep(max(0.0, cut + outage - time.monotonic()))
        outcome.outage_s = time.monotonic() - cut
        power = time.monotonic()
        for number in killed:
            procs[number].start()
        for number in killed:
            procs[number].wait_ready()
        if lan is not None:
            lan.repair()
        else:
            for node in procs:
                node.call("allow_peers")
        say(f"power and links back; waiting up to {converge_timeout:.0f} s for every node to agree")
        deadline = power + converge_timeout
        while time.monotonic() < deadline:
            try:
                count = _distinct(_dumps(procs))
            except Exception:  # noqa: BLE001 - a node still starting: try again
                count = -1
            outcome.timeline.append((round(time.monotonic() - power, 2), count))
            if count == 1:
                outcome.converge_s = time.monotonic() - power
                break
            time.sleep(POLL_S)
        if outcome.converge_s is None:
            outcome.violations.append(f"nodes not identical {converge_timeout:.0f} s after power returned")
        say("checking the invariants")
        outcome.silent_drops = sum((node.call("status").get("liveness") or {}).get("dropped", 0) for node in procs)
        authors = [{row["author"] for row in node.call("log", limit=1_000_000)} for node in procs]
        _check(outcome, _dumps(procs, ids=True), acknowledged, devices, authors)
    return outcome


def node_swaps(node: NodeProcess) -> list[str]:
    """Ids of pending claims on this household's own offers."""
    swaps = node.call("swaps")
    incoming = swaps.get("received", []) if isinstance(swaps, dict) else []
    return [c["id"] for c in incoming if c.get("status") == "pending"]


def _check(
    outcome: DrillOutcome, dumps: list[dict], acknowledged: set[str], devices: set[str], authors: list[set[str]]
) -> None:
    sets = [set(d["ids"]) for d in dumps]
    outcome.acknowledged = len(acknowledged)
    outcome.records = len(sets[0])
    if any(s != sets[0] for s in sets):
        outcome.violations.append("converged: nodes hold different record sets")
    if len({d.get("state_digest") for d in dumps}) != 1:
        outcome.violations.append("converged: nodes show different states")
    for number, held in enumerate(sets):
        missing = acknowledged - held
        if missing:
            outcome.violations.append(f"no_loss: node {number} lacks {len(missing)} acknowledged records")
    for number, seen in enumerate(authors):
        strangers = seen - devices
        if strangers:
            outcome.violations.append(f"nothing_bad_accepted: node {number} holds records of {len(strangers)} outsiders")
    for number, dump in enumerate(dumps):
        if dump.get("over_allocated"):
            outcome.violations.append(f"no_overallocation: node {number} shows {dump['over_allocated']}")
        if dump.get("forks"):
            outcome.violations.append(f"no_own_fork: node {number} shows {dump['forks']} forks")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulations drill", description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=12)
    parser.add_argument("--islands", type=int, default=3)
    parser.add_argument("--kill", type=float, default=0.25, help="fraction of nodes that lose power")
    parser.add_argument("--writes", type=int, default=3, help="actions per household per phase")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=CONVERGE_TIMEOUT_S)
    parser.add_argument("--outage", type=float, default=0.0, help="least seconds the links stay cut")
    parser.add_argument("--links", choices=LINK_METHODS, default="auto",
                        help="cut links with network namespaces, per-node deny lists, or namespaces if available")
    parser.add_argument("--out", help="directory for drill.json and summary.txt")
    parser.add_argument("--quiet", action="store_true", help="no progress lines; only the summary")
    args = parser.parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so the nodes stop and the virtual LAN goes.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    outcome = run_drill(args.nodes, args.islands, args.kill, args.writes, args.seed,
                        converge_timeout=args.timeout, links=args.links, outage=args.outage,
                        progress=PhaseLog(f"drill seed {args.seed}", quiet=args.quiet))
    print(outcome.summary())
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "drill.json").write_text(json.dumps(outcome.as_json(), indent=1) + "\n", encoding="utf-8")
        (out / "summary.txt").write_text(outcome.summary() + "\n", encoding="utf-8")
    if not outcome.ok:
        print(f"FAILED: drill seed {args.seed}; replay with:\n  python -m simulations drill --nodes {args.nodes} "
              f"--islands {args.islands} --kill {args.kill} --writes {args.writes} --seed {args.seed} "
              f"--links {outcome.links} --outage {args.outage}", file=sys.stderr)
    return 0 if outcome.ok else 1


if __name__ == "__main__":
    sys.exit(main())
