"""Tags on any taggable resource: TagResource, UntagResource, ListTagsForResource."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from eventyard.core import arn as arns
from eventyard.errors import AwsError, not_found
from eventyard.operations import _common as common
from eventyard.operations._common import TAGS
from eventyard.operations.registry import operation
from eventyard.operations.rules import bus_exists, check_managed, rule_at, rule_exists
from eventyard.runtime import Context
from eventyard.store.base import Tx

# resource type in the ARN ("event-bus", "rule", ...) -> does (account, region, path) exist?
Exists = Callable[[Tx, str, str, str], Awaitable[bool]]
TAGGABLE: dict[str, Exists] = {"event-bus": bus_exists, "rule": rule_exists}


async def _check_resource(ctx: Context, tx: Tx, resource_arn: str, *, changing: bool = False) -> None:
    """The resource exists and is the caller's; to change its tags, it is not a managed rule (AWS: managed
    rules cannot be modified with TagResource or UntagResource)."""
    parsed = arns.parse(resource_arn)
    if parsed is None:
        raise AwsError("ValidationException", f"Parameter ResourceARN is not valid: {resource_arn}.")
    kind, _, path = parsed.resource.partition("/")
    exists = TAGGABLE.get(kind)
    if exists is None:
        raise AwsError("ValidationException", f"Resource type {kind} cannot be tagged.")
    common.check_same_account(ctx, parsed.account, parsed.region)
    if kind == "event-bus" and path == arns.DEFAULT_BUS:
        await common.ensure_default_bus(ctx, tx)
    if not await exists(tx, parsed.account, parsed.region, path):
        raise not_found(f"Resource {resource_arn} does not exist.")
    rule = await rule_at(tx, parsed.account, parsed.region, path) if changing and kind == "rule" else None
    if rule is not None:
        check_managed(rule)


@operation("TagResource")
async def tag_resource(ctx: Context, params: dict[str, Any]) -> None:
    async with ctx.store.transaction() as tx:
        await _check_resource(ctx, tx, params["ResourceARN"], changing=True)
        await common.set_tags(tx, ctx, params["ResourceARN"], params["Tags"])


@operation("UntagResource")
async def untag_resource(ctx: Context, params: dict[str, Any]) -> None:
    async with ctx.store.transaction() as tx:
        await _check_resource(ctx, tx, params["ResourceARN"], changing=True)
        current = await tx.get(TAGS, ctx.account, ctx.region, params["ResourceARN"])
        if current:
            for key in params["TagKeys"]:
                current["Tags"].pop(key, None)
            await tx.put(TAGS, ctx.account, ctx.region, params["ResourceARN"], current)


@operation("ListTagsForResource")
async def list_tags_for_resource(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    async with ctx.store.transaction() as tx:
        await _check_resource(ctx, tx, params["ResourceARN"])
        current = await tx.get(TAGS, ctx.account, ctx.region, params["ResourceARN"])
    return {"Tags": common.tag_list(current["Tags"] if current else {})}
