"""Connection changes from py-libp2p's swarm, as a channel of peer ids.

The swarm calls its notifees inline, while it holds its own state: a notifee
that blocked would stall every connection. :class:`ConnectionNotifee` only
posts the peer id, without waiting; the reader compares it with the swarm's
actual connections, so a change dropped when the channel is full is seen at
the next one.
"""

from __future__ import annotations

import multiaddr
import trio
from libp2p.abc import INetConn, INetStream, INetwork, INotifee


class ConnectionNotifee(INotifee):
    """Forwards swarm connection changes to a channel, never blocking the swarm."""

    def __init__(self, changes: trio.MemorySendChannel) -> None:
        self.changes = changes

    def _post(self, conn: INetConn) -> None:
        try:
            self.changes.send_nowait(conn.muxed_conn.peer_id)
        except (trio.WouldBlock, trio.ClosedResourceError, AttributeError):
            pass  # the event task re-reads the swarm's state on the next change

    async def connected(self, network: INetwork, conn: INetConn) -> None:
        self._post(conn)

    async def disconnected(self, network: INetwork, conn: INetConn) -> None:
        self._post(conn)

    async def opened_stream(self, network: INetwork, stream: INetStream) -> None:
        return None

    async def closed_stream(self, network: INetwork, stream: INetStream) -> None:
        return None

    async def listen(self, network: INetwork, address: multiaddr.Multiaddr) -> None:
        return None

    async def listen_close(self, network: INetwork, address: multiaddr.Multiaddr) -> None:
        return None
