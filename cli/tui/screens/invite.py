"""Invite: make an invite code and show it as text to copy or read out, with
a QR code below it for a phone to scan (scroll down at 80x24)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Button, Input, Label, Static, TextArea

from ..answers import Args, Invite, as_answer
from ..widgets.pane import Pane

if TYPE_CHECKING:
    from ..app import PantryApp


#: Characters per line of the code box: the code is broken into lines of this
#: width rather than soft-wrapped, which hid a character at each wrap at 80
#: columns. A pasted code may keep the line breaks (joining ignores them).
CODE_LINE = 66


def wrapped(code: str, width: int = CODE_LINE) -> str:
    """``code`` in lines of ``width`` characters."""
    return "\n".join(code[start:start + width] for start in range(0, len(code), width))


class InvitePane(Pane):
    BINDINGS = [Binding("g", "generate", "New code")]

    def compose(self):
        yield Static("Invite a household: make a code and hand it over in person. "
                     "Anyone holding it can join until it expires.", id="invite-help")
        with Horizontal(classes="field"):
            yield Label("For (note)", classes="field-label")
            yield Input(placeholder="who it is for (optional)", id="invite-note")
        with Horizontal(classes="field"):
            yield Label("Households", classes="field-label")
            yield Input(value="1", id="invite-uses")
        yield Button("New invite code  g", id="invite-make", variant="primary")
        yield TextArea("", id="invite-code", read_only=True, soft_wrap=False)
        yield Static("", id="invite-info")
        yield Static("", id="invite-qr")

    async def reload(self, app: PantryApp) -> None:
        pass

    def focus_main(self) -> None:
        self.query_one("#invite-make", Button).focus()

    async def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "invite-make":
            await self.action_generate()

    async def action_generate(self) -> None:
        uses_text = self.query_one("#invite-uses", Input).value.strip() or "1"
        if not uses_text.isdigit():
            self.app.notify("Households: a whole number.", severity="error")
            return
        args: Args = {"uses": int(uses_text)}
        note = self.query_one("#invite-note", Input).value.strip()
        if note:
            args["note"] = note
        answer = await self.app.act("create_invite", "Invite code made.", **args)
        if answer is None:
            return
        result = as_answer(Invite, answer)
        self.code = result["code"]
        self.query_one("#invite-code", TextArea).text = wrapped(result["code"])
        from ..show import relative

        self.query_one("#invite-info", Static).update(Text(
            f"valid for {result['uses']} household(s), expires {relative(result['expires'], self.app.clock())}"
            " · QR code below"
        ))
        from ...invite_qr import qr_text

        self.query_one("#invite-qr", Static).update(qr_text(result["code"]))
