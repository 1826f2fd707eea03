"""The embedded default store: one SQLite file (or memory), one connection on one worker thread."""

from __future__ import annotations

import asyncio
import math
import sqlite3
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from eventyard.store.base import Store, Tx, migrations, split_statements
from eventyard.store.sql import SqlTx
from eventyard.store.sqlite_outbox import SqliteOutbox

T = TypeVar("T")


class SqliteStore(SqliteOutbox, Store):
    """SQLite serialises writers anyway, so every statement runs on one thread, one transaction at a time.

    WAL with synchronous=FULL: a commit is on disk before the caller is answered.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        self._lock = asyncio.Lock()
        self._conn: sqlite3.Connection | None = None

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._conn
        assert conn is not None, "store is not open"
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, conn)

    async def open(self) -> None:
        def connect() -> sqlite3.Connection:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA busy_timeout=10000")
            conn.execute("PRAGMA foreign_keys=ON")
            return conn

        loop = asyncio.get_running_loop()
        self._conn = await loop.run_in_executor(self._executor, connect)
        await self.run(self._migrate)

    @staticmethod
    def _migrate(conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)")
            applied = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
            for version, sql in migrations():
                if version in applied:
                    continue
                for statement in split_statements(sql):
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_migrations (version) VALUES (?)", (version,))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    async def close(self) -> None:
        if self._conn is not None:
            async with self._lock:
                await self.run(lambda conn: conn.close())
                self._conn = None
        self._executor.shutdown(wait=True)

    async def take_tokens(
        self, bucket: str, want: int, rate: float, capacity: int, now: float
    ) -> tuple[int, float]:
        def take(conn: sqlite3.Connection) -> tuple[int, float]:
            row = conn.execute(
                "SELECT tokens, updated_at FROM rate_buckets WHERE name=?", (bucket,)
            ).fetchone()
            if row is None:
                level, updated_at = float(capacity), now
            else:
                level = min(capacity, row[0] + max(now - row[1], 0) * rate)
                updated_at = max(row[1], now)
            granted = min(want, math.floor(level))
            conn.execute(
                "INSERT OR REPLACE INTO rate_buckets (name, tokens, updated_at, granted) VALUES (?, ?, ?, ?)",
                (bucket, level - granted, updated_at, granted),
            )
            return granted, level - granted

        return await self._write(take, durable=False)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        async with self._lock:
            await self.run(lambda conn: conn.execute("BEGIN IMMEDIATE"))
            try:
                yield SqliteTx(self)
            except BaseException:
                await self.run(lambda conn: conn.execute("ROLLBACK"))
                raise
            await self.run(lambda conn: conn.execute("COMMIT"))


class SqliteTx(SqlTx):
    def __init__(self, store: SqliteStore) -> None:
        self.store = store

    async def execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return await self.store.run(lambda conn: conn.execute(sql, params).fetchall())
