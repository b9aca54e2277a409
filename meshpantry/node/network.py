"""Which network a node uses: the machine's LAN (a household's default) or
loopback only (tests, CI, the demo, benchmarks and simulations).

Rules:

* The mode is the ``network`` setting, ``"lan"`` or ``"loopback"``. The
  environment variable ``MESHPANTRY_NETWORK=loopback`` latches it: under it
  every node of the process and of its children runs on loopback, and a
  config file or flag that asks for ``lan`` is refused (:class:`NetworkRefused`),
  so no stray option can take a test machine onto its network.
* Under **loopback** every address the node binds and listens on, announces
  over mDNS, dials as a static peer or puts in an invite is in 127.0.0.0/8.
  Asking for anything else (``0.0.0.0``, a LAN address, mDNS on ``all``)
  raises :class:`NetworkRefused` from :func:`plan_addresses`, which runs
  before any socket is opened (the node command, :func:`~.host.open_host`,
  :class:`~.mdns.Mdns` and the invite op all go through it).
* Under **lan** the node listens on ``0.0.0.0`` (every interface, so a laptop
  whose Wi-Fi address changes stays reachable without a restart), runs mDNS on
  the addresses of the machine's LAN interfaces, and announces and puts in
  invites those addresses: the ones a neighbour on the same network can dial,
  never loopback. A LAN interface is an IPv4 address that is not loopback,
  link-local or unspecified, on an interface whose name is not one of the
  virtual bridges containers and VMs create (:data:`VIRTUAL_PREFIXES`).
  Private addresses (192.168/16, 10/8, 172.16/12) come first.
* Explicit settings win within the mode: ``listen_host``, ``mdns_interfaces``
  and ``advertise`` name addresses instead of the choice made from the
  interfaces.

:func:`plan_addresses` is pure (interfaces in, addresses out);
:func:`resolve` is the edge that reads the environment and the interfaces.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, replace
from typing import Callable, Iterable, Mapping, Sequence

from .config import ALL_INTERFACES, LAN_MODE, LOOPBACK, LOOPBACK_MODE, MDNS_ALL, NETWORK_MODES, NodeSettings, SettingsError

#: The environment variable that keeps a machine's nodes on loopback.
ENVIRONMENT = "MESHPANTRY_NETWORK"

#: Interface name prefixes of virtual networks a neighbour cannot reach:
#: container bridges and veth pairs (docker, podman, LXC/LXD, Kubernetes
#: CNIs), VM host-only networks (libvirt, VirtualBox, VMware).
VIRTUAL_PREFIXES = ("docker", "br-", "veth", "virbr", "vboxnet", "vmnet", "lxc", "lxd", "cni", "flannel", "podman")


class NetworkRefused(SettingsError):
    """Loopback mode was asked for an address outside 127.0.0.0/8. ``what``
    says which use (listen, mDNS, static peer, invite), ``address`` which one."""

    def __init__(self, what: str, address: str) -> None:
        self.what, self.address = what, address
        super().__init__(
            "network",
            f"{what} {address!r} is outside loopback (127.0.0.0/8), and this node runs with "
            f"network = loopback ({ENVIRONMENT}=loopback or --network loopback): nothing may leave this machine",
        )


@dataclass(frozen=True)
class Interface:
    """One IPv4 address of one network interface of this machine."""

    name: str
    ip: str


@dataclass(frozen=True)
class AddressPlan:
    """Where a node listens, runs mDNS and says it can be reached.

    ``listen_host`` is one IPv4 address (possibly ``0.0.0.0``);
    ``mdns_interfaces`` the addresses mDNS binds to (never ``all`` under
    loopback); ``advertise`` the IPv4 addresses that replace a wildcard
    listen address in announcements, invites and peer exchange."""

    mode: str
    listen_host: str
    mdns_interfaces: tuple[str, ...]
    advertise: tuple[str, ...]


def is_loopback(address: str) -> bool:
    """Whether ``address`` is an IP address in 127.0.0.0/8 (or ::1)."""
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def lan_addresses(interfaces: Iterable[Interface]) -> tuple[str, ...]:
    """The addresses of ``interfaces`` a neighbour on the same network could
    dial, private ranges first, each once."""
    found: list[tuple[bool, str]] = []
    for interface in interfaces:
        try:
            ip = ipaddress.ip_address(interface.ip)
        except ValueError:
            continue
        if (ip.version != 4 or ip.is_loopback or ip.is_link_local or ip.is_unspecified or ip.is_multicast
                or interface.name.lower().startswith(VIRTUAL_PREFIXES)):
            continue
        if all(text != interface.ip for _, text in found):
            found.append((not ip.is_private, interface.ip))
    return tuple(text for _, text in sorted(found, key=lambda pair: pair[0]))


def network_mode(asked: str, environ: Mapping[str, str]) -> str:
    """The mode a node runs in: ``asked`` (the settings' ``network``), unless
    the environment latches loopback. Raises :class:`SettingsError` for an
    unknown value in the environment."""
    latched = environ.get(ENVIRONMENT, "").strip().lower()
    if latched and latched not in NETWORK_MODES:
        raise SettingsError("network", f"{ENVIRONMENT}={latched!r} is not one of {', '.join(NETWORK_MODES)}")
    if latched == LOOPBACK_MODE:
        return LOOPBACK_MODE
    return asked or LAN_MODE


def plan_addresses(settings: NodeSettings, interfaces: Sequence[Interface], environ: Mapping[str, str]) -> AddressPlan:
    """Where ``settings`` listen, announce and invite, given this machine's
    ``interfaces`` and the environment. Raises :class:`NetworkRefused` when
    loopback mode is asked for anything outside 127.0.0.0/8, and
    :class:`SettingsError` when the environment latches loopback while the
    settings ask for ``lan`` explicitly."""
    mode = network_mode(settings.network, environ)
    if mode == LOOPBACK_MODE:
        if settings.network == LAN_MODE:
            raise NetworkRefused("network", LAN_MODE)
        listen = settings.listen_host or LOOPBACK
        mdns = settings.mdns_interfaces or (LOOPBACK,)
        advertise = settings.advertise or (listen if listen != ALL_INTERFACES else LOOPBACK,)
        checks = [("listen address", listen)]
        checks += [("mDNS interface", i) for i in mdns] if settings.mdns_enabled else []
        checks += [("advertised address", a) for a in advertise]
        checks += [("static peer", peer) for peer in settings.static_peers]
        for what, address in checks:
            if not _loopback_address(address):
                raise NetworkRefused(what, address)
        return AddressPlan(mode, listen, tuple(mdns), tuple(advertise))
    lan = lan_addresses(interfaces)
    listen = settings.listen_host or ALL_INTERFACES
    if settings.advertise:
        advertise = settings.advertise
    elif listen != ALL_INTERFACES:
        advertise = (listen,)
    else:
        # No LAN interface (no Wi-Fi yet): loopback is all there is to say.
        advertise = lan or (LOOPBACK,)
    mdns = settings.mdns_interfaces or (lan if listen == ALL_INTERFACES else (listen,)) or (LOOPBACK,)
    return AddressPlan(mode, listen, tuple(mdns), tuple(advertise))


def _loopback_address(text: str) -> bool:
    """An IP address or a multiaddr whose IP is in 127.0.0.0/8 or ::1."""
    if text == MDNS_ALL:
        return False
    if text.startswith("/"):
        parts = text.split("/")
        return len(parts) > 2 and parts[1] in ("ip4", "ip6") and is_loopback(parts[2])
    return is_loopback(text)


def refuse_outside_loopback(mode: str, what: str, addresses: Iterable[str]) -> None:
    """Raise :class:`NetworkRefused` if ``mode`` is loopback and any of
    ``addresses`` (IPs or multiaddrs) is not in 127.0.0.0/8."""
    if mode != LOOPBACK_MODE:
        return
    for address in addresses:
        if not _loopback_address(address):
            raise NetworkRefused(what, address)


def invite_addrs(mode: str, addresses: Iterable[str]) -> list[str]:
    """The addresses an invite made in ``mode`` carries: on the LAN only
    those a neighbour can dial (never loopback, which would point the
    newcomer at their own machine); in loopback mode only loopback ones
    (anything else raises :class:`NetworkRefused`)."""
    chosen = list(addresses)
    if mode == LOOPBACK_MODE:
        refuse_outside_loopback(mode, "invite address", chosen)
        return chosen
    return [a for a in chosen if not _loopback_address(a)]


def advertised_addrs(bound: Iterable[str], advertise: Sequence[str]) -> list[str]:
    """``bound`` transport addresses with each ``/ip4/0.0.0.0/...`` replaced by
    one address per ``advertise`` IP (where a neighbour can dial us)."""
    prefix = f"/ip4/{ALL_INTERFACES}/"
    out: list[str] = []
    for addr in bound:
        if addr.startswith(prefix):
            out.extend(f"/ip4/{ip}/{addr[len(prefix):]}" for ip in advertise)
        else:
            out.append(addr)
    return list(dict.fromkeys(out))


def local_interfaces() -> list[Interface]:
    """This machine's IPv4 interface addresses (read locally, nothing sent)."""
    import ifaddr  # a dependency of zeroconf, itself a dependency of libp2p

    return [Interface(adapter.nice_name or adapter.name, ip.ip)
            for adapter in ifaddr.get_adapters() for ip in adapter.ips if isinstance(ip.ip, str)]


def resolve(settings: NodeSettings, environ: Mapping[str, str] | None = None,
            interfaces: Callable[[], Sequence[Interface]] = local_interfaces) -> NodeSettings:
    """``settings`` with the mode, listen address, mDNS interfaces and
    advertised addresses decided (:func:`plan_addresses`); idempotent. Reads
    the interfaces only in LAN mode. Raises :class:`NetworkRefused`."""
    environ = os.environ if environ is None else environ
    mode = network_mode(settings.network, environ)
    found = interfaces() if mode != LOOPBACK_MODE else []
    plan = plan_addresses(settings, found, environ)
    return replace(settings, network=plan.mode, listen_host=plan.listen_host,
                   mdns_interfaces=plan.mdns_interfaces, advertise=plan.advertise)


@dataclass(frozen=True)
class NetworkChoice:
    """What the first-run wizard offers: the LAN (with the addresses
    neighbours would dial) or this computer only; ``latched`` when the
    environment allows loopback alone."""

    lan: tuple[str, ...]
    latched: bool

    @property
    def default(self) -> str:
        return LOOPBACK_MODE if self.latched else LAN_MODE

    @property
    def modes(self) -> tuple[str, ...]:
        """The modes the user may pick."""
        return (LOOPBACK_MODE,) if self.latched else NETWORK_MODES

    def describe(self, mode: str) -> str:
        """One sentence saying what ``mode`` means on this machine."""
        if mode == LOOPBACK_MODE:
            return ("this computer only (127.0.0.1): neighbours cannot reach it; "
                    "for trying meshpantry out" + (f" ({ENVIRONMENT}=loopback is set)" if self.latched else ""))
        if self.lan:
            return (f"your local network ({', '.join(self.lan)}): neighbours on the same "
                    "Wi-Fi or LAN find this node and can join with its invites")
        return ("your local network (no LAN address found yet: connect to Wi-Fi, then "
                "restart the node so invites carry an address neighbours can dial)")


def network_choice(environ: Mapping[str, str] | None = None,
                   interfaces: Callable[[], Sequence[Interface]] = local_interfaces) -> NetworkChoice:
    """The choice on this machine now (reads the environment and interfaces)."""
    environ = os.environ if environ is None else environ
    latched = network_mode("", environ) == LOOPBACK_MODE
    return NetworkChoice(lan=() if latched else lan_addresses(interfaces()), latched=latched)
