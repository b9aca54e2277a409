"""Settings of one node's networking: where it listens, how it finds peers,
how it paces gossip and redials.

The command line decides precedence (TOML file < environment < flags) and
builds one :class:`NodeSettings`; everything here only says what each setting
means and what its safe default is.

Defaults: a household's node serves its LAN (``network = "lan"``): it listens
on every interface and runs mDNS on the machine's LAN interfaces. Tests, CI,
the demo, benchmarks and simulations run with ``network = "loopback"``
(``MESHPANTRY_NETWORK=loopback``), under which the node refuses any address
outside 127.0.0.0/8. Empty address settings mean "chosen by the network mode";
:func:`meshpantry.node.network.resolve` fills them in before anything binds.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, Mapping

#: Fixed default TCP port, so that a household can write one firewall rule.
#: Unassigned by IANA and easy to remember ("4747").
DEFAULT_PORT = 4747

#: Loopback: where a node in loopback mode listens and runs mDNS.
LOOPBACK = "127.0.0.1"

#: Network modes: the machine's LAN (a household's default), or loopback only
#: (tests, CI, demo, benchmarks). See :mod:`meshpantry.node.network`.
LAN_MODE = "lan"
LOOPBACK_MODE = "loopback"
NETWORK_MODES = (LAN_MODE, LOOPBACK_MODE)

#: Listening address that means "every IPv4 interface" (a neighbourhood LAN).
ALL_INTERFACES = "0.0.0.0"

#: mDNS interface word that means "every interface" (zeroconf's InterfaceChoice.All).
MDNS_ALL = "all"


class SettingsError(ValueError):
    """A setting has an unknown name or a value of the wrong type or range."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"setting {name!r}: {reason}")
        self.name, self.reason = name, reason


@dataclass(frozen=True)
class NodeSettings:
    """Networking settings. Address fields left empty are chosen by the
    network mode (:func:`meshpantry.node.network.resolve`)."""

    #: ``"lan"`` or ``"loopback"``; empty means ``"lan"`` unless the
    #: environment latches loopback (``MESHPANTRY_NETWORK=loopback``).
    network: str = ""
    #: IPv4 address to listen on; empty: ``0.0.0.0`` on the LAN, ``127.0.0.1``
    #: on loopback.
    listen_host: str = ""
    #: TCP port; 0 asks the OS for a free one (tests).
    listen_port: int = DEFAULT_PORT

    #: Announce and discover peers with multicast DNS.
    mdns_enabled: bool = True
    #: IPv4 addresses of the interfaces mDNS binds to, or ``("all",)``;
    #: empty: the LAN interfaces' addresses (loopback in loopback mode).
    mdns_interfaces: tuple[str, ...] = ()
    #: IPv4 addresses announced and put in invites in place of a wildcard
    #: listen address; empty: the LAN interfaces' addresses.
    advertise: tuple[str, ...] = ()

    #: Peers dialled at start and redialled for ever: multiaddrs ending in
    #: ``/p2p/<peer id>``.
    static_peers: tuple[str, ...] = ()

    #: Mean seconds between periodic syncs with each connected peer; the
    #: runner adds +/- ``sync_jitter`` of it so nodes do not sync in lockstep.
    sync_interval_s: float = 30.0
    #: Seconds with no member reachable before the outage clock starts
    #: (:mod:`meshpantry.core.outage`): a router's restart is no outage.
    outage_after_s: float = 900.0
    #: Fraction of ``sync_interval_s`` used as jitter, in [0, 1).
    sync_jitter: float = 0.2

    #: Upper bound on one dial, handshakes included. A port that accepts but
    #: never speaks otherwise hangs a dial for a minute or more.
    dial_timeout_s: float = 5.0
    #: First redial delay after a failure; doubles up to ``redial_max_s``.
    #: Short so a neighbour restarted after a power cut is back in seconds.
    redial_initial_s: float = 0.5
    #: Longest wait between two dials of one known peer.
    redial_max_s: float = 60.0
    #: Fraction of each redial delay drawn at random, in [0, 1).
    redial_jitter: float = 0.25

    #: Connection target (see :mod:`.connection_target`). Below
    #: ``connections_low`` peers the node dials whom it knows; up to
    #: ``connections_high`` it dials only bridges (peers none of its links
    #: reports, maybe another island); above it, it closes the most redundant
    #: links above ``connections_high``, never the last link to anyone nor
    #: a link its peer would have to replace.
    #: Low 6 is GossipSub's mesh degree here (``gossip.MESH_DEGREE``): every
    #: link can carry the live mesh, and a random graph of degree 6 is
    #: connected with near certainty, so a neighbourhood of tens of
    #: households keeps two hops to everyone. High 10 leaves room for the
    #: peers that dial in while the node dials out (after a power cut every
    #: node does both) without a trim at each reconnection. A full mesh of
    #: 20 nodes is 190 links; the target keeps about 60 to 100.
    connections_low: int = 6
    connections_high: int = 10
    #: Seconds a new connection is never trimmed: time for its peer exchange
    #: (which reports its links, ~1 RTT) and its on-connect sync to start,
    #: with margin for a loaded Raspberry Pi.
    connection_grace_s: float = 20.0

    #: Seconds between two gossip publishes: everything queued in between goes
    #: out as one batch. 25 ms is at most 40 messages/s, a tenth of the rate at
    #: which py-libp2p's GossipSub starts to lose messages.
    gossip_interval_s: float = 0.025

    #: Deadlines for peers and clients that stall (each a module's constant
    #: by default; tests shorten them to run faster): seconds a peer that is
    #: not a member keeps its connection for a join handshake
    #: (``gate.JOIN_GRACE_S``), seconds a control frame may take from its
    #: first byte to its last (``control.server.FRAME_TIMEOUT_S``), seconds a
    #: served sync frame may take (``core.sync.deadlines.FRAME_MS``).
    join_grace_s: float = 10.0
    control_frame_s: float = 30.0
    sync_frame_s: float = 15.0

    def __post_init__(self) -> None:
        if not 0 <= self.listen_port <= 65535:
            raise SettingsError("listen_port", f"{self.listen_port} is not a TCP port")
        if self.network and self.network not in NETWORK_MODES:
            raise SettingsError("network", f"{self.network!r} is not one of {', '.join(NETWORK_MODES)}")
        for name in ("sync_jitter", "redial_jitter"):
            if not 0 <= getattr(self, name) < 1:
                raise SettingsError(name, "must be in [0, 1)")
        for name in ("sync_interval_s", "dial_timeout_s", "redial_initial_s", "gossip_interval_s", "outage_after_s",
                     "join_grace_s", "control_frame_s", "sync_frame_s"):
            if getattr(self, name) <= 0:
                raise SettingsError(name, "must be positive")
        if not 1 <= self.connections_low <= self.connections_high:
            raise SettingsError("connections_low", "must be at least 1 and at most connections_high")
        if self.connection_grace_s < 0:
            raise SettingsError("connection_grace_s", "must not be negative")
        if self.redial_max_s < self.redial_initial_s:
            raise SettingsError("redial_max_s", "smaller than redial_initial_s")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], base: "NodeSettings | None" = None) -> "NodeSettings":
        """``base`` (or the defaults) with the fields named in ``values``
        replaced, as read from TOML or the environment.

        Strings are accepted for numbers and booleans (environment variables);
        lists or comma-separated strings for tuples. Raises
        :class:`SettingsError` for an unknown name or an unusable value.
        """
        known = {f.name: f for f in fields(cls)}
        changes: dict[str, Any] = {}
        for name, raw in values.items():
            if name not in known:
                raise SettingsError(name, "unknown setting")
            changes[name] = _coerce(name, known[name].type, raw)
        return replace(base or cls(), **changes)


def _coerce(name: str, kind: Any, raw: Any) -> Any:
    kind = str(kind)
    try:
        if kind == "bool":
            if isinstance(raw, bool):
                return raw
            word = str(raw).strip().lower()
            if word in ("1", "true", "yes", "on"):
                return True
            if word in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if kind == "int":
            if isinstance(raw, bool):
                raise ValueError(raw)
            return int(raw)
        if kind == "float":
            if isinstance(raw, bool):
                raise ValueError(raw)
            return float(raw)
        if kind == "str":
            if not isinstance(raw, str):
                raise ValueError(raw)
            return raw
        if kind.startswith("tuple"):
            if isinstance(raw, str):
                return tuple(part.strip() for part in raw.split(",") if part.strip())
            if isinstance(raw, (list, tuple)) and all(isinstance(item, str) for item in raw):
                return tuple(raw)
            raise ValueError(raw)
    except ValueError:
        raise SettingsError(name, f"cannot use {raw!r} as {kind}") from None
    raise AssertionError(f"no coercion for {kind}")  # a field type this module forgot
