"""Pieces every operation family shares: resolving buses, default buses, paging tokens, tags."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import orjson

from eventyard.core import arn as arns
from eventyard.core import policy
from eventyard.errors import AwsError, not_found
from eventyard.runtime import Context
from eventyard.store.base import Doc, Tx

BUS = "event_bus"
RULE = "rule"
TAGS = "tags"

_TOKEN_KEY = b"eventyard-paging-v1"


def resolve_bus(ctx: Context, name_or_arn: str | None) -> tuple[str, str, str]:
    """(account, region, name) of a bus given by name, by ARN, or omitted (the default bus)."""
    if not name_or_arn:
        return ctx.account, ctx.region, arns.DEFAULT_BUS
    if name_or_arn.startswith("arn:"):
        bus = arns.parse_event_bus(name_or_arn)
        if bus is None:
            raise AwsError(
                "ValidationException",
                f"Parameter {name_or_arn} is not valid. Reason: Provided Arn is not in correct format.",
            )
        return bus
    return ctx.account, ctx.region, name_or_arn


def bus_doc(ctx: Context, account: str, region: str, name: str) -> Doc:
    now = ctx.clock.time()
    return {
        "Name": name,
        "Arn": arns.event_bus(region, account, name),
        "CreationTime": now,
        "LastModifiedTime": now,
    }


async def ensure_default_bus(
    ctx: Context, tx: Tx, account: str | None = None, region: str | None = None
) -> None:
    """Each (account, region) has its own `default` event bus, created on first use.

    Only a default bus read from the store is remembered: one created here is not there yet if this
    transaction rolls back (an error after this call, or Contention)."""
    account = account or ctx.account
    region = region or ctx.region
    key = (account, region)
    known: set[tuple[str, str]] = ctx.runtime.extensions.setdefault("default_buses", set())
    if key in known:
        return
    if await tx.get(BUS, account, region, arns.DEFAULT_BUS) is None:
        await tx.put(BUS, account, region, arns.DEFAULT_BUS, bus_doc(ctx, account, region, arns.DEFAULT_BUS))
    else:
        known.add(key)


async def get_bus(ctx: Context, tx: Tx, account: str, region: str, name: str) -> Doc:
    if name == arns.DEFAULT_BUS:
        await ensure_default_bus(ctx, tx, account, region)
    bus = await tx.get(BUS, account, region, name)
    if bus is None:
        raise not_found(f"Event bus {name} does not exist.")
    return bus


def uid_arn(resource_type: str, region: str, account: str, name: str, uid: str) -> str:
    """`arn:<partition>:events:<region>:<account>:<resource_type>/<name>/<uid>`: a connection or an API
    destination."""
    return arns.events(region, account, f"{resource_type}/{name}/{uid}")


def parse_uid_arn(arn: str, resource_type: str) -> tuple[str, str, str] | None:
    """(account, region, name) of a `uid_arn` of `resource_type`, or None.

    Not `arns.parse`, which takes a 12-digit account or none: these ARNs hold the caller's account, which is
    the configured default account, of any form, for a caller whose access key id is not an account."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[2] != "events" or not arns.consistent(parts[1], parts[3]):
        return None
    kind, *path = parts[5].split("/")
    if kind != resource_type or len(path) != 2:
        return None
    return parts[4], parts[3], path[0]


async def get_by_uid_arn(tx: Tx, kind: str, resource_type: str, arn_member: str, arn: str) -> Doc | None:
    """The resource with exactly this ARN (one re-created under the same name has another uid)."""
    parsed = parse_uid_arn(arn, resource_type)
    if parsed is None:
        return None
    account, region, name = parsed
    doc = await tx.get(kind, account, region, name)
    return doc if doc is not None and doc[arn_member] == arn else None


async def authorize(
    ctx: Context,
    tx: Tx,
    bus: tuple[str, str, str],
    action: str,
    resource: str,
    context: dict[str, str | list[str]] | None = None,
) -> None:
    """The caller may do `action` (e.g. events:PutRule) on `resource` (a rule's ARN, or the bus's) of the
    event bus `bus` (account, region, name): always on its own; on another account's bus of its Region only
    if that bus's resource policy allows it, as AWS lets accounts manage rules on a central bus. `context`
    holds the request's condition keys (events:creatorAccount, events:source, events:TargetArn, ...)."""
    account, region, name = bus
    if (account, region) == (ctx.account, ctx.region):
        return
    if region != ctx.region:  # no bus policy reaches into another Region
        raise AwsError(
            "AccessDeniedException",
            f"User: {policy.root(ctx.account, arns.partition(ctx.region))} is not authorized to manage "
            f"resources of account {account} in {region}.",
        )
    # A name no bus can have (a NUL, from a ResourceARN) has no policy: not looked up, which PostgreSQL refuses
    doc = await tx.get(BUS, account, region, name) if arns.BUS_NAME.fullmatch(name) else None
    decision = policy.decide(doc.get("Policy") if doc else None, ctx.account, action, context, resource)
    if decision != "Allow":
        raise AwsError(
            "AccessDeniedException", not_authorized(ctx.account, region, action, resource, decision)
        )


def not_authorized(account: str, region: str, action: str, resource: str, decision: str | None) -> str:
    """AWS's AccessDeniedException text for `account` doing `action` on another account's `resource` when
    that bus's policy denies it (`decision` "Deny") or does not allow it."""
    why = (
        "with an explicit deny in a resource-based policy"
        if decision == "Deny"
        else f"because no resource-based policy allows the {action} action"
    )
    return (
        f"User: {policy.root(account, arns.partition(region))} is not authorized to perform: {action} "
        f"on resource: {resource} {why}"
    )


def encode_token(ctx: Context, operation: str, last: str) -> str:
    payload = orjson.dumps({"o": operation, "a": ctx.account, "r": ctx.region, "k": last})
    mac = hmac.new(_TOKEN_KEY, payload, hashlib.sha256).digest()[:12]
    return base64.urlsafe_b64encode(mac + payload).decode().rstrip("=")


def decode_token(ctx: Context, operation: str, token: str | None) -> str | None:
    """The last key of the previous page, or an InvalidToken error for a forged or foreign token."""
    if token is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        mac, payload = raw[:12], raw[12:]
        if not hmac.compare_digest(mac, hmac.new(_TOKEN_KEY, payload, hashlib.sha256).digest()[:12]):
            raise ValueError("bad signature")
        data = orjson.loads(payload)
        if (data["o"], data["a"], data["r"]) != (operation, ctx.account, ctx.region):
            raise ValueError("token of another request")
        last = data["k"]
        if not isinstance(last, str):
            raise ValueError("bad key")
        return last
    except (ValueError, KeyError, TypeError):
        raise AwsError("InvalidToken", "The NextToken provided is invalid or expired.") from None


def page(
    ctx: Context, operation: str, items: list[Any], limit: int | None, key: str = "Name"
) -> tuple[list[Any], str | None]:
    """Cut `items` (already after the token, fetched with limit+1) to `limit` and make the next token."""
    if limit is not None and len(items) > limit:
        items = items[:limit]
        return items, encode_token(ctx, operation, items[-1][key])
    return items, None


def tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def _owner(ctx: Context, resource_arn: str) -> tuple[str, str]:
    """(account, region) that keeps a resource's tags: its owner's, which another account's PutRule on a
    shared bus is not."""
    parsed = arns.parse(resource_arn)
    return (parsed.account, parsed.region) if parsed and parsed.account else (ctx.account, ctx.region)


async def set_tags(tx: Tx, ctx: Context, resource_arn: str, tags: list[dict[str, str]] | None) -> None:
    if not tags:
        return
    account, region = _owner(ctx, resource_arn)
    current = await tx.get(TAGS, account, region, resource_arn) or {"Tags": {}}
    for tag in tags:
        current["Tags"][tag["Key"]] = tag["Value"]
    if len(current["Tags"]) > 50:
        raise AwsError("LimitExceededException", "A resource can have at most 50 tags.")
    await tx.put(TAGS, account, region, resource_arn, current)


async def drop_tags(tx: Tx, ctx: Context, resource_arn: str) -> None:
    await tx.delete(TAGS, *_owner(ctx, resource_arn), resource_arn)
