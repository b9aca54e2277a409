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


def _table_rows(heading: str) -> dict[str, list[str]]:
    """First cell (without backticks) -> the other cells, of the first table
    after ``heading``."""
    start = SPEC.index(heading)
    rows: dict[str, list[str]] = {}
    for line in SPEC[start:].splitlines()[1:]:
        if rows and not line.startswith("|"):
            break
        if line.startswith("|") and not line.startswith("|--"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            rows[cells[0].strip("`")] = cells[1:]
    return rows


def test_every_decode_error_has_a_row_with_its_portable_attributes() -> None:
    """Section 3.4 lists every error class of protocol/errors.py, and its
    portable attributes are those the invalid vectors' data carries."""
    import inspect

    from protocol import errors
    from protocol.make_vectors import _ERROR_DATA

    rows = _table_rows("### 3.4 Error attributes")
    classes = [c for _, c in inspect.getmembers(errors, inspect.isclass)
               if issubclass(c, errors.RemoteError) and c not in (errors.RemoteError, errors.DecodeError)]
    assert {c.__name__ for c in classes} == set(rows) - {"error"}
    for cls in classes:
        params = set(inspect.signature(cls.__init__).parameters) - {"self"}
        portable = {p for p in params if p in _ERROR_DATA}
        listed = set(re.findall(r"`(\w+)`", rows[cls.__name__][0]))
        assert listed == portable, cls.__name__
        others = set(re.findall(r"`(\w+)`", rows[cls.__name__][1]))
        assert others == params - portable, cls.__name__


def test_every_validation_error_has_a_row_with_its_data() -> None:
    """Section 7.8 lists every error of meshpantry/core/validation.py with the
    names of its data (what the view vectors' data carries)."""
    import inspect

    from meshpantry.core import validation

    rows = _table_rows("### 7.8 Errors of section 7")
    classes = [c for _, c in inspect.getmembers(validation, inspect.isclass)
               if issubclass(c, validation.ValidationError) and c is not validation.ValidationError]
    assert {c.__name__ for c in classes} == set(rows) - {"error"}
    for cls in classes:
        params = set(inspect.signature(cls.__init__).parameters) - {"self"}
        listed = {name for name in re.findall(r"`(\w+)`", rows[cls.__name__][0])
                  if name in params}
        assert listed == params, cls.__name__


def test_every_view_vector_names_a_section_of_the_spec_and_is_cited_there() -> None:
    """Each file under vectors/views/ is named after a section that exists,
    and the spec points at it."""
    import json

    from protocol.make_vectors import VECTOR_DIR

    headings = set(re.findall(r"^#+ (\d+(?:\.\d+)*)\.? ", SPEC, re.M))
    for path in sorted((VECTOR_DIR / "views").glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        assert doc["section"] in headings, path.name
        if path.stem != "golden":  # cited by name, or all of its section at once
            assert path.stem in SPEC or f"views/{doc['section']}-*" in SPEC, path.name


def test_every_vector_the_implementers_guide_points_at_exists() -> None:
    """Section 11: each trap's "caught by" names vectors that exist (a name
    may be the start of a vector's name)."""
    import json

    from protocol.make_vectors import VECTOR_DIR

    def names(file: str) -> list[str]:
        doc = json.loads((VECTOR_DIR / file).read_text(encoding="utf-8"))
        if file == "canonical.json":
            return [v["name"] for v in doc["valid"] + doc["invalid"]]
        return [v["name"] for v in doc["records"]]

    guide = SPEC[SPEC.index("## 11. Implementer's guide"):]
    rows = [line for line in guide.splitlines() if line.startswith("| **")]
    assert len(rows) >= 4
    cited = 0
    for row in rows:
        caught_by = row.strip("|").split("|")[-1]
        file = None
        for token in re.findall(r"`([^`]+)`", caught_by):
            if token.endswith(".json"):
                file = token
            elif file is not None:
                assert any(n.startswith(token) for n in names(file)), (file, token)
                cited += 1
    assert cited >= 8
