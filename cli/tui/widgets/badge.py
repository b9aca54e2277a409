"""The header line: who we are and, unmistakably, whether the mesh is reachable.

Three states, each with its own words and colour so nobody mistakes an island
for a quiet afternoon:

- ``live``: the node runs and at least one neighbour is connected;
- ``island``: the node runs but no neighbour is reachable (records wait to sync);
- ``offline``: the UI cannot reach its own node.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

if TYPE_CHECKING:
    from ..answers import Status

LIVE, ISLAND, OFFLINE, STARTING = "live", "island", "offline", "starting"


def badge_state(status: Status | None, reachable: bool) -> str:
    """The badge's state from the node's ``status`` answer."""
    if not reachable:
        return OFFLINE
    if status is None:
        return STARTING
    if status.get("island") or not status.get("connected"):
        return ISLAND
    return LIVE


def badge_words(state: str, status: Status | None) -> str:
    if state == LIVE and ((status or {}).get("outage") or {}).get("catching_up"):
        return f" ● LIVE · catching up: {status['outage'].get('behind', 0)} to come "
    if state == LIVE:
        count = len((status or {}).get("connected") or [])
        return f" ● LIVE · {count} neighbour{'s' if count != 1 else ''} "
    if state == ISLAND:
        outage = (status or {}).get("outage") or {}
        if outage.get("in_outage") and outage.get("hours") is not None:
            return f" ▲ ISLAND · outage {outage['hours']} h "
        return " ▲ ISLAND · no neighbour reachable "

    if state == OFFLINE:
        return " ✖ OFFLINE · node not answering "
    return ""


class Badge(Static):
    """One line: app name, household and neighbourhood, then the mesh state."""

    DEFAULT_CSS = """
    Badge { dock: top; height: 1; background: $panel; color: $text; }
    """

    state: reactive[str] = reactive(STARTING)

    def __init__(self) -> None:
        super().__init__(id="badge")
        self.status: Status | None = None
        self.who: str = " meshpantry"
        self.note: str = " … starting "

    def show(self, status: Status | None, reachable: bool) -> None:
        if status is not None:
            self.status = status
            household = status.get("household_name") or "?"
            hood = status.get("neighbourhood_name") or "no neighbourhood"
            self.who = f" meshpantry · {household} · {hood}"
        self.state = badge_state(self.status, reachable)
        self.set_classes(f"-{self.state}")
        self.refresh()

    def starting(self, note: str) -> None:
        """Show progress while the node starts."""
        self.note = f" … {note} "
        self.state = STARTING
        self.refresh()

    def render(self) -> Text:
        words = badge_words(self.state, self.status) or self.note
        styles = {
            LIVE: "bold white on dark_green",
            ISLAND: "bold black on yellow",
            OFFLINE: "bold white on red3",
            STARTING: "bold white on grey39",
        }
        width = self.size.width or 80
        left = self.who[: max(width - len(words) - 1, 0)]
        text = Text(left)
        text.append(" " * max(width - len(left) - len(words), 0))
        text.append(words, style=styles[self.state])
        return text
