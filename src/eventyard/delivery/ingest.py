"""Publishing accepted events onto a bus: match them against the bus's enabled rules, then store the events
and one pending delivery per (event, rule, target) in one transaction before anyone is answered. An event is
stored on the bus it was put to, as the record of its acceptance; a copy that a rule delivered to another
bus of the same account is stored there only if it has targets to reach there (the delivery record on the
first bus already says where it went), which spares the database a row per hop that would do nothing.

The rules of a bus are compiled into one `eventyard.patterns.RuleSet`, cached per bus and dropped when the
bus's rules change (`runtime.rule_listeners`, fed by this node's commits and other nodes' announcements), so
matching an event never reads the store. Concurrent publishers share one transaction (group commit): while
one commit is on disk, the next requests gather and go together.

Entry points: `publish` (one bus; PutPartnerEvents, bus-to-bus delivery, replays) and `publish_all` (several
buses in one transaction; PutEvents; a scheduled rule's events, `Publication.rules`). Both return only after
the commit.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from eventyard.core import arn as arns
from eventyard.core.envelope import event_json
from eventyard.delivery import metrics
from eventyard.store.outbox import (
    IN_FLIGHT,
    PENDING,
    ClaimedDelivery,
    NewDelivery,
    NewEvent,
    RowIds,
    inline_deliveries,
)

if TYPE_CHECKING:
    from eventyard.delivery.engine import DeliveryEngine
    from eventyard.runtime import Runtime

log = logging.getLogger("eventyard.ingest")

BUS = "event_bus"
RULE = "rule"
ENABLED_STATES = frozenset({"ENABLED", "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"})
MAX_COMMIT_EVENTS = 5000  # one group commit holds at most this many events (bounds its latency)
_EXTENSION = "ingest"


@dataclass(frozen=True, slots=True)
class RouteTarget:
    id: str
    arn: str
    doc: dict[str, Any]
    text: str  # the snapshot stored with each delivery
    # (account, region, name) when the target is another bus of the rule's account: publishing may deliver
    # to it itself (`_local_bus`). Not the rule's own bus (a loop, which the engine fails visibly).
    local_bus: tuple[str, str, str] | None = None


@dataclass(frozen=True, slots=True)
class RouteRule:
    arn: str
    name: str
    targets: tuple[RouteTarget, ...]


@dataclass(slots=True)
class BusRoutes:
    """One bus as routing sees it: whether it exists, whether it is a partner bus, its enabled rules compiled.
    (Not its policy: PutPermission announces nothing, so policies are always read fresh.)"""

    account: str
    region: str
    name: str
    exists: bool
    partner: bool = False
    rules: dict[str, RouteRule] = field(default_factory=dict)
    ruleset: Any = None

    def match(self, event: dict[str, Any]) -> list[RouteRule]:
        if self.ruleset is None:
            return []
        return [self.rules[arn] for arn in sorted(self.ruleset.match(event))]


@dataclass(frozen=True, slots=True)
class Publication:
    """Envelopes for one bus. `only_rules` (rule ARNs) restricts matching, as a replay's FilterArns does;
    `skip_rules` are never matched; `via` lists the rule ARNs that forwarded these events here."""

    account: str
    region: str
    bus: str
    envelopes: Sequence[dict[str, Any]]
    only_rules: Collection[str] | None = None
    skip_rules: Collection[str] | None = None
    via: tuple[str, ...] = ()
    # Not matched: the envelopes go to these rules' targets and to no other rule of the bus (a scheduled
    # rule's events). Copies they make on other buses are matched there as usual.
    rules: tuple[RouteRule, ...] | None = None


class Router:
    """The per-bus route cache."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._routes: dict[tuple[str, str, str], BusRoutes] = {}
        self._generation: dict[tuple[str, str, str], int] = {}
        self._epoch = 0
        self._loading: dict[tuple[str, str, str], asyncio.Future[BusRoutes]] = {}
        runtime.rule_listeners.append(self.forget)
        runtime.rule_reset_listeners.append(self.forget_all)

    def forget(self, account: str, region: str, bus: str) -> None:
        key = (account, region, bus)
        self._routes.pop(key, None)
        self._generation[key] = self._generation.get(key, 0) + 1

    def forget_all(self) -> None:
        self._routes.clear()
        self._epoch += 1

    async def routes(self, account: str, region: str, bus: str) -> BusRoutes:
        key = (account, region, bus)
        cached = self._routes.get(key)
        if cached is not None:
            return cached
        loading = self._loading.get(key)
        if loading is not None:
            return await asyncio.shield(loading)
        future: asyncio.Future[BusRoutes] = asyncio.get_running_loop().create_future()
        self._loading[key] = future
        try:
            generation, epoch = self._generation.get(key, 0), self._epoch
            routes = await self._load(account, region, bus)
            # Cache only what no rule change overtook while it loaded; a missing custom bus is never cached
            # (CreateEventBus announces nothing), the default bus always exists.
            if routes.exists and self._generation.get(key, 0) == generation and self._epoch == epoch:
                self._routes[key] = routes
            future.set_result(routes)
            return routes
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # retrieved: waiters get it, nobody else must
            raise
        finally:
            del self._loading[key]

    async def _load(self, account: str, region: str, bus: str) -> BusRoutes:
        async with self.runtime.store.transaction() as tx:
            doc = await tx.get(BUS, account, region, bus)
            rules = await tx.list(RULE, account, region, parent=bus) if doc or bus == arns.DEFAULT_BUS else []
        if doc is None and bus != arns.DEFAULT_BUS:
            return BusRoutes(account, region, bus, exists=False)
        routes = BusRoutes(
            account,
            region,
            bus,
            exists=True,
            partner=bool(doc and doc.get("EventSourceName")),
        )
        compiled = _compile((account, region, bus), rules)
        if compiled is not None:
            routes.ruleset, routes.rules = compiled
        return routes


def _compile(
    bus: tuple[str, str, str], rules: Iterable[dict[str, Any]]
) -> tuple[Any, dict[str, RouteRule]] | None:
    """The enabled rules with an event pattern of `bus` (account, region, name), compiled into one RuleSet
    (None if there are none)."""
    matching = [r for r in rules if r.get("State") in ENABLED_STATES and r.get("EventPattern")]
    if not matching:
        return None
    from eventyard.patterns import RuleSet

    ruleset = RuleSet()
    compiled: dict[str, RouteRule] = {}
    for rule in matching:
        try:
            ruleset.add(rule["Arn"], rule["EventPattern"])
        except Exception:
            log.exception("rule %s has a pattern that no longer compiles; it matches nothing", rule["Arn"])
            continue
        compiled[rule["Arn"]] = route_rule(bus, rule)
    return (ruleset, compiled) if compiled else None


def route_rule(bus: tuple[str, str, str], rule: dict[str, Any]) -> RouteRule:
    """The rule document `rule` of `bus` (account, region, name) with its targets, as routing uses it."""
    targets = tuple(
        RouteTarget(t["Id"], t["Arn"], t, orjson.dumps(t).decode(), _same_account_bus(bus, t["Arn"]))
        for t in rule.get("Targets") or ()
    )
    return RouteRule(rule["Arn"], rule["Name"], targets)


def _same_account_bus(bus: tuple[str, str, str], target_arn: str) -> tuple[str, str, str] | None:
    """The bus `target_arn` names if it is another bus of the account of `bus` (any Region)."""
    target = arns.parse_event_bus(target_arn)
    return target if target is not None and target[0] == bus[0] and target != bus else None


class Committer:
    """Group commit: concurrent callers' rows go to the store in one transaction; each caller resumes when
    the transaction holding its rows is committed (or fails with its error). Up to the store's
    `append_concurrency` transactions are in flight at once, so that a store that answers over a network
    (PostgreSQL) does not leave the node idle during a commit's round trips; the next callers gather
    meanwhile."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._queue: list[tuple[list[NewEvent], list[NewDelivery], asyncio.Future[None]]] = []
        self._drains: set[asyncio.Task[None]] = set()

    async def commit(self, events: list[NewEvent], deliveries: list[NewDelivery]) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((events, deliveries, future))
        if len(self._drains) < self.runtime.store.append_concurrency:
            self._drains.add(asyncio.create_task(self._drain()))
        await asyncio.shield(future)  # a caller that goes away does not cancel other callers' commit

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch: list[tuple[list[NewEvent], list[NewDelivery], asyncio.Future[None]]] = []
                size = 0
                while self._queue and (not batch or size + len(self._queue[0][0]) <= MAX_COMMIT_EVENTS):
                    item = self._queue.pop(0)
                    batch.append(item)
                    size += len(item[0])
                events = [e for item in batch for e in item[0]]
                deliveries = [d for item in batch for d in item[1]]
                try:
                    await self.runtime.store.append_events(events, deliveries)
                except Exception as error:
                    for _, _, future in batch:
                        if not future.done():
                            future.set_exception(error)
                            future.exception()
                else:
                    for _, _, future in batch:
                        if not future.done():
                            future.set_result(None)
        finally:  # at once, not in a done-callback: a caller arriving after the last look at the queue
            self._drains.discard(asyncio.current_task())  # type: ignore[arg-type]  # must start a new drain


@dataclass(slots=True)
class Ingest:
    """What one runtime keeps for publishing: the route cache, the group committer, row ids."""

    router: Router
    committer: Committer
    row_ids: RowIds


def ingest_of(runtime: Runtime) -> Ingest:
    found = runtime.extensions.get(_EXTENSION)
    if found is None:
        found = Ingest(Router(runtime), Committer(runtime), RowIds(runtime.node_id, runtime.clock.time))
        runtime.extensions[_EXTENSION] = found
    return found  # type: ignore[no-any-return]


def engine_of(runtime: Runtime) -> DeliveryEngine | None:
    engine = runtime.extensions.get("delivery_engine")
    return engine if engine is not None and engine.running else None


async def routes_for(runtime: Runtime, account: str, region: str, bus: str) -> BusRoutes:
    """The cached routing view of a bus (exists, partner, compiled rules)."""
    return await ingest_of(runtime).router.routes(account, region, bus)


async def publish(
    runtime: Runtime,
    account: str,
    region: str,
    bus_name: str,
    envelopes: Sequence[dict[str, Any]],
    *,
    only_rules: Collection[str] | None = None,
    skip_rules: Collection[str] | None = None,
    via: tuple[str, ...] = (),
) -> int | None:
    """Match `envelopes` (standard envelopes, see core.envelope) against the enabled rules of the bus
    `bus_name` owned by (account, region), and store them with their deliveries durably before returning.

    Returns how many deliveries were created, or None when the bus does not exist: the events are then
    dropped, as AWS silently drops events put to a missing bus. `only_rules` limits matching to those rule
    ARNs (a replay's FilterArns); `skip_rules` excludes rule ARNs; `via` records forwarding rules.
    """
    counts = await publish_all(
        runtime, [Publication(account, region, bus_name, envelopes, only_rules, skip_rules, via)]
    )
    return counts[0]


async def publish_all(runtime: Runtime, publications: Sequence[Publication]) -> list[int | None]:
    """`publish` for several buses at once, in one transaction (PutEvents entries may name different buses).

    A target that is another bus of the same account (any Region) is delivered to right here, in the same
    transaction: the event is stored on that bus and matched against its rules too, and the delivery is
    recorded as delivered on the event's row. Other targets, and bus targets that need a policy check or
    would fail (another account, a missing or partner bus, a loop), get a delivery for the engine.
    """
    ingest = ingest_of(runtime)
    engine = engine_of(runtime)
    now = runtime.clock.time()
    lease_until = now + engine.lease_seconds if engine is not None else now
    events: list[NewEvent] = []
    deliveries: list[NewDelivery] = []
    handoff: list[tuple[ClaimedDelivery, dict[str, Any]]] = []
    pending = False  # a delivery was left in the store for the engine to claim
    counts: list[int | None] = []
    recorder = metrics.of(runtime)
    router = ingest.router
    for publication in publications:
        routes = await router.routes(publication.account, publication.region, publication.bus)
        if not routes.exists:
            recorder.events_to_missing_bus(publication, len(publication.envelopes))
            counts.append(None)
            continue
        created = 0
        # (bus, event, its JSON, rules it went through): the publication's events, then bus-to-bus copies.
        work: deque[tuple[BusRoutes, dict[str, Any], str, tuple[str, ...]]] = deque(
            (routes, envelope, event_json(envelope), publication.via) for envelope in publication.envelopes
        )
        first = len(work)
        while work:
            bus, envelope, body, via = work.popleft()
            first -= 1
            own = first >= 0  # one of the publication's own events, not a copy delivered to another bus
            matched = (
                list(publication.rules) if own and publication.rules is not None else bus.match(envelope)
            )
            if own:  # its rule filters apply
                if publication.only_rules is not None:
                    matched = [rule for rule in matched if rule.arn in publication.only_rules]
                if publication.skip_rules:
                    matched = [rule for rule in matched if rule.arn not in publication.skip_rules]
            if via:
                matched = [rule for rule in matched if rule.arn not in via]
            if matched:
                recorder.matched(bus, matched)
            if not (own or any(rule.targets for rule in matched)):
                continue  # a copy with nothing to reach here
            event_row = ingest.row_ids()
            via_text = "\t".join(via)
            delivered: list[tuple[str, str, str, str]] = []  # made here and now: kept on the event's row
            for rule in matched:
                for target in rule.targets:
                    row = ingest.row_ids()
                    created += 1
                    destination = await _local_bus(router, rule, target, via)
                    if destination is not None:
                        delivered.append((row, rule.arn, target.id, target.arn))
                        recorder.delivered_inline(bus, rule)
                        work.append((destination, envelope, body, (*via, rule.arn)))
                    elif engine is not None and engine.can_take(target.arn):
                        delivery = _delivery(
                            row, event_row, bus, rule, target, IN_FLIGHT, lease_until, now, runtime.node_id
                        )
                        deliveries.append(delivery)
                        handoff.append((_claimed(delivery, envelope, body, target, via_text), envelope))
                    else:
                        deliveries.append(
                            _delivery(row, event_row, bus, rule, target, PENDING, now, now, None)
                        )
                        pending = True
            events.append(
                NewEvent(
                    event_row,
                    envelope["id"],
                    bus.account,
                    bus.region,
                    bus.name,
                    now,
                    body,
                    via_text,
                    inline_deliveries(delivered),
                )
            )
        counts.append(created)
    if events:
        await ingest.committer.commit(events, deliveries)
        if engine is not None:
            if handoff:
                engine.submit(handoff)
            if pending:
                engine.wake()
    return counts


def _delivery(
    row: str,
    event_row: str,
    bus: BusRoutes,
    rule: RouteRule,
    target: RouteTarget,
    state: str,
    due_at: float,
    now: float,
    lease_owner: str | None,
) -> NewDelivery:
    return NewDelivery(
        id=row,
        event_ref=event_row,
        account=bus.account,
        region=bus.region,
        bus=bus.name,
        rule_arn=rule.arn,
        target_id=target.id,
        target_arn=target.arn,
        target=target.text,
        state=state,
        due_at=due_at,
        created_at=now,
        lease_owner=lease_owner,
    )


def _claimed(
    delivery: NewDelivery, envelope: dict[str, Any], body: str, target: RouteTarget, via_text: str
) -> ClaimedDelivery:
    """The in-flight `delivery` as its engine holds it once committed: leased to this node until its due_at,
    with its event (the event row is committed with it, at the delivery's created_at)."""
    return ClaimedDelivery(
        id=delivery.id,
        event_ref=delivery.event_ref,
        event_id=envelope["id"],
        account=delivery.account,
        region=delivery.region,
        bus=delivery.bus,
        rule_arn=delivery.rule_arn,
        target_id=delivery.target_id,
        target_arn=delivery.target_arn,
        target=target.doc,
        attempts=delivery.attempts,
        created_at=delivery.created_at,
        lease_expires_at=delivery.due_at,
        body=body,
        ingested_at=delivery.created_at,
        via=via_text,
    )


async def _local_bus(
    router: Router, rule: RouteRule, target: RouteTarget, via: tuple[str, ...]
) -> BusRoutes | None:
    """The bus `target` names, if delivering to it needs nothing but storing the event there: another bus of
    the rule's account (`RouteTarget.local_bus`) that exists and is no partner bus, and the event has not been
    through this rule. Anything else goes through the engine, which reports why it cannot deliver."""
    if target.local_bus is None or rule.arn in via:
        return None
    destination = await router.routes(*target.local_bus)
    return destination if destination.exists and not destination.partner else None
