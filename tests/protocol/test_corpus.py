"""Replay the committed corpus of inputs that once broke, or could break, the decoder.

Each ``corpus/*.hex`` file is hex (whitespace ignored) after ``#`` comment lines;
the first comment is ``# expect: <outcome>``, where the outcome is ``ok`` (the
bytes decode and verify) or the name of the error class in ``protocol.errors``
that decode_and_verify must raise. To add a case, drop a new file here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from protocol import errors
from protocol.envelope import decode_and_verify

CORPUS = sorted((Path(__file__).parent / "corpus").glob("*.hex"))


def _read(path: Path) -> tuple[str, bytes]:
    lines = path.read_text(encoding="ascii").splitlines()
    comments = [line for line in lines if line.startswith("#")]
    assert comments and comments[0].startswith("# expect: "), f"{path.name}: no expect line"
    expect = comments[0].removeprefix("# expect: ").strip()
    data = "".join("".join(line.split()) for line in lines if not line.startswith("#"))
    return expect, bytes.fromhex(data)


def test_the_corpus_is_there() -> None:
    """The corpus holds both refused and accepted inputs."""
    outcomes = {_read(path)[0] for path in CORPUS}
    assert len(CORPUS) >= 20 and "ok" in outcomes and len(outcomes) >= 6


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_corpus_input_has_its_outcome(path: Path) -> None:
    """decode_and_verify gives exactly the recorded outcome, never a Python error."""
    expect, raw = _read(path)
    if expect == "ok":
        assert decode_and_verify(raw).raw == raw
        return
    with pytest.raises(errors.RemoteError) as caught:
        decode_and_verify(raw)
    assert type(caught.value) is getattr(errors, expect), caught.value
