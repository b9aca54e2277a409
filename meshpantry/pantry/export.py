"""The recipe book as Markdown or as a standalone HTML page."""

from __future__ import annotations

import html
from typing import Any

FORMATS = ("markdown", "html")


def render_book(recipes: list[dict[str, Any]], format: str, *, title: str) -> str:
    """Render recipe dictionaries (as :meth:`Pantry.recipe_show` returns them).

    Raises ValueError for an unknown format."""
    if format == "markdown":
        return _markdown(recipes, title)
    if format == "html":
        return _html(recipes, title)
    raise ValueError(f"format must be one of {', '.join(FORMATS)}")


def _amount(line: dict) -> str:
    return " ".join(x for x in (line.get("amount"), line.get("unit"), line["item"]) if x)


def _markdown(recipes: list[dict], title: str) -> str:
    out = [f"# {title}", ""]
    if not recipes:
        out.append("_No recipes yet._")
    for r in recipes:
        out += [f"## {r['title']}", ""]
        meta = [x for x in (r.get("origin"), f"serves {r['serves']}" if r.get("serves") else None) if x]
        if r.get("tags"):
            meta.append("tags: " + ", ".join(r["tags"]))
        if meta:
            out += ["_" + " · ".join(meta) + "_", ""]
        if r.get("adapted_from"):
            out += [f"Adapted from *{r['adapted_from']['title']}*.", ""]
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


def _html(recipes: list[dict], title: str) -> str:
    e = html.escape
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(title)}</title>",
        "<style>body{font-family:Georgia,serif;max-width:42em;margin:2em auto;padding:0 1em;line-height:1.5}"
        "article{border-top:1px solid #ccc;margin-top:2em}.meta,.credit{color:#555;font-style:italic}"
        "blockquote{border-left:3px solid #c96;margin-left:0;padding-left:1em}</style>",
        "</head><body>", f"<h1>{e(title)}</h1>",
    ]
    if not recipes:
        parts.append("<p><em>No recipes yet.</em></p>")
    for r in recipes:
        parts.append(f'<article id="r-{e(r["id"][:12])}"><h2>{e(r["title"])}</h2>')
        meta = [x for x in (r.get("origin"), f"serves {r['serves']}" if r.get("serves") else None) if x]
        if r.get("tags"):
            meta.append("tags: " + ", ".join(r["tags"]))
        if meta:
            parts.append(f'<p class="meta">{e(" · ".join(meta))}</p>')
        if r.get("adapted_from"):
            parts.append(f"<p>Adapted from <em>{e(r['adapted_from']['title'])}</em>.</p>")
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
