"""View vectors: record sets and the views every implementation must derive from them.

``protocol/vectors/views/`` holds one JSON file per case (SPEC.md section 10):
the golden log of ``records.json`` (``golden.json``), and small logs that each
pin one rule of SPEC.md section 7, named after the section that states it
(``7.7.5-cancel-frees-allocation.json`` pins a sentence of section 7.7.5).
Each file gives the records (raw bytes, in the order they were made; any
order gives the same views), the reader's clock ``now``, and the expected
views: what became of every record, membership, offers with their
allocation, the board, claims, meals and recipes with their list order.

The cases are in :mod:`protocol.view_cases` (their logs written with
:mod:`protocol.view_log`); the views are computed here by the reference
implementation (:func:`meshpantry.core.state.build_state`) and rendered in
the portable form SPEC.md section 10 describes. Tests check them against both
that full fold and the incremental one. Called by :mod:`protocol.make_vectors`
(``make vectors``).
"""

from __future__ import annotations

from typing import Any

from meshpantry.core.board import select_offers
from meshpantry.core.state import NeighbourhoodState, build_state
from protocol import Record, decode_and_verify

from .view_cases import CASES
from .view_log import DAY, CaseLog, keys, mv

#: The reader's clock of every case (ms): 2025-11-26 16:00 UTC, two days after
#: the first record (every case's records are made within hours of it).
NOW = 1_764_000_000_000 + 2 * DAY


# --- the views as JSON ------------------------------------------------------------------------


def render(state: NeighbourhoodState, names: dict[bytes, str], records: list[Record], now: int) -> dict:
    """The portable views of ``state`` at the reader's clock ``now``: record
    ids and keys given by their names (``names``), lists in view order."""
    to_json = mv().to_json

    def n(value: bytes | None) -> str | None:
        return None if value is None else names.get(value, value.hex())

    def fate(record: Record) -> dict:
        out: dict[str, Any] = {"name": n(record.id), "status": state.status(record.id).value}
        if record.id in state.waiting:
            out["waits_for"] = n(state.waiting[record.id])
        if record.id in state.rejected:
            error = state.rejected[record.id]
            out["error"] = type(error).__name__
            out["data"] = dict(error.data)
        return out

    membership = {
        "founder": n(state.founder),
        "members": sorted(n(d) for d in state.members),
        "admins": sorted(n(d) for d in state.admins),
        "households": [
            {"id": n(h.id), "devices": [n(d) for d in h.devices],
             "revoked_devices": [n(d) for d in h.revoked_devices], "founding": h.founding,
             "name": h.name, "area": h.area, "note": h.note}
            for h in state.households.values()
        ],
    }
    offers = [
        {"name": n(o.id), "household": n(o.household), "item": o.item, "quantity": o.quantity,
         "unit": o.unit, "best_before": o.best_before, "pickup_from": o.pickup_from,
         "pickup_until": o.pickup_until, "area": o.area, "tags": list(o.tags),
         "allergens": list(o.allergens), "note": o.note, "withdrawn": o.withdrawn,
         "claims": [n(c) for c in o.claims], "allocated": o.allocated, "remaining": o.remaining,
         "open": o.is_open(now)}
        for o in _in_order(state.offers)
    ]
    claims = [
        {"name": n(c.id), "offer": n(c.offer), "household": n(c.household), "quantity": c.quantity,
         "status": c.status.value, "accepted_quantity": c.accepted_quantity,
         "decision": n(c.decision), "confirmed_by_offerer": c.confirmed_by_offerer,
         "confirmed_by_claimant": c.confirmed_by_claimant, "completed": c.completed}
        for c in _in_order(state.claims)
    ]
    meals = [
        {"name": n(m.id), "household": n(m.household), "dish": m.dish, "time": m.time,
         "place": m.place,
         "needs": [{"item": x.item, "quantity": x.quantity, "unit": x.unit, "pledged": x.pledged,
                    "missing": x.missing, "pledges": [n(p) for p in x.pledges]} for x in m.needs],
         "pledges": [n(p) for p in m.pledges], "extras": [n(p) for p in m.extras]}
        for m in _in_order(state.meals)
    ]
    recipes = [
        {"name": n(r.id), "household": n(r.household), "title": r.title, "origin": r.origin,
         "tags": list(r.tags), "serves": r.serves,
         "steps": [{"element": [n(s.element[0]), s.element[1]], "text": s.text} for s in r.steps],
         "ingredients": [{"element": [n(i.element[0]), i.element[1]], "item": i.item,
                          "amount": i.amount, "unit": i.unit, "note": i.note} for i in r.ingredients],
         "stories": [n(s) for s in r.stories], "contributors": [n(h) for h in r.contributors],
         "adapted_from": n(r.adapted_from), "variations": [n(v) for v in r.variations]}
        for r in _in_order(state.recipes)
    ]
    return to_json({
        "records": [fate(r) for r in records],
        "membership": membership,
        "offers": offers,
        "board": [n(o.id) for o in select_offers(state.offers.values(), now)],
        "claims": claims,
        "meals": meals,
        "recipes": recipes,
    })


def _in_order(views: dict) -> list:
    """A state's views in (lamport, id) order (the state's own map order is
    not part of its contract)."""
    return sorted(views.values(), key=lambda view: (view.lamport, view.id))


def case_document(name: str, section: str, rule: str, log: CaseLog, now: int) -> dict:
    """The JSON document of one case (format: SPEC.md section 10)."""
    records = log.records()
    names = {record.id: entry for entry, _, record in log.entries}  # a left-out id stays hex
    names.update({k.public: k.name for k in keys()})
    state = build_state(records, log.neighbourhood)
    return {
        "name": name,
        "section": section,
        "rule": rule,
        "neighbourhood": log.neighbourhood.hex(),
        "now": now,
        "records": [{"name": entry, "author": author, "kind": record.kind, "id": record.id.hex(),
                     "raw": record.raw.hex()} for entry, author, record in log.entries],
        "views": render(state, names, records, now),
    }


# --- documents --------------------------------------------------------------------------------


def golden_document() -> dict:
    """The views of the records.json log."""
    vectors, ids = mv().build_log()
    records = [decode_and_verify(bytes.fromhex(v["raw"])) for v in vectors]
    log = CaseLog()
    log.neighbourhood = ids["neighbourhood"]
    log.entries = [(v["name"], v["author"], r) for v, r in zip(vectors, records)]
    doc = case_document("golden", "10", "The views of the log in records.json.", log, NOW)
    for entry in doc["records"]:  # the raws are in records.json already
        del entry["raw"]
    return doc


def documents() -> dict[str, dict]:
    """File name (under protocol/vectors/) -> JSON document."""
    docs = {"views/golden.json": golden_document()}
    for name, section, rule, build in CASES:
        docs[f"views/{name}.json"] = case_document(name, section, rule, build(), NOW)
    return docs
