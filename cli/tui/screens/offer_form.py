"""The offer form, checked as you type: a :class:`~.checked_form.CheckedForm`
like the meal and recipe forms.

Each field shows its own message underneath while it is wrong; the Offer
button stays disabled until the form is right. If the node refuses anyway
(or is gone), the form stays open with everything typed.
"""

from __future__ import annotations

from textual.binding import Binding

from ..answers import Answer, Args
from ..offer_rules import FIELDS, OfferCheck, check_offer
from .checked_form import CheckedForm

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


class OfferForm(CheckedForm):
    """Offer food to the neighbourhood."""

    BINDINGS = [Binding("ctrl+s", "submit", "Offer")]
    title_text = "Offer food to the neighbourhood"
    submit_text = "Offer"
    fields = tuple((name, *LABELS[name], 1) for name in FIELDS)

    def rules(self, raw: dict[str, str]) -> OfferCheck:
        return check_offer(raw, self.app.clock())

    async def send(self, args: Args) -> Answer | None:
        return await self.app.act(
            "offer_add", f"Offered {args['quantity']} {args['unit']} {args['item']}.",
            **{k: v for k, v in args.items() if k not in ("item", "quantity", "unit")},
            item=args["item"], quantity=args["quantity"], unit=args["unit"],
        )
