"""API destinations: CreateApiDestination, DescribeApiDestination, ListApiDestinations, UpdateApiDestination,
DeleteApiDestination."""

from __future__ import annotations

from typing import Any

from eventyard.errors import already_exists, limit_exceeded, not_found
from eventyard.operations import _common as common
from eventyard.operations.connections import (
    API_DESTINATION,
    check_endpoint,
    connection_by_arn,
    parse_connection_arn,
)
from eventyard.operations.registry import operation
from eventyard.runtime import Context
from eventyard.store.base import Conflict, Doc, Tx

MAX_API_DESTINATIONS = 3000
# What AWS reports when InvocationRateLimitPerSecond is not set: the default quota.
DEFAULT_RATE_LIMIT = 300
_FIELDS = (
    "ApiDestinationArn", "Name", "Description", "ApiDestinationState", "ConnectionArn", "InvocationEndpoint",
    "HttpMethod", "InvocationRateLimitPerSecond", "CreationTime", "LastModifiedTime",
)  # fmt: skip
_SUMMARY = tuple(field for field in _FIELDS if field != "Description")
_UPDATABLE = (
    "Description",
    "ConnectionArn",
    "InvocationEndpoint",
    "HttpMethod",
    "InvocationRateLimitPerSecond",
)


async def api_destination_by_arn(tx: Tx, arn: str) -> Doc | None:
    return await common.get_by_uid_arn(tx, API_DESTINATION, "api-destination", "ApiDestinationArn", arn)


async def _connection(tx: Tx, arn: str) -> Doc:
    connection = await connection_by_arn(tx, arn)
    if connection is None:
        parsed = parse_connection_arn(arn)  # the model's pattern for ConnectionArn makes it parse
        raise not_found(f"Connection '{parsed[2] if parsed else arn}' does not exist.")
    return connection


def _state(connection: Doc | None) -> str:
    """ACTIVE while its connection can authorize requests, INACTIVE otherwise (as AWS reports it)."""
    return (
        "ACTIVE" if connection and connection["ConnectionState"] in ("AUTHORIZED", "ACTIVE") else "INACTIVE"
    )


async def _view(tx: Tx, doc: Doc, fields: tuple[str, ...], cache: dict[str, Doc | None]) -> Doc:
    arn = doc["ConnectionArn"]
    if arn not in cache:
        cache[arn] = await connection_by_arn(tx, arn)
    out = {key: doc[key] for key in fields if doc.get(key) is not None}
    out["ApiDestinationState"] = _state(cache[arn])
    return out


async def get_api_destination(tx: Tx, ctx: Context, name: str) -> Doc:
    doc = await tx.get(API_DESTINATION, ctx.account, ctx.region, name)
    if doc is None:
        raise not_found(
            f"Failed to describe the api-destination(s). An api-destination '{name}' does not exist."
        )
    return doc


@operation("CreateApiDestination")
async def create_api_destination(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    name: str = params["Name"]
    check_endpoint(params["InvocationEndpoint"], "InvocationEndpoint")
    now = ctx.clock.time()
    doc: Doc = {
        "Name": name,
        "ApiDestinationArn": common.uid_arn(
            "api-destination", ctx.region, ctx.account, name, ctx.runtime.ids()
        ),
        "ConnectionArn": params["ConnectionArn"],
        "InvocationEndpoint": params["InvocationEndpoint"],
        "HttpMethod": params["HttpMethod"],
        "InvocationRateLimitPerSecond": params.get("InvocationRateLimitPerSecond") or DEFAULT_RATE_LIMIT,
        "CreationTime": now,
        "LastModifiedTime": now,
    }
    if params.get("Description") is not None:
        doc["Description"] = params["Description"]
    async with ctx.store.transaction() as tx:
        if await tx.get(API_DESTINATION, ctx.account, ctx.region, name) is not None:
            raise already_exists(f"An api-destination '{name}' already exists.")
        connection = await _connection(tx, doc["ConnectionArn"])
        if await tx.count(API_DESTINATION, ctx.account, ctx.region) >= MAX_API_DESTINATIONS:
            raise limit_exceeded(
                f"The requested resource exceeds the maximum number allowed ({MAX_API_DESTINATIONS} "
                "api-destinations)."
            )
        try:
            await tx.insert(API_DESTINATION, ctx.account, ctx.region, name, doc)
        except Conflict:
            raise already_exists(f"An api-destination '{name}' already exists.") from None
    return {
        "ApiDestinationArn": doc["ApiDestinationArn"],
        "ApiDestinationState": _state(connection),
        "CreationTime": now,
        "LastModifiedTime": now,
    }


@operation("DescribeApiDestination")
async def describe_api_destination(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    async with ctx.store.transaction() as tx:
        doc = await get_api_destination(tx, ctx, params["Name"])
        return await _view(tx, doc, _FIELDS, {})


@operation("ListApiDestinations")
async def list_api_destinations(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    after = common.decode_token(ctx, "ListApiDestinations", params.get("NextToken"))
    limit = params.get("Limit")
    connection = params.get("ConnectionArn")
    cache: dict[str, Doc | None] = {}
    async with ctx.store.transaction() as tx:
        docs = await tx.list(
            API_DESTINATION, ctx.account, ctx.region, prefix=params.get("NamePrefix"), after=after
        )
        if connection is not None:
            docs = [doc for doc in docs if doc["ConnectionArn"] == connection]
        if limit is not None:
            docs = docs[: limit + 1]
        views = [await _view(tx, doc, _SUMMARY, cache) for doc in docs]
    views, token = common.page(ctx, "ListApiDestinations", views, limit)
    return {"ApiDestinations": views, "NextToken": token}


@operation("UpdateApiDestination")
async def update_api_destination(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    if params.get("InvocationEndpoint") is not None:
        check_endpoint(params["InvocationEndpoint"], "InvocationEndpoint")
    async with ctx.store.transaction() as tx:
        doc = await get_api_destination(tx, ctx, params["Name"])
        for key in _UPDATABLE:
            if params.get(key) is not None:
                doc[key] = params[key]
        connection = await _connection(tx, doc["ConnectionArn"])
        doc["LastModifiedTime"] = ctx.clock.time()
        await tx.put(API_DESTINATION, ctx.account, ctx.region, doc["Name"], doc)
    _forget(ctx, doc["ApiDestinationArn"])
    return {
        "ApiDestinationArn": doc["ApiDestinationArn"],
        "ApiDestinationState": _state(connection),
        "CreationTime": doc["CreationTime"],
        "LastModifiedTime": doc["LastModifiedTime"],
    }


@operation("DeleteApiDestination")
async def delete_api_destination(ctx: Context, params: dict[str, Any]) -> None:
    async with ctx.store.transaction() as tx:
        doc = await get_api_destination(tx, ctx, params["Name"])
        await tx.delete(API_DESTINATION, ctx.account, ctx.region, params["Name"])
    _forget(ctx, doc["ApiDestinationArn"])
    return None


def _forget(ctx: Context, arn: str) -> None:
    from eventyard.delivery.targets import http

    http.forget_api_destination(ctx.runtime, arn)
