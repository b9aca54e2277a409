"""A device's own append-only chain.

Each device signs records with ``seq`` 1, 2, 3..., each naming the id of the
previous one, and a Lamport counter one above every counter it has seen. A
device must never sign two records with the same ``seq`` (that is a fork), so
the store makes each new record durable before the next ``seq`` is handed out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from protocol import Record, seal


@dataclass(frozen=True, slots=True)
class ChainHead:
    """Where a device's chain stands: the last record it signed."""

    seq: int = 0  #: 0 before the first record
    id: bytes | None = None  #: None exactly when seq == 0
    lamport: int = 0  #: the highest Lamport counter this device has seen

    def observe(self, lamport: int) -> "ChainHead":
        """The head after seeing a record with counter ``lamport``."""
        if lamport <= self.lamport:
            return self
        return ChainHead(self.seq, self.id, lamport)

    def after(self, record: Record) -> "ChainHead":
        assert record.seq == self.seq + 1 and record.prev == self.id
        return ChainHead(record.seq, record.id, max(self.lamport, record.lamport))


def next_record(
    secret_key: bytes,
    head: ChainHead,
    *,
    neighbourhood: bytes,
    kind: str,
    body: dict[str, Any],
    now: int,
) -> Record:
    """Sign the record that follows ``head``.

    ``now`` is the wall clock in ms (advisory). Raises the protocol's decode
    errors if the body breaks its kind's schema, so nothing invalid is signed.
    """
    return seal(
        secret_key,
        neighbourhood=neighbourhood,
        seq=head.seq + 1,
        prev=head.id,
        lamport=head.lamport + 1,
        time=max(0, now),
        kind=kind,
        body=body,
    )
