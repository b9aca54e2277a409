"""The household's own pantry list, and what can be cooked with it.

The list is kept on this device only, in ``pantry-list.json`` in the data
directory: it is nobody else's business and is never signed, logged or
gossiped. Each entry is an item with an optional amount and unit; adding an
item already listed replaces its amount.

``cook`` matches the recipe book against the list and the live offers
(:mod:`meshpantry.core.cookable`). All four are control-socket ops
(``pantry_add``, ``pantry_remove``, ``pantry_list``, ``cook``), so the
terminal UI and the command line see the same list with the node running or
not.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meshpantry.core.cookable import Offered, cookable, same_food

from .errors import InvalidInput, PantryError, UnknownId

if TYPE_CHECKING:  # pragma: no cover
    from .household import Pantry

LIST_FILE = "pantry-list.json"
#: Entries on the list: a full larder, many times over; past this the list
#: is someone's stock-taking, not a kitchen's.
MAX_ITEMS = 2000
#: Characters of an item, an amount or a unit (as a record's label).
MAX_LABEL = 200


class PantryListUnreadable(PantryError):
    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"the pantry list {path} cannot be read ({reason}); fix or remove the file")


def _file(pantry: "Pantry") -> Path:
    if pantry.data_dir is None:
        raise InvalidInput("pantry", "this household has no data directory for its pantry list")
    return Path(pantry.data_dir) / LIST_FILE


def read_list(pantry: "Pantry") -> list[dict[str, Any]]:
    path = _file(pantry)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        raise PantryListUnreadable(path, str(exc)) from None
    items = data.get("items") if isinstance(data, dict) else None
    if not isinstance(items, list) or not all(isinstance(i, dict) and isinstance(i.get("item"), str) for i in items):
        raise PantryListUnreadable(path, "not a pantry list")
    return items


def _write_list(pantry: "Pantry", items: list[dict[str, Any]]) -> None:
    path = _file(pantry)
    temporary = path.with_name(f".{LIST_FILE}.partial")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump({"version": 1, "items": items}, out, indent=1, sort_keys=True)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)


def _label(name: str, value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if not value or len(value) > MAX_LABEL:
        raise InvalidInput(name, f"must be 1 to {MAX_LABEL} characters")
    return value


def pantry_add(pantry: "Pantry", item: str, amount: str | None = None, unit: str | None = None) -> dict:
    """Put ``item`` on the list (replacing the amount of one listed)."""
    entry = {k: v for k, v in (("item", _label("item", item)), ("amount", _label("amount", amount)),
                                ("unit", _label("unit", unit))) if v is not None}
    items = [i for i in read_list(pantry) if i["item"].casefold() != entry["item"].casefold()]
    if len(items) >= MAX_ITEMS:
        raise InvalidInput("item", f"the pantry list holds {MAX_ITEMS} items at most")
    items.append(entry)
    items.sort(key=lambda i: i["item"].casefold())
    _write_list(pantry, items)
    return {"items": items}


def pantry_remove(pantry: "Pantry", item: str) -> dict:
    """Take ``item`` off the list (its exact name, case aside, else the one
    entry naming the same food). Raises :class:`UnknownId` if none is listed."""
    items = read_list(pantry)
    exact = [i for i in items if i["item"].casefold() == item.strip().casefold()]
    gone = exact or [i for i in items if same_food(item, i["item"])]
    if len(gone) != 1:
        raise UnknownId("pantry", item)
    items.remove(gone[0])
    _write_list(pantry, items)
    return {"items": items, "removed": gone[0]["item"]}


def pantry_list(pantry: "Pantry") -> dict:
    return {"items": read_list(pantry)}


def cook(pantry: "Pantry", ready_only: bool = False) -> dict:
    """What can be cooked now with the pantry list and the live offers, and
    what each other recipe misses."""
    have = [i["item"] for i in read_list(pantry)]
    offers = [
        Offered(o["id"], o["item"], o["remaining"], o["unit"], o["household_name"], bool(o.get("mine")))
        for o in pantry.offer_list()
    ]
    matched = cookable(pantry.recipe_list(), have, offers)
    rows = []
    for m in matched:
        if ready_only and not m.ready:
            continue
        rows.append({
            "id": m.recipe, "title": m.title, "ready": m.ready, "missing": m.missing,
            "substitutions": [{"item": item, "use": use} for item, use in m.substitutions],
            "lines": [
                {"item": line.item, "amount": line.amount, "unit": line.unit, "source": line.source, "use": line.use,
                 "offer": None if line.offer is None else {
                     "id": line.offer.id, "item": line.offer.item, "remaining": line.offer.remaining,
                     "unit": line.offer.unit, "household_name": line.offer.household_name, "mine": line.offer.mine}}
                for line in m.lines
            ],
        })
    return {"recipes": rows, "ready": sum(1 for m in matched if m.ready), "pantry_items": len(have), "offers": len(offers)}
