"""Cheap replicas and a byte-level link for driving sync sessions in tests.

A fake record is ``author (4) || seq (4) || lamport (8) || body``; its id is
the SHA-256 of those bytes. Replicas hold them in a dict and provide exactly
the two methods a session needs, plus ``ingest``.

:class:`Link` carries one session's bytes between two replicas. The test (or
Hypothesis) decides what happens next: deliver a chunk one way, cut the
stream, let time pass. :func:`sync_until_quiet` runs sessions until both
replicas hold the same set, and fails after ``max_sessions``.
"""

from __future__ import annotations

import hashlib
import random
from typing import Iterable, Sequence

from meshpantry.core.sync import MAX_ROUNDS, Done, Failed, RecordsReceived, SyncSession
from meshpantry.core.sync.session import IDLE_TIMEOUT_MS, WINDOW


def fake_record(author: int, seq: int, lamport: int, body: bytes = b"") -> bytes:
    return author.to_bytes(4, "big") + seq.to_bytes(4, "big") + lamport.to_bytes(8, "big") + body


def fields(raw: bytes) -> tuple[int, int, int]:
    """(author, seq, lamport) of a fake record."""
    return int.from_bytes(raw[:4], "big"), int.from_bytes(raw[4:8], "big"), int.from_bytes(raw[8:16], "big")


class Replica:
    """A store reduced to what sync needs. ``received`` logs every raw ingested."""

    def __init__(self, raws: Iterable[bytes] = ()) -> None:
        self.raws: dict[bytes, bytes] = {}
        self.received: list[bytes] = []
        self.add(raws)

    def add(self, raws: Iterable[bytes]) -> None:
        for raw in raws:
            self.raws[hashlib.sha256(raw).digest()] = raw

    @property
    def ids(self) -> set[bytes]:
        return set(self.raws)

    def sync_items(self) -> Sequence[tuple[int, bytes]]:
        return sorted((fields(raw)[2], item_id) for item_id, raw in self.raws.items())

    def raws_in_chain_order(self, ids: Iterable[bytes]) -> list[bytes]:
        found = [self.raws[item_id] for item_id in ids if item_id in self.raws]
        return sorted(found, key=lambda raw: fields(raw)[:2])

    def ingest(self, raws: list[bytes]) -> None:
        self.received.extend(raws)
        self.add(raws)


def chains(authors: int, per_author: int, rng: random.Random, body_bytes: int = 8) -> list[bytes]:
    """Records of ``authors`` chains, lamports interleaved as in a live mesh."""
    heads = [0] * authors
    seen = 0
    out = []
    for _ in range(authors * per_author):
        author = rng.randrange(authors)
        heads[author] += 1
        seen += rng.choice((0, 0, 1))
        lamport = max(seen, heads[author]) + 1
        seen = max(seen, lamport - 1)
        out.append(fake_record(author, heads[author], lamport, rng.randbytes(body_bytes)))
    return out


class Link:
    """One session between an initiator replica ``a`` and a responder ``b``."""

    def __init__(self, a, b, now: int = 0, *, fetch_author: bytes | None = None, below: int | None = None) -> None:
        self.replicas = (a, b)
        if fetch_author is None:
            first = SyncSession.initiator(a, now=now, below=below)
        else:
            first = SyncSession.fetch_author(a, fetch_author, now=now)
        self.sessions = (first, SyncSession.responder(b, now=now))
        self.queues = [bytearray(), bytearray()]  # bytes in flight a->b, b->a
        self.outcomes: list[Done | Failed | None] = [None, None]
        self.flights = 0
        self.wire_bytes = 0  #: bytes delivered, both directions
        self.cut = False
        self._pull()

    @property
    def finished(self) -> bool:
        return all(session.finished for session in self.sessions)

    def _pull(self) -> None:
        for side in (0, 1):
            self.queues[side] += self.sessions[side].data_to_send()
            for event in self.sessions[side].events():
                if isinstance(event, RecordsReceived):
                    self.replicas[side].ingest(event.raws)
                elif isinstance(event, (Done, Failed)):
                    self.outcomes[side] = event

    def deliver(self, side: int, size: int | None = None, now: int = 0) -> bool:
        """Deliver up to ``size`` bytes (all if None) sent by ``side``. False if none."""
        queue = self.queues[side]
        if not queue or self.cut:
            return False
        size = len(queue) if size is None else max(1, size)
        chunk = bytes(queue[:size])
        del queue[:size]
        self.wire_bytes += len(chunk)
        self.sessions[1 - side].receive_data(chunk, now)
        self._pull()
        return True

    def lockstep(self, now: int = 0, max_flights: int = 4 * MAX_ROUNDS + 200) -> None:
        """Alternate full deliveries until both sessions end."""
        side = 0
        quiet = 0
        while not self.finished and self.flights < max_flights and quiet < 2:
            if self.deliver(side, now=now):
                self.flights += 1
                quiet = 0
            else:
                quiet += 1
            side = 1 - side
        assert self.finished, f"sessions still open after {self.flights} flights: {self.sessions}"

    def lose(self, now: int) -> None:
        """The stream silently stops delivering; both sides time out."""
        self.cut = True
        self.queues = [bytearray(), bytearray()]
        later = now + IDLE_TIMEOUT_MS + 1
        for session in self.sessions:
            session.handle_timer(later)
        self._pull()

    def close(self, now: int) -> None:
        """The stream ends (a reset): both sides see it at once."""
        self.cut = True
        self.queues = [bytearray(), bytearray()]
        for session in self.sessions:
            session.connection_lost(now)
        self._pull()


def sync_until_quiet(a: Replica, b: Replica, *, max_sessions: int = 3) -> int:
    """Run clean sessions (a initiating) until a and b hold the same set.

    Returns the sessions used; fails after ``max_sessions`` or if a clean
    session fails or needs more than MAX_ROUNDS reconcile rounds.
    """
    for used in range(1, max_sessions + 1):
        link = Link(a, b)
        link.lockstep()
        for outcome in link.outcomes:
            assert isinstance(outcome, Done), outcome
            assert outcome.stats.rounds <= MAX_ROUNDS
        if a.ids == b.ids:
            return used
    raise AssertionError(f"replicas differ after {max_sessions} sessions")


__all__ = ["WINDOW", "Link", "Replica", "chains", "fake_record", "fields", "sync_until_quiet"]
