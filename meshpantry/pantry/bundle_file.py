"""Bundle files: writing and reading what a courier carries between islands.

The codec and the set arithmetic are the core's (:mod:`meshpantry.core.bundle`,
layout in ``protocol/BUNDLE.md``); this module does the file and store side
for a household's :class:`~meshpantry.pantry.Pantry`:
:func:`bundle_export` writes a bundle (atomically: a half-written file never
carries the name), :func:`bundle_import` applies one all or nothing through
the store's ingest pipeline. Both are control-socket ops
(``bundle_export`` / ``bundle_import``), so they work with the node running
or stopped; paths are absolute (the node's working directory is not the
caller's).
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from meshpantry.core import bundle as core
from meshpantry.exit_codes import ExitCode
from protocol import Record

from .errors import InvalidInput, PantryError

if TYPE_CHECKING:  # pragma: no cover
    from .household import Pantry

Progress = Callable[[int, int], None]


class BundleRefused(PantryError):
    """The bundle is forged, truncated, corrupt or from elsewhere, or one of
    its records failed the checks: nothing of it was applied."""

    exit_code = ExitCode.REFUSED
    code = "bundle-refused"

    def __init__(self, path: object, error: core.BundleError) -> None:
        super().__init__(f"{path}: {error}")
        self.error = error


def _path(path: str) -> Path:
    p = Path(path)
    if not p.is_absolute():
        raise InvalidInput("path", f"{path!r} must be an absolute path")
    return p


def read_bundle_file(path: str, progress: Progress | None = None) -> core.Bundle:
    """The decoded, manifest-checked bundle in ``path``. Raises
    :class:`BundleRefused` (and OSError when the file cannot be read)."""
    p = _path(path)
    data = p.read_bytes()
    try:
        return core.decode_bundle(data, progress=progress)
    except core.BundleError as exc:
        raise BundleRefused(p, exc) from None


def bundle_export(pantry: "Pantry", path: str, since: int | None = None, answer_to: str | None = None) -> dict:
    """Write a bundle of this replica's records to ``path``: all of them, or
    those whose advisory time is ``since`` (ms) or later, or (``answer_to``:
    the path of a bundle received) exactly those its exporter lacks; both
    filters may be given. The manifest is signed with this device's key and
    carries this replica's summary, so the receiver can answer in turn."""
    target = _path(path)
    store = pantry.store
    neighbourhood = pantry.neighbourhood
    chains = store.chains()
    answers = None
    unproven = 0
    if answer_to is not None:
        received = read_bundle_file(answer_to)
        try:
            core.check_neighbourhood(received, neighbourhood)
        except core.BundleError as exc:
            raise BundleRefused(answer_to, exc) from None
        answer = core.lacking(received.manifest.summary, chains)
        ids = list(answer.ids)
        unproven = answer.unproven
        answers = received.id
    else:
        ids = [rid for held in chains.values() for _, rid in held]
    if since is not None:
        recent = set(store.ids_since(since))
        ids = [rid for rid in ids if rid in recent]
    if len(ids) > core.MAX_BUNDLE_RECORDS:
        raise InvalidInput("since", f"{len(ids)} records are more than one bundle carries "
                                    f"({core.MAX_BUNDLE_RECORDS}); give --since")
    raws = store.raws_in_chain_order(ids)
    data = core.encode_bundle(
        pantry.key.secret, neighbourhood=neighbourhood, created=pantry.clock(), raws=raws,
        summary=core.summarise(chains), since=since, answers=answers,
    )
    _write_atomically(target, data)
    return {
        "path": str(target), "records": len(raws), "bytes": len(data),
        "bundle": core.read_manifest(data)[1].hex(),
        "answers": answers.hex() if answers else None, "unproven": unproven,
        "summary_authors": len(chains), "since": since,
    }


def _write_atomically(target: Path, data: bytes) -> None:
    temporary = target.with_name(f".{target.name}.partial")
    with open(temporary, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, target)


def bundle_import(pantry: "Pantry", path: str) -> dict:
    """Apply the bundle in ``path`` (:func:`apply_bundle` without progress)."""
    return apply_bundle(pantry, path)[0]


def apply_bundle(pantry: "Pantry", path: str, progress: Progress | None = None) -> tuple[dict, list[Record]]:
    """Apply the bundle in ``path``: every record through the ingest
    pipeline in one transaction, all or nothing. Returns what happened and
    the records newly logged.

    Raises :class:`BundleRefused` for a bundle that is not one, is cut
    short, altered or forged, belongs to another neighbourhood, was exported
    by a device that is no member, or holds a record the pipeline refuses;
    then nothing of it is applied."""
    received = read_bundle_file(path)
    store = pantry.store
    neighbourhood = pantry.neighbourhood
    manifest = received.manifest

    def exporter_is_member() -> None:
        if not store.is_member_device(manifest.exporter):
            raise core.ExporterNotMember(manifest.exporter)

    try:
        core.check_neighbourhood(received, neighbourhood)
        report = store.ingest_whole(
            list(received.raws), pantry.clock(), judge=core.judge, last=exporter_is_member, progress=progress,
        )
    except core.BundleError as exc:
        raise BundleRefused(path, exc) from None
    waiting = set(store.waiting_ids())
    kinds = Counter(record.kind for record in report.logged)
    return {
        "path": path, "bundle": received.id.hex(), "exporter": manifest.exporter.hex(),
        "created": manifest.created, "records": manifest.count, "new": len(report.added),
        "duplicates": report.duplicates, "waiting": sum(1 for r in _ids(received) if r in waiting),
        "forks": len(report.forks), "new_by_kind": dict(sorted(kinds.items())),
        "answers": manifest.answers.hex() if manifest.answers else None,
        "exporter_authors": len(manifest.summary),
    }, report.logged


def _ids(bundle: core.Bundle) -> list[bytes]:
    from meshpantry.store.ingest import quick_id

    return [rid for rid in map(quick_id, bundle.raws) if rid is not None]
