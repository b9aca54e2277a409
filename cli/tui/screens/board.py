"""The board: open offers with what remains, best-before, area and tags.

Filter by text, tag and allergen as you type, sort by expiry or newest: the
node filters and sorts and sends a page of :data:`BOARD_PAGE` rows with a
cursor; moving the cursor onto the last row (or ``m``) loads the next page
after it, so a board of any size opens as fast as a small one. Only the
newest answer is drawn when typing outruns the node. A refresh (new records
arrived) reads again from the top as many rows as were shown. Offers expiring
within a day are marked and coloured; Enter opens the offer in full
(:mod:`.offer_detail`), ``c`` claims the offer under the cursor, ``o`` opens
the offer form.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import DataTable, Input, Static

from meshpantry.control.frames import Wire

from ..answers import Answer, OfferRow, offer_rows
from ..board_filter import BoardFilter
from ..show import amount, labels, relative, split_labels
from ..widgets.columns import Col, add_columns
from ..widgets.paged import PagedPane
from ..widgets.pane import cells, selected_key

if TYPE_CHECKING:
    from ..app import PantryApp

#: Rows per page asked of the node: a few screens of scrolling. More pages load
#: as the cursor reaches the last row; the filter narrows the whole board.
BOARD_PAGE = 100

SOON_STYLE = "bold dark_orange"


class BoardPane(PagedPane[OfferRow]):
    BINDINGS = [
        Binding("slash", "filter", "Filter", key_display="/"),
        Binding("o", "offer", "Offer"),
        Binding("c", "claim", "Claim"),
        Binding("s", "sort", "Sort"),
        Binding("w", "withdraw", "Withdraw"),
        Binding("a", "my_area", "My area", show=False),
    ]
    op = "offer_page"
    table_id = "offers"
    #: At 80 columns the area and the household keep 12 cells ("Elm St south",
    #: "The Nguyens"); wider, the item takes most of the room.
    COLUMNS = (
        Col("item", "item", 12, 3), Col("left", "left", 9), Col("best", "best before", 11),
        Col("area", "area", 12, 2), Col("tags", "tags", 6, 2), Col("from", "from", 12, 2),
    )

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.sort = "expiry"
        self.now = 0
        self.area = ""  #: the household's own area while ``a`` filters to it

    def compose(self):
        with Horizontal(id="board-filters"):
            yield Input(placeholder="search item, note, area", id="filter-text")
            yield Input(placeholder="tag", id="filter-tag")
            yield Input(placeholder="free of (allergens)", id="filter-free")
        table = DataTable(id="offers", cursor_type="row", zebra_stripes=True)
        add_columns(table, self.COLUMNS, self.app.size.width)
        yield table
        yield Static(id="board-count")

    @property
    def offers(self) -> list[OfferRow]:
        """The offers held, in the board's order."""
        return self.rows

    def current_filter(self) -> BoardFilter:
        return BoardFilter(
            text=self.query_one("#filter-text", Input).value,
            tag=self.query_one("#filter-tag", Input).value,
            allergen_free=tuple(split_labels(self.query_one("#filter-free", Input).value)),
            area=self.area,
        )

    # -- paging (see PagedPane) ----------------------------------------------------------

    def page_rows(self) -> int:
        return BOARD_PAGE

    def page_args(self) -> dict[str, Wire]:
        return {"sort": self.sort, **self.current_filter().args()}

    def rows_of(self, page: Answer) -> list[OfferRow]:
        return offer_rows(page)

    async def page_loaded(self, app: PantryApp, rows: list[OfferRow], fresh: bool) -> None:
        if fresh:
            self.now = app.clock()

    def row_cells(self, row: OfferRow) -> tuple[Text, ...]:
        return offer_row(row, self.now)

    def drawn(self) -> None:
        self.show_count(self.current_filter())

    def show_count(self, wanted: BoardFilter) -> None:
        count = len(self.rows)
        shown = f"first {count} open offers (m or scroll down for more)" if self.next else f"{count} open offers"
        sort = "soonest expiry first" if self.sort == "expiry" else "newest first"
        outage = outage_words((getattr(self.app, "status", None) or {}).get("outage"))
        self.query_one("#board-count", Static).update(Text(f"{shown} · {wanted.describe()} · {sort}{outage}"))

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id and event.input.id.startswith("filter-"):
            self.reload_soon(first_page=True)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id and event.input.id.startswith("filter-"):
            self.table.focus()

    def selected_offer(self) -> OfferRow | None:
        key = selected_key(self.table)
        return next((o for o in self.rows if o["id"] == key), None)

    def action_filter(self) -> None:
        self.query_one("#filter-text", Input).focus()

    def action_offer(self) -> None:
        from .offer_form import OfferForm

        self.app.push_screen(OfferForm())

    def action_claim(self) -> None:
        offer = self.selected_offer()
        if offer is None:
            self.app.notify("No offer selected.", severity="warning")
            return
        if offer.get("mine"):
            self.app.notify("That is your own offer: its claims are on the Swaps tab (2).", severity="warning")
            return
        from .dialogs import ClaimDialog

        self.app.push_screen(ClaimDialog(offer))

    async def action_withdraw(self) -> None:
        offer = self.selected_offer()
        if offer is None:
            return
        if not offer.get("mine"):
            self.app.notify("Only your own offers can be withdrawn.", severity="warning")
            return
        await self.app.act("offer_withdraw", f"Withdrew {offer['item']}.", offer_ref=offer["id"])

    async def action_my_area(self) -> None:
        """Show only offers in this household's own area, or all again."""
        if self.area:
            self.area = ""
        else:
            area = ((self.app.status or {}).get("area") or "").strip()
            if not area:
                self.app.notify("This household has no area; name one when you set it up.", severity="warning")
                return
            self.area = area
        await self.reload(self.app, first_page=True)

    async def action_sort(self) -> None:
        self.sort = "newest" if self.sort == "expiry" else "expiry"
        await self.reload(self.app, first_page=True)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter opens the offer in full; claiming is one key from there."""
        offer = self.selected_offer()
        if offer is not None:
            from .offer_detail import OfferDetailScreen

            self.app.push_screen(OfferDetailScreen(offer))


def offer_row(offer: OfferRow, now: int) -> tuple[Text, ...]:
    """One board row: item, what remains, best-before, area, tags, household."""
    soon = bool(offer.get("expiring_soon"))
    style = SOON_STYLE if soon else ""
    item = Text(("⚠ " if soon else "") + offer["item"], style=style)
    left = amount(offer.get("remaining"), offer.get("unit"))
    best = Text(relative(offer.get("best_before") or offer.get("pickup_until"), now), style=style)
    if offer.get("outage_hours") is not None:  # perishable, and the power has been out this long
        best.append(f" ⏻{offer['outage_hours']:g}h", style="bold yellow")
    return cells(item, left, best, offer.get("area") or "-", labels(offer.get("tags")), offer.get("household_name") or "")


def outage_words(outage: object) -> str:
    """The board's line during an outage: how long the island has lasted."""
    if isinstance(outage, dict) and outage.get("in_outage") and outage.get("hours") is not None:
        return f" · outage for {outage['hours']} h: perishables show ⏻ hours without power"
    return ""
