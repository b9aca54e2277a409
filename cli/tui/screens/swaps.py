"""Swaps: the claims this household made and the claims on its offers.

The detail under the table shows, for the claim under the cursor: its status,
the fair-share suggestion when the offer is oversubscribed (received claims),
the pickup details (readable only by the accepted claimant: the node seals
them to the claimant's key) and who has confirmed the handover.

Keys: ``a`` accept (with a quantity), ``d`` decline, ``h`` confirm handover,
``x`` cancel one's own claim.

The node sends the claims a page at a time, newest first, both directions
together (see :class:`~cli.tui.widgets.paged.PagedPane`): the next page loads
when the cursor reaches the last claim held, or on ``m``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable, Static

from ..answers import Answer, FairShare, OfferDetail, SwapRow, as_answer, swap_rows
from ..show import amount, relative
from ..widgets.columns import Col, add_columns
from ..widgets.paged import PagedPane
from ..widgets.pane import cells, selected_key

if TYPE_CHECKING:
    from ..app import PantryApp

STATUS_STYLE = {"pending": "bold yellow4", "accepted": "bold green", "declined": "red3", "cancelled": "grey50"}


class SwapsPane(PagedPane[SwapRow]):
    BINDINGS = [
        Binding("a", "accept", "Accept"),
        Binding("d", "decline", "Decline"),
        Binding("h", "handover", "Handed over"),
        Binding("x", "cancel_claim", "Cancel claim"),
    ]
    op = "swaps_page"
    table_id = "claims"
    COLUMNS = (
        Col("dir", "", 5), Col("item", "item", 14, 3), Col("asks", "asks", 9), Col("who", "household", 13, 2),
        Col("status", "status", 9), Col("handover", "handover", 10),
    )

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        #: The claims held, by id.
        self.claims: dict[str, SwapRow] = {}
        #: The node's fair-share suggestion for pending claims on
        #: oversubscribed offers, by claim id.
        self.fair: dict[str, FairShare] = {}
        self.now = 0

    def compose(self):
        table = DataTable(id="claims", cursor_type="row", zebra_stripes=True)
        add_columns(table, self.COLUMNS, self.app.size.width)
        yield table
        yield Static(id="claim-detail")

    def rows_of(self, page: Answer) -> list[SwapRow]:
        return swap_rows(page)

    async def page_loaded(self, app: PantryApp, rows: list[SwapRow], fresh: bool) -> None:
        """Ask the node for the fair shares of the offers these claims are on."""
        fair: dict[str, FairShare] = {} if fresh else dict(self.fair)
        for offer_id in _oversubscribed_offers(rows):
            offer = await app.ask("offer_show", offer_ref=offer_id)
            if offer is not None:
                for share in as_answer(OfferDetail, offer).get("fair_share") or []:
                    fair[share["claim"]] = share
        if fresh:
            self.now = app.clock()
            self.claims = {}
        self.fair = fair
        self.claims.update((claim["id"], claim) for claim in rows)

    def row_cells(self, claim: SwapRow) -> tuple[Text, ...]:
        return claim_row(claim)

    def selected(self) -> SwapRow | None:
        return self.claims.get(selected_key(self.table) or "")

    def show_detail(self) -> None:
        detail = self.query_one("#claim-detail", Static)
        claim = self.selected()
        if claim is None:
            detail.update("No swaps yet. Claim an offer on the Board (1); claims on your offers show here.")
            return
        detail.update(claim_detail(claim, self.fair.get(claim["id"]), self.now))

    async def action_accept(self) -> None:
        claim = self._decidable()
        if claim is not None:
            from .dialogs import AcceptDialog

            share = self.fair.get(claim["id"])
            self.app.push_screen(AcceptDialog(claim, share["quantity"] if share else None))

    async def action_decline(self) -> None:
        claim = self._decidable()
        if claim is not None:
            from .dialogs import DeclineDialog

            self.app.push_screen(DeclineDialog(claim))

    async def action_handover(self) -> None:
        claim = self.selected()
        if claim is None:
            return
        if claim["status"] != "accepted":
            self.app.notify(f"That claim is {claim['status']}; only accepted claims are handed over.", severity="warning")
            return
        await self.app.act("handover_confirm", "Handover confirmed on your side.", claim_ref=claim["id"])

    async def action_cancel_claim(self) -> None:
        claim = self.selected()
        if claim is None or claim["direction"] != "out":
            self.app.notify("Only your own claims can be cancelled.", severity="warning")
            return
        await self.app.act("claim_cancel", "Claim cancelled.", claim_ref=claim["id"])

    def _decidable(self) -> SwapRow | None:
        claim = self.selected()
        if claim is None:
            return None
        if claim["direction"] != "in":
            self.app.notify("The offerer decides on this claim.", severity="warning")
            return None
        if claim["status"] != "pending":
            self.app.notify(f"That claim is already {claim['status']}.", severity="warning")
            return None
        return claim


def _oversubscribed_offers(claims: list[SwapRow]) -> list[str]:
    """Our offers with a pending claim: the node says whether each is
    oversubscribed and, if so, suggests fair shares (``offer_show``)."""
    return sorted({c["offer"] for c in claims if c["direction"] == "in" and c["status"] == "pending"})


def handover_text(claim: SwapRow) -> str:
    h = claim.get("handover") or {}
    if claim.get("completed"):
        return "done"
    if claim["status"] != "accepted":
        return "-"
    marks = ("offerer ✓" if h.get("offerer") else "") or ("claimant ✓" if h.get("claimant") else "")
    return marks or "waiting"


def claim_row(claim: SwapRow) -> tuple[Text, ...]:
    direction = "← in" if claim["direction"] == "in" else "→ out"
    who = claim.get("household_name") if claim["direction"] == "in" else claim.get("offerer_name")
    status = Text(claim["status"], style=STATUS_STYLE.get(claim["status"], ""))
    return cells(direction, claim.get("offer_item") or "?", amount(claim["quantity"], claim.get("unit")),
                 who or "?", status, handover_text(claim))


def claim_detail(claim: SwapRow, share: FairShare | None, now: int) -> Text:
    """What the reader needs to act on ``claim``."""
    text = Text()
    unit = claim.get("unit")
    if claim["direction"] == "in":
        text.append(f"{claim.get('household_name')} asks for {amount(claim['quantity'], unit)} "
                    f"of your {claim.get('offer_item')} ({relative(claim.get('created'), now)})", style="bold")
    else:
        text.append(f"You asked {claim.get('offerer_name')} for {amount(claim['quantity'], unit)} "
                    f"{claim.get('offer_item')} ({relative(claim.get('created'), now)})", style="bold")
    if claim.get("message"):
        text.append(f"\n“{claim['message']}”")
    text.append(f"\nstatus: {claim['status']}", style=STATUS_STYLE.get(claim["status"], ""))
    if claim.get("accepted_quantity"):
        text.append(f" · {amount(claim['accepted_quantity'], unit)} agreed")
    if claim.get("reason"):
        text.append(f" · reason: {claim['reason']}")
    if share is not None and claim["status"] == "pending":
        text.append(f"\nOversubscribed: fair share suggestion {amount(share['quantity'], unit)} (a accepts it)",
                    style="bold dark_orange")
    if claim.get("pickup"):
        label = "pickup (only you can read this)" if claim["direction"] == "out" else "pickup"
        text.append(f"\n{label}: {claim['pickup']}")
    if claim["status"] == "accepted":
        h = claim.get("handover") or {}
        text.append("\nhandover: offerer " + ("✓" if h.get("offerer") else "…")
                    + " · claimant " + ("✓" if h.get("claimant") else "…"))
        if not claim.get("completed"):
            text.append("  (h confirms your side)")
    if claim.get("conflict"):
        text.append(f"\nConflict: {claim['conflict']}", style="bold yellow")
    keys = {"pending": "a accept · d decline" if claim["direction"] == "in" else "x cancel"}
    if claim["status"] in keys:
        text.append(f"\n{keys[claim['status']]}", style="italic")
    return text
