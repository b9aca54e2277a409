"""A tiny neighbourhood builder for tests: real signed records from fixed keys.

Everything is deterministic: device ``n`` has the Ed25519 seed ``bytes([n]) * 32``;
times come from the builder's clock (``T0`` plus one second per record unless
given). Typical use::

    nb = TestNeighbourhood()                  # founder is device 1, genesis signed
    bea = nb.join(2, name="Bea")              # invite by the founder, join with proof
    offer = nb.offer(nb.founder, "tomatoes", 5, "kg")
    claim = nb.claim(bea, offer, 2)
    nb.accept(nb.founder, claim, 2)
    state = build_state(nb.records, nb.id)

By default a device *observes* every record written so far before it signs,
so Lamport counters are causal, as they are inside one island. Pass
``observe=False`` (see nothing new) or ``observe=[records]`` (see exactly
those) to write concurrently, as two islands would.
"""

from __future__ import annotations

import hashlib
from typing import Any, Iterable

import nacl.bindings

from meshpantry.core.chain import ChainHead, next_record
from meshpantry.core.membership import join_message
from protocol import Record, seal

#: 2026-01-01T00:00:00Z in ms: a fixed start for every builder clock.
T0 = 1_767_225_600_000
DAY_MS = 24 * 60 * 60 * 1000
#: How far the builder clock moves per record when no time is given.
TICK_MS = 1000


def keypair(seed: int) -> tuple[bytes, bytes]:
    """(public key, 64-byte secret key) of device ``seed`` (0..255)."""
    return nacl.bindings.crypto_sign_seed_keypair(bytes([seed]) * 32)


def invite_keypair(seed: int) -> tuple[bytes, bytes]:
    """The one-time invite key of invite ``seed`` (distinct from device keys)."""
    return nacl.bindings.crypto_sign_seed_keypair(hashlib.sha256(b"invite%d" % seed).digest())


class Device:
    """One device's key and chain head."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.public, self.secret = keypair(seed)
        self.head = ChainHead()

    def observe(self, records: Iterable[Record]) -> None:
        for record in records:
            self.head = self.head.observe(record.lamport)

    def write(self, neighbourhood: bytes, kind: str, body: dict[str, Any], time: int) -> Record:
        record = next_record(
            self.secret, self.head, neighbourhood=neighbourhood, kind=kind, body=body, now=time
        )
        self.head = self.head.after(record)
        return record

    def __repr__(self) -> str:
        return f"Device({self.seed})"


def reseal(device: Device, record: Record, **changes: Any) -> Record:
    """``record`` signed again by ``device`` with some envelope fields changed
    (``neighbourhood``, ``seq``, ``prev``, ``lamport``, ``time``, ``kind``,
    ``body``): a valid signature over a record that breaks one rule."""
    fields: dict[str, Any] = {
        "neighbourhood": record.neighbourhood,
        "seq": record.seq,
        "prev": record.prev,
        "lamport": record.lamport,
        "time": record.time,
        "kind": record.kind,
        "body": record.body,
    }
    fields.update(changes)
    return seal(device.secret, **fields)


def fork_of(device: Device, record: Record, body: dict[str, Any]) -> Record:
    """A second, different record by ``device`` at ``record``'s seq (a fork)."""
    return reseal(device, record, body=body)


class TestNeighbourhood:
    """A neighbourhood under construction. ``records`` lists everything written,
    in writing order; ``devices`` maps seed -> :class:`Device`."""

    __test__ = False  # not a pytest test class

    def __init__(self, name: str = "Elm Street", founder: int = 1, household: str | None = "Ada") -> None:
        self.clock = T0
        self.records: list[Record] = []
        self.devices: dict[int, Device] = {}
        self._top_lamport = 0  # the highest counter written so far
        self.founder = self.device(founder)
        self.genesis = self._sign(self.founder, "neighbourhood", {"name": name}, b"", None, True)
        self.id = self.genesis.id
        self._invites = 0
        if household:
            self.household(self.founder, household)

    # -- plumbing -------------------------------------------------------------

    def device(self, seed: int) -> Device:
        if seed not in self.devices:
            self.devices[seed] = Device(seed)
        return self.devices[seed]

    def tick(self, ms: int = TICK_MS) -> int:
        self.clock += ms
        return self.clock

    def _sign(
        self,
        device: Device,
        kind: str,
        body: dict[str, Any],
        neighbourhood: bytes,
        time: int | None,
        observe: bool | Iterable[Record],
    ) -> Record:
        if observe is True:
            device.head = device.head.observe(self._top_lamport)
        elif observe is not False:
            device.observe(observe)
        record = device.write(neighbourhood, kind, body, self.tick() if time is None else time)
        self.records.append(record)
        self._top_lamport = max(self._top_lamport, record.lamport)
        return record

    def write(
        self,
        device: Device,
        kind: str,
        body: dict[str, Any],
        *,
        time: int | None = None,
        observe: bool | Iterable[Record] = True,
    ) -> Record:
        """Sign a record of any kind by ``device`` and add it to ``records``."""
        return self._sign(device, kind, body, self.id, time, observe)

    def add(self, *records: Record) -> None:
        """Add records signed elsewhere (a fork, a resealed record) to ``records``,
        so that later writes observe their counters."""
        for record in records:
            self.records.append(record)
            self._top_lamport = max(self._top_lamport, record.lamport)

    # -- membership -----------------------------------------------------------

    def invite(
        self, inviter: Device, *, uses: int = 1, expires: int | None = None, **kw: Any
    ) -> tuple[Record, bytes]:
        """An invite by ``inviter``; returns (record, invite secret key)."""
        self._invites += 1
        public, secret = invite_keypair(self._invites)
        expires = self.clock + 7 * DAY_MS if expires is None else expires
        record = self.write(inviter, "invite", {"key": public, "expires": expires, "uses": uses}, **kw)
        return record, secret

    def join_with(self, seed: int, invite: Record, invite_secret: bytes, **kw: Any) -> Record:
        """Device ``seed`` joins through ``invite`` with a valid proof."""
        device = self.device(seed)
        signed = nacl.bindings.crypto_sign(join_message(self.id, device.public), invite_secret)
        proof = signed[:64]
        return self.write(device, "join", {"invite": invite.id, "proof": proof}, **kw)

    def join(self, seed: int, name: str | None = None, inviter: Device | None = None) -> Device:
        """Invite (by ``inviter``, default the founder), join, and publish a
        household profile named ``name`` if given. Returns the new device."""
        invite, secret = self.invite(inviter or self.founder)
        self.join_with(seed, invite, secret)
        device = self.device(seed)
        if name:
            self.household(device, name)
        return device

    def link(self, device: Device, seed: int) -> Device:
        """``device`` links a new device ``seed`` to its household."""
        new = self.device(seed)
        self.write(device, "device_link", {"device": new.public})
        return new

    def revoke(self, admin: Device, member: Device, after_seq: int, **kw: Any) -> Record:
        return self.write(admin, "revoke", {"member": member.public, "after_seq": after_seq}, **kw)

    def household(self, device: Device, name: str, **fields: Any) -> Record:
        return self.write(device, "household", {"name": name, **fields})

    # -- offers and claims ----------------------------------------------------

    def offer(
        self, device: Device, item: str = "tomatoes", quantity: int = 5, unit: str = "kg",
        *, observe: bool | Iterable[Record] = True, time: int | None = None, **fields: Any,
    ) -> Record:
        body = {"item": item, "quantity": quantity, "unit": unit, **fields}
        return self.write(device, "offer", body, observe=observe, time=time)

    def update_offer(self, device: Device, offer: Record, observe: Any = True, **fields: Any) -> Record:
        return self.write(device, "offer_update", {"offer": offer.id, **fields}, observe=observe)

    def withdraw(self, device: Device, offer: Record, **kw: Any) -> Record:
        return self.write(device, "offer_withdraw", {"offer": offer.id}, **kw)

    def claim(self, device: Device, offer: Record, quantity: int, message: str | None = None, **kw: Any) -> Record:
        body: dict[str, Any] = {"offer": offer.id, "quantity": quantity}
        if message is not None:
            body["message"] = message
        return self.write(device, "claim", body, **kw)

    def cancel(self, device: Device, claim: Record, **kw: Any) -> Record:
        return self.write(device, "claim_cancel", {"claim": claim.id}, **kw)

    def accept(self, device: Device, claim: Record, quantity: int, pickup: bytes | None = None, **kw: Any) -> Record:
        body: dict[str, Any] = {"claim": claim.id, "accept": True, "quantity": quantity}
        if pickup is not None:
            body["pickup"] = pickup
        return self.write(device, "claim_decision", body, **kw)

    def decline(self, device: Device, claim: Record, reason: str | None = None, **kw: Any) -> Record:
        body: dict[str, Any] = {"claim": claim.id, "accept": False}
        if reason is not None:
            body["reason"] = reason
        return self.write(device, "claim_decision", body, **kw)

    def handover(self, device: Device, claim: Record, **kw: Any) -> Record:
        return self.write(device, "handover", {"claim": claim.id}, **kw)

    # -- meals ----------------------------------------------------------------

    def meal(
        self, device: Device, dish: str = "soup", needs: Iterable[tuple[str, int, str]] = (),
        *, when: int | None = None, place: str = "the courtyard", **kw: Any,
    ) -> Record:
        body = {
            "dish": dish,
            "time": self.clock + DAY_MS if when is None else when,
            "place": place,
            "needs": [{"item": i, "quantity": q, "unit": u} for i, q, u in needs],
        }
        return self.write(device, "meal", body, **kw)

    def pledge(self, device: Device, meal: Record, item: str, quantity: int, unit: str, **kw: Any) -> Record:
        body = {"meal": meal.id, "item": item, "quantity": quantity, "unit": unit}
        return self.write(device, "pledge", body, **kw)

    # -- recipes --------------------------------------------------------------

    def recipe(
        self, device: Device, title: str = "stone soup", steps: Iterable[str] = (),
        ingredients: Iterable[dict[str, Any]] = (), *, observe: Any = True, **fields: Any,
    ) -> Record:
        body = {"title": title, "steps": list(steps), "ingredients": list(ingredients), **fields}
        return self.write(device, "recipe", body, observe=observe)

    def edit_recipe(
        self, device: Device, recipe: Record, *, set: dict[str, Any] | None = None,
        ops: list[dict[str, Any]] | None = None, observe: Any = True,
    ) -> Record:
        body: dict[str, Any] = {"recipe": recipe.id}
        if set:
            body["set"] = set
        if ops:
            body["ops"] = ops
        return self.write(device, "recipe_edit", body, observe=observe)

    def story(self, device: Device, recipe: Record, text: str, **kw: Any) -> Record:
        return self.write(device, "story", {"recipe": recipe.id, "text": text}, **kw)


def insert_step(text: str, after: tuple[bytes, int] | None = None) -> dict[str, Any]:
    """A recipe_edit op inserting a step after element ``after`` (None: first)."""
    op: dict[str, Any] = {"op": "insert_step", "text": text}
    if after is not None:
        op["after"] = [after[0], after[1]]
    return op


def remove_step(target: tuple[bytes, int]) -> dict[str, Any]:
    return {"op": "remove_step", "target": [target[0], target[1]]}


def insert_ingredient(item: str, after: tuple[bytes, int] | None = None, **line: Any) -> dict[str, Any]:
    op: dict[str, Any] = {"op": "insert_ingredient", "item": item, **line}
    if after is not None:
        op["after"] = [after[0], after[1]]
    return op


def remove_ingredient(target: tuple[bytes, int]) -> dict[str, Any]:
    return {"op": "remove_ingredient", "target": [target[0], target[1]]}
