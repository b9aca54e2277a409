"""Wiring discovery into the node: the address book in the store feeds the
redial loop, every peer reached is remembered, and mDNS (when enabled) and
peer exchange run beside it. :func:`start_discovery` returns the running
pieces as one typed :class:`Discoverers`, which the node keeps."""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from typing import Callable

import trio
from libp2p.peer.id import ID

from meshpantry.store import Store

from .config import NodeSettings
from .discovery import Discovery
from .host import RunningHost
from .mdns import Mdns
from .peer_exchange import PeerExchange

log = logging.getLogger("meshpantry.node")

#: Seconds one address exchange with a newly connected member may take.
EXCHANGE_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Discoverers:
    """The discovery pieces of a running node."""

    discovery: Discovery  #: known peers and the redial loop, running
    peer_exchange: PeerExchange  #: serving ``/meshpantry/peers/1``
    mdns: Mdns | None  #: announcing and browsing, or None when mDNS is off


async def start_discovery(
    store: Store,
    host: RunningHost,
    settings: NodeSettings,
    rng: random.Random,
    is_cut_off: Callable[[str], bool],
    nursery: trio.Nursery,
) -> Discoverers:
    """Start the redial loop over the address book (and mDNS when the
    settings enable it) in ``nursery`` and serve peer exchange. Peers for
    which ``is_cut_off(peer_id_text)`` holds are not dialled."""

    def remember(peer_id: ID, addrs: list[str]) -> None:
        if is_cut_off(str(peer_id)):  # e.g. not a member: not worth a place in the book
            return
        dial = [a if "/p2p/" in a else f"{a}/p2p/{peer_id}" for a in addrs]
        store.remember_peer(str(peer_id), dial, int(time.time() * 1000))

    discovery = Discovery(
        host, settings, rng, remember=remember, skip=lambda peer_id: is_cut_off(str(peer_id))
    )
    loaded = discovery.load_book((p.peer_id, list(p.multiaddrs)) for p in store.peer_addresses()
                                 if not is_cut_off(p.peer_id))
    log.info("address book: %d peers to redial", loaded)
    await nursery.start(discovery.run)
    mdns = None
    if settings.mdns_enabled:
        mdns = Mdns(host, settings, on_peer=lambda peer_id, addrs: discovery.add_peer(peer_id, addrs))
        await nursery.start(mdns.run)

    def is_member(author: bytes) -> bool:
        try:
            return store.is_member_device(author)
        except Exception:  # noqa: BLE001 - no neighbourhood yet: nobody is
            return False

    exchange = PeerExchange(host, discovery, is_member)
    exchange.install()
    return Discoverers(discovery, exchange, mdns)


async def exchange_addresses(exchange: PeerExchange, peer: str) -> None:
    """Swap known addresses with a newly connected member (best effort)."""
    try:
        with trio.fail_after(EXCHANGE_TIMEOUT_S):
            await exchange.exchange_with(ID.from_base58(peer))
    except trio.Cancelled:
        raise
    except Exception as error:  # a non-member or a vanished peer: nothing to learn
        log.debug("peer exchange with %s: %r", peer, error)
