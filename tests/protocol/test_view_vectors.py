"""View vectors: the views in protocol/vectors/views/ are what the reference
implementation derives from their records, by the full fold (build_state)
and by the incremental one (IncrementalState), whatever the arrival order."""

from __future__ import annotations

import json
import random

import pytest

from meshpantry.core.incremental import IncrementalState
from meshpantry.core.state import build_state
from protocol import Record, decode_and_verify, view_vectors
from protocol.make_vectors import VECTOR_DIR

VIEWS = VECTOR_DIR / "views"
RECORDS = {v["name"]: v for v in json.loads((VECTOR_DIR / "records.json").read_text())["records"]}


def _load(path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


CASES = sorted(VIEWS.glob("*.json"))


def _records(doc: dict) -> list[Record]:
    raws = [entry.get("raw") or RECORDS[entry["name"]]["raw"] for entry in doc["records"]]
    return [decode_and_verify(bytes.fromhex(raw)) for raw in raws]


def _names(doc: dict) -> dict[bytes, str]:
    names = {bytes.fromhex(entry["id"]): entry["name"] for entry in doc["records"]}
    names.update({key.public: key.name for key in view_vectors.keys()})
    return names




def _render(state, doc: dict, records: list[Record]) -> dict:
    return view_vectors.render(state, _names(doc), records, doc["now"])


def test_there_is_a_golden_file_and_at_least_twenty_rule_cases_each_named_after_its_section():
    names = [path.stem for path in CASES]
    assert "golden" in names
    rules = [_load(path) for path in CASES if path.stem != "golden"]
    assert len(rules) >= 20
    for doc in rules:
        assert doc["name"].startswith(doc["section"] + "-") and doc["rule"]
    # nothing stale: exactly the files the generator makes
    made = {name for name in view_vectors.documents()}
    assert {f"views/{path.name}" for path in CASES} == made


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_the_full_fold_gives_the_vector_views(path):
    doc = _load(path)
    records = _records(doc)
    state = build_state(records, bytes.fromhex(doc["neighbourhood"]))
    assert _render(state, doc, records) == doc["views"]


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_the_incremental_fold_gives_the_vector_views_in_any_arrival_order(path):
    doc = _load(path)
    records = _records(doc)
    neighbourhood = bytes.fromhex(doc["neighbourhood"])
    orders = [list(records), list(reversed(records))]
    rng = random.Random(path.stem)
    orders += [rng.sample(records, len(records)) for _ in range(3)]
    for order in orders:
        one_by_one = IncrementalState(neighbourhood)
        for record in order:
            one_by_one.add([record])
        assert _render(one_by_one.state(), doc, records) == doc["views"]
    by_id = {r.id: r for r in records}
    loaded = IncrementalState(neighbourhood, load=lambda ids: [by_id[i] for i in ids])
    loaded.add(records)
    assert _render(loaded.state(), doc, records) == doc["views"]


def test_the_golden_views_list_every_record_of_records_json():
    doc = _load(VIEWS / "golden.json")
    assert [entry["name"] for entry in doc["records"]] == list(RECORDS)
    statuses = {entry["name"]: entry["status"] for entry in doc["views"]["records"]}
    assert statuses.pop("unknown_kind") == "uninterpreted"
    assert set(statuses.values()) == {"counted"}
