"""Record kinds and the schema of each kind's body.

A body is a map. Each known kind lists its fields with a type and whether the
field is required. Rules:

* a required field must be present; a present field must match its type;
* fields a kind does not list are allowed and ignored (a later version may add
  optional fields; older nodes keep and forward them untouched);
* a kind this table does not know is stored and forwarded but not interpreted:
  only the envelope and the general limits are checked.

Types (see SPEC.md section 5): ``label`` short text, ``text`` long text, ``id``
a record id (32 bytes), ``key`` a public key (32 bytes), ``qty`` a positive
integer quantity, ``count`` a non-negative integer, ``time`` ms since epoch,
``bool``, ``sealed`` an encrypted blob, ``decimal`` a decimal string such as
"1.5" or "1/2", ``labels`` a list of labels, ``texts`` a list of texts, ``lines``
a list of maps of a sub-schema, ``elem`` an element reference ``[id, index]``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

from . import limits
from .errors import InvalidBody

#: ASCII digits only: whole ("2"), decimal ("1.5"), fraction ("1/2") or mixed
#: ("1 1/2"). Matched with ``fullmatch`` so no trailing newline slips through.
_DECIMAL = re.compile(r"\d{1,9}(\.\d{1,6})?|\d{1,9}/\d{1,9}|\d{1,9} \d{1,9}/\d{1,9}", re.ASCII)


def _fail(kind: str, name: str, reason: str) -> None:
    raise InvalidBody(kind, name, reason)


def _text_check(limit: int) -> Callable[[str, str, Any], None]:
    label = limit == limits.MAX_LABEL_BYTES

    def check(kind: str, name: str, value: Any) -> None:
        if type(value) is not str:
            _fail(kind, name, f"expected text, found {type(value).__name__}")
        # An ASCII text's length is its UTF-8 size (isascii reads a flag the
        # text carries; encoding copies it).
        size = len(value) if value.isascii() else len(value.encode("utf-8"))
        if size > limit:
            _fail(kind, name, f"{size} bytes, limit {limit}")
        if label and not value.strip():
            _fail(kind, name, "must not be blank")

    return check


_label = _text_check(limits.MAX_LABEL_BYTES)
_text = _text_check(limits.MAX_TEXT_BYTES)


def _bytes_check(size: int) -> Callable[[str, str, Any], None]:
    def check(kind: str, name: str, value: Any) -> None:
        if type(value) is not bytes:
            _fail(kind, name, f"expected bytes, found {type(value).__name__}")
        if len(value) != size:
            _fail(kind, name, f"must be {size} bytes, found {len(value)}")

    return check


_id = _bytes_check(limits.ID_BYTES)
_key = _bytes_check(limits.KEY_BYTES)
_proof = _bytes_check(limits.SIGNATURE_BYTES)


def _int_check(low: int, high: int) -> Callable[[str, str, Any], None]:
    def check(kind: str, name: str, value: Any) -> None:
        if type(value) is not int:
            _fail(kind, name, f"expected integer, found {type(value).__name__}")
        if not low <= value <= high:
            _fail(kind, name, f"{value} outside [{low}, {high}]")

    return check


_qty = _int_check(1, limits.MAX_QUANTITY)
_count = _int_check(0, limits.MAX_COUNTER)
_time = _int_check(0, limits.MAX_TIME_MS)


def _bool(kind: str, name: str, value: Any) -> None:
    if type(value) is not bool:
        _fail(kind, name, f"expected bool, found {type(value).__name__}")


def _sealed(kind: str, name: str, value: Any) -> None:
    if type(value) is not bytes:
        _fail(kind, name, f"expected bytes, found {type(value).__name__}")
    if len(value) > limits.MAX_BINARY_BYTES:
        _fail(kind, name, f"{len(value)} bytes, limit {limits.MAX_BINARY_BYTES}")


def _decimal(kind: str, name: str, value: Any) -> None:
    if type(value) is not str or not _DECIMAL.fullmatch(value):
        _fail(kind, name, f"expected a decimal amount such as '1.5' or '1/2', found {value!r}")
    if "/" in value and int(value.rsplit("/", 1)[1]) == 0:
        _fail(kind, name, f"the fraction {value!r} has a zero denominator")


def _list_of(item_check: Callable[[str, str, Any], None]) -> Callable[[str, str, Any], None]:
    def check(kind: str, name: str, value: Any) -> None:
        if type(value) is not list:
            _fail(kind, name, f"expected list, found {type(value).__name__}")
        if len(value) > limits.MAX_LIST_ITEMS:
            _fail(kind, name, f"{len(value)} items, limit {limits.MAX_LIST_ITEMS}")
        # An item's name ("tags[2]") is written only for the error: the
        # failing item is checked again under it (a check is a function of
        # its value), so the error is the same.
        for item in value:
            try:
                item_check(kind, name, item)
            except InvalidBody:
                for i, item in enumerate(value):
                    item_check(kind, f"{name}[{i}]", item)
                raise

    return check


def _elem(kind: str, name: str, value: Any) -> None:
    if type(value) is not list or len(value) != 2:
        _fail(kind, name, "expected an element reference [record id, index]")
    _id(kind, name + ".id", value[0])
    # An index points into a list of at most MAX_LIST_ITEMS items.
    _int_check(0, limits.MAX_LIST_ITEMS - 1)(kind, name + ".index", value[1])


@dataclass(frozen=True)
class Field:
    check: Callable[[str, str, Any], None]
    required: bool = False


def _map_of(schema: dict[str, Field]) -> Callable[[str, str, Any], None]:
    def check(kind: str, name: str, value: Any) -> None:
        if type(value) is not dict:
            _fail(kind, name, f"expected map, found {type(value).__name__}")
        _check_fields(kind, schema, value, prefix=name + ".")

    return check


def _check_fields(kind: str, schema: dict[str, Field], body: dict, prefix: str = "") -> None:
    for fname, spec in schema.items():
        if fname in body:
            spec.check(kind, prefix + fname, body[fname])
        elif spec.required:
            _fail(kind, prefix + fname, "required field is missing")


#: The value of a field a body leaves out (None is a value a body may hold).
_ABSENT = object()

#: A schema as (name, check, required) in the schema's order: what
#: :func:`check_body` walks for each record, without a Field's attribute
#: reads (a checking process checks every body a new device takes in).
FieldTable = tuple[tuple[str, Callable[[str, str, Any], None], bool], ...]


def _table(schema: dict[str, Field]) -> FieldTable:
    return tuple((name, spec.check, spec.required) for name, spec in schema.items())


_labels = _list_of(_label)
_texts = _list_of(_text)

NEED_LINE = {"item": Field(_label, True), "quantity": Field(_qty, True), "unit": Field(_label, True)}
INGREDIENT_LINE = {
    "item": Field(_label, True),
    "amount": Field(_decimal),
    "unit": Field(_label),
    "note": Field(_label),
}

#: Fields of an offer that its author may change with ``offer_update``.
OFFER_FIELDS = {
    "item": Field(_label, True),
    "quantity": Field(_qty, True),
    "unit": Field(_label, True),
    "best_before": Field(_time),
    "pickup_from": Field(_time),
    "pickup_until": Field(_time),
    "area": Field(_label),
    "tags": Field(_labels),
    "allergens": Field(_labels),
    "note": Field(_text),
}

#: Fields of a recipe that ``recipe_edit`` may set (last writer wins).
RECIPE_SET_FIELDS = {
    "title": Field(_label),
    "origin": Field(_label),
    "tags": Field(_labels),
    "serves": Field(_int_check(1, 10_000)),
}

RECIPE_OPS = ("insert_step", "remove_step", "insert_ingredient", "remove_ingredient")


def _recipe_op(kind: str, name: str, value: Any) -> None:
    if type(value) is not dict:
        _fail(kind, name, f"expected map, found {type(value).__name__}")
    op = value.get("op")
    if op not in RECIPE_OPS:
        _fail(kind, name + ".op", f"expected one of {', '.join(RECIPE_OPS)}, found {op!r}")
    if op.startswith("insert"):
        if "after" in value and value["after"] is not None:
            _elem(kind, name + ".after", value["after"])
        if op == "insert_step":
            _check_fields(kind, {"text": Field(_text, True)}, value, prefix=name + ".")
        else:
            _check_fields(kind, INGREDIENT_LINE, value, prefix=name + ".")
    else:
        if "target" not in value:
            _fail(kind, name + ".target", "required field is missing")
        _elem(kind, name + ".target", value["target"])


SCHEMAS: dict[str, dict[str, Field]] = {
    "neighbourhood": {"name": Field(_label, True), "description": Field(_text)},
    "household": {"name": Field(_label, True), "area": Field(_label), "note": Field(_text)},
    "device_link": {"device": Field(_key, True), "name": Field(_label)},
    "invite": {
        "key": Field(_key, True),
        "expires": Field(_time, True),
        "uses": Field(_int_check(1, 1000), True),
        "note": Field(_text),
    },
    "join": {"invite": Field(_id, True), "proof": Field(_proof, True)},
    "invite_cancel": {"invite": Field(_id, True), "uses": Field(_int_check(0, 1000), True), "reason": Field(_text)},
    "revoke": {"member": Field(_key, True), "after_seq": Field(_count, True), "reason": Field(_text)},
    "offer": OFFER_FIELDS,
    "offer_update": {"offer": Field(_id, True), **{k: Field(v.check) for k, v in OFFER_FIELDS.items()}},
    "offer_withdraw": {"offer": Field(_id, True)},
    "claim": {"offer": Field(_id, True), "quantity": Field(_qty, True), "message": Field(_text)},
    "claim_cancel": {"claim": Field(_id, True)},
    "claim_decision": {
        "claim": Field(_id, True),
        "accept": Field(_bool, True),
        "quantity": Field(_qty),
        "pickup": Field(_sealed),
        "reason": Field(_text),
    },
    "handover": {"claim": Field(_id, True), "note": Field(_text)},
    "meal": {
        "dish": Field(_label, True),
        "time": Field(_time, True),
        "place": Field(_label, True),
        "needs": Field(_list_of(_map_of(NEED_LINE))),
        "note": Field(_text),
    },
    "pledge": {
        "meal": Field(_id, True),
        "item": Field(_label, True),
        "quantity": Field(_qty, True),
        "unit": Field(_label, True),
        "note": Field(_text),
    },
    "recipe": {
        "title": Field(_label, True),
        "ingredients": Field(_list_of(_map_of(INGREDIENT_LINE))),
        "steps": Field(_texts),
        "story": Field(_text),
        "origin": Field(_label),
        "tags": Field(_labels),
        "serves": Field(_int_check(1, 10_000)),
        "adapted_from": Field(_id),
    },
    "recipe_edit": {
        "recipe": Field(_id, True),
        "set": Field(_map_of(RECIPE_SET_FIELDS)),
        "ops": Field(_list_of(_recipe_op)),
    },
    "story": {"recipe": Field(_id, True), "text": Field(_text, True), "title": Field(_label)},
}

KINDS = tuple(SCHEMAS)

#: Each known kind's :data:`SCHEMAS` entry as a :data:`FieldTable`.
_TABLES: dict[str, FieldTable] = {kind: _table(schema) for kind, schema in SCHEMAS.items()}


def check_body(kind: str, body: dict[str, Any]) -> None:
    """Check ``body`` against the schema of ``kind``. Unknown kinds pass.

    Raises :class:`InvalidBody` naming the kind, the field and the reason.
    """
    table = _TABLES.get(kind)
    if table is None:
        return
    # _check_fields over the kind's table, one body lookup a field.
    get = body.get
    for name, check, required in table:
        value = get(name, _ABSENT)
        if value is not _ABSENT:
            check(kind, name, value)
        elif required:
            _fail(kind, name, "required field is missing")
    if kind == "offer_update" and len(set(body) & set(OFFER_FIELDS)) == 0:
        _fail(kind, "fields", "an update must change at least one offer field")
    if kind == "claim_decision" and body["accept"] and "quantity" not in body:
        _fail(kind, "quantity", "an accepting decision must state the quantity")
    if kind == "recipe_edit" and not body.get("set") and not body.get("ops"):
        _fail(kind, "ops", "an edit must set a field or carry an operation")
