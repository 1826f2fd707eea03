"""The house rule, fuzzed: whatever a caller sends, Eventyard answers with an AWS error, never a 500.

Every operation of the botocore `events` model, on each store, gets random inputs built from its input shape:
model-conforming values (enums, patterns, lengths, ranges), hostile strings ("\\x00", "\\u2028", lone
surrogates, quotes, the longest allowed), JSON and junk where a member holds JSON, names of resources that
exist in the account, and some mutations (a required member dropped, a member of the wrong JSON type).
The requests go out raw, not through boto3, so no client-side validation filters them. Every answer must be
JSON; an error must be HTTP 4xx (or 501 NotImplementedException) with `__type` and `message`. After a
mutating call succeeds, read-back probes (PutEvents to the fuzzed buses, the List operations...) must keep
to the same rule, so state that a call stored cannot break later calls either.

Bounded and reproducible: a fixed number of examples per operation, derandomized. A failure names the
operation, the exact input and the exception in the server log.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import botocore.session
import httpx
import pytest
from botocore.model import Shape
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from eventyard.operations.registry import load_all
from tests.api.helpers import signed

MODEL = botocore.session.get_session().get_service_model("events")
IMPLEMENTED = set(load_all())
OPERATIONS = list(MODEL.operation_names)
JSON_11 = "application/x-amz-json-1.1"
TIMEOUT = 30  # seconds for one answer

# Examples per operation and store: more where the inputs are rich, few where the server answers 501 before
# it looks at the input. The whole file takes about 30 s for both stores with -n 2.
EXAMPLES = 30
EXAMPLES_RICH = 100
RICH = {
    "PutEvents", "PutPartnerEvents", "PutTargets", "PutRule", "PutPermission", "TestEventPattern",
    "CreateApiDestination", "UpdateApiDestination", "CreateConnection", "UpdateConnection", "TagResource",
}  # fmt: skip
EXAMPLES_NOT_IMPLEMENTED = 5

HOSTILE = [
    "\x00", "\u2028", "\u2029", "\ufeff", "\U0001f600", "e\u0301", "\u202e", "'", '"',
    "\\", "%", "_", "*", "?", "\n", "\r\n", "\t", "\x7f", "\x1b", "\x01", "${", "$.", "<", ">", "&", "/",
    "..", " ", ":", ",", "[", "]", "{", "}", "=",
]  # fmt: skip
JSON_MEMBERS = {"EventPattern", "Detail", "Input", "Policy", "Event", "InputTemplate"}
# Members that the operations need though the model leaves them optional: in clean mode, one of the sets.
ALWAYS = {
    "PutEventsRequestEntry": [("Source", "DetailType", "Detail")],
    "PutPartnerEventsRequestEntry": [("Source", "DetailType", "Detail")],
    "PutRuleRequest": [("EventPattern",), ("ScheduleExpression",)],
    "PutPermissionRequest": [("Action", "Principal", "StatementId"), ("Policy",)],
    "RemovePermissionRequest": [("StatementId",), ("RemoveAllPermissions",)],
}
READ_ONLY_PREFIXES = ("Describe", "List", "Test")


@dataclass
class Account:
    """The fuzzed account's fixed resources: most generated names point at these."""

    account: str
    region: str = "us-east-1"
    source: str = ""
    arns: dict[str, str] = field(default_factory=dict)

    def arn(self, kind: str, name: str) -> str:
        return f"arn:aws:events:{self.region}:{self.account}:{kind}/{name}"


# -- strategies from the model ----------------------------------------------------------------------------

# Each request is drawn in one mode: "clean" keeps every value within the model (so most requests get past
# validation and reach the handler, with whatever odd characters the model allows); "hostile" also breaks
# lengths, patterns and JSON (lone surrogates make the whole body invalid JSON, so they stay in this mode).
MODE = st.shared(st.sampled_from(["clean", "clean", "clean", "hostile"]), key="fuzz-mode")

# One odd character, NUL most often (PostgreSQL cannot store it in text).
odd_clean = st.sampled_from(["\x00"] * 10 + ["\u2028"] * 2 + HOSTILE)
odd_any = st.sampled_from(["\x00"] * 10 + ["\ud800", "\udfff", *HOSTILE])

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
    | odd_clean,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8) | odd_clean, inner, max_size=3)
    ),
    max_leaves=8,
)


def odd_text(low: int, high: int | None, odd: st.SearchStrategy[str] = odd_clean) -> st.SearchStrategy[str]:
    """Odd characters mixed with bits of text, or the longest allowed string of (or ending in) an odd
    character; within `low`..`high` characters."""
    high = 5000 if high is None else high
    pieces = st.lists(odd | st.text(max_size=4), min_size=1, max_size=6).map("".join)
    pieces = pieces.map(lambda s: (s + "x" * low)[:low] if len(s) < low else s[:high])
    longest = st.sampled_from(["x", "\x00", "\u2028", "é", "\U0001f600"]).map(lambda c: c * high)
    ending = odd.map(lambda c: ("x" * high)[: max(high - len(c), 0)] + c)
    return st.one_of(pieces, pieces, pieces, longest, ending)


def event_json(fz: Account) -> st.SearchStrategy[str]:
    """An event as TestEventPattern takes it: clean, every field present, some holding odd text."""

    def field(good: Any) -> st.SearchStrategy[Any]:
        return st.one_of([st.just(good)] * 12 + [odd_text(0, 20), json_values])

    times = [
        "2020-01-01T00:00:00Z",
        "0000-00-00T00:00:00Z",
        "9999-12-31T23:59:59+14:00",
        "0001-01-01T00:00:00-01:00",
    ]
    return st.fixed_dictionaries(
        {
            "id": field("1"),
            "source": field("fz"),
            "detail-type": field("fz"),
            "account": field(fz.account),
            "time": field("2020-01-01T00:00:00Z") | st.sampled_from(times),
            "region": field("us-east-1"),
            "resources": field([]) | st.lists(odd_text(0, 20), max_size=2),
            "detail": field({}) | st.dictionaries(odd_text(0, 8), json_values, max_size=3),
        }
    ).map(json.dumps)


def json_texts(fz: Account) -> tuple[dict[str, st.SearchStrategy[str]], st.SearchStrategy[str]]:
    """JSON of the kinds the members hold (patterns, events, policies, templates), and junk."""
    bus = fz.arn("event-bus", "default")
    valid = [
        '{"source": ["fz"]}', '{"source": [{"prefix": ""}]}', '{"detail": {"n": [{"numeric": [">", 0, "<=", 5]}]}}',
        '{"detail": {"ip": [{"cidr": "10.0.0.0/24"}]}}', '{"detail": {"x": [{"anything-but": {"prefix": "a"}}]}}',
        '{"detail": {"x": [{"wildcard": "*a*\\u0000"}]}}', '{"source": ["x\\u0000"]}', '{"detail": {"x": [{"exists": false}]}}',
        '{"$or": [{"source": ["a"]}, {"detail-type": ["b"]}]}', '{"detail": {"x": [{"equals-ignore-case": "\\u2028"}]}}',
        '{"detail": {"n": [{"numeric": ["=", 1e308]}]}}', '{"detail": {"x": [{"suffix": ""}]}}', '{"source": []}',
        '{"source": "fz"}', '{"": [""]}', '{"\\u0000": ["\\u0000"]}', "{}", "[]", '"x"', "null", "1", "true", '{"a": 1}',
        '{"n": 123456789012345678901234567890}', '{"n": -0.0}', "[" * 600 + "]" * 600, '{"a":' * 400 + "1" + "}" * 400,
        '{"detail":' * 300 + '["x"]' + "}" * 300,
        f'{{"Version": "2012-10-17", "Statement": [{{"Sid": "fz", "Effect": "Allow", "Principal": {{"AWS": "arn:aws:iam::111111111111:root"}}, "Action": "events:PutEvents", "Resource": "{bus}"}}]}}',
        f'{{"Version": "2012-10-17", "Statement": [{{"Sid": "fz", "Effect": "Allow", "Principal": "*", "Action": "events:*", "Resource": "{bus}", "Condition": {{"StringEquals": {{"aws:PrincipalOrgID": "o-1"}}}}}}]}}',
        f'{{"Version": "2012-10-17", "Statement": [{{"Sid": "fz\\u0000", "Effect": "Allow", "Principal": {{"AWS": "\\u0000"}}, "Action": "events:PutEvents", "Resource": "{bus}"}}]}}',
        '{"Version": "2012-10-17", "Statement": {"Sid": 5}}', '{"Statement": [{"Sid": null, "Principal": {"AWS": ["\\u0000"]}}]}',
        '{"Statement": [1, "x", {}]}', *hostile_policies(bus), '{"a": <aws.events.event.json>}', '"<aws.events.rule-arn> <aws.events.event>"',
        '{"x": <x>, "y": "<y>"}', "<aws.events.event.json>", '{"t": "<aws.events.ingestion-time>"}',
    ]  # fmt: skip
    junk = [
        '{"n": 1e400}',
        '{"n": -1e999}',
        '{"a": "\\ud800"}',
        "{",
        '{"a":',
        "{'a': 1}",
        "\x00",
        "",
        "<x> <x",
        "[1,]",
    ]
    # Clean: the samples that suit the member. Junk: any sample, any JSON, not JSON at all.
    suits = {
        "EventPattern": lambda v: v.startswith('{"') and "Statement" not in v and "<" not in v,
        "Policy": lambda v: "Statement" in v,
        "Input": lambda v: "<" not in v,
        "InputTemplate": lambda v: "<" in v,
        "Detail": lambda v: v.startswith("{") and "Statement" not in v,
    }
    anything = st.sampled_from(valid) | json_values.map(json.dumps)
    clean: dict[str, st.SearchStrategy[str]] = {
        member: st.sampled_from([v for v in valid if fits(v)]) for member, fits in suits.items()
    }
    clean["Event"] = event_json(fz)
    junk = st.one_of(anything, st.sampled_from(junk), st.text(max_size=20), odd_text(0, 30, odd_any))
    return clean, junk


class Inputs:
    """Hypothesis strategies for the input shapes of one account's operations."""

    def __init__(self, fz: Account) -> None:
        self.fz = fz
        a, r = fz.account, fz.region
        buses = ["fz-bus", "default", fz.arn("event-bus", "fz-bus"), fz.arn("event-bus", "default")]
        resources = [
            fz.arn("rule", "fz-rule"), fz.arn("rule", "fz-bus/fz-rule"), fz.arn("event-bus", "fz-bus"),
            fz.arn("event-bus", "default"), fz.arns["connection"], fz.arns["destination"],
            fz.arn("rule", "missing"), f"arn:aws:events:{r}:111111111111:rule/x", "arn:aws:events:::rule/",
            f"arn:aws:sqs:{r}:{a}:fz-queue", "arn:", "",
        ]  # fmt: skip
        targets = [
            fz.arns["destination"], fz.arn("event-bus", "fz-bus"), fz.arn("event-bus", "default"),
            f"arn:aws:events:eu-west-1:{a}:event-bus/default", f"arn:aws:sqs:{r}:{a}:fz-queue",
            f"arn:aws:lambda:{r}:{a}:function:fz", f"arn:aws:sns:{r}:{a}:fz", "arn:aws:events:::api-destination/",
        ]  # fmt: skip
        sources = [fz.source, fz.source.rsplit("/", 1)[0] + "/", "aws.partner/fz.example/missing/x"]
        # Values for string shapes (by shape name) and for members (by member name; these win).
        self.by_shape: dict[str, list[str]] = {
            "RuleName": ["fz-rule", "fz-rule", "fz-rule", "fz-rule2"],
            "EventBusName": ["fz-bus", "default", "fz-bus2"],
            "NonPartnerEventBusName": ["fz-bus", "default"],
            "EventBusNameOrArn": buses,
            "NonPartnerEventBusNameOrArn": buses,
            "ConnectionName": ["fz-conn", "fz-conn", "fz-conn2"],
            "ConnectionArn": [fz.arns["connection"]],
            "ApiDestinationName": ["fz-dest", "fz-dest", "fz-dest2"],
            "TargetId": ["fz-target", "fz-target2"],
            "StatementId": ["fz-stmt", "fz-stmt2"],
            "AccountId": [a, "111111111111"],
            "EventSourceName": sources,
            "PartnerEventSourceNamePrefix": sources,
            "EventSourceNamePrefix": ["aws.partner", "aws.partner/fz.example"],
            "Principal": [a, "*", "111111111111"],
            "Action": ["events:PutEvents", "events:*"],
            "HttpsEndpoint": [
                "http://127.0.0.1:9/fz",
                "https://127.0.0.1:9/fz?a=b",
                "https://localhost:9/x/*/y",
            ],
            "ScheduleExpression": [
                "rate(5 minutes)",
                "rate(1 minute)",
                "rate(1 day)",
                "cron(0 12 * * ? *)",
                "cron(0/5 * * * ? *)",
                "cron(0 0 29 2 ? 2100)",
                "cron(0 0 31 2 ? *)",
                "cron(0 0 ? * 6#5 *)",
                "cron(0 0 L * ? *)",
                "cron(0 0 ? * 7L *)",
                "cron(0 0 1W * ? *)",
                "cron(0 0 * * ? 1970)",
                "cron(* * * * * *)",
                "rate(0 minutes)",
                "rate(-1 minutes)",
                "rate(99999999999999999999 minutes)",
                "rate(9999999999 days)",
                "at(2020-01-01T00:00:00)",
                "cron()",
                "rate()",
            ],
            "TargetInputPath": [
                "$.detail",
                "$",
                "$.detail.a[0]",
                "$['detail']",
                "$..x",
                "$.",
                "$[",
                "$.detail.*",
            ],
            "IamRoleArn": [f"arn:aws:iam::{a}:role/fz"],
            "KmsKeyIdentifier": [f"arn:aws:kms:{r}:{a}:key/fz", "alias/fz", ""],
        }
        self.by_member: dict[str, list[str]] = {
            "ResourceARN": resources,
            "TargetArn": targets,
            "Arn": targets,  # Target.Arn; also DeadLetterConfig.Arn
            "RoleArn": [f"arn:aws:iam::{a}:role/fz", ""],
            "TaskDefinitionArn": [f"arn:aws:ecs:{r}:{a}:task-definition/fz:1"],
            "NextToken": ["x", "0", "-1", "1" * 40, "eyJ9", "eyJvZmZzZXQiOiAtMX0=", "%%%", "fz-rule"],
            "Source": ["fz", "aws.events", "aws.partner/fz.example/x"],
            "DetailType": ["fz"],
        }
        self._cache: dict[tuple[str, str], st.SearchStrategy[Any]] = {}
        self._json, self._junk = json_texts(fz)

    def request(self, operation: str) -> st.SearchStrategy[dict[str, Any]]:
        shape = MODEL.operation_model(operation).input_shape
        if shape is None:
            return st.just({})
        base = self.shape(shape, "")
        if operation in ("CreateConnection", "UpdateConnection"):
            base = st.tuples(MODE, base).map(lambda x: one_auth_block(x[1]) if x[0] == "clean" else x[1])
        return mutated(base, shape)

    def shape(self, shape: Shape, member: str) -> st.SearchStrategy[Any]:
        key = (shape.name, member)
        if key not in self._cache:
            self._cache[key] = st.deferred(lambda: self._build(shape, member))
        return self._cache[key]

    def _build(self, shape: Shape, member: str) -> st.SearchStrategy[Any]:
        meta = shape.metadata
        kind = shape.type_name
        if kind == "structure":
            members = {n: s for n, s in shape.members.items() if s.type_name != "blob"}
            required = {n: self.shape(s, n) for n, s in members.items() if n in shape.required_members}
            optional = {n: self.shape(s, n) for n, s in members.items() if n not in required}
            groups = ALWAYS.get(shape.name, [()])

            def structure(mode: str, group: tuple[str, ...]) -> st.SearchStrategy[dict[str, Any]]:
                if mode == "hostile":
                    return st.fixed_dictionaries(required, optional=optional)
                needed = {n: optional[n] for n in group}
                rest = {n: s for n, s in optional.items() if n not in needed}
                return st.fixed_dictionaries({**required, **needed}, optional=rest)

            return st.tuples(MODE, st.sampled_from(groups)).flatmap(lambda choice: structure(*choice))
        if kind == "list":
            low = meta.get("min", 0)
            return st.lists(
                self.shape(shape.member, member), min_size=low, max_size=max(low, min(meta.get("max", 3), 3))
            )
        if kind == "map":
            return st.dictionaries(
                self.shape(shape.key, ""), self.shape(shape.value, ""), max_size=min(meta.get("max", 3), 3)
            )
        if kind == "string":
            return self._string(shape, member)
        if kind in ("integer", "long"):
            return integers(meta.get("min"), meta.get("max"))
        if kind in ("double", "float"):
            return st.floats(meta.get("min"), meta.get("max"), allow_nan=False, allow_infinity=False)
        if kind == "boolean":
            return st.booleans()
        if kind == "timestamp":
            return timestamps
        return st.nothing()

    def _string(self, shape: Shape, member: str) -> st.SearchStrategy[str]:
        meta = shape.metadata
        low, high = meta.get("min", 0), meta.get("max")
        regex = compiled(meta["pattern"]) if "pattern" in meta else None
        clean: list[st.SearchStrategy[str]] = []
        hostile: list[st.SearchStrategy[str]] = [odd_text(0, high and high + 1, odd_any)]
        known = self.by_member.get(member) or self.by_shape.get(shape.name) or []
        if conforming := [value for value in known if conforms(shape, value)]:
            clean += [st.sampled_from(conforming)] * 6
        if known:
            hostile.append(st.tuples(st.sampled_from(known), odd_any).map("".join))
        if member in JSON_MEMBERS:  # JSON when clean; any text is hostile
            clean += [self._json[member]]
            hostile += [self._junk, st.text(max_size=min(high or 30, 30)), odd_text(low, high)]
        elif shape.enum:
            clean += [st.sampled_from(shape.enum)] * 4
        elif regex is not None:
            clean += [st.from_regex(regex, fullmatch=True).map(lambda s: s[:high] if high else s)] * 2
            if regex.fullmatch("x\x00\u2028x"):  # the pattern lets odd characters through
                clean.append(odd_text(low, high))
        else:
            clean += [st.text(min_size=low, max_size=min(high or 30, 30)), odd_text(low, high)]
        everything = st.one_of(clean + hostile)
        return MODE.flatmap(lambda mode: st.one_of(clean) if mode == "clean" else everything)


def conforms(shape: Shape, value: str) -> bool:
    meta = shape.metadata
    regex = compiled(meta["pattern"]) if "pattern" in meta else None
    return (
        meta.get("min", 0) <= len(value) <= meta.get("max", len(value))
        and (regex is None or regex.fullmatch(value) is not None)
        and (not shape.enum or value in shape.enum)
    )


AUTH_BLOCKS = {
    "BASIC": "BasicAuthParameters",
    "OAUTH_CLIENT_CREDENTIALS": "OAuthParameters",
    "API_KEY": "ApiKeyAuthParameters",
}


def one_auth_block(params: dict[str, Any]) -> dict[str, Any]:
    """A connection's AuthParameters with only the block of its AuthorizationType (as the API wants)."""
    auth, kind = params.get("AuthParameters"), params.get("AuthorizationType")
    if not isinstance(auth, dict):
        return params
    if kind not in AUTH_BLOCKS or AUTH_BLOCKS[kind] not in auth:
        present = [k for k, block in AUTH_BLOCKS.items() if block in auth]
        if not present:
            block = {"ApiKeyName": "x-api-key", "ApiKeyValue": "fz"}
            return {
                **params,
                "AuthorizationType": "API_KEY",
                "AuthParameters": {**auth, "ApiKeyAuthParameters": block},
            }
        kind = present[0]
    keep = {k: v for k, v in auth.items() if k not in AUTH_BLOCKS.values() or k == AUTH_BLOCKS[kind]}
    return {**params, "AuthorizationType": kind, "AuthParameters": keep}


def compiled(pattern: str) -> re.Pattern[str] | None:
    """The model's (Java) regular expression in Python, with the server's DOTALL; None if Python cannot."""
    try:
        return re.compile(pattern, re.DOTALL)
    except re.error:
        return None


def integers(low: int | None, high: int | None) -> st.SearchStrategy[Any]:
    """In range, with the edges; an unbounded side reaches 64-bit extremes, also written as floats."""
    low_ = -(2**63) if low is None else low
    high_ = 2**64 - 1 if high is None else high
    edges = [
        v for v in (low_, high_, 0, 1, 2**31 - 1, 2**31, 2**53 + 1, 2**63 - 1, 2**63) if low_ <= v <= high_
    ]
    # The edges also as JSON floats (1.0 is an integer to the server); with no maximum, beyond 64 bits too.
    floats = [float(v) for v in edges] + ([1e20, 1e300] if high is None else [])
    return st.one_of(st.integers(low_, high_), st.sampled_from(edges), st.sampled_from(floats))


# Epoch seconds (what boto3 sends), and the edges: the server takes |seconds| <= 253402300799 and ISO text.
TIMESTAMP_EDGES = [
    -1, -62135596801, -62135596800, -253402300799, 253402300799, 253402300799.999, 2**31, 1e-300,
    "2020-01-01T00:00:00Z", "2020-01-01", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00",
    "2020-01-01T00:00:00+23:59", "nonsense", "",
]  # fmt: skip
timestamps = st.one_of(
    st.integers(0, 2**32),
    st.floats(-1e10, 1e10, allow_nan=False),
    st.sampled_from(TIMESTAMP_EDGES),
    st.sampled_from(TIMESTAMP_EDGES),
)


def wrong_type(shape: Shape) -> st.SearchStrategy[Any]:
    """A JSON value of another type than `shape` takes."""
    kind = shape.type_name
    choices: list[Any] = [None, True, 1, 1.5, -1, "x", "", [], ["x"], {}, {"x": 1}, 1e300, 2**64 - 1]
    keep = {
        "structure": lambda v: not isinstance(v, dict),
        "map": lambda v: not isinstance(v, dict),
        "list": lambda v: not isinstance(v, list),
        "string": lambda v: not isinstance(v, str),
        "boolean": lambda v: not isinstance(v, bool),
        "integer": lambda v: isinstance(v, bool) or not isinstance(v, int | float) or v == 1.5,
        "long": lambda v: isinstance(v, bool) or not isinstance(v, int | float) or v == 1.5,
        "timestamp": lambda v: isinstance(v, bool | list | dict) or v is None,
    }.get(kind, lambda v: True)
    return st.sampled_from([v for v in choices if keep(v)])


def _slots(shape: Shape, value: Any, path: tuple[Any, ...]) -> list[tuple[tuple[Any, ...], Shape]]:
    """Every place in `value` (a path of keys and indexes) with the shape found there."""
    found = [(path, shape)]
    if shape.type_name == "structure" and isinstance(value, dict):
        for name, item in value.items():
            if name in shape.members:
                found += _slots(shape.members[name], item, (*path, name))
    elif shape.type_name == "list" and isinstance(value, list):
        for index, item in enumerate(value):
            found += _slots(shape.member, item, (*path, index))
    elif shape.type_name == "map" and isinstance(value, dict):
        for key, item in value.items():
            found += _slots(shape.value, item, (*path, key))
    return found


def _replace(value: Any, path: tuple[Any, ...], new: Any, drop: bool = False) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    copy = list(value) if isinstance(value, list) else dict(value)
    if drop and not rest:
        del copy[head]
    else:
        copy[head] = _replace(value[head], rest, new, drop)
    return copy


def mutated(base: st.SearchStrategy[dict[str, Any]], shape: Shape) -> st.SearchStrategy[dict[str, Any]]:
    """Mostly `base` as it is; sometimes with a required member dropped (at any depth), or one member
    replaced by a value of the wrong JSON type, or an unmodelled member added."""

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        value = draw(base)
        how = draw(st.sampled_from(["none"] * 9 + ["drop", "wrong", "extra"]))
        slots = _slots(shape, value, ())
        if how == "drop":
            required = [
                (path, name)
                for path, slot in slots
                if slot.type_name == "structure"
                for name in slot.required_members
                if isinstance(_get(value, path), dict) and name in _get(value, path)
            ]
            if required:
                path, name = draw(st.sampled_from(required))
                return _replace(value, (*path, name), None, drop=True)  # type: ignore[no-any-return]
        elif how == "wrong" and len(slots) > 1:
            path, slot = draw(st.sampled_from(slots[1:]))
            return _replace(value, path, draw(wrong_type(slot)))  # type: ignore[no-any-return]
        elif how == "extra":
            return {**value, draw(st.sampled_from(["Extra", "__type", "", "\x00"])): draw(json_values)}
        return value

    return build()


def _get(value: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        value = value[step]
    return value


# -- the server side --------------------------------------------------------------------------------------


def wire(value: Any) -> str:
    """The request body as sent: JSON with every non-ASCII character escaped ("\\u0000", lone surrogates)."""
    return json.dumps(value, ensure_ascii=True)


def problem(response: httpx.Response) -> str | None:
    """Why this answer breaks the house rule, or None."""
    status = response.status_code
    try:
        body = json.loads(response.content)
    except ValueError:
        return f"HTTP {status} with a body that is not JSON: {response.content[:200]!r}"
    if not isinstance(body, dict):
        return f"HTTP {status} with a JSON body that is not an object: {response.text[:200]}"
    if status == 200:
        return None
    if not (400 <= status < 500 or (status == 501 and body.get("__type") == "NotImplementedException")):
        return f"HTTP {status}: {response.text[:300]}"
    if not (isinstance(body.get("__type"), str) and body["__type"] and isinstance(body.get("message"), str)):
        return f"HTTP {status} without a string __type and message: {response.text[:300]}"
    return None


def logged_exception(server: Any, request_id: str) -> str:
    """The exception the server logged for `request_id`, and the deepest Eventyard frame it came from."""
    if server.log_path is None:
        return "(no server log)"
    text = server.log_path.read_text(errors="replace")
    at = text.rfind(f"(request {request_id})")
    if at < 0:
        return "(no traceback in the server log)"
    lines: list[str] = []
    for line in text[at:].splitlines()[1:]:
        if re.match(r"\d{4}-\d\d-\d\d \d", line):
            break
        lines.append(line)
    frames = [line.strip() for line in lines if line.strip().startswith("File ") and "/eventyard/" in line]
    last = next((line for line in reversed(lines) if line and not line.startswith(" ")), "?")
    return f"{last}  [{frames[-1] if frames else 'no Eventyard frame'}]"


@dataclass
class Failure:
    operation: str  # the operation that broke the rule (a probe, after `cause`)
    body: str
    problem: str
    exception: str
    cause: str = ""  # "<operation> <input>" that succeeded just before a probe broke

    def group(self) -> tuple[str, str]:
        exception = re.sub(r"\b[0-9a-f]{8}-[0-9a-f-]{27}\b", "<id>", self.exception)
        exception = re.sub(r"_pg3_\d+|\b\d+\b", "<n>", exception)
        return self.operation, exception if self.exception else self.problem[:120]

    def __str__(self) -> str:
        after = f"\n    after: {self.cause}" if self.cause else ""
        return f"{self.operation} {self.body}{after}\n    -> {self.problem}\n    server: {self.exception}"


class Caller:
    def __init__(self, server: Any, fz: Account, timeout: float = TIMEOUT) -> None:
        self.server = server
        self.timeout = timeout
        self.http = httpx.Client(base_url=server.url, timeout=timeout)
        self.auth = signed(fz.account, fz.region)
        self.failures: list[Failure] = []

    def call(
        self, operation: str, params: Any, cause: str = "", caller: tuple[str, str] | None = None
    ) -> httpx.Response:
        """`operation` as the fuzzed account, or as `caller` (account, Region)."""
        body = wire(params)
        headers = {
            "X-Amz-Target": f"AWSEvents.{operation}",
            "Content-Type": JSON_11,
            "Authorization": signed(*caller) if caller else self.auth,
        }
        try:
            response = self.http.post("/", content=body.encode(), headers=headers)
        except httpx.TimeoutException:  # a hang: say so, and go on (the server may answer again later)
            self.failures.append(Failure(operation, body, f"no answer in {self.timeout} s", "", cause))
            return httpx.Response(599)
        why = problem(response)
        if why is not None and caller:
            why = f"{why} (as {caller[0]} in {caller[1]})"
        if why is not None:
            request_id = response.headers.get("x-amzn-requestid", "")
            exception = logged_exception(self.server, request_id) if response.status_code >= 500 else ""
            self.failures.append(Failure(operation, body, why, exception, cause))
        return response


def probes(fz: Account) -> list[tuple[str, dict[str, Any]]]:
    """Read-back calls after a successful mutation: they touch what the fuzzed calls may have stored."""
    entry = {"Source": "fz", "DetailType": "fz", "Detail": '{"n": 1}'}
    return [
        ("PutEvents", {"Entries": [entry, {**entry, "EventBusName": "fz-bus"}]}),
        ("ListTargetsByRule", {"Rule": "fz-rule"}),
        ("ListTargetsByRule", {"Rule": "fz-rule", "EventBusName": "fz-bus"}),
        ("ListRules", {}),
        ("ListRules", {"EventBusName": "fz-bus"}),
        ("DescribeEventBus", {}),
        ("ListEventBuses", {}),
        ("ListConnections", {}),
        ("ListApiDestinations", {}),
        ("ListRuleNamesByTarget", {"TargetArn": fz.arns["destination"]}),
        ("ListEventSources", {}),
        ("ListPartnerEventSources", {"NamePrefix": "aws.partner/fz.example"}),
        (
            "PutPermission",
            {"Action": "events:PutEvents", "Principal": "111111111111", "StatementId": "fz-probe"},
        ),
        ("RemovePermission", {"StatementId": "fz-probe"}),
    ]


OTHER = ("111111111111", "us-east-1")  # the account the sample policies let in


def cross_account_probes(fz: Account) -> list[tuple[str, dict[str, Any], tuple[str, str]]]:
    """After a policy changes: another account uses the fuzzed account's buses as the policy decides (each
    entry, rule and target evaluated against it), and callers of other partitions name them too."""
    bus, default = fz.arn("event-bus", "fz-bus"), fz.arn("event-bus", "default")
    long_source = "fz." + "a" * 60000  # against the samples' long StringLike patterns
    entries = [
        {"Source": source, "DetailType": "fz", "Detail": "{}", "EventBusName": arn}
        for source, arn in (("fz", default), ("fz", bus), (long_source, default), ("${fz}", bus))
    ]
    target = {"Id": "fz-other", "Arn": f"arn:aws:sqs:{fz.region}:{OTHER[0]}:fz"}
    cn = f"arn:aws-cn:events:cn-north-1:{fz.account}:event-bus/default"
    return [
        ("PutEvents", {"Entries": entries}, OTHER),
        ("PutRule", {"Name": "fz-other", "EventBusName": bus, "EventPattern": '{"source": ["fz"]}'}, OTHER),
        ("PutTargets", {"Rule": "fz-other", "EventBusName": bus, "Targets": [target]}, OTHER),
        ("DescribeRule", {"Name": "fz-rule", "EventBusName": default}, OTHER),
        ("ListRules", {"EventBusName": bus}, OTHER),
        ("DescribeEventBus", {"Name": default}, OTHER),
        ("DescribeEventBus", {"Name": cn}, (OTHER[0], "cn-north-1")),
        ("PutEvents", {"Entries": [{**entries[0], "EventBusName": cn}]}, (OTHER[0], "cn-north-1")),
    ]


def hostile_policies(bus: str) -> list[str]:
    """Bus policies that are JSON objects of statements, with everything else odd: values nested deeper than
    str() goes, patterns long enough to make wildcard matching slow, policy variables of every shape,
    operators and keys in any case, unknown ones, numbers, nulls, NUL."""
    deep = "[" * 1015 + '"x"' + "]" * 1015  # orjson reads 1,024 levels; it writes 254
    allow = f'"Sid": "fz", "Effect": "Allow", "Principal": "*", "Action": "events:*", "Resource": "{bus}"'
    conditions = [
        f'{{"StringEquals": {{"events:source": {deep}}}}}',
        '{"StringLike": {"events:source": "*' + "a" * 4500 + 'b"}}',  # twice: within 10,240
        '{"StringLike": {"events:source": "*' + "a?" * 2000 + 'b*"}}',
        '{"ForAnyValue:StringLike": {"events:TargetArn": ["${aws:PrincipalAccount}${*}${?}${$}${}${", "${${x}}"]}}',
        '{"stringlikeifexists": {"EVENTS:SOURCE": ["${events:source}${events:source}*", null, 1, true, 1e300]}}',
        '{"ForAllValues:ArnNotLike": {"aws:SourceArn": "arn:*:*"}, "Null": {"events:creatorAccount": [true, "x"]}}',
        '{"NumericLessThanIfExists": {"": ""}, "Foo:StringEquals": {"\\u0000": "\\u0000"}, "": {}}',
    ]
    return [
        f'{{"Version": "2012-10-17", "Statement": [{{"Sid": "fz", "Effect": "Allow", "Principal": "*", "Action": "*", "Resource": {deep}}}]}}',
        f'{{"Statement": [{{{allow}, "NotResource": [{deep}], "NotPrincipal": {{"AWS": {deep}}}, "Action": {deep}}}]}}',
        *(f'{{"Statement": [{{{allow}, "Condition": {c}}}, {{"Sid": "fz2", "Effect": "Deny", "Principal": {{"AWS": "111111111111"}}, "Action": "events:PutRule", "Condition": {c}}}]}}' for c in conditions),
        f'{{"Statement": {{{allow.replace(bus, "arn:aws:events:*:*:*" + "*" * 9000)}}}}}',
        '{"Statement": [{"Sid": 1, "effect": "Allow", "Principal": {"AWS": [null, 1, {}]}, "Action": ["events:Put*", 1], "Resource": [1, null, "*"]}]}',
    ]  # fmt: skip


def create_resources(events: Any, fz: Account) -> None:
    """What the generated names point at: a bus, a rule on it and on default (each matching everything,
    with a target), a connection and an API destination (to a closed loopback port), a partner source."""
    fz.source = f"aws.partner/fz.example/{fz.account}/fz"
    events.create_event_bus(Name="fz-bus")
    connection = events.create_connection(
        Name="fz-conn",
        AuthorizationType="API_KEY",
        AuthParameters={"ApiKeyAuthParameters": {"ApiKeyName": "x-api-key", "ApiKeyValue": "fz"}},
    )["ConnectionArn"]
    destination = events.create_api_destination(
        Name="fz-dest",
        ConnectionArn=connection,
        InvocationEndpoint="http://127.0.0.1:9/fz",
        HttpMethod="POST",
    )["ApiDestinationArn"]
    fz.arns.update(connection=connection, destination=destination)
    for bus in ("default", "fz-bus"):
        events.put_rule(Name="fz-rule", EventBusName=bus, EventPattern='{"source": [{"prefix": ""}]}')
        events.put_targets(
            Rule="fz-rule",
            EventBusName=bus,
            Targets=[
                {"Id": "fz-target", "Arn": destination, "RoleArn": f"arn:aws:iam::{fz.account}:role/fz"}
            ],
        )
    events.tag_resource(ResourceARN=fz.arn("rule", "fz-rule"), Tags=[{"Key": "fz", "Value": "fz"}])
    events.create_partner_event_source(Name=fz.source, Account=fz.account)


def _smaller(value: Any) -> list[Any]:
    """Candidates one step smaller than `value`: a member, item or part of a string left out."""
    if isinstance(value, dict):
        out: list[Any] = [{k: v for k, v in value.items() if k != key} for key in value]
        for key, item in value.items():
            out += [{**value, key: smaller} for smaller in _smaller(item)]
        return out
    if isinstance(value, list):
        out = [value[:i] + value[i + 1 :] for i in range(len(value))]
        for i, item in enumerate(value):
            out += [[*value[:i], smaller, *value[i + 1 :]] for smaller in _smaller(item)]
        return out
    if isinstance(value, str) and value:
        half = len(value) // 2
        out = [value[half:], value[:half]] if half else []
        if len(value) <= 12:
            out += [value[:i] + value[i + 1 :] for i in range(len(value))]
        return out
    return []


def reduce(caller: Caller, failure: Failure, budget: int = 150) -> Failure:
    """A smaller input that still breaks the rule the same way (greedy: keep the first smaller candidate
    that does; at most `budget` requests)."""
    if failure.cause:
        return failure  # a probe after a stored change: the state moved on, so replaying proves little
    best, current = failure, json.loads(failure.body)
    progress = True
    while progress and budget > 0:
        progress = False
        for candidate in _smaller(current):
            if budget <= 0:
                break
            budget -= 1
            before = len(caller.failures)
            caller.call(failure.operation, candidate)
            found = caller.failures[before:]
            del caller.failures[before:]
            if found and found[0].group() == failure.group():
                best, current, progress = found[0], candidate, True
                break
    return best


def report(caller: Caller, operation: str) -> str:
    """One entry per (operation, exception): a reduced input that gives it, and how often it came."""
    failures = list(caller.failures)
    groups: dict[tuple[str, str], list[Failure]] = {}
    for failure in failures:
        groups.setdefault(failure.group(), []).append(failure)
    lines = [
        f"{operation}: {len(failures)} answers broke the house rule, {len(groups)} distinct (each input reduced"
        " against the account as the fuzzing left it: a failure may need what earlier examples stored):"
    ]
    for same in groups.values():
        shortest = min(same, key=lambda f: len(f.body) + len(f.cause))
        lines.append(f"  [{len(same)}x] {reduce(caller, shortest)}")
    return "\n".join(lines)


def fuzz(server: Any, account: str, operation: str, examples: int, derandomize: bool = True) -> Caller:
    """Create the account's resources, send `examples` generated requests of `operation` (each successful
    mutation followed by the probes) and return the caller with the failures it saw."""
    fz = Account(account)
    create_resources(server.client(account=account), fz)
    caller = Caller(server, fz)
    after = probes(fz)
    cross_account = cross_account_probes(fz)
    mutating = not operation.startswith(READ_ONLY_PREFIXES)

    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=derandomize,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(params=Inputs(fz).request(operation))
    def run(params: dict[str, Any]) -> None:
        response = caller.call(operation, params)
        if response.status_code == 200 and mutating:
            for probe, probe_params in after:
                caller.call(probe, probe_params, cause=f"{operation} {wire(params)}")
            if operation == "PutPermission" and "Policy" in params:
                for probe, probe_params, other in cross_account:
                    caller.call(probe, probe_params, cause=f"{operation} {wire(params)}", caller=other)

    run()
    return caller


@pytest.mark.parametrize("operation", OPERATIONS)
def test_no_internal_errors(server: Any, account: str, operation: str) -> None:
    examples = EXAMPLES_RICH if operation in RICH else EXAMPLES
    examples = examples if operation in IMPLEMENTED else EXAMPLES_NOT_IMPLEMENTED
    caller = fuzz(server, account, operation, examples)
    try:
        if caller.failures:
            pytest.fail(report(caller, operation), pytrace=False)
    finally:
        caller.http.close()


def test_hostile_bus_policies(server: Any, account: str) -> None:
    """Each hostile policy stored (PutPermission with Policy), then used: by another account (its events,
    rules and targets on the buses, DescribeEventBus, other partitions) and by PutPermission/RemovePermission
    of one statement, which write the policy again (orjson writes 254 levels; one may have 1,024)."""
    fz = Account(account)
    create_resources(server.client(account=account), fz)
    caller = Caller(server, fz, timeout=10)  # each answer takes milliseconds; long wildcards took minutes
    try:
        for text in hostile_policies(fz.arn("event-bus", "default")):
            for bus in ("default", "fz-bus"):
                params = {"EventBusName": bus, "Policy": text}
                assert caller.call("PutPermission", params).status_code == 200, text[:200]
                cause = f"PutPermission {wire(params)[:300]}"
                for probe, probe_params, other in cross_account_probes(fz):
                    caller.call(probe, probe_params, cause=cause, caller=other)
                for probe, probe_params in probes(fz)[-2:]:  # PutPermission, RemovePermission
                    caller.call(probe, {**probe_params, "EventBusName": bus}, cause=cause)
        if caller.failures:
            pytest.fail(report(caller, "PutPermission (hostile policies)"), pytrace=False)
    finally:
        caller.http.close()
