"""PutEvents: check each entry as AWS does, build the envelopes, and publish them durably before answering."""

from __future__ import annotations

from typing import Any

from eventyard.core import arn as arns
from eventyard.core import envelope as envelopes
from eventyard.core import policy
from eventyard.core.envelope import EntryError
from eventyard.delivery import ingest, metrics
from eventyard.errors import AwsError
from eventyard.operations import _common as common
from eventyard.operations.registry import operation
from eventyard.runtime import Context

TOTAL_SIZE_OVER_LIMIT = "Total size of the entries in the request is over the limit."
NO_VALID_ENTRY = (
    "None of the entries has all of Source, DetailType and Detail; an entry needs the three of them to be "
    "put on an event bus."
)


def _access_denied(account: str, region: str, bus_arn: str, decision: str | None) -> EntryError:
    return EntryError(
        "AccessDeniedException",
        common.not_authorized(account, region, "events:PutEvents", bus_arn, decision),
    )


def check_request(ctx: Context, entries: list[dict[str, Any]], total_size: int) -> None:
    """The request-level rules of PutEvents and PutPartnerEvents: the entries' total size (`entry_size`) is
    within the limit, and at least one entry has Source, DetailType and Detail."""
    if total_size > ctx.config.max_entry_size:
        raise AwsError("ValidationException", TOTAL_SIZE_OVER_LIMIT)
    if not any(envelopes.has_required_fields(entry) for entry in entries):
        raise AwsError("ValidationException", NO_VALID_ENTRY)


@operation("PutEvents")
async def put_events(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    entries: list[dict[str, Any]] = params["Entries"]
    recorder = metrics.of(ctx.runtime)
    total = sum(envelopes.entry_size(entry) for entry in entries)
    recorder.put_events(ctx.account, ctx.region, total)
    check_request(ctx, entries, total)

    results: list[dict[str, str]] = []
    by_bus: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    now = ctx.clock.time()
    policies: dict[
        tuple[str, str, str], dict[str, Any] | None
    ] = {}  # other accounts' buses: policies, parsed
    for entry in entries:
        checked = envelopes.check_entry(entry, refuse_aws_sources=True)
        if isinstance(checked, EntryError):
            results.append(checked.result())
            continue
        # The model's pattern for EventBusName (NonPartnerEventBusNameOrArn) already refused a malformed ARN
        # and any partner bus (their names hold a "/"), so this resolves and names a bus PutEvents may use.
        account, region, bus = common.resolve_bus(ctx, entry.get("EventBusName"))
        key = (account, region, bus)
        if account != ctx.account:
            if key not in policies:
                policies[key] = await _policy(ctx, account, region, bus)
            bus_arn = arns.event_bus(region, account, bus)
            # Each entry on its own: a policy may allow some sources or detail types and not others.
            decision = policy.decide(
                policies[key],
                ctx.account,
                "events:PutEvents",
                {"events:source": entry["Source"], "events:detail-type": entry["DetailType"]},
                bus_arn,
            )
            if decision != "Allow":
                results.append(_access_denied(ctx.account, region, bus_arn, decision).result())
                continue
        event_id = ctx.runtime.event_ids()
        # The event keeps the sender's account, also on another account's bus.
        event = envelopes.envelope(
            entry, checked, event_id=event_id, account=ctx.account, region=region, now=now
        )
        by_bus.setdefault(key, []).append(event)
        results.append({"EventId": event_id})

    if by_bus:
        await ingest.publish_all(
            ctx.runtime,
            [
                ingest.Publication(account, region, bus, events)
                for (account, region, bus), events in by_bus.items()
            ],
        )
    failed = 0
    for result in results:
        if "ErrorCode" in result:
            failed += 1
            recorder.failed_entry(ctx.account, ctx.region, result["ErrorCode"])
    for (account, region, bus), events in by_bus.items():
        recorder.entries(account, region, bus, len(events))
    return {"FailedEntryCount": failed, "Entries": results}


async def _policy(ctx: Context, account: str, region: str, bus: str) -> dict[str, Any] | None:
    """The resource policy of another account's bus, parsed once for the request's entries (None if it has
    none, or there is no such bus): it takes the caller's events only if that allows events:PutEvents. Read
    fresh, not from the route cache: PutPermission announces no rule change."""
    async with ctx.store.transaction() as tx:
        doc = await tx.get(common.BUS, account, region, bus)
    return policy.parse(doc.get("Policy")) if doc is not None else None
