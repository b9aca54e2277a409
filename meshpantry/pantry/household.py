"""The household's own actions: the one place records are made.

:class:`Pantry` turns what a household wants to do (offer tomatoes, accept a
claim, add a step to a recipe) into signed records on its own chain, made
durable in the store before the call returns, and answers questions about the
neighbourhood's state as plain dictionaries (the same shapes go to the command
line's ``--json``, over the control socket, and into the terminal UI).

The node wraps a Pantry and publishes every record it writes; without a node,
the command line uses a Pantry on the store directly.
"""

from __future__ import annotations

import secrets
import time as _time
from pathlib import Path
from typing import Any, Callable, Iterable

import nacl.bindings
import nacl.public

from meshpantry.core import units
from meshpantry.core.allergens import UnknownAllergen, allergen
from meshpantry.core.chain import next_record
from meshpantry.core.lineage import variation_start
from meshpantry.core.membership import Admission, join_message
from meshpantry.keys import DeviceKey, read_key, write_key
from meshpantry.store import Store
from protocol import Record
from protocol.errors import DecodeError

from .errors import (
    AlreadyDone, ChainNotRecovered, InvalidInput, NoIdentity, NoNeighbourhood, NotAllowed, UnknownId, WillNotCount,
)
from .invite_code import SECRET_BYTES, InviteCode, seed_of
from .link_code import LinkCode
from .reading import EXPIRING_SOON_MS, Reading

#: Default lifetime of an invite: three days is long enough to pass a code on
#: by hand in an outage, short enough that a lost code soon stops working.
DEFAULT_INVITE_HOURS = 72

DB_FILE = "meshpantry.sqlite3"

#: Kinds written without asking whether they will count: the genesis has no
#: neighbourhood to ask, and a join is how a household whose join lost an
#: invite's race tries again.
_UNCHECKED_KINDS = frozenset({"neighbourhood", "join"})

#: Setting: this device's own chain is known complete (new key, or recovered
#: from peers). Until then it must not sign, or it could reuse a seq (a fork).
CHAIN_CHECKED = "own_chain_checked"
#: Set by ``meshpantry repair``: records of this device's chain may have been
#: lost with a damaged page, so it fetches them from a neighbour before it
#: writes again (a reused seq would fork the chain).
CHAIN_UNSURE = "own_chain_unsure"


def wall_clock_ms() -> int:
    return int(_time.time() * 1000)


class Pantry(Reading):
    """A household device's view of and voice in its neighbourhood.

    ``on_record`` is called with every record this device writes, after it is
    durable (the node uses it to publish).
    """

    def __init__(
        self,
        store: Store,
        key: DeviceKey,
        *,
        clock: Callable[[], int] = wall_clock_ms,
        on_record: Callable[[Record], None] | None = None,
        data_dir: Path | None = None,
    ) -> None:
        self.store = store
        self.key = key
        self.clock = clock
        self.on_record = on_record
        self.data_dir = data_dir

    @classmethod
    def open(cls, data_dir: Path, *, passphrase: str | None = None, writer: bool = True) -> "Pantry":
        """Open the device key and the store in ``data_dir``.

        Raises :class:`NoIdentity` when the device has no key yet, and the
        store's own errors (locked by another process)."""
        data_dir = Path(data_dir)
        if not (data_dir / "device.key").exists():
            raise NoIdentity(data_dir)
        key = read_key(data_dir, passphrase)
        store = Store.open(data_dir / DB_FILE, writer=writer)
        return cls(store, key, data_dir=data_dir)

    @classmethod
    def create(
        cls, data_dir: Path, household: str, *, area: str | None = None, passphrase: str | None = None
    ) -> "Pantry":
        """Create this device's identity: a new key (never overwriting one),
        the store, and the household's name for when it founds or joins.

        A new key has no history, so its chain needs no recovery from peers.
        Raises :class:`~meshpantry.keys.KeyFileError` if a key exists."""
        if not household or not household.strip():
            raise InvalidInput("household", "a household needs a name")
        write_key(Path(data_dir), DeviceKey.generate(), passphrase)
        pantry = cls.open(data_dir, passphrase=passphrase)
        pantry.store.set_setting("household_name", household.strip())
        if area:
            pantry.store.set_setting("household_area", area)
        pantry.store.set_setting(CHAIN_CHECKED, 1)
        return pantry

    def close(self) -> None:
        self.store.close()

    @property
    def chain_recovered(self) -> bool:
        """True once this device may write: its key is new, its store holds its
        chain, or peers were asked for the chain after the store was lost."""
        if self.store.get_setting(CHAIN_UNSURE):
            return False
        return bool(self.store.get_setting(CHAIN_CHECKED)) or self.store.own_head(self.device).seq > 0

    def mark_chain_recovered(self) -> None:
        self.store.set_setting(CHAIN_CHECKED, 1)
        if self.store.get_setting(CHAIN_UNSURE):
            self.store.set_setting(CHAIN_UNSURE, None)

    # -- writing --------------------------------------------------------------

    @property
    def device(self) -> bytes:
        return self.key.public

    @property
    def neighbourhood(self) -> bytes:
        value = self.store.neighbourhood
        if not value:
            raise NoNeighbourhood()
        return value

    def _write(
        self, kind: str, body: dict[str, Any], *, neighbourhood: bytes | None = None, after_lamport: int = 0
    ) -> Record:
        """Sign, store durably, then announce. ``after_lamport`` forces the
        counter past a record known only by reference (an invite in a code)."""
        if neighbourhood is None:
            neighbourhood = self.neighbourhood
        head = self.store.own_head(self.device).observe(after_lamport)
        if (head.seq == 0 and not self.store.get_setting(CHAIN_CHECKED)) or self.store.get_setting(CHAIN_UNSURE):
            raise ChainNotRecovered()
        if kind not in _UNCHECKED_KINDS:
            refused = self.state().next_write_refused(self.device, head.seq + 1)
            if refused is not None:
                raise WillNotCount(refused)
        try:
            record = next_record(
                self.key.secret, head, neighbourhood=neighbourhood, kind=kind,
                body=body, now=self.clock(),
            )
        except DecodeError as exc:
            field = getattr(exc, "field", kind)
            raise InvalidInput(str(field), getattr(exc, "reason", str(exc))) from None
        self.store.append_own(record)
        if self.on_record is not None:
            self.on_record(record)
        return record

    # -- identity and membership ---------------------------------------------

    def create_neighbourhood(self, name: str, household: str, area: str | None = None) -> dict:
        """Found a neighbourhood: genesis record, then this household's profile."""
        if self.store.neighbourhood:
            raise AlreadyDone("this device already belongs to a neighbourhood")
        self._write("neighbourhood", {"name": name}, neighbourhood=b"")
        self.store.set_setting("neighbourhood_name", name)
        self._write("household", _drop_none({"name": household, "area": area}))
        return self.whoami()

    def create_invite(
        self, *, uses: int = 1, hours: int = DEFAULT_INVITE_HOURS, note: str | None = None,
        addresses: Iterable[str] = (),
    ) -> dict:
        """Publish a one-time invite key and return the code to hand over."""
        self._require_member()
        if not 1 <= uses <= 1000:
            raise InvalidInput("uses", "must be between 1 and 1000")
        if not 1 <= hours <= 24 * 365:
            raise InvalidInput("hours", "must be between 1 and 8760")
        secret = secrets.token_bytes(SECRET_BYTES)
        invite_key, _ = nacl.bindings.crypto_sign_seed_keypair(seed_of(secret))
        expires = self.clock() + hours * 3600 * 1000
        record = self._write(
            "invite", _drop_none({"key": invite_key, "expires": expires, "uses": uses, "note": note})
        )
        code = InviteCode.new(
            self.neighbourhood, self.store.get_setting("neighbourhood_name") or "",
            record.id, record.lamport, secret, tuple(addresses),
        )
        return {"code": code.encode(), "invite": record.id.hex(), "expires": expires, "uses": uses,
                "addresses": list(InviteCode.decode(code.encode()).addresses)}

    def invite_revoke(self, invite_ref: str, reason: str | None = None) -> dict:
        """Close an invite this household made (admins: any invite) with a
        signed ``invite_cancel``: joins made after it do not count on any
        node that has it. A household that joined before stays; an admin
        removes it with :meth:`revoke`."""
        self._require_member()
        rows = {bytes.fromhex(row["invite"]): row for row in self.invite_list()}
        invites = {r.id: r for r in self.store.records(kind="invite")}
        invite = self._find(invites, "invite", invite_ref)
        row = rows.get(invite.id)
        state = self.state()
        admin = state.devices.get(self.device) == state.devices.get(self._founder())
        if row is None and not admin:
            raise NotAllowed("only the household that made an invite (or an admin) can revoke it; "
                             "'meshpantry invite list' shows yours")
        if row is not None and row["status"] == "revoked":
            raise AlreadyDone("that invite is already revoked")
        if row is not None and row["status"] == "used":
            raise AlreadyDone(f"every use of that invite is taken ({row['used']} household(s) joined); "
                              "an admin removes a household with 'meshpantry revoke HOUSEHOLD'")
        used = sum(1 for join in self.store.records(kind="join")
                   if join.body["invite"] == invite.id and join.author in state.devices)
        if used >= invite.body["uses"]:
            raise AlreadyDone(f"every use of that invite is taken ({used} household(s) joined); "
                              "an admin removes a household with 'meshpantry revoke HOUSEHOLD'")
        record = self._write("invite_cancel", _drop_none({"invite": invite.id, "uses": used, "reason": reason}))
        return {"invite": invite.id.hex(), "revoked": record.id.hex(), "used": used}

    def _founder(self) -> bytes:
        """The founder's device key (the genesis record's author)."""
        genesis = next(iter(self.store.records(kind="neighbourhood")), None)
        return genesis.author if genesis is not None else b""

    def join(self, code: str, household: str, area: str | None = None) -> dict:
        """Join the neighbourhood an invite code names.

        Writes the join (with the invite's proof) and this household's profile.
        They count on other nodes once those nodes hold the invite; the code's
        addresses are returned so the node can dial them."""
        invite = InviteCode.decode(code)
        if self.store.neighbourhood:
            self._require_join_lost(invite.neighbourhood)
        _, invite_secret = nacl.bindings.crypto_sign_seed_keypair(invite.seed)
        proof = nacl.bindings.crypto_sign(
            join_message(invite.neighbourhood, self.device), invite_secret
        )[:64]
        self.store.set_setting("neighbourhood", invite.neighbourhood)
        self.store.set_setting("neighbourhood_name", invite.name)
        self._write("join", {"invite": invite.invite, "proof": proof}, after_lamport=invite.lamport)
        self._write("household", _drop_none({"name": household, "area": area}))
        for address in invite.addresses:
            peer_id = address.rsplit("/p2p/", 1)[-1] if "/p2p/" in address else None
            if peer_id:
                self.store.remember_peer(peer_id, [address], self.clock())
        return {**self.whoami(), "addresses": list(invite.addresses)}

    def set_household(self, name: str | None = None, area: str | None = None) -> dict:
        current = self.state().households.get(self._household_id())
        body = {"name": name or (current.name if current else None), "area": area}
        if not body["name"]:
            raise InvalidInput("name", "a household needs a name")
        self._write("household", _drop_none(body))
        self.store.set_setting("household_name", body["name"])
        if area:
            self.store.set_setting("household_area", area)
        return self.whoami()

    def link_device(self, device_hex: str, name: str | None = None, addresses: Iterable[str] = ()) -> dict:
        """Make another device (its key from its ``whoami``) a device of this
        household, and return the link code it adopts the neighbourhood
        with (:mod:`.link_code`; no invite is used)."""
        self._require_member()
        try:
            device = bytes.fromhex(device_hex)
        except ValueError:
            device = b""
        if len(device) != 32:
            raise InvalidInput("device", "expected the new device's 64-hex-digit key ('meshpantry whoami' on it)")
        if device == self.device:
            raise InvalidInput("device", "that is this device's own key; give the new device's ('meshpantry whoami' on it)")
        record = self._write("device_link", _drop_none({"device": device, "name": name}))
        code = LinkCode(
            self.neighbourhood, self.store.get_setting("neighbourhood_name") or "",
            self._household_name(self._household_id()), record.id, device, tuple(addresses),
        )
        return {"link": record.id.hex(), "device": device.hex(), "code": code.encode()}

    def adopt_link(self, code: str) -> dict:
        """On a new device: take the neighbourhood from a link code that a
        device of the household printed for this device's key. What this
        device writes counts once the link record reaches it by sync."""
        link = LinkCode.decode(code)
        if link.device != self.device:
            raise InvalidInput(
                "code", f"that link code is for device {link.device.hex()[:8]}, and this is "
                f"{self.device.hex()[:8]}; link this device's key ('meshpantry whoami')",
            )
        if self.store.neighbourhood:
            raise AlreadyDone("this device already belongs to a neighbourhood")
        self.store.set_setting("neighbourhood", link.neighbourhood)
        self.store.set_setting("neighbourhood_name", link.name)
        if link.household_name:
            self.store.set_setting("household_name", link.household_name)
        for address in link.addresses:
            if "/p2p/" in address:
                self.store.remember_peer(address.rsplit("/p2p/", 1)[-1], [address], self.clock())
        return {**self.whoami(), "addresses": list(link.addresses)}

    def revoke(self, member_ref: str, reason: str | None = None) -> dict:
        """Admins only: stop a device's further records from counting."""
        state = self.state()
        if self.device not in state.admins:
            raise NotAllowed("only the neighbourhood's admins can revoke a member")
        device = self._resolve_device(member_ref)
        after = self.store.heads().get(device, (0, None))[0]
        record = self._write("revoke", _drop_none({"member": device, "after_seq": after, "reason": reason}))
        return {"revoke": record.id.hex(), "member": device.hex(), "after_seq": after}

    def block(self, household_ref: str) -> dict:
        household = self._resolve_household(household_ref)
        if household == self._household_id():
            raise NotAllowed("that is your own household; blocking it would hide your own offers and claims")
        self.store.block(household)
        return {"blocked": household.hex()}

    def unblock(self, household_ref: str) -> dict:
        household = self._resolve_household(household_ref)
        self.store.unblock(household)
        return {"unblocked": household.hex()}

    # -- offers and swaps -----------------------------------------------------

    def offer_add(
        self, item: str, quantity: int, unit: str, *, best_before: int | None = None,
        pickup_from: int | None = None, pickup_until: int | None = None, area: str | None = None,
        tags: Iterable[str] = (), allergens: Iterable[str] = (), note: str | None = None,
    ) -> dict:
        self._require_member()
        _positive("quantity", quantity)
        if best_before is not None and best_before < self.clock():
            raise InvalidInput("best_before", "is already past; give a later date, or none")
        if pickup_from is not None and pickup_until is not None and pickup_until < pickup_from:
            raise InvalidInput("pickup", "the pickup window ends before it starts")
        body = _drop_none({
            "item": item, "quantity": quantity, "unit": unit, "best_before": best_before,
            "pickup_from": pickup_from, "pickup_until": pickup_until, "area": area,
            "tags": _labels(tags), "allergens": _allergens(allergens), "note": note,
        })
        record = self._write("offer", body)
        if self.store.admission(record) is Admission.ADMIT and self.store.get_setting("household_name"):
            # A new offer names no other record: its view follows from the
            # record alone, without rebuilding the neighbourhood's state.
            return self._new_offer_dict(record)
        return self._shown(record, self.offer_show)

    def offer_update(self, offer_ref: str, **fields: Any) -> dict:
        offer = self._own_offer(offer_ref)
        changes = {k: v for k, v in fields.items() if v is not None}
        if "quantity" in changes:
            _positive("quantity", changes["quantity"])
            if changes["quantity"] < offer.allocated:
                raise NotAllowed(
                    f"{offer.allocated} {offer.unit} are accepted for claims on this offer, so it cannot "
                    f"shrink to {changes['quantity']}; ask those claimants to cancel first "
                    "('meshpantry offer show' lists them)"
                )
        if "tags" in changes:
            changes["tags"] = _labels(changes["tags"])
        if "allergens" in changes:
            changes["allergens"] = _allergens(changes["allergens"])
        if not changes:
            raise InvalidInput("fields", "nothing to change; give at least one field")
        self._write("offer_update", {"offer": offer.id, **changes})
        return self.offer_show(offer.id.hex())

    def offer_withdraw(self, offer_ref: str) -> dict:
        offer = self._own_offer(offer_ref)
        if offer.withdrawn:
            raise AlreadyDone("that offer is already withdrawn")
        self._write("offer_withdraw", {"offer": offer.id})
        return self.offer_show(offer.id.hex())

    def claim_add(self, offer_ref: str, quantity: int, message: str | None = None) -> dict:
        self._require_member()
        offer = self._offer(offer_ref)
        _positive("quantity", quantity)
        if offer.withdrawn:
            raise NotAllowed("that offer has been withdrawn")
        if offer.author in self._my_devices():
            raise NotAllowed("you cannot claim your own household's offer")
        if quantity > offer.quantity:
            raise InvalidInput("quantity", f"the offer is for {offer.quantity} {offer.unit}")
        record = self._write("claim", _drop_none({"offer": offer.id, "quantity": quantity, "message": message}))
        return self._shown(record, self.claim_show)

    def claim_cancel(self, claim_ref: str) -> dict:
        claim = self._claim(claim_ref)
        if claim.household != self._household_id():
            raise NotAllowed("only the household that made a claim (any of its devices) can cancel it")
        if claim.status == "cancelled":
            raise AlreadyDone("that claim is already cancelled")
        self._write("claim_cancel", {"claim": claim.id})
        return self.claim_show(claim.id.hex())

    def claim_accept(self, claim_ref: str, quantity: int | None = None, pickup: str | None = None) -> dict:
        """Accept a claim (all of it unless ``quantity`` says less); ``pickup``
        (where and when to collect) is sealed so only the claimant can read it."""
        claim, offer = self._decidable_claim(claim_ref)
        quantity = claim.quantity if quantity is None else quantity
        _positive("quantity", quantity)
        if quantity > claim.quantity:
            raise InvalidInput("quantity", f"the claim asks for {claim.quantity} {offer.unit}")
        if quantity > offer.remaining:
            raise InvalidInput(
                "quantity", f"only {offer.remaining} {offer.unit} remain unallocated on this offer"
            )
        body: dict[str, Any] = {"claim": claim.id, "accept": True, "quantity": quantity}
        if pickup:
            body["pickup"] = seal_to(claim.author, pickup)
        self._write("claim_decision", body)
        return self.claim_show(claim.id.hex())

    def claim_decline(self, claim_ref: str, reason: str | None = None) -> dict:
        claim, _ = self._decidable_claim(claim_ref)
        self._write("claim_decision", _drop_none({"claim": claim.id, "accept": False, "reason": reason}))
        return self.claim_show(claim.id.hex())

    def handover_confirm(self, claim_ref: str, note: str | None = None) -> dict:
        claim = self._claim(claim_ref)
        offer = self.state().offers[claim.offer]
        mine = self._my_devices()
        if claim.author not in mine and offer.author not in mine:
            raise NotAllowed("only the offerer and the claimant confirm a handover")
        if claim.status != "accepted":
            raise NotAllowed(f"the claim is {claim.status}; only accepted claims are handed over")
        # One confirmation per side: a second one would only repeat the first.
        offerer = offer.author in mine
        if claim.confirmed_by_offerer if offerer else claim.confirmed_by_claimant:
            raise AlreadyDone(f"your household already confirmed this handover (as the "
                              f"{'offerer' if offerer else 'claimant'}); the other side confirms with "
                              "'meshpantry handover confirm' on their device")
        self._write("handover", _drop_none({"claim": claim.id, "note": note}))
        return self.claim_show(claim.id.hex())

    # -- meals ------------------------------------------------------------------

    def meal_add(
        self, dish: str, time: int, place: str, needs: Iterable[dict] = (), note: str | None = None
    ) -> dict:
        self._require_member()
        lines = [{"item": n["item"], "quantity": int(n["quantity"]), "unit": n["unit"]} for n in needs]
        for line in lines:
            _positive("need quantity", line["quantity"])
        record = self._write(
            "meal", _drop_none({"dish": dish, "time": time, "place": place, "needs": lines or None, "note": note})
        )
        return self._shown(record, self.meal_show)

    def meal_pledge(self, meal_ref: str, item: str, quantity: int, unit: str, note: str | None = None) -> dict:
        self._require_member()
        meal = self._meal(meal_ref)
        _positive("quantity", quantity)
        _check_pledge_unit(meal, item, unit)
        self._write("pledge", _drop_none({"meal": meal.id, "item": item, "quantity": quantity, "unit": unit, "note": note}))
        return self.meal_show(meal.id.hex())

    # -- recipes ----------------------------------------------------------------

    def recipe_add(
        self, title: str, *, ingredients: Iterable[dict] = (), steps: Iterable[str] = (),
        story: str | None = None, origin: str | None = None, tags: Iterable[str] = (),
        serves: int | None = None, adapted_from: str | None = None,
    ) -> dict:
        self._require_member()
        parent = None
        if adapted_from:
            view = self._recipe(adapted_from)
            parent = view.id
            ingredients, steps = variation_start(view, list(ingredients), list(steps))
        body = _drop_none({
            "title": title, "ingredients": [_drop_none(dict(i)) for i in ingredients] or None,
            "steps": list(steps) or None, "story": story, "origin": origin,
            "tags": _labels(tags), "serves": serves, "adapted_from": parent,
        })
        record = self._write("recipe", body)
        return self._shown(record, self.recipe_show)

    def recipe_edit(
        self, recipe_ref: str, *, title: str | None = None, origin: str | None = None,
        tags: Iterable[str] | None = None, serves: int | None = None,
        add_steps: Iterable[tuple[int | None, str]] = (), remove_steps: Iterable[int] = (),
        add_ingredients: Iterable[tuple[int | None, dict]] = (), remove_ingredients: Iterable[int] = (),
    ) -> dict:
        """Edit a recipe. Step and ingredient positions are 1-based as shown;
        ``(after, text)`` inserts after position ``after`` (0 or None: first)."""
        self._require_member()
        recipe = self._recipe(recipe_ref)
        steps = [s.element for s in recipe.steps]
        lines = [i.element for i in recipe.ingredients]
        ops: list[dict] = []
        for after, text in add_steps:
            ops.append({"op": "insert_step", "after": _element_at(steps, after, "step"), "text": text})
        for position in remove_steps:
            ops.append({"op": "remove_step", "target": _element_at(steps, position, "step", required=True)})
        for after, line in add_ingredients:
            ops.append({"op": "insert_ingredient", "after": _element_at(lines, after, "ingredient"), **_drop_none(dict(line))})
        for position in remove_ingredients:
            ops.append({"op": "remove_ingredient", "target": _element_at(lines, position, "ingredient", required=True)})
        ops = [_drop_none(op) for op in ops]
        fields = _drop_none({"title": title, "origin": origin, "tags": _labels(tags) if tags is not None else None, "serves": serves})
        if not ops and not fields:
            raise InvalidInput("edit", "nothing to change")
        self._write("recipe_edit", _drop_none({"recipe": recipe.id, "set": fields or None, "ops": ops or None}))
        return self.recipe_show(recipe.id.hex())

    def recipe_story(self, recipe_ref: str, text: str, title: str | None = None) -> dict:
        self._require_member()
        recipe = self._recipe(recipe_ref)
        self._write("story", _drop_none({"recipe": recipe.id, "text": text, "title": title}))
        return self.recipe_show(recipe.id.hex())

    # -- helpers -----------------------------------------------------------------

    def _new_offer_dict(self, record: Record) -> dict:
        body = record.body
        now = self.clock()
        expires = min((t for t in (body.get("best_before"), body.get("pickup_until")) if t is not None), default=None)
        household = self.store.household_of(self.device) or self.device
        return {
            "id": record.id.hex(), "author": record.author.hex(),
            "household": household.hex(),
            "household_name": self.store.get_setting("household_name"),
            "item": body["item"], "quantity": body["quantity"], "unit": body["unit"],
            "remaining": body["quantity"], "allocated": 0,
            "best_before": body.get("best_before"), "pickup_from": body.get("pickup_from"),
            "pickup_until": body.get("pickup_until"), "area": body.get("area"),
            "tags": list(body.get("tags", [])), "allergens": list(body.get("allergens", [])),
            "note": body.get("note"), "created": record.time, "updated": record.time,
            "withdrawn": False, "expired": expires is not None and now > expires,
            "expiring_soon": expires is not None and now <= expires <= now + EXPIRING_SOON_MS,
            "claims_count": 0, "mine": True, "claims": [], "conflicts": [], "fair_share": [], "oversubscribed": False,
        }

    def _shown(self, record: Record, show: Callable[[str], dict]) -> dict:
        """What ``show`` says of a record just written; if it does not count
        yet (this device's membership or the record it names has not reached
        this store), the record itself, marked waiting. It is durable either
        way and will count once the missing records arrive."""
        try:
            return show(record.id.hex())
        except UnknownId:
            state = self.state()
            missing = state.waiting.get(record.id)
            return {
                "id": record.id.hex(), "kind": record.kind, "status": "waiting",
                "waiting_for": missing.hex() if missing else None,
                "note": "saved; it counts once this device has synced with the neighbourhood",
                **{k: (v.hex() if isinstance(v, bytes) else v) for k, v in record.body.items()},
            }

    def _require_member(self) -> None:
        self.neighbourhood  # raises NoNeighbourhood

    def _require_join_lost(self, neighbourhood: bytes) -> None:
        """Allow a second join only to a device of ``neighbourhood`` whose
        earlier join did not count (it lost the race for the invite, or the
        invite had expired): otherwise raise :class:`AlreadyDone`."""
        from meshpantry.core.validation import ForkDetected, Revoked

        if neighbourhood == self.store.neighbourhood and self.device not in self.state().devices:
            refused = self.state().next_write_refused(self.device, self.store.own_head(self.device).seq + 1)
            if refused is not None and not isinstance(refused, (ForkDetected, Revoked)):
                return
        raise AlreadyDone("this device already belongs to a neighbourhood")

    def _own_offer(self, ref: str):
        offer = self._offer(ref)
        if offer.household != self._household_id():
            raise NotAllowed("only the household that made an offer (any of its devices) can change it")
        return offer

    def _decidable_claim(self, ref: str):
        claim = self._claim(ref)
        offer = self.state().offers[claim.offer]
        if offer.household != self._household_id():
            raise NotAllowed("only the household that made the offer (any of its devices) decides its claims")
        if claim.status != "pending":
            raise AlreadyDone(f"that claim is already {claim.status}")
        return claim, offer


def seal_to(recipient: bytes, text: str) -> bytes:
    """Encrypt ``text`` so only the holder of Ed25519 key ``recipient`` reads it."""
    curve = nacl.bindings.crypto_sign_ed25519_pk_to_curve25519(recipient)
    return nacl.public.SealedBox(nacl.public.PublicKey(curve)).encrypt(text.encode("utf-8"))


def open_sealed(secret: bytes, sealed: bytes) -> str | None:
    """Decrypt a sealed note with a libsodium 64-byte Ed25519 secret key, or None."""
    try:
        curve = nacl.bindings.crypto_sign_ed25519_sk_to_curve25519(secret)
        return nacl.public.SealedBox(nacl.public.PrivateKey(curve)).decrypt(sealed).decode("utf-8")
    except Exception:  # noqa: BLE001 - not ours to read, or damaged: shown as hidden
        return None


def _drop_none(mapping: dict) -> dict:
    return {k: v for k, v in mapping.items() if v is not None and v != [] and v != ()}


def _check_pledge_unit(meal: Any, item: str, unit: str) -> None:
    """Refuse a pledge of an item the meal needs in a unit that does not
    convert into any of that item's need lines: it would cover nothing."""
    wanted = [n for n in meal.needs if n.item.strip().casefold() == item.strip().casefold()]
    if wanted and not any(units.compatible(unit, n.unit) for n in wanted):
        need = wanted[0]
        raise InvalidInput(
            "unit", f"the meal needs {need.item} in {need.unit} ({units.describe(need.unit)}); "
            f"{unit} is {units.describe(unit)} and cannot count towards it: pledge in {need.unit}"
            + (f" or another unit of {units.describe(need.unit)[2:]}" if units.dimension(need.unit) else ""),
        )


def _labels(values: Iterable[str] | None) -> list[str] | None:
    if values is None:
        return None
    out = sorted({v.strip().lower() for v in values if v and v.strip()})
    return out or None


def _allergens(values: Iterable[str] | None) -> list[str] | None:
    """``values`` as allergen names (:mod:`meshpantry.core.allergens`);
    raises :class:`InvalidInput` for a word that names none."""
    if values is None:
        return None
    try:
        out = sorted({allergen(v) for v in values if v and v.strip()})
    except UnknownAllergen as exc:
        raise InvalidInput("allergen", str(exc)) from None
    return out or None


def _positive(name: str, value: Any) -> None:
    if type(value) is not int or value < 1:
        raise InvalidInput(name, "must be a whole number of at least 1 (in the stated unit)")


def _element_at(elements: list, position: int | None, what: str, *, required: bool = False):
    if position in (None, 0) and not required:
        return None
    if position is None or not 1 <= position <= len(elements):
        raise InvalidInput(what, f"position {position} is not between 1 and {len(elements)}")
    element = elements[position - 1]
    return [element[0], element[1]]
