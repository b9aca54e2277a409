"""The recipe book as Markdown or as a standalone HTML page.

Both open with the book's lineage (every recipe under the one it was
adapted from, :func:`meshpantry.core.lineage.family_trees`) and the recipes
born in the outage, then each recipe with its ingredients, steps, stories,
contributors and family. The HTML page is one self-contained file with no
script, every text escaped.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from meshpantry.core.lineage import Family, born_in_outage, family_trees

FORMATS = ("markdown", "html")


def render_book(
    recipes: list[dict[str, Any]], format: str, *, title: str, outage_spans: Sequence[tuple[int, int | None]] = (),
) -> str:
    """Render recipe dictionaries (as :meth:`Pantry.recipe_show` returns them).
    ``outage_spans``: (began, ended or None) of the outages this device saw.

    Raises ValueError for an unknown format."""
    outage = [r for r in recipes if born_in_outage(r, outage_spans)]
    if format == "markdown":
        return _markdown(recipes, title, outage)
    if format == "html":
        return _html(recipes, title, outage)
    raise ValueError(f"format must be one of {', '.join(FORMATS)}")


def _anchor(recipe: dict) -> str:
    return f"r-{recipe['id'][:12]}"


def _md_tree(families: list[Family], depth: int = 0) -> list[str]:
    out = []
    for f in families:
        out.append(f"{'  ' * depth}- [{f.recipe['title']}](#{_anchor(f.recipe)})")
        out += _md_tree(f.variations, depth + 1)
    return out


def _html_tree(families: list[Family]) -> str:
    e = html.escape
    items = []
    for f in families:
        r = f.recipe
        by = ", ".join(r.get("contributors") or [])
        sub = _html_tree(f.variations) if f.variations else ""
        items.append(f'<li><a href="#{e(_anchor(r))}">{e(r["title"])}</a>'
                     + (f' <span class="by">by {e(by)}</span>' if by else "") + sub + "</li>")
    return "<ul>" + "".join(items) + "</ul>"


def _amount(line: dict) -> str:
    return " ".join(x for x in (line.get("amount"), line.get("unit"), line["item"]) if x)


def _markdown(recipes: list[dict], title: str, outage: list[dict]) -> str:
    out = [f"# {title}", ""]
    if not recipes:
        out.append("_No recipes yet._")
    else:
        out += ["## Family tree", ""] + _md_tree(family_trees(recipes)) + [""]
    if outage:
        out += ["## Born in the outage", ""] + [f"- [{r['title']}](#{_anchor(r)})" for r in outage] + [""]
    for r in recipes:
        out += [f'<a id="{_anchor(r)}"></a>', "", f"## {r['title']}", ""]
        meta = [x for x in (r.get("origin"), f"serves {r['serves']}" if r.get("serves") else None) if x]
        if r.get("tags"):
            meta.append("tags: " + ", ".join(r["tags"]))
        if meta:
            out += ["_" + " · ".join(meta) + "_", ""]
        if r.get("adapted_from"):
            out += [f"Adapted from *{r['adapted_from']['title']}*.", ""]
        if r.get("variations"):
            out += ["Variations: " + ", ".join(f"*{v['title']}*" for v in r["variations"]) + ".", ""]
        if r.get("ingredients"):
            out += ["### Ingredients", ""] + [f"- {_amount(i)}" for i in r["ingredients"]] + [""]
        if r.get("steps"):
            out += ["### Steps", ""] + [f"{s['position']}. {s['text']}" for s in r["steps"]] + [""]
        if r.get("story"):
            out += ["### The story", "", r["story"], ""]
        for story in r.get("stories") or []:
            out += [f"> **{story.get('title') or 'A story'}** ({story['household_name']})", ">"]
            out += [f"> {line}" if line else ">" for line in story["text"].splitlines()] + [""]
        out += [f"Contributors: {', '.join(r['contributors'])}", ""]
    return "\n".join(out).rstrip() + "\n"


def _html(recipes: list[dict], title: str, outage: list[dict]) -> str:
    e = html.escape
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(title)}</title>",
        "<style>body{font-family:Georgia,serif;max-width:42em;margin:2em auto;padding:0 1em;line-height:1.5}"
        "article{border-top:1px solid #ccc;margin-top:2em}.meta,.credit{color:#555;font-style:italic}"
        "blockquote{border-left:3px solid #c96;margin-left:0;padding-left:1em}"
        "nav ul ul{border-left:2px dotted #c96;margin-left:.4em}.by{color:#555;font-size:.9em}"
        ".outage{background:#222;color:#fc6;padding:.1em .5em;border-radius:.3em;font-size:.8em}</style>",
        "</head><body>", f"<h1>{e(title)}</h1>",
    ]
    born = {r["id"] for r in outage}
    if not recipes:
        parts.append("<p><em>No recipes yet.</em></p>")
    else:
        parts.append('<nav id="lineage"><h2>Family tree</h2>' + _html_tree(family_trees(recipes)) + "</nav>")
    if outage:
        parts.append('<section id="born-in-the-outage"><h2>Born in the outage</h2><ul>'
                     + "".join(f'<li><a href="#{e(_anchor(r))}">{e(r["title"])}</a></li>' for r in outage)
                     + "</ul></section>")
    for r in recipes:
        parts.append(f'<article id="{e(_anchor(r))}"><h2>{e(r["title"])}</h2>')
        if r["id"] in born:
            parts.append('<p><span class="outage">born in the outage</span></p>')
        meta = [x for x in (r.get("origin"), f"serves {r['serves']}" if r.get("serves") else None) if x]
        if r.get("tags"):
            meta.append("tags: " + ", ".join(r["tags"]))
        if meta:
            parts.append(f'<p class="meta">{e(" · ".join(meta))}</p>')
        if r.get("adapted_from"):
            parent = r["adapted_from"]
            parts.append(f'<p class="lineage">Adapted from <a href="#r-{e(parent["id"][:12])}"><em>{e(parent["title"])}</em></a>.</p>')
        if r.get("variations"):
            parts.append('<p class="lineage">Variations: ' + ", ".join(
                f'<a href="#r-{e(v["id"][:12])}"><em>{e(v["title"])}</em></a>' for v in r["variations"]) + ".</p>")
        if r.get("ingredients"):
            parts.append("<h3>Ingredients</h3><ul>" + "".join(f"<li>{e(_amount(i))}</li>" for i in r["ingredients"]) + "</ul>")
        if r.get("steps"):
            parts.append("<h3>Steps</h3><ol>" + "".join(f"<li>{e(s['text'])}</li>" for s in r["steps"]) + "</ol>")
        if r.get("story"):
            parts.append("<h3>The story</h3>" + "".join(f"<p>{e(p)}</p>" for p in r["story"].split("\n\n")))
        for story in r.get("stories") or []:
            parts.append(
                f"<blockquote><strong>{e(story.get('title') or 'A story')}</strong> ({e(story['household_name'])})"
                + "".join(f"<p>{e(p)}</p>" for p in story["text"].split("\n\n")) + "</blockquote>"
            )
        parts.append(f'<p class="credit">Contributors: {e(", ".join(r["contributors"]))}</p></article>')
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
