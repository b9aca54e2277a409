"""Listings a page at a time: the cursor is stable under the sort order (ties
broken by id), continues exactly where the last page ended even when new
offers arrive, and the command line pages with --limit, --after and
--all-pages."""

from __future__ import annotations

import pytest

from meshpantry.pantry import Pantry
from meshpantry.pantry.errors import InvalidInput
from meshpantry.pantry.paging import MAX_PAGE, decode_cursor, encode_cursor, page

DAY_MS = 86_400_000


@pytest.fixture
def pantry(founded):
    """The founders' pantry, opened directly (no node)."""
    opened = Pantry.open(founded.data_dir)
    yield opened
    opened.close()


def all_pages(read, limit: int) -> list[str]:
    """Every id, page by page."""
    ids, after = [], None
    while True:
        found = read(limit=limit, after=after)
        ids += [o["id"] for o in found["offers"]]
        after = found["next"]
        if after is None:
            return ids


def test_the_pager_breaks_ties_by_id_and_resumes_after_the_cursor():
    rows = sorted([(1, "b"), (1, "a"), (0, "z"), (2, "c"), (1, "c")])
    first = page(rows, lambda r: r, "rows", 2, None)
    assert first.rows == [(0, "z"), (1, "a")]
    second = page(rows, lambda r: r, "rows", 2, first.next)
    assert second.rows == [(1, "b"), (1, "c")]
    last = page(rows, lambda r: r, "rows", 2, second.next)
    assert last.rows == [(2, "c")] and last.next is None


def test_cursors_name_their_listing():
    cursor = encode_cursor("offers-expiry", (0, 5, "ab"))
    assert decode_cursor("offers-expiry", cursor) == (0, 5, "ab")
    for bad in ("", "!!!", encode_cursor("meals-time", (5, "ab")), "x" * 5000):
        with pytest.raises(InvalidInput, match="after"):
            decode_cursor("offers-expiry", bad)
    for limit in (0, MAX_PAGE + 1, True, "5"):
        with pytest.raises(InvalidInput, match="limit"):
            page([], lambda r: r, "rows", limit, None)


@pytest.mark.parametrize("sort", ["expiry", "newest"])
def test_pages_together_are_the_whole_board_in_order(pantry, sort):
    """Equal expiries and equal creation times are ordered by id, so pages
    never repeat or skip an offer."""
    frozen = pantry.clock()
    pantry.clock = lambda: frozen  # every offer created in the same millisecond
    soon = frozen + DAY_MS
    for n in range(11):
        pantry.offer_add(f"jar {n}", 1, "jar", best_before=soon if n % 3 else None)
    whole = [o["id"] for o in pantry.offer_list(sort=sort)]
    assert len(whole) == 11
    assert all_pages(lambda **kw: pantry.offer_page(sort=sort, **kw), 4) == whole


def test_a_page_continues_exactly_where_the_last_one_ended_when_offers_arrive(pantry):
    """
        page 1: e1 e2 e3 | cursor after e3
        new offers: one expiring before e3 (stays above the cursor), one after
        page 2: e4 e5 (and the new later one, in its place); nothing repeated
    """
    now = pantry.clock()
    for n in range(1, 6):
        pantry.offer_add(f"e{n}", 1, "jar", best_before=now + n * DAY_MS)
    first = pantry.offer_page(limit=3)
    assert [o["item"] for o in first["offers"]] == ["e1", "e2", "e3"]
    pantry.offer_add("early", 1, "jar", best_before=now + DAY_MS // 2)
    pantry.offer_add("between", 1, "jar", best_before=now + 4 * DAY_MS + 1)
    rest = pantry.offer_page(limit=10, after=first["next"])
    assert [o["item"] for o in rest["offers"]] == ["e4", "between", "e5"]
    assert rest["next"] is None


@pytest.mark.parametrize("sort", ["expiry", "newest"])
def test_a_page_reads_the_board_from_its_cursor_not_the_whole_board(pantry, monkeypatch, sort):
    """A page walks the board's index from the cursor and stops one row past
    the page: its cost follows the page, not the board (a board of 100,000
    offers answers a page as fast as one of 40)."""
    from meshpantry.store.view_reading import ViewReader

    now = pantry.clock()
    for n in range(40):
        pantry.offer_add(f"jar {n}", 1, "jar", best_before=now + (n % 7 + 1) * DAY_MS)
    whole = [o["id"] for o in pantry.offer_list(sort=sort)]
    walked = []
    walk = ViewReader.walk_board

    def counting_walk(self, *args, **kwargs):
        for offer in walk(self, *args, **kwargs):
            walked.append(offer.id)
            yield offer

    def whole_board(self, *args, **kwargs):
        raise AssertionError("a page read the whole board")

    monkeypatch.setattr(ViewReader, "walk_board", counting_walk)
    monkeypatch.setattr(ViewReader, "board", whole_board)
    first = pantry.offer_page(sort=sort, limit=5)
    second = pantry.offer_page(sort=sort, limit=5, after=first["next"])
    assert [o["id"] for o in first["offers"] + second["offers"]] == whole[:10]
    assert len(walked) == 12  # each page: its 5 rows and one to know there is more


def test_a_cursor_of_the_other_sort_is_refused(pantry):
    for n in range(3):
        pantry.offer_add(f"jar {n}", 1, "jar")
    cursor = pantry.offer_page(limit=1, sort="newest")["next"]
    with pytest.raises(InvalidInput, match="after"):
        pantry.offer_page(limit=1, sort="expiry", after=cursor)


def test_offer_list_pages_on_the_command_line(founded):
    for n in range(5):
        assert founded.run("offer", "add", f"jar {n}", "1", "jar", "--best-before", f"+{n + 1}d")[0] == 0
    code, out, err = founded.run("offer", "list", "--limit", "2")
    assert code == 0 and "jar 0" in out and "jar 1" in out and "jar 2" not in out
    assert "--after" in err
    first = founded.json("offer", "list", "--limit", "2")
    assert [o["item"] for o in first["offers"]] == ["jar 0", "jar 1"] and first["next"]
    second = founded.json("offer", "list", "--limit", "2", "--after", first["next"])
    assert [o["item"] for o in second["offers"]] == ["jar 2", "jar 3"]
    every = founded.json("offer", "list", "--limit", "2", "--all-pages")
    assert [o["item"] for o in every["offers"]] == [f"jar {n}" for n in range(5)] and every["next"] is None
    code, out, _ = founded.run("offer", "list", "--limit", "2", "--all-pages")
    assert code == 0 and all(f"jar {n}" in out for n in range(5))
    code, _, err = founded.run("offer", "list", "--after", "not-a-cursor")
    assert code == 6 and "cursor" in err
    code, _, err = founded.run("offer", "list", "--limit", "0")
    assert code == 2


def test_meals_recipes_and_claims_page_too(pair):
    founders, zhengs = pair
    for n in range(3):
        assert founders.run("meal", "add", f"meal {n}", "--time", f"+{n + 1}d", "--place", "hall")[0] == 0
        assert founders.run("recipe", "add", f"recipe {n}")[0] == 0
        offer = founders.json("offer", "add", f"jar {n}", "2", "jar")
    meals = founders.json("meal", "list", "--limit", "2")
    assert [m["dish"] for m in meals["meals"]] == ["meal 0", "meal 1"]
    more = founders.json("meal", "list", "--limit", "2", "--after", meals["next"])
    assert [m["dish"] for m in more["meals"]] == ["meal 2"] and more["next"] is None
    recipes = founders.json("recipe", "list", "--limit", "1", "--all-pages")
    assert [r["title"] for r in recipes["recipes"]] == ["recipe 0", "recipe 1", "recipe 2"]
    from tests.cli.conftest import exchange

    exchange(founders, zhengs)
    for n in range(3):
        assert zhengs.run("claim", "add", offer["id"][:10], "1", "--message", f"ask {n}")[0] == 0
    claims = zhengs.json("claim", "list", "--limit", "2")
    assert len(claims["made"]) == 2 and claims["next"]
    every = zhengs.json("claim", "list", "--limit", "2", "--all-pages")
    assert len(every["made"]) == 3 and every["next"] is None


def test_the_log_pages_in_arrival_order_and_new_records_do_not_shift_it(pantry):
    """
        log: o4 o3 | o2 o1 household neighbourhood   (newest first)
        a record written after page 1 is newer than the cursor: page 2 is unchanged
    """
    for n in range(1, 5):
        pantry.offer_add(f"o{n}", 1, "jar")
    first = pantry.log_page(limit=2)
    assert [r["summary"] for r in first["records"]] == ["1 jar o4", "1 jar o3"]
    pantry.offer_add("late", 1, "jar")
    rest = pantry.log_page(limit=10, after=first["next"])
    assert [r["kind"] for r in rest["records"]] == ["offer", "offer", "household", "neighbourhood"]
    assert rest["next"] is None
    offers = pantry.log_page(limit=1, kind="offer", after=first["next"])
    assert [r["summary"] for r in offers["records"]] == ["1 jar o2"]
    with pytest.raises(InvalidInput, match="after"):
        pantry.log_page(after=encode_cursor("log-arrival", ("x",)))


def test_log_pages_on_the_command_line(founded):
    for n in range(3):
        founded.run("offer", "add", f"jar {n}", "1", "jar")
    first = founded.json("log", "--limit", "2")
    assert [r["kind"] for r in first["records"]] == ["offer", "offer"] and first["next"]
    every = founded.json("log", "--limit", "2", "--all-pages")
    assert [r["kind"] for r in every["records"]] == ["offer"] * 3 + ["household", "neighbourhood"]
