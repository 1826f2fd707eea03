"""Tags on any taggable resource: TagResource, UntagResource, ListTagsForResource."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from eventyard.core import arn as arns
from eventyard.errors import AwsError, not_found
from eventyard.operations import _common as common
from eventyard.operations._common import TAGS
from eventyard.operations.registry import operation
from eventyard.operations.rules import authorize_rule, bus_exists, check_managed, rule_at, rule_exists
from eventyard.runtime import Context
from eventyard.store.base import Tx

# resource type in the ARN ("event-bus", "rule", ...) -> does (account, region, path) exist?
Exists = Callable[[Tx, str, str, str], Awaitable[bool]]
TAGGABLE: dict[str, Exists] = {"event-bus": bus_exists, "rule": rule_exists}


async def _check_resource(
    ctx: Context, tx: Tx, resource_arn: str, action: str, *, changing: bool = False
) -> tuple[str, str]:
    """The resource exists and the caller may do `action` on it: it is the caller's, or its bus's policy
    allows it (rules that another account manages on a shared bus); to change its tags, it is not a managed
    rule (AWS: managed rules cannot be modified with TagResource or UntagResource). Returns the (account,
    region) that keeps its tags."""
    parsed = arns.parse(resource_arn)
    if parsed is None:
        raise AwsError("ValidationException", f"Parameter ResourceARN is not valid: {resource_arn}.")
    kind, _, path = parsed.resource.partition("/")
    exists = TAGGABLE.get(kind)
    if exists is None:
        raise AwsError("ValidationException", f"Resource type {kind} cannot be tagged.")
    if kind == "rule":
        bus, _, name = path.rpartition("/")
        await authorize_rule(ctx, tx, parsed.account, parsed.region, bus or arns.DEFAULT_BUS, name, action)
    else:
        await common.authorize(ctx, tx, (parsed.account, parsed.region, path), action, resource_arn)
    if kind == "event-bus" and path == arns.DEFAULT_BUS:
        await common.ensure_default_bus(ctx, tx)
    if not await exists(tx, parsed.account, parsed.region, path):
        raise not_found(f"Resource {resource_arn} does not exist.")
    rule = await rule_at(tx, parsed.account, parsed.region, path) if changing and kind == "rule" else None
    if rule is not None:
        check_managed(rule)
    return parsed.account, parsed.region


@operation("TagResource")
async def tag_resource(ctx: Context, params: dict[str, Any]) -> None:
    async with ctx.store.transaction() as tx:
        await _check_resource(ctx, tx, params["ResourceARN"], "events:TagResource", changing=True)
        await common.set_tags(tx, ctx, params["ResourceARN"], params["Tags"])


@operation("UntagResource")
async def untag_resource(ctx: Context, params: dict[str, Any]) -> None:
    async with ctx.store.transaction() as tx:
        owner = await _check_resource(ctx, tx, params["ResourceARN"], "events:UntagResource", changing=True)
        current = await tx.get(TAGS, *owner, params["ResourceARN"])
        if current:
            for key in params["TagKeys"]:
                current["Tags"].pop(key, None)
            await tx.put(TAGS, *owner, params["ResourceARN"], current)


@operation("ListTagsForResource")
async def list_tags_for_resource(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    async with ctx.store.transaction() as tx:
        owner = await _check_resource(ctx, tx, params["ResourceARN"], "events:ListTagsForResource")
        current = await tx.get(TAGS, *owner, params["ResourceARN"])
    return {"Tags": common.tag_list(current["Tags"] if current else {})}
