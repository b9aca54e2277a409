"""mDNS announcement and discovery, on the interfaces the settings name.

py-libp2p's own mDNS builds ``Zeroconf()`` with no arguments, so it binds and
sends on every interface of the machine, with no option; it also resolves
services with blocking sleeps on zeroconf's thread. This module does the same
job with zeroconf directly so that ``mdns_interfaces`` really reaches
``Zeroconf(interfaces=...)``: ``("127.0.0.1",)`` keeps every multicast
packet on loopback. The interfaces and the announced addresses come
from :func:`~.network.resolve`: the LAN interfaces in LAN mode, and only
127.0.0.0/8 in loopback mode (anything else is refused before zeroconf opens a
socket).

Wire format follows the libp2p mDNS spec, so other libp2p nodes recognise it:
service type ``_p2p._udp.local.``, a random instance name, and TXT records
``dnsaddr=<multiaddr>/p2p/<peer id>``.

Threads: zeroconf calls its listener on its own thread; the listener only
hands the service name to trio (``TrioToken.run_sync_soon``, never a blocking
call: cancelling the browser joins that thread). Resolution, registration
and closing block, so they run on worker threads.
"""

from __future__ import annotations

import logging
import secrets
import socket
from typing import Any, Callable, Iterable

import trio
from libp2p.peer.id import ID
from zeroconf import InterfaceChoice, IPVersion, ServiceBrowser, ServiceInfo, ServiceListener, Zeroconf

from .config import MDNS_ALL, NodeSettings
from .host import RunningHost, expand_unspecified, local_ipv4_addresses
from .network import advertised_addrs, refuse_outside_loopback, resolve

log = logging.getLogger(__name__)

SERVICE_TYPE = "_p2p._udp.local."

#: Milliseconds to wait for a discovered service's TXT records.
RESOLVE_TIMEOUT_MS = 3000

#: Services waiting to be resolved. A neighbourhood LAN has tens of nodes;
#: a flood of announcements beyond this is dropped (and mDNS repeats anyway).
MAX_PENDING_SERVICES = 256

#: TXT entries read per service: a node with more addresses than this is odd.
MAX_DNSADDRS = 8

OnPeer = Callable[[ID, list[str]], None]
ZeroconfFactory = Callable[..., Any]


def zeroconf_arguments(interfaces: Iterable[str]) -> dict[str, Any]:
    """The keyword arguments ``Zeroconf`` gets for the ``mdns_interfaces`` setting."""
    chosen = list(interfaces)
    assert chosen, "mDNS needs at least one interface"
    if MDNS_ALL in chosen:
        return {"interfaces": InterfaceChoice.All, "ip_version": IPVersion.V4Only}
    return {"interfaces": chosen, "ip_version": IPVersion.V4Only}


def announced_addrs(host: RunningHost, settings: NodeSettings) -> list[str]:
    """The ``dnsaddr`` values we announce: where we listen, with our id. A
    wildcard listen address (0.0.0.0) becomes the host's advertised addresses
    (the LAN interfaces'), or else the named mDNS interface addresses, or with
    ``all`` every local IPv4 address."""
    if host.advertise:
        out = advertised_addrs([str(a) for a in host.listen_addrs], host.advertise)
        return [f"{a}/p2p/{host.peer_id}" for a in out][:MAX_DNSADDRS]
    named = [i for i in settings.mdns_interfaces if i != MDNS_ALL]
    out = []
    for addr in host.listen_addrs:
        text = str(addr)
        if text.startswith("/ip4/0.0.0.0/") and named:
            out.extend(f"/ip4/{ip}/{text[len('/ip4/0.0.0.0/'):]}" for ip in named)
        else:
            out.extend(expand_unspecified([text], local_ipv4_addresses))
    return [f"{a}/p2p/{host.peer_id}" for a in out][:MAX_DNSADDRS]


def parse_dnsaddrs(properties: dict[bytes, bytes | None]) -> tuple[ID, list[str]] | None:
    """Peer id and addresses from a service's TXT records, or None if unusable."""
    peer: ID | None = None
    addrs: list[str] = []
    for key, value in list(properties.items())[: MAX_DNSADDRS * 2]:
        if not key.startswith(b"dnsaddr") or not value:
            continue
        try:
            text = value.decode("ascii")
            address, peer_text = text.rsplit("/p2p/", 1)
            candidate = ID.from_base58(peer_text)
        except (UnicodeDecodeError, ValueError):
            continue
        if peer is None:
            peer = candidate
        if candidate == peer:
            addrs.append(address)
    return (peer, addrs) if peer is not None and addrs else None


class _Listener(ServiceListener):
    """Runs on zeroconf's thread: only passes names over to trio."""

    def __init__(self, names: trio.MemorySendChannel, token: trio.lowlevel.TrioToken, own_name: str) -> None:
        self.names, self.token, self.own_name = names, token, own_name

    def _post(self, type_: str, name: str) -> None:
        if name == self.own_name:
            return
        # Never block this thread on trio: trio may itself be waiting for
        # zeroconf (cancelling the browser joins this thread).
        try:
            self.token.run_sync_soon(self._deliver, (type_, name))
        except trio.RunFinishedError:
            pass

    def _deliver(self, item: tuple[str, str]) -> None:
        """Runs in trio; must not raise (it would crash the run)."""
        try:
            self.names.send_nowait(item)
        except (trio.WouldBlock, trio.ClosedResourceError, trio.BrokenResourceError):
            pass  # busy or shutting down; mDNS announces again

    def add_service(self, zc: Zeroconf, type_: str, name: str) -> None:
        self._post(type_, name)

    def update_service(self, zc: Zeroconf, type_: str, name: str) -> None:
        self._post(type_, name)

    def remove_service(self, zc: Zeroconf, type_: str, name: str) -> None:
        return None  # a vanished service says nothing the redial loop does not learn


class Mdns:
    """Announce this host and report peers found, while :meth:`run` runs.

    ``on_peer(peer_id, addrs)`` is called in trio for every resolved peer
    (typically :meth:`Discovery.add_peer`). ``zeroconf_factory`` exists for
    tests; it is called exactly once as ``factory(**zeroconf_arguments(...))``.
    """

    def __init__(
        self,
        host: RunningHost,
        settings: NodeSettings,
        on_peer: OnPeer,
        zeroconf_factory: ZeroconfFactory = Zeroconf,
    ) -> None:
        self.host, self.settings, self.on_peer = host, resolve(settings), on_peer
        self.zeroconf_factory = zeroconf_factory
        self.instance = f"{secrets.token_hex(16)}.{SERVICE_TYPE}"
        self.found = 0  #: peers resolved (for status)

    def service_info(self) -> ServiceInfo:
        properties = {
            (b"dnsaddr" if i == 0 else f"dnsaddr{i + 1}".encode()): addr.encode()
            for i, addr in enumerate(announced_addrs(self.host, self.settings))
        }
        ips = [i for i in self.settings.mdns_interfaces if i != MDNS_ALL]
        port = int(self.host.listen_addrs[0].value_for_protocol("tcp"))
        return ServiceInfo(
            SERVICE_TYPE,
            self.instance,
            port=port,
            properties=properties,
            server=f"{self.instance.split('.')[0]}.local.",
            addresses=[socket.inet_aton(ip) for ip in ips],
        )

    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        # The last look before a multicast socket exists: nothing but
        # loopback in loopback mode, whatever the host was given.
        refuse_outside_loopback(self.settings.network, "mDNS interface", self.settings.mdns_interfaces)
        refuse_outside_loopback(self.settings.network, "announced address", announced_addrs(self.host, self.settings))
        zc = await trio.to_thread.run_sync(
            lambda: self.zeroconf_factory(**zeroconf_arguments(self.settings.mdns_interfaces))
        )
        send, receive = trio.open_memory_channel(MAX_PENDING_SERVICES)
        try:
            info = self.service_info()
            await trio.to_thread.run_sync(zc.register_service, info)
            browser = ServiceBrowser(zc, SERVICE_TYPE, listener=_Listener(send, trio.lowlevel.current_trio_token(), self.instance))
            task_status.started()
            try:
                async for type_, name in receive:
                    await self._resolve(zc, type_, name)
            finally:
                send.close()
                with trio.CancelScope(shield=True), trio.move_on_after(5):
                    await trio.to_thread.run_sync(browser.cancel, abandon_on_cancel=True)
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(5):
                await trio.to_thread.run_sync(zc.close, abandon_on_cancel=True)

    async def _resolve(self, zc: Any, type_: str, name: str) -> None:
        try:
            info = await trio.to_thread.run_sync(zc.get_service_info, type_, name, RESOLVE_TIMEOUT_MS)
        except Exception as error:  # zeroconf raises several types on bad packets
            log.debug("mDNS: could not resolve %s: %r", name, error)
            return
        if info is None:
            return
        parsed = parse_dnsaddrs(dict(info.properties))
        if parsed is None:
            return
        peer_id, addrs = parsed
        if peer_id == self.host.peer_id:
            return
        self.found += 1
        self.on_peer(peer_id, addrs)
