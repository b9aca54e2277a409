"""The app: tabs for the board, swaps, meals, recipes, mesh and invite, a
header badge for the mesh state, and the link to the node.

:func:`build_app` makes the app for both the command line and the tests. The
app talks to its node through a :class:`NodeClient` (the control socket's
:class:`~meshpantry.control.aclient.AsyncControlClient`, or a stand-in in
tests) and reads the answers as the typed maps of :mod:`cli.tui.answers`. It
gets a client from ``connect``, an async callable, so it can start a node
first and reconnect when the node comes back.

Theory of operation:

- On mount the app connects; if the household has no neighbourhood yet it
  runs the setup wizard first.
- A worker follows the node's events. Records only mark the view stale; a
  timer refreshes the visible tab at most every :data:`REFRESH_S`, so a
  burst of a thousand records costs one refresh, not a thousand.
- Every action goes through :meth:`PantryApp.act`: errors become
  notifications and the form that asked stays open with what was typed.
"""

from __future__ import annotations

import asyncio
import time as _time
from typing import AsyncIterator, Awaitable, Callable, Protocol

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, TabbedContent

from meshpantry.control.client import NodeUnavailable
from meshpantry.node.stopping import NodeStopped
from meshpantry.control.events import Event, RecordEvent, SyncEvent
from meshpantry.control.frames import Wire
from meshpantry.exit_codes import ExitCode
from meshpantry.pantry.errors import PantryError

from ..terminal_text import terminal_safe, terminal_safe_tree
from .answers import Answer, Status, UnexpectedAnswer, Whoami, as_answer
from .messages import NodeEvent
from .style import CSS
from .screens.board import BoardPane
from .screens.invite import InvitePane
from .screens.meals import MealsPane
from .screens.mesh import MeshPane
from .screens.recipes import RecipesPane
from .screens.swaps import SwapsPane
from .widgets.badge import Badge
from .widgets.pane import Pane, TabPage

#: Refresh the visible tab at most this often while records stream in: often
#: enough to feel live, rare enough that a burst of records never freezes typing.
REFRESH_S = 0.5
#: After the node goes away, try to reconnect this often.
RECONNECT_S = 2.0
#: A node answers the UI's requests in milliseconds; one that takes this long
#: is stuck, and the user should hear so rather than stare at a frozen form.
CALL_TIMEOUT_S = 20.0

class NodeClient(Protocol):
    """What the app needs of its link to the node (the control socket's
    :class:`~meshpantry.control.aclient.AsyncControlClient`, or a stand-in)."""

    async def call(self, op: str, **args: object) -> Wire: ...

    async def subscribe(self, names: list[str] | None = None) -> None: ...

    def events(self) -> AsyncIterator[Event]: ...

    async def close(self) -> None: ...


Connect = Callable[[], Awaitable[NodeClient]]


class Setup(Protocol):
    """First-run work before the app connects (:class:`cli.tui.launch.Setup`)."""

    async def run(self, app: PantryApp) -> bool:
        """False when the user left the wizard (the app then exits)."""
        ...

TABS = (
    ("board", "Board", BoardPane),
    ("swaps", "Swaps", SwapsPane),
    ("meals", "Meals", MealsPane),
    ("recipes", "Recipes", RecipesPane),
    ("mesh", "Mesh", MeshPane),
    ("invite", "Invite", InvitePane),
)


def wall_clock_ms() -> int:
    return int(_time.time() * 1000)


class PantryApp(App):
    """The household's terminal UI."""

    TITLE = "meshpantry"
    AUTO_FOCUS = None
    CSS = CSS
    BINDINGS = [
        # The tab titles show their keys ("1 Board"), leaving the footer to
        # the visible tab's own actions, which then fit in 80 columns.
        Binding("f1,1", "tab('board')", "Board", show=False),
        Binding("f2,2", "tab('swaps')", "Swaps", show=False),
        Binding("f3,3", "tab('meals')", "Meals", show=False),
        Binding("f4,4", "tab('recipes')", "Recipes", show=False),
        Binding("f5,5", "tab('mesh')", "Mesh", show=False),
        Binding("f6,6", "tab('invite')", "Invite", show=False),
        Binding("f7,7", "cook", "Cook", show=False),
        Binding("ctrl+t", "toggle_dark", "Theme", show=False),
        Binding("ctrl+r", "refresh_now", "Refresh", show=False),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    def __init__(
        self,
        connect: Connect,
        *,
        clock: Callable[[], int] = wall_clock_ms,
        setup: Setup | None = None,
        follow_events: bool = True,
    ) -> None:
        super().__init__()
        self.connect = connect
        self.clock = clock
        self.setup = setup
        self.follow_events = follow_events
        self.client: NodeClient | None = None
        self.reachable = False
        self.status: Status | None = None
        self.stale = False
        self.status_stale = False
        self.refreshes = 0
        #: Why the last reconnect failed, once said (None while connected).
        self.offline_reason: str | None = None
        #: True once connected to a node whose household is in a neighbourhood.
        self.ready = False
        self.events_seen = 0
        self.sync_log: list[SyncEvent] = []
        #: The latest sync progress the node reported, by peer.
        self.sync_state: dict[str, SyncEvent] = {}
        #: Every error shown to the user, newest last (the tests read it too).
        self.errors: list[str] = []

    # -- layout ------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Badge()
        with TabbedContent(id="tabs"):
            for number, (name, title, pane) in enumerate(TABS, 1):
                with TabPage(f"{number} {title}", id=f"tab-{name}"):
                    yield pane(id=name)
        yield Footer()

    @property
    def main(self) -> Screen:
        """The screen holding the tabs (dialogs stack above it)."""
        return self.screen_stack[0]

    @property
    def badge(self) -> Badge:
        return self.main.query_one(Badge)

    def pane(self, name: str) -> Pane:
        return self.main.query_one(f"#{name}", Pane)

    @property
    def active_pane(self) -> Pane:
        active = self.main.query_one(TabbedContent).active or "tab-board"
        return self.pane(active.removeprefix("tab-"))

    # -- lifetime ----------------------------------------------------------------

    async def on_mount(self) -> None:
        self.set_interval(REFRESH_S, self._refresh_if_stale)
        self.start()

    @work(exclusive=True, group="connect")
    async def start(self) -> None:
        """Connect (running the setup wizard when needed), load, follow events."""
        if self.setup is not None:
            ready = await self.setup.run(self)
            if not ready:
                self.exit(int(ExitCode.FAILED))  # the wizard was left: nothing to show
                return
        await self._connect()
        if self.client is None:
            self._reconnect()  # keeps trying, then comes back here
            return
        await self._show_status()
        if not await self._ensure_neighbourhood():
            return
        self.ready = True
        await self.reload()
        if self.is_running:
            self.active_pane.focus_main()
        if self.follow_events:
            self._follow()

    async def _connect(self) -> None:
        if self.reachable and self.client is not None:
            return  # connected already (the reconnect loop got there first)
        try:
            self.client = await self.connect()
        except NodeUnavailable as exc:
            self._went_offline(str(exc))
            return
        self.reachable = True

    async def _painted(self, frames: int = 3) -> None:
        """Let the main screen lay out and paint (tab underline included)
        before a dialog covers it: a covered screen is not repainted, so what
        shows around the dialog is its last frame."""
        for _ in range(frames):
            done = asyncio.Event()
            self.call_after_refresh(done.set)
            await done.wait()

    async def _ensure_neighbourhood(self) -> bool:
        who = await self.ask("whoami")
        if who is None:
            return False
        if who.get("neighbourhood"):
            return True
        from .screens.wizard import NeighbourhoodScreen

        await self._painted()
        joined = await self.push_screen_wait(NeighbourhoodScreen(as_answer(Whoami, who)))
        return bool(joined)

    @work(exclusive=True, group="events")
    async def _follow(self) -> None:
        client = self.client
        if client is None:
            return
        try:
            await client.subscribe()
            async for event in client.events():
                self.post_message(NodeEvent(event))
        except NodeUnavailable as exc:
            if client is self.client:
                self._went_offline(str(exc))
                self._reconnect()

    def on_node_event(self, message: NodeEvent) -> None:
        """Note what an event made stale; the timer refreshes (coalesced)."""
        self.events_seen += 1
        event = message.event
        if isinstance(event, RecordEvent):
            self.stale = True
        self.status_stale = True
        if isinstance(event, SyncEvent):
            self.sync_log = (self.sync_log + [event])[-20:]
            self.sync_state[event.peer] = event

    @work(exclusive=True, group="reconnect")
    async def _reconnect(self) -> None:
        while not self.reachable:
            await asyncio.sleep(RECONNECT_S)
            try:
                client = await self.connect()
            except NodeStopped as exc:
                if str(exc) != self.offline_reason:  # say once that it stays stopped, and why
                    self.offline_reason = str(exc)
                    self.notify(str(exc), title="node stopped", severity="warning", timeout=12)
                continue
            except NodeUnavailable:
                continue
            self.offline_reason = None
            old, self.client = self.client, client
            if old is not None:
                await old.close()
            self.reachable = True
            self.notify("Reconnected to the node.", title="node")
            if not self.ready:
                self.start()  # never got as far as the board: set up from the start
                return
            await self.reload()
            if self.follow_events:
                self._follow()

    def _went_offline(self, reason: str) -> None:
        if not self.is_running:
            return
        if self.reachable or self.status is None:
            self.notify(f"{reason}", title="node not answering", severity="error", timeout=8)
        self.reachable = False
        self.badge.show(None, False)

    async def on_unmount(self) -> None:
        client = self.client
        if client is not None:
            await client.close()

    # -- talking to the node -------------------------------------------------------

    async def ask(self, op: str, **args: Wire) -> Answer | None:
        """Call ``op`` for reading; on failure notify and return None. Read
        the answer with :mod:`.answers`."""
        return await self._call(op, args, None)

    async def act(self, op: str, done: str | None = None, **args: Wire) -> Answer | None:
        """Call ``op`` that changes something; notify ``done`` on success, the
        error on failure (returning None). Refreshes the visible tab after."""
        result = await self._call(op, args, done)
        if result is not None:
            self.stale = True
            await self._refresh_if_stale()
        return result

    async def _call(self, op: str, args: dict[str, Wire], done: str | None) -> Answer | None:
        if self.client is None or not self.reachable:
            self.notify("The node is not answering; your input is kept. Try again in a moment.",
                        title="offline", severity="error")
            return None
        try:
            result = await asyncio.wait_for(self.client.call(op, **args), CALL_TIMEOUT_S)
        except asyncio.TimeoutError:
            message = f"the node did not answer within {CALL_TIMEOUT_S:.0f} s; your input is kept"
            self.errors.append(message)
            self.notify(message, title="node busy", severity="error", timeout=8)
            return None
        except NodeUnavailable as exc:
            self._went_offline(str(exc))
            self._reconnect()
            return None
        except PantryError as exc:
            self.report(str(exc))
            return None
        if not self.is_running:
            return None  # the app closed while the node answered
        if result is None:
            result = {}
        if not isinstance(result, dict):
            self.report(str(UnexpectedAnswer(f"to {op} is not a map")))
            return None
        result = terminal_safe_tree(result)  # every text a screen shows comes through here
        if done:
            self.notify(done)
        return result

    def report(self, message: str) -> None:
        """Tell the user a request was not done (and keep it for the tests)."""
        self.errors.append(message)
        self.notify(message, title="not done", severity="error", timeout=8)

    async def reload(self) -> None:
        """Refresh the badge and the visible tab from the node now."""
        self.stale = False
        self.status_stale = False
        await self._show_status()
        if self.ready and self.reachable and self.is_running:
            await self.active_pane.reload(self)
            self.refreshes += 1

    async def _refresh_if_stale(self) -> None:
        if not self.ready or not self.reachable or self.client is None:
            return
        if self.stale:
            await self.reload()
        elif self.status_stale:
            self.status_stale = False
            if await self._show_status() and self.active_pane.id == "mesh":
                await self.active_pane.reload(self)

    async def _show_status(self) -> Status | None:
        """Ask the node for its status and show it in the header badge."""
        answer = await self.ask("status")
        if answer is None:
            return None
        status = as_answer(Status, answer)
        if self.is_running:
            self.status = status
            self.badge.show(status, True)
        return status

    def notify(self, message: str, *, title: str = "", severity: str = "information",
               timeout: float | None = None, markup: bool = False) -> None:
        """Notifications carry neighbours' text (item names, errors quoting
        input): shown as typed, never read as markup, escapes made visible."""
        super().notify(terminal_safe(message, newlines=True), title=terminal_safe(title),
                       severity=severity, timeout=timeout, markup=markup)

    # -- actions -------------------------------------------------------------------

    def action_tab(self, name: str) -> None:
        self.main.query_one(TabbedContent).active = f"tab-{name}"

    async def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        # Focus only a widget of the tab shown now, and before waiting for the
        # node: Textual shows the tab of whatever gets focus, so a focus given
        # after the wait to a tab the user already left (3 then 1, quickly)
        # switched back to it, and the tab keys seemed dead.
        name = (event.pane.id or "").removeprefix("tab-")
        if self.main.query_one(TabbedContent).active != event.pane.id:
            return  # the user moved on before this tab was handled
        if self.ready and self.reachable and self.client is not None:
            pane = self.pane(name)
            pane.focus_main()
            await pane.reload(self)

    async def action_refresh_now(self) -> None:
        await self.reload()

    def action_cook(self) -> None:
        """Cookable now (:mod:`.screens.cook`), over whatever is shown."""
        from .screens.cook import CookScreen

        if self.ready and not isinstance(self.screen, CookScreen):
            self.push_screen(CookScreen())

    def action_toggle_dark(self) -> None:
        self.theme = "textual-light" if self.theme == "textual-dark" else "textual-dark"


def build_app(connect: Connect, *, clock: Callable[[], int] = wall_clock_ms, setup: Setup | None = None,
              follow_events: bool = True) -> PantryApp:
    """The app, connected through ``connect`` (an async callable returning a
    client), reading time from ``clock`` (ms). ``setup``, when given, runs
    first (the first-run wizard and starting the node)."""
    return PantryApp(connect, clock=clock, setup=setup, follow_events=follow_events)
