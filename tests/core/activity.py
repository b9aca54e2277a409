"""Random neighbourhood activity for property tests, from one seeded Random.

Five devices (Ada the founder, Bea with a second device, Cy, Dee) offer,
claim, decide, cancel, hand over, hold meals, pledge, write and edit recipes
and tell stories. Each device knows only the records it wrote or received:
``sync`` actions merge two devices' knowledge, so most writes are concurrent
with something, as on islands in an outage. Some actions are deliberately
out of bounds (editing someone else's offer, deciding someone else's claim)
so that rejections are exercised too.
"""

from __future__ import annotations

import random

from protocol import Record

from .records import Device, TestNeighbourhood, insert_step, remove_step

#: Chance that a new record reaches each other device at once (gossip inside an
#: island); the rest learn it at the next ``sync``.
GOSSIP_REACH = 0.4
ITEMS = ("tomatoes", "eggs", "flour", "apples", "rice")
ACTIONS = (
    ("offer", 5), ("update", 2), ("withdraw", 1), ("claim", 10), ("decide", 14),
    ("cancel", 2), ("handover", 8), ("meal", 1), ("pledge", 2), ("recipe", 2),
    ("edit", 4), ("story", 1), ("sync", 16), ("revoke", 1),
)


class Activity:
    """A neighbourhood plus what each device knows."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.nb = TestNeighbourhood()
        bea = self.nb.join(2, name="Bea")
        self.devices: list[Device] = [
            self.nb.founder, bea, self.nb.join(3, name="Cy"), self.nb.join(4, name="Dee"),
        ]
        self.devices.append(self.nb.link(bea, 5))
        self.known: dict[int, dict[bytes, Record]] = {
            d.seed: {r.id: r for r in self.nb.records} for d in self.devices
        }

    def run(self, steps: int) -> TestNeighbourhood:
        names = [name for name, _ in ACTIONS]
        weights = [weight for _, weight in ACTIONS]
        for _ in range(steps):
            getattr(self, "_" + self.rng.choices(names, weights)[0])(self.rng.choice(self.devices))
        return self.nb

    # -- helpers ----------------------------------------------------------------

    def _of_kind(self, device: Device, kind: str) -> list[Record]:
        return [r for r in self.known[device.seed].values() if r.kind == kind]

    def _household(self, author: bytes) -> bytes:
        # Bea's second device (5) belongs to Bea's household (device 2).
        return self.devices[1].public if author == self.devices[4].public else author

    def _mostly(self, matching: list[Record], others: list[Record]) -> Record | None:
        """A record from ``matching`` nine times in ten, else from all; None
        when nothing matches, so most actions make sense."""
        if not matching:
            return None
        if self.rng.random() < 0.9:
            return self.rng.choice(matching)
        return self.rng.choice(matching + others)

    def _claims_where(self, device: Device, offerer: bool, claimant: bool) -> Record | None:
        mine = self._household(device.public)
        offers = {r.id: r for r in self._of_kind(device, "offer")}
        matching, others = [], []
        for claim in self._of_kind(device, "claim"):
            offer = offers.get(claim.body["offer"])
            is_offerer = offer is not None and self._household(offer.author) == mine
            is_claimant = self._household(claim.author) == mine
            fits = (offerer and is_offerer) or (claimant and is_claimant)
            (matching if fits else others).append(claim)
        return self._mostly(matching, others)

    def _write(self, device: Device, method: str, *args, **kw) -> Record:
        record = getattr(self.nb, method)(device, *args, observe=list(self.known[device.seed].values()), **kw)
        self.known[device.seed][record.id] = record
        for other in self.devices:  # live gossip reaches some devices at once
            if self.rng.random() < GOSSIP_REACH:
                self.known[other.seed][record.id] = record
        return record

    # -- actions ----------------------------------------------------------------

    def _offer(self, device: Device) -> None:
        self._write(device, "offer", self.rng.choice(ITEMS), self.rng.randint(1, 10), "kg")

    def _own_offer(self, device: Device) -> Record | None:
        mine = self._household(device.public)
        offers = self._of_kind(device, "offer")
        return self._mostly([o for o in offers if self._household(o.author) == mine], offers)

    def _update(self, device: Device) -> None:
        offer = self._own_offer(device)
        if offer is not None:
            self._write(device, "update_offer", offer, quantity=self.rng.randint(1, 10))

    def _withdraw(self, device: Device) -> None:
        offer = self._own_offer(device)
        if offer is not None:
            self._write(device, "withdraw", offer)

    def _claim(self, device: Device) -> None:
        mine = self._household(device.public)
        offers = self._of_kind(device, "offer")
        theirs = [o for o in offers if self._household(o.author) != mine]
        offer = self._mostly(theirs, offers)
        if offer is not None:
            self._write(device, "claim", offer, self.rng.randint(1, 6))

    def _decide(self, device: Device) -> None:
        claim = self._claims_where(device, offerer=True, claimant=False)
        if claim is None:
            return
        if self.rng.random() < 0.8:
            self._write(device, "accept", claim, self.rng.randint(1, claim.body["quantity"]))
        else:
            self._write(device, "decline", claim)

    def _cancel(self, device: Device) -> None:
        claim = self._claims_where(device, offerer=False, claimant=True)
        if claim is not None:
            self._write(device, "cancel", claim)

    def _handover(self, device: Device) -> None:
        accepted = {
            r.body["claim"] for r in self._of_kind(device, "claim_decision") if r.body["accept"]
        }
        claim = self._claims_where(device, offerer=True, claimant=True)
        if claim is not None and (claim.id in accepted or self.rng.random() < 0.1):
            self._write(device, "handover", claim)

    def _meal(self, device: Device) -> None:
        needs = [(item, self.rng.randint(1, 5), "kg") for item in self.rng.sample(ITEMS, 2)]
        self._write(device, "meal", "stew", needs)

    def _pledge(self, device: Device) -> None:
        meals = self._of_kind(device, "meal")
        if meals:
            self._write(device, "pledge", self.rng.choice(meals), self.rng.choice(ITEMS), 2, "kg")

    def _recipe(self, device: Device) -> None:
        steps = [f"step {i}" for i in range(self.rng.randint(0, 3))]
        self._write(device, "recipe", "stew", steps)

    def _edit(self, device: Device) -> None:
        recipes = self._of_kind(device, "recipe")
        if not recipes:
            return
        recipe = self.rng.choice(recipes)
        elements = [(recipe.id, i) for i in range(len(recipe.body["steps"]))]
        for edit in self._of_kind(device, "recipe_edit"):
            if edit.body["recipe"] == recipe.id:
                ops = edit.body.get("ops", ())
                elements += [(edit.id, k) for k, op in enumerate(ops) if op["op"] == "insert_step"]
        if elements and self.rng.random() < 0.3:
            ops = [remove_step(self.rng.choice(elements))]
        else:
            after = self.rng.choice(elements + [None])
            ops = [insert_step(f"by {device.seed}", after)]
        self._write(device, "edit_recipe", recipe, ops=ops)

    def _story(self, device: Device) -> None:
        recipes = self._of_kind(device, "recipe")
        if recipes:
            self._write(device, "story", self.rng.choice(recipes), "we cooked it in the dark")

    def _sync(self, device: Device) -> None:
        """``device`` and one to four others (an island) exchange everything."""
        island = {device.seed} | {d.seed for d in self.rng.sample(self.devices, self.rng.randint(1, 4))}
        merged: dict[bytes, Record] = {}
        for seed in island:
            merged.update(self.known[seed])
        for seed in island:
            self.known[seed] = dict(merged)

    def _revoke(self, device: Device) -> None:
        if self.rng.random() < 0.3:
            target = self.rng.choice(self.devices[1:])
            self._write(device, "revoke", target, self.rng.randint(1, max(1, target.head.seq)))


def random_activity(seed: int, steps: int = 60) -> TestNeighbourhood:
    """A neighbourhood after ``steps`` random actions chosen by ``seed``."""
    return Activity(random.Random(seed)).run(steps)
