"""What households do during a run: offers, claims, decisions, handovers,
meals, pledges, recipes, steps and stories, in the scenario's proportions.

Theory of operation. :meth:`Workload.act` picks an action by weight for one
node, and the node writes it from **its own view**: a claim names an offer the
node holds, a decision answers a claim on its household's offer that it holds,
with the allocation it can see; a handover confirms a claim it saw accepted.
Islands therefore decide apart, and a household with two devices on two
islands can accept more than the offer holds between them: the views must
refuse the overdraw when the islands meet. An action with nothing to act on
falls back to an offer (the most common thing a household does).

The workload keeps, for choosing, the facts of what was written (offers per
household, claims per offer, decisions per claim); whether a node may act on
a fact is always checked against what that node holds.
"""

from __future__ import annotations

import random
from typing import Any, Callable

from .node import SimNode

#: Actions a scenario may weigh, and their record kinds.
ACTIONS = {
    "offer": "offer",
    "claim": "claim",
    "decision": "claim_decision",
    "handover": "handover",
    "meal": "meal",
    "pledge": "pledge",
    "recipe": "recipe",
    "step": "recipe_edit",
    "story": "story",
}

#: Recent records of a kind considered when choosing what to act on: households act on
#: what is fresh on the board, and it bounds the cost of a choice.
RECENT = 512

#: Tries at finding a held referent before falling back to an offer.
TRIES = 6

DAY_MS = 24 * 60 * 60 * 1000
ITEMS = (("tomatoes", "kg"), ("eggs", "items"), ("flour", "g"), ("apples", "kg"),
         ("rice", "g"), ("bread", "loaves"), ("milk", "l"), ("lentils", "g"), ("onions", "kg"))
DISHES = ("stone soup", "dal", "shakshuka", "bread pudding", "ribollita", "fried rice")
STEPS = ("Chop everything you have.", "Simmer slowly with the lid on.",
         "Season, taste, season again.", "Share while it is hot.")
STORIES = ("We cooked this on a camping stove the night the lights went out.",
           "My grandmother made it whenever the larder was nearly empty.",
           "Three households pooled what they had and this is what came out.")


class Workload:
    """Chooses and writes household actions for nodes."""

    def __init__(self, mix: dict[str, float], rng: random.Random) -> None:
        unknown = set(mix) - set(ACTIONS)
        if unknown:
            raise ValueError(f"unknown workload actions: {', '.join(sorted(unknown))}")
        self.names = [name for name in ACTIONS if mix.get(name, 0) > 0]
        self.weights = [mix[name] for name in self.names]
        if not self.names:
            raise ValueError("the workload mix gives no action a weight")
        self.rng = rng
        self.tags: tuple[str, ...] = ()
        self.offers: list[int] = []
        self.offer_facts: dict[int, tuple[bytes, int]] = {}  #: offer -> (household, quantity)
        self.household_offers: dict[bytes, list[int]] = {}
        self.claims_on: dict[int, list[int]] = {}  #: offer -> claims
        self.claim_facts: dict[int, tuple[int, bytes, int]] = {}  #: claim -> (offer, household, qty)
        self.decisions_on: dict[int, list[tuple[int, int]]] = {}  #: claim -> [(decision, accepted qty)]
        self.accepted: list[int] = []
        self.handed: set[tuple[int, bytes]] = set()
        self.meals: list[int] = []
        self.recipes: list[tuple[int, int]] = []  #: (recipe, number of initial steps)
        self.written: dict[str, int] = dict.fromkeys(ACTIONS, 0)
        self._builders: dict[str, Callable[[SimNode, int], tuple[dict[str, Any], Callable[[int], None]] | None]] = {
            "offer": self._offer, "claim": self._claim, "decision": self._decision,
            "handover": self._handover, "meal": self._meal, "pledge": self._pledge,
            "recipe": self._recipe, "step": self._step, "story": self._story,
        }

    def act(self, node: SimNode, virtual_ms: int) -> int:
        """Write one action for ``node``; returns the record's position."""
        name = self.rng.choices(self.names, self.weights)[0]
        built = self._builders[name](node, virtual_ms)
        if built is None:
            name, built = "offer", self._offer(node, virtual_ms)
            assert built is not None
        body, note = built
        position = node.write(ACTIONS[name], body, virtual_ms)
        note(position)
        self.written[name] += 1
        return position

    # -- choosing ------------------------------------------------------------------

    def _held(self, node: SimNode, pool: list, key: Callable[[Any], int] = lambda x: x) -> Any:
        """A random recent entry of ``pool`` that ``node`` holds, or None."""
        if not pool:
            return None
        window = min(len(pool), RECENT)
        for _ in range(TRIES):
            entry = pool[len(pool) - 1 - self.rng.randrange(window)]
            if node.store.holds(key(entry)):
                return entry
        return None

    # -- actions: each returns (body, note(position)) or None -------------------------

    def _offer(self, node: SimNode, t: int):
        item, unit = self.rng.choice(ITEMS)
        quantity = self.rng.randint(1, 20)
        now = node.now(t)
        body = {"item": item, "quantity": quantity, "unit": unit, "best_before": now + 3 * DAY_MS,
                "pickup_until": now + 2 * DAY_MS, "area": "mill lane"}
        if self.tags:
            body["tags"] = list(self.tags)

        def note(position: int) -> None:
            self.offers.append(position)
            self.offer_facts[position] = (node.household, quantity)
            self.household_offers.setdefault(node.household, []).append(position)
        return body, note

    def _claim(self, node: SimNode, t: int):
        for _ in range(TRIES):
            offer = self._held(node, self.offers)
            if offer is None:
                return None
            household, quantity = self.offer_facts[offer]
            if household != node.household:
                break
        else:
            return None
        wanted = self.rng.randint(1, max(1, quantity // 2))
        body = {"offer": self.table_id(node, offer), "quantity": wanted, "message": "could I have some?"}

        def note(position: int) -> None:
            self.claims_on.setdefault(offer, []).append(position)
            self.claim_facts[position] = (offer, node.household, wanted)
        return body, note

    def _decision(self, node: SimNode, t: int):
        mine = self.household_offers.get(node.household, [])
        for _ in range(TRIES):
            offer = self._held(node, mine)
            if offer is None:
                return None
            open_claims = [
                c for c in self.claims_on.get(offer, [])
                if node.store.holds(c) and not any(node.store.holds(d) for d, _ in self.decisions_on.get(c, []))
            ]
            if open_claims:
                break
        else:
            return None
        claim = self.rng.choice(open_claims)
        _, quantity = self.offer_facts[offer]
        seen = sum(q for c in self.claims_on[offer] for d, q in self.decisions_on.get(c, []) if node.store.holds(d))
        remaining = quantity - seen
        wanted = self.claim_facts[claim][2]
        accept = remaining > 0 and self.rng.random() < 0.85
        body: dict[str, Any] = {"claim": self.table_id(node, claim), "accept": accept}
        given = min(wanted, remaining) if accept else 0
        if accept:
            body["quantity"] = given
        else:
            body["reason"] = "all gone, sorry" if remaining <= 0 else "saving it for the meal"

        def note(position: int) -> None:
            self.decisions_on.setdefault(claim, []).append((position, given))
            if accept:
                self.accepted.append(claim)
        return body, note

    def _handover(self, node: SimNode, t: int):
        for _ in range(TRIES):
            claim = self._held(node, self.accepted)
            if claim is None:
                return None
            offer, claimant, _ = self.claim_facts[claim]
            offerer = self.offer_facts[offer][0]
            if node.household not in (offerer, claimant) or (claim, node.household) in self.handed:
                continue
            if any(q and node.store.holds(d) for d, q in self.decisions_on.get(claim, [])):
                break
        else:
            return None
        body = {"claim": self.table_id(node, claim), "note": "picked up, thank you"}
        self.handed.add((claim, node.household))
        return body, lambda position: None

    def _meal(self, node: SimNode, t: int):
        needs = [{"item": item, "quantity": self.rng.randint(1, 5), "unit": unit}
                 for item, unit in self.rng.sample(ITEMS, self.rng.randint(1, 3))]
        body = {"dish": self.rng.choice(DISHES), "time": node.now(t) + DAY_MS,
                "place": "the courtyard", "needs": needs}
        return body, self.meals.append

    def _pledge(self, node: SimNode, t: int):
        meal = self._held(node, self.meals)
        if meal is None:
            return None
        item, unit = self.rng.choice(ITEMS)
        body = {"meal": self.table_id(node, meal), "item": item, "quantity": self.rng.randint(1, 3), "unit": unit}
        return body, lambda position: None

    def _recipe(self, node: SimNode, t: int):
        steps = self.rng.sample(STEPS, self.rng.randint(1, 3))
        item, unit = self.rng.choice(ITEMS)
        body: dict[str, Any] = {
            "title": self.rng.choice(DISHES), "steps": steps,
            "ingredients": [{"item": item, "amount": str(self.rng.randint(1, 9)), "unit": unit}],
            "story": self.rng.choice(STORIES), "origin": "our street",
        }
        if self.tags:
            body["tags"] = list(self.tags)
        return body, lambda position: self.recipes.append((position, len(steps)))

    def _step(self, node: SimNode, t: int):
        found = self._held(node, self.recipes, key=lambda entry: entry[0])
        if found is None:
            return None
        recipe, steps = found
        rid = self.table_id(node, recipe)
        op: dict[str, Any] = {"op": "insert_step", "text": self.rng.choice(STEPS)}
        if steps:
            op["after"] = [rid, self.rng.randrange(steps)]
        return {"recipe": rid, "ops": [op]}, lambda position: None

    def _story(self, node: SimNode, t: int):
        found = self._held(node, self.recipes, key=lambda entry: entry[0])
        if found is None:
            return None
        body = {"recipe": self.table_id(node, found[0]), "text": self.rng.choice(STORIES)}
        return body, lambda position: None

    @staticmethod
    def table_id(node: SimNode, position: int) -> bytes:
        return node.table.record(position).id
