"""Asking for the device key's passphrase before the UI starts its node.

A key made with ``meshpantry init --encrypt`` cannot be read without its
passphrase, and neither can the node the UI starts. The screen asks for it
(the text hidden), the UI checks it against the key file, says so when it is
wrong and asks again, then hands it to the node through a pipe
(:func:`cli.tui.node_process.start_node`), never on a command line.
"""

from __future__ import annotations

from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, Label, Static

from ..widgets.pane import OnPantryApp


class PassphraseScreen(OnPantryApp, ModalScreen):
    """Dismissed with the passphrase typed, or None when the user leaves."""

    BINDINGS = [Binding("escape", "leave", "Quit")]

    def __init__(self, key_file: str, error: str | None = None) -> None:
        super().__init__()
        self.key_file = key_file
        self.error = error

    def compose(self):
        with Vertical(id="dialog", classes="form"):
            yield Static("This device's key is locked", classes="title", markup=False)
            yield Static(f"{self.key_file} is protected by a passphrase. Type it to start this "
                         "household's node; it goes to the node through a pipe and is not stored.",
                         classes="explain", markup=False)
            with Horizontal(classes="field"):
                yield Label("Passphrase", classes="field-label")
                yield Input(password=True, id="passphrase")
            yield Static(self.error or "", id="dialog-error", classes="field-error", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Unlock  enter", id="submit", variant="primary")
                yield Button("Quit  esc", id="cancel")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#dialog-error", Static).display = bool(self.error)
        self.query_one("#passphrase", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "submit":
            self.dismiss(self.query_one("#passphrase", Input).value)
        else:
            self.action_leave()

    def action_leave(self) -> None:
        self.dismiss(None)
