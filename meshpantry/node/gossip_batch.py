"""The gossip message format and its checks (specified in protocol/SPEC.md,
sections 9.5-9.7: message id, batch format and limits, what is checked before
a message is forwarded).

Message format (topic ``/meshpantry/<neighbourhood hex>/records/1``):
    the data of a GossipSub message is a msgpack array of 1 to
    :data:`MAX_BATCH_RECORDS` raw records, each a ``bin`` holding the exact
    bytes of one signed record (``[payload, signature]``), in shortest form
    (the bytes ``msgpack.packb(list_of_bytes)`` produces), at most
    :data:`MAX_BATCH_BYTES` in all. A single new record travels as a batch of
    one; a backlog travels as larger batches.

Message id = SHA-256 of the message data. It is a cheap digest (the library's
content id is base58) and two nodes publishing the same batch produce the
same id, so duplicates die at the first hop. It is deliberately *not* the
record id of a single-record batch: py-libp2p caches validation results by
message id, and a forged copy of a record (same payload, bad signature) would
share the record id and poison the cache for the genuine one; the hash of the
whole data cannot collide that way.

:func:`check_batch` runs every record of a message through the ingest
pipeline's checks (:mod:`meshpantry.core.ingest`: decode, neighbourhood, time
bound, signature, then membership admission); the node's topic validator
(:class:`~meshpantry.node.gossip.BatchValidator`) runs the same, the
stateless checks on a worker thread, and hands the checked records on so that
nothing is decoded or verified twice.
"""

from __future__ import annotations

import hashlib

import msgpack
from libp2p.pubsub.pb import rpc_pb2

from meshpantry.core.gossip import Admits, decide
from meshpantry.core.ingest import check_record
from protocol import Record, limits
from protocol.errors import Malformed, NonCanonical, TooLarge, WrongType

#: Records in one gossip message. 512 records of ~320 B verify in ~40 ms on
#: one core, short enough not to stall the node; a backlog larger than that
#: is what sync is for.
MAX_BATCH_RECORDS = 512

#: Bytes of one gossip message's data: a quarter of GossipSub's 1 MiB RPC
#: limit, so a message plus its envelope never needs splitting.
MAX_BATCH_BYTES = 256 * 1024


def topic_for(neighbourhood: bytes) -> str:
    """The GossipSub topic of a neighbourhood (32-byte genesis id)."""
    assert len(neighbourhood) == limits.ID_BYTES
    return f"/meshpantry/{neighbourhood.hex()}/records/1"


def message_id(msg: rpc_pb2.Message) -> bytes:
    """SHA-256 of the message data (see the module doc for why not the record id)."""
    return hashlib.sha256(msg.data).digest()


def encode_batch(raws: list[bytes]) -> bytes:
    """The gossip message data for ``raws`` (1..MAX_BATCH_RECORDS records)."""
    assert 1 <= len(raws) <= MAX_BATCH_RECORDS
    return msgpack.packb(list(raws), use_bin_type=True)


def decode_batch(data: bytes) -> list[bytes]:
    """The raw records inside gossip message data.

    Checks size, shape and shortest form only; records themselves are checked
    by :class:`BatchValidator`. Raises :class:`TooLarge`, :class:`Malformed`,
    :class:`WrongType` or :class:`NonCanonical`.
    """
    if len(data) > MAX_BATCH_BYTES:
        raise TooLarge("gossip batch", len(data), MAX_BATCH_BYTES)
    try:
        value = msgpack.unpackb(
            data,
            raw=False,
            use_list=True,
            max_array_len=MAX_BATCH_RECORDS,
            max_bin_len=limits.MAX_RECORD_BYTES,
            max_str_len=0,
            max_map_len=0,
            max_ext_len=0,
        )
    except (ValueError, TypeError, msgpack.UnpackException, msgpack.ExtraData) as exc:
        raise Malformed(f"gossip batch: {exc}") from None
    if type(value) is not list:
        raise WrongType("gossip batch", "array", type(value).__name__)
    if not value:
        raise Malformed("gossip batch: empty")
    for item in value:
        if type(item) is not bytes:
            raise WrongType("gossip batch item", "bytes", type(item).__name__)
    if msgpack.packb(value, use_bin_type=True) != data:
        raise NonCanonical("gossip batch")
    return value


def decode_and_check(data: bytes, neighbourhood: bytes, now: int) -> list[Record]:
    """The records of a message, each through steps 1-4 of the ingest pipeline
    (:func:`meshpantry.core.ingest.check_record`: decoded once, signature
    checked once) against ``neighbourhood`` and ``now`` (the receiver's clock,
    ms). Raises the first failure (a :class:`~protocol.errors.RemoteError`).
    Thread-safe (no shared state), so it can run on a worker thread."""
    return [check_record(raw, neighbourhood=neighbourhood, now=now) for raw in decode_batch(data)]


def check_admitted(records: list[Record], admits: Admits) -> None:
    """Step 6 for every record of a message, as the gossip decision
    (:func:`meshpantry.core.gossip.decide`) runs it: gossip forwards only
    records the log admits now. Raises
    :class:`~meshpantry.core.validation.NotAdmitted` for the first that is
    not (``waiting`` when its author's membership has not reached this node
    yet; sync brings it with the records that admit it)."""
    error = decide(records, admits).error
    if error is not None:
        raise error


def check_batch(data: bytes, neighbourhood: bytes, now: int, admits: Admits) -> list[Record]:
    """Every record of a gossip message through the ingest pipeline's checks.

    Returns the records. Raises a :class:`~protocol.errors.RemoteError` for
    the first failing record: decoding or limits (a
    :class:`~protocol.errors.DecodeError`),
    :class:`~meshpantry.core.validation.WrongNeighbourhood`,
    :class:`~meshpantry.core.validation.TimeInFuture`,
    :class:`~protocol.errors.BadSignature`,
    :class:`~meshpantry.core.validation.NotAdmitted`.
    """
    records = decode_and_check(data, neighbourhood, now)
    check_admitted(records, admits)
    return records
