"""Views and fates as bytes, for tables that outlive the process.

Each view is a msgpack array of its fields in declaration order (nested views
as arrays, enums as their values); an error is ``[type name, message, data]``.
Decoding gives back objects equal to the ones encoded, so a state read from
the tables equals the state that wrote them. Only meshpantry writes these
bytes (they never travel between nodes), so decoding trusts them.
"""

from __future__ import annotations

import dataclasses
from enum import Enum
from typing import Any, Callable

import msgpack

from . import validation
from .board import ClaimStatus, ClaimView, OfferView
from .meals import MealView, NeedView, PledgeView
from .recipes import IngredientLine, RecipeView, Step, StoryView
from .validation import ValidationError


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [_plain(getattr(value, f.name)) for f in dataclasses.fields(value)]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


_NAMES: dict[type, tuple[str, ...]] = {}
#: Views whose fields are all scalars or tuples of scalars (msgpack packs
#: tuples as arrays): encoded without walking their fields.
_FLAT = (OfferView, PledgeView, StoryView)


def encode_view(view: Any) -> bytes:
    """The bytes of any view dataclass."""
    if isinstance(view, _FLAT):
        names = _NAMES.get(type(view))
        if names is None:
            names = _NAMES[type(view)] = tuple(f.name for f in dataclasses.fields(view))
        return msgpack.packb([getattr(view, name) for name in names])
    return msgpack.packb(_plain(view))


def _fields(raw: bytes) -> list:
    return list(msgpack.unpackb(raw, use_list=False, raw=False))


def decode_offer(raw: bytes) -> OfferView:
    return OfferView(*_fields(raw))


def decode_claim(raw: bytes) -> ClaimView:
    f = _fields(raw)
    f[8] = ClaimStatus(f[8])
    return ClaimView(*f)


def decode_meal(raw: bytes) -> MealView:
    f = _fields(raw)
    f[9] = tuple(NeedView(*need) for need in f[9])
    return MealView(*f)


def decode_pledge(raw: bytes) -> PledgeView:
    return PledgeView(*_fields(raw))


def decode_recipe(raw: bytes) -> RecipeView:
    f = _fields(raw)
    f[9] = tuple(IngredientLine(*line) for line in f[9])
    f[10] = tuple(Step(*step) for step in f[10])
    return RecipeView(*f)


def decode_story(raw: bytes) -> StoryView:
    return StoryView(*_fields(raw))


DECODERS: dict[str, Callable[[bytes], Any]] = {
    "offers": decode_offer,
    "claims": decode_claim,
    "meals": decode_meal,
    "pledges": decode_pledge,
    "recipes": decode_recipe,
    "stories": decode_story,
}


def encode_error(error: ValidationError) -> bytes:
    return msgpack.packb([type(error).__name__, str(error), error.data])


def decode_error(raw: bytes) -> ValidationError:
    name, message, data = msgpack.unpackb(raw, use_list=False, raw=False)
    cls = getattr(validation, name)
    assert isinstance(cls, type) and issubclass(cls, ValidationError), name
    error = cls.__new__(cls)
    ValidationError.__init__(error, message, **data)
    return error
