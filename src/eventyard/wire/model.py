"""The botocore `events` service model as the contract: input validation and output serialization.

Generic code walks shapes, never operations: every constraint (required, length, range, pattern, enum,
list size) comes from the model at run time, and output keeps only modelled members.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
from collections.abc import Callable
from typing import Any

import botocore.session
from botocore.model import OperationModel, ServiceModel, Shape

from eventyard.errors import AwsError


@functools.cache
def service_model() -> ServiceModel:
    return botocore.session.get_session().get_service_model("events", api_version="2015-10-07")


@functools.cache
def operation_model(name: str) -> OperationModel:
    return service_model().operation_model(name)


def operation_names() -> list[str]:
    return list(service_model().operation_names)


@functools.cache
def _regex(pattern: str) -> Any:
    """The model's patterns are Java regular expressions. Python's `re` takes all but one (`\\p{L}`-style
    Unicode classes, in RunCommandTargetKey); the `regex` package takes those too."""
    try:
        return re.compile(pattern, re.DOTALL)
    except re.error:
        import regex

        return regex.compile(pattern, regex.DOTALL)


def _lower_first(name: str) -> str:
    # AWS reports members in the Coral style: lower camel case, `entries.1.member.source`.
    return name[:1].lower() + name[1:]


@functools.cache
def _members(shape: Shape) -> dict[str, tuple[Shape, str]]:
    """A structure's members with the names its error paths use, worked out once per shape, not per value."""
    return {name: (member, _lower_first(name)) for name, member in shape.members.items()}


def _render(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "'true'" if value else "'false'"
    if isinstance(value, list):
        return "'[" + ", ".join(_render_plain(v) for v in value) + "]'"
    if isinstance(value, dict):
        return "'{" + ", ".join(f"{k}={_render_plain(v)}" for k, v in value.items()) + "}'"
    return f"'{value}'"


def _render_plain(value: Any) -> str:
    rendered = _render(value)
    return rendered[1:-1] if rendered.startswith("'") else rendered


class _Validator:
    """Walks one input value against its shape, collecting every problem, not the first."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def report(self, value: Any, path: str, constraint: str) -> None:
        self.errors.append(f"Value {_render(value)} at '{path}' failed to satisfy constraint: {constraint}")

    def validate(self, shape: Shape, value: Any, path: str) -> Any:
        return _CHECKS.get(shape.type_name, _Validator._v_other)(self, shape, value, path)

    def _type_error(self, shape: Shape, value: Any, path: str) -> AwsError:
        got = type(value).__name__
        expected = {"structure": "an object", "list": "a list", "map": "an object"}.get(
            shape.type_name, f"a {shape.type_name}"
        )
        return AwsError(
            "SerializationException",
            f"Expected {expected} at '{path or 'body'}', got a JSON {_json_type(value)} ({got}).",
        )

    def _v_structure(self, shape: Shape, value: Any, path: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self._type_error(shape, value, path)
        members = _members(shape)
        out: dict[str, Any] = {}
        for name in shape.required_members:
            if value.get(name) is None:
                self.report(None, _join(path, members[name][1]), "Member must not be null")
        for name, member_value in value.items():
            member = members.get(name)
            if member is None or member_value is None:
                continue  # AWS ignores members it does not model
            member_shape, label = member
            out[name] = self.validate(member_shape, member_value, _join(path, label))
        return out

    def _v_list(self, shape: Shape, value: Any, path: str) -> list[Any]:
        if not isinstance(value, list):
            raise self._type_error(shape, value, path)
        self._length(shape, value, len(value), path)
        return [
            self.validate(shape.member, item, f"{path}.{index}.member") for index, item in enumerate(value, 1)
        ]

    def _v_map(self, shape: Shape, value: Any, path: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self._type_error(shape, value, path)
        self._length(shape, value, len(value), path)
        out: dict[str, Any] = {}
        for key, item in value.items():
            self.validate(shape.key, key, f"{path}.key")
            if item is None:
                continue
            out[key] = self.validate(shape.value, item, f"{path}.{key}")
        return out

    def _v_string(self, shape: Shape, value: Any, path: str) -> str:
        if not isinstance(value, str):
            raise self._type_error(shape, value, path)
        self._length(shape, value, len(value), path)
        pattern = shape.metadata.get("pattern")
        if pattern is not None and not _regex(pattern).fullmatch(value):
            self.report(value, path, f"Member must satisfy regular expression pattern: {pattern}")
        enum = shape.enum
        if enum and value not in enum:
            self.report(value, path, f"Member must satisfy enum value set: [{', '.join(enum)}]")
        return value

    def _v_integer(self, shape: Shape, value: Any, path: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self._type_error(shape, value, path)
        if isinstance(value, float):
            if not value.is_integer():
                raise AwsError("SerializationException", f"Expected an integer at '{path}', got {value}.")
            value = int(value)
        low, high = _INTEGER_RANGES[shape.type_name]  # what AWS's Java int and long can hold
        if not low <= value <= high:
            raise AwsError("SerializationException", f"Number out of range at '{path}': {value}.")
        self._range(shape, value, path)
        return value

    _v_long = _v_integer

    def _v_double(self, shape: Shape, value: Any, path: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self._type_error(shape, value, path)
        self._range(shape, value, path)
        return float(value)

    _v_float = _v_double

    def _v_boolean(self, shape: Shape, value: Any, path: str) -> bool:
        if not isinstance(value, bool):
            raise self._type_error(shape, value, path)
        return value

    def _v_timestamp(self, shape: Shape, value: Any, path: str) -> dt.datetime:
        if isinstance(value, bool):
            raise self._type_error(shape, value, path)
        if isinstance(value, int | float):
            if not math.isfinite(value) or not _FIRST_SECOND <= value <= _LAST_SECOND:
                raise _timestamp_out_of_range(path)
            return dt.datetime.fromtimestamp(value, dt.UTC)
        if isinstance(value, str):
            try:
                parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                raise AwsError(
                    "SerializationException", f"Could not parse the timestamp at '{path}'."
                ) from None
            if parsed.tzinfo is None:
                return parsed.replace(tzinfo=dt.UTC)
            try:  # in UTC now, so that nothing later steps outside years 1 to 9999
                return parsed.astimezone(dt.UTC)
            except OverflowError:
                raise _timestamp_out_of_range(path) from None
        raise self._type_error(shape, value, path)

    def _v_other(self, shape: Shape, value: Any, path: str) -> Any:
        return value

    def _length(self, shape: Shape, value: Any, length: int, path: str) -> None:
        meta = shape.metadata
        if "min" in meta and length < meta["min"]:
            self.report(value, path, f"Member must have length greater than or equal to {meta['min']}")
        if "max" in meta and length > meta["max"]:
            self.report(value, path, f"Member must have length less than or equal to {meta['max']}")

    def _range(self, shape: Shape, value: float, path: str) -> None:
        meta = shape.metadata
        if "min" in meta and value < meta["min"]:
            self.report(value, path, f"Member must have value greater than or equal to {meta['min']}")
        if "max" in meta and value > meta["max"]:
            self.report(value, path, f"Member must have value less than or equal to {meta['max']}")


# Timestamps from 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z, in epoch seconds.
_FIRST_SECOND, _LAST_SECOND = -62135596800, 253402300799
_INTEGER_RANGES = {"integer": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}


def _timestamp_out_of_range(path: str) -> AwsError:
    return AwsError("SerializationException", f"Timestamp out of range at '{path}'.")


# The check of each shape type (`_v_<type>`); any other type is taken as it is.
_CHECKS: dict[str, Callable[[_Validator, Shape, Any, str], Any]] = {
    name.removeprefix("_v_"): check for name, check in vars(_Validator).items() if name.startswith("_v_")
}


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    return "number"


def _join(path: str, label: str) -> str:
    return f"{path}.{label}" if path else label


def validate_input(operation: OperationModel, params: Any) -> dict[str, Any]:
    """Check `params` against the operation's input shape; return them with timestamps parsed.

    Wrong JSON types raise SerializationException; broken constraints raise one ValidationException that
    lists them all in AWS's words.
    """
    shape = operation.input_shape
    if shape is None:
        return {}
    validator = _Validator()
    checked = validator.validate(shape, params, "")
    if validator.errors:
        count = len(validator.errors)
        noun = "error" if count == 1 else "errors"
        raise AwsError(
            "ValidationException", f"{count} validation {noun} detected: " + "; ".join(validator.errors)
        )
    return checked


def serialize_output(shape: Shape | None, value: Any) -> Any:
    """Keep only modelled members, drop nulls, write timestamps as epoch seconds."""
    if shape is None or value is None:
        return None
    kind = shape.type_name
    if kind == "structure":
        out: dict[str, Any] = {}
        for name, member in shape.members.items():
            item = value.get(name)
            if item is None:
                continue
            serialized = serialize_output(member, item)
            if serialized is not None:
                out[name] = serialized
        return out
    if kind == "list":
        return [serialize_output(shape.member, item) for item in value]
    if kind == "map":
        return {key: serialize_output(shape.value, item) for key, item in value.items()}
    if kind == "timestamp":
        return epoch_seconds(value)
    return value


def epoch_seconds(value: Any) -> float | int:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        seconds = value.timestamp()
    else:
        seconds = float(value)
    return int(seconds) if float(seconds).is_integer() else round(seconds, 3)
