"""Signed records under Hypothesis: seal and decode agree, no mutation of a valid
record is ever accepted, and no input makes the decoder raise anything but a
protocol error."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import nacl.bindings
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from protocol import canonical, kinds, limits
from protocol.envelope import decode_and_verify, decode_record, seal, verify_record
from protocol.errors import BadSignature, DecodeError, InvalidBody, RemoteError, TooLarge
from protocol.make_vectors import VECTOR_DIR, from_json

VECTORS = json.loads((VECTOR_DIR / "records.json").read_text(encoding="utf-8"))["records"]
RAWS = [bytes.fromhex(v["raw"]) for v in VECTORS]
KNOWN_BODIES = [(v["fields"]["kind"], from_json(v["fields"]["body"]))
                for v in VECTORS if v["known_kind"]]

seeds = st.binary(min_size=32, max_size=32)
ids = st.binary(min_size=32, max_size=32)
counters = st.integers(1, limits.MAX_COUNTER)
leaf = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**64 - 1),
                 st.text(max_size=30), st.binary(max_size=40))
free_values = st.recursive(
    leaf,
    lambda inner: st.one_of(st.lists(inner, max_size=6),
                            st.dictionaries(st.text(max_size=6), inner, max_size=6)),
    max_leaves=20,
)
unknown_kinds = st.text(min_size=1, max_size=32).filter(
    lambda k: len(k.encode("utf-8")) <= limits.MAX_KIND_BYTES and k not in kinds.SCHEMAS
)


def _depth(value: Any) -> int:
    if isinstance(value, (list, dict)):
        items = value.values() if isinstance(value, dict) else value
        return 1 + max(map(_depth, items), default=0)
    return 0


@st.composite
def kind_and_body(draw: st.DrawFn) -> tuple[str, dict]:
    """A known kind with a valid body (plus unknown extra fields), or any unknown kind."""
    if draw(st.booleans()):
        kind, body = draw(st.sampled_from(KNOWN_BODIES))
        extra = draw(st.dictionaries(st.text(min_size=1, max_size=6).map(lambda k: "x_" + k),
                                     free_values, max_size=3))
        return kind, {**body, **extra}
    body = draw(st.dictionaries(st.text(max_size=8), free_values, max_size=8))
    assume(_depth(body) <= limits.MAX_DEPTH - 1)  # the body sits at depth 1
    return draw(unknown_kinds), body


@st.composite
def envelopes(draw: st.DrawFn) -> dict:
    seq = draw(counters)
    kind, body = draw(kind_and_body())
    return {
        "neighbourhood": b"" if kind == "neighbourhood" else draw(ids),
        "seq": seq,
        "prev": None if seq == 1 else draw(ids),
        "lamport": draw(st.integers(seq, limits.MAX_COUNTER)),
        "time": draw(st.integers(0, limits.MAX_TIME_MS)),
        "kind": kind,
        "body": body,
    }


def _secret(seed: bytes) -> bytes:
    return nacl.bindings.crypto_sign_seed_keypair(seed)[1]


def _typed(value: Any) -> Any:
    if isinstance(value, list):
        return ("list", [_typed(v) for v in value])
    if isinstance(value, dict):
        return ("map", sorted((k, _typed(v)) for k, v in value.items()))
    return (type(value).__name__, value)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seeds, envelopes())
def test_seal_then_decode_gives_the_same_fields(seed: bytes, fields: dict) -> None:
    """decode_and_verify(seal(...).raw) returns exactly the sealed fields and author."""
    secret = _secret(seed)
    record = seal(secret, **fields)
    again = decode_and_verify(record.raw)
    assert again == record
    assert again.author == secret[32:]
    for name, value in fields.items():
        assert _typed(getattr(again, name)) == _typed(value), name
    assert again.id == hashlib.sha256(again.payload).digest()
    assert again.known_kind == (fields["kind"] in kinds.SCHEMAS)


def _refused(raw: bytes) -> RemoteError:
    with pytest.raises((DecodeError, BadSignature)) as caught:
        decode_and_verify(raw)
    return caught.value


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(RAWS), st.data())
def test_any_single_byte_change_is_refused(raw: bytes, data: st.DataObject) -> None:
    """Replacing any one byte of a valid record yields a DecodeError or BadSignature;
    it never decodes to another valid signed record."""
    at = data.draw(st.integers(0, len(raw) - 1))
    byte = data.draw(st.integers(0, 255).filter(lambda b: b != raw[at]))
    _refused(raw[:at] + bytes([byte]) + raw[at + 1 :])


def test_flipping_each_bit_of_one_record_is_refused() -> None:
    """Every byte of the recipe vector, with its low, high or all bits flipped, is refused."""
    raw = bytes.fromhex(next(v["raw"] for v in VECTORS if v["name"] == "recipe"))
    for at in range(len(raw)):
        for mask in (0x01, 0x80, 0xFF):
            _refused(raw[:at] + bytes([raw[at] ^ mask]) + raw[at + 1 :])


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(RAWS), st.data())
def test_inserting_or_deleting_a_byte_is_refused(raw: bytes, data: st.DataObject) -> None:
    """A record one byte longer or shorter than it was signed is refused."""
    at = data.draw(st.integers(0, len(raw)))
    if data.draw(st.booleans()):
        _refused(raw[:at] + bytes([data.draw(st.integers(0, 255))]) + raw[at:])
    else:
        assume(at < len(raw))
        _refused(raw[:at] + raw[at + 1 :])


@settings(max_examples=300, deadline=None)
@given(st.one_of(
    st.binary(max_size=400),
    st.tuples(st.sampled_from(RAWS), st.integers(0, 300), st.binary(max_size=8)).map(
        lambda t: t[0][: t[1]] + t[2] + t[0][t[1] + len(t[2]) :]
    ),
))
def test_decode_raises_only_protocol_errors(data: bytes) -> None:
    """Arbitrary and spliced bytes either decode and verify, or raise a protocol error."""
    try:
        decode_and_verify(data)
    except (DecodeError, BadSignature):
        pass


_tricky = st.one_of(
    leaf,
    st.binary(min_size=31, max_size=33),
    st.binary(min_size=63, max_size=65),
    st.sampled_from(["", " ", "1.5", "1/0", "1 1/2", "x" * 201, "insert_step", "remove_step",
                     "insert_ingredient", "remove_ingredient", -1, 0, 1, 10**12 + 1, 200, 199]),
)
_tricky_values = st.recursive(
    _tricky,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from(["op", "after", "target", "text", "item", "amount",
                                         "unit", "quantity", "serves", "title"]), inner,
                        max_size=5),
    ),
    max_leaves=12,
)


@st.composite
def schema_bodies(draw: st.DrawFn) -> tuple[str, dict]:
    kind = draw(st.sampled_from(sorted(kinds.SCHEMAS)))
    names = sorted(kinds.SCHEMAS[kind]) + ["op", "extra"]
    body = draw(st.dictionaries(st.sampled_from(names), _tricky_values, max_size=len(names)))
    return kind, body


@settings(max_examples=250, deadline=None)
@given(schema_bodies())
def test_body_checks_raise_only_invalid_body(case: tuple[str, dict]) -> None:
    """Any body of a known kind passes or fails with InvalidBody, never a Python error."""
    kind, body = case
    try:
        kinds.check_body(kind, body)
    except InvalidBody as exc:
        assert exc.kind == kind


_envelope_values = st.one_of(
    _tricky, st.just({}), st.sampled_from(KNOWN_BODIES).map(lambda kb: kb[1]),
    st.sampled_from(sorted(kinds.SCHEMAS)), st.integers(-2, 3),
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(list("abcknpstvx")), _envelope_values, max_size=10),
       st.binary(min_size=60, max_size=68))
def test_envelopes_of_any_shape_raise_only_decode_errors(payload: dict, signature: bytes) -> None:
    """Canonical payload maps with any subset of fields and any value types decode or
    raise a DecodeError; whatever decodes has every field in range."""
    raw = canonical.encode([canonical.encode(payload), signature])
    try:
        record = decode_record(raw)
    except DecodeError:
        return
    assert record.seq >= 1 and record.lamport >= record.seq and len(record.author) == 32
    assert (record.prev is None) == (record.seq == 1) and len(record.signature) == 64


def test_oversized_record_fails_before_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ten megabytes fail with TooLarge and the msgpack parser is never entered."""
    calls = []
    real = canonical.msgpack.unpackb
    monkeypatch.setattr(canonical.msgpack, "unpackb", lambda *a, **k: calls.append(1) or real(*a, **k))
    with pytest.raises(TooLarge) as caught:
        decode_record(b"\x92" + b"\xc4" * (10 * 1024 * 1024))
    assert caught.value.what == "record" and caught.value.limit == limits.MAX_RECORD_BYTES
    assert calls == []


def _record_of_size(size: int) -> bytes:
    secret = _secret(bytes([7]) * 32)
    body = {"blob": "x" * (size - 300)}
    while True:
        record = seal(secret, neighbourhood=bytes(32), seq=1, prev=None, lamport=1, time=0,
                      kind="tool_loan", body=body)
        if len(record.raw) >= size:
            return record.raw
        body["blob"] += "x" * (size - len(record.raw))


def test_record_of_exactly_the_limit_decodes_and_one_byte_more_does_not() -> None:
    """MAX_RECORD_BYTES is inclusive."""
    at_limit = _record_of_size(limits.MAX_RECORD_BYTES)
    assert len(at_limit) == limits.MAX_RECORD_BYTES
    decode_and_verify(at_limit)
    with pytest.raises(TooLarge):
        seal(_secret(bytes([7]) * 32), neighbourhood=bytes(32), seq=1, prev=None, lamport=1,
             time=0, kind="tool_loan", body={"blob": "x" * limits.MAX_RECORD_BYTES})


@pytest.mark.parametrize(
    "field, size, ok",
    [("item", limits.MAX_LABEL_BYTES, True), ("item", limits.MAX_LABEL_BYTES + 1, False),
     ("note", limits.MAX_TEXT_BYTES, True), ("note", limits.MAX_TEXT_BYTES + 1, False)],
)
def test_field_limits_are_inclusive_and_count_utf8_bytes(field: str, size: int, ok: bool) -> None:
    """A label of 200 bytes and a text of 16 KiB pass; one byte more fails. Bytes, not characters."""
    text = "\u00e9" * (size // 2) + "e" * (size % 2)  # two-byte characters
    assert len(text.encode("utf-8")) == size
    body = {"item": "leeks", "quantity": 1, "unit": "item", field: text}
    if ok:
        kinds.check_body("offer", body)
    else:
        with pytest.raises(InvalidBody) as caught:
            kinds.check_body("offer", body)
        assert caught.value.field == field


def test_unknown_kind_is_kept_even_when_no_schema_would_allow_its_body() -> None:
    """An unknown kind is checked only against the envelope and the general limits."""
    record = seal(_secret(bytes([7]) * 32), neighbourhood=bytes(32), seq=1, prev=None,
                  lamport=1, time=0, kind="offer_v2",
                  body={"quantity": -3, "note": "n" * (limits.MAX_TEXT_BYTES + 1)})
    again = decode_and_verify(record.raw)
    assert not again.known_kind and again.body["quantity"] == -3


def test_verify_is_separate_from_decode() -> None:
    """decode_record accepts a well-formed record with a bad signature; verify_record refuses it."""
    raw = RAWS[0]
    record = decode_record(raw[:-1] + bytes([raw[-1] ^ 1]))
    with pytest.raises(BadSignature) as caught:
        verify_record(record)
    assert caught.value.record_id == record.id


@pytest.mark.slow
@settings(max_examples=20_000, deadline=None)
@given(st.one_of(
    st.binary(max_size=2000),
    st.tuples(st.sampled_from(RAWS), st.integers(0, 600), st.binary(max_size=16)).map(
        lambda t: t[0][: t[1]] + t[2] + t[0][t[1] + len(t[2]) :]
    ),
))
def test_long_fuzz_decode_raises_only_protocol_errors(data: bytes) -> None:
    """The same fuzz as above, a hundred times longer."""
    try:
        decode_and_verify(data)
    except (DecodeError, BadSignature):
        pass


@pytest.mark.slow
def test_every_byte_value_at_every_position_of_every_vector_is_refused() -> None:
    """All 255 replacements of every byte of every valid vector are refused."""
    for raw in RAWS:
        for at in range(len(raw)):
            for byte in range(256):
                if byte != raw[at]:
                    _refused(raw[:at] + bytes([byte]) + raw[at + 1 :])
