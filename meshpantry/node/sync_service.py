"""The sync protocol on libp2p streams: who starts a session, and what
happens with its results.

* Protocol id ``/meshpantry/sync/1``; the dialling side is the initiator.
* A session starts when a peer connects, every ``sync_interval_s`` (with
  jitter), and when gossip shows a gap; at most one at a time per peer.
* Records a session receives go through the node's ingest (decode, verify,
  admit, store) like gossip; progress and the outcome are published on the
  control socket and remembered in the address book.
* A device whose store lost its own chain asks each new peer for it (a
  fetch-own-chain session) before it may write again.
* Any failure ends that session only: the peer is logged and tried again on
  the next occasion; nothing escapes into the host.
* A session is evidence for the liveness check (:mod:`.liveness`): one that
  completed shows the peer alive, and a stream that could not even be opened
  in time counts as a missed probe (the connection is likely stalled).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import trio
from libp2p.custom_types import TProtocol

from meshpantry.control.events import SyncEvent
from meshpantry.core.sync import Progress, SyncSession
from meshpantry.core.sync.errors import ProtocolViolation, TooManyRecords, TooManyRounds
from protocol.errors import DecodeError

from .streams import StreamChannel, safe_handler
from .sync_driver import run_sync

log = logging.getLogger("meshpantry.sync")

SYNC_PROTOCOL = TProtocol("/meshpantry/sync/1")

#: Session failures only a faulty or hostile peer causes (unlike silence or a
#: dropped connection, which power cuts cause every day).
HOSTILE_ERRORS = (DecodeError, ProtocolViolation, TooManyRounds, TooManyRecords)

#: Opening a stream on a live connection takes a few ms; a peer that cannot
#: negotiate within this is not going to sync.
OPEN_STREAM_TIMEOUT_S = 10.0


def _now() -> int:
    return int(time.time() * 1000)


def install_sync_handler(node: Any) -> None:
    """Serve sessions that peers start."""

    async def serve(stream: Any) -> None:
        peer = str(stream.muxed_conn.peer_id)
        if node.is_cut_off(peer):
            raise PermissionError(f"sync from cut-off peer {peer}")
        async with node.serve_slots:
            session = SyncSession.responder(node.store, now=_now())
            ok = await _run(node, peer, StreamChannel(stream), session)
        liveness = getattr(node, "liveness", None)
        if ok and liveness is not None:
            liveness.heard(stream.muxed_conn.peer_id)

    node.host.libp2p.set_stream_handler(SYNC_PROTOCOL, safe_handler(serve, "sync"))


async def sync_with_peer(node: Any, peer: str, *, below: int | None = None) -> None:
    """Run one session with ``peer`` as initiator (first recovering this
    device's own chain if its store lost it). ``below``: reconcile only the
    records under this Lamport counter (a routine sync's horizon)."""
    from libp2p.peer.id import ID

    if node.is_cut_off(peer):
        return
    if not node.pantry.chain_recovered:
        session = SyncSession.fetch_author(node.store, node.pantry.device, now=_now())
        if await _open_and_run(node, ID.from_base58(peer), peer, session):
            node.pantry.mark_chain_recovered()
            log.warning("own chain recovered from %s: %d records", peer,
                        node.store.own_head(node.pantry.device).seq)
    session = SyncSession.initiator(node.store, now=_now(), below=below)
    await _open_and_run(node, ID.from_base58(peer), peer, session)


async def _open_and_run(node: Any, peer_id: Any, peer: str, session: SyncSession) -> bool:
    try:
        with trio.fail_after(OPEN_STREAM_TIMEOUT_S):
            stream = await node.host.libp2p.new_stream(peer_id, [SYNC_PROTOCOL])
    except trio.Cancelled:
        raise
    except trio.TooSlowError:
        log.info("cannot open a sync stream to %s within %g s", peer, OPEN_STREAM_TIMEOUT_S)
        liveness = getattr(node, "liveness", None)
        if liveness is not None:
            await liveness.missed(peer_id, f"sync stream not opened within {OPEN_STREAM_TIMEOUT_S:g} s")
        return False
    except Exception as error:  # no route, negotiation refused: try later
        log.info("cannot open a sync stream to %s: %r", peer, error)
        return False
    ok = await _run(node, peer, StreamChannel(stream), session)
    liveness = getattr(node, "liveness", None)
    if ok and liveness is not None:
        liveness.heard(peer_id)
    return ok


async def _run(node: Any, peer: str, channel: StreamChannel, session: SyncSession) -> bool:
    state = {"active": True, "received": 0, "expected": 0, "behind": 0}
    node.sync_progress[peer] = state

    def progress(event: Progress) -> None:
        state.update(received=event.received, expected=event.expected,
                     behind=max(0, event.expected - event.received))
        node.control.publish(SyncEvent(peer=peer, **state))

    record_bytes = 0

    async def ingest(raws: list[bytes]) -> None:
        nonlocal record_bytes
        record_bytes += sum(len(raw) for raw in raws)
        await node.ingest(raws, peer)

    result = await run_sync(channel, session, ingest, on_progress=progress)
    state.update(active=False, behind=0 if result.ok else state["behind"])
    stats = result.stats
    totals = node.sync_totals
    totals["sessions"] += 1
    totals["failed"] += 0 if result.ok else 1
    totals["bytes_sent"] += stats.bytes_sent
    totals["bytes_received"] += stats.bytes_received
    totals["records_received"] += stats.records_received
    totals["record_bytes_received"] += record_bytes
    totals["round_trips"] += stats.round_trips
    if result.ok:
        node.last_sync[peer] = _now()
        node.store.mark_synced(peer, _now())
        log.info("synced with %s: %d records in, %d out, %d bytes, %d round trips", peer,
                 stats.records_received, stats.records_sent, stats.bytes_sent + stats.bytes_received,
                 stats.round_trips)
    else:
        log.info("sync with %s failed: %r", peer, result.error)
        if isinstance(result.error, HOSTILE_ERRORS):
            node.ban(peer, f"sync: {result.error}")
    node.control.publish(SyncEvent(peer=peer, **state, ok=result.ok,
                                   records_in=stats.records_received, records_out=stats.records_sent))
    return result.ok
