"""The node's address book: peers it has met, where they listen, how syncs went.

After power returns, mDNS may be slow or absent; the node redials the peers it
remembers here, most recently seen first, backing off on those that keep
failing. Peer ids are libp2p's text form; addresses are multiaddr strings.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass

#: Peers remembered at most. A neighbourhood has tens of households with a few
#: devices each; 1,000 leaves room while keeping a hostile flood of fake peers
#: from growing the table without bound (the least recently seen go first).
MAX_PEERS = 1_000

#: Addresses kept per peer (the newest first): a laptop moving between networks
#: collects stale ones, and each costs a dial attempt.
MAX_ADDRESSES_PER_PEER = 8


@dataclass(frozen=True, slots=True)
class PeerAddress:
    peer_id: str
    multiaddrs: list[str]  #: newest first
    last_seen: int  #: ms since the epoch
    last_sync: int | None  #: ms since the epoch of the last completed sync, if any
    failures: int  #: dial or sync failures since the peer was last seen


def remember(conn: sqlite3.Connection, peer_id: str, multiaddrs: list[str], now: int) -> None:
    """Record that ``peer_id`` was seen at ``multiaddrs`` at ``now``; resets failures."""
    found = conn.execute("SELECT multiaddrs FROM peers WHERE peer_id = ?", (peer_id,)).fetchone()
    known = json.loads(found[0]) if found else []
    merged = list(dict.fromkeys([*multiaddrs, *known]))[:MAX_ADDRESSES_PER_PEER]
    conn.execute(
        "INSERT INTO peers (peer_id, multiaddrs, last_seen, failures) VALUES (?, ?, ?, 0) "
        "ON CONFLICT (peer_id) DO UPDATE SET multiaddrs = excluded.multiaddrs, "
        "last_seen = excluded.last_seen, failures = 0",
        (peer_id, json.dumps(merged), now),
    )
    conn.execute(
        "DELETE FROM peers WHERE peer_id IN (SELECT peer_id FROM peers "
        "ORDER BY last_seen DESC, peer_id LIMIT -1 OFFSET ?)",
        (MAX_PEERS,),
    )


def mark_synced(conn: sqlite3.Connection, peer_id: str, now: int) -> None:
    conn.execute(
        "UPDATE peers SET last_sync = ?, last_seen = MAX(last_seen, ?), failures = 0 "
        "WHERE peer_id = ?",
        (now, now, peer_id),
    )


def mark_failed(conn: sqlite3.Connection, peer_id: str) -> None:
    conn.execute("UPDATE peers SET failures = failures + 1 WHERE peer_id = ?", (peer_id,))


def forget(conn: sqlite3.Connection, peer_id: str) -> None:
    conn.execute("DELETE FROM peers WHERE peer_id = ?", (peer_id,))


def addresses(conn: sqlite3.Connection) -> list[PeerAddress]:
    """Every remembered peer, most recently seen first."""
    return [
        PeerAddress(peer_id, json.loads(addrs), last_seen, last_sync, failures)
        for peer_id, addrs, last_seen, last_sync, failures in conn.execute(
            "SELECT peer_id, multiaddrs, last_seen, last_sync, failures FROM peers "
            "ORDER BY last_seen DESC, peer_id"
        )
    ]
