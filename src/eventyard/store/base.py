"""The Store interface that operations use; SQLite and PostgreSQL implement it and pass one test suite.

Resources are JSON documents keyed by (kind, account, region, parent, name). Every operation runs in one
transaction: `async with store.transaction() as tx: ...` commits on success and rolls back on error.
"""

from __future__ import annotations

import abc
import asyncio
import random
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from importlib import resources as importlib_resources
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from collections.abc import Collection, Sequence

    from eventyard.store.outbox import ClaimedDelivery, DeliveryOutcome, EventRecord, NewDelivery, NewEvent

Doc = dict[str, Any]
T = TypeVar("T")


class Conflict(Exception):
    """An insert hit an existing key."""


class StoreUnavailable(Exception):
    """The database cannot be reached; the request fails with InternalException and is not half-applied."""


class Unstorable(ValueError):
    """A value this store cannot keep: PostgreSQL's text holds no NUL character (U+0000). The request fails
    with a ValidationException; nothing of it is applied."""


class Contention(StoreUnavailable):
    """Concurrent transactions collided (a PostgreSQL serialization failure or deadlock) and this one was
    rolled back. Running the whole operation again resolves it: `again_on_contention`."""


CONTENTION_ATTEMPTS = 8


async def again_on_contention(call: Callable[[], Awaitable[T]]) -> T:
    """`call()`, run again while its transaction collides with another (Contention, rolled back), after a
    short, growing, random pause, so that colliding work ends up one after the other; at most
    CONTENTION_ATTEMPTS times, then the Contention is raised."""
    for attempt in range(1, CONTENTION_ATTEMPTS + 1):
        try:
            return await call()
        except Contention:
            if attempt == CONTENTION_ATTEMPTS:
                raise
            await asyncio.sleep(random.uniform(0, 0.002 * 2**attempt))
    raise AssertionError("unreachable")


# Notification channels (`Store.subscribe`). Payload of RULES_CHANNEL: "account\tregion\tbus".
RULES_CHANNEL = "rules"
DELIVERIES_CHANNEL = "deliveries"


class Tx(abc.ABC):
    """One transaction. Methods are async so that a networked store can implement them."""

    @abc.abstractmethod
    async def get(self, kind: str, account: str, region: str, name: str, parent: str = "") -> Doc | None: ...

    @abc.abstractmethod
    async def insert(
        self,
        kind: str,
        account: str,
        region: str,
        name: str,
        doc: Doc,
        parent: str = "",
        ref: str | None = None,
    ) -> None:
        """Add a new resource; raise Conflict if the key exists."""

    @abc.abstractmethod
    async def put(
        self,
        kind: str,
        account: str,
        region: str,
        name: str,
        doc: Doc,
        parent: str = "",
        ref: str | None = None,
    ) -> None:
        """Insert or replace."""

    @abc.abstractmethod
    async def delete(self, kind: str, account: str, region: str, name: str, parent: str = "") -> bool: ...

    @abc.abstractmethod
    async def list(
        self,
        kind: str,
        account: str,
        region: str,
        parent: str | None = "",
        prefix: str | None = None,
        after: str | None = None,
        limit: int | None = None,
    ) -> list[Doc]:
        """Resources ordered by (parent, name); `parent=None` lists across parents."""

    @abc.abstractmethod
    async def count(self, kind: str, account: str, region: str, parent: str | None = "") -> int: ...

    @abc.abstractmethod
    async def by_ref(self, kind: str, region: str, ref: str) -> list[tuple[str, Doc]]:
        """(account, doc) of resources whose `ref` is `ref`, in any account, ordered by name."""

    @abc.abstractmethod
    async def find(self, kind: str, region: str, name: str, parent: str = "") -> list[tuple[str, Doc]]:
        """(account, doc) of resources with this name in any account of the region."""

    @abc.abstractmethod
    async def everywhere(self, kind: str, parent: str = "") -> list[tuple[str, str, Doc]]:
        """(account, region, doc) of every resource of this kind and parent, in every account and region,
        ordered by account, region and name: for work that spans them all (and is rare)."""


class Store(abc.ABC):
    # How many `append_events` transactions a node keeps in flight at once (delivery.ingest.Committer): one
    # for an embedded store that writes on one thread; more for a server, whose commits are round trips.
    append_concurrency = 1

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect and apply pending migrations (safe when several nodes start at once)."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[Tx]: ...

    @asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[bool]:
        """Work only one node may do at a time (expiry, retention, scheduled rules):

            async with store.exclusive("retention") as got:
                if got:
                    ...

        `got` is False while another holder (on any node) is inside a block of the same name; it never
        waits. The embedded store has one node, so only overlapping blocks in this process are refused.
        """
        locks: dict[str, asyncio.Lock] = self.__dict__.setdefault("_exclusive_locks", {})
        lock = locks.setdefault(name, asyncio.Lock())
        if lock.locked():
            yield False
            return
        async with lock:
            yield True

    def subscribe(self, channel: str, callback: Callable[[str | None], None]) -> None:
        """Call `callback(payload)` when another node announces a change on `channel` (RULES_CHANNEL,
        DELIVERIES_CHANNEL); `callback(None)` means announcements may have been missed (the database
        connection was lost and is back), so the subscriber should refresh everything it caches.

        Register before `open()`. The embedded store has no other nodes: nothing is ever announced.
        """
        return None

    # The durable outbox (records in eventyard.store.outbox). Each method is one transaction of its own.

    @abc.abstractmethod
    async def append_events(self, events: Sequence[NewEvent], deliveries: Sequence[NewDelivery]) -> None:
        """Store accepted events and their deliveries in one transaction, durable when this returns: PutEvents
        answers only after it. All or nothing. Callers batch many requests into one call (group commit)."""

    @abc.abstractmethod
    async def claim_deliveries(
        self,
        owner: str,
        now: float,
        lease_seconds: float,
        limit: int,
        exclude_targets: Collection[str] = (),
    ) -> list[ClaimedDelivery]:
        """Take up to `limit` claimable deliveries (state pending or in-flight, due_at <= now), earliest due
        first, skipping those whose target_arn is in `exclude_targets` (targets this node is saturated with).
        They become in-flight, leased to `owner` until now + lease_seconds (their new due_at). Two nodes never
        get the same delivery (PostgreSQL: FOR UPDATE SKIP LOCKED)."""

    @abc.abstractmethod
    async def record_outcomes(self, outcomes: Sequence[DeliveryOutcome], now: float) -> int:
        """Apply outcomes to deliveries still in-flight and leased to the outcome's lease_owner (others are
        skipped: their lease expired and someone else took over). Sets state, attempts, due_at, updated_at =
        now, and last_error unless the outcome has none (a delivery that succeeds after failures keeps its last
        error); a finished or pending delivery loses its lease_owner. Returns how many applied."""

    @abc.abstractmethod
    async def next_due_at(self, exclude_targets: Collection[str] = ()) -> float | None:
        """The earliest due_at of claimable-state deliveries (pending or in-flight) whose target_arn is not
        excluded, or None when there are none: when the engine should look again."""

    @abc.abstractmethod
    async def find_event(self, event_id: str, limit: int = 100) -> list[EventRecord]:
        """The stored copies of an event (one per bus it reached, oldest first) with their deliveries."""

    @abc.abstractmethod
    async def purge_outbox(self, before: float, limit: int) -> int:
        """Retention: delete up to `limit` finished deliveries last updated before `before`, then events
        ingested before `before` that no delivery refers to any more. Returns how many rows went. Rows are
        found by their time-ordered ids (outbox.RowIds, outbox.id_floor), so ids must come from RowIds on the
        clock that gave the rows' times."""

    async def recover_leases(self, now: float) -> int:
        """At start-up: make deliveries leased by nodes that are certainly gone claimable now. A store that
        knows no other node can be alive (the embedded one: one process) releases every lease; a shared store
        leaves them to expire. Returns how many were released."""
        return 0

    # Rate limits that hold for all the nodes together.

    @abc.abstractmethod
    async def take_tokens(
        self, bucket: str, want: int, rate: float, capacity: int, now: float
    ) -> tuple[int, float]:
        """Take up to `want` whole tokens from the token bucket named `bucket`, which every node shares: it
        holds at most `capacity` tokens and refills at `rate` tokens a second of `now` (epoch seconds of the
        nodes' clocks, which must agree, as for leases); a new bucket starts full. Returns (granted, left):
        the tokens taken (0 to `want`) and what the bucket holds after, a fraction of a token when it is below
        one, so that the caller knows when the next whole one is due. One atomic step: takers on any nodes
        never get more together than the bucket held. `rate` and `capacity` come with each call, so a changed
        rate counts from the next take; a `now` earlier than the last one refills nothing. Its own
        transaction, not durable: a crash may forget the last takes, which gives a few tokens again."""


def migrations() -> list[tuple[int, str]]:
    """The versioned migrations shipped in the package, in order, as (version, SQL)."""
    folder = importlib_resources.files("eventyard.store") / "migrations"
    found = []
    for entry in folder.iterdir():
        match = re.fullmatch(r"(\d+)_.*\.sql", entry.name)
        if match:
            found.append((int(match.group(1)), entry.read_text()))
    return sorted(found)


def split_statements(sql: str) -> list[str]:
    lines = [line for line in sql.splitlines() if not line.strip().startswith("--")]
    return [statement.strip() for statement in "\n".join(lines).split(";") if statement.strip()]
