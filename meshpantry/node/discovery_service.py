"""Wiring discovery into the node: the address book in the store feeds the
redial loop, every peer reached is remembered, and mDNS and peer exchange run
when the modules for them are present and enabled."""

from __future__ import annotations

import logging
import time
from typing import Any

import trio

from .discovery import Discovery
from .mdns import Mdns
from .peer_exchange import PeerExchange

log = logging.getLogger("meshpantry.node")


async def start_discovery(node: Any, nursery: trio.Nursery) -> Discovery:
    store = node.store

    def remember(peer_id: Any, addrs: list[str]) -> None:
        dial = [a if "/p2p/" in a else f"{a}/p2p/{peer_id}" for a in addrs]
        store.remember_peer(str(peer_id), dial, int(time.time() * 1000))

    discovery = Discovery(node.host, node.settings, node.rng, remember=remember)
    discovery.skip = lambda peer_id: node.is_cut_off(str(peer_id))
    loaded = discovery.load_book((p.peer_id, list(p.multiaddrs)) for p in store.peer_addresses())
    log.info("address book: %d peers to redial", loaded)
    node.discovery = discovery
    await nursery.start(discovery.run)
    if node.settings.mdns_enabled:
        mdns = Mdns(node.host, node.settings, on_peer=lambda peer_id, addrs: discovery.add_peer(peer_id, addrs))
        node.mdns = mdns
        await nursery.start(mdns.run)

    def is_member(author: bytes) -> bool:
        try:
            return node.store.is_member_device(author)
        except Exception:  # noqa: BLE001 - no neighbourhood yet: nobody is
            return False

    exchange = PeerExchange(node.host, discovery, is_member)
    exchange.install()
    node.peer_exchange = exchange
    return discovery


async def exchange_addresses(node: Any, peer: str) -> None:
    """Swap known addresses with a newly connected member (best effort)."""
    from libp2p.peer.id import ID

    exchange = getattr(node, "peer_exchange", None)
    if exchange is None:
        return
    try:
        with trio.fail_after(10):
            await exchange.exchange_with(ID.from_base58(peer))
    except trio.Cancelled:
        raise
    except Exception as error:  # a non-member or a vanished peer: nothing to learn
        log.debug("peer exchange with %s: %r", peer, error)
