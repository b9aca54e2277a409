"""How many connections a node keeps, and which: a low and a high watermark,
as libp2p's connection manager keeps them, made aware of islands.

Why: peer exchange teaches every member where every other listens. Dialling
all of them builds a full mesh: every node handshakes, gossips and syncs with
every other, and after islands rejoin each new connection starts a sync
session that mostly finds equal sets. A connected mesh of a few links per
node carries gossip and sync just as well, for a fraction of the work.

Rules (pure: the caller passes the time and what it knows; nothing here dials
or closes):

1. **Dial up to the low watermark.** While fewer than ``low`` peers are
   connected (dials in flight count as connected), known peers are dialled,
   bridges first (rule 3). Static peers (named in the settings) are always
   dialled: a household asked for them.
2. **Bridges, one at a time, up to the high watermark.** A known peer that
   none of the connected peers reports as its own link is a *bridge*: it may
   sit in another island, or in a part of the mesh only it reaches. At or
   above ``low`` links, one bridge is dialled when no dial is in flight,
   while fewer than ``high`` peers are connected, so islands find each other
   when links return even if each already has ``low`` links inside. One at
   a time: once a bridge connects, its report makes the rest of its island
   reachable, and those are bridges no more. (When every node of four
   islands dialled every bridge at once, each got as many links dialled in
   as it dialled out, and the rejoined mesh was nearly full.) Nor while a
   peer that connected within ``REPORT_WAIT_S`` has not reported its links
   yet: until it does, everyone it links to looks like a bridge. (After
   islands rejoined, each node dialled a bridge or two in the tenth of a
   second before the first reports came, links nobody needed.)
3. **Trim above the high watermark.** When more than ``high`` peers are
   connected, the links above ``high`` are closed. Never closed: static
   peers, peers connected for less than ``grace_s`` (their reports have not
   come yet), peers in a sync session, and any peer no other connected peer
   reports as a link (it may be the last link to its island), a peer
   this node trimmed within ``TRIM_MEMORY_S`` that came back: its side
   wants the link (a peer it names in its settings, or it is below its own
   low watermark), and closing it again only repeats the handshake, the
   gossip set-up and the on-connect sync every grace period (seen in a heal
   of 4 x 5 nodes: 159 links trimmed, most of them the same few again and
   again), and a peer whose report shows ``low`` links or fewer: closed, it
   would dial another peer at once (rule 1), so the link would only move. (A
   peer that never reported, its peer exchange failing, may be closed.)
   Among the rest, the most redundant go first (reported by the
   most other links). Only the excess goes, not down to ``low``: a link
   closed is a handshake, a gossip set-up and a sync on connect lost, and a
   peer left short of links dials another at once. (In a heal of 4 x 5
   nodes that trimmed down to ``low``, about 40 of the 87 links made were
   closed again before it ended.)

Reports: each connected member tells, in peer exchange
(:mod:`.peer_exchange`), which peers it is connected to now. A report is
what that peer saw when it sent it; a peer whose links changed tells its
peers again within ``REPORT_REFRESH_S`` (and the side that leads a pair
asks anyway after ``REPORT_BACKSTOP_S``). Knowledge is two hops
deep: a peer three hops away looks like a bridge, which can only add links
(up to ``high``), never remove the last one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Collection, Hashable, Mapping, Sequence, TypeVar

Peer = TypeVar("Peer", bound=Hashable)

#: Seconds a trimmed peer that came back is not trimmed again (rule 3).
TRIM_MEMORY_S = 600.0

#: Seconds bridge dials beyond ``low`` wait for the report of a peer that
#: just connected (rule 2): its peer exchange takes a round trip or two
#: after the handshake; a report that never comes holds nothing up longer.
REPORT_WAIT_S = 2.0


@dataclass(frozen=True, slots=True)
class Watermarks:
    """``low <= high``; ``grace_s`` >= 0 protects new connections from trims."""

    low: int
    high: int
    grace_s: float

    def __post_init__(self) -> None:
        assert 1 <= self.low <= self.high and self.grace_s >= 0


def reached(connected: Collection[Peer], reports: Mapping[Peer, Collection[Peer]]) -> dict[Peer, int]:
    """For each peer some connected peer reports as a link: how many do."""
    counts: dict[Peer, int] = {}
    for peer in connected:
        for link in reports.get(peer, ()):
            counts[link] = counts.get(link, 0) + 1
    return counts


def is_bridge(peer: Peer, connected: Collection[Peer], reports: Mapping[Peer, Collection[Peer]]) -> bool:
    """True when no connected peer (other than ``peer``) reports ``peer`` as
    its link: this node knows no other way to it."""
    return not any(peer in reports.get(other, ()) for other in connected if other != peer)


def dials(
    due: Sequence[Peer],
    *,
    connected: Collection[Peer],
    dialling: int,
    static: Collection[Peer],
    reports: Mapping[Peer, Collection[Peer]],
    marks: Watermarks,
    awaiting_reports: bool = False,
) -> list[Peer]:
    """Which of the peers ``due`` for a dial to dial now (rules 1 and 2), in
    order. ``dialling`` dials are in flight already; ``due`` is in the
    caller's order of preference (kept within bridges and within others).
    ``awaiting_reports``: a peer connected just now has not reported its
    links yet, so no bridge is dialled beyond ``low`` (rule 2)."""
    chosen = [p for p in due if p in static]
    count = len(connected) + dialling + len(chosen)
    links = reached(connected, reports)
    bridges = [p for p in due if p not in static and p not in links]
    others = [p for p in due if p not in static and p in links]
    beyond_low = False
    for peer in bridges:
        if count >= marks.low:
            if beyond_low or dialling or awaiting_reports or count >= marks.high:
                break
            beyond_low = True
        chosen.append(peer)
        count += 1
    for peer in others:
        if count >= marks.low:
            break
        chosen.append(peer)
        count += 1
    return chosen


def trims(
    connected: Mapping[Peer, float],
    *,
    now: float,
    static: Collection[Peer],
    busy: Collection[Peer],
    reports: Mapping[Peer, Collection[Peer]],
    marks: Watermarks,
    trimmed: Mapping[Peer, float] = {},
) -> list[Peer]:
    """Which connected peers to close now (rule 3). ``connected`` maps each
    connected peer to when (seconds, the caller's clock) it connected;
    ``trimmed`` each peer this node trimmed to when it last did."""
    excess = len(connected) - marks.high
    if excess <= 0:
        return []
    peers = list(connected)
    links = reached(peers, reports)
    candidates = [
        p for p in peers
        if p not in static and p not in busy and now - connected[p] >= marks.grace_s
        and not is_bridge(p, peers, reports) and now - trimmed.get(p, float("-inf")) >= TRIM_MEMORY_S
        and (p not in reports or len(reports[p]) > marks.low)
    ]
    # Most redundant first; of equals, the newest (it has carried least).
    candidates.sort(key=lambda p: (-links.get(p, 0), -connected[p]))
    closed: list[Peer] = []
    remaining = set(peers)
    for peer in candidates:
        if len(closed) >= excess:
            break
        # Closing an earlier candidate may have made this one the last link.
        if is_bridge(peer, remaining, reports):
            continue
        closed.append(peer)
        remaining.discard(peer)
    return closed

