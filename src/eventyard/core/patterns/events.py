"""Events as the matcher sees them: JSON text read like Ruler reads it, flattened to leaf values with paths.

An event's leaves are its strings, numbers, booleans and nulls; objects and arrays are not values (an empty
``{}`` or ``[]`` contributes nothing, so it counts as absent). A leaf's path joins its keys with dots, so
``{"a": {"b": 1}}`` and ``{"a.b": 1}`` both have the leaf ``a.b``. Every leaf inside arrays carries its
*array membership*: for each enclosing array, which element it sits in. Ruler refuses to match one field with
a value from one element of an array and another field with a value from another element of the same array.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import orjson

from eventyard.core.envelope import too_deep
from eventyard.core.patterns.numbers import JsonFloat, number_text

Membership = tuple[tuple[int, int], ...]  # (array id, element index), in increasing array id
Fields = dict[str, list[tuple[Any, Membership]]]

TEST_EVENT_FIELDS = ("id", "account", "source", "time", "region", "detail-type")
INVALID_EVENT = "Parameter Event is not valid."
LEAF_TYPES = frozenset({str, int, float, bool, type(None), JsonFloat})


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def load_event(text: str | bytes | bytearray) -> Any:
    """Parse event JSON keeping each float's text (as JsonFloat); ValueError if it is not JSON.

    NaN and Infinity are refused, as Jackson refuses them. Events nested deeper than Python's json module
    can follow (about 1000 levels, less the stack in use) are read with orjson instead, without the float
    texts.
    """
    try:
        return json.loads(text, parse_float=JsonFloat, parse_constant=_refuse_constant)
    except RecursionError:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError as error:
            raise ValueError(str(error)) from None


def validate_test_event(event_text: str | bytes) -> dict[str, Any]:
    """The event of a TestEventPattern request, or ValueError("Parameter Event is not valid.").

    AWS's API reference lists id, account, source, time, region, resources and detail-type as mandatory, but
    AWS accepts events without ``resources`` (most conformance events lack it); the other six are required.
    Like any JSON AWS reads, the event may nest MAX_DEPTH levels (itself the first: its detail one fewer).
    """
    try:
        event = load_event(event_text)
    except (ValueError, TypeError, RecursionError):
        raise ValueError(INVALID_EVENT) from None
    if not isinstance(event, dict) or any(name not in event for name in TEST_EVENT_FIELDS):
        raise ValueError(INVALID_EVENT)
    if too_deep(event):
        raise ValueError(INVALID_EVENT)
    return event


def coerce_leaf(value: Any) -> Any:
    """An event value of a type JSON does not have, as the JSON value it stands for (or TypeError)."""
    if type(value) is JsonFloat:
        return value
    if isinstance(value, Decimal):
        return JsonFloat(str(value)) if value.is_finite() else float(value)
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    raise TypeError(f"event value of type {type(value).__name__} is not JSON")


def literal_text(value: Any) -> str:
    """How a leaf that is not a string is written in JSON (``true``, ``null``, ``300``), as Ruler reads it."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    return number_text(value)


def flatten(event: Mapping[str, Any]) -> Fields:
    """Every leaf of `event`, by path, with its array membership."""
    fields: Fields = {}
    next_array = 0
    stack: list[tuple[Any, str | None, Membership]] = [(event, None, ())]
    while stack:
        value, path, membership = stack.pop()
        if isinstance(value, Mapping):
            for key, child in value.items():
                key = key if type(key) is str else str(key)
                stack.append((child, key if path is None else path + "." + key, membership))
        elif isinstance(value, list | tuple):
            array = next_array
            next_array += 1
            for index, element in enumerate(value):
                stack.append((element, path, (*membership, (array, index))))
        elif path is not None:
            leaf = value if type(value) in LEAF_TYPES else coerce_leaf(value)
            fields.setdefault(path, []).append((leaf, membership))
    return fields


def merge(first: Membership, second: Membership) -> Membership | None:
    """The membership of two values together, or None if they come from different elements of one array."""
    if not second:
        return first
    if not first:
        return second
    combined = dict(first)
    for array, index in second:
        seen = combined.get(array)
        if seen is None:
            combined[array] = index
        elif seen != index:
            return None
    return tuple(sorted(combined.items()))
