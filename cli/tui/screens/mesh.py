"""Mesh: this node, its neighbours, when each last synced, how many records
it is behind, and the sync progress the node reports."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.widgets import DataTable, Static

from meshpantry.control.events import SyncEvent

from ..answers import PeerRow, Status, as_answer
from ..show import relative, short_id
from ..widgets.pane import Pane, cells

if TYPE_CHECKING:
    from ..app import PantryApp


class MeshPane(Pane):
    def compose(self):
        yield Static(id="mesh-summary")
        table = DataTable(id="peers", cursor_type="row", zebra_stripes=True)
        table.add_column("peer", key="peer", width=14)
        table.add_column("connected", key="up", width=10)
        table.add_column("last sync", key="sync", width=11)
        table.add_column("behind", key="behind", width=8)
        table.add_column("sync", key="progress", width=16)
        yield table
        yield Static(id="sync-log")

    async def reload(self, app: PantryApp) -> None:
        status = app.status
        if status is None:
            answer = await app.ask("status")
            if answer is None:
                return
            status = as_answer(Status, answer)
        now = app.clock()
        self.query_one("#mesh-summary", Static).update(mesh_summary(status))
        table = self.query_one("#peers", DataTable)
        table.clear()
        for peer in status.get("peers") or []:
            up = Text("yes", style="green") if peer.get("connected") else Text("no", style="grey50")
            behind = peer.get("behind")
            progress = sync_progress(app.sync_state.get(peer["peer"]), peer)
            table.add_row(*cells(short_id(peer["peer"][-8:] if peer["peer"].startswith("12D3") else peer["peer"]) or "?",
                                 up, relative(peer.get("last_sync"), now),
                                 "-" if behind is None else str(behind), progress), key=peer["peer"])
        log = app.sync_log[-3:]
        self.query_one("#sync-log", Static).update(
            Text("\n".join(sync_line(e) for e in log) if log else "No sync reported yet in this session.")
        )


def mesh_summary(status: Status) -> Text:
    text = Text()
    if status.get("island"):
        text.append(" ISLAND ", style="bold black on yellow")
        text.append(" no neighbour reachable: what you do is kept and syncs when one is back.\n")
    text.append(f"records held {status.get('records', '?')} · households {status.get('households', '?')}"
                f" · connected {len(status.get('connected') or [])}")
    if status.get("waiting"):
        text.append(f" · waiting {status['waiting']}")
    if status.get("forks"):
        text.append(f" · forks {status['forks']}", style="bold red")
    listen = status.get("listen") or []
    if listen:
        text.append(f"\nlistening {listen[0]}")
    from cli.commands_outage import outage_lines

    for line in outage_lines(status.get("outage")):  # the outage clock and the catch-up's summary
        text.append("\n" + " ".join(line.split()))
    standing = status.get("standing") or {}
    if standing.get("counts") is False:
        text.append("\nWhat this device writes will not count: ", style="bold red")
        text.append(str(standing.get("reason")))
    not_counting = status.get("not_counting") or []
    if not_counting:
        text.append(f"\n{len(not_counting)} of this device's records will not count", style="bold red")
        text.append(": " + "; ".join(f"{r['kind']}: {r['reason']}" for r in not_counting[:3]))
    for conflict in (status.get("conflicts") or [])[:3]:
        text.append(f"\nConflict on the {conflict['item']} claim: ", style="bold yellow")
        text.append(conflict["conflict"])
    return text


def sync_progress(event: SyncEvent | None, peer: PeerRow) -> str:
    """``120/400 ▇▇░░`` while a sync runs, else whether the peer is caught up."""
    if event and event.active and event.expected:
        received, expected = event.received, event.expected
        cells = min(4, (4 * received) // max(expected, 1))
        return f"{received}/{expected} " + "▇" * cells + "░" * (4 - cells)
    if peer.get("syncing"):
        return "syncing…"
    if peer.get("behind") == 0 or (event and event.behind == 0):
        return "up to date"
    return "-"


#: How a session that ended with neither side at fault reads (SyncEvent.ended).
_NO_FAULT = {
    "gave way": "gave way to another member's session here; starts again shortly",
    "withdrawn": "the peer gave way to another session before an answer; it starts again shortly",
}


def sync_line(event: SyncEvent) -> str:
    """One sync session in words: ``sync with 1a2b3c4d: running, 120 of 400
    records`` or ``sync with 1a2b3c4d: done, 12 records in, 3 out``."""
    peer = (event.peer or "?")[-8:]
    if not event.active and event.ended in _NO_FAULT:
        return f"sync with {peer}: {_NO_FAULT[event.ended]}"
    if event.active:
        words = ["running"]
        if event.expected:
            words.append(f"{event.received} of {event.expected} records")
        elif event.received:
            words.append(f"{event.received} records so far")
    else:
        words = ["failed" if event.ok is False else "done"]
        if event.records_in is not None or event.records_out is not None:
            words.append(f"{event.records_in or 0} records in, {event.records_out or 0} out")
        elif event.received:
            words.append(f"{event.received} records received")
        if event.behind:
            words.append(f"{event.behind} still to fetch")
        elif event.ok:
            words.append("up to date")
    return f"sync with {peer}: " + ", ".join(words)
