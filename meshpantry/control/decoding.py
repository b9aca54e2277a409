"""Building typed requests from control frames, and frames from requests.

:func:`decode_request` is the only place where a client's arguments can be
wrong: it checks the op name, that every argument is a field of the op's
request type, that every field without a default is given, and each value's
type (exactly: ``True`` is not a number, ``3`` is not text), recursing into
sequences and nested parts. A failure is a
:class:`~meshpantry.pantry.errors.BadRequest` naming the field. What a
handler raises later is the application's, never "bad arguments".

Supported field types: ``str``, ``int``, ``bool``, ``None`` and unions of
them, ``tuple[X, ...]`` (a list on the wire), fixed ``tuple[X, Y]`` (a
two-element list) and nested frozen dataclasses (a map on the wire).
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from typing import Mapping, Union

from meshpantry.pantry.errors import BadRequest, UnknownOp

from .frames import Wire
from .requests import REQUESTS, Request

T = typing.TypeVar("T")


def decode_request(op: object, args: object) -> Request:
    """The typed request a frame's ``op`` and ``args`` describe. ``args`` may
    carry positional values under ``"_args"`` (bound in field order).
    Raises :class:`UnknownOp` or :class:`BadRequest`."""
    if not isinstance(op, str) or op not in REQUESTS:
        raise UnknownOp(op)
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise BadRequest(f"{op}: request arguments must be a map")
    cls = REQUESTS[op]
    args = dict(args)
    positional = args.pop("_args", [])
    if not isinstance(positional, list):
        raise BadRequest(f"{op}: _args must be a list")
    names = [f.name for f in dataclasses.fields(cls)]
    if len(positional) > len(names):
        raise BadRequest(f"{op} takes at most {len(names)} arguments, not {len(positional)}")
    for name, value in zip(names, positional):
        if name in args:
            raise BadRequest(f"{op}: {name} given twice")
        args[name] = value
    return build(cls, args, op)


def encode_request(request: Request) -> dict[str, Wire]:
    """The ``op`` and ``args`` of a request frame (without the ``id``)."""
    return {"op": request.op, "args": to_wire(request)}


def request_from(op: str, args: Mapping[str, object]) -> Request:
    """A request from an op name and keyword arguments, as a client builds
    one (tuples and parts may be given as lists and maps)."""
    return decode_request(op, to_wire(dict(args)))


def to_wire(value: object) -> Wire:
    """``value`` as the control socket carries it: parts as maps, sequences as lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_wire(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_wire(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_wire(v) for v in value]
    return value  # type: ignore[return-value]  # scalars travel as they are


@functools.cache
def _hints(cls: type) -> dict[str, object]:
    return typing.get_type_hints(cls)


def build(cls: type[T], value: object, where: str) -> T:
    """An instance of the dataclass ``cls`` from the map ``value``, every field
    checked. Raises :class:`BadRequest` naming ``where`` and the field."""
    if not isinstance(value, dict):
        raise BadRequest(f"{where}: expected a map, got {_kind(value)}")
    hints = _hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(str(k) for k in value if k not in fields)
    if unknown:
        raise BadRequest(f"{where}: unknown argument {', '.join(unknown)}")
    built = {}
    for name, spec in fields.items():
        if name in value:
            built[name] = _check(hints[name], value[name], f"{where}.{name}" if where else name)
        elif spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING:
            raise BadRequest(f"{where}: {name} is required")
    return cls(**built)


def _check(hint: object, value: object, where: str) -> object:
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        for option in typing.get_args(hint):
            try:
                return _check(option, value, where)
            except BadRequest:
                continue
        raise BadRequest(f"{where}: expected {_name(hint)}, got {_kind(value)}")
    if hint is type(None):
        if value is None:
            return None
    elif hint in (str, int, bool):
        if type(value) is hint:
            return value
    elif origin is tuple:
        parts = typing.get_args(hint)
        if isinstance(value, (list, tuple)):
            if len(parts) == 2 and parts[1] is Ellipsis:
                return tuple(_check(parts[0], v, f"{where}[{i}]") for i, v in enumerate(value))
            if len(value) == len(parts):
                return tuple(_check(p, v, f"{where}[{i}]") for i, (p, v) in enumerate(zip(parts, value)))
    elif isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return build(hint, value, where)
    else:  # pragma: no cover - a request type uses a type this module does not know
        raise AssertionError(f"unsupported request field type {hint!r} at {where}")
    raise BadRequest(f"{where}: expected {_name(hint)}, got {_kind(value)}")


def _name(hint: object) -> str:
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        return " or ".join(_name(h) for h in typing.get_args(hint))
    if origin is tuple:
        parts = typing.get_args(hint)
        if len(parts) == 2 and parts[1] is Ellipsis:
            return f"a list of {_name(parts[0])}"
        return "a pair of " + " and ".join(_name(p) for p in parts)
    if hint is type(None):
        return "nothing"
    names = {str: "text", int: "a whole number", bool: "true or false"}
    return names.get(hint, getattr(hint, "__name__", str(hint)))  # type: ignore[call-overload]


def _kind(value: object) -> str:
    if value is None:
        return "nothing"
    return {bool: "true/false", int: "a number", str: "text", list: "a list", dict: "a map"}.get(
        type(value), type(value).__name__)
