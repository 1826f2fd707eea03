"""Event buses: CreateEventBus, DescribeEventBus, ListEventBuses, UpdateEventBus, DeleteEventBus."""

from __future__ import annotations

from typing import Any

from eventyard.core import arn as arns
from eventyard.errors import already_exists, limit_exceeded, validation
from eventyard.operations import _common as common
from eventyard.operations._common import BUS, RULE
from eventyard.operations.registry import operation
from eventyard.runtime import Context
from eventyard.store.base import Conflict

MAX_BUSES = 100
_UPDATABLE = ("Description", "KmsKeyIdentifier", "DeadLetterConfig", "LogConfig")


@operation("CreateEventBus")
async def create_event_bus(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    name: str = params["Name"]
    source_name = params.get("EventSourceName")
    if source_name is None:
        if name == arns.DEFAULT_BUS:
            raise validation("Event bus name 'default' is reserved and cannot be created.")
        if name.startswith("aws."):
            raise validation("EventBus name starting with 'aws.' is not valid.")
        if "/" in name:
            raise validation(
                f"Event bus name {name} is not valid: '/' is allowed only in partner event bus names."
            )
    elif source_name != name:
        raise validation("The event bus name must be the same as the event source name.")
    async with ctx.store.transaction() as tx:
        await common.ensure_default_bus(ctx, tx)
        if await tx.get(BUS, ctx.account, ctx.region, name) is not None:
            raise already_exists(f"Event bus {name} already exists.")
        if await tx.count(BUS, ctx.account, ctx.region) >= MAX_BUSES:
            raise limit_exceeded()
        doc = common.bus_doc(ctx, ctx.account, ctx.region, name)
        for key in _UPDATABLE:
            if params.get(key) is not None:
                doc[key] = params[key]
        if source_name is not None:
            from eventyard.operations import partner_sources

            await partner_sources.attach_partner_bus(ctx, tx, name, doc)
        try:
            await tx.insert(BUS, ctx.account, ctx.region, name, doc)
        except Conflict:
            raise already_exists(f"Event bus {name} already exists.") from None
        await common.set_tags(tx, ctx, doc["Arn"], params.get("Tags"))
    return {"EventBusArn": doc["Arn"], **{k: doc[k] for k in _UPDATABLE if k in doc}}


@operation("DescribeEventBus")
async def describe_event_bus(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    account, region, name = common.resolve_bus(ctx, params.get("Name"))
    async with ctx.store.transaction() as tx:
        if account != ctx.account:  # the bus policy first: a bus of another account, or its absence, is
            # not for a caller it does not let in (nor are another Region's buses, nor a default bus made)
            bus_arn = arns.event_bus(region, account, name)
            await common.authorize(ctx, tx, (account, region, name), "events:DescribeEventBus", bus_arn)
        bus = await common.get_bus(ctx, tx, account, region, name)
    return bus


@operation("ListEventBuses")
async def list_event_buses(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    after = common.decode_token(ctx, "ListEventBuses", params.get("NextToken"))
    limit = params.get("Limit")
    async with ctx.store.transaction() as tx:
        await common.ensure_default_bus(ctx, tx)
        buses = await tx.list(
            BUS,
            ctx.account,
            ctx.region,
            prefix=params.get("NamePrefix"),
            after=after,
            limit=None if limit is None else limit + 1,
        )
    buses, token = common.page(ctx, "ListEventBuses", buses, limit)
    return {"EventBuses": buses, "NextToken": token}


@operation("UpdateEventBus")
async def update_event_bus(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    account, region, name = common.resolve_bus(ctx, params.get("Name"))  # a name: the caller's bus
    async with ctx.store.transaction() as tx:
        bus = await common.get_bus(ctx, tx, account, region, name)
        for key in _UPDATABLE:
            if key in params:
                value = params[key]
                if value in (None, "", {}):
                    bus.pop(key, None)
                else:
                    bus[key] = value
        bus["LastModifiedTime"] = ctx.clock.time()
        await tx.put(BUS, account, region, name, bus)
    return {"Arn": bus["Arn"], "Name": name, **{k: bus[k] for k in _UPDATABLE if k in bus}}


@operation("DeleteEventBus")
async def delete_event_bus(ctx: Context, params: dict[str, Any]) -> None:
    name: str = params["Name"]
    if name == arns.DEFAULT_BUS:
        raise validation("Cannot delete event bus default.")
    async with ctx.store.transaction() as tx:
        bus = await tx.get(BUS, ctx.account, ctx.region, name)
        if bus is None:
            return None  # AWS models no ResourceNotFoundException here: deleting a missing bus succeeds
        if await tx.count(RULE, ctx.account, ctx.region, parent=name):
            raise validation(
                f"Event bus {name} has rules. Delete all rules of the event bus before deleting it."
            )
        await tx.delete(BUS, ctx.account, ctx.region, name)
        await common.drop_tags(tx, ctx, bus["Arn"])
        if bus.get("EventSourceName"):
            from eventyard.operations import partner_sources

            await partner_sources.detach_partner_bus(ctx, tx, name)
    ctx.runtime.rules_changed(ctx.account, ctx.region, name)
    return None
