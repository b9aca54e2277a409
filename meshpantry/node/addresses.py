"""Which peer addresses a node may dial.

Only plain TCP over IP is dialled: no DNS names, relays or other transports.
A node that listens on loopback only dials loopback only, so a test or the
demo never sends a packet anywhere else.
"""

from __future__ import annotations

import functools
import ipaddress

import multiaddr

#: Addresses whose verdict is remembered. Peer exchange repeats every known
#: address on every new connection, and parsing a multiaddr costs ~50 us: a
#: rejoining neighbourhood of 20 spent a tenth of its CPU here. A few
#: thousand strings cover hundreds of peers with several addresses each.
USABLE_CACHE_SIZE = 4096


@functools.lru_cache(maxsize=USABLE_CACHE_SIZE)
def usable_address(address: str, loopback_only: bool) -> str | None:
    """``address`` as ``/ip4|ip6/<ip>/tcp/<port>`` if we may dial it, else None.

    Only plain TCP over IP is dialled (no DNS, relays or other transports);
    unspecified addresses (0.0.0.0) are refused; with ``loopback_only`` so is
    anything outside 127.0.0.0/8 and ::1.
    """
    try:
        parts = multiaddr.Multiaddr(address).items()
    except Exception:  # the multiaddr parser raises many types
        return None
    items = [(proto.name, value) for proto, value in parts if proto.name != "p2p"]
    if len(items) != 2 or items[0][0] not in ("ip4", "ip6") or items[1][0] != "tcp":
        return None
    try:
        ip = ipaddress.ip_address(str(items[0][1]))
        port = int(items[1][1])
    except ValueError:
        return None
    if ip.is_unspecified or ip.is_multicast or not 0 < port < 65536:
        return None
    if loopback_only and not ip.is_loopback:
        return None
    return f"/{items[0][0]}/{ip}/tcp/{port}"
