"""The inputs of the golden vectors that must be refused, and the canonical cases.

Each invalid record breaks exactly one check (SPEC.md section 3 gives the order
of checks) and is otherwise well formed and correctly signed, so the error it
names is the only one it can fail with. Used by ``protocol.make_vectors``.
"""

from __future__ import annotations

from typing import Any, Iterator

import msgpack
import nacl.bindings

from . import canonical, limits
from .envelope import assemble, encode_payload, sign_payload

#: Order of the Ed25519 group (little-endian scalars below it are canonical).
ED25519_L = 2**252 + 27742317777372353535851937790883648493

_FOUNDER_SEED = bytes([1]) * 32
_JOINER_SEED = bytes([2]) * 32


def _secret(seed: bytes) -> bytes:
    return nacl.bindings.crypto_sign_seed_keypair(seed)[1]


def _h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


# --- canonical msgpack -------------------------------------------------------------------


def canonical_cases() -> tuple[list[tuple[str, Any, str]], list[tuple[str, str, bytes]]]:
    """(name, value, canonical hex) and (name, error class name, bytes)."""
    s31, s32, s256 = "x" * 31, "y" * 32, "z" * 256
    valid: list[tuple[str, Any, str]] = [
        ("nil", None, "c0"),
        ("false", False, "c2"),
        ("true", True, "c3"),
        ("int 0: positive fixint", 0, "00"),
        ("int 127: largest positive fixint", 127, "7f"),
        ("int 128: uint8", 128, "cc80"),
        ("int 255: largest uint8", 255, "ccff"),
        ("int 256: uint16", 256, "cd0100"),
        ("int 65536: uint32", 65536, "ce00010000"),
        ("int 2^32: uint64", 2**32, "cf0000000100000000"),
        ("int 2^64-1: largest integer", 2**64 - 1, "cfffffffffffffffff"),
        # A decoder that goes through a float64 (JSON numbers, JavaScript
        # numbers) reads these as 2^53 and -2^53 and re-encodes other bytes.
        ("int 2^53+1: not a float64", 2**53 + 1, "cf0020000000000001"),
        ("int -2^53-1: not a float64", -(2**53) - 1, "d3ffdfffffffffffff"),
        ("int -1: negative fixint", -1, "ff"),
        ("int -32: smallest negative fixint", -32, "e0"),
        ("int -33: int8", -33, "d0df"),
        ("int -128: smallest int8", -128, "d080"),
        ("int -129: int16", -129, "d1ff7f"),
        ("int -32769: int32", -32769, "d2ffff7fff"),
        ("int -2^31-1: int64", -(2**31) - 1, "d3ffffffff7fffffff"),
        ("int -2^63: smallest integer", -(2**63), "d38000000000000000"),
        ("empty text: fixstr", "", "a0"),
        ("text with NUL", "a\x00b", "a3610062"),
        ("two-byte UTF-8 character", "\u00e9", "a2c3a9"),
        # A UTF-8 decoder that strips a byte order mark would read "a".
        ("text starting with U+FEFF (kept)", "\ufeffa", "a4efbbbf61"),
        ("31 bytes: largest fixstr", s31, "bf" + s31.encode().hex()),
        ("32 bytes: str8", s32, "d920" + s32.encode().hex()),
        ("256 bytes: str16", s256, "da0100" + s256.encode().hex()),
        ("empty bytes: bin8 (bin has no fix form)", b"", "c400"),
        ("256 bytes: bin16", bytes(256), "c50100" + "00" * 256),
        ("empty array", [], "90"),
        ("15 items: largest fixarray", [0] * 15, "9f" + "00" * 15),
        ("16 items: array16", [0] * 16, "dc0010" + "00" * 16),
        ("empty map", {}, "80"),
        ("keys sorted by UTF-8 bytes", {"b": 1, "a": 2}, "82a16102a16201"),
        ("a prefix sorts first", {"ab": 1, "a": 2}, "82a16102a2616201"),
        ("upper case before lower case", {"a": 1, "B": 2}, "82a14202a16101"),
        (
            "UTF-8 order, not UTF-16 order",
            {"\U0001f600": 1, "\uff61": 2},
            "82a3efbda102a4f09f988001",
        ),
        ("16 keys: map16", {f"k{i:02}": 0 for i in range(16)},
         "de0010" + "".join(f"a3{f'k{i:02}'.encode().hex()}00" for i in range(16))),
        ("deepest allowed nesting (8)", [[[[[[[[[]]]]]]]]], "91" * 8 + "90"),
    ]
    deep = b"\x91" * 9 + b"\x90"
    too_many_items = b"\xdc\x00\xc9" + b"\xc0" * (limits.MAX_LIST_ITEMS + 1)
    too_many_keys = b"\xde\x00\x41" + b"".join(
        canonical.encode(f"k{i:02}") + b"\xc0" for i in range(limits.MAX_MAP_KEYS + 1)
    )
    invalid: list[tuple[str, str, bytes]] = [
        ("empty input", "Malformed", b""),
        ("0xc1 is never used", "Malformed", _h("c1")),
        ("truncated text", "Malformed", _h("a261")),
        ("trailing bytes after the value", "Malformed", _h("0000")),
        ("float32", "Malformed", _h("ca3fc00000")),
        ("float64", "Malformed", _h("cb3ff8000000000000")),
        ("fixext1", "Malformed", _h("d40100")),
        ("zero-length ext8", "Malformed", _h("c70005")),
        ("timestamp ext", "Malformed", _h("d6ff00000000")),
        ("invalid UTF-8", "Malformed", _h("a1ff")),
        ("overlong UTF-8 encoding of '/'", "Malformed", _h("a2c0af")),
        ("UTF-8 encoded surrogate", "Malformed", _h("a3eda080")),
        ("integer map key", "Malformed", _h("810101")),
        ("binary map key", "Malformed", _h("81c4016101")),
        ("nested deeper than MAX_DEPTH", "Malformed", deep),
        ("array longer than MAX_LIST_ITEMS", "Malformed", too_many_items),
        ("map with more than MAX_MAP_KEYS keys", "Malformed", too_many_keys),
        ("5 as uint8", "NonCanonical", _h("cc05")),
        ("5 as int8", "NonCanonical", _h("d005")),
        ("5 as uint64", "NonCanonical", _h("cf0000000000000005")),
        ("255 as uint16", "NonCanonical", _h("cd00ff")),
        ("-16 as int8", "NonCanonical", _h("d0f0")),
        ("-128 as int16", "NonCanonical", _h("d1ff80")),
        ("200 as int16", "NonCanonical", _h("d100c8")),
        ("str8 where fixstr fits", "NonCanonical", _h("d90161")),
        ("str16 where fixstr fits", "NonCanonical", _h("da000161")),
        ("bin16 where bin8 fits", "NonCanonical", _h("c5000100")),
        ("array16 where fixarray fits", "NonCanonical", _h("dc0000")),
        ("map16 where fixmap fits", "NonCanonical", _h("de0000")),
        ("unsorted keys", "NonCanonical", _h("82a16201a16102")),
        ("duplicate key", "NonCanonical", _h("82a16101a16102")),
        ("duplicate key, a float in the first copy", "Malformed", _h("82a161cb3ff8000000000000a16101")),
        ("duplicate key, a float in the last copy", "Malformed", _h("82a16101a161cb3ff8000000000000")),
    ]
    return valid, invalid


# --- records -----------------------------------------------------------------------------


class _Base:
    """A valid offer record of the founder, to break one check at a time."""

    def __init__(self, ids: dict[str, bytes]) -> None:
        self.secret = _secret(_FOUNDER_SEED)
        self.fields = dict(
            author=self.secret[32:],
            neighbourhood=ids["neighbourhood"],
            seq=7,
            prev=ids["offer"],
            lamport=30,
            time=1_764_000_000_000 + 30 * 60_000,
            kind="offer",
            body={"item": "leeks", "quantity": 6, "unit": "item"},
        )

    def payload_map(self, **changes: Any) -> dict:
        """The payload as a map with the given letter keys replaced (None value
        via ``_NIL``) or removed (``_DROP``)."""
        f = self.fields
        out = {"a": f["author"], "b": f["body"], "c": f["lamport"], "k": f["kind"],
               "n": f["neighbourhood"], "p": f["prev"], "s": f["seq"], "t": f["time"], "v": 1}
        for key, value in changes.items():
            if value is _DROP:
                del out[key]
            else:
                out[key] = None if value is _NIL else value
        return out

    def payload(self, **changes: Any) -> bytes:
        return canonical.encode(self.payload_map(**changes))

    def body(self, **changes: Any) -> bytes:
        body = dict(self.fields["body"])
        body.update(changes)
        return self.payload(b=body)

    def signed(self, payload: bytes, secret: bytes | None = None) -> bytes:
        return assemble(payload, sign_payload(secret or self.secret, payload))

    def record(self, **changes: Any) -> bytes:
        return self.signed(self.payload(**changes))

    def kind_body(self, kind: str, body: dict) -> bytes:
        return self.record(k=kind, b=body)


_DROP, _NIL = object(), object()


def _swap(data: bytes, old: bytes, new: bytes) -> bytes:
    assert data.count(old) == 1, (old, data.count(old))
    return data.replace(old, new)


def _envelope_cases(base: _Base) -> Iterator[tuple[str, str, str, bytes]]:
    payload = base.payload()
    sig = sign_payload(base.secret, payload)
    good = assemble(payload, sig)
    yield "empty input", "Malformed", "record is not msgpack", b""
    yield "truncated", "Malformed", "record ends early", good[:-1]
    yield "trailing byte", "Malformed", "bytes after the record", good + b"\x00"
    yield "outer map", "Malformed", "record is not a 2-array", canonical.encode({"p": payload})
    yield ("outer 3-array", "Malformed", "record is not a 2-array",
           canonical.encode([payload, sig, b""]))
    yield ("payload as text", "WrongType", "payload must be bin",
           canonical.encode(["offer", sig]))
    yield "signature as text", "WrongType", "signature must be bin", canonical.encode([payload, "x" * 64])
    yield ("signature 63 bytes", "BadLength", "signature must be 64 bytes",
           assemble(payload, sig[:63]))
    yield ("outer array16", "NonCanonical", "outer array must be fixarray",
           b"\xdc\x00\x02" + good[1:])
    yield ("signature as bin16", "NonCanonical", "64-byte bin must be bin8",
           _swap(good, b"\xc4\x40" + sig, b"\xc5\x00\x40" + sig))
    unsorted = b"\x89" + b"".join(
        canonical.encode(k) + canonical.encode(v)
        for k, v in sorted(base.payload_map().items(), reverse=True)
    )
    yield "unsorted payload keys", "NonCanonical", "payload keys out of order", base.signed(unsorted)
    yield ("payload map16", "NonCanonical", "9-key map must be fixmap",
           base.signed(b"\xde\x00\x09" + payload[1:]))
    yield ("duplicate payload key", "NonCanonical", "key 'v' twice",
           base.signed(b"\x8a" + payload[1:] + b"\xa1v\x01"))
    yield ("seq as uint8", "NonCanonical", "seq 7 must be a fixint",
           base.signed(_swap(payload, b"\xa1s\x07", b"\xa1s\xcc\x07")))
    yield ("seq as int8", "NonCanonical", "positive ints use unsigned forms",
           base.signed(_swap(payload, b"\xa1s\x07", b"\xa1s\xd0\x07")))
    yield ("kind as str8", "NonCanonical", "'offer' must be fixstr",
           base.signed(_swap(payload, b"\xa1k\xa5offer", b"\xa1k\xd9\x05offer")))
    yield ("float in body", "Malformed", "no floats",
           base.signed(_swap(payload, b"\xa8quantity\x06", b"\xa8quantity" + msgpack.packb(6.0))))
    yield ("ext in body", "Malformed", "no ext types",
           base.signed(_swap(payload, b"\xa8quantity\x06", b"\xa8quantity\xd4\x01\x06")))
    yield ("invalid UTF-8 in body", "Malformed", "text must be valid UTF-8",
           base.signed(_swap(payload, b"\xa5leeks", b"\xa5le\xffks")))
    yield ("integer key in body", "Malformed", "map keys must be text",
           base.signed(_swap(payload, b"\xa4unit", b"\x04")))
    yield "payload is an array", "WrongType", "payload must be a map", base.signed(canonical.encode([1]))
    yield "unknown envelope field", "UnknownField", "only a b c k n p s t v", base.record(x=1)
    yield "missing time", "MissingField", "every envelope field is required", base.record(t=_DROP)
    yield "missing version", "MissingField", "v is required", base.record(v=_DROP)
    yield "version 2", "UnsupportedVersion", "only v = 1 is defined", base.record(v=2)
    yield ("version 2 with a new field", "UnsupportedVersion", "version is checked before fields",
           base.record(v=2, x=1))
    yield "version as text", "WrongType", "v must be an integer", base.record(v="1")
    yield "author 31 bytes", "BadLength", "author is a 32-byte key", base.record(a=bytes(31))
    yield "author as text", "WrongType", "author must be bin", base.record(a="founder")
    yield "kind empty", "OutOfRange", "kind is 1..32 bytes", base.record(k="")
    yield "kind 33 bytes", "OutOfRange", "kind is 1..32 bytes", base.record(k="k" * 33)
    yield "kind as integer", "WrongType", "kind must be text", base.record(k=7)
    yield ("genesis with a neighbourhood id", "BadLength", "n is empty in the genesis record",
           base.record(k="neighbourhood", b={"name": "Elm Street"}))
    yield "empty neighbourhood id", "BadLength", "n is 32 bytes outside genesis", base.record(n=b"")
    yield "neighbourhood as text", "WrongType", "n must be bin", base.record(n="Elm Street")
    yield "seq 0", "OutOfRange", "seq starts at 1", base.record(s=0, p=_NIL)
    yield "seq negative", "OutOfRange", "seq starts at 1", base.record(s=-1)
    yield "seq 2^63", "OutOfRange", "seq fits int64", base.record(s=2**63, c=2**63)
    yield "seq as bool", "WrongType", "true is not an integer", base.record(s=True)
    yield "lamport 0", "OutOfRange", "lamport starts at 1", base.record(c=0)
    yield "lamport below seq", "OutOfRange", "lamport >= seq", base.record(c=6)
    yield "time negative", "OutOfRange", "time is ms since the epoch, >= 0", base.record(t=-1)
    yield "time as text", "WrongType", "time must be an integer", base.record(t="2025-11-24")
    yield "prev with seq 1", "WrongType", "prev is nil exactly when seq is 1", base.record(s=1)
    yield "no prev with seq 7", "WrongType", "prev is nil exactly when seq is 1", base.record(p=_NIL)
    yield "prev 31 bytes", "BadLength", "prev is a 32-byte id", base.record(p=bytes(31))
    yield "body as array", "WrongType", "body must be a map", base.record(b=["leeks"])
    big = {"blob": "x" * (limits.MAX_RECORD_BYTES - 250)}
    while len(base.kind_body("tool_loan", big)) <= limits.MAX_RECORD_BYTES:
        big["blob"] += "x"
    yield ("record over MAX_RECORD_BYTES", "TooLarge", "checked before parsing",
           base.kind_body("tool_loan", big))


def _signature_cases(base: _Base) -> Iterator[tuple[str, str, str, bytes]]:
    payload = base.payload()
    sig = sign_payload(base.secret, payload)
    yield ("signed by another key", "BadSignature", "author's key must sign",
           base.signed(payload, _secret(_JOINER_SEED)))
    yield ("signature bit flipped", "BadSignature", "any change breaks it",
           assemble(payload, bytes([sig[0] ^ 1]) + sig[1:]))
    yield ("payload changed after signing", "BadSignature", "quantity 6 -> 7",
           assemble(_swap(payload, b"\xa8quantity\x06", b"\xa8quantity\x07"), sig))
    bare = nacl.bindings.crypto_sign(payload, base.secret)[:64]
    yield "signed without context", "BadSignature", "SIGNING_CONTEXT is signed", assemble(payload, bare)
    s = int.from_bytes(sig[32:], "little") + ED25519_L
    yield ("non-canonical S", "BadSignature", "S + L verifies only under lax rules",
           assemble(payload, sig[:32] + s.to_bytes(32, "little")))
    identity = b"\x01" + bytes(31)
    weak = base.payload(a=identity)
    yield ("small-order author key", "BadSignature", "identity key, R = identity, S = 0",
           assemble(weak, identity + bytes(32)))


def _body_cases(base: _Base, ids: dict[str, bytes]) -> Iterator[tuple[str, str, str, bytes]]:
    rid = ids["offer"]
    cases: list[tuple[str, str, str, dict]] = [
        ("offer without item", "offer", "required field", {"quantity": 6, "unit": "item"}),
        ("offer quantity 0", "offer", "quantities are >= 1",
         {"item": "leeks", "quantity": 0, "unit": "item"}),
        ("offer quantity over MAX_QUANTITY", "offer", "quantities are <= 10^12",
         {"item": "leeks", "quantity": limits.MAX_QUANTITY + 1, "unit": "item"}),
        ("offer quantity as text", "offer", "quantities are integers",
         {"item": "leeks", "quantity": "6", "unit": "item"}),
        ("offer quantity as bool", "offer", "true is not a quantity",
         {"item": "leeks", "quantity": True, "unit": "item"}),
        ("offer blank item", "offer", "labels are not blank",
         {"item": "  ", "quantity": 6, "unit": "item"}),
        ("offer label over MAX_LABEL_BYTES", "offer", "labels are <= 200 bytes",
         {"item": "l" * (limits.MAX_LABEL_BYTES + 1), "quantity": 6, "unit": "item"}),
        ("offer note over MAX_TEXT_BYTES", "offer", "texts are <= 16 KiB",
         {"item": "leeks", "quantity": 6, "unit": "item", "note": "n" * (limits.MAX_TEXT_BYTES + 1)}),
        ("offer tags not a list", "offer", "tags are a list of labels",
         {"item": "leeks", "quantity": 6, "unit": "item", "tags": "vegan"}),
        ("offer best_before negative", "offer", "times are >= 0",
         {"item": "leeks", "quantity": 6, "unit": "item", "best_before": -1}),
        ("invite uses 0", "invite", "uses is 1..1000",
         {"key": bytes(32), "expires": 1, "uses": 0}),
        ("invite key 31 bytes", "invite", "keys are 32 bytes",
         {"key": bytes(31), "expires": 1, "uses": 1}),
        ("join proof 63 bytes", "join", "proof is a 64-byte signature",
         {"invite": rid, "proof": bytes(63)}),
        ("device_link without device", "device_link", "required field", {"name": "phone"}),
        ("revoke after_seq negative", "revoke", "after_seq >= 0",
         {"member": bytes(32), "after_seq": -1}),
        ("offer_update with no offer field", "offer_update", "must change a field",
         {"offer": rid, "colour": "green"}),
        ("offer_update id 31 bytes", "offer_update", "ids are 32 bytes",
         {"offer": rid[:31], "quantity": 1}),
        ("claim without quantity", "claim", "required field", {"offer": rid}),
        ("claim_cancel claim as text", "claim_cancel", "ids are bin", {"claim": rid.hex()}),
        ("accept without quantity", "claim_decision", "an accept states the quantity",
         {"claim": rid, "accept": True}),
        ("accept as integer", "claim_decision", "accept is a bool", {"claim": rid, "accept": 1}),
        ("pickup as text", "claim_decision", "pickup is a sealed box (bin)",
         {"claim": rid, "accept": True, "quantity": 1, "pickup": "side gate"}),
        ("handover without claim", "handover", "required field", {"note": "thanks"}),
        ("meal need without unit", "meal", "need lines are item, quantity, unit",
         {"dish": "soup", "time": 1, "place": "hall", "needs": [{"item": "leeks", "quantity": 2}]}),
        ("pledge quantity 0", "pledge", "quantities are >= 1",
         {"meal": rid, "item": "rice", "quantity": 0, "unit": "g"}),
        ("recipe amount with a comma", "recipe", "amounts are decimal strings",
         {"title": "soup", "ingredients": [{"item": "salt", "amount": "1,5"}]}),
        ("recipe amount with zero denominator", "recipe", "fractions have a denominator",
         {"title": "soup", "ingredients": [{"item": "salt", "amount": "1/0"}]}),
        ("recipe amount with trailing newline", "recipe", "the whole string must match",
         {"title": "soup", "ingredients": [{"item": "salt", "amount": "1.5\n"}]}),
        ("recipe amount in Arabic-Indic digits", "recipe", "ASCII digits only",
         {"title": "soup", "ingredients": [{"item": "salt", "amount": "\u0661"}]}),
        ("recipe amount as integer", "recipe", "amounts are strings",
         {"title": "soup", "ingredients": [{"item": "salt", "amount": 2}]}),
        ("recipe serves 0", "recipe", "serves is 1..10000", {"title": "soup", "serves": 0}),
        ("recipe step not text", "recipe", "steps are texts", {"title": "soup", "steps": [1]}),
        ("recipe_edit with nothing", "recipe_edit", "set or ops required", {"recipe": rid}),
        ("recipe_edit unknown op", "recipe_edit", "op is one of four",
         {"recipe": rid, "ops": [{"op": "move_step", "target": [rid, 0]}]}),
        ("recipe_edit remove without target", "recipe_edit", "remove names its target",
         {"recipe": rid, "ops": [{"op": "remove_step"}]}),
        ("recipe_edit index past the list limit", "recipe_edit", "index < MAX_LIST_ITEMS",
         {"recipe": rid, "ops": [{"op": "remove_step", "target": [rid, limits.MAX_LIST_ITEMS]}]}),
        ("recipe_edit after not a pair", "recipe_edit", "element refs are [id, index]",
         {"recipe": rid, "ops": [{"op": "insert_step", "after": [rid], "text": "stir"}]}),
        ("recipe_edit insert_step without text", "recipe_edit", "a step has text",
         {"recipe": rid, "ops": [{"op": "insert_step", "after": None}]}),
        ("recipe_edit set serves as text", "recipe_edit", "set fields keep their types",
         {"recipe": rid, "set": {"serves": "six"}}),
        ("story without text", "story", "required field", {"recipe": rid, "title": "t"}),
    ]
    for name, kind, check, body in cases:
        yield name, "InvalidBody", check, base.kind_body(kind, body)


def invalid_record_cases(ids: dict[str, bytes]) -> Iterator[tuple[str, str, str, bytes]]:
    """(name, error class name, the check, raw record bytes) for every invalid vector."""
    base = _Base(ids)
    yield from _envelope_cases(base)
    yield from _signature_cases(base)
    yield from _body_cases(base, ids)
    # Encoded directly so that no helper can smuggle a fix in.
    assert encode_payload(**base.fields) == base.payload()
