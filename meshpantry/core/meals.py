"""Communal meals: what a meal needs, what households pledged, what is missing.

Rules:

* Any member may propose a meal and any member (the host too) may pledge.
* A pledge covers a need line when the items match, ignoring case and
  surrounding spaces, and the units are compatible
  (:mod:`meshpantry.core.units`: "1 kg" covers "1000 g"; "2 items" never
  covers grams). Pledges add up, converted exactly; a line's ``pledged`` is
  what it took, in its own unit, rounded down; ``missing`` is what the line
  still lacks (never below zero); a meal listing one item twice (in
  compatible units) fills the lines in order, the last taking any surplus.
  Pledges that match no need line are listed as extras: welcome, but they
  cover nothing.
* Whether a meal is past is read-time: :meth:`MealView.is_past` compares the
  meal's time with the reader's clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from protocol import Record

from .units import from_base, in_base, unit_key


@dataclass(frozen=True, slots=True)
class PledgeView:
    id: bytes
    meal: bytes
    author: bytes
    household: bytes
    item: str
    quantity: int
    unit: str
    note: str | None
    created: int


@dataclass(frozen=True, slots=True)
class NeedView:
    """One need line. ``pledged`` may exceed ``quantity``; ``missing >= 0``."""

    item: str
    quantity: int
    unit: str
    pledged: int
    missing: int
    pledges: tuple[bytes, ...]  #: pledge ids covering this line

    @property
    def covered(self) -> bool:
        return self.missing == 0


@dataclass(frozen=True, slots=True)
class MealView:
    id: bytes
    author: bytes
    household: bytes
    created: int
    lamport: int
    dish: str
    time: int  #: when the meal is, ms
    place: str
    note: str | None
    needs: tuple[NeedView, ...]
    pledges: tuple[bytes, ...]  #: all pledge ids, (lamport, id) order
    extras: tuple[bytes, ...]  #: pledge ids that match no need line

    @property
    def missing(self) -> tuple[NeedView, ...]:
        return tuple(need for need in self.needs if need.missing > 0)

    def is_past(self, now: int) -> bool:
        return now > self.time


def _key(item: str, unit: str) -> tuple[str, str]:
    return (item.strip().casefold(), unit_key(unit))


class MealFold:
    """Accumulates meals and pledges in (lamport, id) order."""

    def __init__(self) -> None:
        self._meals: dict[bytes, tuple[Record, bytes]] = {}
        self._pledges: dict[bytes, PledgeView] = {}
        self._by_meal: dict[bytes, list[bytes]] = {}

    def meal(self, record: Record, household: bytes) -> None:
        self._meals[record.id] = (record, household)
        self._by_meal[record.id] = []

    def pledge(self, record: Record, household: bytes) -> None:
        body = record.body
        self._pledges[record.id] = PledgeView(
            record.id,
            body["meal"],
            record.author,
            household,
            body["item"],
            body["quantity"],
            body["unit"],
            body.get("note"),
            record.time,
        )
        self._by_meal[body["meal"]].append(record.id)

    def finish(self) -> tuple[dict[bytes, MealView], dict[bytes, PledgeView]]:
        """Return (meals, pledges) keyed by id in (lamport, id) order."""
        meals = {}
        for meal_id, (record, household) in self._meals.items():
            pledge_ids = self._by_meal[meal_id]
            needs = record.body.get("needs", ())
            lines: dict[tuple[str, str], list[bytes]] = {_key(n["item"], n["unit"]): [] for n in needs}
            extras = []
            for pledge_id in pledge_ids:
                pledge = self._pledges[pledge_id]
                matching = lines.get(_key(pledge.item, pledge.unit))
                (extras if matching is None else matching).append(pledge_id)
            left = {
                key: sum((in_base(self._pledges[p].quantity, self._pledges[p].unit) for p in ids), Fraction())
                for key, ids in lines.items()
            }
            last = {_key(n["item"], n["unit"]): i for i, n in enumerate(needs)}
            need_views = []
            for i, need in enumerate(needs):
                key = _key(need["item"], need["unit"])
                covering = lines[key]
                # Repeated lines for one item share its pledges in order.
                wanted = in_base(need["quantity"], need["unit"])
                taken = left[key] if last[key] == i else min(wanted, left[key])
                left[key] -= taken
                pledged = math.floor(from_base(taken, need["unit"]))
                need_views.append(
                    NeedView(
                        need["item"],
                        need["quantity"],
                        need["unit"],
                        pledged,
                        max(0, need["quantity"] - pledged),
                        tuple(covering),
                    )
                )
            meals[meal_id] = MealView(
                id=meal_id,
                author=record.author,
                household=household,
                created=record.time,
                lamport=record.lamport,
                dish=record.body["dish"],
                time=record.body["time"],
                place=record.body["place"],
                note=record.body.get("note"),
                needs=tuple(need_views),
                pledges=tuple(pledge_ids),
                extras=tuple(extras),
            )
        return meals, dict(self._pledges)
