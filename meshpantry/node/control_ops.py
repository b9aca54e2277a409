"""What a running node serves on its control socket.

Every op of the household's :class:`~meshpantry.pantry.Pantry` (the command
line's verbs, :func:`meshpantry.control.routes.pantry_routes`), plus the
node's own: ``status`` (identity, peers, sync and gossip counters, island
state), ``dump`` (what drills compare: the ids held and a digest of the
state), ``deny_peers`` / ``allow_peers`` (cut links in drills), ``sync_now``
and ``shutdown``; and three Pantry ops the node completes:
``create_neighbourhood`` and ``join`` start networking, ``create_invite``
puts in the node's addresses. :func:`control_routes` is the table for
:class:`meshpantry.control.server.ControlServer`.
"""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING

from meshpantry.control import requests as rq
from meshpantry.control.frames import Wire
from meshpantry.control.routes import Route, Routes, arguments, pantry_routes, routes

from meshpantry.pantry.errors import NotAllowed

from .network import NetworkRefused, invite_addrs

if TYPE_CHECKING:  # pragma: no cover
    from .runner import Node

#: Pantry ops the node answers itself (they also touch the node).
NODE_OVERRIDES = (
    rq.CreateNeighbourhood, rq.Join, rq.CreateInvite, rq.Status, rq.BundleImport, rq.LinkDevice, rq.AdoptLink,
)


def control_routes(node: "Node") -> Routes:
    """Op name -> route, for every op the node serves."""
    ops = NodeOps(node)
    return routes(
        *pantry_routes(node.pantry, without=NODE_OVERRIDES),
        Route(rq.CreateNeighbourhood, ops.create_neighbourhood),
        Route(rq.Join, ops.join),
        Route(rq.CreateInvite, ops.create_invite),
        Route(rq.LinkDevice, ops.link_device),
        Route(rq.AdoptLink, ops.adopt_link),
        Route(rq.Status, ops.status),
        Route(rq.BundleImport, ops.bundle_import),
        Route(rq.Dump, ops.dump),
        Route(rq.DenyPeers, ops.deny_peers),
        Route(rq.AllowPeers, ops.allow_peers),
        Route(rq.SyncNow, ops.sync_now),
        Route(rq.Shutdown, ops.shutdown),
    )


def _now_ms() -> int:
    return int(time.time() * 1000)


class NodeOps:
    """The node's own ops, over a :class:`~meshpantry.node.runner.Node`."""

    def __init__(self, node: "Node") -> None:
        self.node = node

    async def create_neighbourhood(self, request: rq.CreateNeighbourhood) -> Wire:
        result = self.node.pantry.create_neighbourhood(request.name, request.household, request.area)
        self.node.neighbourhood_ready()
        return result

    async def join(self, request: rq.Join) -> Wire:
        result = self.node.pantry.join(request.code, request.household, request.area)
        self.node.neighbourhood_ready()
        return result

    async def adopt_link(self, request: rq.AdoptLink) -> Wire:
        result = self.node.pantry.adopt_link(request.code)
        self.node.neighbourhood_ready()
        return result

    async def link_device(self, request: rq.LinkDevice) -> Wire:
        """A link code that carries this node's addresses unless given others."""
        node = self.node
        if node.host is not None and not request.addresses:
            request = dataclasses.replace(request, addresses=tuple(node.dial_addresses()))
        return node.pantry.link_device(**arguments(request))

    async def create_invite(self, request: rq.CreateInvite) -> Wire:
        """An invite that carries this node's addresses unless given others:
        on the LAN never loopback ones, in loopback mode only those."""
        node = self.node
        if node.host is not None and not request.addresses:
            request = dataclasses.replace(request, addresses=tuple(node.dial_addresses()))
        try:
            addresses = invite_addrs(node.settings.network, request.addresses)
        except NetworkRefused as refused:
            raise NotAllowed(refused.reason) from None
        request = dataclasses.replace(request, addresses=tuple(addresses))
        return node.pantry.create_invite(**arguments(request))

    async def status(self, request: rq.Status) -> Wire:
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
            "discovery": vars(node.discovery.stats).copy() if node.discovery else None,
            "outsiders_closed": node.gatekeeper.outsiders.closed,
            "denied": sorted(node.denied),
            "banned": sorted(p for p in node.banned if node.is_cut_off(p)),
            "uptime_s": (_now_ms() - node.started) // 1000,
        })
        outage = status.get("outage")
        if outage:  # the catch-up after an outage: how far behind the peers still are
            behind = sum(p.get("behind", 0) for p in known.values() if p.get("syncing"))
            outage["behind"] = behind
            outage["catching_up"] = outage["ended"] is not None and behind > 0
        return status

    async def bundle_import(self, request: rq.BundleImport) -> Wire:
        """Apply a bundle, tell subscribers of what is new, and sync with the
        peers in reach so the rest of this island has it soon."""
        from meshpantry.pantry.bundle_file import apply_bundle

        from .runner import _event_of

        node = self.node
        result, logged = apply_bundle(node.pantry, request.path)
        for record in logged[-50:]:
            node.control.publish(_event_of(record, own=False))
        if logged:
            for peer in list(node.connected):
                node.sync_soon(peer)
        return result

    async def dump(self, request: rq.Dump) -> Wire:
        """Everything a drill needs to compare nodes: the ids held and a digest
        of the state built from them."""
        node = self.node
        # The set's sync fingerprint (SHA-256 of the ids' sum and the count,
        # see protocol/SYNC.md): O(1) from the kept index, where hashing the
        # sorted ids cost milliseconds per call on nodes polled many times a
        # second while they heal.
        index = node.store.sync_index()
        count = len(index)
        result: dict[str, Wire] = {"count": count, "ids_digest": index.fingerprint(0, count).hex(),
                                   "own_head": node.store.own_head(node.pantry.device).seq}
        if request.ids:
            result["ids"] = [rid.hex() for rid in index.ids(0, count)]
        if request.state and node.store.neighbourhood:
            from meshpantry.pantry.digest import state_digest

            built = node.pantry.state()
            result["state_digest"] = state_digest(built)
            result["over_allocated"] = [o.id.hex() for o in built.offers.values() if o.allocated > o.quantity]
            result["forks"] = len(built.forks)
        return result

    async def deny_peers(self, request: rq.DenyPeers) -> Wire:
        """Cut links to these peers (drills): close and refuse connections."""
        node = self.node
        node.denied.update(request.peers)
        await node.close_denied()
        return {"denied": sorted(node.denied)}

    async def allow_peers(self, request: rq.AllowPeers) -> Wire:
        """Allow these peers again (all when None) and redial at once."""
        node = self.node
        if request.peers is None:
            node.denied.clear()
        else:
            node.denied.difference_update(request.peers)
        if node.discovery is not None:
            node.discovery.redial_now()
        return {"denied": sorted(node.denied)}

    async def shutdown(self, request: rq.Shutdown) -> Wire:
        """Stop the node as SIGTERM would (``meshpantry stop``), leaving the
        marker that keeps an open UI from starting it again."""
        from .stopping import mark_stopped

        if self.node.pantry.data_dir is not None:
            mark_stopped(self.node.pantry.data_dir)
        self.node.stop_requested.set()
        return {"stopping": True}

    async def sync_now(self, request: rq.SyncNow) -> Wire:
        node = self.node
        for peer in list(node.connected):
            node.sync_soon(peer)
        return {"syncing": sorted(node.connected)}
