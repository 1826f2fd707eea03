"""What only the PostgreSQL store does: several nodes on one database, announcements between them,
collisions as Contention, and a database that goes away and comes back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import psycopg
import pytest

from eventyard.store.base import (
    DELIVERIES_CHANNEL,
    RULES_CHANNEL,
    Contention,
    StoreUnavailable,
    Unstorable,
    migrations,
)
from eventyard.store.outbox import PENDING, NewDelivery, NewEvent
from eventyard.store.postgres import PostgresStore
from tests.pgserver import PgCluster, create_database

pytestmark = pytest.mark.anyio

A, R = "111111111111", "us-east-1"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def database(pg_database: Callable[[], str]) -> str:
    return pg_database()


@pytest.fixture
async def nodes(database: str) -> AsyncIterator[Callable[..., PostgresStore]]:
    """Make stores ("nodes") on one database; `nodes(subscribe={channel: callback})` opens one."""
    opened: list[PostgresStore] = []

    async def make(
        subscribe: dict[str, Callable[[str | None], None]] | None = None, **options: float
    ) -> PostgresStore:
        store = PostgresStore(database, **options)  # type: ignore[arg-type]
        for channel, callback in (subscribe or {}).items():
            store.subscribe(channel, callback)
        await store.open()
        opened.append(store)
        return store

    yield make  # type: ignore[misc]
    for store in opened:
        await store.close()


async def wait_for(predicate: Callable[[], bool], timeout: float) -> float:
    """Seconds until `predicate()` held; fails after `timeout`."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not within {timeout}s")
        await asyncio.sleep(0.01)
    return time.monotonic() - started


async def test_nodes_starting_together_apply_each_migration_once(database: str) -> None:
    stores = [PostgresStore(database) for _ in range(6)]
    try:
        await asyncio.gather(*(store.open() for store in stores))
    finally:
        await asyncio.gather(*(store.close() for store in stores))
    with psycopg.connect(database) as conn:
        versions = [row[0] for row in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]
    assert versions == sorted(set(versions)) and versions[0] == 1
    assert versions == [version for version, _ in migrations()]  # every one, once


async def test_a_rule_change_is_announced_to_the_other_nodes_within_a_second(nodes) -> None:
    heard_by_a: list[str | None] = []
    heard_by_b: list[str | None] = []
    a = await nodes(subscribe={RULES_CHANNEL: heard_by_a.append})
    b = await nodes(subscribe={RULES_CHANNEL: heard_by_b.append})
    async with b.transaction() as tx:
        await tx.put("rule", A, R, "r1", {"Name": "r1"}, parent="orders")
        await tx.put("tags", A, R, "arn:x", {"Tags": {}})  # not a rule: not announced
    took = await wait_for(lambda: len(heard_by_a) == 1, timeout=1.0)
    assert heard_by_a == [f"{A}\t{R}\torders"], took
    async with b.transaction() as tx:
        await tx.delete("rule", A, R, "r1", parent="orders")
    await wait_for(lambda: len(heard_by_a) == 2, timeout=1.0)
    with pytest.raises(RuntimeError):
        async with a.transaction() as tx:
            await tx.put("rule", A, R, "rolled-back", {}, parent="orders")
            raise RuntimeError("never committed: never announced")
    await asyncio.sleep(0.2)
    assert len(heard_by_a) == 2
    assert heard_by_b == []  # a node does not hear its own changes; it applies them itself


async def test_new_pending_deliveries_wake_the_other_nodes(nodes) -> None:
    woken: list[str | None] = []
    await nodes(subscribe={DELIVERIES_CHANNEL: woken.append})
    writer = await nodes()
    event = NewEvent("e1", "id-1", A, R, "default", 1000.0, "{}")
    delivery = NewDelivery(
        "d1",
        "e1",
        A,
        R,
        "default",
        "arn:rule",
        "t",
        "arn:aws:sqs:us-east-1:1:q",
        "{}",
        PENDING,
        1000.0,
        1000.0,
    )
    await writer.append_events([event], [delivery])
    await wait_for(lambda: len(woken) >= 1, timeout=1.0)


async def test_a_nul_character_is_unstorable_not_a_driver_error(nodes) -> None:
    """PostgreSQL text cannot hold U+0000: the store says so with Unstorable (the wire layer answers a
    ValidationException), for a parameter psycopg refuses and for JSON rows the server refuses, and it
    keeps nothing of the refused commit."""
    store = await nodes()
    with pytest.raises(Unstorable):
        async with store.transaction() as tx:
            await tx.get("rule", A, R, "r\x00", parent="default")
    event = NewEvent("e1", "id-1", A, R, "default", 1000.0, "{}")
    bad = NewDelivery(
        "d1", "e1", A, R, "default", "arn:rule", "t", "arn:q\x00", "{}", PENDING, 1000.0, 1000.0
    )
    with pytest.raises(Unstorable):
        await store.append_events([event], [bad])
    assert await store.find_event("id-1") == []
    async with store.transaction() as tx:  # and the store goes on working
        assert await tx.get("rule", A, R, "r", parent="default") is None


async def test_a_lost_listening_connection_tells_subscribers_they_may_have_missed_something(
    nodes, database: str
) -> None:
    heard: list[str | None] = []
    node = await nodes(subscribe={RULES_CHANNEL: heard.append})
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            (node.origin,),
        )
    await wait_for(lambda: None in heard, timeout=5.0)
    writer = await nodes()
    async with writer.transaction() as tx:
        await tx.put("rule", A, R, "after", {}, parent="default")
    await wait_for(lambda: f"{A}\t{R}\tdefault" in heard, timeout=1.0)  # listening again


async def test_a_read_modify_write_race_is_contention_not_a_lost_update(nodes) -> None:
    a, b = await nodes(), await nodes()
    async with a.transaction() as tx:
        await tx.put("rule", A, R, "r", {"Targets": []}, parent="default")
    both_read = asyncio.Barrier(2)

    async def add_target(store: PostgresStore, target: str) -> str:
        try:
            async with store.transaction() as tx:
                rule = await tx.get("rule", A, R, "r", parent="default")
                assert rule is not None
                await both_read.wait()
                rule["Targets"].append(target)
                await tx.put("rule", A, R, "r", rule, parent="default")
            return "written"
        except Contention:
            return "contention"

    outcomes = await asyncio.gather(add_target(a, "t1"), add_target(b, "t2"))
    assert sorted(outcomes) == ["contention", "written"]
    async with a.transaction() as tx:
        rule = await tx.get("rule", A, R, "r", parent="default")
    assert rule is not None and len(rule["Targets"]) == 1


async def test_exclusive_work_is_refused_on_every_other_node(nodes) -> None:
    a, b = await nodes(), await nodes()
    async with a.exclusive("partner-source-expiry") as got_a, b.exclusive("partner-source-expiry") as got_b:
        assert (got_a, got_b) == (True, False)
    async with b.exclusive("partner-source-expiry") as got_b:
        assert got_b is True


async def test_open_gives_up_when_there_is_no_database() -> None:
    store = PostgresStore("postgresql://postgres@127.0.0.1:9/none", startup_timeout=1.0)
    started = time.monotonic()
    with pytest.raises(StoreUnavailable):
        await store.open()
    assert time.monotonic() - started < 10


async def test_a_database_restart_fails_calls_fast_and_the_store_recovers_by_itself() -> None:
    cluster = PgCluster(max_connections=50).start()
    heard: list[str | None] = []
    store = PostgresStore(create_database(cluster.url), acquire_timeout=5.0, down_acquire_timeout=1.0)
    store.subscribe(RULES_CHANNEL, heard.append)
    try:
        await store.open()
        async with store.transaction() as tx:
            await tx.put("event_bus", A, R, "before", {"Name": "before"})
        cluster.stop()  # pg_ctl stop -m fast: every connection is closed
        for _ in range(3):
            started = time.monotonic()
            with pytest.raises(StoreUnavailable):
                async with store.transaction() as tx:
                    await tx.get("event_bus", A, R, "before")
            assert time.monotonic() - started < 3.0
        cluster.start()
        deadline = time.monotonic() + 15
        while True:
            try:
                async with store.transaction() as tx:
                    assert await tx.get("event_bus", A, R, "before") == {"Name": "before"}
                break
            except StoreUnavailable:
                assert time.monotonic() < deadline, "the store did not recover within 15 s"
                await asyncio.sleep(0.2)
        await wait_for(lambda: None in heard, timeout=10)  # listening again, and said so
    finally:
        await store.close()
        cluster.destroy()
