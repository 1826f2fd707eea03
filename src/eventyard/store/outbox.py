"""The records of the durable outbox: accepted events and one delivery per (event, rule, target).

Every store keeps them in the `events` and `deliveries` tables of migration 0002. A delivery moves through

    pending ──claim──> in-flight ──> delivered | failed | dead-lettered | dropped
       ^                   │
       └──── retry ────────┘   (and back to claimable when its lease expires: the node died)

`due_at` is when a pending delivery may next be attempted; for an in-flight one it is when its lease expires,
so "claimable" is one condition for both: `state IN ('pending', 'in-flight') AND due_at <= now`.
Times are epoch seconds from the runtime's clock.

Row ids (`RowIds`) begin with the millisecond of the clock time the row was made at, in fixed-width hex, so
they sort by time: inserts append to the primary keys, and retention finds old rows through the primary keys
(`id < id_floor(cut-off)`), with no index on a time column to keep up at every insert.
"""

from __future__ import annotations

import operator
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from typing import Any

import orjson

PENDING = "pending"
IN_FLIGHT = "in-flight"
DELIVERED = "delivered"
FAILED = "failed"  # retries exhausted and the dead-letter queue refused the event
DEAD_LETTERED = "dead-lettered"
DROPPED = "dropped"  # retries exhausted, no dead-letter queue

OPEN_STATES = (PENDING, IN_FLIGHT)
FINISHED_STATES = (DELIVERED, FAILED, DEAD_LETTERED, DROPPED)


class RowIds:
    """Unique, time-ordered row ids: the clock's millisecond, a sequence within it, and this process's node.

    Text so that the same schema works in SQLite and PostgreSQL. The clock is the runtime's (a test clock
    moved forward moves the ids with it), so an id's time prefix and its row's timestamps agree.
    """

    def __init__(self, node: str, clock: Callable[[], float]) -> None:
        self._node = f"{node}{secrets.token_hex(2)}"  # a restarted node with a fixed --node-id still differs
        self._clock = clock
        self._ms = 0
        self._seq = 0

    def __call__(self) -> str:
        ms = int(self._clock() * 1000)
        if ms > self._ms:
            self._ms, self._seq = ms, 0
        else:  # the same millisecond, or a clock that stepped back: stay in order after the last id
            self._seq += 1
            if self._seq > 0xFFFFF:  # a million in one millisecond: borrow the next one
                self._ms, self._seq = self._ms + 1, 0
        return f"{self._ms:011x}{self._seq:05x}{self._node}"


def id_floor(seconds: float) -> str:
    """A string below the id of every row made at or after `seconds` (and above those made a millisecond
    or more before it): `id < id_floor(t)` bounds a primary-key range scan for retention."""
    return f"{max(0, int(seconds * 1000)):011x}"


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An accepted event, stored on the bus that received it."""

    id: str  # unique row id, time-ordered (RowIds)
    event_id: str  # the envelope's id; the same on every bus the event reaches
    account: str  # owner of the bus
    region: str
    bus: str
    ingested_at: float
    body: str  # the envelope as compact JSON
    via: str = ""  # rule ARNs that forwarded it here, tab-separated (bus-to-bus loop prevention)
    # The deliveries made while publishing it (to buses of the rule's account): `inline_deliveries` JSON.
    delivered: str = ""


def inline_deliveries(deliveries: Sequence[tuple[str, str, str, str]]) -> str:
    """NewEvent.delivered for deliveries made while publishing: (delivery id, rule ARN, target id, target
    ARN) each. They are finished at once (delivered, 1 attempt, at the event's ingested_at), so they are kept
    on the event's row rather than as rows of `deliveries`: bus-to-bus fan-out writes half the rows."""
    return orjson.dumps(deliveries).decode() if deliveries else ""


@dataclass(frozen=True, slots=True)
class NewDelivery:
    """One (event, rule, target) to deliver. Inserted `pending`, or already `in-flight` when the accepting
    node hands it straight to its own engine (then `lease_owner` is that node and `due_at` the lease end).
    (A delivery that publishing itself made, to a bus of the same account, is kept on its event's row
    instead: NewEvent.delivered.)"""

    id: str
    event_ref: str  # the events row
    account: str  # owner of the rule
    region: str
    bus: str
    rule_arn: str
    target_id: str
    target_arn: str
    target: str  # the target as PutTargets stored it, as JSON (a snapshot: later edits do not apply)
    state: str
    due_at: float
    created_at: float
    lease_owner: str | None = None
    attempts: int = 0


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    """A delivery this node now holds (state in-flight, leased until `lease_expires_at`), with its event."""

    id: str
    event_ref: str  # the events row
    event_id: str
    account: str
    region: str
    bus: str
    rule_arn: str
    target_id: str
    target_arn: str
    target: dict[str, Any]
    attempts: int
    created_at: float
    lease_expires_at: float
    body: str  # the event JSON
    ingested_at: float
    via: str = ""
    last_error: str | None = None  # the last failed attempt's "CODE: message" (DeliveryOutcome.last_error)


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    """What became of an attempt (or of a held delivery given back): applied only while `lease_owner` still
    holds the delivery, so a node whose lease expired cannot overwrite the work of the node that took over."""

    id: str
    lease_owner: str
    state: str  # pending (retry later / given back) or one of FINISHED_STATES
    attempts: int
    due_at: float
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """A delivery as the operator endpoint shows it."""

    id: str
    account: str
    region: str
    bus: str
    rule_arn: str
    target_id: str
    target_arn: str
    state: str
    attempts: int
    due_at: float
    last_error: str | None
    lease_owner: str | None
    created_at: float
    updated_at: float


@dataclass(frozen=True, slots=True)
class EventRecord:
    """An event on one bus and its deliveries."""

    id: str
    event_id: str
    account: str
    region: str
    bus: str
    ingested_at: float
    body: str
    deliveries: list[DeliveryRecord]


# -- rows: how both stores write and read these records ----------------------------------------------------

# The columns of the two tables in the order the stores insert them, and a record's row in that order (a
# delivery's updated_at starts as its created_at).
EVENT_COLUMNS = ("id", "event_id", "account", "region", "bus", "ingested_at", "body", "via", "delivered")
DELIVERY_COLUMNS = (
    "id", "event_ref", "account", "region", "bus", "rule_arn", "target_id", "target_arn", "target", "state",
    "due_at", "attempts", "lease_owner", "created_at", "updated_at",
)  # fmt: skip
event_row: Callable[[NewEvent], tuple[Any, ...]] = operator.attrgetter(*EVENT_COLUMNS)
delivery_row: Callable[[NewDelivery], tuple[Any, ...]] = operator.attrgetter(
    *DELIVERY_COLUMNS[:-1], "created_at"
)

# What a claim returns per delivery, joined with its event (aliases d: deliveries, e: events), in the order
# of `claimed_delivery`.
CLAIMED_COLUMNS = (
    "d.id, d.event_ref, e.event_id, d.account, d.region, d.bus, d.rule_arn, d.target_id, d.target_arn, "
    "d.target, d.attempts, d.created_at, e.body, e.ingested_at, e.via, d.last_error"
)


def claimed_delivery(row: Sequence[Any], lease_expires_at: float) -> ClaimedDelivery:
    """The ClaimedDelivery of a row of CLAIMED_COLUMNS."""
    return ClaimedDelivery(
        id=row[0],
        event_ref=row[1],
        event_id=row[2],
        account=row[3],
        region=row[4],
        bus=row[5],
        rule_arn=row[6],
        target_id=row[7],
        target_arn=row[8],
        target=orjson.loads(row[9]),
        attempts=row[10],
        created_at=row[11],
        lease_expires_at=lease_expires_at,
        body=row[12],
        ingested_at=row[13],
        via=row[14],
        last_error=row[15],
    )


# What find_event reads: the columns of an EventRecord (but its deliveries) and, after the event's row id, of
# a DeliveryRecord; `event_records` puts them together.
FOUND_EVENT_COLUMNS = ", ".join(
    (*(f.name for f in fields(EventRecord) if f.name != "deliveries"), "delivered")
)
FOUND_DELIVERY_COLUMNS = ", ".join(("event_ref", *(f.name for f in fields(DeliveryRecord))))


def event_records(events: Iterable[Sequence[Any]], deliveries: Iterable[Sequence[Any]]) -> list[EventRecord]:
    """EventRecords from rows of FOUND_EVENT_COLUMNS and of FOUND_DELIVERY_COLUMNS (ordered by id), with
    each event's deliveries in id order: its rows of `deliveries` and those kept on its own row."""
    by_event: dict[str, list[DeliveryRecord]] = {}
    for row in deliveries:
        by_event.setdefault(row[0], []).append(DeliveryRecord(*row[1:]))
    records = []
    for row in events:
        found = by_event.get(row[0], [])
        if row[-1]:
            account, region, bus, at = row[2], row[3], row[4], row[5]
            for id_, rule, target_id, target_arn in orjson.loads(row[-1]):
                found.append(
                    DeliveryRecord(
                        id_,
                        account,
                        region,
                        bus,
                        rule,
                        target_id,
                        target_arn,
                        DELIVERED,
                        1,
                        at,
                        None,
                        None,
                        at,
                        at,
                    )
                )
            found.sort(key=operator.attrgetter("id"))
        records.append(EventRecord(*row[:-1], found))
    return records
