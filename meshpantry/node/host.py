"""The libp2p host of a node: the device key as peer identity, TCP + Noise +
yamux, and nothing else.

Rules (why each holds: ``meshpantry/node/LIBP2P.md``, "Host"):

* Noise is the only security protocol offered. py-libp2p's default also offers
  TLS, SECIO and *plaintext*, and a plaintext dialer would get an unencrypted
  session; :func:`open_host` never leaves the default in place.
* yamux is the only muxer (mplex is not offered).
* mDNS, UPnP and bootstrap are never switched on inside libp2p: discovery is
  ours (:mod:`meshpantry.node.discovery`), so we control the interfaces mDNS
  touches and how fast peers are redialled.
* py-libp2p's auto-connector dials nothing (a correction in
  :mod:`.libp2p_compat`): with our connection limits it aimed at half a
  million connections and dialled every address its peerstore held, every
  30 s and after each disconnect, whatever our redial loop was doing.
* The corrections to py-libp2p (:mod:`.libp2p_compat`) are installed by
  :func:`build_host` before any host exists.
* Every dial is bounded (:func:`connect_bounded`), and py-libp2p's 60 s
  "negative cache" of failed peers is cleared before each of our dials so a
  restarted neighbour is reachable again at once; our own redial loop does the
  backing off. The library dials only one TCP address per peer, so we try a
  peer's addresses one by one ourselves.

The peer id of a device is its Ed25519 author key embedded in an identity
multihash, so :func:`peer_id_from_author` and :func:`author_from_peer_id`
convert between the two without any lookup.
"""

from __future__ import annotations

import errno
import logging
import socket
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import AsyncIterator, Callable

import multiaddr
import trio
from libp2p import new_host
from libp2p.abc import IHost
from libp2p.crypto.ed25519 import Ed25519PublicKey, create_new_key_pair
from libp2p.crypto.keys import KeyPair, KeyType
from libp2p.crypto.x25519 import create_new_key_pair as create_x25519_key_pair
from libp2p.custom_types import TProtocol
from libp2p.network.config import ConnectionConfig, RetryConfig
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo, info_from_p2p_addr
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_PROTOCOL_ID
from libp2p.security.noise.transport import Transport as NoiseTransport
from libp2p.stream_muxer.yamux.yamux import PROTOCOL_ID as YAMUX_PROTOCOL_ID
from libp2p.stream_muxer.yamux.yamux import Yamux

from meshpantry.keys import DeviceKey

from . import libp2p_compat
from .config import NodeSettings
from .network import advertised_addrs, resolve

log = logging.getLogger(__name__)

#: Seconds allowed to agree on a stream's protocol. A member answers in
#: milliseconds; the library's default of 30 s lets a silent peer hold a task.
NEGOTIATE_TIMEOUT_S = 10


#: Shortest time given to one address of a peer with several: a TCP and
#: Noise handshake on a LAN takes well under a second.
MIN_ADDRESS_TIMEOUT_S = 1.0

#: Seconds allowed to close connections and listeners when the host stops.
CLOSE_TIMEOUT_S = 5.0


class NotAnAuthor(ValueError):
    """A peer id that does not embed an Ed25519 key, so it is no device of ours."""

    def __init__(self, peer_id: str) -> None:
        super().__init__(f"peer {peer_id} is not an Ed25519 device key")
        self.peer_id = peer_id


class PortInUse(OSError):
    """The TCP port the node is to listen on is held by another process
    (often another meshpantry node)."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(
            errno.EADDRINUSE,
            f"TCP port {port} on {host} is already in use by another process (another meshpantry node?): "
            f"stop it ('meshpantry stop' with its --data-dir), or give this node another port "
            f"with --listen {host}:PORT or listen_port in node.toml",
        )
        self.host, self.port = host, port

    def __str__(self) -> str:
        return str(self.strerror)


def check_port_free(host: str, port: int) -> None:
    """Raise :class:`PortInUse` if ``host:port`` cannot be bound now. Binds a
    socket with the flags the node's listener gets (``SO_REUSEADDR``, never
    ``SO_REUSEPORT``) and closes it at once; port 0 is always free."""
    if port == 0:
        return
    probe = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise PortInUse(host, port) from None
        raise
    finally:
        probe.close()


class DialFailed(Exception):
    """A dial did not produce a connection within its bound."""

    def __init__(self, peer_id: str, reason: str) -> None:
        super().__init__(f"dial to {peer_id} failed: {reason}")
        self.peer_id, self.reason = peer_id, reason


def keypair_from_seed(seed: bytes) -> KeyPair:
    """The libp2p Ed25519 key pair of a 32-byte device seed."""
    assert len(seed) == 32
    return create_new_key_pair(seed)


def peer_id_from_author(author: bytes) -> ID:
    """The libp2p peer id of a 32-byte Ed25519 author key."""
    assert len(author) == 32
    return ID.from_pubkey(Ed25519PublicKey.from_bytes(author))


def author_from_peer_id(peer_id: ID) -> bytes:
    """The 32-byte Ed25519 key inside ``peer_id``. Raises :class:`NotAnAuthor`
    for peer ids of other key types or hashed keys."""
    key = peer_id.extract_public_key()
    if key is None or key.get_type() != KeyType.Ed25519:
        raise NotAnAuthor(str(peer_id))
    return key.to_bytes()


def tcp_multiaddr(host: str, port: int) -> multiaddr.Multiaddr:
    return multiaddr.Multiaddr(f"/ip4/{host}/tcp/{port}")


def peer_info_from_multiaddr(address: str) -> PeerInfo:
    """Parse ``/ip4/.../tcp/.../p2p/<id>``. Raises ValueError if malformed."""
    try:
        return info_from_p2p_addr(multiaddr.Multiaddr(address))
    except Exception as error:  # the parser raises a zoo of types
        raise ValueError(f"not a peer address: {address!r} ({error})") from None


@dataclass(frozen=True)
class RunningHost:
    """A host that is listening. ``libp2p`` is the py-libp2p host itself."""

    libp2p: IHost
    peer_id: ID
    author: bytes  #: the device key, equal to the key inside ``peer_id``
    #: IPv4 addresses that stand for a wildcard listen address in what we
    #: tell others (:class:`~.network.AddressPlan`); empty: every local one.
    advertise: tuple[str, ...] = ()

    @property
    def listen_addrs(self) -> list[multiaddr.Multiaddr]:
        """Transport addresses actually bound (the real port when 0 was asked)."""
        return list(self.libp2p.get_transport_addrs())

    def reachable_addrs(self) -> list[str]:
        """Where peers can reach us: the bound addresses, with a wildcard
        (0.0.0.0) replaced by the advertised addresses (the LAN interfaces'
        in LAN mode), or by every local IPv4 address, LAN ones first."""
        bound = [str(a) for a in self.listen_addrs]
        if self.advertise:
            return advertised_addrs(bound, self.advertise)
        return expand_unspecified(bound, local_ipv4_addresses)

    def dial_addrs(self) -> list[str]:
        """:meth:`reachable_addrs` with ``/p2p/<id>``, as a peer would dial them."""
        return [f"{addr}/p2p/{self.peer_id}" for addr in self.reachable_addrs()]


def local_ipv4_addresses() -> list[str]:
    """IPv4 addresses of this machine's interfaces (read locally, nothing sent)."""
    import ifaddr  # a dependency of zeroconf, itself a dependency of libp2p

    found = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if isinstance(ip.ip, str) and ip.ip not in found:
                found.append(ip.ip)
    return found


def expand_unspecified(addrs: list[str], local_ips: Callable[[], list[str]]) -> list[str]:
    """``addrs`` with each ``/ip4/0.0.0.0/tcp/<port>`` replaced by one address
    per local IPv4 address (``local_ips()``), non-loopback first."""
    out: list[str] = []
    for addr in addrs:
        prefix = "/ip4/0.0.0.0/"
        if not addr.startswith(prefix):
            out.append(addr)
            continue
        ips = sorted(local_ips(), key=lambda ip: ip.startswith("127."))
        out.extend(f"/ip4/{ip}/{addr[len(prefix):]}" for ip in ips)
    return out


#: See :func:`build_host`: effectively unlimited inbound connections over a
#: node's lifetime (each leaked slot costs the library one idle task).
INBOUND_SLOTS = 1_000_000


def build_host(settings: NodeSettings, key: DeviceKey) -> IHost:
    """A py-libp2p host for ``key`` with Noise only and yamux only; not yet
    running. Installs the corrections to py-libp2p first
    (:func:`.libp2p_compat.install`, idempotent), so every host of the
    process, the node's and the tests', runs with them. Raises
    :class:`~.libp2p_compat.Libp2pVersionMismatch` on an untested py-libp2p."""
    libp2p_compat.install()
    key_pair = keypair_from_seed(key.seed)
    noise = NoiseTransport(key_pair, noise_privkey=create_x25519_key_pair().private_key)
    return new_host(
        key_pair=key_pair,
        sec_opt={TProtocol(NOISE_PROTOCOL_ID): noise},
        muxer_opt={TProtocol(YAMUX_PROTOCOL_ID): Yamux},
        listen_addrs=[tcp_multiaddr(settings.listen_host, settings.listen_port)],
        enable_mDNS=False,
        enable_upnp=False,
        bootstrap=None,
        negotiate_timeout=NEGOTIATE_TIMEOUT_S,
        connection_config=ConnectionConfig(
            dial_timeout=settings.dial_timeout_s,
            # py-libp2p 0.8.1 holds an inbound slot (max - min of these) for
            # every connection ever accepted, until the host stops: a
            # neighbour that reconnects after each power cut would exhaust the
            # default 250 slots in days, after which every inbound connection
            # is refused mid-handshake. A neighbourhood has tens of peers, so
            # a very large cap costs nothing and keeps the node reachable.
            max_connections=INBOUND_SLOTS,
            high_watermark=INBOUND_SLOTS,
            # Our redial loop keeps the neighbours we know connected. (These
            # alone do not stop the library's auto-connector: it aims at the
            # midpoint of the watermarks; see libp2p_compat.)
            min_connections=0,
            low_watermark=0,
        ),
    )


@asynccontextmanager
async def open_host(settings: NodeSettings, key: DeviceKey) -> AsyncIterator[RunningHost]:
    """Run a host listening on ``settings.listen_host:listen_port`` (as
    :func:`~.network.resolve` decides them) for the lifetime of the
    ``async with`` block.

    Raises :class:`~.network.NetworkRefused` before any socket is opened when
    loopback mode is asked for another address, :class:`PortInUse`
    when another process holds the port, and OSError if it cannot be bound.
    """
    settings = resolve(settings)
    # The swarm logs a failed bind and carries on without a listener: say why
    # here. (The listener itself never shares a port: libp2p_compat.)
    check_port_free(settings.listen_host, settings.listen_port)
    host = build_host(settings, key)
    # The swarm retries each address three times with its own backoff; our
    # redial loop owns retrying, so one attempt per dial keeps dials bounded.
    # (A setting the swarm takes only in its constructor, which new_host
    # does not expose: LIBP2P.md, "Host".)
    host.get_network().retry_config = RetryConfig(max_retries=0)
    async with host.run([tcp_multiaddr(settings.listen_host, settings.listen_port)]):
        try:
            running = RunningHost(host, host.get_id(), key.public, settings.advertise)
            if not running.listen_addrs:
                raise OSError(f"could not listen on {settings.listen_host}:{settings.listen_port}")
            log.info("listening on %s", ", ".join(running.dial_addrs()))
            yield running
        finally:
            # Leaving host.run() alone leaves the TCP listener accepting (its
            # close is cancelled before it runs): the port stays bound and
            # peers complete handshakes with a dead swarm. Close explicitly.
            with trio.CancelScope(shield=True), trio.move_on_after(CLOSE_TIMEOUT_S):
                await host.get_network().close()


async def connect_bounded(host: IHost, peer: PeerInfo, timeout_s: float) -> None:
    """Connect to ``peer`` within ``timeout_s`` seconds, trying its addresses
    in order until one works.

    Works around two py-libp2p traps: a failed dial puts the peer in a 60 s
    negative cache that fails every later dial instantly, even to another
    address (cleared before each attempt); and a dial tries only one TCP
    address per peer, taken from the peerstore, so a stale address hides a
    good one (the peerstore is reset to the one address being tried).
    Raises :class:`DialFailed` on timeout or when every address fails.
    """
    network = host.get_network()
    peerstore = host.get_peerstore()
    addrs = list(peer.addrs)
    if not addrs:
        raise DialFailed(str(peer.peer_id), "no address to dial")
    per_address = max(timeout_s / len(addrs), MIN_ADDRESS_TIMEOUT_S)
    reasons: list[str] = []
    with trio.move_on_after(timeout_s) as overall:
        for addr in addrs:
            network.unblock_peer(peer.peer_id)
            peerstore.clear_addrs(peer.peer_id)
            try:
                with trio.fail_after(per_address):
                    await host.connect(PeerInfo(peer.peer_id, [addr]))
            except trio.TooSlowError:
                reasons.append(f"{addr}: no connection within {per_address:.1f} s")
                continue
            except Exception as error:  # swarm errors, OSError, handshake failures
                reasons.append(f"{addr}: {type(error).__name__}: {error}")
                continue
            finally:
                # Our redial loop does the backing off, not the library.
                network.unblock_peer(peer.peer_id)
            # connect() can return without a connection (the far swarm did
            # the handshake and then failed to register it): check.
            if any(not conn.is_closed for conn in network.get_connections(peer.peer_id)):
                return
            reasons.append(f"{addr}: handshake done but no live connection")
    if overall.cancelled_caught:
        reasons.append(f"gave up after {timeout_s} s")
    raise DialFailed(str(peer.peer_id), "; ".join(reasons))
