"""Small signed logs for the view vectors (:mod:`protocol.view_vectors`).

:class:`CaseLog` writes records with fixed keys and times, and lets a case
say what each author had seen (its Lamport counter), so that two records can
be concurrent. Everything is deterministic: the same case gives the same bytes.
"""

from __future__ import annotations

import functools
from typing import Any

from protocol import Record, seal

#: One day, in ms.
DAY = 24 * 60 * 60_000


def mv() -> Any:
    """:mod:`protocol.make_vectors`, imported late (it imports this module)."""
    from protocol import make_vectors

    return make_vectors


# --- keys ----------------------------------------------------------------------------------


@functools.cache
def keys() -> tuple[Any, ...]:
    """The fixed keys of the view cases: those of records.json, then more."""
    made = mv()
    return (made.FOUNDER, made.JOINER, made.SECOND_DEVICE, made.INVITE,
            made.Key("third", bytes([4]) * 32), made.Key("stranger", bytes([5]) * 32),
            made.Key("invite_b", bytes([10]) * 32))


def case_key(name: str) -> Any:
    """The case key called ``name``."""
    return next(k for k in keys() if k.name == name)


# --- building a case's log ------------------------------------------------------------------


class CaseLog:
    """A small log with control over what each author has seen (its Lamport
    counter) so that concurrent records can be written. By default a new
    record has seen every earlier one."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, str, Record]] = []  # (name, author name, record)
        self.heads: dict[bytes, tuple[int, bytes | None, int]] = {}  # seq, id, lamport
        self.top = 0
        self.neighbourhood = b""
        self.ids: dict[str, bytes] = {}

    def add(self, name: str, author: str, kind: str, body: dict, *, seen: int | None = None,
            time: int | None = None, fork_of: str | None = None) -> bytes:
        """Sign ``body`` as the next record of ``author`` (or, with
        ``fork_of``, a second record at that record's seq). ``seen`` is the
        highest counter the author has seen (default: every record so far)."""
        key = case_key(author)
        seq, prev, last = self.heads.get(key.public, (0, None, 0))
        if fork_of is not None:
            twin = next(r for n, _, r in self.entries if n == fork_of)
            seq, prev, last = twin.seq - 1, twin.prev, twin.lamport - 1
        lamport = max(last, self.top if seen is None else seen) + 1
        record = seal(
            key.secret, neighbourhood=self.neighbourhood, seq=seq + 1, prev=prev, lamport=lamport,
            time=mv().T0 + lamport * mv().MINUTE if time is None else time, kind=kind, body=body,
        )
        if fork_of is None:
            self.heads[key.public] = (record.seq, record.id, lamport)
        self.top = max(self.top, lamport)
        self.entries.append((name, author, record))
        self.ids[name] = record.id
        return record.id

    def __getitem__(self, name: str) -> bytes:
        return self.ids[name]

    # -- membership helpers -------------------------------------------------------------

    def genesis(self) -> None:
        self.neighbourhood = self.add("genesis", "founder", "neighbourhood", {"name": "Elm Street"})

    def invite(self, name: str, by: str, key: str = "invite", uses: int = 1,
               expires_in: int = 7 * DAY, **kw: Any) -> bytes:
        body = {"key": case_key(key).public, "expires": mv().T0 + expires_in, "uses": uses}
        return self.add(name, by, "invite", body, **kw)

    def join(self, name: str, joiner: str, invite: str, key: str = "invite", **kw: Any) -> bytes:
        proof = mv().join_proof(case_key(key), self.neighbourhood, case_key(joiner).public)
        return self.add(name, joiner, "join", {"invite": self[invite], "proof": proof}, **kw)

    def two_households(self) -> "CaseLog":
        """Genesis, an invite, and the joiner's join: two households."""
        self.genesis()
        self.invite("invite", "founder")
        self.join("join", "joiner", "invite")
        return self

    def records(self) -> list[Record]:
        return [record for _, _, record in self.entries]


