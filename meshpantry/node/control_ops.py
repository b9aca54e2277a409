"""What a running node serves on its control socket.

Every op of the household's :class:`~meshpantry.pantry.Pantry` (the command
line's verbs), plus the node's own: ``status`` (identity, peers, sync and
gossip counters, island state), ``dump`` (what drills compare: the ids held
and a digest of the state), ``deny_peers`` / ``allow_peers`` (cut links in
drills), ``sync_now`` and ``shutdown``. :func:`control_handlers` maps op
names to coroutines for :class:`meshpantry.control.server.ControlServer`.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:  # pragma: no cover
    from .runner import Node

#: Every op of the household's Pantry that the control socket serves.
PANTRY_OPS = (
    "whoami", "neighbourhood_show", "create_neighbourhood", "create_invite", "join",
    "set_household", "link_device", "revoke", "block", "unblock",
    "offer_add", "offer_update", "offer_withdraw", "offer_list", "offer_show",
    "claim_add", "claim_cancel", "claim_accept", "claim_decline", "claim_show",
    "handover_confirm", "swaps", "meal_add", "meal_pledge", "meal_show", "meal_list",
    "recipe_add", "recipe_edit", "recipe_story", "recipe_show", "recipe_list",
    "recipe_export", "log", "rebuild",
)


def control_handlers(node: "Node") -> dict[str, Callable[..., Any]]:
    """Op name -> coroutine function, for every op the node serves."""
    ops = NodeOps(node)
    handlers: dict[str, Callable[..., Any]] = {op: _pantry_op(node, op) for op in PANTRY_OPS}
    handlers.update({
        "status": ops.status, "dump": ops.dump, "deny_peers": ops.deny_peers,
        "allow_peers": ops.allow_peers, "sync_now": ops.sync_now, "shutdown": ops.shutdown,
        "create_invite": ops.create_invite, "join": ops.join,
        "create_neighbourhood": ops.create_neighbourhood,
    })
    return handlers


def _pantry_op(node: "Node", op: str) -> Callable[..., Any]:
    method = getattr(node.pantry, op)

    async def handler(*args: Any, **kwargs: Any) -> Any:
        return method(*args, **kwargs)

    handler.__name__ = op
    return handler


def _now_ms() -> int:
    return int(time.time() * 1000)


class NodeOps:
    """The node's own ops, over a :class:`~meshpantry.node.runner.Node`."""

    def __init__(self, node: "Node") -> None:
        self.node = node

    async def create_neighbourhood(self, *args: Any, **kwargs: Any) -> Any:
        result = self.node.pantry.create_neighbourhood(*args, **kwargs)
        self.node.neighbourhood_ready()
        return result

    async def join(self, *args: Any, **kwargs: Any) -> Any:
        result = self.node.pantry.join(*args, **kwargs)
        self.node.neighbourhood_ready()
        return result

    async def create_invite(self, **kwargs: Any) -> Any:
        """An invite that carries this node's addresses unless given others."""
        node = self.node
        if node.host is not None and not kwargs.get("addresses"):
            kwargs["addresses"] = node.dial_addresses()
        return node.pantry.create_invite(**kwargs)

    async def status(self) -> dict:
        node = self.node
        status = node.pantry.status() if node.store.neighbourhood else {
            **node.pantry.whoami(), "records": node.store.count(), "peers": [],
        }
        known = {p["peer"]: p for p in status.get("peers", [])}
        for peer in node.connected:
            known.setdefault(peer, {"peer": peer, "addresses": [], "last_sync": None})
        for peer, entry in known.items():
            entry["connected"] = peer in node.connected
            entry["last_sync"] = node.last_sync.get(peer, entry.get("last_sync"))
            progress = node.sync_progress.get(peer)
            if progress:
                entry["behind"] = progress.get("behind", 0)
                entry["syncing"] = progress.get("active", False)
        status.update({
            "node_running": True,
            "peer_id": str(node.host.peer_id) if node.host else None,
            "listen": node.dial_addresses(),
            "connected": sorted(node.connected),
            "island": node.island,
            "peers": sorted(known.values(), key=lambda p: (not p["connected"], p["peer"])),
            "gossip": vars(node.gossip.stats).copy() if node.gossip else None,
            "sync": dict(node.sync_totals),
            "liveness": vars(node.liveness.stats).copy() if node.liveness else None,
            "denied": sorted(node.denied),
            "banned": sorted(p for p in node.banned if node.is_cut_off(p)),
            "uptime_s": (_now_ms() - node.started) // 1000,
        })
        return status

    async def dump(self, ids: bool = True, state: bool = True) -> dict:
        """Everything a drill needs to compare nodes: the ids held and a digest
        of the state built from them."""
        node = self.node
        # The set's sync fingerprint (SHA-256 of the ids' sum and the count,
        # see protocol/SYNC.md): O(1) from the kept index, where hashing the
        # sorted ids cost milliseconds per call on nodes polled many times a
        # second while they heal.
        index = node.store.sync_index()
        count = len(index)
        result = {"count": count, "ids_digest": index.fingerprint(0, count).hex(),
                  "own_head": node.store.own_head(node.pantry.device).seq}
        if ids:
            result["ids"] = [rid.hex() for rid in index.ids(0, count)]
        if state and node.store.neighbourhood:
            from meshpantry.pantry.digest import state_digest

            built = node.pantry.state()
            result["state_digest"] = state_digest(built)
            result["over_allocated"] = [o.id.hex() for o in built.offers.values() if o.allocated > o.quantity]
            result["forks"] = len(built.forks)
        return result

    async def deny_peers(self, peers: list[str]) -> dict:
        """Cut links to these peers (drills): close and refuse connections."""
        node = self.node
        node.denied.update(peers)
        await node.close_denied()
        return {"denied": sorted(node.denied)}

    async def allow_peers(self, peers: list[str] | None = None) -> dict:
        """Allow these peers again (all when None) and redial at once."""
        node = self.node
        if peers is None:
            node.denied.clear()
        else:
            node.denied.difference_update(peers)
        if node.discovery is not None:
            node.discovery.redial_now()
        return {"denied": sorted(node.denied)}

    async def shutdown(self) -> dict:
        """Stop the node as SIGTERM would (``meshpantry stop``)."""
        self.node.stop_requested.set()
        return {"stopping": True}

    async def sync_now(self) -> dict:
        node = self.node
        for peer in list(node.connected):
            node.sync_soon(peer)
        return {"syncing": sorted(node.connected)}
