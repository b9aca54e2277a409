"""The courier: bundles carried between islands, with the node's own bundle code.

A simulated courier exports a bundle from a node of one island with
:func:`meshpantry.core.bundle.encode_bundle` (the same codec, summary and
signature as ``meshpantry bundle export``), carries the bytes, and the
receiving node decodes them with :func:`~meshpantry.core.bundle.decode_bundle`
and takes the records in through its store's ingest, as ``meshpantry bundle
import`` does. The receiver then writes the return bundle, exactly what the
exporter lacks by the manifest's summary (``--for``), and the courier carries
it back. Only the file is missing: the bytes go from one call to the next.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from meshpantry.core import bundle as core

if TYPE_CHECKING:  # pragma: no cover
    from .memory_store import IngestOutcome
    from .node import SimNode


def chains_of(node: "SimNode") -> dict[bytes, list[tuple[int, bytes]]]:
    chains: dict[bytes, list[tuple[int, bytes]]] = {}
    for record in node.store.records():
        chains.setdefault(record.author, []).append((record.seq, record.id))
    for held in chains.values():
        held.sort()
    return chains


def export_bundle(node: "SimNode", virtual_ms: int, answer: core.Bundle | None = None) -> bytes:
    """Everything ``node`` holds, or (``answer``) exactly what the exporter
    of ``answer`` lacks, as bundle bytes signed by ``node``."""
    chains = chains_of(node)
    # Lamport order keeps each author's records in seq order (as the spec
    # asks) and puts an invite before the join it admits.
    records = sorted(node.store.records(), key=lambda r: (r.lamport, r.id))
    if answer is None:
        raws = [r.raw for r in records]
    else:
        wanted = set(core.lacking(answer.manifest.summary, chains).ids)
        raws = [r.raw for r in records if r.id in wanted]
    return core.encode_bundle(
        node.secret, neighbourhood=node.neighbourhood, created=node.now(virtual_ms), raws=raws,
        summary=core.summarise(chains), answers=answer.id if answer is not None else None,
    )


def import_bundle(node: "SimNode", data: bytes, virtual_ms: int) -> tuple[core.Bundle, "IngestOutcome"]:
    """Decode ``data`` (raising the codec's :class:`~meshpantry.core.bundle.BundleError`)
    and ingest its records at ``node``, not forwarded by gossip."""
    bundle = core.decode_bundle(data)
    core.check_neighbourhood(bundle, node.neighbourhood)
    positions = [node.table.add(raw) for raw in bundle.raws]
    return bundle, node.receive(positions, virtual_ms, forward=False)
