"""The outbox half of the SQLite store (see eventyard.store.outbox); SqliteStore mixes it in."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Collection, Sequence
from typing import TYPE_CHECKING, TypeVar

from eventyard.store.outbox import (
    CLAIMED_COLUMNS,
    DELIVERY_COLUMNS,
    EVENT_COLUMNS,
    FOUND_DELIVERY_COLUMNS,
    FOUND_EVENT_COLUMNS,
    ClaimedDelivery,
    DeliveryOutcome,
    EventRecord,
    NewDelivery,
    NewEvent,
    claimed_delivery,
    delivery_row,
    event_records,
    event_row,
    id_floor,
)

T = TypeVar("T")


def _insert(table: str, columns: tuple[str, ...]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({','.join('?' * len(columns))})"


_INSERT_EVENT = _insert("events", EVENT_COLUMNS)
_INSERT_DELIVERY = _insert("deliveries", DELIVERY_COLUMNS)
_CLAIMABLE = "state IN ('pending', 'in-flight') AND due_at <= ?"


def _exclusion(targets: Collection[str]) -> tuple[str, tuple[str, ...]]:
    if not targets:
        return "", ()
    return f" AND target_arn NOT IN ({','.join('?' * len(targets))})", tuple(targets)


class SqliteOutbox:
    """The outbox half of SqliteStore: each method runs whole on the store's thread, in one transaction."""

    _lock: asyncio.Lock

    if TYPE_CHECKING:

        async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T: ...

    async def _write(self, fn: Callable[[sqlite3.Connection], T], durable: bool = True) -> T:
        """Run `fn` in one write transaction. Not `durable`: the commit skips the fsync (WAL, synchronous=
        NORMAL); it is on disk with the next durable commit, and a power cut before that loses it, never
        corrupts. For claims and outcomes only: losing one means a delivery is made again (at least once)."""

        def transaction(conn: sqlite3.Connection) -> T:
            if not durable:
                conn.execute("PRAGMA synchronous=NORMAL")
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    result = fn(conn)
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            finally:
                if not durable:
                    conn.execute("PRAGMA synchronous=FULL")
            return result

        async with self._lock:
            return await self.run(transaction)

    async def append_events(self, events: Sequence[NewEvent], deliveries: Sequence[NewDelivery]) -> None:
        event_rows = list(map(event_row, events))
        delivery_rows = list(map(delivery_row, deliveries))

        def write(conn: sqlite3.Connection) -> None:
            conn.executemany(_INSERT_EVENT, event_rows)
            if delivery_rows:
                conn.executemany(_INSERT_DELIVERY, delivery_rows)

        await self._write(write)

    async def claim_deliveries(
        self,
        owner: str,
        now: float,
        lease_seconds: float,
        limit: int,
        exclude_targets: Collection[str] = (),
    ) -> list[ClaimedDelivery]:
        excluded, excluded_params = _exclusion(exclude_targets)

        def claim(conn: sqlite3.Connection) -> list[ClaimedDelivery]:
            ids = [
                row[0]
                for row in conn.execute(
                    f"SELECT id FROM deliveries WHERE {_CLAIMABLE}{excluded} ORDER BY due_at LIMIT ?",
                    (now, *excluded_params, limit),
                )
            ]
            if not ids:
                return []
            until = now + lease_seconds
            marks = ",".join("?" * len(ids))
            conn.execute(
                f"UPDATE deliveries SET state='in-flight', lease_owner=?, due_at=?, updated_at=? "
                f"WHERE id IN ({marks})",
                (owner, until, now, *ids),
            )
            rows = conn.execute(
                f"SELECT {CLAIMED_COLUMNS} FROM deliveries d JOIN events e ON e.id = d.event_ref "
                f"WHERE d.id IN ({marks})",
                ids,
            ).fetchall()
            order = {delivery_id: index for index, delivery_id in enumerate(ids)}
            rows.sort(key=lambda row: order[row[0]])  # earliest due first, as claimed
            return [claimed_delivery(row, until) for row in rows]

        return await self._write(claim, durable=False)

    async def record_outcomes(self, outcomes: Sequence[DeliveryOutcome], now: float) -> int:
        rows = [
            (o.state, o.attempts, o.due_at, o.last_error, o.state, now, o.id, o.lease_owner) for o in outcomes
        ]

        def write(conn: sqlite3.Connection) -> int:
            before = conn.total_changes
            conn.executemany(
                "UPDATE deliveries SET state=?, attempts=?, due_at=?, last_error=COALESCE(?, last_error), "
                "lease_owner=CASE WHEN ?='in-flight' THEN lease_owner ELSE NULL END, updated_at=? "
                "WHERE id=? AND lease_owner=? AND state='in-flight'",
                rows,
            )
            return conn.total_changes - before

        return await self._write(write, durable=False)

    async def next_due_at(self, exclude_targets: Collection[str] = ()) -> float | None:
        excluded, excluded_params = _exclusion(exclude_targets)

        def read(conn: sqlite3.Connection) -> float | None:
            row = conn.execute(
                f"SELECT min(due_at) FROM deliveries WHERE state IN ('pending', 'in-flight'){excluded}",
                excluded_params,
            ).fetchone()
            return None if row is None or row[0] is None else float(row[0])

        async with self._lock:
            return await self.run(read)

    async def find_event(self, event_id: str, limit: int = 100) -> list[EventRecord]:
        def read(conn: sqlite3.Connection) -> list[EventRecord]:
            events = conn.execute(
                f"SELECT {FOUND_EVENT_COLUMNS} FROM events WHERE event_id=? ORDER BY id LIMIT ?",
                (event_id, limit),
            ).fetchall()
            deliveries = conn.execute(
                f"SELECT {FOUND_DELIVERY_COLUMNS} FROM deliveries WHERE event_ref IN "
                "(SELECT id FROM events WHERE event_id=? ORDER BY id LIMIT ?) ORDER BY id",
                (event_id, limit),
            )
            return event_records(events, deliveries)

        async with self._lock:
            return await self.run(read)

    async def purge_outbox(self, before: float, limit: int) -> int:
        def purge(conn: sqlite3.Connection) -> int:
            floor = id_floor(before)
            gone = conn.execute(
                "DELETE FROM deliveries WHERE id IN (SELECT id FROM deliveries WHERE id < ? "
                "AND state NOT IN ('pending', 'in-flight') AND updated_at < ? LIMIT ?)",
                (floor, before, limit),
            ).rowcount
            gone += conn.execute(
                "DELETE FROM events WHERE id IN (SELECT id FROM events e WHERE e.id < ? AND e.ingested_at < ? "
                "AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_ref = e.id) LIMIT ?)",
                (floor, before, limit),
            ).rowcount
            return gone

        return await self._write(purge)

    async def recover_leases(self, now: float) -> int:
        # One process owns the file: whoever held a lease when it was opened is gone.
        def release(conn: sqlite3.Connection) -> int:
            return conn.execute(
                "UPDATE deliveries SET state='pending', lease_owner=NULL, due_at=?, updated_at=? "
                "WHERE state='in-flight'",
                (now, now),
            ).rowcount

        return await self._write(release)
