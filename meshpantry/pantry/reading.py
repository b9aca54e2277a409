"""The read side of :class:`~meshpantry.pantry.Pantry`: the neighbourhood's
state as plain dictionaries.

Ids are hex text; a unique prefix of at least 4 characters finds a record.
Times are ms since the epoch. The same dictionaries are printed by ``--json``,
sent over the control socket and shown by the terminal UI.

Everything is read from the store's view tables through a
:class:`~meshpantry.store.view_reading.ViewReader`: a screen loads the
entities it shows (an offer and its claims, a board page in sort order),
never the whole log or every view.
"""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING, Any

from meshpantry.core import equity
from meshpantry.store.view_reading import ViewReader
from protocol import decode_record

from .errors import AmbiguousId, InvalidInput, NoNeighbourhood, UnknownId
from .outage_info import annotate_offers, outage_status
from .paging import DEFAULT_PAGE, check_limit, decode_cursor, encode_cursor, page

if TYPE_CHECKING:
    from meshpantry.core.state import NeighbourhoodState

#: "Expiring soon" on the board: within a day, the time a neighbour needs to
#: notice an offer and walk over.
EXPIRING_SOON_MS = 24 * 3600 * 1000
MIN_PREFIX = 4


class Reading:
    """Mixin: needs ``self.store``, ``self.key``, ``self.clock``."""

    store: Any
    key: Any
    clock: Any

    def state(self) -> ViewReader:
        """The views, read on demand (it also reads like a whole
        :class:`~meshpantry.core.state.NeighbourhoodState`)."""
        return self.store.views()

    # -- naming ----------------------------------------------------------------

    def _household_id(self) -> bytes:
        return self.state().devices.get(self.key.public, self.key.public)

    def _my_devices(self) -> set[bytes]:
        state = self.state()
        household = state.devices.get(self.key.public)
        if household is None or household not in state.households:
            return {self.key.public}
        return set(state.households[household].devices) | {self.key.public}

    def _household_name(self, household: bytes | None) -> str:
        if household is None:
            return "?"
        view = self.state().households.get(household)
        if view is not None and view.name:
            return view.name
        if household == self._household_id():
            return self.store.get_setting("household_name") or household.hex()[:8]
        return household.hex()[:8]

    def _find(self, table: dict[bytes, Any], what: str, ref: str | None) -> Any:
        ref = self._ref(what, ref)
        try:
            exact = bytes.fromhex(ref) if len(ref) == 64 else None
        except ValueError:
            exact = None
        if exact is not None and exact in table:
            return table[exact]
        matches = [v for k, v in table.items() if k.hex().startswith(ref)]
        if not matches:
            raise UnknownId(what, ref)
        if len(matches) > 1:
            raise AmbiguousId(what, ref, len(matches))
        return matches[0]

    @staticmethod
    def _ref(what: str, ref: str | None) -> str:
        ref = (ref or "").strip().lower()
        if len(ref) < MIN_PREFIX:
            raise InvalidInput(what, f"give at least {MIN_PREFIX} characters of the id")
        return ref

    def _find_view(self, name: str, what: str, ref: str | None) -> Any:
        """The view of table ``name`` whose id is ``ref`` or starts with it."""
        ref = self._ref(what, ref)
        views = self.state()
        if any(c not in "0123456789abcdef" for c in ref):
            raise UnknownId(what, ref)
        matches = views.find(name, ref, most=None)
        if not matches:
            raise UnknownId(what, ref)
        if len(matches) > 1:
            raise AmbiguousId(what, ref, len(matches))
        return views.one(name, matches[0])

    def _offer(self, ref: str):
        return self._find_view("offers", "offer", ref)

    def _claim(self, ref: str):
        return self._find_view("claims", "claim", ref)

    def _meal(self, ref: str):
        return self._find_view("meals", "meal", ref)

    def _recipe(self, ref: str):
        return self._find_view("recipes", "recipe", ref)

    def _resolve_household(self, ref: str) -> bytes:
        state = self.state()
        by_name = [h.id for h in state.households.values() if h.name and h.name.lower() == ref.strip().lower()]
        if len(by_name) == 1:
            return by_name[0]
        return self._find(state.households, "household", ref).id

    def _resolve_device(self, ref: str) -> bytes:
        state = self.state()
        try:
            return self._find({d: d for d in state.devices}, "device", ref)
        except UnknownId:
            household = self._resolve_household(ref)
            return state.households[household].devices[0]

    # -- identity ----------------------------------------------------------------

    def whoami(self) -> dict:
        settings = self.store.get_setting
        neighbourhood = self.store.neighbourhood
        household = self._household_id() if neighbourhood else self.key.public
        return {
            "device": self.key.public.hex(),
            "household": household.hex(),
            "household_name": self._household_name(household) if neighbourhood else settings("household_name"),
            "area": settings("household_area"),
            "neighbourhood": neighbourhood.hex() if neighbourhood else None,
            "neighbourhood_name": settings("neighbourhood_name"),
        }

    def invite_list(self) -> list[dict]:
        """The invites this household made, newest first, each with how many
        households joined with it and whether it is ``open``, ``used`` (no use
        left), ``revoked`` (``invite_cancel``) or ``expired`` (by this device's
        clock)."""
        if not self.store.neighbourhood:
            raise NoNeighbourhood()
        state = self.state()
        mine = self._my_devices()
        joined: dict[bytes, int] = {}
        for join in self.store.records(kind="join"):
            if join.author in state.devices:  # a household now, by this invite
                joined[join.body["invite"]] = joined.get(join.body["invite"], 0) + 1
        cancelled = {c.body["invite"] for c in self.store.records(kind="invite_cancel") if c.author in state.devices}
        now = self.clock()
        out = []
        for record in self.store.records(kind="invite"):
            if record.author not in mine:
                continue
            uses, used = record.body["uses"], joined.get(record.id, 0)
            status = ("used" if used >= uses else "revoked" if record.id in cancelled
                      else "expired" if record.body["expires"] < now else "open")
            out.append({"invite": record.id.hex(), "made": record.time, "expires": record.body["expires"],
                        "uses": uses, "used": used, "note": record.body.get("note"), "status": status})
        return sorted(out, key=lambda row: (-row["made"], row["invite"]))

    def neighbourhood_show(self) -> dict:
        state = self.state()
        if not self.store.neighbourhood:
            raise NoNeighbourhood()
        households = []
        for view in sorted(state.households.values(), key=lambda h: (h.name or "", h.id)):
            households.append({
                "id": view.id.hex(), "name": view.name or view.id.hex()[:8], "area": view.area,
                "devices": [d.hex() for d in view.devices], "admin": bool(set(view.devices) & state.admins),
                "revoked": view.revoked, "blocked": view.id in self.store.blocked(),
            })
        return {
            "id": self.store.neighbourhood.hex(),
            "name": state.name or self.store.get_setting("neighbourhood_name"),
            "households": households,
            "forks": len(state.forks),
            "waiting": len(state.waiting),
        }

    # -- offers and claims ---------------------------------------------------------

    def offer_list(
        self, *, search: str | None = None, tag: str | None = None, free_of: list[str] | None = None,
        sort: str = "expiry", include_closed: bool = False, mine: bool = False, limit: int | None = None,
        area: str | None = None,
    ) -> list[dict]:
        """The board's offers, filtered and sorted; at most ``limit`` of them
        (the first in the sort order) when given."""
        views = self.state()
        now = self.clock()
        if sort not in ("expiry", "newest"):
            raise InvalidInput("sort", "choose expiry or newest")
        if limit is not None and (type(limit) is not int or limit < 1):
            raise InvalidInput("limit", "must be a whole number of at least 1")
        blocked = self.store.blocked()
        mine_devices = self._my_devices()
        names: dict[bytes, str] = {}
        rows: list[dict] = []
        walk = views.walk_board(
            now, sort=sort, include_closed=include_closed, text=search, tag=tag, allergen_free=free_of or ()
        )
        for offer in walk:
            if offer.household in blocked or (mine and offer.author not in mine_devices):
                continue
            if area is not None and not _in_area(offer, area):
                continue
            rows.append(self._offer_dict(offer, now, views, mine_devices, names))
            if limit is not None and len(rows) >= limit:
                break
        return annotate_offers(rows, self.store, now)

    def _offer_dict(
        self, offer: Any, now: int, state: Any,
        mine_devices: set[bytes] | None = None, names: dict[bytes, str] | None = None,
    ) -> dict:
        """``mine_devices`` and ``names`` (a cache of household names), when
        given, save looking them up again for every offer of a long board."""
        expires = offer.expires
        if mine_devices is None:
            mine_devices = self._my_devices()
        if names is None:
            names = {}
        if offer.household not in names:
            names[offer.household] = self._household_name(offer.household)
        return {
            "id": offer.id.hex(), "author": offer.author.hex(), "household": offer.household.hex(),
            "household_name": names[offer.household],
            "item": offer.item, "quantity": offer.quantity, "unit": offer.unit,
            "remaining": offer.remaining, "allocated": offer.allocated,
            "best_before": offer.best_before, "pickup_from": offer.pickup_from, "pickup_until": offer.pickup_until,
            "area": offer.area, "tags": list(offer.tags), "allergens": list(offer.allergens), "note": offer.note,
            "created": offer.created, "updated": offer.updated, "withdrawn": offer.withdrawn,
            "expired": offer.is_expired(now),
            "expiring_soon": expires is not None and now <= expires <= now + EXPIRING_SOON_MS,
            "claims_count": len(offer.claims),
            "mine": offer.author in mine_devices,
        }

    def offer_show(self, offer_ref: str) -> dict:
        state = self.state()
        offer = self._offer(offer_ref)
        result = self._offer_dict(offer, self.clock(), state)
        claims = state.claims_on(offer.id)
        result["claims"] = [self._claim_dict(c, state) for c in claims]
        result["conflicts"] = [
            {"claim": c["id"], "conflict": c["conflict"]} for c in result["claims"] if c["conflict"]
        ]
        names = {c.id: self._household_name(c.household) for c in claims}
        shares = equity.suggest(offer, claims, state.received_lately(offer))
        asked = sum(s.requested for s in shares)
        result["oversubscribed"] = asked > offer.remaining
        result["fair_share"] = [
            {"claim": s.claim.hex(), "household_name": names.get(s.claim, "?"), "quantity": s.suggested,
             "requested": s.requested, "received_lately": s.received}
            for s in shares
        ] if result["oversubscribed"] else []
        return result

    def _claim_dict(self, claim: Any, state: Any) -> dict:
        offer = state.offers.get(claim.offer)
        pickup = None
        if claim.pickup is not None:
            if claim.author == self.key.public:
                from .household import open_sealed

                pickup = open_sealed(self.key.secret, claim.pickup) or "(could not be read)"
            elif claim.author in self._my_devices():
                pickup = "(sealed to the device that made the claim)"
            elif offer is not None and offer.author in self._my_devices():
                pickup = "(sealed to the claimant)"
        return {
            "id": claim.id.hex(), "offer": claim.offer.hex(),
            "offer_item": offer.item if offer else "?", "unit": offer.unit if offer else "",
            "offerer": offer.household.hex() if offer else None,
            "offerer_name": self._household_name(offer.household) if offer else "?",
            "author": claim.author.hex(), "household": claim.household.hex(),
            "household_name": self._household_name(claim.household),
            "quantity": claim.quantity, "message": claim.message, "status": claim.status.value,
            "accepted_quantity": claim.accepted_quantity or None, "reason": claim.reason,
            "pickup": pickup,
            "handover": {"offerer": claim.confirmed_by_offerer, "claimant": claim.confirmed_by_claimant},
            "completed": claim.completed, "created": claim.created,
            "mine": claim.author in self._my_devices(),
            "conflict": self._conflict_text(claim, offer) if offer else None,
        }

    def claim_show(self, claim_ref: str) -> dict:
        state = self.state()
        return self._claim_dict(self._claim(claim_ref), state)

    def swaps(self) -> dict:
        state = self.state()
        mine = self._my_devices()
        made, received = [], []
        claims, offers = state.claims_involving(mine)
        for claim in sorted(claims, key=lambda c: (-c.created, c.id)):
            offer = offers.get(claim.offer)
            if claim.author in mine:
                made.append(self._claim_dict(claim, state))
            elif offer is not None and offer.author in mine:
                received.append(self._claim_dict(claim, state))
        return {"made": made, "received": received}

    # -- meals ---------------------------------------------------------------------

    def meal_show(self, meal_ref: str) -> dict:
        state = self.state()
        meal = self._meal(meal_ref)
        return self._meal_dict(meal, state)

    def _meal_dict(self, meal: Any, state: Any) -> dict:
        needs = [
            {"item": n.item, "quantity": n.quantity, "unit": n.unit, "pledged": n.pledged, "missing": n.missing}
            for n in meal.needs
        ]
        # Lines in different units do not add up: each line counts alike,
        # as the share of it that is covered.
        shares = [Fraction(min(n["pledged"], n["quantity"]), n["quantity"]) for n in needs]
        pledges = []
        for pledge_id in meal.pledges:
            p = state.pledges[pledge_id]
            pledges.append({
                "id": p.id.hex(), "household_name": self._household_name(p.household),
                "item": p.item, "quantity": p.quantity, "unit": p.unit, "note": p.note,
            })
        return {
            "id": meal.id.hex(), "dish": meal.dish, "time": meal.time, "place": meal.place, "note": meal.note,
            "author": meal.author.hex(), "household_name": self._household_name(meal.household),
            "needs": needs, "pledges": pledges,
            "coverage": 100 if not shares else int(100 * sum(shares) / len(shares)),
            "lines_covered": sum(1 for n in needs if n["missing"] == 0),
            "past": meal.is_past(self.clock()),
        }

    def meal_list(self, include_past: bool = False) -> list[dict]:
        state = self.state()
        meals = state.meal_list(self.clock(), include_past)
        return [self._meal_dict(m, state) for m in meals]

    # -- recipes ---------------------------------------------------------------------

    def recipe_show(self, recipe_ref: str) -> dict:
        state = self.state()
        return self._recipe_dict(self._recipe(recipe_ref), state)

    def _recipe_dict(self, recipe: Any, state: Any) -> dict:
        parent = state.recipes.get(recipe.adapted_from) if recipe.adapted_from else None
        stories = []
        for story_id in recipe.stories:
            story = state.stories[story_id]
            stories.append({
                "id": story.id.hex(), "title": story.title, "text": story.text,
                "household_name": self._household_name(story.household), "created": story.created,
            })
        return {
            "id": recipe.id.hex(), "title": recipe.title, "origin": recipe.origin, "tags": list(recipe.tags),
            "serves": recipe.serves, "story": recipe.story, "created": recipe.created, "updated": recipe.updated,
            "household_name": self._household_name(recipe.household),
            "ingredients": [
                {"position": i, "item": line.item, "amount": line.amount, "unit": line.unit, "note": line.note}
                for i, line in enumerate(recipe.ingredients, 1)
            ],
            "steps": [{"position": i, "text": step.text} for i, step in enumerate(recipe.steps, 1)],
            "stories": stories,
            "contributors": [self._household_name(h) for h in recipe.contributors],
            "adapted_from": (
                {"id": recipe.adapted_from.hex(), "title": parent.title if parent else "(not yet synced)"}
                if recipe.adapted_from else None
            ),
            "variations": [
                {"id": v.hex(), "title": state.recipes[v].title} for v in recipe.variations if v in state.recipes
            ],
        }

    def recipe_list(self, search: str | None = None) -> list[dict]:
        state = self.state()
        return [self._recipe_dict(r, state) for r in _recipes_found(state, search)]

    def recipe_export(self, format: str = "markdown") -> str:
        from .export import render_book

        from .outage_info import load_clock

        clock = load_clock(self.store)
        spans = [(clock.began, clock.ended)] if clock.began is not None else []
        return render_book(self.recipe_list(), format, title=self.state().name or "Recipe book", outage_spans=spans)

    # -- records and status ------------------------------------------------------------

    def log(self, limit: int = 50, kind: str | None = None) -> list[dict]:
        state = self.state()
        rows = []
        for record in self.store.newest_records(limit, kind=kind):
            rows.append({
                "id": record.id.hex(), "kind": record.kind, "author": record.author.hex(),
                "seq": record.seq, "lamport": record.lamport, "time": record.time,
                "status": state.status(record.id).value, "summary": _summary(record),
                "size": len(record.raw),
            })
        return rows

    def rebuild(self) -> dict:
        """Recompute every view from the record log and compare with what the
        views said before."""
        from .digest import state_digest

        before = state_digest(self.state()) if self.store.neighbourhood else None
        self.store.rebuild_views()
        after = state_digest(self.state()) if self.store.neighbourhood else None
        return {"records": self.store.count(), "state_digest": after, "identical": before == after}

    def status(self) -> dict:
        who = self.whoami()
        if not self.store.neighbourhood:  # nothing to count yet: say who we are
            return {**who, "records": self.store.count(), "households": 0, "forks": 0, "waiting": 0,
                    "node_running": False, "island": None, "listen": [], "connected": [], "peers": []}
        state = self.state()
        return {
            **who,
            "records": self.store.count(),
            "households": len(state.households),
            "forks": len(state.forks),
            "waiting": len(state.waiting),
            **self.own_standing(state),
            "node_running": False,
            "island": None,
            "outage": outage_status(self.store, self.clock(), self._my_devices()),
            "listen": [],
            "connected": [],
            "peers": [
                {"peer": p.peer_id, "addresses": list(p.multiaddrs), "last_sync": p.last_sync, "connected": False}
                for p in self.store.peer_addresses()
            ],
        }

    def own_standing(self, state: Any = None) -> dict:
        """Whether this device's records count: ``standing`` (``counts``,
        and the ``reason`` with what to do when they do not), ``not_counting``
        (its own records the neighbourhood rejects, with why) and
        ``conflicts`` (accepted claims of this household's swaps that no
        longer fit their offer, to settle)."""
        from .errors import standing_advice

        state = state or self.state()
        device = self.key.public
        refused = state.next_write_refused(device, self.store.own_head(device).seq + 1)
        return {
            "standing": {
                "counts": refused is None,
                "reason": None if refused is None else standing_advice(refused),
            },
            "not_counting": [
                {"id": rid.hex(), "kind": kind, "seq": seq, "reason": str(error)}
                for rid, kind, seq, error in state.rejected_of(device)
            ],
            "conflicts": self._conflicts(state),
        }

    def _conflicts(self, state: Any) -> list[dict]:
        mine = self._my_devices()
        claims, offers = state.claims_involving(mine)
        rows = []
        for claim in sorted(claims, key=lambda c: (c.created, c.id)):
            offer = offers.get(claim.offer)
            if offer is not None and claim.status.value == "refused":
                rows.append({
                    "claim": claim.id.hex(), "offer": offer.id.hex(), "item": offer.item,
                    "conflict": self._conflict_text(claim, offer),
                })
        return rows

    def _conflict_text(self, claim: Any, offer: Any) -> str | None:
        """What to settle when the offering household accepted ``claim`` but
        the acceptance no longer fits the offer (its quantity was lowered,
        or two devices accepted at once): None for a claim that is not so."""
        if claim.status.value != "refused" or claim.decision is None:
            return None
        raw = self.store.get(claim.decision)
        accepted = decode_record(raw).body.get("quantity") if raw else None
        return (
            f"accepted for {accepted} {offer.unit}, but the offer now has {offer.quantity} {offer.unit} "
            f"with {offer.allocated} given to other claims. To settle: the offering household raises "
            f"the quantity ('meshpantry offer update {offer.id.hex()[:8]} --quantity N') or declines, "
            "or the claimant cancels"
        )

    # -- pages: every listing, a page at a time (see paging.py) ------------------------

    def offer_page(
        self, *, search: str | None = None, tag: str | None = None, free_of: list[str] | None = None,
        sort: str = "expiry", include_closed: bool = False, mine: bool = False,
        limit: int = DEFAULT_PAGE, after: str | None = None, area: str | None = None,
    ) -> dict:
        """The board as :meth:`offer_list` filters and sorts it, ``limit``
        offers after the cursor ``after``: ``{"offers": [...], "next": cursor
        or None}``. The board's index is walked from the cursor on, so a page
        reads about ``limit`` rows however long the board. Raises
        :class:`InvalidInput` for a bad sort, limit or cursor."""
        if sort not in _OFFER_ORDER:
            raise InvalidInput("sort", "choose expiry or newest")
        limit = check_limit(limit)
        listing = f"offers-{sort}"
        mark = None if after is None else _board_mark(sort, decode_cursor(listing, after))
        views = self.state()
        now = self.clock()
        blocked = self.store.blocked()
        mine_devices = self._my_devices()
        walk = views.walk_board(
            now, sort=sort, include_closed=include_closed, after=mark,
            text=search, tag=tag, allergen_free=free_of or (),
        )
        shown: list[Any] = []
        more = False
        for offer in walk:
            if offer.household in blocked or (mine and offer.author not in mine_devices):
                continue
            if area is not None and not _in_area(offer, area):
                continue
            if len(shown) == limit:
                more = True
                break
            shown.append(offer)
        names: dict[bytes, str] = {}
        return {
            "offers": annotate_offers([self._offer_dict(o, now, views, mine_devices, names) for o in shown], self.store, now),
            "next": encode_cursor(listing, _OFFER_ORDER[sort](shown[-1])) if more else None,
        }

    def swaps_page(self, *, limit: int = DEFAULT_PAGE, after: str | None = None) -> dict:
        """:meth:`swaps` a page at a time, newest claim first over both sides:
        ``{"made": [...], "received": [...], "next": cursor or None}``. Only
        the claims this household made or received are read."""
        state = self.state()
        mine = self._my_devices()
        claims, offers = state.claims_involving(mine)
        ours = sorted(
            (c for c in claims
             if c.author in mine or (c.offer in offers and offers[c.offer].author in mine)),
            key=lambda c: (-c.created, c.id),
        )
        found = page(ours, lambda c: (-c.created, c.id.hex()), "claims-newest", limit, after)
        made = [self._claim_dict(c, state) for c in found.rows if c.author in mine]
        received = [self._claim_dict(c, state) for c in found.rows if c.author not in mine]
        return {"made": made, "received": received, "next": found.next}

    def meal_page(self, *, include_past: bool = False, limit: int = DEFAULT_PAGE, after: str | None = None) -> dict:
        """:meth:`meal_list` a page at a time: ``{"meals": [...], "next": ...}``."""
        state = self.state()
        meals = sorted(state.meal_list(self.clock(), include_past), key=lambda m: (m.time, m.id))
        found = page(meals, lambda m: (m.time, m.id.hex()), "meals-time", limit, after)
        return {"meals": [self._meal_dict(m, state) for m in found.rows], "next": found.next}

    def recipe_page(self, *, search: str | None = None, limit: int = DEFAULT_PAGE, after: str | None = None) -> dict:
        """:meth:`recipe_list` a page at a time: ``{"recipes": [...], "next": ...}``."""
        state = self.state()
        found = page(_recipes_found(state, search), lambda r: (r.title.casefold(), r.id.hex()), "recipes-title", limit, after)
        return {"recipes": [self._recipe_dict(r, state) for r in found.rows], "next": found.next}

    def log_page(self, *, limit: int = DEFAULT_PAGE, kind: str | None = None, after: str | None = None) -> dict:
        """:meth:`log` a page at a time, newest first, in arrival order:
        ``{"records": [...], "next": cursor or None}``. Records that arrive
        while paging are newer than the cursor and are not repeated."""
        limit = check_limit(limit)
        before = None
        if after is not None:
            mark = decode_cursor("log-arrival", after)
            if len(mark) != 1 or type(mark[0]) is not int:
                raise InvalidInput("after", "not a cursor of the log; use the 'next' value a page returned")
            before = mark[0]
        state = self.state()
        rows = self.store.records_before(before, limit + 1, kind=kind)
        shown = rows[:limit]
        records = [_log_row(record, state) for _, record in shown]
        more = len(rows) > limit
        return {"records": records, "next": encode_cursor("log-arrival", (shown[-1][0],)) if more else None}


def _recipes_found(state: NeighbourhoodState, search: str | None) -> list[Any]:
    """The recipe book in title order, only recipes mentioning ``search``
    (title, origin, tags, story or an ingredient) when given: what
    :meth:`Reading.recipe_list` and its pages show."""
    needle = (search or "").casefold()
    recipes = []
    for recipe in sorted(state.recipe_list(), key=lambda r: (r.title.casefold(), r.id)):
        haystack = " ".join([recipe.title, recipe.origin or "", " ".join(recipe.tags), recipe.story or "",
                             " ".join(line.item for line in recipe.ingredients)]).casefold()
        if not needle or needle in haystack:
            recipes.append(recipe)
    return recipes


def _expiry_key(offer: Any) -> tuple[int | str, ...]:
    """The board's expiry order (soonest first, then undated ones newest
    first, then id) as a key a cursor can hold."""
    expires = offer.expires
    return (0, expires, offer.id.hex()) if expires is not None else (1, -offer.created, offer.id.hex())


def _board_mark(sort: str, key: tuple[int | str, ...]) -> tuple:
    """The position a board cursor's key names, as
    :meth:`~meshpantry.store.view_reading.ViewReader.walk_board` takes it:
    ``(expires or None, created, id)`` for "expiry", ``(created, id)`` for
    "newest". Raises :class:`InvalidInput` for a key of another shape."""
    bad = InvalidInput("after", "not a cursor of this listing; use the 'next' value a page returned")
    try:
        if sort == "expiry" and len(key) == 3 and key[0] in (0, 1) and type(key[1]) is int:
            if key[0] == 0:
                return (key[1], None, bytes.fromhex(key[2]))  # type: ignore[arg-type]
            return (None, -key[1], bytes.fromhex(key[2]))  # type: ignore[arg-type, operator]
        if sort == "newest" and len(key) == 2 and type(key[0]) is int:
            return (-key[0], bytes.fromhex(key[1]))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise bad from None
    raise bad


#: The board's orders (:func:`meshpantry.core.board.select_offers`) as page keys.
_OFFER_ORDER = {
    "expiry": _expiry_key,
    "newest": lambda offer: (-offer.created, offer.id.hex()),
}


def _log_row(record: Any, state: NeighbourhoodState) -> dict:
    """A row of :meth:`Reading.log`, for its pages."""
    return {
        "id": record.id.hex(), "kind": record.kind, "author": record.author.hex(),
        "seq": record.seq, "lamport": record.lamport, "time": record.time,
        "status": state.status(record.id).value, "summary": _summary(record),
        "size": len(record.raw),
    }


def _summary(record: Any) -> str:
    body = record.body
    kind = record.kind
    if kind == "offer":
        return f"{body.get('quantity')} {body.get('unit')} {body.get('item')}"
    if kind == "claim":
        return f"{body.get('quantity')} of offer {body.get('offer', b'').hex()[:8]}"
    if kind == "claim_decision":
        return ("accept " + str(body.get("quantity"))) if body.get("accept") else "decline"
    if kind in ("neighbourhood", "household"):
        return str(body.get("name", ""))
    if kind == "meal":
        return str(body.get("dish", ""))
    if kind == "recipe":
        return str(body.get("title", ""))
    if kind == "pledge":
        return f"{body.get('quantity')} {body.get('unit')} {body.get('item')}"
    if kind == "story":
        return str(body.get("title") or body.get("text", ""))[:40]
    return ""


def _in_area(offer: Any, area: str) -> bool:
    """The board's area filter: the offer's area is ``area``, case aside."""
    return (offer.area or "").casefold() == area.strip().casefold()
