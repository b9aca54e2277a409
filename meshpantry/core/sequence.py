"""An ordered list that many households edit at once (recipe steps, ingredient lines).

A replicated growable array (RGA-like) sequence CRDT. Rules:

* Every element has an id ``(record id, index)``: the ``i``-th item of a
  recipe record is ``(recipe id, i)``; the ``k``-th operation of a
  ``recipe_edit`` inserts ``(edit id, k)``.
* Every element is inserted *after* another element of the same sequence, or
  at the head (``after`` None). The elements of one record's initial list are
  inserted each after the one before.
* Order: the elements form a tree (each element's parent is the one it was
  inserted after); the list is the depth-first pre-order walk of that tree.
  Children of one parent come newest first, by descending (lamport, record
  id), and, within one record, by ascending index (so a record that inserts
  several items after the same element keeps them in its own order). A
  household that inserts after X sees its item right after X; two households
  that insert after X at the same time both keep their items, in the same
  order on every replica.
* Removal leaves a tombstone: the element stays as a parent for others and is
  skipped when listing; removing twice is harmless.

The order depends only on the set of elements, never on when they arrived.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: An element reference as it appears in records: (record id, index).
ElementId = tuple[bytes, int]


@dataclass(slots=True)
class _Element:
    parent: ElementId | None
    lamport: int
    value: Any
    removed: bool = False


class Sequence:
    """One replicated list. ``name`` appears in errors (e.g. "steps")."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._elements: dict[ElementId, _Element] = {}

    def __contains__(self, element: ElementId) -> bool:
        return element in self._elements

    def insert(self, element: ElementId, after: ElementId | None, lamport: int, value: Any) -> None:
        """Add ``element`` (written at ``lamport``) after ``after`` (None: the head).

        The caller guarantees ``after`` is None or already in the sequence and
        that ``element`` is new.
        """
        assert after is None or after in self._elements, "insert after an unknown element"
        assert element not in self._elements, "element inserted twice"
        self._elements[element] = _Element(after, lamport, value)

    def remove(self, element: ElementId) -> None:
        """Tombstone ``element``; the caller guarantees it is in the sequence."""
        self._elements[element].removed = True

    def items(self) -> list[tuple[ElementId, Any]]:
        """The live (element id, value) pairs in list order."""
        children: dict[ElementId | None, list[ElementId]] = {}
        for element_id, element in self._elements.items():
            children.setdefault(element.parent, []).append(element_id)
        for siblings in children.values():
            # Newest record first; within one record, ascending index.
            siblings.sort(key=self._sibling_key, reverse=True)
        out: list[tuple[ElementId, Any]] = []
        stack = list(reversed(children.get(None, [])))
        while stack:
            element_id = stack.pop()
            element = self._elements[element_id]
            if not element.removed:
                out.append((element_id, element.value))
            stack.extend(reversed(children.get(element_id, [])))
        return out

    def values(self) -> list[Any]:
        return [value for _, value in self.items()]

    def _sibling_key(self, element_id: ElementId) -> tuple:
        record_id, index = element_id
        return (self._elements[element_id].lamport, record_id, -index)
