"""A form checked as you type, with room for text of several lines.

The shape of the offer form: a label and a field per row, the field's own
message underneath while it is wrong, a submit button that stays off until
the form is right. Fields of several lines (one need, ingredient or step a
line) are text areas where Enter starts a new line; Tab moves on everywhere,
ctrl+s submits, Escape cancels. A request the node refuses (or a node that is
gone) leaves the form open with everything typed.
"""

from __future__ import annotations

from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, Label, Static, TextArea

from ..answers import Answer, Args
from ..offer_rules import OfferCheck as FormCheck
from ..widgets.pane import OnPantryApp


class CheckedForm(OnPantryApp, ModalScreen):
    """Subclasses set ``title_text``, ``submit_text`` and ``fields`` (name,
    label, placeholder, height in lines: 1 is a one-line input) and implement
    :meth:`rules` and :meth:`send`."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "submit", "Done"),
    ]
    DEFAULT_CSS = """
    CheckedForm .field-tall { height: auto; }
    CheckedForm .field-tall .field-label { width: 14; }
    CheckedForm .field-tall TextArea {
        width: 1fr; border: none; padding: 0 1; background: $boost;
    }
    CheckedForm .field-tall TextArea:focus { background: $primary 30%; }
    CheckedForm .field-tall TextArea.-invalid { background: $error 25%; }
    """
    title_text = ""
    submit_text = "Done"
    fields: tuple[tuple[str, str, str, int], ...] = ()

    def compose(self):
        with Vertical(id="dialog", classes="form"):
            yield Static(self.title_text, classes="title")
            with VerticalScroll(id="form-fields", can_focus=False):
                for name, label, hint, height in self.fields:
                    with Horizontal(classes="field-tall" if height > 1 else "field"):
                        yield Label(label, classes="field-label")
                        if height > 1:
                            area = TextArea(id=f"form-{name}", placeholder=hint, soft_wrap=True,
                                            show_line_numbers=False, highlight_cursor_line=False)
                            area.styles.height = height
                            yield area
                        else:
                            yield Input(placeholder=hint, id=f"form-{name}")
                    yield Static("", id=f"error-{name}", classes="field-error", markup=False)
            with Horizontal(classes="buttons"):
                yield Button(f"{self.submit_text}  ctrl+s", id="submit", variant="primary", disabled=True)
                yield Button("Cancel  esc", id="cancel")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(f"#form-{self.fields[0][0]}").focus()

    def rules(self, raw: dict[str, str]) -> FormCheck:
        """Check ``raw`` (field name -> text as typed)."""
        raise NotImplementedError

    async def send(self, args: Args) -> Answer | None:
        """Ask the node to do it with checked ``args``; the result, or None to stay open."""
        raise NotImplementedError

    def widget(self, name: str) -> Input | TextArea:
        return self.query_one(f"#form-{name}")

    def raw(self) -> dict[str, str]:
        return {name: self.widget(name).text if isinstance(self.widget(name), TextArea)
                else self.widget(name).value for name, *_ in self.fields}

    def check(self, show_all: bool = False) -> FormCheck:
        """Show each field's message (empty fields only when ``show_all``) and
        enable the submit button when the form is right."""
        raw = self.raw()
        result = self.rules(raw)
        for name, *_ in self.fields:
            message = result.errors.get(name, "")
            visible = message if (raw[name].strip() or show_all) else ""
            error = self.query_one(f"#error-{name}", Static)
            error.update(visible)
            error.display = bool(visible)
            self.widget(name).set_class(bool(visible), "-invalid")
        self.query_one("#submit", Button).disabled = not result.ok
        return result

    def on_input_changed(self, event: Input.Changed) -> None:
        self.check()

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        self.check()

    async def on_input_submitted(self, event: Input.Submitted) -> None:
        """Enter moves on; on the last field it submits."""
        if event.input.id == f"form-{self.fields[-1][0]}":
            await self.action_submit()
        else:
            self.focus_next()

    async def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "submit":
            await self.action_submit()
        else:
            self.action_cancel()

    async def action_submit(self) -> None:
        result = self.check(show_all=True)
        if not result.ok:
            first = next(name for name, *_ in self.fields if name in result.errors)
            self.widget(first).focus()
            return
        done = await self.send(result.args)
        if done is not None:
            self.dismiss(done)

    def action_cancel(self) -> None:
        self.dismiss(None)
