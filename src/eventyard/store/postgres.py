"""The store for several nodes: one PostgreSQL database shared by every `eventyard serve` process.

PostgreSQL does all the coordinating. Transactions run SERIALIZABLE, so an operation's read-then-write is as
safe as on SQLite (which runs one transaction at a time); a collision rolls one back with `Contention` and
the operation runs again. Changes to rules are announced to every node with LISTEN/NOTIFY (a trigger on the
resources table), work for one node at a time uses advisory locks (`exclusive`), and migrations run under
an advisory lock so that nodes starting together apply them once.

A lost database makes calls fail fast with `StoreUnavailable` (never a hang: every wait has a deadline), and
the pool reconnects on its own when the database is back.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import select
import time
import uuid
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import orjson
import psycopg
from psycopg import errors as pg_errors
from psycopg.pq import TransactionStatus
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from eventyard.config import env_number
from eventyard.store.base import (
    DELIVERIES_CHANNEL,
    RULES_CHANNEL,
    Contention,
    Store,
    StoreUnavailable,
    Tx,
    Unstorable,
    migrations,
    split_statements,
)
from eventyard.store.outbox import (
    CLAIMED_COLUMNS,
    DELIVERY_COLUMNS,
    EVENT_COLUMNS,
    FOUND_DELIVERY_COLUMNS,
    FOUND_EVENT_COLUMNS,
    PENDING,
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
from eventyard.store.sql import SqlTx

log = logging.getLogger("eventyard.store.postgres")

T = TypeVar("T")
Conn = psycopg.AsyncConnection[TupleRow]

# Advisory locks live in one 32-bit namespace ("EvYd") so they never meet another application's.
LOCK_NAMESPACE = 0x45765964
MIGRATION_LOCK = 0
# NOTIFY channel names in the database for the Store's channels.
CHANNELS = {RULES_CHANNEL: "eventyard_rules", DELIVERIES_CHANNEL: "eventyard_deliveries"}

# Objects only PostgreSQL has, re-created at every start (idempotent, under the migration lock): a trigger
# that announces, at commit, every change to a rule or a bus to the nodes that LISTEN. The payload names the
# bus, and the writer's application_name (its store's origin) so that a node ignores its own announcements.
POSTGRES_SETUP = [
    """
    CREATE OR REPLACE FUNCTION eventyard_announce_rules() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        changed RECORD;
    BEGIN
        IF TG_OP = 'DELETE' THEN changed := OLD; ELSE changed := NEW; END IF;
        IF changed.kind = 'rule' THEN
            PERFORM pg_notify('eventyard_rules', concat_ws(E'\\t', changed.account, changed.region,
                changed.parent, current_setting('application_name')));
        ELSIF changed.kind = 'event_bus' THEN
            PERFORM pg_notify('eventyard_rules', concat_ws(E'\\t', changed.account, changed.region,
                changed.name, current_setting('application_name')));
        END IF;
        RETURN NULL;
    END
    $$
    """,
    "DROP TRIGGER IF EXISTS eventyard_announce_rules ON resources",
    "DROP TRIGGER IF EXISTS eventyard_announce_rules_deleted ON resources",
    """
    CREATE TRIGGER eventyard_announce_rules AFTER INSERT OR UPDATE ON resources
    FOR EACH ROW WHEN (NEW.kind IN ('rule', 'event_bus')) EXECUTE FUNCTION eventyard_announce_rules()
    """,
    """
    CREATE TRIGGER eventyard_announce_rules_deleted AFTER DELETE ON resources
    FOR EACH ROW WHEN (OLD.kind IN ('rule', 'event_bus')) EXECUTE FUNCTION eventyard_announce_rules()
    """,
]

# -- queries of the outbox (tables of migration 0002; see eventyard.store.outbox) --------------------------

# Claims and outcomes commit without waiting for the WAL flush: a crash may lose the last of them, which
# only means a delivery is made again (at least once); accepted events (append_events) always wait.
NOT_DURABLE = "SET LOCAL synchronous_commit TO OFF"
# A small commit's events and deliveries, each a JSON array of the records' fields (orjson writes the
# dataclasses of eventyard.store.outbox as objects): one statement, one round trip.
APPEND_EVENTS = """
WITH new_events AS (
    INSERT INTO events (id, event_id, account, region, bus, ingested_at, body, via, delivered)
    SELECT id, event_id, account, region, bus, ingested_at, body, via, delivered
    FROM json_to_recordset(%s::json) AS e(id text, event_id text, account text, region text, bus text,
        ingested_at float8, body text, via text, delivered text)
)
INSERT INTO deliveries (id, event_ref, account, region, bus, rule_arn, target_id, target_arn, target, state,
    due_at, attempts, lease_owner, created_at, updated_at)
SELECT id, event_ref, account, region, bus, rule_arn, target_id, target_arn, target, state, due_at, attempts,
    lease_owner, created_at, created_at
FROM json_to_recordset(%s::json) AS d(id text, event_ref text, account text, region text, bus text,
    rule_arn text, target_id text, target_arn text, target text, state text, due_at float8, attempts int,
    lease_owner text, created_at float8)
"""
# Accepted events and their deliveries go in by binary COPY: the least work per row for both sides (psycopg
# encodes the rows in C; the server parses no text), about a third of what an INSERT of JSON rows cost,
# but in five round trips instead of one: worth it from COPY_MIN_ROWS rows.
COPY_EVENTS = f"COPY events ({', '.join(EVENT_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
EVENT_TYPES = ("text", "text", "text", "text", "text", "float8", "text", "text", "text")
COPY_DELIVERIES = f"COPY deliveries ({', '.join(DELIVERY_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
DELIVERY_TYPES = ("text",) * 10 + ("float8", "int4", "text", "float8", "float8")
COPY_MIN_ROWS = 100
# The targets that have claimable-state deliveries, one index probe each (a loose index scan over
# deliveries_claimable_by_target), for queries that leave some targets out: skipping a long backlog of an
# excluded target row by row would cost as much as the backlog.
_OPEN_TARGETS = """
open_targets(target_arn) AS (
    (SELECT target_arn FROM deliveries WHERE state IN ('pending', 'in-flight') ORDER BY target_arn LIMIT 1)
    UNION ALL
    SELECT (SELECT d.target_arn FROM deliveries d
            WHERE d.state IN ('pending', 'in-flight') AND d.target_arn > o.target_arn
            ORDER BY d.target_arn LIMIT 1)
    FROM open_targets o WHERE o.target_arn IS NOT NULL
)"""
# Take the earliest due claimable deliveries that no other transaction holds, lease them to the owner (the
# lease end becomes their due_at), and return each with its event. The `picked` part chooses.
_CLAIM = """
{pick}, claimed AS (
    UPDATE deliveries d SET state = 'in-flight', lease_owner = %(owner)s, due_at = %(until)s, updated_at = %(now)s
    FROM picked WHERE d.id = picked.id
    RETURNING d.id, d.event_ref, d.account, d.region, d.bus, d.rule_arn, d.target_id, d.target_arn, d.target,
        d.attempts, d.created_at, d.last_error, picked.due_at AS was_due
)
SELECT {columns}
FROM claimed d JOIN events e ON e.id = d.event_ref
ORDER BY d.was_due, d.id
"""
CLAIM_DELIVERIES = _CLAIM.format(
    columns=CLAIMED_COLUMNS,
    pick="""WITH picked AS (
    SELECT id, due_at FROM deliveries
    WHERE state IN ('pending', 'in-flight') AND due_at <= %(now)s
    ORDER BY due_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)""",
)
CLAIM_DELIVERIES_EXCLUDING = _CLAIM.format(
    columns=CLAIMED_COLUMNS,
    pick=f"""WITH RECURSIVE {_OPEN_TARGETS}, picked AS (
    SELECT p.id, p.due_at FROM open_targets o CROSS JOIN LATERAL (
        SELECT d.id, d.due_at FROM deliveries d
        WHERE d.state IN ('pending', 'in-flight') AND d.target_arn = o.target_arn AND d.due_at <= %(now)s
        ORDER BY d.due_at
        LIMIT %(limit)s
        FOR UPDATE SKIP LOCKED
    ) p
    WHERE o.target_arn IS NOT NULL AND NOT (o.target_arn = ANY(%(excluded)s::text[]))
    ORDER BY p.due_at
    LIMIT %(limit)s
)""",
)
# Apply outcomes only where the lease is still the outcome's; a success keeps the last failure. Params: now,
# then arrays of id, lease_owner, state, attempts, due_at, last_error.
RECORD_OUTCOMES = """
UPDATE deliveries d SET state = o.state, attempts = o.attempts, due_at = o.due_at,
    last_error = COALESCE(o.last_error, d.last_error),
    lease_owner = CASE WHEN o.state = 'in-flight' THEN d.lease_owner END, updated_at = %s
FROM unnest(%s::text[], %s::text[], %s::text[], %s::int[], %s::float8[], %s::text[])
    AS o(id, lease_owner, state, attempts, due_at, last_error)
WHERE d.id = o.id AND d.lease_owner = o.lease_owner AND d.state = 'in-flight'
"""
NEXT_DUE_AT = "SELECT min(due_at) FROM deliveries WHERE state IN ('pending', 'in-flight')"
NEXT_DUE_AT_EXCLUDING = f"""
WITH RECURSIVE {_OPEN_TARGETS}
SELECT min((SELECT min(d.due_at) FROM deliveries d
            WHERE d.state IN ('pending', 'in-flight') AND d.target_arn = o.target_arn))
FROM open_targets o WHERE o.target_arn IS NOT NULL AND NOT (o.target_arn = ANY(%(excluded)s::text[]))
"""
FIND_EVENTS = f'SELECT {FOUND_EVENT_COLUMNS} FROM events WHERE event_id = %s ORDER BY id COLLATE "C" LIMIT %s'
FIND_EVENT_DELIVERIES = (
    f"SELECT {FOUND_DELIVERY_COLUMNS} FROM deliveries WHERE event_ref IN "
    '(SELECT id FROM events WHERE event_id = %s ORDER BY id COLLATE "C" LIMIT %s) ORDER BY id COLLATE "C"'
)
# Retention (params: id floor, cut-off time, limit): the id bound makes it a primary-key range scan.
PURGE_DELIVERIES = """
DELETE FROM deliveries WHERE id IN (
    SELECT id FROM deliveries WHERE id < %s AND state NOT IN ('pending', 'in-flight') AND updated_at < %s
    LIMIT %s FOR UPDATE SKIP LOCKED)
"""
PURGE_EVENTS = """
DELETE FROM events WHERE id IN (
    SELECT id FROM events e WHERE e.id < %s AND e.ingested_at < %s
    AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_ref = e.id)
    LIMIT %s FOR UPDATE SKIP LOCKED)
"""

# A take from a token bucket shared by the nodes (Store.take_tokens, the table of migration 0006): refill for
# the time since updated_at, up to the capacity, then grant what is wanted of the whole tokens. ON CONFLICT
# locks the row and reads its latest version, so concurrent takes from any nodes apply one after the other.
_LEVEL = "least(%(capacity)s, b.tokens + greatest(%(now)s - b.updated_at, 0) * %(rate)s)"
TAKE_TOKENS = f"""
INSERT INTO rate_buckets AS b (name, tokens, updated_at, granted)
VALUES (%(name)s, %(capacity)s - least(%(want)s, %(capacity)s), %(now)s, least(%(want)s, %(capacity)s))
ON CONFLICT (name) DO UPDATE SET
    granted = least(%(want)s, floor({_LEVEL})),
    tokens = {_LEVEL} - least(%(want)s, floor({_LEVEL})),
    updated_at = greatest(b.updated_at, %(now)s)
RETURNING granted, tokens
"""


@functools.lru_cache(maxsize=256)
def _format_placeholders(sql: str) -> str:
    """The shared resource queries use `?`; psycopg wants `%s`."""
    return sql.replace("?", "%s")


def _has_input(conn: Conn) -> bool:
    """Whether the server sent something to a connection that is not waiting for anything."""
    try:
        poller = select.poll()  # not select(): it fails on descriptors above 1023
        poller.register(conn.pgconn.socket, select.POLLIN)
        return bool(poller.poll(0))
    except (OSError, ValueError, psycopg.OperationalError):
        return True  # no usable socket at all


def lock_key(name: str) -> int:
    """The advisory lock number (second half of the two-int key) of an `exclusive` name; never 0."""
    return (zlib.crc32(name.encode()) & 0x7FFFFFFF) or 1


class PostgresStore(Store):
    """The `Store` on PostgreSQL through psycopg 3 (async) and one `AsyncConnectionPool` per node.

    Deadlines (seconds; EVENTYARD_PG_* environment variables override them): `connect_timeout` for a new
    connection, `acquire_timeout` to get a pooled connection while the database is healthy (a short one,
    `down_acquire_timeout`, once it has failed), and `statement_timeout` for one round trip.
    """

    append_concurrency = 2  # while one commit waits for its round trips and WAL flush, the next one goes out

    def __init__(
        self,
        url: str,
        *,
        min_size: int = 2,
        max_size: int = 16,
        connect_timeout: float | None = None,
        acquire_timeout: float | None = None,
        down_acquire_timeout: float | None = None,
        statement_timeout: float | None = None,
        startup_timeout: float | None = None,
    ) -> None:
        self.url = url
        self.min_size = min_size
        self.max_size = max(1, int(env_number("PG_POOL_SIZE", max_size)))
        self.connect_timeout = connect_timeout or env_number("PG_CONNECT_TIMEOUT", 3.0)
        self.acquire_timeout = acquire_timeout or env_number("PG_ACQUIRE_TIMEOUT", 10.0)
        self.down_acquire_timeout = down_acquire_timeout or env_number("PG_DOWN_ACQUIRE_TIMEOUT", 1.0)
        self.statement_timeout = statement_timeout or env_number("PG_STATEMENT_TIMEOUT", 15.0)
        self.startup_timeout = startup_timeout or env_number("PG_STARTUP_TIMEOUT", 30.0)
        # Names this node's connections (application_name): announcements carry it, so a node skips its own.
        self.origin = f"eventyard-{uuid.uuid4().hex[:12]}"
        self._pool: AsyncConnectionPool[Conn] | None = None
        self._healthy = True
        self._subscribers: dict[str, list[Callable[[str | None], None]]] = {}
        self._listener: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()
        self._closing = False

    # -- connections -------------------------------------------------------------------------------

    def _connect_kwargs(self) -> dict[str, Any]:
        return {
            "autocommit": True,
            "application_name": self.origin,
            "connect_timeout": max(1, round(self.connect_timeout)),
            # A database host that vanishes without closing the socket is noticed by TCP, not by a hang.
            "keepalives": 1,
            "keepalives_idle": 5,
            "keepalives_interval": 2,
            "keepalives_count": 3,
        }

    @property
    def pool(self) -> AsyncConnectionPool[Conn]:
        assert self._pool is not None, "store is not open"
        return self._pool

    async def _acquire(self) -> Conn:
        """A pooled connection that is still alive, as far as can be told without a round trip."""
        for _ in range(self.max_size + 1):
            timeout = self.acquire_timeout if self._healthy else self.down_acquire_timeout
            try:
                conn = await self.pool.getconn(timeout=timeout)
            except PoolTimeout as error:
                self._healthy = False
                raise StoreUnavailable(f"no database connection within {timeout:.1f}s") from error
            if not _has_input(conn):
                return conn
            # An idle connection has nothing to read unless the server closed it (a restart, a terminated
            # backend): drop it, and the pool opens a new one. Until one works, wait with the short deadline.
            self._healthy = False
            await conn.close()
            await self._release(conn)
        raise StoreUnavailable("every pooled database connection was closed by the server")

    async def _release(self, conn: Conn) -> None:
        try:
            await self.pool.putconn(conn)
        except Exception:  # the pool was closed under us: nothing to return it to
            await conn.close()

    @asynccontextmanager
    async def _errors(self) -> AsyncIterator[None]:
        """A deadline for the round trips inside, and driver errors turned into the store's."""
        try:
            async with asyncio.timeout(self.statement_timeout):
                yield
        except (pg_errors.SerializationFailure, pg_errors.DeadlockDetected) as error:
            raise Contention(str(error)) from error
        except psycopg.DataError as error:  # NUL in a text parameter (psycopg) or in JSON text (the server)
            if isinstance(error, pg_errors.UntranslatableCharacter) or "NUL" in str(error):
                raise Unstorable(str(error)) from error
            raise
        except TimeoutError as error:
            self._healthy = False
            raise StoreUnavailable(f"no answer from the database in {self.statement_timeout:.0f}s") from error
        except (psycopg.OperationalError, psycopg.InterfaceError) as error:
            self._healthy = False
            raise StoreUnavailable(str(error).strip() or type(error).__name__) from error
        self._healthy = True

    async def guarded(self, awaitable: Awaitable[T]) -> T:
        """Await one database round trip with a deadline, and turn driver errors into the store's."""
        async with self._errors():
            return await awaitable
        raise AssertionError("unreachable")  # pragma: no cover (mypy: the context manager may swallow)

    async def execute(
        self, conn: Conn, sql: str, params: tuple[Any, ...] | dict[str, Any] | None = None
    ) -> psycopg.AsyncCursor[TupleRow]:
        return await self.guarded(conn.execute(sql, params))  # type: ignore[arg-type]

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Conn]:
        """A pooled connection in autocommit mode, for statements outside `transaction()`."""
        conn = await self._acquire()
        try:
            yield conn
        finally:
            await self._release(conn)

    # -- life cycle --------------------------------------------------------------------------------

    async def open(self) -> None:
        self._closing = False
        self._pool = AsyncConnectionPool(
            self.url,
            kwargs=self._connect_kwargs(),
            min_size=self.min_size,
            max_size=max(self.max_size, self.min_size),
            open=False,
            name="eventyard",
            timeout=self.acquire_timeout,
            # Give up on a failing background reconnection soon: a later request grows the pool again at
            # once, instead of waiting out an exponential back-off that can reach minutes.
            reconnect_timeout=2.0,
        )
        await self._pool.open(wait=False)
        self._healthy = False  # until proven: wait for connections with the short deadline
        deadline = time.monotonic() + self.startup_timeout
        while True:
            try:
                await self._migrate()
                break
            except StoreUnavailable as error:
                if time.monotonic() >= deadline:
                    await self.close()
                    raise
                log.warning("waiting for the database: %s", error)
                await asyncio.sleep(0.5)
        self._healthy = True
        if self._subscribers:
            self._listener = asyncio.create_task(self._listen_forever(), name="eventyard-pg-listen")
            try:
                async with asyncio.timeout(self.startup_timeout):
                    await self._listening.wait()
            except TimeoutError:
                log.warning("not yet listening for other nodes' announcements; continuing")

    async def _migrate(self) -> None:
        """Apply pending migrations once, whoever starts first: the others wait on the advisory lock."""
        async with self.connection() as conn:
            await self.execute(conn, "SELECT pg_advisory_lock(%s, %s)", (LOCK_NAMESPACE, MIGRATION_LOCK))
            try:
                await self.execute(
                    conn, "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)"
                )
                cursor = await self.execute(conn, "SELECT version FROM schema_migrations")
                applied = {row[0] for row in await cursor.fetchall()}
                for version, sql in migrations():
                    if version in applied:
                        continue
                    log.info("applying migration %d", version)
                    await self._apply(conn, split_statements(sql), version)
                # One transaction: the other nodes never see the announcement trigger dropped and not yet back.
                await self._apply(conn, POSTGRES_SETUP)
            finally:
                if not conn.closed:
                    await self.execute(
                        conn, "SELECT pg_advisory_unlock(%s, %s)", (LOCK_NAMESPACE, MIGRATION_LOCK)
                    )

    async def _apply(self, conn: Conn, statements: Sequence[str], version: int | None = None) -> None:
        """Run `statements` in one transaction, recording `version` in schema_migrations with them if given."""
        await self.execute(conn, "BEGIN")
        try:
            for statement in statements:
                await self.execute(conn, statement)
            if version is not None:
                await self.execute(conn, "INSERT INTO schema_migrations (version) VALUES (%s)", (version,))
            await self.execute(conn, "COMMIT")
        except BaseException:
            await self._rollback(conn)
            raise

    async def close(self) -> None:
        self._closing = True
        if self._listener is not None:
            self._listener.cancel()
            try:
                await self._listener
            except (asyncio.CancelledError, Exception):
                pass
            self._listener = None
        if self._pool is not None:
            await self._pool.close(timeout=5)
            self._pool = None

    # -- transactions ------------------------------------------------------------------------------

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        """A SERIALIZABLE transaction. BEGIN travels with the first statement (one round trip saved), and
        a transaction that never ran a statement never reaches the database."""
        conn = await self._acquire()
        tx = PostgresTx(self, conn, "BEGIN ISOLATION LEVEL SERIALIZABLE")
        try:
            try:
                yield tx
            except BaseException:
                if tx.begun:
                    await self._rollback(conn)
                raise
            if tx.begun:
                await self.execute(conn, "COMMIT")
        finally:
            await self._release(conn)

    @asynccontextmanager
    async def _pipelined(self, isolation: str, durable: bool = True) -> AsyncIterator[Conn]:
        """One transaction sent as a pipeline: BEGIN, the caller's statements and COMMIT travel together, in
        one round trip unless the caller reads a result before the end (cursors can be read after it)."""
        conn = await self._acquire()
        try:
            try:
                async with self._errors(), conn.pipeline():
                    await conn.execute(f"BEGIN ISOLATION LEVEL {isolation}")
                    if not durable:
                        await conn.execute(NOT_DURABLE)
                    yield conn
                    await conn.execute("COMMIT")
            except BaseException:
                await self._rollback(conn)
                raise
        finally:
            await self._release(conn)

    async def _rollback(self, conn: Conn) -> None:
        status = conn.info.transaction_status
        if conn.closed or status in (TransactionStatus.IDLE, TransactionStatus.UNKNOWN):
            return  # nothing open, or a broken connection the pool will drop
        if status == TransactionStatus.ACTIVE:  # interrupted mid-statement: unusable
            await conn.close()
            return
        try:
            await asyncio.wait_for(conn.execute("ROLLBACK"), self.statement_timeout)
        except (psycopg.Error, TimeoutError):
            await conn.close()

    # -- the durable outbox --------------------------------------------------------------------------
    # Each method is one READ COMMITTED transaction: rows are claimed with FOR UPDATE SKIP LOCKED, so two
    # nodes never take the same delivery and never wait for each other; a claim is a lease (due_at is its
    # end), so the deliveries of a node that died become claimable again when their lease runs out.

    async def append_events(self, events: Sequence[NewEvent], deliveries: Sequence[NewDelivery]) -> None:
        wake = any(d.state == PENDING for d in deliveries)  # the other nodes' engines
        if len(events) + len(deliveries) < COPY_MIN_ROWS:
            rows = (orjson.dumps(events).decode(), orjson.dumps(deliveries).decode())
            async with self.connection() as conn:
                if not wake:
                    await self.execute(conn, APPEND_EVENTS, rows)  # one statement: its own transaction
                    return
                async with self._errors(), conn.pipeline():
                    await conn.execute(APPEND_EVENTS, rows)
                    await self.notify(conn, DELIVERIES_CHANNEL)
            return
        # One transaction: BEGIN, a COPY per table, the wake-up, COMMIT.
        async with self.connection() as conn:
            try:
                async with self._errors():
                    await conn.execute("BEGIN")
                    cursor = conn.cursor()
                    async with cursor.copy(COPY_EVENTS) as copy:
                        copy.set_types(EVENT_TYPES)
                        for e in events:
                            await copy.write_row(event_row(e))
                    if deliveries:
                        async with cursor.copy(COPY_DELIVERIES) as copy:
                            copy.set_types(DELIVERY_TYPES)
                            for d in deliveries:
                                await copy.write_row(delivery_row(d))
                    if wake:
                        await self.notify(conn, DELIVERIES_CHANNEL)
                    await conn.execute("COMMIT")
            except BaseException:
                await self._rollback(conn)
                raise

    async def claim_deliveries(
        self,
        owner: str,
        now: float,
        lease_seconds: float,
        limit: int,
        exclude_targets: Collection[str] = (),
    ) -> list[ClaimedDelivery]:
        until = now + lease_seconds
        params = {
            "now": now,
            "excluded": list(exclude_targets),
            "limit": limit,
            "owner": owner,
            "until": until,
        }
        async with self._pipelined("READ COMMITTED", durable=False) as conn:
            cursor = await conn.execute(
                CLAIM_DELIVERIES_EXCLUDING if exclude_targets else CLAIM_DELIVERIES, params
            )
        return [claimed_delivery(row, until) for row in await cursor.fetchall()]

    async def record_outcomes(self, outcomes: Sequence[DeliveryOutcome], now: float) -> int:
        if not outcomes:
            return 0
        ordered = sorted(outcomes, key=lambda o: o.id)  # one lock order for every node: no deadlocks
        columns = (
            [o.id for o in ordered],
            [o.lease_owner for o in ordered],
            [o.state for o in ordered],
            [o.attempts for o in ordered],
            [o.due_at for o in ordered],
            [o.last_error for o in ordered],
        )
        async with self._pipelined("READ COMMITTED", durable=False) as conn:
            cursor = await conn.execute(RECORD_OUTCOMES, (now, *columns))
            if any(o.state == PENDING for o in ordered):
                await self.notify(conn, DELIVERIES_CHANNEL)
        return max(cursor.rowcount, 0)

    async def next_due_at(self, exclude_targets: Collection[str] = ()) -> float | None:
        async with self.connection() as conn:
            if exclude_targets:
                cursor = await self.execute(conn, NEXT_DUE_AT_EXCLUDING, {"excluded": list(exclude_targets)})
            else:
                cursor = await self.execute(conn, NEXT_DUE_AT)
            row = await cursor.fetchone()
        return None if row is None or row[0] is None else float(row[0])

    async def find_event(self, event_id: str, limit: int = 100) -> list[EventRecord]:
        async with self._pipelined("REPEATABLE READ") as conn:
            found_events = await conn.execute(FIND_EVENTS, (event_id, limit))
            found_deliveries = await conn.execute(FIND_EVENT_DELIVERIES, (event_id, limit))
        return event_records(await found_events.fetchall(), await found_deliveries.fetchall())

    async def purge_outbox(self, before: float, limit: int) -> int:
        async with self._pipelined("READ COMMITTED") as conn:
            floor = id_floor(before)
            deliveries = await conn.execute(PURGE_DELIVERIES, (floor, before, limit))
            events = await conn.execute(PURGE_EVENTS, (floor, before, limit))
        return max(deliveries.rowcount, 0) + max(events.rowcount, 0)

    # recover_leases: the base class's "nothing": another node may hold any lease; they expire instead.

    async def take_tokens(
        self, bucket: str, want: int, rate: float, capacity: int, now: float
    ) -> tuple[int, float]:
        params = {"name": bucket, "want": want, "rate": float(rate), "capacity": capacity, "now": now}
        async with self._pipelined("READ COMMITTED", durable=False) as conn:
            cursor = await conn.execute(TAKE_TOKENS, params)
        row = await cursor.fetchone()
        assert row is not None
        return int(row[0]), float(row[1])

    # -- work for one node at a time ---------------------------------------------------------------

    @asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[bool]:
        """A session advisory lock, tried and never waited for, held on one pooled connection for the block.

        If that connection dies the database releases the lock, so a crashed node never blocks the others;
        the work done under it must therefore stay idempotent (by unique keys), as all such work is.
        """
        key = (LOCK_NAMESPACE, lock_key(name))
        async with self.connection() as conn:
            cursor = await self.execute(conn, "SELECT pg_try_advisory_lock(%s, %s)", key)
            row = await cursor.fetchone()
            got = bool(row and row[0])
            try:
                yield got
            finally:
                if got and not conn.closed:
                    try:
                        await self.execute(conn, "SELECT pg_advisory_unlock(%s, %s)", key)
                    except StoreUnavailable:
                        pass  # the session is gone, and its lock with it

    # -- announcements between nodes ---------------------------------------------------------------

    def subscribe(self, channel: str, callback: Callable[[str | None], None]) -> None:
        if channel not in CHANNELS:
            raise ValueError(f"unknown channel {channel!r}")
        self._subscribers.setdefault(channel, []).append(callback)

    async def notify(self, conn: Conn, channel: str, payload: str = "") -> None:
        """Announce on `channel` to the other nodes (at commit, if `conn` is inside a transaction)."""
        await self.execute(conn, "SELECT pg_notify(%s, %s)", (CHANNELS[channel], f"{payload}\t{self.origin}"))

    def _dispatch(self, channel: str, payload: str | None) -> None:
        for callback in self._subscribers.get(channel, []):
            try:
                callback(payload)
            except Exception:
                log.exception("subscriber of %s failed", channel)

    async def _listen_forever(self) -> None:
        """LISTEN on a connection of its own; after a reconnection tell subscribers that they may have
        missed announcements. A heartbeat every few seconds notices a database that went away silently."""
        by_name = {name: channel for channel, name in CHANNELS.items() if channel in self._subscribers}
        delay = 0.1
        connected_before = False
        while not self._closing:
            conn: Conn | None = None
            try:
                conn = await asyncio.wait_for(
                    psycopg.AsyncConnection.connect(self.url, **self._connect_kwargs()),
                    self.connect_timeout + 1,
                )
                for name in by_name:
                    await asyncio.wait_for(conn.execute(f"LISTEN {name}"), self.statement_timeout)
                if connected_before:
                    for channel in by_name.values():
                        self._dispatch(channel, None)
                connected_before = True
                delay = 0.1
                self._listening.set()
                while not self._closing:
                    async for note in conn.notifies(timeout=5.0):
                        payload, _, origin = note.payload.rpartition("\t")
                        if origin != self.origin and note.channel in by_name:
                            self._dispatch(by_name[note.channel], payload)
                    await asyncio.wait_for(conn.execute("SELECT 1"), self.statement_timeout)
            except asyncio.CancelledError:
                raise
            except (psycopg.Error, OSError, TimeoutError) as error:
                if not self._closing:
                    log.warning("listening for other nodes failed (%s); reconnecting", error)
            finally:
                if conn is not None:
                    try:
                        await conn.close()
                    except Exception:
                        pass
            if not self._closing:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)


class PostgresTx(SqlTx):
    BYTES = ' COLLATE "C"'  # byte order, as SQLite sorts, whatever the database's locale

    def __init__(self, store: PostgresStore, conn: Conn, begin: str) -> None:
        self.store = store
        self.conn = conn
        self.begin = begin
        self.begun = False

    async def execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        sql = _format_placeholders(sql)
        async with self.store._errors():
            if self.begun:
                cursor = await self.conn.execute(sql, params)
            else:
                self.begun = True
                async with self.conn.pipeline():
                    await self.conn.execute(self.begin)
                    cursor = await self.conn.execute(sql, params)
            return await cursor.fetchall() if cursor.description is not None else []
        raise AssertionError("unreachable")  # pragma: no cover
