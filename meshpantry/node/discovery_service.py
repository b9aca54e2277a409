"""Wiring discovery into the node: the address book in the store feeds the
redial loop, every peer reached is remembered, and mDNS and peer exchange run
when the modules for them are present and enabled."""

from __future__ import annotations

import logging
import time
from typing import Any

import trio

from .discovery import Discovery

log = logging.getLogger("meshpantry.node")


async def start_discovery(node: Any, nursery: trio.Nursery) -> Discovery:
    store = node.store

    def remember(peer_id: Any, addrs: list[str]) -> None:
        dial = [a if "/p2p/" in a else f"{a}/p2p/{peer_id}" for a in addrs]
        store.remember_peer(str(peer_id), dial, int(time.time() * 1000))

    discovery = Discovery(node.host, node.settings, node.rng, remember=remember)
    loaded = discovery.load_book((p.peer_id, list(p.multiaddrs)) for p in store.peer_addresses())
    log.info("address book: %d peers to redial", loaded)
    node.discovery = discovery
    await nursery.start(discovery.run)
    if node.settings.mdns_enabled:
        try:
            from . import mdns
        except ImportError:
            log.warning("mDNS is not available in this build; use static peers")
        else:
            await nursery.start(mdns.run_mdns, node.host, node.settings, discovery)
    try:
        from . import peer_exchange
    except ImportError:
        pass
    else:
        peer_exchange.install(node.host, discovery)
        nursery.start_soon(peer_exchange.run, node.host, discovery)
    return discovery
