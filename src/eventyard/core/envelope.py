"""The event envelope: checking a PutEvents/PutPartnerEvents entry, its size as AWS counts it, and the
standard event JSON that rules match and targets receive.

Pure functions: no clock, no ids, no store. PutEvents and PutPartnerEvents share them ("same entry validation
and size rules"); `refuse_aws_sources` is the one difference (customers may not publish `aws.` sources).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

CLASSIC_MAX_ENTRY_SIZE = 256 * 1024
DEFAULT_MAX_ENTRY_SIZE = 1024 * 1024  # AWS raised the PutEvents payload limit to 1 MiB in January 2026
TIME_BYTES = 14  # what a Time value counts for, whatever its text
# How deep JSON may nest: AWS reads events with Jackson, whose limit (StreamReadConstraints) is 1,000 levels,
# as PutEvents' API reference says. orjson reads 1,024 (a Detail nested deeper is not JSON to it).
MAX_DEPTH = 1000
_DEEP_RECURSION_LIMIT = 3 * MAX_DEPTH  # the event one level deeper than its Detail, and the stack below it

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_LONG_NUMBER = re.compile(r"\d{19}")  # only numbers this long can leave the int64 range
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?')  # strings, numbers


@dataclass(frozen=True, slots=True)
class EntryError:
    """Why one entry was refused: the `ErrorCode` and `ErrorMessage` of its result entry."""

    code: str
    message: str

    def result(self) -> dict[str, str]:
        return {"ErrorCode": self.code, "ErrorMessage": self.message}


def _required(name: str) -> EntryError:
    return EntryError(
        "InvalidArgument", f"Parameter {name} is not valid. Reason: {name} is a required argument."
    )


MALFORMED_DETAIL = EntryError("MalformedDetail", "Detail is malformed.")
NOT_AUTHORIZED_FOR_SOURCE = EntryError("NotAuthorizedForSourceException", "Not authorized for the source.")


def _utf8_len(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def entry_size(entry: Mapping[str, Any]) -> int:
    """The size AWS charges an entry against the limit (eb-putevent-size): Time counts 14 bytes if given;
    Source, DetailType, Detail and each Resources item count their UTF-8 bytes. EventBusName, TraceHeader
    and the envelope's own keys do not count."""
    size = TIME_BYTES if entry.get("Time") is not None else 0
    for key in ("Source", "DetailType", "Detail"):
        value = entry.get(key)
        if value:
            size += _utf8_len(value)
    for resource in entry.get("Resources") or ():
        if resource:
            size += _utf8_len(resource)
    return size


def has_required_fields(entry: Mapping[str, Any]) -> bool:
    """Source, DetailType and Detail are all present and non-empty."""
    return bool(entry.get("Source")) and bool(entry.get("DetailType")) and bool(entry.get("Detail"))


def check_entry(entry: Mapping[str, Any], *, refuse_aws_sources: bool = True) -> dict[str, Any] | EntryError:
    """The entry's Detail as a JSON object, or the error AWS reports for this entry.

    Checked in AWS's order: Source, DetailType, Detail present (an empty string counts as missing); then the
    source (customers may not use the `aws.` namespace); then Detail must be a JSON object whose integers fit
    in 64 bits, nested at most MAX_DEPTH levels.
    """
    source = entry.get("Source")
    if not source:
        return _required("Source")
    if not entry.get("DetailType"):
        return _required("DetailType")
    text = entry.get("Detail")
    if not text:
        return _required("Detail")
    if refuse_aws_sources and source.startswith("aws."):
        return NOT_AUTHORIZED_FOR_SOURCE
    try:
        detail = orjson.loads(text)
    except orjson.JSONDecodeError:
        return MALFORMED_DETAIL
    if not isinstance(detail, dict):
        return MALFORMED_DETAIL
    if _LONG_NUMBER.search(text) and not _int64_only(text):
        return MALFORMED_DETAIL
    if text.count("{") + text.count("[") > MAX_DEPTH and too_deep(detail):  # fewer brackets, fewer levels
        return MALFORMED_DETAIL
    return detail


def too_deep(document: Any) -> bool:
    """Whether parsed JSON is nested deeper than MAX_DEPTH levels (each object or array is one, the outermost
    included: Jackson's count of unclosed objects and arrays)."""
    try:
        orjson.dumps(document)  # in C, and orjson writes documents nested at most 254 levels
        return False
    except orjson.JSONEncodeError:
        pass
    stack = [(document, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        for child in node.values() if isinstance(node, dict) else node:
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))
    return False


def event_json(value: Any) -> str:
    """An event (or a part of one, or a document built from one) as compact JSON, as Eventyard stores and
    delivers events: orjson's text, or, for a document nested deeper than orjson writes (254 levels; a
    Detail may have MAX_DEPTH), the standard library's, alike (compact, non-ASCII characters as they are)."""
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError as error:
        if str(error) != "Recursion limit reached":
            raise
    # The C encoder counts each level against the recursion limit, on top of the frames already on the stack:
    # raised for this call only, so that nothing else in the process depends on what it wrote before.
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, _DEEP_RECURSION_LIMIT))
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    finally:
        sys.setrecursionlimit(limit)


def _int64_only(text: str) -> bool:
    """Every integer literal of the (valid JSON) text fits in 64 bits. Read from the text: the parser turns
    larger integers into floats without a word."""
    for token in _TOKENS.finditer(text):
        literal = token.group()
        is_integer = literal[0] != '"' and len(literal) >= 19 and literal.lstrip("-").isdigit()
        if is_integer and not _INT64_MIN <= int(literal) <= _INT64_MAX:
            return False
    return True


def format_time(moment: dt.datetime | float) -> str:
    """`2017-12-22T18:43:48Z`: UTC, whole seconds, as in every EventBridge envelope."""
    if not isinstance(moment, dt.datetime):
        return _format_second(math.floor(moment))
    moment = moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@functools.lru_cache(maxsize=16)
def _format_second(second: int) -> str:
    return dt.datetime.fromtimestamp(second, dt.UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )  # one per second, not per event


def envelope(
    entry: Mapping[str, Any],
    detail: dict[str, Any],
    *,
    event_id: str,
    account: str,
    region: str,
    now: float,
    source: str | None = None,
) -> dict[str, Any]:
    """The event as EventBridge stores, matches and delivers it, keys in AWS's order.

    `detail` is what `check_entry` returned; `now` (epoch seconds) is the time when the entry has no Time;
    `source` overrides the entry's Source (partner events carry the event source name).
    """
    moment = entry.get("Time")
    resources: Sequence[str] = entry.get("Resources") or []
    return {
        "version": "0",
        "id": event_id,
        "detail-type": entry["DetailType"],
        "source": source if source is not None else entry["Source"],
        "account": account,
        "time": format_time(now if moment is None else moment),
        "region": region,
        "resources": list(resources),
        "detail": detail,
    }


def scheduled_event(
    *, event_id: str, account: str, region: str, rule_arn: str, fire_time: float
) -> dict[str, Any]:
    """The event a scheduled rule sends at `fire_time` (epoch seconds, a whole minute), as AWS sends it."""
    return {
        "version": "0",
        "id": event_id,
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": format_time(fire_time),
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    }
