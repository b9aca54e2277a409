"""Regenerate the golden vectors in ``protocol/vectors/`` from fixed keys and inputs.

Usage::

    python -m protocol.make_vectors           # rewrite the JSON files
    python -m protocol.make_vectors --check   # exit 1 if they differ from the code

Everything here is deterministic: Ed25519 signatures are deterministic, keys come
from fixed seeds, times are fixed, and the one sealed box uses a fixed ephemeral
key (see :func:`seal_to`), so the files change only when the wire format does.

Files (SPEC.md section 10 explains how to read them):

* ``canonical.json``: values with their canonical bytes, and byte strings that
  canonical decoding must refuse, each with the error it must raise;
* ``records.json``: the keys, then a small neighbourhood's log with at least one
  valid record of every kind plus one of an unknown kind;
* ``invalid_records.json``: records that each break exactly one check and name
  the error (a class in ``protocol.errors``) they must fail with.
* ``views/*.json``: record sets and the views they give
  (:mod:`protocol.view_vectors`).

JSON conventions: text is a JSON string, ``{"$bin": "<hex>"}`` is a byte string,
``{"$int": "<decimal>"}`` an integer outside +-2^53, a JSON object a msgpack map.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Callable

import nacl.bindings
import nacl.hashlib

from . import canonical, errors, kinds, sync_vectors, view_vectors
from .envelope import decode_and_verify, seal
from .vector_cases import canonical_cases, invalid_record_cases

VECTOR_DIR = Path(__file__).parent / "vectors"

#: Fixed time of the first record: 2025-11-24 16:00:00 UTC, in ms.
T0 = 1_764_000_000_000
MINUTE = 60_000
DAY = 24 * 60 * MINUTE

#: Must equal meshpantry.core.membership.JOIN_CONTEXT (a test checks it).
JOIN_CONTEXT = b"meshpantry/join/v1\x00"

# Error attributes that are portable facts about the failed check. Free-text
# reasons and found-type names are implementation wording and stay out.
_ERROR_DATA = ("what", "field", "kind", "size", "limit", "version", "value", "low", "high")


# --- JSON with byte strings and big integers ------------------------------------------


def to_json(value: Any) -> Any:
    """A JSON-ready form of a msgpack value (see the module docstring)."""
    if isinstance(value, bytes):
        return {"$bin": value.hex()}
    if type(value) is int and abs(value) >= 2**53:
        return {"$int": str(value)}
    if isinstance(value, dict):
        assert all(not key.startswith("$") for key in value), "keys starting with $ are tags"
        return {key: to_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(item) for item in value]
    return value


def from_json(value: Any) -> Any:
    """The msgpack value that :func:`to_json` produced ``value`` from."""
    if isinstance(value, dict):
        if set(value) == {"$bin"}:
            return bytes.fromhex(value["$bin"])
        if set(value) == {"$int"}:
            return int(value["$int"])
        return {key: from_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [from_json(item) for item in value]
    return value


# --- keys ---------------------------------------------------------------------------------


class Key:
    """An Ed25519 key made from a fixed 32-byte seed."""

    def __init__(self, name: str, seed: bytes) -> None:
        self.name, self.seed = name, seed
        self.public, self.secret = nacl.bindings.crypto_sign_seed_keypair(seed)

    def as_json(self) -> dict:
        return {"name": self.name, "seed": self.seed.hex(), "public": self.public.hex()}


FOUNDER = Key("founder", bytes([1]) * 32)
JOINER = Key("joiner", bytes([2]) * 32)
SECOND_DEVICE = Key("second_device", bytes([3]) * 32)
INVITE = Key("invite", bytes([9]) * 32)
#: Seed of the one-time X25519 key of the sealed pickup box (normally random).
PICKUP_EPHEMERAL_SEED = bytes([14]) * 32
KEYS = (FOUNDER, JOINER, SECOND_DEVICE, INVITE)


def seal_to(recipient_ed25519: bytes, plaintext: bytes, ephemeral_seed: bytes) -> bytes:
    """``crypto_box_seal`` with a chosen ephemeral key, so the vector is fixed.

    Same construction as libsodium: ``epk || crypto_box(m, nonce, rpk, esk)``
    with ``nonce = BLAKE2b-192(epk || rpk)`` and ``rpk`` the recipient's Ed25519
    key converted to X25519. Real nodes call ``crypto_box_seal`` (random epk).
    """
    rpk = nacl.bindings.crypto_sign_ed25519_pk_to_curve25519(recipient_ed25519)
    epk, esk = nacl.bindings.crypto_box_seed_keypair(ephemeral_seed)
    nonce = nacl.hashlib.blake2b(epk + rpk, digest_size=24).digest()
    return epk + nacl.bindings.crypto_box(plaintext, nonce, rpk, esk)


def join_proof(invite: Key, neighbourhood: bytes, joiner: bytes) -> bytes:
    """The invite key's detached signature over JOIN_CONTEXT + neighbourhood + joiner."""
    return nacl.bindings.crypto_sign(JOIN_CONTEXT + neighbourhood + joiner, invite.secret)[:64]


# --- the valid log -----------------------------------------------------------------------


class Log:
    """Builds per-author chains; every record sees all earlier ones (Lamport)."""

    def __init__(self) -> None:
        self.heads: dict[bytes, tuple[int, bytes | None]] = {}
        self.lamport = 0
        self.vectors: list[dict] = []
        self.neighbourhood = b""

    def add(self, name: str, key: Key, kind: str, body: dict, note: str = "", **extra: Any) -> bytes:
        seq, prev = self.heads.get(key.public, (0, None))
        self.lamport += 1
        fields = {
            "neighbourhood": self.neighbourhood,
            "seq": seq + 1,
            "prev": prev,
            "lamport": self.lamport,
            "time": T0 + self.lamport * MINUTE,
            "kind": kind,
            "body": body,
        }
        record = seal(key.secret, **fields)
        assert decode_and_verify(record.raw) == record
        self.heads[key.public] = (record.seq, record.id)
        vector = {"name": name, "author": key.name, "note": note, "fields": to_json(fields)}
        vector.update({k: to_json(v) for k, v in extra.items()})
        vector.update(
            payload=record.payload.hex(),
            signature=record.signature.hex(),
            raw=record.raw.hex(),
            id=record.id.hex(),
            known_kind=record.known_kind,
        )
        self.vectors.append(vector)
        return record.id


def build_log() -> tuple[list[dict], dict[str, bytes]]:
    """The valid records, and the ids of some of them (for the invalid cases)."""
    log = Log()
    ids: dict[str, bytes] = {}
    genesis = log.add(
        "genesis", FOUNDER, "neighbourhood",
        {"name": "Elm Street", "description": "Twelve houses and the allotments behind them."},
        "its id is the neighbourhood id; n is empty",
    )
    log.neighbourhood = ids["neighbourhood"] = genesis
    log.add("founder_household", FOUNDER, "household",
            {"name": "Okafor household", "area": "north end", "note": "Ring twice."})
    invite = log.add(
        "invite", FOUNDER, "invite",
        {"key": INVITE.public, "expires": T0 + 7 * DAY, "uses": 1, "note": "for the Nguyens"},
        "key is the public half of a one-time key; its seed is in the invite code",
    )
    log.add("device_link", FOUNDER, "device_link",
            {"device": SECOND_DEVICE.public, "name": "kitchen laptop"})
    offer = ids["offer"] = log.add(
        "offer", FOUNDER, "offer",
        {
            "item": "tomatoes", "quantity": 2000, "unit": "g",
            "best_before": T0 + 4 * DAY, "pickup_from": T0 + DAY, "pickup_until": T0 + 2 * DAY,
            "area": "north end", "tags": ["vegan", "garden"], "allergens": [],
            "note": "Ripe, some split. Bring a bag.",
        },
        "quantity is an integer in the stated unit (grams)",
    )
    log.add("offer_update", FOUNDER, "offer_update",
            {"offer": offer, "quantity": 1500, "note": "500 g went to the soup."},
            "changes only the fields it carries")
    joined = log.add(
        "join", JOINER, "join",
        {"invite": invite, "proof": join_proof(INVITE, genesis, JOINER.public)},
        "proof = Ed25519 by the invite key over JOIN_CONTEXT + neighbourhood id + joiner key",
        join_context=JOIN_CONTEXT, invite_seed=INVITE.seed,
    )
    assert joined
    log.add("joiner_household", JOINER, "household",
            {"name": "Nguyen household", "languages": ["vi", "en"]},
            "'languages' is not in the schema: unknown body fields are allowed and ignored")
    bread = log.add("second_device_offer", SECOND_DEVICE, "offer",
                    {"item": "sourdough loaf", "quantity": 2, "unit": "item"}, "the minimal offer")
    claim = log.add("claim", JOINER, "claim",
                    {"offer": offer, "quantity": 500, "message": "For a salad tonight?"})
    spare = log.add("claim_for_cancel", JOINER, "claim", {"offer": offer, "quantity": 300})
    log.add("claim_cancel", JOINER, "claim_cancel", {"claim": spare},
            "only the claim's author may cancel it")
    bread_claim = log.add("claim_bread", JOINER, "claim", {"offer": bread, "quantity": 1})
    pickup_text = "Side gate, blue crate under the bench. After 5 pm.".encode("utf-8")
    log.add(
        "claim_decision_accept", FOUNDER, "claim_decision",
        {"claim": claim, "accept": True, "quantity": 500,
         "pickup": seal_to(JOINER.public, pickup_text, PICKUP_EPHEMERAL_SEED)},
        "pickup is a sealed box to the claimant's key converted to X25519",
        pickup_plaintext=pickup_text, pickup_ephemeral_seed=PICKUP_EPHEMERAL_SEED,
    )
    log.add("claim_decision_decline", SECOND_DEVICE, "claim_decision",
            {"claim": bread_claim, "accept": False, "reason": "Already promised, sorry."})
    log.add("handover", JOINER, "handover", {"claim": claim, "note": "Collected, thank you!"})
    meal = log.add(
        "meal", FOUNDER, "meal",
        {"dish": "jollof rice", "time": T0 + 3 * DAY, "place": "community hall",
         "needs": [{"item": "rice", "quantity": 3000, "unit": "g"},
                   {"item": "onions", "quantity": 6, "unit": "item"}]},
    )
    log.add("pledge", JOINER, "pledge",
            {"meal": meal, "item": "rice", "quantity": 1000, "unit": "g", "note": "jasmine"})
    recipe = log.add(
        "recipe", FOUNDER, "recipe",
        {
            "title": "Outage jollof", "origin": "Nigeria", "serves": 8,
            "tags": ["born in the outage"],
            "ingredients": [
                {"item": "rice", "amount": "1.5", "unit": "kg"},
                {"item": "tomatoes", "amount": "1 1/2", "unit": "kg", "note": "very ripe"},
                {"item": "salt", "amount": "1/2", "unit": "tsp"},
            ],
            "steps": ["Fry the onions.", "Add tomatoes; cook down.", "Add rice and stock."],
            "story": "Cooked on three camping stoves the night the lights went out.",
        },
        "amounts are decimal strings; steps and ingredients are ordered lists",
    )
    log.add(
        "recipe_edit", JOINER, "recipe_edit",
        {
            "recipe": recipe,
            "set": {"serves": 10},
            "ops": [
                {"op": "insert_step", "after": [recipe, 1], "text": "Stir in the pepper paste."},
                {"op": "remove_ingredient", "target": [recipe, 2]},
                {"op": "insert_ingredient", "after": None, "item": "scotch bonnet",
                 "amount": "2", "unit": "item"},
            ],
        },
        "elements are [id of the record that added them, index in its list]",
    )
    log.add("story", JOINER, "story",
            {"recipe": recipe, "title": "Three stoves", "text": "We fed forty people that night."})
    log.add("revoke", FOUNDER, "revoke",
            {"member": SECOND_DEVICE.public, "after_seq": 2, "reason": "laptop stolen"},
            "records of the device with seq > after_seq stop counting")
    log.add("offer_withdraw", FOUNDER, "offer_withdraw", {"offer": offer})
    log.add(
        "unknown_kind", JOINER, "tool_loan",
        {"item": "pressure cooker", "until": T0 + 5 * DAY, "\uff61": 1, "\U0001f600": 2},
        "not in the kind table: decodes, is stored and forwarded, is not interpreted; "
        "its keys sort by UTF-8 bytes (U+FF61 before U+1F600)",
    )
    log.add("invite_cancel", FOUNDER, "invite_cancel", {"invite": invite, "uses": 1, "reason": "not needed again"},
            "the invite now admits only the joins its author had counted (uses)")
    return log.vectors, ids


# --- invalid records ---------------------------------------------------------------------


def error_data(exc: Exception) -> dict:
    """The portable attributes of a protocol error, as JSON."""
    return {k: to_json(getattr(exc, k)) for k in _ERROR_DATA if hasattr(exc, k)}


def expect_failure(raw: bytes, check: Callable[[bytes], Any]) -> Exception:
    try:
        check(raw)
    except errors.RemoteError as exc:
        return exc
    raise AssertionError(f"{raw.hex()[:60]}... was accepted")


def build_invalid(ids: dict[str, bytes]) -> list[dict]:
    out = []
    for name, error, check, raw in invalid_record_cases(ids):
        exc = expect_failure(raw, decode_and_verify)
        got = type(exc).__name__
        assert got == error, f"{name}: expected {error}, got {got}: {exc}"
        out.append({"name": name, "check": check, "error": error,
                    "data": error_data(exc), "raw": raw.hex()})
    return out


def build_canonical() -> dict:
    valid, invalid = canonical_cases()
    good = []
    for name, value, expected in valid:
        encoded = canonical.encode(value)
        assert encoded.hex() == expected, f"{name}: {encoded.hex()} != {expected}"
        assert canonical.decode(encoded, what="value", max_bytes=len(encoded)) == value
        good.append({"name": name, "value": to_json(value), "hex": expected})
    bad = []
    for name, error, data in invalid:
        exc = expect_failure(data, lambda b: canonical.decode(b, what="value", max_bytes=1024))
        assert type(exc).__name__ == error, f"{name}: expected {error}, got {exc!r}"
        bad.append({"name": name, "error": error, "hex": data.hex()})
    return {"max_bytes_for_invalid": 1024, "valid": good, "invalid": bad}


# --- files -------------------------------------------------------------------------------


def documents() -> dict[str, Any]:
    """File name -> JSON document, computed from the code."""
    valid, ids = build_log()
    kinds_seen = {v["fields"]["kind"] for v in valid}
    assert set(kinds.SCHEMAS) <= kinds_seen, set(kinds.SCHEMAS) - kinds_seen
    return {
        "canonical.json": build_canonical(),
        "records.json": {
            "keys": [key.as_json() for key in KEYS],
            "records": valid,
        },
        "invalid_records.json": {"records": build_invalid(ids)},
        **view_vectors.documents(),
        **sync_vectors.documents(),
    }


def render(doc: Any) -> str:
    return json.dumps(doc, indent=1, ensure_ascii=False) + "\n"


def drift(directory: Path = VECTOR_DIR) -> list[str]:
    """Names of vector files that are missing or differ from what the code makes."""
    stale = []
    for name, doc in documents().items():
        path = directory / name
        if not path.exists() or path.read_text(encoding="utf-8") != render(doc):
            stale.append(name)
    return stale


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args == ["--check"]:
        stale = drift()
        for name in stale:
            print(f"protocol/vectors/{name} differs from the code; "
                  "run python -m protocol.make_vectors", file=sys.stderr)
        return 1 if stale else 0
    if args:
        print("usage: python -m protocol.make_vectors [--check]", file=sys.stderr)
        return 2
    for name, doc in documents().items():
        (VECTOR_DIR / name).parent.mkdir(parents=True, exist_ok=True)
        (VECTOR_DIR / name).write_text(render(doc), encoding="utf-8")
        print(f"wrote protocol/vectors/{name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
