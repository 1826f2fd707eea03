"""The Store interface, tested directly: one suite that SQLite and PostgreSQL must both pass."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import itertools
import json
from collections.abc import AsyncIterator, Callable

import pytest

from eventyard.store import open_store
from eventyard.store.base import Conflict, Store
from eventyard.store.outbox import (
    DELIVERED,
    IN_FLIGHT,
    PENDING,
    DeliveryOutcome,
    DeliveryRecord,
    NewDelivery,
    NewEvent,
    id_floor,
    inline_deliveries,
)
from eventyard.store.postgres import COPY_MIN_ROWS

pytestmark = pytest.mark.anyio

A, B = "111111111111", "222222222222"
R = "us-east-1"
_ids = itertools.count(1)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def shared_url(new_store_url: Callable[[], str]) -> str:
    return new_store_url()


@pytest.fixture
async def store_url(store_kind: str, shared_url: str, new_store_url: Callable[[], str]) -> str:
    """The URL of an empty store. PostgreSQL databases are slow to create (a quarter of a second), so the
    tests share one and empty it first; SQLite gets a new file each time."""
    if store_kind == "postgresql":
        await _empty(shared_url)
        return shared_url
    return new_store_url()


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    """An open, empty store."""
    opened = open_store(store_url)
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


async def _empty(url: str) -> None:
    import psycopg

    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        exists = await (await conn.execute("SELECT to_regclass('resources') IS NOT NULL")).fetchone()
        if exists and exists[0]:
            await conn.execute("TRUNCATE resources, events, deliveries, rate_buckets")


# -- resources ---------------------------------------------------------------------------------------


async def test_insert_get_put_delete(store: Store) -> None:
    async with store.transaction() as tx:
        await tx.insert("event_bus", A, R, "orders", {"Name": "orders", "n": 1})
        assert await tx.get("event_bus", A, R, "orders") == {"Name": "orders", "n": 1}
    async with store.transaction() as tx:
        assert await tx.get("event_bus", A, R, "orders") == {"Name": "orders", "n": 1}
        assert await tx.get("event_bus", B, R, "orders") is None  # accounts are separate
        assert await tx.get("event_bus", A, "eu-west-1", "orders") is None  # and regions
        await tx.put("event_bus", A, R, "orders", {"Name": "orders", "n": 2})
        assert await tx.get("event_bus", A, R, "orders") == {"Name": "orders", "n": 2}
        assert await tx.delete("event_bus", A, R, "orders") is True
        assert await tx.delete("event_bus", A, R, "orders") is False
        assert await tx.get("event_bus", A, R, "orders") is None


async def test_insert_of_an_existing_key_is_a_conflict_and_the_transaction_goes_on(store: Store) -> None:
    async with store.transaction() as tx:
        await tx.insert("rule", A, R, "r", {"v": 1}, parent="default")
    async with store.transaction() as tx:
        with pytest.raises(Conflict):
            await tx.insert("rule", A, R, "r", {"v": 2}, parent="default")
        await tx.insert("rule", A, R, "r2", {"v": 3}, parent="default")  # still usable after the Conflict
    async with store.transaction() as tx:
        assert await tx.get("rule", A, R, "r", parent="default") == {"v": 1}
        assert await tx.get("rule", A, R, "r2", parent="default") == {"v": 3}


async def test_a_failed_transaction_leaves_nothing(store: Store) -> None:
    with pytest.raises(RuntimeError):
        async with store.transaction() as tx:
            await tx.put("event_bus", A, R, "half", {"Name": "half"})
            raise RuntimeError("the operation failed")
    async with store.transaction() as tx:
        assert await tx.get("event_bus", A, R, "half") is None


async def test_list_is_in_byte_order_with_prefix_after_and_limit(store: Store) -> None:
    names = ["b", "B", "a-1", "a_1", "a", "Z", "ä", "a1"]
    async with store.transaction() as tx:
        for name in names:
            await tx.put("rule", A, R, name, {"Name": name}, parent="bus")
        await tx.put("rule", A, R, "other", {"Name": "other"}, parent="another-bus")
        await tx.put("rule", B, R, "foreign", {"Name": "foreign"}, parent="bus")
    async with store.transaction() as tx:
        listed = [d["Name"] for d in await tx.list("rule", A, R, parent="bus")]
        assert listed == sorted(names, key=lambda n: n.encode())  # as SQLite compares: bytes
        assert [d["Name"] for d in await tx.list("rule", A, R, parent="bus", prefix="a")] == [
            "a", "a-1", "a1", "a_1",
        ]  # fmt: skip
        assert [d["Name"] for d in await tx.list("rule", A, R, parent="bus", after="a1", limit=2)] == [
            "a_1", "b",
        ]  # fmt: skip
        across = [d["Name"] for d in await tx.list("rule", A, R, parent=None)]
        assert across == ["other", *sorted(names, key=lambda n: n.encode())]  # by parent, then name
        assert await tx.count("rule", A, R, parent="bus") == len(names)
        assert await tx.count("rule", A, R, parent=None) == len(names) + 1
        assert await tx.count("rule", B, R, parent="bus") == 1


async def test_by_ref_find_and_everywhere_reach_across_accounts(store: Store) -> None:
    async with store.transaction() as tx:
        await tx.put("partner_source", A, R, "aws.partner/x.com/2", {"n": 2}, ref=B)
        await tx.put("partner_source", A, R, "aws.partner/x.com/1", {"n": 1}, ref=B)
        await tx.put("partner_source", A, R, "aws.partner/x.com/3", {"n": 3}, ref=A)
        await tx.put("event_bus", A, R, "same", {"who": A})
        await tx.put("event_bus", B, R, "same", {"who": B})
    async with store.transaction() as tx:
        assert await tx.by_ref("partner_source", R, B) == [(A, {"n": 1}), (A, {"n": 2})]
        assert sorted(await tx.find("event_bus", R, "same")) == [(A, {"who": A}), (B, {"who": B})]
        assert await tx.find("event_bus", "eu-west-1", "same") == []
        await tx.put("rule", B, "eu-west-1", "r", {"n": "B eu"}, parent="default")
        await tx.put("rule", A, R, "r", {"n": "A"}, parent="default")
        await tx.put("rule", A, R, "x", {"n": "A other bus"}, parent="other")
    async with store.transaction() as tx:
        assert await tx.everywhere("rule", parent="default") == [
            (A, R, {"n": "A"}),
            (B, "eu-west-1", {"n": "B eu"}),
        ]
        assert await tx.everywhere("event_bus") == [(A, R, {"who": A}), (B, R, {"who": B})]


async def test_reopening_keeps_everything_and_migrates_nothing_twice(
    new_store_url: Callable[[], str],
) -> None:
    url = new_store_url()
    first = open_store(url)
    await first.open()
    async with first.transaction() as tx:
        await tx.put("event_bus", A, R, "kept", {"Name": "kept"})
    await first.close()
    second = open_store(url)
    await second.open()
    try:
        async with second.transaction() as tx:
            assert await tx.get("event_bus", A, R, "kept") == {"Name": "kept"}
    finally:
        await second.close()


# -- one node at a time ------------------------------------------------------------------------------


async def test_exclusive_refuses_a_second_holder_until_the_first_leaves(store: Store) -> None:
    async with store.exclusive("retention") as first:
        assert first is True
        async with store.exclusive("retention") as second:
            assert second is False
        async with store.exclusive("expiry") as other:
            assert other is True  # another name is another lock
    async with store.exclusive("retention") as again:
        assert again is True


# -- the outbox --------------------------------------------------------------------------------------


def _event(bus: str = "default", at: float = 1000.0, event_id: str | None = None) -> NewEvent:
    n = next(_ids)
    return NewEvent(
        id=f"{id_floor(at)}{n:08d}e", event_id=event_id or f"id-{n}", account=A, region=R, bus=bus, ingested_at=at,
        body=f'{{"n": {n}}}',
    )  # fmt: skip


def _delivery(event: NewEvent, due: float = 1000.0, target: str = "arn:aws:sqs:us-east-1:1:q") -> NewDelivery:
    n = next(_ids)
    return NewDelivery(
        id=f"{id_floor(event.ingested_at)}{n:08d}d", event_ref=event.id, account=A, region=R, bus=event.bus,
        rule_arn=f"arn:aws:events:{R}:{A}:rule/r", target_id="t", target_arn=target,
        target=f'{{"Id": "t", "Arn": "{target}"}}', state=PENDING, due_at=due, created_at=event.ingested_at,
    )  # fmt: skip


async def test_claims_take_due_deliveries_earliest_first_with_their_event(store: Store) -> None:
    events = [_event() for _ in range(3)]
    late, early, future = _delivery(events[0], 1002), _delivery(events[1], 1001), _delivery(events[2], 5000)
    await store.append_events(events, [late, early, future])
    [first] = await store.claim_deliveries("node-a", now=1010, lease_seconds=30, limit=1)
    assert first.id == early.id
    [second] = await store.claim_deliveries("node-a", now=1010, lease_seconds=30, limit=10)
    assert second.id == late.id  # `future` is not due
    assert first.event_id == events[1].event_id and first.body == events[1].body
    assert first.target == {"Id": "t", "Arn": "arn:aws:sqs:us-east-1:1:q"}
    assert first.lease_expires_at == 1040 and first.attempts == 0
    assert await store.claim_deliveries("node-b", now=1010, lease_seconds=30, limit=10) == []
    assert await store.next_due_at() == 1040  # the leases' end comes before `future`


async def test_concurrent_claims_never_share_a_delivery(store: Store) -> None:
    events = [_event() for _ in range(60)]
    await store.append_events(events, [_delivery(e) for e in events])
    batches = await asyncio.gather(
        *(store.claim_deliveries(f"node-{i}", now=1001, lease_seconds=30, limit=7) for i in range(12))
    )
    ids = [c.id for batch in batches for c in batch]
    assert len(ids) == len(set(ids)) == 60


async def test_an_expired_lease_is_claimed_again_and_the_old_owner_cannot_record(store: Store) -> None:
    event = _event()
    delivery = _delivery(event)
    await store.append_events([event], [delivery])
    [held] = await store.claim_deliveries("dead-node", now=1000, lease_seconds=30, limit=1)
    assert await store.claim_deliveries("node-b", now=1029, lease_seconds=30, limit=1) == []
    [taken] = await store.claim_deliveries("node-b", now=1031, lease_seconds=30, limit=1)
    assert taken.id == held.id
    late = DeliveryOutcome(id=held.id, lease_owner="dead-node", state=DELIVERED, attempts=1, due_at=1031)
    assert await store.record_outcomes([late], now=1032) == 0
    done = DeliveryOutcome(id=held.id, lease_owner="node-b", state=DELIVERED, attempts=1, due_at=1032)
    assert await store.record_outcomes([done], now=1032) == 1
    [record] = await store.find_event(event.event_id)
    assert [(d.state, d.attempts, d.lease_owner) for d in record.deliveries] == [(DELIVERED, 1, None)]
    assert await store.next_due_at() is None


async def test_a_retry_is_claimable_when_due(store: Store) -> None:
    event = _event()
    await store.append_events([event], [_delivery(event)])
    [held] = await store.claim_deliveries("n", now=1000, lease_seconds=30, limit=1)
    assert held.last_error is None
    retry = DeliveryOutcome(
        id=held.id, lease_owner="n", state=PENDING, attempts=1, due_at=1060, last_error="THROTTLING"
    )
    assert await store.record_outcomes([retry], now=1001) == 1
    assert await store.next_due_at() == 1060
    assert await store.claim_deliveries("n", now=1059, lease_seconds=30, limit=1) == []
    [again] = await store.claim_deliveries("m", now=1060, lease_seconds=30, limit=1)
    assert (again.attempts, again.last_error) == (1, "THROTTLING")  # what a retry past the age limit reports
    done = DeliveryOutcome(id=held.id, lease_owner="m", state=DELIVERED, attempts=2, due_at=1061)
    assert await store.record_outcomes([done], now=1061) == 1
    [record] = (await store.find_event(event.event_id))[0].deliveries
    assert (record.state, record.attempts, record.last_error) == (DELIVERED, 2, "THROTTLING")  # kept


async def test_a_claim_that_leaves_targets_out_also_carries_the_last_error(store: Store) -> None:
    event = _event()
    await store.append_events([event], [_delivery(event)])
    [held] = await store.claim_deliveries("n", now=1000, lease_seconds=30, limit=1)
    retry = DeliveryOutcome(
        id=held.id, lease_owner="n", state=PENDING, attempts=2, due_at=1060, last_error="TIMEOUT: no answer"
    )
    assert await store.record_outcomes([retry], now=1001) == 1
    [again] = await store.claim_deliveries("m", now=1060, lease_seconds=30, limit=1, exclude_targets=["x"])
    assert (again.id, again.attempts, again.last_error) == (held.id, 2, "TIMEOUT: no answer")


async def test_claims_skip_excluded_targets(store: Store) -> None:
    event = _event()
    busy, free, other = (f"arn:aws:sqs:us-east-1:1:{name}" for name in ("busy", "free", "other"))
    backlog = [_delivery(event, 1000, busy) for _ in range(20)]
    await store.append_events(
        [event], [*backlog, _delivery(event, 1002, free), _delivery(event, 1001, other)]
    )
    assert await store.next_due_at() == 1000
    assert await store.next_due_at(exclude_targets=[busy]) == 1001
    assert await store.next_due_at(exclude_targets=[busy, other, free]) is None
    [first] = await store.claim_deliveries("n", now=2000, lease_seconds=30, limit=1, exclude_targets=[busy])
    assert first.target_arn == other  # the earliest due of the targets left
    claimed = await store.claim_deliveries("n", now=2000, lease_seconds=30, limit=10, exclude_targets=[busy])
    assert [c.target_arn for c in claimed] == [free]


async def test_deliveries_handed_straight_to_the_accepting_node_are_leased(store: Store) -> None:
    event = _event()
    mine = _delivery(event)
    leased = dataclasses.replace(mine, state=IN_FLIGHT, due_at=1030, lease_owner="me")
    await store.append_events([event], [leased])
    assert await store.claim_deliveries("other", now=1029, lease_seconds=30, limit=1) == []
    done = DeliveryOutcome(id=mine.id, lease_owner="me", state=DELIVERED, attempts=1, due_at=1001)
    assert await store.record_outcomes([done], now=1001) == 1


async def test_find_event_lists_each_bus_copy_and_its_deliveries(store: Store) -> None:
    first, copy = _event("default", event_id="shared"), _event("audit", event_id="shared")
    bus_target = f"arn:aws:events:{R}:{A}:event-bus/audit"
    made_at_publishing = inline_deliveries(
        [(f"{first.id}-x", f"arn:aws:events:{R}:{A}:rule/r", "b", bus_target)]
    )
    first = dataclasses.replace(first, delivered=made_at_publishing)
    await store.append_events([first, copy], [_delivery(first), _delivery(copy)])
    records = await store.find_event("shared")
    assert [(r.bus, len(r.deliveries)) for r in records] == [("default", 2), ("audit", 1)]
    assert sorted((d.state, d.attempts) for d in records[0].deliveries) == [(DELIVERED, 1), (PENDING, 0)]
    assert await store.find_event("missing") == []


async def test_purge_removes_finished_deliveries_and_then_their_events(store: Store) -> None:
    old, kept = _event(at=100), _event(at=100)
    finished, pending = _delivery(old), _delivery(kept)
    await store.append_events([old, kept], [finished, pending])
    [held] = await store.claim_deliveries("n", now=1000, lease_seconds=30, limit=1)
    assert held.id == finished.id
    await store.record_outcomes(
        [DeliveryOutcome(id=held.id, lease_owner="n", state=DELIVERED, attempts=1, due_at=1000)], now=1000
    )
    assert await store.purge_outbox(before=999, limit=100) == 0  # finished after the cut-off
    assert await store.purge_outbox(before=1001, limit=100) == 2  # the delivery, then its event
    assert await store.find_event(old.event_id) == []
    assert len((await store.find_event(kept.event_id))[0].deliveries) == 1  # still pending: kept


async def test_a_large_commit_keeps_every_row(store: Store) -> None:
    # Large enough for PostgreSQL's COPY path (postgres.COPY_MIN_ROWS), and a small one for its JSON path.
    assert 2 * 3 < COPY_MIN_ROWS <= 2 * 150
    for count in (150, 3):
        events = [
            dataclasses.replace(_event(event_id=f"bulk-{count}-{i}"), via=f"arn:aws:events:{R}:{A}:rule/{i}")
            for i in range(count)
        ]
        deliveries = [_delivery(e, due=900 + i) for i, e in enumerate(events)]
        # Every other one handed straight to the accepting node: state and lease_owner go in as given.
        deliveries = [
            dataclasses.replace(d, state=IN_FLIGHT, lease_owner="me") if i % 2 else d
            for i, d in enumerate(deliveries)
        ]
        # Every event also has two deliveries made while publishing, one id before its row's and one after.
        rule, bus = f"arn:aws:events:{R}:{A}:rule/to-bus", f"arn:aws:events:{R}:{A}:event-bus/b"
        inline = {
            d.event_ref: [(d.id[:-1] + "a", rule, "b1", bus), (d.id[:-1] + "z", rule, "b2", bus)]
            for d in deliveries
        }
        events = [dataclasses.replace(e, delivered=inline_deliveries(inline[e.id])) for e in events]
        await store.append_events(events, deliveries)
        for event in (events[0], events[-1]):
            [record] = await store.find_event(event.event_id)
            assert (record.id, record.body) == (event.id, event.body)
            assert (record.account, record.region, record.bus, record.ingested_at) == (
                event.account, event.region, event.bus, event.ingested_at,
            )  # fmt: skip
            [d] = [d for d in deliveries if d.event_ref == event.id]
            made_at_publishing = [
                DeliveryRecord(id_, A, R, event.bus, rule, target_id, bus, DELIVERED, 1, event.ingested_at, None,
                               None, event.ingested_at, event.ingested_at)
                for id_, rule, target_id, bus in inline[event.id]
            ]  # fmt: skip
            assert record.deliveries == [
                made_at_publishing[0],
                DeliveryRecord(
                    d.id, d.account, d.region, d.bus, d.rule_arn, d.target_id, d.target_arn, d.state, d.attempts,
                    d.due_at, None, d.lease_owner, d.created_at, d.created_at,
                ),
                made_at_publishing[1],
            ]  # fmt: skip
        claimed = await store.claim_deliveries("n", now=10_000, lease_seconds=30, limit=1000)
        assert sorted(c.id for c in claimed) == sorted(d.id for d in deliveries)
        assert {c.body for c in claimed} == {e.body for e in events}
        by_id = {d.id: d for d in deliveries}
        events_by_id = {e.id: e for e in events}
        for c in claimed:
            d, e = by_id[c.id], events_by_id[c.event_ref]
            assert (c.event_id, c.body, c.ingested_at, c.via) == (e.event_id, e.body, e.ingested_at, e.via)
            assert (c.account, c.region, c.bus, c.rule_arn, c.target_id, c.target_arn) == (
                d.account, d.region, d.bus, d.rule_arn, d.target_id, d.target_arn,
            )  # fmt: skip
            assert (c.target, c.attempts, c.created_at) == (json.loads(d.target), d.attempts, d.created_at)


# -- rate limits shared by the nodes -------------------------------------------------------------------


async def test_a_token_bucket_grants_what_it_holds_and_refills_at_its_rate(store: Store) -> None:
    bucket = "arn:aws:events:us-east-1:111111111111:api-destination/hook/1"
    take = functools.partial(store.take_tokens, bucket, rate=4.0, capacity=5)
    assert await take(3, now=1000.0) == (3, 2.0)  # a new bucket starts full
    assert await take(3, now=1000.0) == (2, 0.0)  # what is left, not more
    assert await take(1, now=1000.0) == (0, 0.0)
    assert await take(3, now=1000.25) == (1, 0.0)  # a quarter of a second at 4 a second: one token
    granted, left = await take(1, now=1000.375)
    assert granted == 0 and left == pytest.approx(0.5)  # half a token: the next whole one in 1/8 s
    assert await take(1, now=999.0) == (0, pytest.approx(0.5))  # an earlier time refills nothing...
    assert await take(1, now=1000.5) == (1, pytest.approx(0.0))  # ... and is not counted twice
    assert await take(10, now=2000.0) == (5, 0.0)  # a long pause fills it to its capacity, no more
    assert await store.take_tokens(bucket, 10, rate=4.0, capacity=2, now=3000.0) == (2, 0.0)  # new capacity
    assert await store.take_tokens("another", 1, rate=1.0, capacity=1, now=3000.0) == (1, 0.0)  # its own


async def test_concurrent_takes_from_two_connections_never_exceed_the_bucket(store_url: str) -> None:
    """Two stores on one database, as two nodes: 2 x 60 takes of up to 3 tokens race for a bucket of 50;
    together they get exactly 50 at one instant, and then only what it refills."""
    nodes = [open_store(store_url), open_store(store_url)]
    for node in nodes:
        await node.open()
    try:

        async def takes(now: float) -> list[int]:
            results = await asyncio.gather(
                *(node.take_tokens("shared", 3, rate=100.0, capacity=50, now=now) for node in nodes * 60)
            )
            return [granted for granted, _ in results]

        first = await takes(1000.0)
        assert sum(first) == 50 and max(first) == 3
        assert sum(await takes(1000.0)) == 0
        assert sum(await takes(1000.1)) == 10  # 0.1 s at 100 a second
    finally:
        for node in nodes:
            await node.close()
