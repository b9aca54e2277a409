"""The new-meal form: dish, time, place, what it needs, a note."""

from __future__ import annotations

from textual.binding import Binding

from ..answers import Answer, Args
from ..meal_rules import check_meal
from .checked_form import CheckedForm, FormCheck


class MealForm(CheckedForm):
    """Invite the neighbourhood to a shared meal."""

    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("ctrl+s", "submit", "Propose")]
    title_text = "Propose a shared meal"
    submit_text = "Propose"
    fields = (
        ("dish", "Dish", "leek soup", 1),
        ("time", "Time", "tomorrow 18:00, +2h, 2026-12-01 19:30", 1),
        ("place", "Place", "the hall, no. 12", 1),
        ("needs", "Needs", "one a line: 500 g rice", 4),
        ("note", "Note", "bring a bowl", 1),
    )

    def rules(self, raw: dict[str, str]) -> FormCheck:
        return check_meal(raw, self.app.clock())

    async def send(self, args: Args) -> Answer | None:
        return await self.app.act("meal_add", f"Proposed {args['dish']}.", **args)
