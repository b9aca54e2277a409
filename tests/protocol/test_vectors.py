"""Golden vectors: the codec reproduces every committed byte, and refuses every
invalid record with exactly the error the vector names."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import nacl.bindings
import nacl.exceptions
import pytest

from meshpantry.core import membership
from protocol import canonical, errors, kinds, make_vectors
from protocol.envelope import decode_and_verify, decode_record, seal, verify_record
from protocol.make_vectors import VECTOR_DIR, from_json

ROOT = Path(__file__).resolve().parents[2]


def _load(name: str) -> dict:
    return json.loads((VECTOR_DIR / name).read_text(encoding="utf-8"))


RECORDS = _load("records.json")
INVALID = _load("invalid_records.json")["records"]
CANONICAL = _load("canonical.json")
SEEDS = {key["name"]: bytes.fromhex(key["seed"]) for key in RECORDS["keys"]}


def _secret(name: str) -> bytes:
    return nacl.bindings.crypto_sign_seed_keypair(SEEDS[name])[1]


def _by_name(name: str) -> dict:
    return next(v for v in RECORDS["records"] if v["name"] == name)


@pytest.mark.parametrize("vector", RECORDS["records"], ids=lambda v: v["name"])
def test_sealing_the_fields_reproduces_every_byte(vector: dict) -> None:
    """seal(key, fields) gives exactly the committed payload, signature, raw bytes and id."""
    record = seal(_secret(vector["author"]), **from_json(vector["fields"]))
    assert record.payload.hex() == vector["payload"]
    assert record.signature.hex() == vector["signature"]
    assert record.raw.hex() == vector["raw"]
    assert record.id.hex() == vector["id"]


@pytest.mark.parametrize("vector", RECORDS["records"], ids=lambda v: v["name"])
def test_decoding_the_raw_bytes_gives_back_the_fields(vector: dict) -> None:
    """decode_and_verify(raw) yields the vector's fields, id = SHA-256(payload)."""
    raw = bytes.fromhex(vector["raw"])
    record = decode_and_verify(raw)
    fields = from_json(vector["fields"])
    assert record.raw == raw
    assert record.author.hex() == next(
        k["public"] for k in RECORDS["keys"] if k["name"] == vector["author"]
    )
    for name in ("neighbourhood", "seq", "prev", "lamport", "time", "kind", "body"):
        assert getattr(record, name) == fields[name], name
    assert record.id == hashlib.sha256(bytes.fromhex(vector["payload"])).digest()
    assert record.known_kind is vector["known_kind"]


def test_every_kind_has_a_valid_vector_and_an_unknown_kind_is_kept() -> None:
    """All kinds in kinds.SCHEMAS appear, and the unknown kind decodes uninterpreted."""
    seen = {v["fields"]["kind"] for v in RECORDS["records"]}
    assert set(kinds.SCHEMAS) <= seen
    unknown = [v for v in RECORDS["records"] if v["fields"]["kind"] not in kinds.SCHEMAS]
    assert unknown
    for vector in unknown:
        record = decode_and_verify(bytes.fromhex(vector["raw"]))
        assert not record.known_kind
        assert record.body == from_json(vector["fields"]["body"])


def test_vector_chains_link_and_genesis_id_is_the_neighbourhood() -> None:
    """Each author's records run seq 1, 2, 3... with prev = id of the one before."""
    heads: dict[str, tuple[int, bytes | None]] = {}
    genesis = decode_record(bytes.fromhex(_by_name("genesis")["raw"]))
    for vector in RECORDS["records"]:
        record = decode_record(bytes.fromhex(vector["raw"]))
        seq, prev = heads.get(vector["author"], (0, None))
        assert (record.seq, record.prev) == (seq + 1, prev)
        heads[vector["author"]] = (record.seq, record.id)
        if record.kind != "neighbourhood":
            assert record.neighbourhood == genesis.id


def test_join_vector_proof_is_accepted_by_membership() -> None:
    """The join proof is the invite key's signature that membership checks."""
    assert make_vectors.JOIN_CONTEXT == membership.JOIN_CONTEXT
    join = decode_record(bytes.fromhex(_by_name("join")["raw"]))
    invite = decode_record(bytes.fromhex(_by_name("invite")["raw"]))
    assert join.body["invite"] == invite.id
    assert membership.join_proof_valid(
        invite.body["key"], join.body["proof"], join.neighbourhood, join.author
    )
    # The proof binds the joiner: it is worthless for any other key.
    assert not membership.join_proof_valid(
        invite.body["key"], join.body["proof"], join.neighbourhood, invite.author
    )


def test_pickup_vector_opens_only_for_the_claimant() -> None:
    """The sealed pickup opens with crypto_box_seal_open under the claimant's
    Ed25519 key converted to X25519, and not under the offerer's."""
    vector = _by_name("claim_decision_accept")
    sealed = decode_record(bytes.fromhex(vector["raw"])).body["pickup"]
    claim = decode_record(bytes.fromhex(_by_name("claim")["raw"]))

    def open_with(name: str) -> bytes:
        public, secret = nacl.bindings.crypto_sign_seed_keypair(SEEDS[name])
        return nacl.bindings.crypto_box_seal_open(
            sealed,
            nacl.bindings.crypto_sign_ed25519_pk_to_curve25519(public),
            nacl.bindings.crypto_sign_ed25519_sk_to_curve25519(secret),
        )

    assert claim.author == nacl.bindings.crypto_sign_seed_keypair(SEEDS["joiner"])[0]
    assert open_with("joiner") == from_json(vector["pickup_plaintext"])
    with pytest.raises(nacl.exceptions.CryptoError):
        open_with("founder")


@pytest.mark.parametrize("vector", INVALID, ids=lambda v: v["name"])
def test_each_invalid_record_fails_with_exactly_its_named_error(vector: dict) -> None:
    """decode_and_verify raises the named class (not a subclass or parent) with its data."""
    raw = bytes.fromhex(vector["raw"])
    expected = getattr(errors, vector["error"])
    with pytest.raises(errors.RemoteError) as caught:
        decode_and_verify(raw)
    assert type(caught.value) is expected, caught.value
    assert make_vectors.error_data(caught.value) == vector["data"]
    if expected is errors.BadSignature:
        record = decode_record(raw)  # decodes: only the signature is wrong
        with pytest.raises(errors.BadSignature):
            verify_record(record)


def test_invalid_vectors_cover_every_error_class() -> None:
    """Every check the decoder can fail has at least one vector."""
    named = {v["error"] for v in INVALID}
    wanted = {
        "TooLarge", "Malformed", "NonCanonical", "WrongType", "MissingField", "UnknownField",
        "BadLength", "OutOfRange", "UnsupportedVersion", "BadSignature", "InvalidBody",
    }
    assert wanted <= named


@pytest.mark.parametrize("vector", CANONICAL["valid"], ids=lambda v: v["name"])
def test_canonical_encoding_vectors(vector: dict) -> None:
    """encode(value) is exactly the committed bytes, and they decode to the value."""
    value = from_json(vector["value"])
    data = bytes.fromhex(vector["hex"])
    assert canonical.encode(value) == data
    assert canonical.decode(data, what="value", max_bytes=len(data)) == value


@pytest.mark.parametrize("vector", CANONICAL["invalid"], ids=lambda v: v["name"])
def test_canonical_decoding_refuses(vector: dict) -> None:
    """Each refused byte string fails with exactly its named error."""
    with pytest.raises(errors.DecodeError) as caught:
        canonical.decode(
            bytes.fromhex(vector["hex"]), what="value", max_bytes=CANONICAL["max_bytes_for_invalid"]
        )
    assert type(caught.value).__name__ == vector["error"]


def test_committed_vectors_match_the_code() -> None:
    """python -m protocol.make_vectors --check exits 0: nothing has drifted."""
    result = subprocess.run(
        [sys.executable, "-m", "protocol.make_vectors", "--check"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr


def test_check_mode_notices_drift(tmp_path: Path) -> None:
    """A changed or missing vector file is reported as drift."""
    for name, doc in make_vectors.documents().items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(make_vectors.render(doc), encoding="utf-8")
    assert make_vectors.drift(tmp_path) == []
    path = tmp_path / "records.json"
    path.write_text(path.read_text(encoding="utf-8").replace('"uses": 1', '"uses": 2'))
    (tmp_path / "canonical.json").unlink()
    assert sorted(make_vectors.drift(tmp_path)) == ["canonical.json", "records.json"]


def test_the_vector_log_is_a_valid_neighbourhood() -> None:
    """Under the core's rules every vector record counts (membership, authority,
    references), except the unknown kind, which is kept uninterpreted."""
    from meshpantry.core.state import build_state

    records = [decode_and_verify(bytes.fromhex(v["raw"])) for v in RECORDS["records"]]
    state = build_state(records, records[0].id)
    assert state.rejected == {} and state.waiting == {}
    unknown = {r.id for r in records if not r.known_kind}
    assert set(state.uninterpreted) == unknown
