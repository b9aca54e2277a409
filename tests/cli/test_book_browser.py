"""The recipe book in a real browser: Debian's headless Chromium renders the
exported page, and the test reads what a reader sees (the rendered text,
``innerText``, which leaves out anything not drawn): titles, stories,
contributors, the family tree and the recipes born in the outage; and a
title holding a ``<script>`` shows as text and runs nothing.

Skipped, saying why, where Chromium is not installed (``make test`` installs
it where that needs no password).
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (sudo apt-get install chromium)")

#: Flags for a headless run that touches no network and no profile of the user's.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync")

#: Appended to a copy of the page: what the browser drew, as JSON, in a <pre>.
#: innerText is the rendered text; each family-tree link is given with the
#: titles of the links it is nested under.
READER = """<script>
const tree = [...document.querySelectorAll('#lineage a')].map(a => {
  const path = []; let li = a.closest('li').parentElement.closest('li');
  while (li) { path.unshift(li.querySelector(':scope > a').textContent); li = li.parentElement.closest('li'); }
  return [a.textContent, path];
});
const seen = {text: document.body.innerText, title: document.title, tree: tree,
              born: [...document.querySelectorAll('#born-in-the-outage a')].map(a => a.textContent)};
const pre = document.createElement('pre'); pre.id = 'seen'; pre.textContent = JSON.stringify(seen);
document.body.appendChild(pre);
</script>"""

ZARA = ("Zara quickly rallies her neighbors, suggesting they use the aroma of spices and herbs "
        "from their urban gardens to guide the meal's direction.")
MILO = "Milo sourced flour from nearby community members, urging everyone to contribute what they can."


def chromium(tmp_path, *argv: str) -> str:
    done = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *argv],
                          capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.fixture
def book(pair, tmp_path):
    """Elm Street's book: a dish, its outage variation, a story from each
    household, and a title that tries to run a script."""
    okafors, zhengs = pair
    hub = okafors.json("recipe", "add", "Aroma Circle flatbread", "--ingredient", "2 cup flour",
                       "--ingredient", "1 tsp salt", "--step", "Mix", "--step", "Bake on the stone",
                       "--story", ZARA)["id"]
    zhengs.receive(okafors.records())
    variation = zhengs.json("recipe", "add", "Candle-light flatbread", "--adapted-from", hub[:10],
                            "--tag", "born in the outage")
    assert [s["text"] for s in variation["steps"]] == ["Mix", "Bake on the stone"]
    zhengs.run("recipe", "story", hub[:10], MILO, "--title", "The guild's flour")
    okafors.receive(zhengs.records())
    okafors.run("recipe", "add", "<script>document.title='PWNED'</script> soup", "--step", "Stir")
    page = tmp_path / "book.html"
    assert okafors.run("recipe", "export", "--format", "html", "-o", str(page))[0] == 0
    return page


def test_a_reader_sees_titles_stories_contributors_and_lineage(book, tmp_path):
    read = tmp_path / "read.html"
    read.write_text(book.read_text(encoding="utf-8").replace("</body>", READER + "</body>"), encoding="utf-8")
    dom = chromium(tmp_path, "--dump-dom", read.as_uri())
    seen = json.loads(html.unescape(re.search(r'<pre id="seen">(.*?)</pre>', dom, re.S).group(1)))
    text = seen["text"]
    assert seen["title"] == "Elm Street"  # the title's script did not run
    assert "<script>document.title='PWNED'</script> soup" in text  # shown as text
    for title in ("Aroma Circle flatbread", "Candle-light flatbread"):
        assert title in text
    assert ZARA in text and MILO in text and "The guild's flour (The Zhengs)" in text
    assert re.search(r"Contributors: (The Okafors, The Zhengs|The Zhengs, The Okafors)", text)
    assert "Adapted from Aroma Circle flatbread." in text and "Variations: Candle-light flatbread." in text
    assert ["Candle-light flatbread", ["Aroma Circle flatbread"]] in seen["tree"]
    assert ["Aroma Circle flatbread", []] in seen["tree"]
    assert seen["born"] == ["Candle-light flatbread"]
    assert "born in the outage" in text.lower()


def test_the_page_draws(book, tmp_path):
    """A screenshot of the page is a real picture (the page lays out and paints)."""
    shot = tmp_path / "book.png"
    chromium(tmp_path, f"--screenshot={shot}", "--window-size=900,1600", book.as_uri())
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
