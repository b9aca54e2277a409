"""Canonical msgpack: one byte string for one value.

Rules (SPEC.md section 2):

* maps have text keys, sorted by their UTF-8 bytes, no duplicates;
* integers, strings, binaries, arrays and maps use their shortest msgpack form;
* text is ``str`` (valid UTF-8), bytes are ``bin``; no floats, no ext types;
* nil, true and false are allowed.

:func:`encode` produces canonical bytes from Python values. :func:`decode` parses
with explicit size limits and then proves the input canonical by re-encoding it
and comparing bytes; anything else is rejected, so the bytes a signature covers
are the only bytes that can mean that value.
"""

from __future__ import annotations

from typing import Any

import msgpack

from . import limits
from .errors import Malformed, NonCanonical, OutOfRange, TooLarge, WrongType

_ALLOWED_SCALARS = (bool, int, str, bytes, type(None))

#: msgpack integers span int64 (negative) and uint64 (non-negative).
MIN_INT = -(2**63)
MAX_INT = 2**64 - 1


def refuse_ext(code: int, data: bytes) -> Any:
    # Called by the unpacker for every ext value, including zero-length ones
    # that ``max_ext_len=0`` lets through: no ext type has a canonical form.
    raise ValueError(f"ext type {code} is not allowed")


class _RepeatedKeys(list):
    """The (key, value) pairs of a decoded map in which a key repeats.

    Only :func:`decode` makes these. Re-encoding checks every pair, so a float
    or bad key in a repeated entry is still Malformed, and then encodes the map
    without its repeats: shorter than the input, hence NonCanonical. Without
    this, the error would depend on which copy of the key held the bad value.
    """


def _map_from_pairs(pairs: list) -> Any:
    mapping = dict(pairs)
    return mapping if len(mapping) == len(pairs) else _RepeatedKeys(pairs)


def _canonicalise(value: Any, depth: int) -> Any:
    if depth > limits.MAX_DEPTH:
        raise Malformed(f"nested deeper than {limits.MAX_DEPTH}")
    if type(value) is _RepeatedKeys:
        for key, item in value:
            _key_bytes(key)
            _canonicalise(item, depth + 1)
        return _canonicalise(dict(value), depth)
    if isinstance(value, dict):
        out = {}
        for key in sorted(value, key=_key_bytes):
            out[key] = _canonicalise(value[key], depth + 1)
        return out
    if isinstance(value, (list, tuple)):
        return [_canonicalise(item, depth + 1) for item in value]
    if type(value) is int and not MIN_INT <= value <= MAX_INT:
        raise OutOfRange("integer", value, MIN_INT, MAX_INT)
    if isinstance(value, _ALLOWED_SCALARS):
        return value
    raise WrongType("value", "nil, bool, int, str, bytes, list or map", type(value).__name__)


def _key_bytes(key: Any) -> bytes:
    if not isinstance(key, str):
        raise WrongType("map key", "str", type(key).__name__)
    try:
        return key.encode("utf-8")
    except UnicodeEncodeError:
        raise WrongType("map key", "valid UTF-8 text", "str with a lone surrogate") from None


def encode(value: Any) -> bytes:
    """Encode ``value`` canonically.

    Raises :class:`WrongType` for floats, non-text map keys, text that is not
    valid UTF-8 (lone surrogates) and other types that have no canonical form,
    :class:`OutOfRange` for integers outside [-2^63, 2^64-1], and
    :class:`Malformed` past ``MAX_DEPTH``.
    """
    try:
        return msgpack.packb(_canonicalise(value, 0), use_bin_type=True)
    except UnicodeEncodeError:
        raise WrongType("text", "valid UTF-8 text", "str with a lone surrogate") from None


def decode(data: bytes, *, what: str, max_bytes: int) -> Any:
    """Decode canonical msgpack bytes.

    Checks ``len(data) <= max_bytes`` before parsing, bounds every container and
    string, then re-encodes the result and requires identical bytes.

    Raises :class:`TooLarge`, :class:`Malformed` or :class:`NonCanonical`.
    """
    if len(data) > max_bytes:
        raise TooLarge(what, len(data), max_bytes)
    try:
        value = msgpack.unpackb(
            data,
            raw=False,
            use_list=True,
            strict_map_key=False,
            max_str_len=max_bytes,
            max_bin_len=max_bytes,
            max_array_len=limits.MAX_LIST_ITEMS,
            max_map_len=limits.MAX_MAP_KEYS,
            max_ext_len=0,
            ext_hook=refuse_ext,
            object_pairs_hook=_map_from_pairs,
        )
    except (ValueError, TypeError, msgpack.UnpackException, msgpack.ExtraData) as exc:
        raise Malformed(f"{what}: {exc}") from None
    # Decoded maps keep their wire order, so once every map is known to be in
    # canonical order, packing the value as it is re-encodes it canonically.
    ordered = _check_decoded(value, 0, what)
    if not ordered or msgpack.packb(value, use_bin_type=True) != data:
        raise NonCanonical(what)
    return value


_DECODED_SCALARS = frozenset((bool, int, str, bytes, type(None)))


def _check_decoded(value: Any, depth: int, what: str) -> bool:
    """Check a freshly decoded value for types and depth, without copying it.

    Returns False when some map's keys are out of canonical order or repeated
    (str comparison is code point order, which is UTF-8 byte order). Raises
    :class:`Malformed` for anything with no canonical form, wherever it is, so
    that Malformed wins over NonCanonical.
    """
    if depth > limits.MAX_DEPTH:
        raise Malformed(f"{what}: nested deeper than {limits.MAX_DEPTH}")
    kind = type(value)
    if kind is dict or kind is _RepeatedKeys:
        ordered = kind is dict
        previous = None
        for key, item in value.items() if kind is dict else value:
            if type(key) is not str:
                raise Malformed(f"{what}: map key is {type(key).__name__}, not str")
            if previous is not None and key <= previous:
                ordered = False
            previous = key
            ordered = _check_decoded(item, depth + 1, what) and ordered
        return ordered
    if kind is list:
        ordered = True
        for item in value:
            ordered = _check_decoded(item, depth + 1, what) and ordered
        return ordered
    if kind in _DECODED_SCALARS:
        return True
    raise Malformed(f"{what}: {kind.__name__} has no canonical form")
