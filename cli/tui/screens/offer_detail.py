"""An offer in full: what it is, how much is left, when and where, its
allergens and note, and (on one's own offer) the claims on it.

Enter on a board row opens it; ``c`` claims from here (another household's
offer), ``w`` withdraws (one's own), Escape goes back to the board. The
offer is read afresh from the node (``offer_show``) when the screen opens.
"""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from ..answers import OfferDetail, OfferRow, as_answer
from ..show import amount, relative
from ..widgets.pane import OnPantryApp


class OfferDetailScreen(OnPantryApp, ModalScreen):
    BINDINGS = [
        Binding("escape", "close", "Back"),
        Binding("c", "claim", "Claim"),
        Binding("w", "withdraw", "Withdraw"),
    ]

    def __init__(self, offer: OfferRow) -> None:
        super().__init__()
        self.offer: OfferRow = offer

    def compose(self):
        with Vertical(id="dialog", classes="form"):
            yield Static(self.offer["item"], classes="title", markup=False)
            with VerticalScroll(id="offer-detail-body"):
                yield Static(offer_text(self.offer, self.app.clock()), id="offer-detail")
        yield Footer()

    async def on_mount(self) -> None:
        answer = await self.app.ask("offer_show", offer_ref=self.offer["id"])
        if answer is not None and self.is_attached:
            self.offer = as_answer(OfferDetail, answer)
            self.query_one("#offer-detail", Static).update(offer_text(self.offer, self.app.clock()))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Show only what applies: claim on others' offers, withdraw on one's own."""
        if action == "claim":
            return not self.offer.get("mine")
        if action == "withdraw":
            return bool(self.offer.get("mine"))
        return True

    def action_close(self) -> None:
        self.dismiss(None)

    def action_claim(self) -> None:
        from .dialogs import ClaimDialog

        self.app.push_screen(ClaimDialog(self.offer), lambda done: self.dismiss(done) if done else None)

    async def action_withdraw(self) -> None:
        done = await self.app.act("offer_withdraw", f"Withdrew {self.offer['item']}.", offer_ref=self.offer["id"])
        if done is not None:
            self.dismiss(done)


def offer_text(offer: OfferRow, now: int) -> Text:
    """The offer's fields, one per line, as typed (no markup)."""
    text = Text()
    unit = offer.get("unit")
    text.append(f"{amount(offer.get('remaining'), unit)} left of {amount(offer.get('quantity'), unit)}", style="bold")
    text.append(f" · from {offer.get('household_name') or '?'}")
    if offer.get("area"):
        text.append(f" · {offer['area']}")
    best = offer.get("best_before")
    text.append(f"\nbest before: {relative(best, now) if best else 'not given'}",
                style="bold dark_orange" if offer.get("expiring_soon") else "")
    start, end = offer.get("pickup_from"), offer.get("pickup_until")  # type: ignore[misc]
    if start or end:
        text.append(f"\npickup: {relative(start, now) if start else 'now'} to {relative(end, now) if end else 'any time'}")
    if offer.get("tags"):
        text.append("\ntags: " + ", ".join(offer["tags"]))
    text.append("\nallergens: " + (", ".join(offer["allergens"]) if offer.get("allergens") else "none listed"))
    if offer.get("note"):
        text.append(f"\n\n{offer['note']}")
    claims = offer.get("claims") or []  # type: ignore[misc]
    if offer.get("mine"):
        text.append(f"\n\nclaims: {len(claims)}" if claims else "\n\nno claims yet")
        for claim in claims:
            text.append(f"\n  {claim.get('household_name')}: {amount(claim.get('quantity'), unit)} · {claim.get('status')}")
            if claim.get("conflict"):
                text.append(f"\n    conflict: {claim['conflict']}", style="bold yellow")
        text.append("\n\nDecide claims on the Swaps tab (2); w withdraws the offer.", style="italic")
    else:
        text.append("\n\nc claims some or all of it.", style="italic")
    return text
