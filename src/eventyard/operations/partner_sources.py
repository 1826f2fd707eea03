"""Partner (SaaS) event sources: a partner account offers a source to one customer account in one region.

A source is stored under the partner's account (`ref` = the customer's account, so the customer finds the
sources offered to it with `by_ref`), plus a claim row keyed by (region, name) under no account: the store's
unique key is what makes a name unique in a region, even with several nodes.

The partner side (CreatePartnerEventSource, ...) keeps the per-customer state on the source; the customer
side sees it through ListEventSources/DescribeEventSource, and the customer's partner event bus (a bus named
like the source, whose doc carries "EventSourceName") is what makes it ACTIVE. A partner bus whose source is
gone shows the source as DELETED, as AWS documents; the bus stays until the customer deletes it.

Expiry: a PENDING source past its ExpirationTime is deleted. Every read applies that check (so the answer is
exact whatever the sweep's period), and `ExpirySweep` removes expired rows periodically, as AWS says it does.
Both call the same idempotent `_expire_if_due`.

PutPartnerEvents routes each entry by its Source: to the customer's partner bus when the source is ACTIVE;
accepted and dropped (logged and counted at /metrics) when it is PENDING; refused per entry otherwise.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from eventyard.core import arn as arns
from eventyard.core import envelope as envelopes
from eventyard.core.envelope import EntryError
from eventyard.errors import AwsError, already_exists, invalid_state, not_found, validation
from eventyard.operations import _common as common
from eventyard.operations._common import BUS
from eventyard.operations.registry import operation, service
from eventyard.runtime import Context, Runtime, stop_task
from eventyard.store.base import Conflict, Contention, Doc, Tx

log = logging.getLogger("eventyard.partner")

SOURCE = "partner_event_source"
# Claim rows: account "" and region "", name "<region>/<source name>" (regions hold no "/"), so one list
# finds every source of every region for the sweep.
SOURCE_NAME = "partner_event_source_name"

PENDING, ACTIVE, DELETED = "PENDING", "ACTIVE", "DELETED"
DAY = 86400.0


def created_by(name: str) -> str:
    """`aws.partner/<partner_name>`: the first two segments, as real AWS returns CreatedBy."""
    return "/".join(name.split("/")[:2])


def _claim_key(region: str, name: str) -> str:
    return f"{region}/{name}"


def _expired(source: Doc, now: float) -> bool:
    expiration = source.get("ExpirationTime")
    return source["State"] == PENDING and expiration is not None and expiration <= now


async def _save(tx: Tx, region: str, source: Doc) -> None:
    await tx.put(SOURCE, source["Partner"], region, source["Name"], source, ref=source["Account"])
    claim = {
        "Region": region,
        "Name": source["Name"],
        "Partner": source["Partner"],
        "ExpirationTime": source.get("ExpirationTime") if source["State"] == PENDING else None,
    }
    await tx.put(SOURCE_NAME, "", "", _claim_key(region, source["Name"]), claim)


async def _remove(tx: Tx, region: str, source: Doc) -> None:
    await tx.delete(SOURCE, source["Partner"], region, source["Name"])
    await tx.delete(SOURCE_NAME, "", "", _claim_key(region, source["Name"]))


async def _expire_if_due(tx: Tx, region: str, source: Doc, now: float) -> bool:
    """Delete `source` if it has been PENDING past its ExpirationTime; True if it is gone."""
    if not _expired(source, now):
        return False
    await _remove(tx, region, source)
    log.info(
        "partner event source %s (region %s, offered to %s) expired while PENDING and was deleted",
        source["Name"],
        region,
        source["Account"],
    )
    return True


async def _live_source(tx: Tx, region: str, name: str, now: float) -> Doc | None:
    """The source named `name` in `region`, whoever created it, unless it has expired."""
    for _account, source in await tx.find(SOURCE, region, name):
        if not await _expire_if_due(tx, region, source, now):
            return source
    return None


async def _partner_source(ctx: Context, tx: Tx, name: str) -> Doc:
    """The caller's own source `name`; any other account's (or none) is ResourceNotFoundException."""
    source = await _live_source(tx, ctx.region, name, ctx.clock.time())
    if source is None or source["Partner"] != ctx.account:
        raise not_found(f"Event source {name} does not exist.")
    return source


async def _offered_source(ctx: Context, tx: Tx, name: str) -> Doc | None:
    """The live source `name` offered to the caller (the customer), if any."""
    source = await _live_source(tx, ctx.region, name, ctx.clock.time())
    if source is None or source["Account"] != ctx.account:
        return None
    return source


async def _partner_bus(ctx: Context, tx: Tx, name: str) -> Doc | None:
    bus = await tx.get(BUS, ctx.account, ctx.region, name)
    return bus if bus is not None and bus.get("EventSourceName") else None


def _customer_view(region: str, name: str, source: Doc | None, bus: Doc | None) -> Doc | None:
    """What ListEventSources/DescribeEventSource show the customer for `name`."""
    view: Doc = {"Arn": arns.event_source(region, name), "CreatedBy": created_by(name), "Name": name}
    if source is not None:
        view["CreationTime"] = source["CreationTime"]
        view["State"] = source["State"]
        if source["State"] == PENDING:
            view["ExpirationTime"] = source.get("ExpirationTime")
        return view
    if bus is not None:
        # The partner deleted the source (or it expired after a deactivation) while the bus exists.
        view["CreationTime"] = bus.get("EventSourceCreationTime", bus["CreationTime"])
        view["State"] = DELETED
        return view
    return None


# ---------------------------------------------------------------------------------------------------
# Partner side


@operation("CreatePartnerEventSource")
async def create_partner_event_source(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    name: str = params["Name"]
    now = ctx.clock.time()
    async with ctx.store.transaction() as tx:
        # Names are unique per region across all accounts (AWS: "must be unique"); another Region may reuse it.
        if await _live_source(tx, ctx.region, name, now) is not None:
            raise already_exists(f"Event source {name} already exists.")
        source: Doc = {
            "Name": name,
            "Arn": arns.event_source(ctx.region, name),
            "Partner": ctx.account,
            "Account": params["Account"],
            "CreationTime": now,
            "State": PENDING,
            "ExpirationTime": now + ctx.config.partner_source_pending_days * DAY,
        }
        try:
            await tx.insert(SOURCE_NAME, "", "", _claim_key(ctx.region, name), {})
        except Conflict:
            raise already_exists(f"Event source {name} already exists.") from None
        await _save(tx, ctx.region, source)
    log.info("partner %s created event source %s for account %s", ctx.account, name, params["Account"])
    return {"EventSourceArn": source["Arn"]}


@operation("DescribePartnerEventSource")
async def describe_partner_event_source(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    async with ctx.store.transaction() as tx:
        source = await _partner_source(ctx, tx, params["Name"])
    return {"Arn": source["Arn"], "Name": source["Name"]}


@operation("ListPartnerEventSources")
async def list_partner_event_sources(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    after = common.decode_token(ctx, "ListPartnerEventSources", params.get("NextToken"))
    limit = params.get("Limit")
    now = ctx.clock.time()
    async with ctx.store.transaction() as tx:
        while True:
            sources = await tx.list(
                SOURCE, ctx.account, ctx.region, prefix=params["NamePrefix"], after=after,
                limit=None if limit is None else limit + 1,
            )  # fmt: skip
            removed = [s for s in sources if await _expire_if_due(tx, ctx.region, s, now)]
            if not removed:
                break  # list again after removing expired sources, so that pages stay full
    sources, token = common.page(ctx, "ListPartnerEventSources", sources, limit)
    return {
        "PartnerEventSources": [{"Arn": s["Arn"], "Name": s["Name"]} for s in sources],
        "NextToken": token,
    }


@operation("ListPartnerEventSourceAccounts")
async def list_partner_event_source_accounts(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    after = common.decode_token(ctx, "ListPartnerEventSourceAccounts", params.get("NextToken"))
    async with ctx.store.transaction() as tx:
        source = await _partner_source(ctx, tx, params["EventSourceName"])
    # A source serves exactly one account, so the list has one entry; the token still pages correctly.
    accounts = [
        {
            "Account": source["Account"],
            "CreationTime": source["CreationTime"],
            "ExpirationTime": source.get("ExpirationTime") if source["State"] == PENDING else None,
            "State": source["State"],
        }
    ]
    accounts = [a for a in accounts if after is None or a["Account"] > after]
    accounts, token = common.page(
        ctx, "ListPartnerEventSourceAccounts", accounts, params.get("Limit"), key="Account"
    )
    return {"PartnerEventSourceAccounts": accounts, "NextToken": token}


@operation("DeletePartnerEventSource")
async def delete_partner_event_source(ctx: Context, params: dict[str, Any]) -> None:
    name: str = params["Name"]
    account: str = params["Account"]
    async with ctx.store.transaction() as tx:
        source = await _live_source(tx, ctx.region, name, ctx.clock.time())
        if source is None or source["Partner"] != ctx.account or source["Account"] != account:
            # AWS models no ResourceNotFoundException here. Guess: deleting what the caller does not have
            # succeeds and changes nothing (so another account cannot delete a partner's source).
            return None
        await _remove(tx, ctx.region, source)
    # The customer's partner bus, if any, stays; ListEventSources now shows the source as DELETED.
    log.info("partner %s deleted event source %s (account %s)", ctx.account, name, account)
    return None


# ---------------------------------------------------------------------------------------------------
# Customer side


@operation("ListEventSources")
async def list_event_sources(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    after = common.decode_token(ctx, "ListEventSources", params.get("NextToken"))
    prefix: str = params.get("NamePrefix") or ""
    now = ctx.clock.time()
    async with ctx.store.transaction() as tx:
        sources: dict[str, Doc] = {}
        for _partner, source in await tx.by_ref(SOURCE, ctx.region, ctx.account):
            if source["Name"].startswith(prefix) and not await _expire_if_due(tx, ctx.region, source, now):
                sources[source["Name"]] = source
        buses = {
            bus["Name"]: bus
            for bus in await tx.list(BUS, ctx.account, ctx.region, prefix=prefix or "aws.partner/")
            if bus.get("EventSourceName")
        }
    views = []
    for name in sorted(sources.keys() | buses.keys()):
        if after is not None and name <= after:
            continue
        view = _customer_view(ctx.region, name, sources.get(name), buses.get(name))
        if view is not None:
            views.append(view)
    views, token = common.page(ctx, "ListEventSources", views, params.get("Limit"))
    return {"EventSources": views, "NextToken": token}


@operation("DescribeEventSource")
async def describe_event_source(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    name: str = params["Name"]
    async with ctx.store.transaction() as tx:
        view = _customer_view(
            ctx.region, name, await _offered_source(ctx, tx, name), await _partner_bus(ctx, tx, name)
        )
    if view is None:
        raise not_found(f"Event source {name} does not exist.")
    return view


@operation("ActivateEventSource")
async def activate_event_source(ctx: Context, params: dict[str, Any]) -> None:
    name: str = params["Name"]
    async with ctx.store.transaction() as tx:
        source = await _offered_source(ctx, tx, name)
        bus = await _partner_bus(ctx, tx, name)  # a bus named like a source is always a partner bus
        if source is None and bus is not None:
            # Guess: the customer sees the source as DELETED; activating it makes no sense.
            raise _deleted(name, "activated")
        if source is None or bus is None:
            # The text AWS returns (seen in aws/aws-sdk-js-v3#4788): activation needs the source and the bus.
            raise not_found(f"Event source {name} or event bus {name} does not exist.")
        if source["State"] == ACTIVE:
            raise invalid_state(f"Event source {name} is already {ACTIVE}.")
        # Also how a customer re-attaches an existing bus after the partner re-created the source (inferred
        # from AWS's state table: the bus is never revived by the re-creation itself).
        _link(source, bus)
        await tx.put(BUS, ctx.account, ctx.region, name, bus)
        await _save(tx, ctx.region, source)
    log.info("account %s activated event source %s", ctx.account, name)
    return None


@operation("DeactivateEventSource")
async def deactivate_event_source(ctx: Context, params: dict[str, Any]) -> None:
    name: str = params["Name"]
    async with ctx.store.transaction() as tx:
        source = await _offered_source(ctx, tx, name)
        if source is None:
            if await _partner_bus(ctx, tx, name) is not None:
                raise _deleted(name, "deactivated")  # guess, as for activation
            raise not_found(f"Event source {name} does not exist.")
        if source["State"] != ACTIVE:
            raise invalid_state(f"Event source {name} is {source['State']}, not {ACTIVE}.")
        source["State"] = PENDING
        # DeactivateEventSource's reference: "If it remains in PENDING state for more than two weeks, it is
        # deleted." (The onboarding guide says 7 days for new sources; both periods are configurable.)
        source["ExpirationTime"] = ctx.clock.time() + ctx.config.partner_source_deactivated_days * DAY
        await _save(tx, ctx.region, source)
    log.info("account %s deactivated event source %s", ctx.account, name)
    return None


def _deleted(name: str, change: str) -> AwsError:
    return invalid_state(f"Event source {name} is in state {DELETED} and cannot be {change}.")


def _link(source: Doc, bus: Doc) -> None:
    source["State"] = ACTIVE
    source.pop("ExpirationTime", None)  # no evidence either way; AWS documents it only "if not activated"
    bus["EventSourceName"] = source["Name"]
    bus["EventSourceCreationTime"] = source["CreationTime"]


async def attach_partner_bus(ctx: Context, tx: Tx, name: str, bus: dict[str, Any]) -> None:
    """Make `bus` the partner event bus of the source `name` offered to the caller; the source becomes ACTIVE.

    Called by CreateEventBus(Name=name, EventSourceName=name) inside its transaction, before the bus is
    inserted (and after it checked that no bus of that name exists).
    """
    if not name.startswith("aws.partner/"):
        raise validation(f"Event source {name} is not a partner event source name.")
    source = await _offered_source(ctx, tx, name)
    if source is None:
        raise not_found(f"Event source {name} does not exist.")
    if source["State"] != PENDING:
        raise invalid_state(f"Event source {name} is {source['State']}; it cannot be associated again.")
    _link(source, bus)
    await _save(tx, ctx.region, source)
    log.info("account %s created partner event bus %s", ctx.account, name)


async def detach_partner_bus(ctx: Context, tx: Tx, name: str) -> None:
    """The customer deleted the partner bus: an ACTIVE source returns to PENDING (a PENDING one stays)."""
    source = await _offered_source(ctx, tx, name)
    if source is None or source["State"] != ACTIVE:
        return None
    source["State"] = PENDING
    # Guess: AWS says the source "will return to a Pending state ... will expire after being in a Pending
    # state for an extended period of time" without a number; we count the new-source period from now.
    source["ExpirationTime"] = ctx.clock.time() + ctx.config.partner_source_pending_days * DAY
    await _save(tx, ctx.region, source)
    return None


# ---------------------------------------------------------------------------------------------------
# PutPartnerEvents


# Guess: AWS documents no ErrorCode for an entry whose source does not exist, was deleted or expired; the
# partner onboarding guide names "Event Bus Not Found" as the non-retryable failure partners see. A source
# created by another partner gets the same answer, so that it is not revealed.
def _source_not_found(name: str) -> EntryError:
    return EntryError(
        "ResourceNotFoundException",
        f"Event Bus Not Found: the partner event source {name} does not exist for this account in this Region.",
    )


class PartnerMetrics:
    """PutPartnerEvents counters, in the runtime's Prometheus registry (exposed at GET /metrics)."""

    def __init__(self, runtime: Runtime) -> None:
        from prometheus_client import Counter

        from eventyard.delivery import metrics

        registry = metrics.of(runtime).registry
        self.entries = Counter(
            "eventyard_put_partner_events_entries",
            "PutPartnerEvents entries by outcome: published (ACTIVE source), dropped (PENDING source, "
            "accepted and dropped as AWS does), failed (refused).",
            ("account", "region", "outcome"),
            registry=registry,
        )
        self.dropped = Counter(
            "eventyard_partner_events_dropped",
            "Partner events accepted for a PENDING source and dropped: no partner event bus is associated, "
            "or the customer deactivated the source. `account` is the customer, `partner_account` the sender.",
            ("partner_account", "account", "region"),
            registry=registry,
        )

    @classmethod
    def of(cls, runtime: Runtime) -> PartnerMetrics:
        found = runtime.extensions.get("partner_metrics")
        if found is None:
            found = runtime.extensions["partner_metrics"] = cls(runtime)
        return found  # type: ignore[no-any-return]


@operation("PutPartnerEvents")
async def put_partner_events(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    from eventyard.delivery import ingest
    from eventyard.operations.events import check_request

    entries: list[dict[str, Any]] = params["Entries"]
    check_request(ctx, entries, sum(envelopes.entry_size(entry) for entry in entries))  # as PutEvents

    now = ctx.clock.time()
    results: list[dict[str, str]] = []
    sources: dict[str, Doc | None] = {}  # by name: the caller's live source, or None
    active: dict[str, list[dict[str, Any]]] = {}  # by source name: envelopes for its customer's bus
    pending: dict[str, int] = {}  # by source name: events accepted and dropped
    async with ctx.store.transaction() as tx:
        for entry in entries:
            checked = envelopes.check_entry(entry, refuse_aws_sources=False)
            if isinstance(checked, EntryError):
                results.append(checked.result())
                continue
            name: str = entry["Source"]
            if name not in sources:
                source = await _live_source(tx, ctx.region, name, now)
                sources[name] = source if source is not None and source["Partner"] == ctx.account else None
            source = sources[name]
            if source is None:
                results.append(_source_not_found(name).result())
                continue
            event_id = ctx.runtime.event_ids()  # time-ordered, as PutEvents
            results.append({"EventId": event_id})
            if source["State"] != ACTIVE:
                pending[name] = pending.get(name, 0) + 1
                continue
            # On the customer's partner bus: source = the full source name, account = the customer.
            active.setdefault(name, []).append(
                envelopes.envelope(
                    entry, checked, event_id=event_id, account=source["Account"], region=ctx.region, now=now,
                    source=name,
                )
            )  # fmt: skip
    customers = {name: source["Account"] for name, source in sources.items() if source is not None}
    if active:
        publications = [
            ingest.Publication(customers[name], ctx.region, name, events) for name, events in active.items()
        ]
        counts = await ingest.publish_all(ctx.runtime, publications)
        for publication, count in zip(publications, counts, strict=True):
            if count is None:  # the customer deleted the bus between our read and the publication
                log.warning("partner event bus %s was deleted while events were published", publication.bus)
                pending[publication.bus] = pending.get(publication.bus, 0) + len(publication.envelopes)

    failed = sum(1 for result in results if "ErrorCode" in result)
    dropped = sum(pending.values())
    counters = PartnerMetrics.of(ctx.runtime)
    for outcome, count in (
        ("published", len(entries) - failed - dropped),
        ("dropped", dropped),
        ("failed", failed),
    ):
        if count:
            counters.entries.labels(ctx.account, ctx.region, outcome).inc(count)
    for name, count in pending.items():
        counters.dropped.labels(ctx.account, customers[name], ctx.region).inc(count)
        log.info(
            "dropped %d event(s) of partner %s for event source %s: it is PENDING for account %s (no partner "
            "event bus is associated, or the source is deactivated)",
            count, ctx.account, name, customers[name],
        )  # fmt: skip
    return {"FailedEntryCount": failed, "Entries": results}


# ---------------------------------------------------------------------------------------------------
# Expiry sweep


async def sweep_expired(runtime: Runtime) -> int:
    """Delete every PENDING source past its ExpirationTime, in every region; the number deleted.

    Idempotent: several nodes may sweep at once; each deletion re-reads the source in its transaction.
    """
    now = runtime.clock.time()
    removed = 0
    after: str | None = None
    while True:
        async with runtime.store.transaction() as tx:
            claims = await tx.list(SOURCE_NAME, "", "", after=after, limit=200)
            for claim in claims:
                expiration = claim.get("ExpirationTime")
                if expiration is None or expiration > now or "Region" not in claim:
                    continue
                for _account, source in await tx.find(SOURCE, claim["Region"], claim["Name"]):
                    removed += await _expire_if_due(tx, claim["Region"], source, now)
        if len(claims) < 200:
            return removed
        after = _claim_key(claims[-1]["Region"], claims[-1]["Name"])


@service
class ExpirySweep:
    """The background service that runs `sweep_expired` every `interval` seconds and when the clock moves."""

    def __init__(self, runtime: Runtime, interval: float = 60.0) -> None:
        self.runtime = runtime
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.runtime.extensions.setdefault("clock_listeners", []).append(self.sweep)
        self._task = asyncio.create_task(self._loop(), name="partner-source-expiry")

    async def stop(self) -> None:
        await stop_task(self._task)
        self._task = None

    async def sweep(self) -> None:
        try:
            await sweep_expired(self.runtime)
        except Contention:
            # Another node's sweep (or a read expiring the same source) won; the next sweep carries on.
            log.debug("partner event source expiry sweep rolled back by a concurrent change")
        except Exception:
            log.exception("partner event source expiry sweep failed")

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.sweep()
