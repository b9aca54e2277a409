"""Hostile bytes on the wire against ``h0``: before the Noise handshake, on
the sync protocol after it (from a member's key, so the sync session itself
has to refuse them), and floods of connections, streams and window credit.

::

    attacker ──tcp / sync──▶ h0 ── h1 ── h2      (h1, h2 also dial h0)
"""

from __future__ import annotations

import inspect
import random
import socket
import time

import pytest

from protocol import sync as wire

from . import records as make
from .harness import GATE, TEST_SETTINGS, attack, fixed_on, rss_mib

pytestmark = pytest.mark.timeout(300)

FAMILY = "wire"

#: The sync service's refusal of a peer: a ban with the session's error.
CUT_OFF = r"cutting off|not a member"


def hello() -> bytes:
    return wire.encode_frame(wire.Hello())


def sync(peer, hood, payloads: list[bytes]) -> dict:
    key = hood.attacker()
    lines = peer("sync", hood.nodes[0].address, key.seed, payload=payloads)
    return dict(line.split(": ", 1) for line in lines)


def host_port(node) -> tuple[str, int]:
    return node.host, node.port


def test_garbage_before_noise(hood):
    """64 KiB of random bytes where the multistream header and the Noise
    handshake belong: the connection is dropped, nothing else changes."""
    rng = random.Random(1)
    with attack(hood, FAMILY, "garbage before Noise (64 KiB)", reason=None) as out:
        with socket.create_connection(host_port(hood.nodes[0]), timeout=10) as sock:
            try:
                sock.sendall(bytes(rng.randrange(256) for _ in range(65536)))
                sock.settimeout(5)
                answer = sock.recv(65536)
                while answer and sock.recv(65536):
                    pass
                out.did = "closed the connection"
            except OSError as error:
                out.did = f"reset the connection ({type(error).__name__})"
        assert out.did


def test_connection_flood(hood):
    """200 TCP connections at once that never finish a handshake: the node
    keeps serving its peers, and its memory does not follow the count."""
    sockets = []
    with attack(hood, FAMILY, "connection flood (200)", reason=None, rss_mib_bound=260) as out:
        try:
            for _ in range(200):
                sock = socket.create_connection(host_port(hood.nodes[0]), timeout=10)
                sock.sendall(b"\x13/multistream/1.0.0\n")
                sockets.append(sock)
            out.numbers["open"] = len(sockets)
            out.numbers["sample"]()
            time.sleep(1.0)
            out.numbers["sample"]()
            out.did = "took them all, kept serving its peers"
        finally:
            for sock in sockets:
                sock.close()


def test_garbage_after_noise(hood, peer):
    """A member opens a sync stream and sends 4 KiB of random bytes: banned."""
    rng = random.Random(2)
    with attack(hood, FAMILY, "garbage on a sync stream", reason=CUT_OFF) as out:
        said = sync(peer, hood, [bytes(rng.randrange(256) for _ in range(4096))])
        out.did = f"stream {said['0']}"


def test_oversized_frame(hood, peer):
    """A frame header claiming eight times the largest frame: banned before
    a byte of it is buffered."""
    with attack(hood, FAMILY, "oversized sync frame (8 MiB claimed)", reason=CUT_OFF) as out:
        said = sync(peer, hood, [hello() + wire.encode_varint(wire.MAX_FRAME_BYTES * 8) + b"\x03" + b"\0" * 1000])
        out.did = f"stream {said['0']}"


def test_truncated_frame(hood, peer):
    """A frame that promises 5,000 bytes and sends three."""
    with attack(hood, FAMILY, "truncated sync frame", reason=CUT_OFF + r"|[Tt]runcat|closed|ended") as out:
        said = sync(peer, hood, [hello() + wire.encode_varint(5000) + b"\x03\x00\x01"])
        out.did = f"stream {said['0']}"


def test_forged_records_over_sync(hood, peer):
    """A member sends its next record with a broken signature in a RECORDS frame."""
    index = hood._next_attacker
    record = make.chain(hood.attackers[index], hood.id, make.head_of(hood.attacker_dirs[index]), 1)[0]
    with attack(hood, FAMILY, "forged signature over sync", reason=CUT_OFF + r"|[Ss]ignature|rejected") as out:
        said = sync(peer, hood, [hello() + wire.encode_frame(wire.Records((make.forged(record),)))])
        out.did = f"stream {said['0']}"


def test_replayed_records_over_sync(hood, peer):
    """A member replays records every node already holds (its own join and
    profile, and the founder's genesis): stored once, never twice."""
    from meshpantry.pantry import Pantry

    pantry = Pantry.open(hood.attacker_dirs[hood._next_attacker])
    try:
        raws = tuple(r.raw for r in pantry.store.records())
    finally:
        pantry.close()
    with attack(hood, FAMILY, "replayed records over sync", reason=CUT_OFF + r"|synced|sync with .* failed|duplicate") as out:
        said = sync(peer, hood, [hello() + wire.encode_frame(wire.Records(raws)) * 3])
        out.numbers["replayed"] = 3 * len(raws)
        out.did = f"stream {said['0']}; nothing stored twice"


@fixed_on("trustnet", GATE)
def test_yamux_window_flood(hood, peer):
    """Finding 2: 128 MiB sent on one (queued, unread) stream without waiting for window
    credit: the node closes the connection (or sheds the stream before it
    is read), and its memory stays bounded."""
    key = hood.attacker()
    with attack(hood, FAMILY, "yamux window flood (128 MiB)", reason=r"beyond the receive window|stream from .* shed",
                rss_mib_bound=200) as out:
        lines = peer("yamux", hood.nodes[0].address, key.seed, "128", sample=out.numbers["sample"])
        out.did = lines[-1]
        out.numbers["sample"]()


@fixed_on("trustnet", GATE)
def test_slowloris_sync(hood, peer):
    """Finding 4: a sync stream sending one byte a second holds no slot past
    the frame deadline: the node cuts the peer off."""
    key = hood.attacker()
    with attack(hood, FAMILY, "slowloris sync (1 byte/s)", reason=CUT_OFF + r"|deadline|trickl") as out:
        # The frame deadline (TEST_SETTINGS) where it exists; without it, 5 s shows the hold.
        lines = peer("slowloris", hood.nodes[0].address, key.seed,
                     str(TEST_SETTINGS["sync_frame_s"] + 10) if GATE else "5")
        out.did = lines[-1]
        assert "cut" in lines[-1], lines


@fixed_on("trustnet", GATE)
def test_sync_stream_flood(hood, peer):
    """Finding 4: 200 sync streams at once from one member: one slot at most,
    the excess reset at once with a logged reason."""
    key = hood.attacker()
    with attack(hood, FAMILY, "sync stream flood (200)", reason=r"stream from .* shed|sync slot") as out:
        lines = peer("streams", hood.nodes[0].address, key.seed, "200", timeout=120, sample=out.numbers["sample"])
        out.did = lines[-1]
        assert "reset=" in lines[-1] or "refused=" in lines[-1], lines


def oversized_reconcile() -> bytes:
    """One reconcile message just under the decoder's size limit, made of
    power-sum entries with small sums (two bytes each on the wire): every
    entry asks the receiver to solve for 64 differences, about 2,800 solves
    from 256 KiB."""
    rng = random.Random(5)
    fields = set(inspect.signature(wire.Sums).parameters)
    extra = {"strata": ()} if "strata" in fields else {}
    budget = wire.MAX_RECONCILE_BYTES - 4096
    entries, size = [], 0
    index = 0
    while size < budget:
        index += 1
        sums = wire.Sums(0, bytes(rng.randrange(256) for _ in range(16)),
                         tuple(rng.randrange(1, 128) for _ in range(wire.MAX_SUMS)), **extra)
        entry = wire.Entry(wire.Bound(index), sums)
        size += len(wire.encode_frame(wire.Reconcile((entry, wire.Entry(wire.INF, wire.Skip()))))) - 8
        entries.append(entry)
    entries.append(wire.Entry(wire.INF, wire.Skip()))
    return hello() + wire.encode_frame(wire.Reconcile(tuple(entries)))


def test_oversized_reconcile_message(hood, peer):
    """Finding 5: a reconcile message whose work far exceeds its size's worth
    is refused before it is worked on, and the sender banned (the CPU the
    node spent on it is in the table)."""
    node = hood.nodes[0]
    cpu = node.cpu_seconds()
    with attack(hood, FAMILY, "oversized reconcile (CPU)", reason=r"cutting off.*(units of work|TooMuchWork)") as out:
        said = sync(peer, hood, [oversized_reconcile()])
        out.did = f"stream {said['0']}"
        out.numbers["cpu_s"] = round(node.cpu_seconds() - cpu, 2)


def heavy_reconcile(entries: int = 400) -> bytes:
    """A reconcile message under one message's work bound (each entry asks
    for a solve of 64 sums over a range of at most one item, ~16,400 units;
    400 entries ~0.8 x MAX_MESSAGE_WORK)."""
    rng = random.Random(7)
    fields = set(inspect.signature(wire.Sums).parameters)
    extra = {"strata": ()} if "strata" in fields else {}
    out = [wire.Entry(wire.Bound(index), wire.Sums(0, bytes(rng.randrange(256) for _ in range(16)),
                                                   tuple(rng.randrange(1, 1 << 60) for _ in range(wire.MAX_SUMS)),
                                                   **extra))
           for index in range(1, entries + 1)]
    out.append(wire.Entry(wire.INF, wire.Skip()))
    return wire.encode_frame(wire.Reconcile(tuple(out)))


def test_reconcile_work_over_a_session(hood, peer):
    """Finding 5: one session of reconcile messages, each under the
    per-message bound: the node answers while the session's total stays
    within MAX_SESSION_WORK, refuses the message that would pass it before
    solving it (ABORT 2), and bans the sender."""
    node = hood.nodes[0]
    cpu = node.cpu_seconds()
    key = hood.attacker()
    with attack(hood, FAMILY, "reconcile work over one session", reason=r"cutting off.*sync session asks") as out:
        lines = peer("rounds", node.address, key.seed, payload=[heavy_reconcile()] * 6)
        out.did = "; ".join(lines)[:160]
        out.numbers["cpu_s"] = round(node.cpu_seconds() - cpu, 2)
        answered = sum(line.endswith("answered") for line in lines)
        assert 1 <= answered < 6 and "abort 2" in lines[-1], lines
