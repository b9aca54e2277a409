"""Which peers hold the same records as this replica, as far as it knows:
the sessions that could not move a record, found before they are opened.

Theory of operation:

* Agreement is a fingerprint both sides held (the sync fingerprint of the
  whole item range, ``protocol/SYNC.md`` section 3). This replica *still
  agrees* with a peer while its own set has that fingerprint: it gained
  nothing since, so it has nothing the peer lacks. The peer may have gained
  records meanwhile; then the peer's own test fails and its sessions bring
  them (the side that changed syncs), so a stale agreement costs a delay,
  never a record.
* Two sources, both free of extra messages: the set fingerprint a peer
  exchange carries (the node's :mod:`~meshpantry.node.peer_exchange`), and
  every session that reconciled the whole key space and ended well
  (:func:`settled_on_union`): both sides then hold the union of the two sets,
  and this side can tell from its own counts whether its set is exactly
  that union (nothing else arrived meanwhile). The second source is what
  matters after islands rejoin: sessions queued on connect behind others
  find the peer already synced with, and are dropped.
* Whoever asks (the planner, through the host) compares with the set held
  *now*; nothing here reads a clock or the store.
"""

from __future__ import annotations

from typing import Generic, Hashable, TypeVar

Peer = TypeVar("Peer", bound=Hashable)


class Agreement(Generic[Peer]):
    """The fingerprint each peer was last known to share with this replica."""

    def __init__(self) -> None:
        self._shared: dict[Peer, bytes] = {}

    def agreed(self, peer: Peer, fingerprint: bytes) -> None:
        """Both sides held the set of ``fingerprint``."""
        self._shared[peer] = fingerprint

    def differs(self, peer: Peer) -> None:
        """The two sides were seen holding different sets."""
        self._shared.pop(peer, None)

    def forget(self, peer: Peer) -> None:
        self._shared.pop(peer, None)

    def still_agrees(self, peer: Peer, own: bytes) -> bool:
        """True while this replica's set (fingerprint ``own``) is the one it
        last shared with ``peer``."""
        return self._shared.get(peer) == own

    def __len__(self) -> int:
        return len(self._shared)


def settled_on_union(whole: bool, held_at_reconcile: int, stored: int, held_now: int) -> bool:
    """Whether a session that ended well left this side holding exactly the
    set its peer holds: it reconciled the whole key space (``whole``: no
    range was left to gossip), and this side's set now counts what it held
    when the session reconciled plus the ``stored`` records the session
    brought that were new here, nothing more (no other session, gossip or
    write added any meanwhile). Then this side holds the union of both sets,
    which is what the peer holds once it has stored what it was sent."""
    return whole and held_now == held_at_reconcile + stored
