"""Every correction this project makes to py-libp2p, in one place.

Rules:

* The corrections were written against, and tested with, one version of
  py-libp2p: :data:`LIBP2P_VERSION`. :func:`install` first reads the
  installed version and refuses any other with :class:`Libp2pVersionMismatch`.
  It refuses rather than warns because several corrections replace private
  methods (yamux's credit method reads and writes the stream's private window
  fields) or lean on private layouts (the pubsub module's own name for its
  peer-record check, the rpc queue class it builds): on another version a
  replacement could silently stall streams or lose gossip, which is worse
  than not starting. Moving to a new version means checking each correction
  in :func:`corrections` against the new source (``meshpantry/node/LIBP2P.md``
  says what each one relies on), then changing :data:`LIBP2P_VERSION`.
* :func:`install` applies every correction, for the whole process, and is
  idempotent: the second call finds every replacement in place and changes
  nothing. The node calls it once at start (:class:`~.runner.Node`), and
  :func:`~.host.build_host` calls it before it builds a host, so tests that
  build hosts go through the same path. Nothing else installs anything.
* Each correction is one row of :func:`corrections`: which library attribute
  is replaced, by what, and the section of ``meshpantry/node/LIBP2P.md`` that
  explains why. The library's own value is kept (:func:`library_value`) so a
  replacement can call it, and so :func:`uninstall` can put it back for tests
  that measure the library's own behaviour.
* One correction is not a replacement but a chore the library never does:
  :func:`trim_delivery_log`, called periodically by the gossip service.
* A correction may add an attribute the library never had (yamux's
  ``recv_window`` becomes a property of the class, where the library keeps a
  plain instance field): :func:`uninstall` then removes it again.

This module imports nothing from libp2p at import time, so a mismatched
version gets the clear error of :func:`install`, not an ``ImportError`` from
deep inside the library.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Iterable

import trio

log = logging.getLogger(__name__)

#: The py-libp2p version every correction here was read against and tested
#: with (the one ``pyproject.toml`` pins).
LIBP2P_VERSION = "0.8.1"

#: The project's notes on py-libp2p, which every correction points into.
NOTES = "meshpantry/node/LIBP2P.md"

#: RPCs queued per peer for sending (the library's default of 32 drops the
#: rest). Gossip is paced far below either number; this is headroom for
#: forwarding bursts from several publishers at once.
PEER_QUEUE_RPCS = 512

#: Distinct (receiver, sender, record) signed peer records remembered as
#: passed: a neighbourhood has tens of peers, each with one current record;
#: a few hundred leaves room for address changes without letting a peer that
#: sends endless new records grow memory.
MAX_REMEMBERED_RECORDS = 512

#: Seconds a passed signed peer record is trusted without a new check, so
#: the library's certified address book (2 h lifetime per record) is still
#: refreshed now and then by a full check.
REMEMBER_RECORD_S = 600.0

#: Peers remembered as reported for unsigned gossip, so each is logged once
#: (per receiving host) and a stream of such peers cannot grow memory.
MAX_REPORTED_UNSIGNED = 512

#: Seconds of GossipSub's per-topic delivery log that are kept: the library
#: reads only the last minute of it (on its adaptive-gossip path).
DELIVERY_LOG_KEEP_S = 60.0


class Libp2pVersionMismatch(RuntimeError):
    """The installed py-libp2p is not the version the corrections were written for."""

    def __init__(self, found: str, expected: str = LIBP2P_VERSION) -> None:
        super().__init__(
            f"meshpantry needs py-libp2p {expected}, but {found} is installed. "
            f"Install the tested version (pip install 'libp2p=={expected}'). "
            f"To run on {found} instead, check every correction listed in "
            f"meshpantry/node/libp2p_compat.py against its source (what each "
            f"relies on is in {NOTES}) and update LIBP2P_VERSION."
        )
        self.found, self.expected = found, expected


def library_version() -> str:
    """The version of the py-libp2p distribution installed, or ``"none"``."""
    try:
        return importlib.metadata.version("libp2p")
    except importlib.metadata.PackageNotFoundError:
        return "none"


def check_version() -> None:
    """Raise :class:`Libp2pVersionMismatch` unless py-libp2p is :data:`LIBP2P_VERSION`."""
    found = library_version()
    if found != LIBP2P_VERSION:
        raise Libp2pVersionMismatch(found)


# -- the corrections -----------------------------------------------------------------


@dataclass(frozen=True)
class Correction:
    """One replaced library attribute: ``owner.attribute = replacement``."""

    name: str  #: short name, unique per row
    section: str  #: heading in :data:`NOTES` that explains it
    owner: str  #: dotted path of the class or module whose attribute is replaced
    attribute: str
    replacement: Any


#: The library's own values, by (owner, attribute), kept at the first install.
_library: dict[tuple[str, str], Any] = {}

#: Stands for "the library has no such class attribute" in :data:`_library`.
_ABSENT = object()


def _resolve(path: str) -> Any:
    """The module or class named by a dotted path (``pkg.module.Class``)."""
    module_path, _, last = path.rpartition(".")
    try:
        return importlib.import_module(path)
    except ModuleNotFoundError:
        return getattr(importlib.import_module(module_path), last)


def library_value(owner: str, attribute: str) -> Any:
    """What the library itself had at ``owner.attribute`` before :func:`install`."""
    key = (owner, attribute)
    if key not in _library:
        return getattr(_resolve(owner), attribute)
    return _library[key]


# Yamux: whole writes -------------------------------------------------------------

_YAMUX_STREAM = "libp2p.stream_muxer.yamux.yamux.YamuxStream"


async def _whole_write(self: Any, data: bytes) -> None:
    """The library's ``YamuxStream.write``, one whole call at a time per stream."""
    lock = self.__dict__.get("_whole_write_lock")
    if lock is None:
        lock = self.__dict__["_whole_write_lock"] = trio.Lock()
    async with lock:
        await library_value(_YAMUX_STREAM, "write")(self, data)


# Yamux: credit once per half window ----------------------------------------------


async def _credit_half_window(self: Any, *, bytes_read: int = 0) -> None:
    """Send one WINDOW_UPDATE when the unreleased bytes reach half the target
    window: the target minus what the peer may still send and what waits
    unread in our buffer. Keeps the library's window auto-tuning."""
    increment = 0
    async with self.window_lock:
        buffered = len(self.conn.stream_buffers.get(self.stream_id, b""))
        unreleased = self.target_recv_window - (self.recv_window + buffered)
        if unreleased > 0 and unreleased >= self.target_recv_window // 2:
            self.recv_window += unreleased
            self._pending_recv_release = 0
            increment = unreleased + self._apply_autotune_epoch(buffered)
    if increment > 0:
        await self.send_window_update(increment, skip_lock=True)


# Yamux: the receive window is enforced -------------------------------------------

_YAMUX = "libp2p.stream_muxer.yamux.yamux.Yamux"


class WindowOverrun(Exception):
    """A peer sent more DATA on a stream than the receive window it was given."""

    def __init__(self, peer: object, stream_id: int, excess: int) -> None:
        super().__init__(f"peer {peer} sent {excess} bytes beyond the receive window of stream {stream_id}")
        self.peer, self.stream_id, self.excess = peer, stream_id, excess


#: Connections closed for a window overrun since the process started (the
#: node's log says which peer and by how much).
window_overruns = 0


def _get_recv_window(self: Any) -> int:
    fields = self.__dict__
    return fields["_recv_window"] if "_recv_window" in fields else fields.get("recv_window", 0)


def _set_recv_window(self: Any, value: int) -> None:
    """The stream's receive window, as the library sets it. It goes below
    zero only when DATA arrived beyond the credit granted (the library then
    logs, clamps it to zero and keeps the bytes): the connection's reader is
    stopped, and :func:`_incoming_within_window` closes the connection."""
    if value < 0:
        conn = self.conn
        if "_window_overrun" not in conn.__dict__:
            conn.__dict__["_window_overrun"] = WindowOverrun(conn.peer_id, self.stream_id, -value)
        scope = conn.__dict__.get("_incoming_scope")
        if scope is not None:
            scope.cancel()
    self.__dict__["_recv_window"] = value


#: Replaces the library's plain ``recv_window`` field of every yamux stream.
_enforced_recv_window = property(_get_recv_window, _set_recv_window,
                                 doc="Bytes the peer may still send on this stream.")


async def _incoming_within_window(self: Any) -> None:
    """The library's ``Yamux.handle_incoming``, stopped and the connection
    closed as soon as the peer overruns a stream's receive window (the
    overrunning frame is the last one buffered)."""
    global window_overruns
    with trio.CancelScope() as scope:
        self.__dict__["_incoming_scope"] = scope
        await library_value(_YAMUX, "handle_incoming")(self)
    overrun = self.__dict__.get("_window_overrun")
    if overrun is None:
        return
    window_overruns += 1
    log.warning("closing the connection: %s", overrun)
    self.event_shutting_down.set()
    # Nothing is written to the peer (it may not read): buffers are freed and
    # the socket closed; the swarm forgets the connection through on_close.
    with trio.CancelScope(shield=True), trio.move_on_after(CLOSE_OVERRUN_S):
        await self._cleanup_on_error()


#: Seconds the close of an overrunning connection may take (it writes nothing,
#: so it is quick unless the swarm's own bookkeeping stalls).
CLOSE_OVERRUN_S = 5.0


# GossipSub: signed peer records checked once -------------------------------------

#: (receiving host, sender, record bytes) -> monotonic time it passed; per
#: receiving host, as each host's own peerstore takes the record in.
_passed_records: OrderedDict[tuple[bytes, bytes, bytes], float] = OrderedDict()


def _library_check(msg: Any, host: Any, peer_id: Any) -> bool:
    """The library's own check of an RPC's signed peer record."""
    from libp2p.pubsub.utils import maybe_consume_signed_record

    return maybe_consume_signed_record(msg, host, peer_id)


def _check_record_once(msg: Any, host: Any, peer_id: Any) -> bool:
    """The library's ``maybe_consume_signed_record`` with a memory of passes:
    a record that passed for this receiver and sender within
    :data:`REMEMBER_RECORD_S` passes again without parsing or verifying;
    anything else goes to the library's check, and only passes are kept."""
    if not msg.HasField("senderRecord"):
        return True
    key = (host.get_id().to_bytes(), peer_id.to_bytes(), bytes(msg.senderRecord))
    now = time.monotonic()
    passed_at = _passed_records.get(key)
    if passed_at is not None and now - passed_at < REMEMBER_RECORD_S:
        return True
    ok = _library_check(msg, host, peer_id)
    if ok:
        _passed_records[key] = now
        _passed_records.move_to_end(key)
        while len(_passed_records) > MAX_REMEMBERED_RECORDS:
            _passed_records.popitem(last=False)
    return ok


def forget_peer_records() -> None:
    """Drop every remembered pass (tests)."""
    _passed_records.clear()


# Pubsub: a peer's bad RPC stays on its stream ------------------------------------

_PUBSUB = "libp2p.pubsub.pubsub.Pubsub"


async def _contained_pubsub_handler(self: Any, stream: Any) -> None:
    """The library's pubsub stream handler behind :func:`~.streams.safe_handler`."""
    from .streams import safe_handler  # imports libp2p: only once a host runs

    library = library_value(_PUBSUB, "stream_handler")
    await safe_handler(functools.partial(library, self), "gossipsub")(stream)


# Pubsub: unsigned gossip is reported -------------------------------------------

#: (receiving host, forwarder) pairs already reported, oldest first.
_reported_unsigned: OrderedDict[tuple[bytes, bytes], None] = OrderedDict()


def report_unsigned(receiver: Any, forwarder: Any) -> bool:
    """Log, once per (receiver, forwarder), that ``forwarder`` sends gossip
    without a signature. Returns whether this call logged."""
    key = (receiver.to_bytes(), forwarder.to_bytes())
    if key in _reported_unsigned:
        return False
    _reported_unsigned[key] = None
    while len(_reported_unsigned) > MAX_REPORTED_UNSIGNED:
        _reported_unsigned.popitem(last=False)
    log.warning(
        "gossip from peer %s carries no signature: its GossipSub signature policy "
        "is not StrictSign (StrictNoSign?). This node signs every message and "
        "drops unsigned ones, and a StrictNoSign peer drops signed ones, so no "
        "gossip passes between the two in either direction; sync still does. "
        "Configure that peer with StrictSign (protocol/SPEC.md, section 9.3).",
        forwarder,
    )
    return True


def forget_unsigned_reports() -> None:
    """Forget which peers were reported (tests)."""
    _reported_unsigned.clear()


async def _push_msg_reporting_unsigned(self: Any, msg_forwarder: Any, msg: Any) -> None:
    """The library's ``Pubsub.push_msg``, which drops an unsigned message
    under StrictSign with a debug line only; first the forwarder of such a
    message is reported (:func:`report_unsigned`)."""
    if self.strict_signing and not msg.signature and msg_forwarder != self.my_id:
        report_unsigned(self.my_id, msg_forwarder)
    await library_value(_PUBSUB, "push_msg")(self, msg_forwarder, msg)


# Pubsub: roomy per-peer queues ---------------------------------------------------

_RPC_QUEUE = "libp2p.pubsub.pubsub.RpcQueue"


@functools.cache
def _roomy_rpc_queue() -> type:
    """The library's ``RpcQueue`` with room for :data:`PEER_QUEUE_RPCS` RPCs
    unless asked for more (built on first use, after the version check)."""
    from libp2p.pubsub.rpc_queue import RpcQueue

    class RoomyRpcQueue(RpcQueue):
        def __init__(self, max_size: int = PEER_QUEUE_RPCS, *args: Any, **kwargs: Any) -> None:
            super().__init__(max(max_size, PEER_QUEUE_RPCS), *args, **kwargs)

    return RoomyRpcQueue


# Swarm: the auto-connector dials nothing -----------------------------------------


async def _never_connect(self: Any) -> None:
    """The auto-connector's check, doing nothing: our discovery dials."""
    return None


# TCP: a port is one node's ------------------------------------------------------

_TCP = "libp2p.transport.tcp.tcp"


def _reuse_address_only(sock: Any) -> None:
    """The library's listen-socket flags without ``SO_REUSEPORT``: a port
    already bound by another process is refused (``EADDRINUSE``) instead of
    shared. ``SO_REUSEADDR`` stays, so a restarted node rebinds its port at
    once past the old connections' TIME_WAIT."""
    import socket

    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    except OSError:
        pass


@functools.cache
def corrections() -> tuple[Correction, ...]:
    """Every correction, in the order :func:`install` applies them."""
    return (
        Correction("yamux-whole-writes", "Yamux: whole writes", _YAMUX_STREAM, "write", _whole_write),
        Correction("yamux-half-window-credit", "Yamux: credit once per half window", _YAMUX_STREAM,
                   "_auto_tune_and_send_window_update", _credit_half_window),
        Correction("yamux-window-field", "Yamux: the receive window is enforced", _YAMUX_STREAM,
                   "recv_window", _enforced_recv_window),
        Correction("yamux-window-enforced", "Yamux: the receive window is enforced", _YAMUX,
                   "handle_incoming", _incoming_within_window),
        Correction("peer-records-pubsub", "GossipSub: signed peer records checked once",
                   "libp2p.pubsub.pubsub", "maybe_consume_signed_record", _check_record_once),
        Correction("peer-records-gossipsub", "GossipSub: signed peer records checked once",
                   "libp2p.pubsub.gossipsub", "maybe_consume_signed_record", _check_record_once),
        Correction("pubsub-contained-handler", "Pubsub: a bad RPC stays on its stream", _PUBSUB,
                   "stream_handler", _contained_pubsub_handler),
        Correction("pubsub-unsigned-reported", "Pubsub: unsigned gossip is reported", _PUBSUB,
                   "push_msg", _push_msg_reporting_unsigned),
        Correction("pubsub-roomy-queues", "Pubsub: per-peer queues of 512 RPCs", "libp2p.pubsub.pubsub",
                   "RpcQueue", _roomy_rpc_queue()),
        Correction("auto-connector-off", "Swarm: the auto-connector dials nothing",
                   "libp2p.network.auto_connector.AutoConnector", "maybe_connect", _never_connect),
        Correction("tcp-port-not-shared", "TCP: a port is one node's", _TCP, "_set_reuse_flags",
                   _reuse_address_only),
    )


def install() -> None:
    """Check the library's version, then apply every correction (idempotent).

    Raises :class:`Libp2pVersionMismatch` on any version but
    :data:`LIBP2P_VERSION`, before anything is changed."""
    check_version()
    for row in corrections():
        owner = _resolve(row.owner)
        current = getattr(owner, row.attribute, _ABSENT)
        if current is row.replacement:
            continue
        _library.setdefault((row.owner, row.attribute), current)
        setattr(owner, row.attribute, row.replacement)


def installed(names: Iterable[str] | None = None) -> bool:
    """Whether the named corrections (all when None) are in place."""
    wanted = None if names is None else set(names)
    return all(
        getattr(_resolve(row.owner), row.attribute) is row.replacement
        for row in corrections() if wanted is None or row.name in wanted
    )


def uninstall(names: Iterable[str] | None = None) -> None:
    """Put the library's own values back for the named corrections (all when
    None): for tests that measure what a correction corrects."""
    wanted = None if names is None else set(names)
    for row in corrections():
        if wanted is not None and row.name not in wanted:
            continue
        key = (row.owner, row.attribute)
        if key not in _library:
            continue
        if _library[key] is _ABSENT:
            owner = _resolve(row.owner)
            if row.attribute in vars(owner):
                delattr(owner, row.attribute)
        else:
            setattr(_resolve(row.owner), row.attribute, _library[key])


# GossipSub: the delivery log is trimmed --------------------------------------------


def trim_delivery_log(router: Any, now: float, keep_s: float = DELIVERY_LOG_KEEP_S) -> int:
    """Forget the router's delivery timestamps older than ``keep_s`` before
    ``now`` (``time.time()`` seconds); returns how many were dropped. Does
    nothing for a router without the log. Why: LIBP2P.md, "GossipSub: the
    delivery log is trimmed"."""
    log_by_topic = getattr(router, "recent_message_deliveries", None)
    if not isinstance(log_by_topic, dict):
        return 0
    dropped = 0
    for times in log_by_topic.values():
        kept = [t for t in times if t > now - keep_s]
        dropped += len(times) - len(kept)
        times[:] = kept
    return dropped

