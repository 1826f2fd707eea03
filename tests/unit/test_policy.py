"""core.policy: the statements PutPermission writes, and what a bus policy says of a request: principal,
action, resource and IAM's condition operators against the request context."""

from __future__ import annotations

import json
import random
import re
from typing import Any

import pytest

from eventyard.core import policy
from eventyard.operations.rules import pattern_keys

BUS = "arn:aws:events:us-east-1:111111111111:event-bus/default"
SENDER = "222222222222"
RULE = f"arn:aws:events:us-west-2:{SENDER}:rule/orders/forward"


def document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": policy.VERSION, "Statement": list(statements)})


def allow(principal: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Principal": principal, "Action": "events:PutEvents", "Resource": BUS, **extra}


def put(condition: dict[str, Any], context: dict[str, Any] | None = None, effect: str = "Allow") -> Any:
    """What a policy of one statement with `condition` says of SENDER putting events in `context`."""
    statement = {**allow(), "Effect": effect, "Condition": condition}
    return policy.decide(document(statement), SENDER, "events:PutEvents", context or {}, BUS)


def test_the_statements_put_permission_writes():
    def says(principal: str) -> Any:
        return policy.decide(
            document(policy.statement("s", BUS, "events:PutEvents", principal)), SENDER, "events:PutEvents"
        )

    assert says(SENDER) == "Allow"
    assert says("333333333333") is None
    assert says("*") == "Allow"


def test_an_organization_condition_needs_that_organization():
    org = {"Type": "StringEquals", "Key": "aws:PrincipalOrgID", "Value": "o-1234567890"}
    text = document(policy.statement("s", BUS, "events:PutEvents", "*", org))
    assert policy.decide(text, SENDER, "events:PutEvents") is None  # an account outside any organization
    assert policy.decide(text, SENDER, "events:PutEvents", {"aws:PrincipalOrgID": "o-other"}) is None
    assert policy.decide(text, SENDER, "events:PutEvents", {"aws:PrincipalOrgID": "o-1234567890"}) == "Allow"


def test_the_user_guides_source_and_detail_type_example():
    """eb-event-bus-example-policy-cross-account-custom-bus-source: only one source and detail type."""
    condition = {
        "ForAllValues:StringEquals": {"events:source": "com.exampleCorp.webStore"},
        "StringEquals": {"events:detail-type": "newOrderCreated"},
    }
    web_store = {"events:source": "com.exampleCorp.webStore", "events:detail-type": "newOrderCreated"}
    assert put(condition, web_store) == "Allow"
    assert put(condition, {**web_store, "events:source": "com.exampleCorp.other"}) is None
    assert put(condition, {**web_store, "events:detail-type": "newOrderCancelled"}) is None


@pytest.mark.parametrize(
    ("condition", "context", "holds"),
    [
        # Several values for a key: any of them. Keys are not case-sensitive; values are.
        ({"StringEquals": {"events:source": ["a", "b"]}}, {"events:source": "b"}, True),
        ({"StringEquals": {"Events:Source": "a"}}, {"events:source": "a"}, True),
        ({"StringEquals": {"events:source": "a"}}, {"events:source": "A"}, False),
        ({"StringEqualsIgnoreCase": {"events:source": "a"}}, {"events:source": "A"}, True),
        ({"StringNotEquals": {"events:source": ["a", "b"]}}, {"events:source": "c"}, True),
        ({"StringNotEquals": {"events:source": ["a", "b"]}}, {"events:source": "a"}, False),
        ({"StringLike": {"events:source": "com.example.*"}}, {"events:source": "com.example.shop"}, True),
        ({"StringLike": {"events:source": "com.example.?"}}, {"events:source": "com.example.ab"}, False),
        ({"StringNotLike": {"events:source": "com.*"}}, {"events:source": "org.example"}, True),
        ({"ArnLike": {"aws:SourceArn": "arn:aws:events:*:*:rule/orders/*"}}, {"aws:SourceArn": RULE}, True),
        ({"ArnEquals": {"aws:SourceArn": RULE}}, {"aws:SourceArn": RULE}, True),
        ({"ArnLike": {"aws:SourceArn": "arn:aws:events:*:*:rule/other/*"}}, {"aws:SourceArn": RULE}, False),
        ({"ArnNotLike": {"aws:SourceArn": "arn:aws:events:*:*:rule/other/*"}}, {"aws:SourceArn": RULE}, True),
        ({"StringEquals": {"aws:PrincipalAccount": SENDER}}, {}, True),  # always in the context
        ({"ArnEquals": {"aws:PrincipalArn": f"arn:aws:iam::{SENDER}:root"}}, {}, True),
        # A key missing from the context: a test fails, a negated one or ...IfExists holds; Null tells.
        ({"StringEquals": {"aws:SourceArn": RULE}}, {}, False),
        ({"StringNotEquals": {"aws:SourceArn": RULE}}, {}, True),
        ({"StringEqualsIfExists": {"aws:SourceArn": RULE}}, {}, True),
        ({"StringEqualsIfExists": {"aws:SourceArn": "x"}}, {"aws:SourceArn": RULE}, False),
        ({"Null": {"aws:SourceArn": "true"}}, {}, True),
        ({"Null": {"aws:SourceArn": "false"}}, {}, False),
        ({"Null": {"aws:SourceArn": "false"}}, {"aws:SourceArn": RULE}, True),
        ({"ForAllValues:StringEquals": {"aws:TagKeys": "a"}}, {}, True),
        ({"ForAnyValue:StringEquals": {"aws:TagKeys": "a"}}, {}, False),
        ({"ForAnyValue:StringEquals": {"aws:TagKeys": "a"}}, {"aws:TagKeys": ["b", "a"]}, True),
        ({"ForAllValues:StringEquals": {"aws:TagKeys": "a"}}, {"aws:TagKeys": ["b", "a"]}, False),
        ({"NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}}, {}, False),
        ({"Bool": {"aws:SecureTransport": True}}, {"aws:SecureTransport": "true"}, True),
        # Every condition of a statement must hold.
        (
            {"StringEquals": {"events:source": "a"}, "StringLike": {"events:detail-type": "Order*"}},
            {"events:source": "a", "events:detail-type": "Refund"},
            False,
        ),
    ],
)
def test_conditions_as_iam_evaluates_them(condition, context, holds):
    assert put(condition, context) == ("Allow" if holds else None)
    assert put(condition, context, effect="Deny") == ("Deny" if holds else None)


@pytest.mark.parametrize(
    "condition",
    [
        {"StringEqualsFancy": {"events:source": "a"}},  # no such operator
        {"ForEveryValue:StringEquals": {"events:source": "a"}},  # no such qualifier
        {"ForAnyValue:Null": {"events:source": "true"}},
        {"NumericEquals": {"events:source": "1"}},  # a value Eventyard does not compare
    ],
)
def test_a_condition_eventyard_cannot_evaluate_lets_nobody_in_and_still_denies(condition):
    context = {"events:source": "a"}
    assert put(condition, context) is None
    assert put(condition, context, effect="Deny") == "Deny"


def test_an_explicit_deny_wins():
    deny = {**allow(), "Effect": "Deny", "Condition": {"StringEquals": {"events:source": "blocked"}}}
    text = document(allow(), deny)
    assert policy.decide(text, SENDER, "events:PutEvents", {"events:source": "fine"}, BUS) == "Allow"
    assert policy.decide(text, SENDER, "events:PutEvents", {"events:source": "blocked"}, BUS) == "Deny"


def test_a_statement_for_another_resource_does_not_apply():
    other = BUS.replace("default", "other")
    assert policy.decide(document(allow(Resource=other)), SENDER, "events:PutEvents", {}, BUS) is None
    assert policy.decide(document(allow(Resource=[other, BUS])), SENDER, "events:PutEvents", {}, BUS)
    wildcard = allow(Resource="arn:aws:events:us-east-1:111111111111:event-bus/*")
    assert policy.decide(document(wildcard), SENDER, "events:PutEvents", {}, BUS) == "Allow"
    assert policy.decide(document(allow(Resource="*")), SENDER, "events:PutEvents", {}, BUS) == "Allow"


def test_the_root_principal_is_in_the_partition_of_the_bus():
    china = "arn:aws-cn:events:cn-north-1:111111111111:event-bus/default"
    written = policy.statement("s", china, "events:PutEvents", SENDER)
    assert written["Principal"] == {"AWS": f"arn:aws-cn:iam::{SENDER}:root"}
    assert policy.decide(document(written), SENDER, "events:PutEvents", {}, china) == "Allow"
    aws_root = allow(principal={"AWS": policy.root(SENDER)}, Resource=china)  # arn:aws:iam, not aws-cn
    assert policy.decide(document(aws_root), SENDER, "events:PutEvents", {}, china) is None
    condition = {"ArnEquals": {"aws:PrincipalArn": f"arn:aws-cn:iam::{SENDER}:root"}}
    cn_statement = {**written, "Condition": condition}
    assert policy.decide(document(cn_statement), SENDER, "events:PutEvents", {}, china) == "Allow"


@pytest.mark.parametrize(
    ("value", "context", "holds"),
    [
        ("${aws:PrincipalAccount}", {"events:creatorAccount": SENDER}, True),
        ("${aws:PrincipalAccount}", {"events:creatorAccount": "333333333333"}, False),
        ("${aws:SourceAccount}", {"events:creatorAccount": SENDER}, False),  # not in the context
        ("cost-${$}", {"events:creatorAccount": "cost-$"}, True),
    ],
)
def test_policy_variables_are_replaced_from_the_context(value, context, holds):
    assert put({"StringEquals": {"events:creatorAccount": value}}, context) == ("Allow" if holds else None)


@pytest.mark.parametrize(
    ("action", "applies"),
    [
        ("events:PutEvents", True),
        ("EVENTS:putevents", True),  # prefix and name in any case
        ("events:Put*", True),
        ("events:PutEvent?", True),
        ("*", True),
        ("events:Put", False),
        ("events:PutRule", False),
        ("sqs:*", False),
        (["events:PutRule", "events:put*"], True),
    ],
)
def test_actions_are_matched_as_iam_matches_them(action, applies):
    deny = {**allow(), "Effect": "Deny", "Action": action}
    expected = "Deny" if applies else "Allow"
    assert policy.decide(document(allow(), deny), SENDER, "events:PutEvents", {}, BUS) == expected


def test_not_principal_not_action_and_not_resource_take_in_everything_but_what_they_list():
    other = BUS.replace("default", "other")
    everything_but_the_bus = {**allow(), "NotResource": BUS}
    del everything_but_the_bus["Resource"]
    assert policy.decide(document(everything_but_the_bus), SENDER, "events:PutEvents", {}, BUS) is None
    assert policy.decide(document(everything_but_the_bus), SENDER, "events:PutEvents", {}, other) == "Allow"
    deny_but_describe = {"Effect": "Deny", "Principal": "*", "NotAction": "events:DescribeEventBus"}
    assert policy.decide(document(allow(), deny_but_describe), SENDER, "events:PutEvents", {}, BUS) == "Deny"
    describe = {**allow(), "Action": "events:DescribeEventBus"}
    text = document(describe, deny_but_describe)
    assert policy.decide(text, SENDER, "events:DescribeEventBus", {}, BUS) == "Allow"
    deny_but_one = {"Effect": "Deny", "NotPrincipal": {"AWS": "333333333333"}, "Action": "*", "Resource": BUS}
    assert policy.decide(document(allow(), deny_but_one), SENDER, "events:PutEvents", {}, BUS) == "Deny"
    assert (
        policy.decide(document(allow(), deny_but_one), "333333333333", "events:PutEvents", {}, BUS) == "Allow"
    )


@pytest.mark.parametrize(
    ("operator", "value", "source", "holds"),
    [
        ("StringLike", "com.${*}", "com.*", True),
        ("StringLike", "com.${*}", "com.shop", False),  # ${*} is the character, not a wildcard
        ("StringLike", "com.${?}*", "com.?x", True),
        ("StringLike", "com.${?}*", "com.a", False),
        ("StringLike", "com.*", "com.shop", True),
        ("StringEquals", "com.${*}", "com.*", True),
        ("StringEquals", "com.${?}", "com.?", True),
        ("StringNotLike", "com.${*}", "com.shop", True),
        ("ArnLike", "arn:aws:events:*:*:rule/${*}", "arn:aws:events:us-east-1:1:rule/x", False),
    ],
)
def test_special_character_variables_stand_for_the_characters(operator, value, source, holds):
    assert put({operator: {"events:source": value}}, {"events:source": source}) == (
        "Allow" if holds else None
    )


def test_policy_variables_in_a_resource():
    own_prefix = "arn:aws:events:us-east-1:111111111111:rule/central/${aws:PrincipalAccount}-*"
    text = document({**allow(Resource=own_prefix), "Action": "events:PutRule"})
    mine = f"arn:aws:events:us-east-1:111111111111:rule/central/{SENDER}-orders"
    theirs = "arn:aws:events:us-east-1:111111111111:rule/central/333333333333-orders"
    assert policy.decide(text, SENDER, "events:PutRule", {}, mine) == "Allow"
    assert policy.decide(text, SENDER, "events:PutRule", {}, theirs) is None
    unresolved = document(
        {**allow(Resource="arn:aws:events:*:*:rule/central/${aws:SourceArn}"), "Action": "*"}
    )
    assert policy.decide(unresolved, SENDER, "events:PutRule", {}, mine) is None


def _like_by_regex(value: str, pattern: str) -> bool:
    """The reference: IAM's wildcards as a regular expression (`${*}`/`${?}` already replaced: literal)."""
    text = "".join(
        ".*" if c == "*" else "." if c == "?" else re.escape(policy._ESCAPED.get(c, c)) for c in pattern
    )
    return re.fullmatch(text, value, re.DOTALL) is not None


def test_wildcards_match_as_the_regular_expression_does():
    draw = random.Random(1)
    for _ in range(20000):
        pattern = "".join(draw.choice("ab*??\ue000\ue001") for _ in range(draw.randint(0, 12)))
        value = "".join(draw.choice("ab*?") for _ in range(draw.randint(0, 16)))
        assert policy._like(value, pattern) == _like_by_regex(value, pattern), (value, pattern)


@pytest.mark.parametrize(
    "pattern",
    [
        "*" + "a" * 3000 + "b",  # backtracking from each place: length of value x length of pattern
        "*" + "a" * 3000 + "b*",
        "*" + "a?" * 1500 + "b*",
        "*" + "?" * 3000 + "b*",
        "*a" * 1500 + "*b",
    ],
)
def test_a_long_source_against_a_long_pattern(pattern):
    """A Source may be 256 KB long and a policy 10,240 characters. The matcher is linear in the value (these
    took seconds each with backtracking, and 200,000 characters against 9,000 took minutes with the server
    unresponsive); speed is not asserted here (no timed tests), only the answers."""
    assert put({"StringLike": {"events:source": pattern}}, {"events:source": "a" * 12000}) is None
    assert put({"StringLike": {"events:source": pattern}}, {"events:source": "a" * 12000 + "b"}) == "Allow"


DEEP = "[" * 1015 + '"x"' + "]" * 1015  # orjson reads 1,024 levels; str() of them raised RecursionError


@pytest.mark.parametrize("nested", [DEEP, f"[{DEEP}]", '[["*"]]', '[["a"]]', '{"a": "a"}'])
def test_values_nested_in_lists_are_no_values(nested):
    """A Resource or condition value that is a list or object within the list (IAM takes strings) matches
    nothing, and a condition with one cannot be evaluated (it lets nobody in, and still denies)."""
    text = document(allow(Resource="@")).replace('"@"', nested)
    assert policy.decide(text, SENDER, "events:PutEvents", {}, BUS) is None
    context = {"events:source": "a"}
    for effect in ("Allow", "Deny"):
        condition = {"StringEquals": {"events:source": "@"}}
        text = document({**allow(), "Effect": effect, "Condition": condition}).replace('"@"', nested)
        decision = policy.decide(text, SENDER, "events:PutEvents", context, BUS)
        assert decision == (None if effect == "Allow" else "Deny")


@pytest.mark.parametrize(
    ("pattern", "keys"),
    [
        ('{"source": ["a", {"prefix": "b"}]}', {"events:source": ["a", '{"prefix":"b"}']}),
        ('{"$or": [{"source": ["a"]}, {"source": ["b"]}]}', {"events:source": ["a", "b"]}),
        ('{"$or": [{"source": ["a"]}, {"detail-type": ["t"]}]}', {}),  # one branch leaves source free
        (
            '{"source": ["s"], "$or": [{"detail-type": ["a"]}, {"$or": [{"detail-type": ["b"]}]}]}',
            {"events:source": ["s"], "events:detail-type": ["a", "b"]},
        ),
        ('{"detail": {"x": [1]}}', {}),
        ("not json", {}),
    ],
)
def test_the_condition_keys_of_a_rules_pattern(pattern, keys):
    """PutRule on another account's bus: events:source and events:detail-type are the values the pattern
    matches, also inside $or (a source only under $or used to leave the key out, so IfExists let it pass)."""
    assert pattern_keys(pattern) == keys
