"""The typed control boundary: every op is a request type whose fields are
its handler's parameters, built from a frame with every field checked."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from meshpantry.control import requests as rq
from meshpantry.control.decoding import decode_request, encode_request, request_from
from meshpantry.control.events import EVENTS, PeerEvent, RecordEvent, decode_event, encode_event
from meshpantry.control.routes import PANTRY_METHODS
from meshpantry.exit_codes import ExitCode
from meshpantry.node.control_ops import NODE_OVERRIDES
from meshpantry.pantry.errors import BadRequest, UnknownOp


@pytest.mark.parametrize("request_type, method", PANTRY_METHODS, ids=lambda x: getattr(x, "op", ""))
def test_request_fields_are_the_pantry_methods_parameters(request_type, method):
    """Same names, same order, same defaults: a request always binds."""
    parameters = list(inspect.signature(method).parameters.values())[1:]  # without self
    fields = dataclasses.fields(request_type)
    if any(p.kind is p.VAR_KEYWORD for p in parameters):  # offer_update(offer_ref, **fields)
        assert [f.name for f in fields][0] == parameters[0].name
        return
    assert [f.name for f in fields] == [p.name for p in parameters]
    for f, p in zip(fields, parameters):
        default = f.default if f.default is not dataclasses.MISSING else inspect.Parameter.empty
        if p.default is not inspect.Parameter.empty and isinstance(p.default, (tuple, list)):
            assert tuple(default) == tuple(p.default), f.name
        else:
            assert default == p.default, f.name


def test_every_op_has_a_request_type_and_every_pantry_op_a_method():
    served = {request.op for request, _ in PANTRY_METHODS}
    node_only = {"dump", "deny_peers", "allow_peers", "sync_now", "shutdown", "subscribe"}
    assert served | node_only == set(rq.REQUESTS)
    assert {r.op for r in NODE_OVERRIDES} <= served


def test_a_frame_builds_its_typed_request():
    request = decode_request("meal_add", {
        "dish": "soup", "time": 5, "place": "hall", "needs": [{"item": "leeks", "quantity": 4, "unit": "pc"}]})
    assert request == rq.MealAdd("soup", 5, "hall", (rq.Need("leeks", 4, "pc"),))
    assert decode_request(**encode_request(request)) == request
    edit = request_from("recipe_edit", {"recipe_ref": "abcd", "add_steps": [(0, "stir")],
                                        "add_ingredients": [[None, {"item": "salt"}]]})
    assert edit.add_steps == ((0, "stir"),) and edit.add_ingredients == ((None, rq.IngredientLine("salt")),)
    assert decode_request("offer_show", {"_args": ["abcd"]}) == rq.OfferShow("abcd")


@pytest.mark.parametrize("op, args, complaint", [
    ("offer_add", {"item": "rice", "quantity": "3", "unit": "g"}, "quantity: expected a whole number, got text"),
    ("offer_add", {"item": "rice", "quantity": True, "unit": "g"}, "quantity"),
    ("offer_add", {"item": "rice", "unit": "g"}, "quantity is required"),
    ("offer_show", {"offer_ref": "abcd", "extra": 1}, "unknown argument extra"),
    ("offer_list", {"free_of": "nuts"}, "free_of"),
    ("meal_add", {"dish": "s", "time": 1, "place": "p", "needs": [{"item": "x"}]}, "quantity is required"),
    ("recipe_edit", {"recipe_ref": "abcd", "add_steps": [[0]]}, "add_steps"),
    ("whoami", ["not", "a", "map"], "must be a map"),
    ("offer_show", {"_args": ["a", "b"]}, "at most 1"),
])
def test_arguments_that_do_not_fit_are_bad_requests(op, args, complaint):
    with pytest.raises(BadRequest, match=complaint) as caught:
        decode_request(op, args)
    assert caught.value.exit_code == ExitCode.USAGE


def test_an_unknown_op_is_a_bad_request():
    for op in ("drop_tables", None, 7, "__init__"):
        with pytest.raises(UnknownOp, match="does not know the request"):
            decode_request(op, {})


def test_events_round_trip_and_unknown_ones_are_skipped():
    event = RecordEvent(id="ab", kind="offer", author="cd", seq=3, time=9, own=True)
    assert decode_event(encode_event(event)) == event
    assert encode_event(PeerEvent(peer="p", up=True)) == {"event": "peer", "data": {"peer": "p", "up": True}}
    assert decode_event({"event": "from-a-newer-node", "data": {}}) is None
    with pytest.raises(BadRequest):
        decode_event({"event": "record", "data": {"id": 5}})
    assert set(EVENTS) == {"record", "peer", "island", "fork", "sync"}
