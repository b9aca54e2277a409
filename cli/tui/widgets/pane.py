"""What every tab's pane does: reload from the node, and say which widget
takes the keyboard when the tab opens."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import events
from textual.containers import Vertical
from textual.widgets import DataTable, TabPane

if TYPE_CHECKING:
    from ..app import PantryApp


class OnPantryApp:
    """Mixed into the app's widgets and screens (before Textual's class):
    ``self.app`` typed as the :class:`~cli.tui.app.PantryApp` it is, where
    Textual types it as any App."""

    @property
    def app(self) -> PantryApp:
        return super().app  # type: ignore[misc]  # Textual's MessagePump.app, next in the MRO


class Pane(OnPantryApp, Vertical):
    """A tab's content. Subclasses implement :meth:`reload`."""

    async def reload(self, app: PantryApp) -> None:
        """Fetch what this pane shows through ``app.ask`` and redraw."""

    def focus_main(self) -> None:
        tables = self.query(DataTable)
        if tables:
            tables.first().focus()


class TabPage(TabPane):
    """A tab page that never switches the tabs by itself.

    Textual's TabPane shows its tab whenever a widget inside it takes focus.
    Widgets take focus a moment after they are told to, so a tab the user
    has just left (3, then 1 at once) came back when its table took focus,
    and the next tab key seemed dead. Here only the tab keys and clicks
    switch tabs; each tab focuses its own widget when it opens."""

    def _on_descendant_focus(self, event: events.DescendantFocus) -> None:
        event.prevent_default()  # Textual calls every class's handler unless told not to


def cells(*values: object) -> tuple[Text, ...]:
    """Table cells shown exactly as written: ``[`` in an item name is text,
    not markup (Text values keep their own styles)."""
    return tuple(v if isinstance(v, Text) else Text("" if v is None else str(v)) for v in values)


def selected_key(table: DataTable) -> str | None:
    """The key of the row under the cursor, or None when the table is empty."""
    if table.row_count == 0:
        return None
    try:
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
    except Exception:  # noqa: BLE001 - cursor past the end after a shrink
        return None


def keep_cursor(table: DataTable, key: str | None) -> None:
    """Put the cursor back on the row ``key`` after a reload, if it is still there."""
    if key is None:
        return
    try:
        table.move_cursor(row=table.get_row_index(key))
    except Exception:  # noqa: BLE001 - the row went away
        pass
