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
from .discovery import Discovery, KnownPeer
from .host import RunningHost
from .mdns import Mdns
from .peer_exchange import PeerExchange

log = logging.getLogger("meshpantry.node")

#: Seconds one address exchange with a newly connected member may take.
EXCHANGE_TIMEOUT_S = 10.0

#: Seconds the on-connect sync waits for the exchange that may show both
#: sides already agree (one round trip on a LAN, ~10 ms; a loaded Raspberry
#: Pi answers within a second). Past it the session starts anyway.
MEET_TIMEOUT_S = 2.0

#: Seconds between two looks at whether a connected peer should hear from
#: this node again (:func:`refresh_due`): a side whose links changed tells
#: its peers within this time. The connection target reads those reports,
#: and the mesh changes when islands rejoin or nodes trim.
REPORT_REFRESH_S = 15.0

#: Seconds after which the side that leads a pair exchanges again although
#: it has no news: a backstop for a report the other side failed to send.
#: Measured on 20 idle nodes, the exchange every 15 s was about half of
#: their CPU (a new stream each, ~15 ms of CPU for both ends together).
REPORT_BACKSTOP_S = 120.0


@dataclass(frozen=True)
class Discoverers:
    """The discovery pieces of a running node."""

    discovery: Discovery  #: known peers and the redial loop, running
    peer_exchange: PeerExchange  #: serving ``/meshpantry/peers/2`` (and 1)
    mdns: Mdns | None  #: announcing and browsing, or None when mDNS is off


async def start_discovery(
    store: Store,
    host: RunningHost,
    settings: NodeSettings,
    rng: random.Random,
    is_cut_off: Callable[[str], bool],
    nursery: trio.Nursery,
    busy: Callable[[str], bool] = lambda peer: False,
) -> Discoverers:
    """Start the redial loop over the address book (and mDNS when the
    settings enable it) in ``nursery`` and serve peer exchange. Peers for
    which ``is_cut_off(peer_id_text)`` holds are not dialled; links for which
    ``busy(peer_id_text)`` holds (a sync session runs) are not trimmed."""

    def remember(peer_id: ID, addrs: list[str]) -> None:
        if is_cut_off(str(peer_id)):  # e.g. not a member: not worth a place in the book
            return
        dial = [a if "/p2p/" in a else f"{a}/p2p/{peer_id}" for a in addrs]
        store.remember_peer(str(peer_id), dial, int(time.time() * 1000))

    discovery = Discovery(
        host, settings, rng, remember=remember, skip=lambda peer_id: is_cut_off(str(peer_id)),
        busy=lambda peer_id: busy(str(peer_id)),
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

    def fingerprint() -> bytes:
        index = store.sync_index()
        return index.fingerprint(0, len(index))

    exchange = PeerExchange(host, discovery, is_member, fingerprint)
    exchange.install()
    return Discoverers(discovery, exchange, mdns)


async def exchange_addresses(exchange: PeerExchange, peer: str, timeout_s: float = EXCHANGE_TIMEOUT_S) -> bool:
    """Swap known addresses, links and set fingerprints with a connected
    member (best effort). Returns True when it found both sides holding the
    same set, False otherwise (also on failure or past ``timeout_s``)."""
    peer_id = ID.from_base58(peer)
    try:
        with trio.fail_after(timeout_s):
            await exchange.exchange_with(peer_id)
    except trio.Cancelled:
        raise
    except Exception as error:  # a non-member or a vanished peer: nothing to learn
        log.debug("peer exchange with %s: %r", peer, error)
    return exchange.agrees(peer_id)


def refresh_due(peer: KnownPeer, now: float, *, leads: bool, news: bool) -> bool:
    """Whether to exchange with the connected ``peer`` now (trio time
    ``now``): when this side has ``news`` for it (links or shared peers it
    has not told it: either side of a pair tells its own changes), or when
    this side ``leads`` the pair and the peer's report is missing or older
    than :data:`REPORT_BACKSTOP_S`."""
    if news:
        return True
    return leads and (peer.reported_at is None or now - peer.reported_at >= REPORT_BACKSTOP_S)


async def refresh_reports(exchange: PeerExchange, discovery: Discovery, leads: Callable[[str], bool]) -> None:
    """Every :data:`REPORT_REFRESH_S`, exchange again with each connected
    peer for which :func:`refresh_due` holds."""
    while True:
        await trio.sleep(REPORT_REFRESH_S)
        for peer in list(discovery.peers.values()):
            if not peer.connected:
                continue
            news = exchange.has_news(peer.peer_id, since=peer.connected_at)
            if refresh_due(peer, trio.current_time(), leads=leads(str(peer.peer_id)), news=news):
                await exchange_addresses(exchange, str(peer.peer_id))
