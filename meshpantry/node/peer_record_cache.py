"""GossipSub's signed peer records: check each distinct one once.

py-libp2p 0.8.1 attaches the sender's signed peer record (an envelope with an
Ed25519 signature over its addresses) to every GossipSub RPC, and the
receiver parses and verifies it for every RPC, twice: once when the RPC is
read and once more when the router handles it. A peer's record only changes
when its addresses do, so nearly every check repeats one already passed.
Measured on 20 nodes rejoining after an outage, these checks were about a
twentieth of all the nodes' CPU.

:func:`install` wraps the library's check: an RPC whose receiving host, sender
and record bytes match a record that passed within :data:`REMEMBER_S` passes without
parsing or verifying it again; anything else goes to the library's check,
and only what passes it is remembered. Forged or foreign records are still
refused exactly as before. Installed once per process by
:func:`meshpantry.node.gossip.build_router`.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any

import libp2p.pubsub.gossipsub as _gossipsub_module
import libp2p.pubsub.pubsub as _pubsub_module
from libp2p.pubsub.utils import maybe_consume_signed_record as _library_check

#: Distinct (peer, record) pairs remembered: a neighbourhood has tens of
#: peers, each with one current record; a few hundred leaves room for
#: address changes without letting a peer that sends endless new records
#: grow memory.
MAX_REMEMBERED = 512

#: Seconds a passed record is trusted without a new check, so the library's
#: certified address book (2 h lifetime per record) is still refreshed now
#: and then by a full check.
REMEMBER_S = 600.0

#: (receiving host, sender, record bytes) -> when it passed; per host, as
#: each host's own peerstore takes the record in.
_passed: OrderedDict[tuple[bytes, bytes, bytes], float] = OrderedDict()


def _check_once(msg: Any, host: Any, peer_id: Any) -> bool:
    """The library's ``maybe_consume_signed_record`` with a memory of passes."""
    if not msg.HasField("senderRecord"):
        return True
    key = (host.get_id().to_bytes(), peer_id.to_bytes(), bytes(msg.senderRecord))
    now = time.monotonic()
    passed_at = _passed.get(key)
    if passed_at is not None and now - passed_at < REMEMBER_S:
        return True
    ok = _library_check(msg, host, peer_id)
    if ok:
        _passed[key] = now
        _passed.move_to_end(key)
        while len(_passed) > MAX_REMEMBERED:
            _passed.popitem(last=False)
    return ok


def install() -> None:
    """Use the remembering check in py-libp2p's pubsub and GossipSub (idempotent)."""
    _pubsub_module.maybe_consume_signed_record = _check_once
    _gossipsub_module.maybe_consume_signed_record = _check_once


def installed() -> bool:
    return (
        _pubsub_module.maybe_consume_signed_record is _check_once
        and _gossipsub_module.maybe_consume_signed_record is _check_once
    )


def forget() -> None:
    """Drop every remembered pass (tests)."""
    _passed.clear()
