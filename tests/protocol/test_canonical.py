"""Canonical msgpack: properties under Hypothesis, checked against a small
reference encoder written from SPEC.md section 2 alone."""

from __future__ import annotations

import struct
from typing import Any

import msgpack
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from protocol import canonical, limits
from protocol.errors import DecodeError, Malformed, NonCanonical, OutOfRange, TooLarge, WrongType

# --- a second encoder, from the spec --------------------------------------------------------


def _sized(n: int, fixed: int | None, fix_max: int, heads: tuple[int, ...]) -> bytes:
    """Header for a length ``n``: the fix form if it fits, else the smallest of
    the 8/16/32-bit forms whose first bytes are ``heads`` (None: no 8-bit form)."""
    if fixed is not None and n <= fix_max:
        return bytes([fixed | n])
    for head, width, fmt in zip(heads, (1, 2, 4), (">B", ">H", ">I")):
        if head is not None and n < 2 ** (8 * width):
            return bytes([head]) + struct.pack(fmt, n)
    raise AssertionError(n)


def reference(value: Any) -> bytes:
    if value is None:
        return b"\xc0"
    if value is False:
        return b"\xc2"
    if value is True:
        return b"\xc3"
    if isinstance(value, int):
        if 0 <= value <= 0x7F:
            return bytes([value])
        if -32 <= value < 0:
            return struct.pack(">b", value)
        if value > 0:
            for head, fmt, top in ((0xCC, ">B", 2**8), (0xCD, ">H", 2**16),
                                   (0xCE, ">I", 2**32), (0xCF, ">Q", 2**64)):
                if value < top:
                    return bytes([head]) + struct.pack(fmt, value)
        for head, fmt, bottom in ((0xD0, ">b", -(2**7)), (0xD1, ">h", -(2**15)),
                                  (0xD2, ">i", -(2**31)), (0xD3, ">q", -(2**63))):
            if value >= bottom:
                return bytes([head]) + struct.pack(fmt, value)
        raise AssertionError(value)
    if isinstance(value, str):
        data = value.encode("utf-8")
        return _sized(len(data), 0xA0, 31, (0xD9, 0xDA, 0xDB)) + data
    if isinstance(value, bytes):
        return _sized(len(value), None, -1, (0xC4, 0xC5, 0xC6)) + value
    if isinstance(value, list):
        return _sized(len(value), 0x90, 15, (None, 0xDC, 0xDD)) + b"".join(map(reference, value))
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: k.encode("utf-8"))
        return _sized(len(keys), 0x80, 15, (None, 0xDE, 0xDF)) + b"".join(
            reference(k) + reference(value[k]) for k in keys
        )
    raise AssertionError(type(value))


# --- strategies -------------------------------------------------------------------------------

# Boundaries of every msgpack form, so the interesting widths come up often.
_EDGES = [0, 127, 128, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**64 - 1,
          -1, -32, -33, -128, -129, -32768, -32769, -(2**31), -(2**31) - 1, -(2**63)]
ints = st.one_of(st.sampled_from(_EDGES), st.integers(-(2**63), 2**64 - 1))
texts = st.one_of(st.text(max_size=40), st.sampled_from(["x" * 31, "x" * 32, "x" * 255, "x" * 256]))
scalars = st.one_of(st.none(), st.booleans(), ints, texts, st.binary(max_size=40),
                    st.sampled_from([b"\x00" * 255, b"\x00" * 256]))
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=18),
        st.dictionaries(st.text(max_size=8), inner, max_size=18),
    ),
    max_leaves=40,
)


def depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max(map(depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(depth, value.values()), default=0)
    return 0


def typed(value: Any) -> Any:
    """``value`` with each scalar tagged by its type, so True != 1 and 0 != False."""
    if isinstance(value, list):
        return ("list", [typed(v) for v in value])
    if isinstance(value, dict):
        return ("map", sorted((k, typed(v)) for k, v in value.items()))
    return (type(value).__name__, value)


# --- properties -----------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(values)
def test_encode_matches_the_reference_and_round_trips(value: Any) -> None:
    """encode(v) equals the spec's reference bytes, and decode gives back v with its types."""
    assume(depth(value) <= limits.MAX_DEPTH)
    data = canonical.encode(value)
    assert data == reference(value)
    assert typed(canonical.decode(data, what="v", max_bytes=len(data))) == typed(value)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=6), ints, min_size=2, max_size=12), st.randoms())
def test_map_insertion_order_does_not_matter(mapping: dict, rnd: Any) -> None:
    """Any order of the same entries encodes to the same bytes, keys by UTF-8 bytes."""
    items = list(mapping.items())
    rnd.shuffle(items)
    data = canonical.encode(dict(items))
    assert data == canonical.encode(mapping)
    decoded_keys = list(canonical.decode(data, what="v", max_bytes=len(data)))
    assert decoded_keys == sorted(mapping, key=lambda k: k.encode("utf-8"))


@settings(max_examples=150, deadline=None)
@given(values)
def test_any_other_msgpack_form_of_a_value_is_refused(value: Any) -> None:
    """Bytes that decode to v but differ from encode(v) fail with NonCanonical or Malformed:
    here msgpack's own packing in insertion order, with a non-minimal int forced in."""
    assume(depth(value) < limits.MAX_DEPTH)  # it is wrapped in one more array
    wide = msgpack.packb([value, 5], use_bin_type=True)[:-1] + b"\xcc\x05"
    with pytest.raises(NonCanonical):
        canonical.decode(wide, what="v", max_bytes=len(wide))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_decode_of_arbitrary_bytes_raises_only_decode_errors(data: bytes) -> None:
    """Whatever the input, decode returns a value that re-encodes to it, or raises a DecodeError."""
    try:
        value = canonical.decode(data, what="v", max_bytes=256)
    except DecodeError:
        return
    assert canonical.encode(value) == data


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([0x91, 0x81, 0xA1, 0x61, 0xDC, 0xDE, 0xC4, 0x00, 0xFF]),
                max_size=400).map(bytes))
def test_decode_of_nesting_heavy_bytes_raises_only_decode_errors(data: bytes) -> None:
    """Deep and truncated containers never escape as anything but a DecodeError."""
    try:
        canonical.decode(data, what="v", max_bytes=1024)
    except DecodeError:
        pass


# --- examples -------------------------------------------------------------------------------


def test_decode_checks_size_before_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    """An input over max_bytes fails with TooLarge and the parser is never called."""
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("parsed an oversized input")

    monkeypatch.setattr(canonical.msgpack, "unpackb", refuse)
    with pytest.raises(TooLarge) as caught:
        canonical.decode(b"\xc1" * 10_000_001, what="record", max_bytes=limits.MAX_RECORD_BYTES)
    assert (caught.value.size, caught.value.limit) == (10_000_001, limits.MAX_RECORD_BYTES)


@pytest.mark.parametrize(
    "value, error",
    [
        (1.5, WrongType),
        ({1: "x"}, WrongType),
        ({b"k": "x"}, WrongType),
        ("\ud800", WrongType),
        ({"\udfff": 1}, WrongType),
        (2**64, OutOfRange),
        (-(2**63) - 1, OutOfRange),
        (set(), WrongType),
        ([[[[[[[[[[]]]]]]]]]], Malformed),
    ],
    ids=["float", "int key", "bytes key", "lone surrogate", "surrogate key", "2^64", "-2^63-1",
         "set", "too deep"],
)
def test_encode_refuses_values_without_a_canonical_form(value: Any, error: type) -> None:
    """Values that have no canonical form raise a typed error, never a library error."""
    with pytest.raises(error):
        canonical.encode(value)


def test_tuples_encode_as_arrays() -> None:
    """A tuple is accepted on the way in and encodes as an array."""
    assert canonical.encode((1, "a")) == canonical.encode([1, "a"]) == b"\x92\x01\xa1a"


# --- structured fuzz: valid msgpack in every form, canonical or not ----------------------------


def _header(draw: st.DrawFn, n: int, fixed: int | None, fix_max: int, heads: tuple) -> bytes:
    """Any header that can hold length ``n``, minimal or not."""
    options = [bytes([fixed | n])] if fixed is not None and n <= fix_max else []
    for head, fmt, top in zip(heads, (">B", ">H", ">I"), (2**8, 2**16, 2**32)):
        if head is not None and n < top:
            options.append(bytes([head]) + struct.pack(fmt, n))
    return draw(st.sampled_from(options))


@st.composite
def msgpack_tokens(draw: st.DrawFn, depth: int = 0) -> bytes:
    """One msgpack value in any of its encodings, floats and ext included."""
    choice = draw(st.integers(0, 9 if depth < 4 else 6))
    if choice == 0:
        return draw(st.sampled_from([b"\xc0", b"\xc2", b"\xc3", b"\xca\x3f\xc0\x00\x00",
                                     b"\xcb" + bytes(8), b"\xd4\x01\x00", b"\xc7\x00\x05"]))
    if choice in (1, 2):
        value = draw(ints)
        forms = [reference(value)]
        for head, fmt, low, high in ((0xCC, ">B", 0, 2**8), (0xCD, ">H", 0, 2**16),
                                     (0xCE, ">I", 0, 2**32), (0xCF, ">Q", 0, 2**64),
                                     (0xD0, ">b", -(2**7), 2**7), (0xD1, ">h", -(2**15), 2**15),
                                     (0xD2, ">i", -(2**31), 2**31), (0xD3, ">q", -(2**63), 2**63)):
            if low <= value < high:
                forms.append(bytes([head]) + struct.pack(fmt, value))
        return draw(st.sampled_from(forms))
    if choice in (3, 4):
        data = draw(st.one_of(st.text(max_size=40).map(lambda t: t.encode("utf-8")),
                              st.binary(max_size=8)))
        return _header(draw, len(data), 0xA0, 31, (0xD9, 0xDA, 0xDB)) + data
    if choice in (5, 6):
        data = draw(st.binary(max_size=40))
        return _header(draw, len(data), None, -1, (0xC4, 0xC5, 0xC6)) + data
    n = draw(st.integers(0, 3))
    if choice in (7, 8):
        return _header(draw, n, 0x90, 15, (None, 0xDC, 0xDD)) + b"".join(
            draw(msgpack_tokens(depth + 1)) for _ in range(n))
    key = st.one_of(st.text(max_size=3).map(reference), msgpack_tokens(depth + 1))
    return _header(draw, n, 0x80, 15, (None, 0xDE, 0xDF)) + b"".join(
        draw(key) + draw(msgpack_tokens(depth + 1)) for _ in range(n))


@settings(max_examples=200, deadline=None)
@given(msgpack_tokens())
def test_decode_of_any_msgpack_form_raises_only_decode_errors(data: bytes) -> None:
    """Well-formed msgpack in any form either is canonical (and round-trips) or
    raises Malformed or NonCanonical; nothing else escapes."""
    try:
        value = canonical.decode(data, what="v", max_bytes=len(data))
    except (Malformed, NonCanonical):
        return
    assert canonical.encode(value) == data == reference(value)
