"""The outbox half of the SQLite store (see eventyard.store.outbox); SqliteStore mixes it in."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Collection, Sequence
from typing import TYPE_CHECKING, TypeVar

from eventyard.store.outbox import (
    ClaimedDelivery,
    DeliveryOutcome,
    DeliveryRecord,
    EventRecord,
    NewDelivery,
    NewEvent,
    id_floor,
)
from eventyard.store.sql import load

T = TypeVar("T")


_EVENT_COLUMNS = "id, event_id, account, region, bus, ingested_at, body, via"
_DELIVERY_COLUMNS = (
    "id, event_ref, account, region, bus, rule_arn, target_id, target_arn, target, state, due_at, attempts, "
    "lease_owner, created_at, updated_at"
)
_CLAIMABLE = "state IN ('pending', 'in-flight') AND due_at <= ?"


def _exclusion(targets: Collection[str]) -> tuple[str, tuple[str, ...]]:
    if not targets:
        return "", ()
    return f" AND target_arn NOT IN ({','.join('?' * len(targets))})", tuple(targets)


class SqliteOutbox:
    """The outbox half of SqliteStore: each method runs whole on the store's thread, in one transaction."""

    _lock: asyncio.Lock
    path: str

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
        event_rows = [
            (e.id, e.event_id, e.account, e.region, e.bus, e.ingested_at, e.body, e.via) for e in events
        ]
        delivery_rows = [
            (
                d.id,
                d.event_ref,
                d.account,
                d.region,
                d.bus,
                d.rule_arn,
                d.target_id,
                d.target_arn,
                d.target,
                d.state,
                d.due_at,
                d.attempts,
                d.lease_owner,
                d.created_at,
                d.created_at,
            )
            for d in deliveries
        ]

        def write(conn: sqlite3.Connection) -> None:
            conn.executemany(f"INSERT INTO events ({_EVENT_COLUMNS}) VALUES (?,?,?,?,?,?,?,?)", event_rows)
            if delivery_rows:
                conn.executemany(
                    f"INSERT INTO deliveries ({_DELIVERY_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    delivery_rows,
                )

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
                "SELECT d.id, d.event_ref, e.event_id, d.account, d.region, d.bus, d.rule_arn, d.target_id, "
                "d.target_arn, d.target, d.attempts, d.created_at, e.body, e.ingested_at, e.via "
                f"FROM deliveries d JOIN events e ON e.id = d.event_ref WHERE d.id IN ({marks})",
                ids,
            ).fetchall()
            order = {delivery_id: index for index, delivery_id in enumerate(ids)}
            rows.sort(key=lambda row: order[row[0]])  # earliest due first, as claimed
            return [
                ClaimedDelivery(
                    id=r[0],
                    event_ref=r[1],
                    event_id=r[2],
                    account=r[3],
                    region=r[4],
                    bus=r[5],
                    rule_arn=r[6],
                    target_id=r[7],
                    target_arn=r[8],
                    target=load(r[9]),
                    attempts=r[10],
                    created_at=r[11],
                    lease_expires_at=until,
                    body=r[12],
                    ingested_at=r[13],
                    via=r[14],
                )
                for r in rows
            ]

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
                f"SELECT {_EVENT_COLUMNS} FROM events WHERE event_id=? ORDER BY id LIMIT ?", (event_id, limit)
            ).fetchall()
            found = []
            for e in events:
                deliveries = [
                    DeliveryRecord(*row)
                    for row in conn.execute(
                        "SELECT id, account, region, bus, rule_arn, target_id, target_arn, state, attempts, "
                        "due_at, last_error, lease_owner, created_at, updated_at "
                        "FROM deliveries WHERE event_ref=? ORDER BY id",
                        (e[0],),
                    )
                ]
                found.append(EventRecord(e[0], e[1], e[2], e[3], e[4], e[5], e[6], deliveries))
            return found

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
