"""Meals: shared meals with what they need against what is pledged.

The table shows each meal's overall coverage bar; the detail shows every
need with its own bar and the pledges made. ``p`` pledges to the meal under
the cursor, prefilled with the first thing still missing; ``n`` proposes a
new meal. The node sends the meals a page at a time (see
:class:`~cli.tui.widgets.paged.PagedPane`): the next page loads when the
cursor reaches the last meal held, or on ``m``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Static

from ..answers import Answer, MealRow, meal_rows
from ..show import amount, relative
from ..widgets.coverage import coverage_bar
from ..widgets.columns import Col, add_columns
from ..widgets.paged import PagedPane
from ..widgets.pane import cells, selected_key

if TYPE_CHECKING:
    from ..app import PantryApp


class MealsPane(PagedPane[MealRow]):
    BINDINGS = [Binding("p", "pledge", "Pledge"), Binding("n", "new_meal", "New meal")]
    op = "meal_page"
    table_id = "meals-table"
    #: The host keeps 12 cells at 80 columns ("The Nguyens"); wider, the dish,
    #: place and host share the room.
    COLUMNS = (
        Col("dish", "dish", 16, 3), Col("when", "when", 9), Col("place", "place", 12, 2),
        Col("coverage", "coverage", 15), Col("host", "host", 12, 2),
    )

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        #: The meals held, by id.
        self.meals: dict[str, MealRow] = {}
        self.now = 0

    def compose(self):
        table = DataTable(id="meals-table", cursor_type="row", zebra_stripes=True)
        add_columns(table, self.COLUMNS, self.app.size.width)
        yield table
        with VerticalScroll(id="meal-detail-box"):
            yield Static(id="meal-detail")

    def rows_of(self, page: Answer) -> list[MealRow]:
        return meal_rows(page)

    async def page_loaded(self, app: PantryApp, rows: list[MealRow], fresh: bool) -> None:
        if fresh:
            self.now = app.clock()
            self.meals = {}
        self.meals.update((meal["id"], meal) for meal in rows)

    def row_cells(self, meal: MealRow) -> tuple[Text, ...]:
        return cells(meal["dish"], relative(meal["time"], self.now), meal.get("place") or "",
                     coverage_bar(meal["coverage"], 100), meal.get("household_name") or "")

    def selected(self) -> MealRow | None:
        return self.meals.get(selected_key(self.table) or "")

    def show_detail(self) -> None:
        detail = self.query_one("#meal-detail", Static)
        meal = self.selected()
        if meal is None:
            detail.update("No meals planned yet.")
            return
        detail.update(meal_detail(meal, self.now))

    def action_pledge(self) -> None:
        meal = self.selected()
        if meal is None:
            self.app.notify("No meal selected.", severity="warning")
            return
        from .dialogs import PledgeDialog

        self.app.push_screen(PledgeDialog(meal))

    def action_new_meal(self) -> None:
        from .meal_form import MealForm

        self.app.push_screen(MealForm(), self.select)

    def select(self, meal: Answer | None) -> None:
        """Put the cursor on ``meal`` (a node answer with its ``id``) when listed."""
        if meal and meal.get("id") in self.meals:
            self.table.move_cursor(row=self.table.get_row_index(meal["id"]))
            self.table.focus()


def meal_detail(meal: MealRow, now: int) -> Group:
    """The meal's line, its needs with coverage bars, then the pledges."""
    head = Text(f"{meal['dish']} · {relative(meal['time'], now)} · {meal.get('place') or ''}", style="bold")
    if meal.get("note"):
        head.append(f"  {meal['note']}", style="italic")
    grid = Table.grid(padding=(0, 2))
    grid.add_column(width=18)
    grid.add_column()
    grid.add_column()
    for need in meal.get("needs", []):
        grid.add_row(*cells(need["item"], coverage_bar(need["pledged"], need["quantity"]),
                            f"{need['pledged']}/{amount(need['quantity'], need['unit'])}"))
    if not meal.get("needs"):
        grid.add_row(*cells("needs nothing listed", "", ""))
    for pledge in meal.get("pledges", []):
        grid.add_row(*cells(Text(f"+ {pledge['household_name']}", style="green"),
                            amount(pledge["quantity"], pledge["unit"]) + f" {pledge['item']}", pledge.get("note") or ""))
    return Group(head, grid)
