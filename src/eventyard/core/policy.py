"""Event bus resource policies: the statements PutPermission writes, and whether one allows a caller."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import orjson

VERSION = "2012-10-17"


def statement(
    sid: str, bus_arn: str, action: str, principal: str, condition: dict[str, str] | None = None
) -> dict[str, Any]:
    """The statement AWS writes for PutPermission(Action, Principal, StatementId, Condition)."""
    result: dict[str, Any] = {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": "*" if principal == "*" else {"AWS": root(principal, _partition_of(bus_arn))},
        "Action": action,
        "Resource": bus_arn,
    }
    if condition:
        result["Condition"] = {condition["Type"]: {condition["Key"]: condition["Value"]}}
    return result


def parse(policy: str | None) -> dict[str, Any] | None:
    """The policy document, or None if `policy` is not one: a JSON object whose `Statement` is a statement
    object or a list of them, each `Condition` mapping operators to objects."""
    if not policy:
        return None
    try:
        document = orjson.loads(policy)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(document, dict):
        return None
    for item in statements(document):
        if not isinstance(item, dict):
            return None
        condition = item.get("Condition", {})
        if not isinstance(condition, dict) or not all(isinstance(v, dict) for v in condition.values()):
            return None
    return document


def statements(document: dict[str, Any]) -> list[Any]:
    """The document's statements as a list (IAM allows a single statement object)."""
    return _as_list(document.get("Statement", []))


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def root(account: str, partition: str = "aws") -> str:
    """The ARN of an account's root principal, which a policy may name for the whole account."""
    return f"arn:{partition}:iam::{account}:root"


def _partition_of(arn: str | None) -> str:
    parts = (arn or "").split(":", 2)
    return parts[1] if len(parts) > 2 and parts[0] == "arn" else "aws"


def _principal_matches(principal: Any, account: str, partition: str) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, dict):
        values = _as_list(principal.get("AWS", []))
        return any(value in ("*", account, root(account, partition)) for value in values)
    return False


def _action_matches(actions: Any, action: str) -> bool:
    """IAM's Action: service prefix and action name in any case, with `*` and `?` wildcards (`events:Put*`)."""
    action = action.lower()
    return any(isinstance(pattern, str) and _like(action, pattern.lower()) for pattern in _as_list(actions))


def _like(value: str, pattern: str) -> bool:
    """IAM's `*` (any run of characters) and `?` (one character), case-sensitive. The parts between `*`s are
    found in turn, each at its leftmost place (the first at the start, the last at the end): with str.find, or
    a bit-parallel scan for a part holding `?`, so a match takes time linear in the value whatever the
    pattern (backtracking took length of value x length of pattern: minutes for a long Source)."""
    first, *middle = pattern.split("*")
    if not middle:
        return len(value) == len(first) and _part_at(value, 0, first)
    last = middle.pop()
    end = len(value) - len(last)
    if end < len(first) or not (_part_at(value, 0, first) and _part_at(value, end, last)):
        return False
    position = len(first)
    for part in middle:
        if part:
            found = _find_part(value, part, position, end)
            if found < 0:
                return False
            position = found + len(part)
    return True


def _part_at(value: str, start: int, part: str) -> bool:
    """Does `part` (no `*`) match `value` at `start`?"""
    if "?" not in part:
        return value.startswith(part.translate(_UNESCAPE), start)
    return all(char == "?" or _ESCAPED.get(char, char) == value[start + i] for i, char in enumerate(part))


def _find_part(value: str, part: str, start: int, end: int) -> int:
    """Where `part` (no `*`) first matches wholly within value[start:end], or -1. A part with `?` is found
    by shift-and: bit i of `state` says whether part[:i + 1] matches the value ending at `index`."""
    if "?" not in part:
        return value.find(part.translate(_UNESCAPE), start, end)
    masks: dict[str, int] = {}
    anything = 0
    for i, char in enumerate(part):
        if char == "?":
            anything |= 1 << i
        else:
            char = _ESCAPED.get(char, char)
            masks[char] = masks.get(char, 0) | 1 << i
    goal, state = 1 << (len(part) - 1), 0
    for index in range(start, end):
        state = ((state << 1) | 1) & (masks.get(value[index], 0) | anything)
        if state & goal:
            return index - len(part) + 1
    return -1


def _arn_like(value: str, pattern: str) -> bool:
    """ArnLike/ArnEquals: the six colon-separated parts are compared one by one, each with wildcards."""
    parts, patterns = value.split(":", 5), pattern.split(":", 5)
    return len(parts) == len(patterns) == 6 and all(map(_like, parts, patterns))


# Operator (lower case) -> (test of one context value against one policy value, negated).
_TESTS: dict[str, tuple[Callable[[str, str], bool] | None, bool]] = {
    "stringequals": (str.__eq__, False),
    "stringnotequals": (str.__eq__, True),
    "stringequalsignorecase": (lambda v, w: v.casefold() == w.casefold(), False),
    "stringnotequalsignorecase": (lambda v, w: v.casefold() == w.casefold(), True),
    "stringlike": (_like, False),
    "stringnotlike": (_like, True),
    "arnequals": (_arn_like, False),
    "arnlike": (_arn_like, False),
    "arnnotequals": (_arn_like, True),
    "arnnotlike": (_arn_like, True),
    "bool": (lambda v, w: v.lower() == w.lower(), False),
}
# Known operators whose values Eventyard does not compare: no key it supplies holds a number, a date, an IP
# address or binary data, so they only ever meet a missing key.
_UNCOMPARED = re.compile(
    r"(numeric|date)(not)?(equals|lessthan|lessthanequals|greaterthan|greaterthanequals)"
    r"|(not)?ipaddress|binaryequals"
)


def _text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


_VARIABLE = re.compile(r"\$\{([^}]*)\}")
# `${*}` and `${?}` stand for the characters themselves, never wildcards: they are replaced with characters of
# Unicode's private use area that `_like` compares with `*` and `?`, and the equality tests read back.
_ESCAPED = {"\ue000": "*", "\ue001": "?"}
_LITERALS = {"*": "\ue000", "?": "\ue001", "$": "$"}
_UNESCAPE = str.maketrans(_ESCAPED)
_LIKE_TESTS = frozenset({_like, _arn_like})


def _substitute(value: str, context: Mapping[str, list[str]]) -> str | None:
    """`value` with its policy variables (`${aws:PrincipalAccount}`, and `${*}`, `${?}`, `${$}` for those
    characters) replaced from the context; None if one names a key the context lacks or holds several
    values for: such a value matches nothing."""
    if "${" not in value:
        return value
    missing = False

    def replace(found: re.Match[str]) -> str:
        nonlocal missing
        name = found.group(1)
        if name in _LITERALS:
            return _LITERALS[name]
        values = context.get(name.lower())
        if not values or len(values) != 1:
            missing = True
            return ""
        return values[0]

    result = _VARIABLE.sub(replace, value)
    return None if missing else result


def _condition_holds(operator: str, key: str, wanted: Any, context: Mapping[str, list[str]]) -> bool | None:
    """Whether one condition test holds in the request context, as IAM decides it, or None if Eventyard
    cannot evaluate it (an unknown operator, or a value of a family it does not compare).

    A key missing from the context fails a test, except a negated one (StringNotEquals, ...), an
    `...IfExists` one and `ForAllValues:`; `Null` tests whether the key is missing. Several policy values
    for a key mean any of them; `ForAllValues:`/`ForAnyValue:` apply the test to every/any context value.
    """
    name = operator.lower()
    qualifier, _, name = name.rpartition(":")
    if qualifier not in ("", "forallvalues", "foranyvalue"):
        return None
    if_exists = name.endswith("ifexists")
    name = name.removesuffix("ifexists")
    if any(isinstance(w, list | dict) for w in _as_list(wanted)):
        return None  # not a value IAM takes (a list or object within the list): nothing to compare
    values = context.get(key.lower())
    wanted_values = [w for w in (_substitute(_text(w), context) for w in _as_list(wanted)) if w is not None]
    if name == "null":
        return None if qualifier else any((w.lower() == "true") == (values is None) for w in wanted_values)
    if name in _TESTS:
        test, negated = _TESTS[name]
        if test not in _LIKE_TESTS:
            wanted_values = [w.translate(_UNESCAPE) for w in wanted_values]
    elif _UNCOMPARED.fullmatch(name):
        test, negated = None, "not" in name
    else:
        return None
    if not values:
        if qualifier:
            return qualifier == "forallvalues"
        return if_exists or negated
    if test is None:
        return None

    def holds(value: str) -> bool:
        return any(test(value, w) for w in wanted_values) != negated

    if qualifier == "forallvalues":
        return all(holds(v) for v in values)
    if qualifier == "foranyvalue":
        return any(holds(v) for v in values)
    return all(holds(v) for v in values) if negated else any(holds(v) for v in values)


def decide(
    policy: str | dict[str, Any] | None,
    account: str,
    action: str,
    context: Mapping[str, str | Sequence[str]] | None = None,
    resource: str | None = None,
) -> Literal["Allow", "Deny"] | None:
    """What the bus policy says of `account` doing `action` (e.g. events:PutEvents) on `resource` (the bus
    ARN; any Resource if None) in the request `context` (condition keys such as `events:source`,
    `aws:SourceArn`, `aws:PrincipalOrgID`): "Deny" if a statement explicitly denies it (a Deny wins over
    any Allow), "Allow" if one allows it, None if none applies. `policy` is the policy's text, or the
    document `parse` made of it (for a caller that judges many requests against one policy).

    A statement applies only if its principal, action and resource match and all its conditions hold. The
    context always has `aws:PrincipalAccount` and `aws:PrincipalArn` (the account's root, in the partition
    of `resource`). A condition that Eventyard cannot evaluate holds for a Deny and not for an Allow: a policy never lets in more than it says.
    """
    document = parse(policy) if policy is None or isinstance(policy, str) else policy
    if document is None:
        return None
    partition = _partition_of(resource)
    known: dict[str, list[str]] = {
        "aws:principalaccount": [account],
        "aws:principalarn": [root(account, partition)],
    }
    for key, value in (context or {}).items():
        known[key.lower()] = [value] if isinstance(value, str) else list(value)
    allowed = False
    for item in statements(document):
        if not _applies(item, account, action, resource, partition, known):
            continue
        effect = item.get("Effect")
        outcomes = [
            _condition_holds(operator, key, wanted, known)
            for operator, tests in (item.get("Condition") or {}).items()
            for key, wanted in tests.items()
        ]
        if False in outcomes:
            continue
        if effect == "Deny":
            return "Deny"
        if effect == "Allow" and None not in outcomes:
            allowed = True
    return "Allow" if allowed else None


def _applies(
    item: dict[str, Any],
    account: str,
    action: str,
    resource: str | None,
    partition: str,
    context: Mapping[str, list[str]],
) -> bool:
    """Do the statement's principal, action and resource elements take in the request? Each may be given as
    its negation (NotPrincipal, NotAction, NotResource: everything but what it lists), as IAM allows."""
    if "NotPrincipal" in item:
        principal = not _principal_matches(item["NotPrincipal"], account, partition)
    else:
        principal = _principal_matches(item.get("Principal"), account, partition)
    if "NotAction" in item:
        action_matches = not _action_matches(item["NotAction"], action)
    else:
        action_matches = _action_matches(item.get("Action"), action)
    if resource is None:
        resource_matches = True
    elif "NotResource" in item:
        resource_matches = not _resource_matches(item["NotResource"], resource, context)
    else:
        resource_matches = _resource_matches(item.get("Resource", "*"), resource, context)
    return principal and action_matches and resource_matches


def _resource_matches(resources: Any, resource: str, context: Mapping[str, list[str]]) -> bool:
    """Resource ARNs with wildcards and policy variables (`...:rule/central/${aws:PrincipalAccount}-*`); one
    whose variable the context lacks matches nothing."""
    for pattern in _as_list(resources):
        if isinstance(pattern, list | dict):
            continue  # not an ARN (and str() of one nested deep enough raises RecursionError)
        text = _substitute(str(pattern), context)
        if text is not None and (text == "*" or _arn_like(resource, text)):
            return True
    return False
