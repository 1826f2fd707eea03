"""Targets of a rule: PutTargets, RemoveTargets, ListTargetsByRule."""

from __future__ import annotations

from typing import Any

from eventyard.core import arn as arns
from eventyard.core.transform import validate_target_input
from eventyard.errors import AwsError, limit_exceeded, validation
from eventyard.operations import _common as common
from eventyard.operations._common import RULE
from eventyard.operations.registry import operation
from eventyard.operations.rules import authorize_rule, check_managed, get_rule
from eventyard.runtime import Context

MAX_TARGETS_PER_RULE = 5


@operation("PutTargets")
async def put_targets(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    account, region, bus_name = common.resolve_bus(ctx, params.get("EventBusName"))
    new_targets: list[dict[str, Any]] = params["Targets"]
    ids = [target["Id"] for target in new_targets]
    if len(set(ids)) != len(ids):
        raise validation("The request contains duplicate target ids.")
    for target in new_targets:
        if not arns.well_formed(target["Arn"]):
            raise validation(
                f"Parameter {target['Arn']} is not valid. Reason: Provided Arn is not in correct format."
            )
        validate_target_input(target)
    async with ctx.store.transaction() as tx:
        arns_put = [target["Arn"] for target in new_targets]
        await authorize_rule(
            ctx,
            tx,
            account,
            region,
            bus_name,
            params["Rule"],
            "events:PutTargets",
            {"events:TargetArn": arns_put},
        )
        rule = await get_rule(ctx, tx, account, region, bus_name, params["Rule"])
        check_managed(rule)
        targets = {target["Id"]: target for target in rule["Targets"]}
        for target in new_targets:
            targets[target["Id"]] = target
        if len(targets) > MAX_TARGETS_PER_RULE:
            raise limit_exceeded()
        rule["Targets"] = list(targets.values())
        await tx.put(RULE, account, region, rule["Name"], rule, parent=bus_name)
    ctx.runtime.rules_changed(account, region, bus_name)
    return {"FailedEntryCount": 0, "FailedEntries": []}


@operation("RemoveTargets")
async def remove_targets(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    account, region, bus_name = common.resolve_bus(ctx, params.get("EventBusName"))
    ids = set(params["Ids"])
    async with ctx.store.transaction() as tx:
        await authorize_rule(ctx, tx, account, region, bus_name, params["Rule"], "events:RemoveTargets")
        rule = await get_rule(ctx, tx, account, region, bus_name, params["Rule"])
        check_managed(rule, params.get("Force", False))
        rule["Targets"] = [target for target in rule["Targets"] if target["Id"] not in ids]
        await tx.put(RULE, account, region, rule["Name"], rule, parent=bus_name)
    ctx.runtime.rules_changed(account, region, bus_name)
    return {"FailedEntryCount": 0, "FailedEntries": []}


@operation("ListTargetsByRule")
async def list_targets_by_rule(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    account, region, bus_name = common.resolve_bus(ctx, params.get("EventBusName"))
    after = common.decode_token(ctx, "ListTargetsByRule", params.get("NextToken"))
    limit = params.get("Limit")
    async with ctx.store.transaction() as tx:
        await authorize_rule(ctx, tx, account, region, bus_name, params["Rule"], "events:ListTargetsByRule")
        rule = await get_rule(ctx, tx, account, region, bus_name, params["Rule"])
    targets = rule["Targets"]
    if after is not None:
        positions = [index for index, target in enumerate(targets) if target["Id"] == after]
        if not positions:
            raise AwsError("InvalidToken", "The NextToken provided is invalid or expired.")
        targets = targets[positions[0] + 1 :]
    targets, token = common.page(ctx, "ListTargetsByRule", targets, limit, key="Id")
    return {"Targets": targets, "NextToken": token}
