"""Sneakernet bundles: records carried between islands that no radio reaches.

A bundle is one file a courier carries on a USB stick. It holds a manifest
signed by the exporting device and the records as stored bytes, and it tells
the receiver what the exporter holds, so the receiver can write a return
bundle holding exactly what the exporter lacks. The byte layout and its
limits are specified in ``protocol/BUNDLE.md``; this module is that spec's
codec and the set arithmetic, with no IO (the file side is
:mod:`meshpantry.pantry.bundle_file`, the simulator's courier calls the same
functions).

Theory of operation:

1. **Export** (:func:`encode_bundle`): the exporter picks records (all, or
   those since a time, or exactly what another bundle's exporter lacks, see
   4.), summarises its whole log (:func:`summarise`) and signs a manifest
   naming the count, the byte length and the SHA-256 of the records section.
2. **Decode** (:func:`decode_bundle`): magic, version, every length against
   its limit, the manifest's canonical form and signature, then the records
   section against the manifest's count, length and digest. A truncated,
   padded, corrupt or forged file fails here with its own error, before any
   record reaches a store.
3. **Import**: the records go through the ingest pipeline of
   :mod:`.ingest` like any peer's, in one transaction; :func:`judge` turns
   the first record the pipeline refused into :class:`RecordRefused`, and the
   importer rolls everything back. A bundle is applied whole or not at all.
4. **Answer** (:func:`lacking`): the manifest's summary gives, per author,
   the highest seq held, the count, the fingerprint of the ids (as the sync
   layer's, :func:`.sync.items.fingerprint_of`) and ``SUMMARY_SUMS`` power
   sums of the ids' values (as :mod:`.sync.sums`). The receiver's records of
   that author above the head are lacking for certain; below it, equal
   fingerprints mean nothing is, and otherwise the power sums find which
   (up to ``SUMMARY_SUMS`` differences, the forks an honest chain never
   has); past that, the author's records below the head are all sent and
   counted as ``unproven`` (duplicates cost the receiver nothing). The
   summary and this arithmetic are :mod:`.bundle_summary`.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import nacl.bindings
import nacl.exceptions

from protocol import canonical, limits
from protocol.errors import DecodeError, RemoteError
from protocol.sync import SUMS_PRIME

from .bundle_summary import SUMMARY_SUMS, ChainSummary, Chains, Lacking, lacking, summarise
from .ingest import IngestReport

#: The first bytes of every bundle: a file that starts otherwise is not one.
MAGIC = b"MPBUNDLE"
#: The layout version after the magic; a reader refuses versions it does not know.
BUNDLE_VERSION = 1
#: Signatures over a manifest are over this prefix and the manifest's bytes,
#: so a record's signature can never pass for a manifest's or back.
SIGNING_CONTEXT = b"meshpantry/bundle/v1\x00"

#: Bytes of one author's summary entry: key, head seq, count, fingerprint, sums.
SUMMARY_ENTRY_BYTES = limits.KEY_BYTES + 8 + 8 + 16 + 8 * SUMMARY_SUMS
#: Authors one summary describes: devices of a neighbourhood number in the
#: hundreds; sixteen thousand is far past any street and keeps the summary
#: under 2.1 MB.
MAX_SUMMARY_AUTHORS = 16_384
#: The signed manifest's bytes: the summary at its largest plus the fields.
MAX_MANIFEST_BYTES = SUMMARY_ENTRY_BYTES * MAX_SUMMARY_AUTHORS + 4096
#: Records one bundle carries: a whole neighbourhood's log for years (a
#: busy street writes a few hundred records a day), and at most 32 GB, so
#: a reader never trusts a count that would not fit a USB stick.
MAX_BUNDLE_RECORDS = 1_000_000
#: Bytes of a record's length prefix in the records section.
_LENGTH = struct.Struct(">I")
_HEADER = struct.Struct(">8sBI")  # magic, version, manifest envelope length

MANIFEST_FIELDS = frozenset({"v", "n", "e", "t", "c", "b", "d", "s", "since", "for"})


# -- errors --------------------------------------------------------------------------


class BundleError(RemoteError):
    """A bundle that cannot be applied; the message says what is wrong with it."""


class NotABundle(BundleError):
    def __init__(self) -> None:
        super().__init__("not a meshpantry bundle (the file does not start with MPBUNDLE)")


class UnsupportedBundle(BundleError):
    def __init__(self, version: int) -> None:
        super().__init__(f"bundle format version {version} is newer than this meshpantry reads ({BUNDLE_VERSION})")
        self.version = version


class Truncated(BundleError):
    """The file ends before the manifest says it should: a copy cut short."""

    def __init__(self, what: str, expected: int, found: int) -> None:
        super().__init__(f"the bundle is truncated: {what} needs {expected} bytes, the file has {found}")
        self.what, self.expected, self.found = what, expected, found


class Corrupt(BundleError):
    """The bytes do not match what the signed manifest says."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"the bundle is corrupt: {reason}")
        self.reason = reason


class ForgedManifest(BundleError):
    """The manifest's signature does not verify under the key it names."""

    def __init__(self) -> None:
        super().__init__("the bundle's manifest is not signed by the device it names (forged or altered)")


class WrongNeighbourhoodBundle(BundleError):
    def __init__(self, expected: bytes, found: bytes) -> None:
        super().__init__(f"the bundle is from another neighbourhood ({found.hex()[:10]}, this one is {expected.hex()[:10]})")
        self.expected, self.found = expected, found


class RecordRefused(BundleError):
    """A record of the bundle failed the ingest pipeline: nothing was applied."""

    def __init__(self, index: int | None, record_id: bytes | None, error: RemoteError) -> None:
        where = f"record {index + 1}" if index is not None else "a record"
        rid = f" ({record_id.hex()[:10]})" if record_id else ""
        super().__init__(f"{where}{rid} of the bundle was refused: {error}; nothing of the bundle was applied")
        self.index, self.record_id, self.error = index, record_id, error


class ExporterNotMember(BundleError):
    def __init__(self, exporter: bytes) -> None:
        super().__init__(f"the bundle was exported by {exporter.hex()[:10]}, which is no member of this neighbourhood; nothing was applied")
        self.exporter = exporter


# -- the parts -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Manifest:
    """The signed description of a bundle."""

    neighbourhood: bytes
    exporter: bytes  #: the device key that signed the manifest
    created: int  #: the exporter's clock, ms (advisory)
    count: int  #: records in the bundle
    size: int  #: bytes of the records section
    digest: bytes  #: SHA-256 of the records section
    summary: tuple[ChainSummary, ...]  #: the exporter's whole log, by author
    since: int | None = None  #: records chosen by advisory time from this ms on
    answers: bytes | None = None  #: id of the bundle this one answers (``--for``)


@dataclass(frozen=True, slots=True)
class Bundle:
    manifest: Manifest
    id: bytes  #: SHA-256 of the signed manifest bytes: what ``answers`` names
    raws: tuple[bytes, ...]  #: the records as stored, in the exporter's chain order


Progress = Callable[[int, int], None]  #: (done, total) of some unit

__all__ = [
    "SUMMARY_SUMS", "Bundle", "BundleError", "ChainSummary", "Chains", "Corrupt", "ExporterNotMember",
    "ForgedManifest", "Lacking", "Manifest", "NotABundle", "RecordRefused", "Truncated", "UnsupportedBundle",
    "WrongNeighbourhoodBundle", "check_neighbourhood", "decode_bundle", "encode_bundle", "judge", "lacking",
    "read_manifest", "summarise",
]


# -- encoding ------------------------------------------------------------------------


def _summary_bytes(summary: Sequence[ChainSummary]) -> bytes:
    parts = []
    for e in summary:
        assert len(e.author) == limits.KEY_BYTES and len(e.fingerprint) == 16 and len(e.sums) == SUMMARY_SUMS
        parts.append(e.author + e.head.to_bytes(8, "big") + e.count.to_bytes(8, "big") + e.fingerprint
                     + b"".join(s.to_bytes(8, "big") for s in e.sums))
    return b"".join(parts)


def _summary_of(blob: bytes) -> tuple[ChainSummary, ...]:
    if len(blob) % SUMMARY_ENTRY_BYTES:
        raise Corrupt(f"the summary is {len(blob)} bytes, not whole entries of {SUMMARY_ENTRY_BYTES}")
    if len(blob) // SUMMARY_ENTRY_BYTES > MAX_SUMMARY_AUTHORS:
        raise Corrupt(f"the summary names more than {MAX_SUMMARY_AUTHORS} authors")
    out = []
    for at in range(0, len(blob), SUMMARY_ENTRY_BYTES):
        e = blob[at : at + SUMMARY_ENTRY_BYTES]
        k = limits.KEY_BYTES
        sums = tuple(int.from_bytes(e[k + 32 + 8 * j : k + 40 + 8 * j], "big") for j in range(SUMMARY_SUMS))
        if any(s >= SUMS_PRIME for s in sums):
            raise Corrupt("a power sum in the summary is out of range")
        out.append(ChainSummary(e[:k], int.from_bytes(e[k : k + 8], "big"), int.from_bytes(e[k + 8 : k + 16], "big"),
                                e[k + 16 : k + 32], sums))
    return tuple(out)


def records_section(raws: Sequence[bytes]) -> bytes:
    """The records as the bundle lays them out: each with its length."""
    for raw in raws:
        assert 0 < len(raw) <= limits.MAX_RECORD_BYTES
    return b"".join(_LENGTH.pack(len(raw)) + raw for raw in raws)


def encode_bundle(
    secret_key: bytes,
    *,
    neighbourhood: bytes,
    created: int,
    raws: Sequence[bytes],
    summary: Sequence[ChainSummary],
    since: int | None = None,
    answers: bytes | None = None,
) -> bytes:
    """The bundle's bytes, its manifest signed with ``secret_key`` (libsodium's
    64-byte form, whose second half is the exporting device's key)."""
    assert len(raws) <= MAX_BUNDLE_RECORDS and len(summary) <= MAX_SUMMARY_AUTHORS
    section = records_section(raws)
    fields: dict = {
        "v": BUNDLE_VERSION, "n": neighbourhood, "e": secret_key[32:], "t": created,
        "c": len(raws), "b": len(section), "d": hashlib.sha256(section).digest(),
        "s": _summary_bytes(summary),
    }
    if since is not None:
        fields["since"] = since
    if answers is not None:
        fields["for"] = answers
    manifest = canonical.encode(fields)
    signature = nacl.bindings.crypto_sign(SIGNING_CONTEXT + manifest, secret_key)[: limits.SIGNATURE_BYTES]
    envelope = canonical.encode([manifest, signature])
    return _HEADER.pack(MAGIC, BUNDLE_VERSION, len(envelope)) + envelope + section


def bundle_id(manifest_bytes: bytes) -> bytes:
    return hashlib.sha256(manifest_bytes).digest()


# -- decoding ------------------------------------------------------------------------


def read_manifest(data: bytes) -> tuple[Manifest, bytes, int]:
    """The verified manifest at the start of ``data``, the bundle's id, and
    where the records section starts. Raises a :class:`BundleError`."""
    if len(data) < len(MAGIC) or data[: len(MAGIC)] != MAGIC:
        raise NotABundle()
    if len(data) < _HEADER.size:
        raise Truncated("the header", _HEADER.size, len(data))
    _, version, length = _HEADER.unpack_from(data)
    if version != BUNDLE_VERSION:
        raise UnsupportedBundle(version)
    if length > MAX_MANIFEST_BYTES + 128:
        raise Corrupt(f"the manifest claims {length} bytes, over the limit of {MAX_MANIFEST_BYTES}")
    end = _HEADER.size + length
    if len(data) < end:
        raise Truncated("the manifest", end, len(data))
    try:
        envelope = canonical.decode(data[_HEADER.size : end], what="bundle manifest", max_bytes=MAX_MANIFEST_BYTES + 128)
    except DecodeError as exc:
        raise Corrupt(f"the manifest does not decode ({exc})") from None
    if (type(envelope) is not list or len(envelope) != 2 or type(envelope[0]) is not bytes
            or type(envelope[1]) is not bytes or len(envelope[1]) != limits.SIGNATURE_BYTES):
        raise Corrupt("the manifest is not a signed manifest")
    manifest_bytes, signature = envelope
    manifest = _manifest_of(manifest_bytes)
    try:
        nacl.bindings.crypto_sign_open(signature + SIGNING_CONTEXT + manifest_bytes, manifest.exporter)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, ValueError):
        raise ForgedManifest() from None
    return manifest, bundle_id(manifest_bytes), end


def _manifest_of(manifest_bytes: bytes) -> Manifest:
    try:
        fields = canonical.decode(manifest_bytes, what="bundle manifest", max_bytes=MAX_MANIFEST_BYTES)
    except DecodeError as exc:
        raise Corrupt(f"the manifest does not decode ({exc})") from None
    if type(fields) is not dict or not {"v", "n", "e", "t", "c", "b", "d", "s"} <= set(fields) or set(fields) - MANIFEST_FIELDS:
        raise Corrupt("the manifest's fields are not those of a bundle")

    def field(name: str, kind: type, low: int = 0, high: int = 2**63 - 1, size: int | None = None):
        value = fields[name]
        if type(value) is not kind:
            raise Corrupt(f"manifest field {name!r} has the wrong type")
        if kind is int and not low <= value <= high:
            raise Corrupt(f"manifest field {name!r} is out of range")
        if size is not None and len(value) != size:
            raise Corrupt(f"manifest field {name!r} has the wrong length")
        return value

    if field("v", int) != BUNDLE_VERSION:
        raise UnsupportedBundle(fields["v"])
    return Manifest(
        neighbourhood=field("n", bytes, size=limits.ID_BYTES),
        exporter=field("e", bytes, size=limits.KEY_BYTES),
        created=field("t", int),
        count=field("c", int, 0, MAX_BUNDLE_RECORDS),
        size=field("b", int, 0, MAX_BUNDLE_RECORDS * (limits.MAX_RECORD_BYTES + _LENGTH.size)),
        digest=field("d", bytes, size=32),
        summary=_summary_of(field("s", bytes)),
        since=field("since", int) if "since" in fields else None,
        answers=field("for", bytes, size=32) if "for" in fields else None,
    )


#: Records between two progress reports while the records section is read.
PROGRESS_EVERY = 2000


def decode_bundle(data: bytes, *, progress: Progress | None = None) -> Bundle:
    """A whole bundle from its bytes, every byte accounted for.

    Raises :class:`NotABundle`, :class:`UnsupportedBundle`,
    :class:`Truncated`, :class:`Corrupt` or :class:`ForgedManifest`. The
    records themselves are not checked here: that is the ingest pipeline's
    work. ``progress(done, total)`` is told of records read."""
    manifest, bid, start = read_manifest(data)
    end = start + manifest.size
    if len(data) < end:
        raise Truncated("the records", end, len(data))
    if len(data) > end:
        raise Corrupt(f"{len(data) - end} bytes follow the records the manifest names")
    section = memoryview(data)[start:end]
    if hashlib.sha256(section).digest() != manifest.digest:
        raise Corrupt("the records do not match the manifest's digest")
    raws: list[bytes] = []
    at = 0
    while at < len(section):
        if at + _LENGTH.size > len(section):
            raise Corrupt("a record's length is cut off")
        (length,) = _LENGTH.unpack_from(section, at)
        at += _LENGTH.size
        if not 0 < length <= limits.MAX_RECORD_BYTES or at + length > len(section):
            raise Corrupt(f"record {len(raws) + 1} claims {length} bytes")
        raws.append(bytes(section[at : at + length]))
        at += length
        if progress is not None and len(raws) % PROGRESS_EVERY == 0:
            progress(len(raws), manifest.count)
    if len(raws) != manifest.count:
        raise Corrupt(f"the manifest names {manifest.count} records, the bundle holds {len(raws)}")
    return Bundle(manifest, bid, tuple(raws))


def check_neighbourhood(bundle: Bundle, neighbourhood: bytes) -> None:
    if bundle.manifest.neighbourhood != neighbourhood:
        raise WrongNeighbourhoodBundle(neighbourhood, bundle.manifest.neighbourhood)


def judge(report: IngestReport, offset: int = 0) -> None:
    """Raise :class:`RecordRefused` for the first record the pipeline refused
    (``offset``: the position of the report's batch in the bundle)."""
    if report.rejected:
        first = report.rejected[0]
        index = None if first.index is None else first.index + offset
        raise RecordRefused(index, first.record_id, first.error)
