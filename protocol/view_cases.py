"""The view vector cases: small logs that each pin one rule of SPEC.md section 7.

Each case is registered with :func:`case`: its name, the SPEC section that
states the rule (the file is ``views/<section>-<name>.json``), the rule's
sentence, and a function that writes the log. The expected views are not
written here: :mod:`protocol.view_vectors` computes them with the reference
implementation, and the spec's sentence is what they must show.
"""

from __future__ import annotations

from typing import Any, Callable

from .view_log import DAY, CaseLog, case_key, mv

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
    log.add("device_link", "founder", "device_link", {"device": case_key("second_device").public})
    return log


@case("membership-records-in-order", "7.4",
      "invite and device_link records are taken in (c, id) order: one counts only if its author was "
      "admitted by a record earlier in that order; an earlier one is rejected as NotMember, not held "
      "back.")
def _membership_order() -> CaseLog:
    log = CaseLog().two_households()
    log.invite("early_invite", "second_device", key="invite_b", seen=0)
    log.add("device_link", "founder", "device_link", {"device": case_key("second_device").public})
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


@case("join-by-member-uses-nothing", "7.4",
      "A join that passes its checks by a device that is already a member counts, changes "
      "nothing, and uses up no use of its invite.")
def _join_by_member() -> CaseLog:
    log = CaseLog().two_households()
    log.invite("invite_b", "founder", key="invite_b", uses=1)
    log.join("join_again", "joiner", "invite_b", key="invite_b")
    log.join("join_third", "third", "invite_b", key="invite_b")
    return log


@case("invite-expiry-by-join-time", "7.4",
      "A join counts only if its own t is not after the invite's expires; the reader's clock plays "
      "no part.")
def _invite_expired() -> CaseLog:
    log = CaseLog()
    log.genesis()
    log.invite("invite", "founder", expires_in=10 * mv().MINUTE)
    log.join("late_join", "joiner", "invite", time=mv().T0 + 11 * mv().MINUTE)
    return log


@case("revoke-after-seq", "7.4",
      "After a revoke by an admin, the revoked device's records with s > after_seq do not count "
      "(Revoked), earlier ones still do; the device stays listed in its household as revoked.")
def _revoke() -> CaseLog:
    log = CaseLog().two_households()
    _offer(log, "kept", by="joiner")
    _offer(log, "cut", by="joiner", quantity=3)
    log.add("revoke", "founder", "revoke", {"member": case_key("joiner").public, "after_seq": 2})
    return log


@case("revoke-by-non-admin", "7.4",
      "A revoke counts only when its author is an admin (a device of the founding household) not "
      "revoked at that point; any other is rejected (NotAuthorised) and revokes nothing.")
def _revoke_non_admin() -> CaseLog:
    log = CaseLog().two_households()
    log.add("revoke", "joiner", "revoke", {"member": case_key("founder").public, "after_seq": 1})
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
    log.add("device_link", "founder", "device_link", {"device": case_key("second_device").public})
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
    log.add("device_link", "founder", "device_link", {"device": case_key("second_device").public})
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


@case("decision-by-any-device", "7.7.4",
      "Any device of the offer's household decides its claims: a linked device's decision counts "
      "as the household's, and when two devices accept at once beyond the quantity, the accept "
      "later in (c, id) order shows its claim as refused, a conflict for the household to settle.")
def _any_device_decides() -> CaseLog:
    log = CaseLog().two_households()
    log.add("device_link", "founder", "device_link", {"device": case_key("second_device").public})
    log.invite("invite_b", "founder", key="invite_b")
    log.join("join_third", "third", "invite_b", key="invite_b")
    _offer(log, quantity=600)
    log.add("claim_a", "joiner", "claim", {"offer": log["offer"], "quantity": 400})
    log.add("claim_b", "third", "claim", {"offer": log["offer"], "quantity": 300})
    seen = log.top
    _accept(log, "accept_a_by_second_device", "claim_a", 400, by="second_device", seen=seen)
    _accept(log, "accept_b_by_founder", "claim_b", 300, seen=seen)
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
      "A pledge that matches no need line (another item, or the item in a unit that does not "
      "convert into the line's) counts and is listed among the meal's extras; it covers nothing.")
def _extra_pledge() -> CaseLog:
    log = CaseLog().two_households()
    log.add("meal", "founder", "meal", {"dish": "stew", "time": mv().T0 + DAY, "place": "hall",
                                        "needs": [{"item": "rice", "quantity": 1000, "unit": "g"}]})
    log.add("pledge_extra", "joiner", "pledge",
            {"meal": log["meal"], "item": "rice", "quantity": 2, "unit": "items"})
    log.add("pledge_other_item", "joiner", "pledge",
            {"meal": log["meal"], "item": "beans", "quantity": 2, "unit": "kg"})
    return log


@case("pledge-converts-units", "7.7.7",
      "A pledge covers a need line in a compatible unit of the table, converted exactly into "
      "the line's unit (1 kg covers 1000 g, 3 tbsp are 45 ml); a line's pledged is what it took "
      "in its own unit, rounded down.")
def _pledge_units() -> CaseLog:
    log = CaseLog().two_households()
    log.add("meal", "founder", "meal", {
        "dish": "stew", "time": mv().T0 + DAY, "place": "hall",
        "needs": [{"item": "potatoes", "quantity": 2000, "unit": "g"},
                  {"item": "oil", "quantity": 50, "unit": "ml"},
                  {"item": "flour", "quantity": 1, "unit": "kg"}]})
    log.add("pledge_kg", "joiner", "pledge", {"meal": log["meal"], "item": "potatoes", "quantity": 1,
                                              "unit": "kg"})
    log.add("pledge_g", "founder", "pledge", {"meal": log["meal"], "item": "potatoes", "quantity": 1500,
                                              "unit": "G"})
    log.add("pledge_tbsp", "joiner", "pledge", {"meal": log["meal"], "item": "oil", "quantity": 3,
                                                "unit": "tbsp"})
    log.add("pledge_flour", "joiner", "pledge", {"meal": log["meal"], "item": "flour", "quantity": 999,
                                                 "unit": "g"})
    return log


@case("pledge-matching-rules", "7.7.7",
      "A pledge covers the need lines whose item equals its own and whose unit converts into its "
      "own, after trimming and case folding; pledges add up, repeated lines for one item fill in order, the last taking any "
      "surplus, and missing is never below zero.")
def _pledge_rules() -> CaseLog:
    log = CaseLog().two_households()
    log.add("meal", "founder", "meal", {
        "dish": "stew", "time": mv().T0 + DAY, "place": "hall",
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


@case("board-undated-newest-first", "7.7.9",
      "The board lists the open offers by ascending expiry, then the offers without one, newest "
      "(greatest t) first, ties by id.")
def _board_order() -> CaseLog:
    log = CaseLog().two_households()
    _offer(log, "undated_old", time=mv().T0 + 10 * mv().MINUTE)
    log.add("dated", "joiner", "offer", {"item": "pears", "quantity": 5, "unit": "kg",
                                         "best_before": mv().T0 + 30 * DAY})
    _offer(log, "undated_new", by="joiner", time=mv().T0 + 30 * mv().MINUTE)
    _offer(log, "undated_middle", time=mv().T0 + 20 * mv().MINUTE)
    return log


@case("unknown-kind-uninterpreted", "8",
      "A record of a kind not in the table counts for nothing in the views but is held "
      "(status uninterpreted) when its author is a member.")
def _unknown_kind() -> CaseLog:
    log = CaseLog().two_households()
    log.add("tool_loan", "joiner", "tool_loan", {"item": "ladder"})
    return log


