"""SPEC.md stays complete: it names every limit, kind and body field the code defines."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from protocol import kinds, limits
from protocol.envelope import ENVELOPE_FIELDS, SIGNING_CONTEXT

SPEC = (Path(kinds.__file__).parent / "SPEC.md").read_text(encoding="utf-8")
LIMITS = [name for name in vars(limits) if name.isupper()]


def _section(kind: str) -> str:
    """The text from the kind's bold heading to the next bold kind heading."""
    start = SPEC.index(f"**`{kind}`**")
    following = [m.start() for m in re.finditer(r"^\*\*`", SPEC[start + 1 :], re.M)]
    end = start + 1 + following[0] if following else len(SPEC)
    return SPEC[start:end]


@pytest.mark.parametrize("name", LIMITS)
def test_every_limit_is_in_the_spec(name: str) -> None:
    """Each constant of protocol/limits.py is named in SPEC.md."""
    assert f"`{name}" in SPEC or f"{name}`" in SPEC


@pytest.mark.parametrize("kind", sorted(kinds.SCHEMAS))
def test_every_kind_and_field_is_in_the_spec(kind: str) -> None:
    """Each kind has its section, naming every field of its schema."""
    section = _section(kind)
    for field in kinds.SCHEMAS[kind]:
        if kind == "offer_update" and field in kinds.OFFER_FIELDS:
            assert "any offer field" in section
        else:
            assert f"`{field}`" in section, f"{kind}.{field}"


def test_envelope_and_signing_context_match_the_code() -> None:
    """The envelope keys and the signed prefix are spelled as the code has them."""
    for key in ENVELOPE_FIELDS:
        assert f"| `{key}` |" in SPEC
    assert SIGNING_CONTEXT.hex() in SPEC
    assert "(SYNC.md)" in SPEC
