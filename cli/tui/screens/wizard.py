"""First run: name the household and pick the network its node uses, then
found a neighbourhood or join one with a pasted invite code."""

from __future__ import annotations

from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Footer, Input, Label, RadioButton, RadioSet, Static

from meshpantry.node.network import NetworkChoice, network_choice

from ..answers import Args, Whoami
from ..widgets.pane import OnPantryApp


class HouseholdScreen(Screen):
    """Step 1: this household's name and rough area (never an exact address),
    and the network its node uses (the LAN, or this computer only).
    Dismisses with ``{"household", "area", "network"}`` or None when the user
    quits. ``choice`` says what this machine offers (read now when None)."""

    BINDINGS = [Binding("escape", "quit_setup", "Quit")]
    AUTO_FOCUS = "#setup-household"  #: focused once composed (see NeighbourhoodScreen)

    def __init__(self, choice: NetworkChoice | None = None) -> None:
        super().__init__()
        self.choice = choice or network_choice()

    def compose(self):
        with Vertical(id="dialog", classes="form wizard"):
            yield Static("Welcome to meshpantry", classes="title")
            yield Static("Neighbours will see your household's name and rough area on the board. "
                         "This device gets its own key, kept in its data directory.", classes="explain")
            with Horizontal(classes="field"):
                yield Label("Household", classes="field-label")
                yield Input(placeholder="e.g. The Okafors", id="setup-household")
            with Horizontal(classes="field"):
                yield Label("Area", classes="field-label")
                yield Input(placeholder="street or block (optional)", id="setup-area")
            with RadioSet(id="setup-network"):
                for mode in ("lan", "loopback"):
                    yield RadioButton(_network_label(mode), value=mode == self.choice.default, id=f"network-{mode}",
                                      disabled=mode not in self.choice.modes)
            yield Static(self._explain(self.choice.default), id="network-explain", classes="explain", markup=False)
            yield Static("", id="dialog-error", classes="field-error")
            with Horizontal(classes="buttons"):
                yield Button("Continue", id="submit", variant="primary")
                yield Button("Quit  esc", id="cancel")
        yield Footer()

    def _submit(self) -> None:
        name = self.query_one("#setup-household", Input).value.strip()
        if not name:
            error = self.query_one("#dialog-error", Static)
            error.update("your household needs a name")
            error.display = True
            return
        area = self.query_one("#setup-area", Input).value.strip() or None
        self.dismiss({"household": name, "area": area, "network": self.network})

    @property
    def network(self) -> str:
        """The network picked (the default until the user picks another)."""
        pressed = self.query_one("#setup-network", RadioSet).pressed_button
        mode = (pressed.id or "").removeprefix("network-") if pressed is not None else self.choice.default
        return mode if mode in self.choice.modes else self.choice.default

    def _explain(self, mode: str) -> str:
        return f"Network: {self.choice.describe(mode)}."

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        self.query_one("#network-explain", Static).update(self._explain(self.network))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "setup-area":
            self._submit()
        else:
            self.focus_next()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "submit":
            self._submit()
        else:
            self.dismiss(None)

    def action_quit_setup(self) -> None:
        self.dismiss(None)


def _network_label(mode: str) -> str:
    return "This Wi-Fi/LAN (neighbours can reach you)" if mode == "lan" else "This computer only (trying it out)"


class NeighbourhoodScreen(OnPantryApp, ModalScreen):
    """Step 2: found a neighbourhood, or join one with an invite code.
    Dismisses with True once the node has done it."""

    BINDINGS = [Binding("ctrl+q", "app.quit", "Quit")]
    #: Focused once composed, by Textual. (A query in ``on_mount`` raised
    #: NoMatches when the app closed as the screen mounted.)
    AUTO_FOCUS = "#join-code"

    def __init__(self, who: Whoami) -> None:
        super().__init__()
        self.who = who

    def compose(self):
        with Vertical(id="dialog", classes="form wizard"):
            yield Static(f"{self.who.get('household_name') or 'Your household'}: join your neighbours",
                         classes="title", markup=False)
            yield Static("Paste the invite code a member gave you…", classes="explain")
            with Horizontal(classes="field"):
                yield Label("Invite code", classes="field-label")
                yield Input(placeholder="mp1-…", id="join-code")
            yield Button("Join", id="join", variant="primary")
            yield Static("…or found a new neighbourhood (you become its admin).", classes="explain")
            with Horizontal(classes="field"):
                yield Label("Name", classes="field-label")
                yield Input(placeholder="e.g. Elm Street", id="found-name")
            yield Button("Found", id="found")
        yield Footer()

    async def on_input_submitted(self, event: Input.Submitted) -> None:
        await (self.join() if event.input.id == "join-code" else self.found())

    async def on_button_pressed(self, event: Button.Pressed) -> None:
        await (self.join() if event.button.id == "join" else self.found())

    def _profile(self) -> Args:
        args: Args = {"household": self.who.get("household_name") or "household"}
        if self.who.get("area"):
            args["area"] = self.who["area"]
        return args

    async def join(self) -> None:
        code = "".join(self.query_one("#join-code", Input).value.split())
        if not code:
            self.app.notify("Paste the invite code first.", severity="warning")
            return
        result = await self.app.act("join", None, code=code, **self._profile())
        if result is not None:
            self.app.notify(f"Joined {result.get('neighbourhood_name')}. Your node will find the neighbours.")
            self.dismiss(True)

    async def found(self) -> None:
        name = self.query_one("#found-name", Input).value.strip()
        if not name:
            self.app.notify("Give the neighbourhood a name.", severity="warning")
            self.query_one("#found-name", Input).focus()
            return
        result = await self.app.act("create_neighbourhood", f"Founded {name}; invite neighbours on the Invite tab (6).",
                                    name=name, **self._profile())
        if result is not None:
            self.dismiss(True)
