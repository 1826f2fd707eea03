"""Event bus resource policies: the statements PutPermission writes, and whether one allows a caller."""

from __future__ import annotations

from typing import Any

import orjson

VERSION = "2012-10-17"


def statement(
    sid: str, bus_arn: str, action: str, principal: str, condition: dict[str, str] | None = None
) -> dict[str, Any]:
    """The statement AWS writes for PutPermission(Action, Principal, StatementId, Condition)."""
    result: dict[str, Any] = {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": "*" if principal == "*" else {"AWS": f"arn:aws:iam::{principal}:root"},
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


def _principal_matches(principal: Any, account: str) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, dict):
        values = _as_list(principal.get("AWS", []))
        return any(
            value == "*" or value == account or value == f"arn:aws:iam::{account}:root" for value in values
        )
    return False


def _action_matches(actions: Any, action: str) -> bool:
    return any(pattern in ("*", "events:*", action) for pattern in _as_list(actions))


def _condition_holds(operator: str, key: str, wanted: Any, org_id: str | None) -> bool | None:
    """Whether one condition test holds, or None if Eventyard cannot evaluate it. The one it evaluates is
    the test PutPermission writes: `StringEquals` on `aws:PrincipalOrgID`."""
    if (operator, key) != ("StringEquals", "aws:PrincipalOrgID"):
        return None
    return org_id is not None and org_id in _as_list(wanted)


def allows(policy: str | None, account: str, action: str, org_id: str | None = None) -> bool:
    """Does the bus policy allow `account` to do `action` (e.g. events:PutEvents)? Deny wins.

    A statement applies only if all its conditions hold. One that Eventyard cannot evaluate (another key or
    operator) holds for a Deny and not for an Allow: such a policy never lets in more than it says.
    """
    document = parse(policy)
    if document is None:
        return False
    allowed = False
    for item in statements(document):
        if not (
            _principal_matches(item.get("Principal"), account) and _action_matches(item.get("Action"), action)
        ):
            continue
        effect = item.get("Effect")
        outcomes = [
            _condition_holds(operator, key, wanted, org_id)
            for operator, tests in (item.get("Condition") or {}).items()
            for key, wanted in tests.items()
        ]
        if False in outcomes:
            continue
        if effect == "Deny":
            return False
        if effect == "Allow" and None not in outcomes:
            allowed = True
    return allowed
