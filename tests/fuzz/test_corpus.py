"""Replay the fuzz corpus through both decoders (the default suite's share of
the fuzzer): every input decodes, or raises the decoder's typed error."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from .targets import TARGETS, target

CORPUS = Path(__file__).parent / "corpus"


def inputs(name: str) -> list[Path]:
    return sorted((CORPUS / name).iterdir())


def test_the_corpus_covers_both_decoders_and_both_outcomes():
    for name in TARGETS:
        outcomes = Counter(target(name)(path.read_bytes()) for path in inputs(name))
        assert len(inputs(name)) >= 50, name
        assert outcomes["ok"] > 0 and len(outcomes) >= 4, (name, outcomes)


@pytest.mark.parametrize("name", TARGETS)
def test_every_corpus_input_decodes_or_raises_the_typed_error(name):
    """Both decoders meet every input of both corpora (a record may arrive in
    a frame and a frame's bytes may look like a record)."""
    check = target(name)
    for corpus in TARGETS:
        for path in inputs(corpus):
            check(path.read_bytes())  # raises only on a finding
