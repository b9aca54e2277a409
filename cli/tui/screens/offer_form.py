"""The offer form, checked as you type.

Each field shows its own message underneath while it is wrong; the Offer
button stays disabled until the form is right. If the node refuses anyway
(or is gone), the form stays open with everything typed.
"""

from __future__ import annotations

from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, Label, Static

from ..offer_rules import FIELDS, check_offer
from ..widgets.pane import OnPantryApp

LABELS = {
    "item": ("Item", "tomatoes"),
    "quantity": ("Quantity", "3"),
    "unit": ("Unit", "kg, jar, loaf"),
    "best_before": ("Best before", "+2d, tomorrow 18:00"),
    "pickup_from": ("Pickup from", "today 17:00"),
    "pickup_until": ("Pickup until", "today 20:00"),
    "area": ("Area", "street or block"),
    "tags": ("Tags", "veg, fresh"),
    "allergens": ("Allergens", "gluten, nuts"),
    "note": ("Note", "anything to know"),
}


class OfferForm(OnPantryApp, ModalScreen):
    """Offer food to the neighbourhood."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "submit", "Offer"),
    ]

    def compose(self):
        with Vertical(id="dialog", classes="form"):
            yield Static("Offer food to the neighbourhood", classes="title")
            with VerticalScroll(id="form-fields", can_focus=False):
                for name in FIELDS:
                    label, hint = LABELS[name]
                    with Horizontal(classes="field"):
                        yield Label(label, classes="field-label")
                        yield Input(placeholder=hint, id=f"offer-{name}")
                    yield Static("", id=f"error-{name}", classes="field-error", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Offer  ctrl+s", id="submit", variant="primary", disabled=True)
                yield Button("Cancel  esc", id="cancel")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#offer-item", Input).focus()

    def raw(self) -> dict[str, str]:
        return {name: self.query_one(f"#offer-{name}", Input).value for name in FIELDS}

    def check(self, show_all: bool = False):
        result = check_offer(self.raw(), self.app.clock())
        raw = self.raw()
        for name in FIELDS:
            message = result.errors.get(name, "")
            # A message for an empty field only once the user tried to submit.
            visible = message if (raw[name].strip() or show_all) else ""
            error = self.query_one(f"#error-{name}", Static)
            error.update(visible)
            error.display = bool(visible)
            self.query_one(f"#offer-{name}", Input).set_class(bool(visible), "-invalid")
        self.query_one("#submit", Button).disabled = not result.ok
        return result

    def on_input_changed(self, event: Input.Changed) -> None:
        self.check()

    async def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "offer-note" or self.check().ok:
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
            first = next(name for name in FIELDS if name in result.errors)
            self.query_one(f"#offer-{first}", Input).focus()
            return
        args = result.args
        offer = await self.app.act(
            "offer_add", f"Offered {args['quantity']} {args['unit']} {args['item']}.",
            **{k: v for k, v in args.items() if k not in ("item", "quantity", "unit")},
            item=args["item"], quantity=args["quantity"], unit=args["unit"],
        )
        if offer is not None:
            self.dismiss(offer)

    def action_cancel(self) -> None:
        self.dismiss(None)
