"""The board: open offers with what remains, best-before, area and tags.

Filter by text, tag and allergen as you type, sort by expiry or newest: the
node filters and sorts and sends a page of :data:`BOARD_PAGE` rows with a
cursor; moving the cursor onto the last row (or ``m``) loads the next page
after it, so a board of any size opens as fast as a small one. Only the
newest answer is drawn when typing outruns the node. A refresh (new records
arrived) reads again from the top as many rows as were shown. Offers expiring
within a day are marked and coloured; ``c`` or Enter claims the offer under
the cursor, ``o`` opens the offer form.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import DataTable, Input, Static

from textual import work

from ..board_filter import BoardFilter
from ..show import amount, labels, relative, split_labels
from ..widgets.pane import Pane, cells, keep_cursor, selected_key

#: Rows per page asked of the node: a few screens of scrolling. More pages load
#: as the cursor reaches the last row; the filter narrows the whole board.
BOARD_PAGE = 100
#: A refresh reloads the rows shown in one request, up to this many (the
#: node's largest page); beyond it, it reloads the first page.
MAX_RELOAD_ROWS = 5000

SOON_STYLE = "bold dark_orange"


class BoardPane(Pane):
    BINDINGS = [
        Binding("slash", "filter", "Filter", key_display="/"),
        Binding("o", "offer", "Offer"),
        Binding("c", "claim", "Claim"),
        Binding("s", "sort", "Sort"),
        Binding("w", "withdraw", "Withdraw"),
        Binding("m", "more", "More", show=False),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.offers: list[dict] = []
        #: The cursor after the last offer held (None: the board ends there).
        self.next: str | None = None
        self.sort = "expiry"
        self.now = 0
        #: Completed loads, for whoever waits for the board (tests, benchmark).
        self.loads = 0

    def compose(self):
        with Horizontal(id="board-filters"):
            yield Input(placeholder="search item, note, area", id="filter-text")
            yield Input(placeholder="tag", id="filter-tag")
            yield Input(placeholder="free of (allergens)", id="filter-free")
        table = DataTable(id="offers", cursor_type="row", zebra_stripes=True)
        table.add_column("item", key="item", width=22)
        table.add_column("left", key="left", width=9)
        table.add_column("best before", key="best", width=11)
        table.add_column("area", key="area", width=10)
        table.add_column("tags", key="tags", width=12)
        table.add_column("from", key="from", width=10)
        yield table
        yield Static(id="board-count")

    @property
    def table(self) -> DataTable:
        return self.query_one("#offers", DataTable)

    def current_filter(self) -> BoardFilter:
        return BoardFilter(
            text=self.query_one("#filter-text", Input).value,
            tag=self.query_one("#filter-tag", Input).value,
            allergen_free=tuple(split_labels(self.query_one("#filter-free", Input).value)),
        )

    async def reload(self, app: Any, *, first_page: bool = False) -> None:
        """Read the board again from the top: as many rows as are shown (at
        least a page), so a refresh does not take back what was scrolled to;
        only the first page when ``first_page`` (a new filter)."""
        wanted = self.current_filter()
        rows = BOARD_PAGE if first_page else min(max(BOARD_PAGE, len(self.offers)), MAX_RELOAD_ROWS)
        page = await app.ask("offer_page", sort=self.sort, limit=rows, **wanted.args())
        if page is None:
            return
        self.now = app.clock()
        self.offers = page["offers"]
        self.next = page["next"]
        self.redraw(wanted)
        self.loads += 1

    async def load_more(self, app: Any) -> None:
        """Append the page after the last offer held, if there is one."""
        if self.next is None:
            return
        wanted = self.current_filter()
        after = self.next
        page = await app.ask("offer_page", sort=self.sort, limit=BOARD_PAGE, after=after, **wanted.args())
        if page is None or after != self.next:
            return  # failed, or a reload replaced the board meanwhile
        self.offers = self.offers + page["offers"]
        self.next = page["next"]
        table = self.table
        for offer in page["offers"]:
            table.add_row(*offer_row(offer, self.now), key=offer["id"])
        self.show_count(wanted)
        self.loads += 1

    @work(exclusive=True, group="board-more")
    async def load_more_soon(self) -> None:
        if self.app.ready and self.app.reachable:
            await self.load_more(self.app)

    @work(exclusive=True, group="board")
    async def reload_soon(self, first_page: bool = False) -> None:
        """Reload in a worker; a newer keystroke cancels an older load."""
        if self.app.ready and self.app.reachable:
            await self.reload(self.app, first_page=first_page)

    def redraw(self, wanted: BoardFilter) -> None:
        """Redraw the table from the offers held."""
        table = self.table
        key = selected_key(table)
        table.clear()
        for offer in self.offers:
            table.add_row(*offer_row(offer, self.now), key=offer["id"])
        keep_cursor(table, key)
        self.show_count(wanted)

    def show_count(self, wanted: BoardFilter) -> None:
        count = len(self.offers)
        shown = f"first {count} open offers (m or scroll down for more)" if self.next else f"{count} open offers"
        sort = "soonest expiry first" if self.sort == "expiry" else "newest first"
        self.query_one("#board-count", Static).update(Text(f"{shown} · {wanted.describe()} · {sort}"))

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id and event.input.id.startswith("filter-"):
            self.reload_soon(first_page=True)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id and event.input.id.startswith("filter-"):
            self.table.focus()

    def selected_offer(self) -> dict | None:
        key = selected_key(self.table)
        return next((o for o in self.offers if o["id"] == key), None)

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

    async def action_sort(self) -> None:
        self.sort = "newest" if self.sort == "expiry" else "expiry"
        await self.reload(self.app, first_page=True)

    def action_more(self) -> None:
        self.load_more_soon()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        """The cursor reached the last row held: load the next page."""
        if self.next is not None and event.cursor_row >= len(self.offers) - 1:
            self.load_more_soon()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_claim()


def offer_row(offer: dict, now: int) -> tuple:
    """One board row: item, what remains, best-before, area, tags, household."""
    soon = bool(offer.get("expiring_soon"))
    style = SOON_STYLE if soon else ""
    item = Text(("⚠ " if soon else "") + offer["item"], style=style)
    left = amount(offer.get("remaining"), offer.get("unit"))
    best = Text(relative(offer.get("best_before") or offer.get("pickup_until"), now), style=style)
    return cells(item, left, best, offer.get("area") or "-", labels(offer.get("tags")), offer.get("household_name") or "")
