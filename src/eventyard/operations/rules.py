"""Rules: PutRule, DescribeRule, ListRules, DeleteRule, EnableRule, DisableRule, ListRuleNamesByTarget."""

from __future__ import annotations

from typing import Any

import orjson

from eventyard.core import arn as arns
from eventyard.core.schedule import validate_schedule_expression
from eventyard.delivery import scheduler
from eventyard.errors import AwsError, limit_exceeded, not_found, validation
from eventyard.operations import _common as common
from eventyard.operations._common import BUS, RULE
from eventyard.operations.registry import operation
from eventyard.runtime import Context
from eventyard.store.base import Doc, Tx

MAX_RULES_PER_BUS = 300
_RULE_FIELDS = (
    "Name", "Arn", "EventPattern", "ScheduleExpression", "State", "Description", "RoleArn", "ManagedBy",
    "EventBusName", "CreatedBy",
)  # fmt: skip


def check_event_pattern(text: str) -> None:
    """Refuse a pattern AWS refuses, with InvalidEventPatternException and AWS's reason."""
    from eventyard.patterns import InvalidEventPattern, parse_pattern

    try:
        parse_pattern(text)
    except InvalidEventPattern as error:
        raise AwsError("InvalidEventPatternException", error.message) from None


async def get_rule(ctx: Context, tx: Tx, account: str, region: str, bus: str, name: str) -> Doc:
    """The rule `name` of the bus; ResourceNotFoundException if either is missing."""
    await common.get_bus(ctx, tx, account, region, bus)
    rule = await tx.get(RULE, account, region, name, parent=bus)
    if rule is None:
        raise not_found(f"Rule {name} does not exist on EventBus {bus}.")
    return rule


async def authorize_rule(
    ctx: Context,
    tx: Tx,
    account: str,
    region: str,
    bus: str,
    name: str,
    action: str,
    context: dict[str, str | list[str]] | None = None,
) -> None:
    """`common.authorize` for a rule, its ARN the resource: on another account's bus, that bus's policy must
    allow `action`. `events:creatorAccount` is the account that created the rule (absent for a new one)."""
    if (account, region) == (ctx.account, ctx.region):
        return
    keys = dict(context or {})
    creatable = arns.RULE_NAME.fullmatch(name) and arns.BUS_NAME.fullmatch(bus)  # else never stored (a NUL)
    rule = await tx.get(RULE, account, region, name, parent=bus) if creatable else None
    if rule is not None and rule.get("CreatedBy"):
        keys["events:creatorAccount"] = rule["CreatedBy"]
    await common.authorize(
        ctx, tx, (account, region, bus), action, arns.rule(region, account, bus, name), keys
    )


def pattern_keys(pattern: str | None) -> dict[str, str | list[str]]:
    """`events:source` and `events:detail-type` of a rule's pattern for a bus policy's conditions: the values
    it matches (a matcher other than a plain string as its JSON text, which no condition value equals)."""
    try:
        document = orjson.loads(pattern) if pattern else None
    except orjson.JSONDecodeError:
        return {}
    keys: dict[str, str | list[str]] = {}
    for field in ("source", "detail-type"):
        values = _field_values(document, field)
        if values is not None:
            keys[f"events:{field}"] = [v if isinstance(v, str) else orjson.dumps(v).decode() for v in values]
    return keys


def _field_values(pattern: Any, field: str) -> list[Any] | None:
    """The values a top-level `field` of the (sub)pattern takes, also inside `$or` branches (all of them
    must constrain it); None where the pattern leaves it free."""
    if not isinstance(pattern, dict):
        return None
    if isinstance(pattern.get(field), list):
        return list(pattern[field])
    branches = pattern.get("$or")
    if not isinstance(branches, list) or not branches:
        return None
    found: list[Any] = []
    for branch in branches:
        values = _field_values(branch, field)
        if values is None:
            return None  # this branch matches the field's every value
        found += values
    return found


def check_managed(rule: Doc, force: bool = False) -> None:
    if rule.get("ManagedBy") and not force:
        raise AwsError(
            "ManagedRuleException",
            f"Rule {rule['Name']} is managed by {rule['ManagedBy']} and cannot be changed without Force.",
        )


def rule_view(rule: Doc) -> Doc:
    return {key: rule[key] for key in _RULE_FIELDS if rule.get(key) is not None}


@operation("PutRule")
async def put_rule(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    name: str = params["Name"]
    pattern = params.get("EventPattern")
    schedule = params.get("ScheduleExpression")
    if pattern is None and schedule is None:
        raise validation("Parameter(s) EventPattern or ScheduleExpression must be specified.")
    account, region, bus_name = common.resolve_bus(ctx, params.get("EventBusName"))
    if pattern is not None:
        check_event_pattern(pattern)
    if schedule is not None:
        if bus_name != arns.DEFAULT_BUS:
            raise validation("ScheduleExpression is supported only on the default event bus.")
        validate_schedule_expression(schedule)
    state = params.get("State", "ENABLED")
    async with ctx.store.transaction() as tx:
        await authorize_rule(
            ctx, tx, account, region, bus_name, name, "events:PutRule", pattern_keys(pattern)
        )
        bus = await common.get_bus(ctx, tx, account, region, bus_name)
        if state == "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS" and bus.get("EventSourceName"):
            raise validation(
                "State ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS is not supported on partner event buses."
            )
        existing = await tx.get(RULE, account, region, name, parent=bus_name)
        if existing is None:
            if await tx.count(RULE, account, region, parent=bus_name) >= MAX_RULES_PER_BUS:
                raise limit_exceeded()
        else:
            check_managed(existing)
        rule: Doc = {
            "Name": name,
            "Arn": arns.rule(region, account, bus_name, name),
            "EventPattern": pattern,
            "ScheduleExpression": schedule,
            "State": state,
            "Description": params.get("Description"),
            "RoleArn": params.get("RoleArn"),
            "EventBusName": bus_name,
            "CreatedBy": existing["CreatedBy"] if existing else ctx.account,
            "ManagedBy": existing.get("ManagedBy") if existing else None,
            "Targets": existing["Targets"] if existing else [],
            "CreationTime": existing["CreationTime"] if existing else ctx.clock.time(),
        }
        await tx.put(RULE, account, region, name, rule, parent=bus_name)
        await scheduler.track(tx, account, region, rule, existing, ctx.clock.time())
        if existing is None:
            await common.set_tags(tx, ctx, rule["Arn"], params.get("Tags"))  # tags on update are ignored
    ctx.runtime.rules_changed(account, region, bus_name)
    return {"RuleArn": rule["Arn"]}


@operation("DescribeRule")
async def describe_rule(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    account, region, bus_name = common.resolve_bus(ctx, params.get("EventBusName"))
    async with ctx.store.transaction() as tx:
        await authorize_rule(ctx, tx, account, region, bus_name, params["Name"], "events:DescribeRule")
        rule = await get_rule(ctx, tx, account, region, bus_name, params["Name"])
    return rule_view(rule)


@operation("ListRules")
async def list_rules(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    account, region, bus_name = common.resolve_bus(ctx, params.get("EventBusName"))
    after = common.decode_token(ctx, "ListRules", params.get("NextToken"))
    limit = params.get("Limit")
    async with ctx.store.transaction() as tx:
        bus_arn = arns.event_bus(region, account, bus_name)
        await common.authorize(ctx, tx, (account, region, bus_name), "events:ListRules", bus_arn)
        await common.get_bus(ctx, tx, account, region, bus_name)
        rules = await tx.list(
            RULE, account, region, parent=bus_name, prefix=params.get("NamePrefix"), after=after,
            limit=None if limit is None else limit + 1,
        )  # fmt: skip
    rules, token = common.page(ctx, "ListRules", rules, limit)
    return {"Rules": [rule_view(rule) for rule in rules], "NextToken": token}


@operation("DeleteRule")
async def delete_rule(ctx: Context, params: dict[str, Any]) -> None:
    account, region, bus_name = common.resolve_bus(ctx, params.get("EventBusName"))
    async with ctx.store.transaction() as tx:
        await authorize_rule(ctx, tx, account, region, bus_name, params["Name"], "events:DeleteRule")
        await common.get_bus(ctx, tx, account, region, bus_name)
        rule = await tx.get(RULE, account, region, params["Name"], parent=bus_name)
        if rule is None:
            return None  # deleting a rule that does not exist succeeds, as in AWS
        check_managed(rule, params.get("Force", False))
        if rule["Targets"]:
            raise validation("Rule can't be deleted since it has targets.")
        await tx.delete(RULE, account, region, rule["Name"], parent=bus_name)
        await scheduler.untrack(tx, account, region, bus_name, rule["Name"])
        await common.drop_tags(tx, ctx, rule["Arn"])
    ctx.runtime.rules_changed(account, region, bus_name)
    return None


async def _set_state(ctx: Context, params: dict[str, Any], state: str) -> None:
    account, region, bus_name = common.resolve_bus(ctx, params.get("EventBusName"))
    action = "events:EnableRule" if state == "ENABLED" else "events:DisableRule"
    async with ctx.store.transaction() as tx:
        await authorize_rule(ctx, tx, account, region, bus_name, params["Name"], action)
        rule = await get_rule(ctx, tx, account, region, bus_name, params["Name"])
        check_managed(rule)
        if state == "ENABLED" and rule["State"] != "DISABLED":
            return  # already enabled (possibly with CloudTrail management events): keep that
        rule["State"] = state
        await tx.put(RULE, account, region, rule["Name"], rule, parent=bus_name)
    ctx.runtime.rules_changed(account, region, bus_name)


@operation("EnableRule")
async def enable_rule(ctx: Context, params: dict[str, Any]) -> None:
    await _set_state(ctx, params, "ENABLED")


@operation("DisableRule")
async def disable_rule(ctx: Context, params: dict[str, Any]) -> None:
    await _set_state(ctx, params, "DISABLED")


@operation("ListRuleNamesByTarget")
async def list_rule_names_by_target(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    account, region, bus_name = common.resolve_bus(ctx, params.get("EventBusName"))
    after = common.decode_token(ctx, "ListRuleNamesByTarget", params.get("NextToken"))
    limit = params.get("Limit")
    target_arn = params["TargetArn"]
    async with ctx.store.transaction() as tx:
        bus_arn = arns.event_bus(region, account, bus_name)
        await common.authorize(ctx, tx, (account, region, bus_name), "events:ListRuleNamesByTarget", bus_arn)
        await common.get_bus(ctx, tx, account, region, bus_name)
        rules = await tx.list(RULE, account, region, parent=bus_name, after=after)
    names = [{"Name": r["Name"]} for r in rules if any(t["Arn"] == target_arn for t in r["Targets"])]
    names, token = common.page(ctx, "ListRuleNamesByTarget", names, limit)
    return {"RuleNames": [n["Name"] for n in names], "NextToken": token}


async def rule_at(tx: Tx, account: str, region: str, path: str) -> Doc | None:
    """The rule at `path`, the ARN's `rule/...` part: `<rule>` on the default bus or `<bus>/<rule>`."""
    bus, _, name = path.rpartition("/")
    bus = bus or arns.DEFAULT_BUS
    if not (arns.RULE_NAME.fullmatch(name) and arns.BUS_NAME.fullmatch(bus)):
        return None  # no such name can be created
    return await tx.get(RULE, account, region, name, parent=bus)


async def rule_exists(tx: Tx, account: str, region: str, path: str) -> bool:
    return await rule_at(tx, account, region, path) is not None


async def bus_exists(tx: Tx, account: str, region: str, name: str) -> bool:
    if not arns.BUS_NAME.fullmatch(name):
        return False
    return await tx.get(BUS, account, region, name) is not None
