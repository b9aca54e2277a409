"""The corpus's seeds: valid and invalid inputs the project already knows.

``python -m tests.fuzz.seeds`` writes them into ``tests/fuzz/corpus/record``
and ``tests/fuzz/corpus/frame`` (file name: the SHA-1 of the content, as
libFuzzer names corpus entries), beside the inputs the fuzzer added there:
every golden record vector (valid and invalid), the protocol corpus of inputs
that once broke the record decoder, and one frame of each type and each
reconcile mode, also as a stream with its length prefix.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from protocol import sync

ROOT = Path(__file__).resolve().parent.parent.parent
CORPUS = Path(__file__).resolve().parent / "corpus"

#: Longer inputs (the 32 KiB size-limit cases) stay in tests/protocol/corpus,
#: which the default suite replays already; the fuzzer grows its own.
MAX_SEED_BYTES = 4096


def record_seeds() -> list[bytes]:
    seeds = []
    for name in ("records.json", "invalid_records.json"):
        vectors = json.loads((ROOT / "protocol" / "vectors" / name).read_text())
        seeds += [bytes.fromhex(v["raw"]) for v in vectors["records"] if len(v["raw"]) <= 2 * MAX_SEED_BYTES]
    for path in sorted((ROOT / "tests" / "protocol" / "corpus").glob("*.hex")):
        lines = path.read_text(encoding="ascii").splitlines()
        data = bytes.fromhex("".join("".join(line.split()) for line in lines if not line.startswith("#")))
        if len(data) <= MAX_SEED_BYTES:
            seeds.append(data)
    return seeds


def frame_seeds() -> list[bytes]:
    raws = record_seeds()[:2]
    ident = bytes(range(32))
    entries = (
        sync.Entry(sync.Bound(3, b"\x01"), sync.Skip()),
        sync.Entry(sync.Bound(9, b"\x02\x03"), sync.Fingerprint(4, bytes(16))),
        sync.Entry(sync.Bound(9, b"\x05"), sync.IdList((ident, ident[::-1]))),
        sync.Entry(sync.Bound(12), sync.WantSums(3)),
        sync.Entry(sync.Bound(40, b"\xff"), sync.Sums(2, bytes(range(16)), (1, 2**63, 5))),
        sync.Entry(sync.INF, sync.Roots(bytes(16), (7, 11))),
    )
    frames = [
        sync.Hello(), sync.Reconcile(entries, (ident,), True), sync.Reconcile((sync.Entry(sync.INF, sync.Skip()),)),
        sync.Records(tuple(raws)), sync.Ack(3), sync.End(True), sync.WantAuthor(ident),
        sync.Abort(sync.ABORT_TIMEOUT, "the peer went silent"),
    ]
    bodies = [sync.encode_body(f) for f in frames]
    return bodies + [sync.encode_frame(f) for f in frames] + [b"".join(sync.encode_frame(f) for f in frames)]


def write(directory: Path, seeds: list[bytes]) -> int:
    directory.mkdir(parents=True, exist_ok=True)
    for seed in seeds:
        (directory / hashlib.sha1(seed).hexdigest()).write_bytes(seed)
    return len(seeds)


if __name__ == "__main__":
    print("record seeds:", write(CORPUS / "record", record_seeds()))
    print("frame seeds:", write(CORPUS / "frame", frame_seeds()))
