"""View vectors: record sets and the views every implementation must derive from them.

``protocol/vectors/views/`` holds one JSON file per case (SPEC.md section 10):
the golden log of ``records.json`` (``golden.json``), and small logs that each
pin one rule of SPEC.md section 7, named after the section that states it
(``7.7.5-cancel-frees-allocation.json`` pins a sentence of section 7.7.5).
Each file gives the records (raw bytes, in the order they were made; any
order gives the same views), the reader's clock ``now``, and the expected
views: what became of every record, membership, offers with their
allocation, the board, claims, meals and recipes with their list order.

The views are computed here by the reference implementation
(:func:`meshpantry.core.state.build_state`); tests check them against both
that full fold and the incremental one. Called by
:mod:`protocol.make_vectors` (``make vectors``).
"""

from __future__ import annotations

from typing import Any, Callable

from meshpantry.core.board import select_offers
from meshpantry.core.state import NeighbourhoodState, build_state
from protocol import Record, decode_and_verify, seal

_DAY = 24 * 60 * 60_000

#: The reader's clock of every case (ms): 2025-11-26 16:00 UTC, two days after
#: the first record (every case's records are made within hours of it).
NOW = 1_764_000_000_000 + 2 * _DAY


def _mv() -> Any:
    """:mod:`protocol.make_vectors`, imported late (it imports this module)."""
    from protocol import make_vectors

    return make_vectors


# --- keys ----------------------------------------------------------------------------------


def keys() -> tuple[Any, ...]:
    """The fixed keys of the view cases: those of records.json, then more."""
    mv = _mv()
    return (mv.FOUNDER, mv.JOINER, mv.SECOND_DEVICE, mv.INVITE,
            mv.Key("third", bytes([4]) * 32), mv.Key("stranger", bytes([5]) * 32),
            mv.Key("invite_b", bytes([10]) * 32))


def _key(name: str) -> Any:
    return next(k for k in keys() if k.name == name)


# --- building a case's log ------------------------------------------------------------------


class CaseLog:
    """A small log with control over what each author has seen (its Lamport
    counter) so that concurrent records can be written. By default a new
    record has seen every earlier one."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, str, Record]] = []  # (name, author name, record)
        self.heads: dict[bytes, tuple[int, bytes | None, int]] = {}  # seq, id, lamport
        self.top = 0
        self.neighbourhood = b""
        self.ids: dict[str, bytes] = {}

    def add(self, name: str, author: str, kind: str, body: dict, *, seen: int | None = None,
            time: int | None = None, fork_of: str | None = None) -> bytes:
        """Sign ``body`` as the next record of ``author`` (or, with
        ``fork_of``, a second record at that record's seq). ``seen`` is the
        highest counter the author has seen (default: every record so far)."""
        key = _key(author)
        seq, prev, last = self.heads.get(key.public, (0, None, 0))
        if fork_of is not None:
            twin = next(r for n, _, r in self.entries if n == fork_of)
            seq, prev, last = twin.seq - 1, twin.prev, twin.lamport - 1
        lamport = max(last, self.top if seen is None else seen) + 1
        record = seal(
            key.secret, neighbourhood=self.neighbourhood, seq=seq + 1, prev=prev, lamport=lamport,
            time=_mv().T0 + lamport * _mv().MINUTE if time is None else time, kind=kind, body=body,
        )
        if fork_of is None:
            self.heads[key.public] = (record.seq, record.id, lamport)
        self.top = max(self.top, lamport)
        self.entries.append((name, author, record))
        self.ids[name] = record.id
        return record.id

    def __getitem__(self, name: str) -> bytes:
        return self.ids[name]

    # -- membership helpers -------------------------------------------------------------

    def genesis(self) -> None:
        self.neighbourhood = self.add("genesis", "founder", "neighbourhood", {"name": "Elm Street"})

    def invite(self, name: str, by: str, key: str = "invite", uses: int = 1,
               expires_in: int = 7 * _DAY, **kw: Any) -> bytes:
        body = {"key": _key(key).public, "expires": _mv().T0 + expires_in, "uses": uses}
        return self.add(name, by, "invite", body, **kw)

    def join(self, name: str, joiner: str, invite: str, key: str = "invite", **kw: Any) -> bytes:
        proof = _mv().join_proof(_key(key), self.neighbourhood, _key(joiner).public)
        return self.add(name, joiner, "join", {"invite": self[invite], "proof": proof}, **kw)

    def two_households(self) -> "CaseLog":
        """Genesis, an invite, and the joiner's join: two households."""
        self.genesis()
        self.invite("invite", "founder")
        self.join("join", "joiner", "invite")
        return self

    def records(self) -> list[Record]:
        return [record for _, _, record in self.entries]


# --- the views as JSON ------------------------------------------------------------------------


def render(state: NeighbourhoodState, names: dict[bytes, str], records: list[Record], now: int) -> dict:
    """The portable views of ``state`` at the reader's clock ``now``: record
    ids and keys given by their names (``names``), lists in view order."""
    to_json = _mv().to_json

    def n(value: bytes | None) -> str | None:
        return None if value is None else names.get(value, value.hex())

    def fate(record: Record) -> dict:
        out: dict[str, Any] = {"name": n(record.id), "status": state.status(record.id).value}
        if record.id in state.waiting:
            out["waits_for"] = n(state.waiting[record.id])
        if record.id in state.rejected:
            error = state.rejected[record.id]
            out["error"] = type(error).__name__
            out["data"] = dict(error.data)
        return out

    membership = {
        "founder": n(state.founder),
        "members": sorted(n(d) for d in state.members),
        "admins": sorted(n(d) for d in state.admins),
        "households": [
            {"id": n(h.id), "devices": [n(d) for d in h.devices],
             "revoked_devices": [n(d) for d in h.revoked_devices], "founding": h.founding,
             "name": h.name, "area": h.area, "note": h.note}
            for h in state.households.values()
        ],
    }
    offers = [
        {"name": n(o.id), "household": n(o.household), "item": o.item, "quantity": o.quantity,
         "unit": o.unit, "best_before": o.best_before, "pickup_from": o.pickup_from,
         "pickup_until": o.pickup_until, "area": o.area, "tags": list(o.tags),
         "allergens": list(o.allergens), "note": o.note, "withdrawn": o.withdrawn,
         "claims": [n(c) for c in o.claims], "allocated": o.allocated, "remaining": o.remaining,
         "open": o.is_open(now)}
        for o in _in_order(state.offers)
    ]
    claims = [
        {"name": n(c.id), "offer": n(c.offer), "household": n(c.household), "quantity": c.quantity,
         "status": c.status.value, "accepted_quantity": c.accepted_quantity,
         "decision": n(c.decision), "confirmed_by_offerer": c.confirmed_by_offerer,
         "confirmed_by_claimant": c.confirmed_by_claimant, "completed": c.completed}
        for c in _in_order(state.claims)
    ]
    meals = [
        {"name": n(m.id), "household": n(m.household), "dish": m.dish, "time": m.time,
         "place": m.place,
         "needs": [{"item": x.item, "quantity": x.quantity, "unit": x.unit, "pledged": x.pledged,
                    "missing": x.missing, "pledges": [n(p) for p in x.pledges]} for x in m.needs],
         "pledges": [n(p) for p in m.pledges], "extras": [n(p) for p in m.extras]}
        for m in _in_order(state.meals)
    ]
    recipes = [
        {"name": n(r.id), "household": n(r.household), "title": r.title, "origin": r.origin,
         "tags": list(r.tags), "serves": r.serves,
         "steps": [{"element": [n(s.element[0]), s.element[1]], "text": s.text} for s in r.steps],
         "ingredients": [{"element": [n(i.element[0]), i.element[1]], "item": i.item,
                          "amount": i.amount, "unit": i.unit, "note": i.note} for i in r.ingredients],
         "stories": [n(s) for s in r.stories], "contributors": [n(h) for h in r.contributors],
         "adapted_from": n(r.adapted_from), "variations": [n(v) for v in r.variations]}
        for r in _in_order(state.recipes)
    ]
    return to_json({
        "records": [fate(r) for r in records],
        "membership": membership,
        "offers": offers,
        "board": [n(o.id) for o in select_offers(state.offers.values(), now)],
        "claims": claims,
        "meals": meals,
        "recipes": recipes,
    })


def _in_order(views: dict) -> list:
    """A state's views in (lamport, id) order (the state's own map order is
    not part of its contract)."""
    return sorted(views.values(), key=lambda view: (view.lamport, view.id))


def case_document(name: str, section: str, rule: str, log: CaseLog, now: int) -> dict:
    """The JSON document of one case (format: SPEC.md section 10)."""
    records = log.records()
    names = {record.id: entry for entry, _, record in log.entries}  # a left-out id stays hex
    names.update({k.public: k.name for k in keys()})
    state = build_state(records, log.neighbourhood)
    return {
        "name": name,
        "section": section,
        "rule": rule,
        "neighbourhood": log.neighbourhood.hex(),
        "now": now,
        "records": [{"name": entry, "author": author, "kind": record.kind, "id": record.id.hex(),
                     "raw": record.raw.hex()} for entry, author, record in log.entries],
        "views": render(state, names, records, now),
    }


# --- the cases --------------------------------------------------------------------------------

Case = tuple[str, str, str, Callable[[], CaseLog]]
CASES: list[Case] = []


def case(name: str, section: str, rule: str) -> Callable[[Callable[[], CaseLog]], Callable[[], CaseLog]]:
    def register(build: Callable[[], CaseLog]) -> Callable[[], CaseLog]:
        CASES.append((f"{section}-{name}", section, rule, build))
        return build
    return register


def _offer(log: CaseLog, name: str = "offer", by: str = "founder", quantity: int = 1000, **kw: Any) -> bytes:
    return log.add(name, by, "offer", {"item": "apples", "quantity": quantity, "unit": "g"}, **kw)


def _accept(log: CaseLog, name: str, claim: str, quantity: int, by: str = "founder", **kw: Any) -> bytes:
    body = {"claim": log[claim], "accept": True, "quantity": quantity}
    return log.add(name, by, "claim_decision", body, **kw)


def _recipe(log: CaseLog, steps: tuple[str, ...] = ("Wash.", "Chop.", "Cook.")) -> bytes:
    return log.add("recipe", "founder", "recipe", {"title": "Soup", "steps": list(steps)})


def _edit(log: CaseLog, name: str, by: str, ops: list, **kw: Any) -> bytes:
    return log.add(name, by, "recipe_edit", {"recipe": log["recipe"], "ops": ops}, **kw)


@case("fork-rejects-both-twins", "7.1",
      "Two records of one author with the same seq are a fork: neither of them counts, nor does "
      "any later record of that author; the author's records before the fork still count.")
def _fork() -> CaseLog:
    log = CaseLog().two_households()
    _offer(log, "before_fork", by="joiner")
    _offer(log, "twin_a", by="joiner", quantity=5)
    log.add("twin_b", "joiner", "offer", {"item": "pears", "quantity": 5, "unit": "g"}, fork_of="twin_a")
    _offer(log, "after_fork", by="joiner", quantity=7)
    return log


@case("gap-waits", "7.1",
      "A record whose predecessor in its author's chain is not held waits for it (it neither "
      "counts nor is rejected), and so does every later record of that chain.")
def _gap() -> CaseLog:
    log = CaseLog().two_households()
    _offer(log, "offer_1", by="joiner")
    _offer(log, "offer_2", by="joiner")
    _offer(log, "offer_3", by="joiner")
    log.entries = [e for e in log.entries if e[0] != "offer_1"]  # never arrives
    return log


@case("reference-not-causal", "7.2",
      "A record that names a record with an equal or higher Lamport counter does not count.")
def _not_causal() -> CaseLog:
    log = CaseLog().two_households()
    _offer(log)
    # The joiner has not seen the offer: its claim gets the offer's own counter.
    log.add("claim", "joiner", "claim", {"offer": log["offer"], "quantity": 10}, seen=0)
    return log


@case("set-not-order", "7.4",
      "Membership is a property of the record set: the records of a device admitted by a join or "
      "a device_link count from its seq 1, even those with a lower counter than the record that "
      "admitted it.")
def _set_not_order() -> CaseLog:
    log = CaseLog().two_households()
    log.add("early_profile", "second_device", "household", {"name": "written before the link"}, seen=0)
    log.add("device_link", "founder", "device_link", {"device": _key("second_device").public})
    return log


@case("membership-records-in-order", "7.4",
      "invite and device_link records are taken in (c, id) order: one counts only if its author was "
      "admitted by a record earlier in that order; an earlier one is rejected as NotMember, not held "
      "back.")
def _membership_order() -> CaseLog:
    log = CaseLog().two_households()
    log.invite("early_invite", "second_device", key="invite_b", seen=0)
    log.add("device_link", "founder", "device_link", {"device": _key("second_device").public})
    return log


@case("invite-author-must-be-member", "7.4",
      "An invite counts only when its author is a member; a join through an invite that does not "
      "count does not count either (ReferentRejected).")
def _invite_by_stranger() -> CaseLog:
    log = CaseLog()
    log.genesis()
    log.invite("stranger_invite", "stranger", key="invite_b")
    log.join("join", "joiner", "stranger_invite", key="invite_b")
    return log


@case("invite-uses", "7.4",
      "An invite admits at most `uses` joins: the first in (c, id) order count, later ones are "
      "rejected (InviteExhausted) and their authors are not members.")
def _invite_uses() -> CaseLog:
    log = CaseLog()
    log.genesis()
    log.invite("invite", "founder", uses=1)
    log.join("join_first", "joiner", "invite")
    log.join("join_second", "third", "invite")
    return log


@case("invite-expiry-by-join-time", "7.4",
      "A join counts only if its own t is not after the invite's expires; the reader's clock plays "
      "no part.")
def _invite_expired() -> CaseLog:
    log = CaseLog()
    log.genesis()
    log.invite("invite", "founder", expires_in=10 * _mv().MINUTE)
    log.join("late_join", "joiner", "invite", time=_mv().T0 + 11 * _mv().MINUTE)
    return log


@case("revoke-after-seq", "7.4",
      "After a revoke by an admin, the revoked device's records with s > after_seq do not count "
      "(Revoked), earlier ones still do; the device stays listed in its household as revoked.")
def _revoke() -> CaseLog:
    log = CaseLog().two_households()
    _offer(log, "kept", by="joiner")
    _offer(log, "cut", by="joiner", quantity=3)
    log.add("revoke", "founder", "revoke", {"member": _key("joiner").public, "after_seq": 2})
    return log


@case("revoke-by-non-admin", "7.4",
      "A revoke counts only when its author is an admin (a device of the founding household) not "
      "revoked at that point; any other is rejected (NotAuthorised) and revokes nothing.")
def _revoke_non_admin() -> CaseLog:
    log = CaseLog().two_households()
    log.add("revoke", "joiner", "revoke", {"member": _key("founder").public, "after_seq": 1})
    _offer(log, "founder_offer")
    return log


@case("missing-referent-waits", "7.5",
      "A record naming a record that is not held waits for it.")
def _missing_referent() -> CaseLog:
    log = CaseLog().two_households()
    _offer(log)
    log.add("claim", "joiner", "claim", {"offer": log["offer"], "quantity": 10})
    log.entries = [e for e in log.entries if e[0] != "offer"]
    return log


@case("offer-fields-last-writer", "7.7.1",
      "Offer fields are last-writer-wins per field: among the offer and its counted updates "
      "carrying a field, the greatest (c, author, id) wins, whatever the order of arrival.")
def _offer_lww() -> CaseLog:
    log = CaseLog().two_households()
    log.add("device_link", "founder", "device_link", {"device": _key("second_device").public})
    _offer(log)
    seen = log.top
    log.add("update_a", "founder", "offer_update", {"offer": log["offer"], "quantity": 800,
                                                     "note": "from the founder"}, seen=seen)
    log.add("update_b", "second_device", "offer_update", {"offer": log["offer"], "quantity": 600},
            seen=seen)
    return log


@case("update-by-other-household", "7.7.1",
      "Only a device of the offer's household may update or withdraw it; another household's "
      "update is rejected (NotAuthorised) and changes nothing.")
def _update_other() -> CaseLog:
    log = CaseLog().two_households()
    _offer(log)
    log.add("update", "joiner", "offer_update", {"offer": log["offer"], "quantity": 1})
    return log


@case("claims-after-withdraw", "7.7.2",
      "A claim ordered after the offer's withdrawal in (c, id) order is rejected "
      "(OfferWithdrawn); claims before it keep their course: they may still be decided and handed "
      "over.")
def _after_withdraw() -> CaseLog:
    log = CaseLog().two_households()
    _offer(log)
    log.add("claim_before", "joiner", "claim", {"offer": log["offer"], "quantity": 100})
    log.add("withdraw", "founder", "offer_withdraw", {"offer": log["offer"]})
    log.add("claim_after", "joiner", "claim", {"offer": log["offer"], "quantity": 100})
    _accept(log, "accept_before", "claim_before", 100)
    return log


@case("own-offer", "7.7.2",
      "A household cannot claim its own offer (OwnOffer), from any of its devices.")
def _own_offer() -> CaseLog:
    log = CaseLog().two_households()
    log.add("device_link", "founder", "device_link", {"device": _key("second_device").public})
    _offer(log)
    log.add("claim", "second_device", "claim", {"offer": log["offer"], "quantity": 1})
    return log


@case("allocation-against-final-quantity", "7.7.3",
      "Decisions are replayed in (c, id) order against the offer's final quantity: an accept that "
      "no longer fits (here after the quantity was lowered) shows the claim as refused, and the "
      "allocation never exceeds the quantity.")
def _final_quantity() -> CaseLog:
    log = CaseLog().two_households()
    log.invite("invite_b", "founder", key="invite_b")
    log.join("join_third", "third", "invite_b", key="invite_b")
    _offer(log)
    log.add("claim_a", "joiner", "claim", {"offer": log["offer"], "quantity": 500})
    log.add("claim_b", "third", "claim", {"offer": log["offer"], "quantity": 400})
    _accept(log, "accept_a", "claim_a", 500)
    _accept(log, "accept_b", "claim_b", 400)
    log.add("lower", "founder", "offer_update", {"offer": log["offer"], "quantity": 600})
    return log


@case("accept-exceeds-claim", "7.7.3",
      "An accept of more than the claim asked for is rejected (AcceptExceedsClaim); the claim "
      "stays pending.")
def _exceeds() -> CaseLog:
    log = CaseLog().two_households()
    _offer(log)
    log.add("claim", "joiner", "claim", {"offer": log["offer"], "quantity": 100})
    _accept(log, "accept", "claim", 101)
    return log


@case("several-decisions", "7.7.4",
      "Only the first applicable decision on a claim counts: a decision on a claim that is "
      "accepted, declined or cancelled is rejected (ClaimClosed); a refused claim may be decided "
      "again.")
def _several_decisions() -> CaseLog:
    log = CaseLog().two_households()
    _offer(log, quantity=100)
    log.add("claim_big", "joiner", "claim", {"offer": log["offer"], "quantity": 100})
    log.add("claim_small", "joiner", "claim", {"offer": log["offer"], "quantity": 50})
    _accept(log, "accept_big", "claim_big", 100)
    _accept(log, "accept_small_refused", "claim_small", 50)
    log.add("cancel_big", "joiner", "claim_cancel", {"claim": log["claim_big"]})
    _accept(log, "accept_small_again", "claim_small", 50)
    log.add("decline_small_late", "founder", "claim_decision",
            {"claim": log["claim_small"], "accept": False})
    return log


@case("cancel-frees-allocation", "7.7.5",
      "Cancelling an accepted claim frees its allocation: the claim is cancelled with "
      "accepted_quantity 0 and the quantity is available again.")
def _cancel_frees() -> CaseLog:
    log = CaseLog().two_households()
    _offer(log)
    log.add("claim", "joiner", "claim", {"offer": log["offer"], "quantity": 400})
    _accept(log, "accept", "claim", 400)
    log.add("cancel", "joiner", "claim_cancel", {"claim": log["claim"]})
    return log


@case("cancel-after-completed-handover", "7.7.5",
      "A claim whose handover both households confirmed cannot be cancelled (ClaimClosed); one "
      "confirmation alone does not prevent a cancel.")
def _cancel_completed() -> CaseLog:
    log = CaseLog().two_households()
    _offer(log)
    log.add("claim", "joiner", "claim", {"offer": log["offer"], "quantity": 400})
    _accept(log, "accept", "claim", 400)
    log.add("handover_offerer", "founder", "handover", {"claim": log["claim"]})
    log.add("handover_claimant", "joiner", "handover", {"claim": log["claim"]})
    log.add("cancel", "joiner", "claim_cancel", {"claim": log["claim"]})
    return log


@case("handover-on-cancelled-claim", "7.7.6",
      "A handover counts only on a claim that is accepted at that point in (c, id) order: one on a "
      "cancelled (or pending, declined, refused) claim is rejected (ClaimClosed).")
def _handover_cancelled() -> CaseLog:
    log = CaseLog().two_households()
    _offer(log)
    log.add("claim", "joiner", "claim", {"offer": log["offer"], "quantity": 400})
    _accept(log, "accept", "claim", 400)
    log.add("cancel", "joiner", "claim_cancel", {"claim": log["claim"]})
    log.add("handover", "founder", "handover", {"claim": log["claim"]})
    return log


@case("handover-by-third-household", "7.7.6",
      "Only the offer's household and the claim's household may confirm a handover; a third "
      "household's handover is rejected (NotAuthorised).")
def _handover_third() -> CaseLog:
    log = CaseLog().two_households()
    log.invite("invite_b", "founder", key="invite_b")
    log.join("join_third", "third", "invite_b", key="invite_b")
    _offer(log)
    log.add("claim", "joiner", "claim", {"offer": log["offer"], "quantity": 400})
    _accept(log, "accept", "claim", 400)
    log.add("handover", "third", "handover", {"claim": log["claim"]})
    return log


@case("pledge-matching-no-need", "7.7.7",
      "A pledge whose item and unit match no need line counts and is listed among the meal's "
      "extras; it covers nothing.")
def _extra_pledge() -> CaseLog:
    log = CaseLog().two_households()
    log.add("meal", "founder", "meal", {"dish": "stew", "time": _mv().T0 + _DAY, "place": "hall",
                                        "needs": [{"item": "rice", "quantity": 1000, "unit": "g"}]})
    log.add("pledge_extra", "joiner", "pledge",
            {"meal": log["meal"], "item": "rice", "quantity": 2, "unit": "kg"})
    return log


@case("pledge-matching-rules", "7.7.7",
      "A pledge covers the need lines whose item and unit equal its own after trimming and case "
      "folding; pledges add up, repeated lines for one item fill in order, the last taking any "
      "surplus, and missing is never below zero.")
def _pledge_rules() -> CaseLog:
    log = CaseLog().two_households()
    log.add("meal", "founder", "meal", {
        "dish": "stew", "time": _mv().T0 + _DAY, "place": "hall",
        "needs": [{"item": "Onions", "quantity": 4, "unit": "item"},
                  {"item": "rice", "quantity": 500, "unit": "g"},
                  {"item": "onions", "quantity": 2, "unit": "item"}]})
    log.add("pledge_a", "joiner", "pledge", {"meal": log["meal"], "item": " onions ", "quantity": 3,
                                             "unit": "ITEM"})
    log.add("pledge_b", "founder", "pledge", {"meal": log["meal"], "item": "onions", "quantity": 5,
                                              "unit": "item"})
    return log


@case("concurrent-inserts-at-start", "7.7.8",
      "Inserts at the start of a list (after nil) come before every element already there, and "
      "concurrent ones are ordered newest first by descending (c, id).")
def _inserts_at_start() -> CaseLog:
    log = CaseLog().two_households()
    _recipe(log)
    seen = log.top
    _edit(log, "edit_founder", "founder", [{"op": "insert_step", "after": None, "text": "Shop."}],
          seen=seen)
    _edit(log, "edit_joiner", "joiner", [{"op": "insert_step", "after": None, "text": "Light the fire."}],
          seen=seen)
    return log


@case("concurrent-inserts-after-one-element", "7.7.8",
      "Concurrent inserts after one element are both kept, right after it, newest first by "
      "descending (c, id); the inserts of one edit after one element keep the edit's own order.")
def _inserts_after() -> CaseLog:
    log = CaseLog().two_households()
    recipe = _recipe(log)
    seen = log.top
    _edit(log, "edit_founder", "founder", [{"op": "insert_step", "after": [recipe, 0], "text": "Peel."}],
          seen=seen)
    _edit(log, "edit_joiner", "joiner", [
        {"op": "insert_step", "after": [recipe, 0], "text": "Dry."},
        {"op": "insert_step", "after": [recipe, 0], "text": "Sort."}], seen=seen)
    return log


@case("removed-element-stays-an-anchor", "7.7.8",
      "A removed element is no longer listed but stays in the list as an anchor: a later insert "
      "after it counts and is placed where it was, and removing it again counts and changes "
      "nothing.")
def _removed_anchor() -> CaseLog:
    log = CaseLog().two_households()
    recipe = _recipe(log)
    _edit(log, "remove", "founder", [{"op": "remove_step", "target": [recipe, 1]}])
    _edit(log, "insert_after_removed", "joiner", [
        {"op": "insert_step", "after": [recipe, 1], "text": "Dice finely."}])
    _edit(log, "remove_again", "joiner", [{"op": "remove_step", "target": [recipe, 1]}])
    return log


@case("edit-names-unknown-element", "7.7.8",
      "An edit naming an element that is not in that list (an ingredient line in the steps list, "
      "or an index the record never had) does not count at all: none of its ops or set fields "
      "apply (UnknownElement).")
def _unknown_element() -> CaseLog:
    log = CaseLog().two_households()
    recipe = log.add("recipe", "founder", "recipe", {
        "title": "Soup", "steps": ["Cook."], "ingredients": [{"item": "leeks"}, {"item": "salt"}]})
    log.add("bad_edit", "joiner", "recipe_edit", {
        "recipe": recipe, "set": {"title": "Not applied"},
        "ops": [{"op": "insert_step", "after": None, "text": "Not applied."},
                {"op": "remove_step", "target": [recipe, 1]}]})
    return log


@case("insert-after-another-edits-element", "7.7.8",
      "An element inserted by an edit is an anchor like any other: a later edit may insert after "
      "it or remove it. (No op can name an element of its own edit: that edit's id would have to "
      "hash its own ops.)")
def _insert_after_edit_element() -> CaseLog:
    log = CaseLog().two_households()
    recipe = _recipe(log, ("Cook.",))
    first = _edit(log, "edit_first", "joiner", [
        {"op": "insert_ingredient", "after": None, "item": "leeks", "amount": "2"}])
    _edit(log, "edit_second", "founder", [
        {"op": "insert_ingredient", "after": [first, 0], "item": "salt", "amount": "1/2", "unit": "tsp"},
        {"op": "insert_step", "after": [recipe, 0], "text": "Season."}])
    return log


@case("recipe-set-last-writer", "7.7.8",
      "A recipe's title, origin, tags and serves are last-writer-wins per field over the recipe "
      "and its counted edits' set, by the greatest (c, author, id).")
def _recipe_lww() -> CaseLog:
    log = CaseLog().two_households()
    recipe = _recipe(log)
    seen = log.top
    log.add("set_founder", "founder", "recipe_edit", {"recipe": recipe, "set": {"title": "Leek soup",
                                                                                "serves": 4}}, seen=seen)
    log.add("set_joiner", "joiner", "recipe_edit", {"recipe": recipe, "set": {"title": "Winter soup"}},
            seen=seen)
    return log


@case("unknown-kind-uninterpreted", "8",
      "A record of a kind not in the table counts for nothing in the views but is held "
      "(status uninterpreted) when its author is a member.")
def _unknown_kind() -> CaseLog:
    log = CaseLog().two_households()
    log.add("tool_loan", "joiner", "tool_loan", {"item": "ladder"})
    return log


# --- documents --------------------------------------------------------------------------------


def golden_document() -> dict:
    """The views of the records.json log."""
    mv = _mv()
    vectors, ids = mv.build_log()
    records = [decode_and_verify(bytes.fromhex(v["raw"])) for v in vectors]
    log = CaseLog()
    log.neighbourhood = ids["neighbourhood"]
    log.entries = [(v["name"], v["author"], r) for v, r in zip(vectors, records)]
    doc = case_document("golden", "10", "The views of the log in records.json.", log, NOW)
    for entry in doc["records"]:  # the raws are in records.json already
        del entry["raw"]
    return doc



def documents() -> dict[str, dict]:
    """File name (under protocol/vectors/) -> JSON document."""
    docs = {"views/golden.json": golden_document()}
    for name, section, rule, build in CASES:
        docs[f"views/{name}.json"] = case_document(name, section, rule, build(), NOW)
    return docs
