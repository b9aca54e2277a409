"""A tab whose list the node sends a page at a time.

Every list a tab shows (the board, the claims, the meals, the recipe book)
can hold a hundred thousand rows, more than one control-socket reply may
carry. So a :class:`PagedPane` asks the node for one page (``*_page`` ops:
``limit`` rows after the cursor ``after``, and the ``next`` cursor), draws it,
and asks for the page after it when the table's cursor reaches the last row
held, or on ``m``. A refresh reads again from the top as many rows as are
shown, so new records never take back what was scrolled to; a new search
reads only the first page.

A subclass names its op and the table, says how a page's answer becomes rows
(:meth:`PagedPane.rows_of`) and how one row is drawn
(:meth:`PagedPane.row_cells`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Generic, Mapping, TypeVar

from rich.text import Text
from textual import events, work
from textual.binding import Binding
from textual.widgets import DataTable

from meshpantry.control.frames import Wire

from ..answers import Answer, UnexpectedAnswer
from .columns import Col, refit
from .pane import Pane, keep_cursor, selected_key

if TYPE_CHECKING:
    from ..app import PantryApp

#: Rows per page asked of the node: a few screens of scrolling.
PAGE_ROWS = 100
#: A refresh reloads the rows shown in one request, up to this many (the
#: node's largest page); a list scrolled further is cut back to this many
#: and grows again as the cursor moves on.
MAX_RELOAD_ROWS = 5000

Row = TypeVar("Row", bound=Mapping[str, object])


class PagedPane(Pane, Generic[Row]):
    """A pane listing rows the node pages; rows are maps with an ``id``."""

    BINDINGS = [Binding("m", "more", "More", show=False)]

    #: The page op (``meal_page``, ...).
    op: ClassVar[str] = ""
    #: The id of the pane's DataTable.
    table_id: ClassVar[str] = ""
    #: The table's columns, when they fit themselves to the pane's width
    #: (:mod:`.columns`); empty when the pane sets fixed widths.
    COLUMNS: ClassVar[tuple[Col, ...]] = ()

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]  # Textual's widget keywords
        #: The rows held, in the node's order.
        self.rows: list[Row] = []
        #: The cursor after the last row held (None: the list ends there).
        self.next: str | None = None
        #: Completed loads, for whoever waits for the list (tests, benchmark).
        self.loads = 0
        #: What the table shows: each row's key and cells, in order.
        self.shown: list[tuple[str, tuple[Text, ...]]] = []

    # -- what a subclass says ----------------------------------------------------------

    def page_rows(self) -> int:
        """Rows per page."""
        return PAGE_ROWS

    def page_args(self) -> dict[str, Wire]:
        """The op's arguments besides ``limit`` and ``after`` (a search)."""
        return {}

    def rows_of(self, page: Answer) -> list[Row]:
        """The rows of one page's answer."""
        raise NotImplementedError

    def row_cells(self, row: Row) -> tuple[Text, ...]:
        """One row's cells."""
        raise NotImplementedError

    async def page_loaded(self, app: PantryApp, rows: list[Row], fresh: bool) -> None:
        """After a page of ``rows`` arrived (``fresh``: the list was read
        again from the top), before it is drawn: fetch what the rows need."""

    def drawn(self) -> None:
        """After rows were drawn: by default, show the detail of the row under the cursor."""
        self.show_detail()

    def show_detail(self) -> None:
        """Show what the row under the cursor holds (when the pane has a detail)."""

    # -- paging ------------------------------------------------------------------------

    @property
    def table(self) -> DataTable:
        return self.query_one(f"#{self.table_id}", DataTable)

    def row_key(self, row: Row) -> str:
        return str(row["id"])

    async def reload(self, app: PantryApp, *, first_page: bool = False) -> None:
        """Read the list again from the top: as many rows as are shown (at
        least a page), so a refresh does not take back what was scrolled to;
        only the first page when ``first_page`` (a new search)."""
        size = self.page_rows()
        rows = size if first_page else min(max(size, len(self.rows)), MAX_RELOAD_ROWS)
        page = await app.ask(self.op, limit=rows, **self.page_args())
        if page is None:
            return
        try:
            fresh = self.rows_of(page)
        except UnexpectedAnswer as exc:
            app.report(str(exc))
            return
        await self.page_loaded(app, fresh, True)
        self.rows = fresh
        self.next = _next_of(page)
        self.redraw()
        self.loads += 1

    async def load_more(self, app: PantryApp) -> None:
        """Append the page after the last row held, if there is one."""
        if self.next is None:
            return
        after = self.next
        page = await app.ask(self.op, limit=self.page_rows(), after=after, **self.page_args())
        if page is None or after != self.next:
            return  # failed, or a reload replaced the list meanwhile
        try:
            more = self.rows_of(page)
        except UnexpectedAnswer as exc:
            app.report(str(exc))
            return
        await self.page_loaded(app, more, False)
        if after != self.next:
            return
        self.rows = self.rows + more
        self.next = _next_of(page)
        table = self.table
        for key, row_cells in self._cells(more):
            table.add_row(*row_cells, key=key)
            self.shown.append((key, row_cells))
        self.drawn()
        self.loads += 1

    def redraw(self) -> None:
        """Draw the table again from the rows held, the cursor kept on its row.

        When every row would read as it does already (a refresh for records
        that changed nothing shown), the table is left alone: clearing it
        would repaint every visible cell, which costs the UI more than the
        node's whole answer."""
        shown = self._cells(self.rows)
        if shown != self.shown:
            table = self.table
            key = selected_key(table)
            table.clear()
            for row_key, row_cells in shown:
                table.add_row(*row_cells, key=row_key)
            keep_cursor(table, key)
            self.shown = shown
        self.drawn()

    def on_resize(self, event: events.Resize) -> None:
        """Fit the table's columns to the new width (panes that name them)."""
        if self.COLUMNS:
            refit(self.table, self.COLUMNS, event.size.width, self.shown)

    def _cells(self, rows: list[Row]) -> list[tuple[str, tuple[Text, ...]]]:
        return [(self.row_key(row), self.row_cells(row)) for row in rows]

    @work(exclusive=True, group="more")
    async def load_more_soon(self) -> None:
        if self.app.ready and self.app.reachable:
            await self.load_more(self.app)

    @work(exclusive=True, group="reload")
    async def reload_soon(self, first_page: bool = False) -> None:
        """Reload in a worker; a newer keystroke cancels an older load."""
        if self.app.ready and self.app.reachable:
            await self.reload(self.app, first_page=first_page)

    def action_more(self) -> None:
        self.load_more_soon()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        """Show the row's detail; on the last row held, load the next page."""
        self.show_detail()
        if self.next is not None and event.cursor_row >= len(self.rows) - 1:
            self.load_more_soon()


def _next_of(page: Answer) -> str | None:
    cursor = page.get("next")
    return cursor if isinstance(cursor, str) else None
