"""The outbox methods of the SQLite store: appending, claiming with leases, outcomes, look-ups, retention."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path

from eventyard.store.outbox import DeliveryOutcome, NewDelivery, NewEvent, id_floor
from eventyard.store.sqlite import SqliteStore

A, R = "111111111111", "us-east-1"


def event(row: str, event_id: str, at: float = 100.0) -> NewEvent:
    return NewEvent(row, event_id, A, R, "default", at, json.dumps({"id": event_id}))


def delivery(
    row: str, event_row: str, due: float = 100.0, target: str = "arn:t1", **fields: object
) -> NewDelivery:
    values: dict[str, object] = {
        "id": row,
        "event_ref": event_row,
        "account": A,
        "region": R,
        "bus": "default",
        "rule_arn": "arn:rule",
        "target_id": "t",
        "target_arn": target,
        "target": json.dumps({"Id": "t", "Arn": target}),
        "state": "pending",
        "due_at": due,
        "created_at": 100.0,
        **fields,
    }
    return NewDelivery(**values)  # type: ignore[arg-type]


def with_store(scenario: Callable[[SqliteStore], Awaitable[None]], path: str = ":memory:") -> None:
    async def main() -> None:
        store = SqliteStore(path)
        await store.open()
        try:
            await scenario(store)
        finally:
            await store.close()

    asyncio.run(main())


def test_claims_take_due_deliveries_earliest_first_and_lease_them():
    async def scenario(store: SqliteStore) -> None:
        await store.append_events(
            [event("e1", "id-1")],
            [delivery("d1", "e1", due=103), delivery("d2", "e1", due=101), delivery("d3", "e1", due=500)],
        )
        assert await store.next_due_at() == 101
        claimed = await store.claim_deliveries("node-a", now=200, lease_seconds=60, limit=10)
        assert [c.id for c in claimed] == ["d2", "d1"]
        assert claimed[0].lease_expires_at == 260 and claimed[0].body == '{"id": "id-1"}'
        assert claimed[0].target == {"Id": "t", "Arn": "arn:t1"} and claimed[0].event_id == "id-1"
        assert await store.claim_deliveries("node-b", now=200, lease_seconds=60, limit=10) == []
        assert await store.next_due_at() == 260  # in flight until the lease ends
        # The lease ends: another node takes them over.
        taken = await store.claim_deliveries("node-b", now=261, lease_seconds=60, limit=1)
        assert len(taken) == 1 and taken[0].id in {"d1", "d2"} and taken[0].lease_expires_at == 321

    with_store(scenario)


def test_claims_skip_excluded_targets():
    async def scenario(store: SqliteStore) -> None:
        await store.append_events(
            [event("e1", "id-1")],
            [delivery("d1", "e1", target="arn:slow"), delivery("d2", "e1", target="arn:ok")],
        )
        claimed = await store.claim_deliveries(
            "n", now=200, lease_seconds=60, limit=10, exclude_targets=["arn:slow"]
        )
        assert [c.id for c in claimed] == ["d2"]
        assert await store.next_due_at(["arn:ok"]) == 100

    with_store(scenario)


def test_outcomes_apply_only_for_the_holder_of_the_lease():
    async def scenario(store: SqliteStore) -> None:
        await store.append_events([event("e1", "id-1")], [delivery("d1", "e1")])
        await store.claim_deliveries("a", now=200, lease_seconds=60, limit=10)
        stale = DeliveryOutcome("d1", "b", "delivered", 1, 200)
        assert await store.record_outcomes([stale], now=201) == 0
        retry = DeliveryOutcome("d1", "a", "pending", 1, 230, "THROTTLING: slow down")
        assert await store.record_outcomes([retry], now=201) == 1
        assert await store.record_outcomes([retry], now=202) == 0  # no longer in flight
        (found,) = await store.find_event("id-1")
        (record,) = found.deliveries
        assert (record.state, record.attempts, record.due_at, record.lease_owner) == ("pending", 1, 230, None)
        await store.claim_deliveries("a", now=231, lease_seconds=60, limit=10)
        await store.record_outcomes([DeliveryOutcome("d1", "a", "delivered", 2, 240)], now=240)
        (found,) = await store.find_event("id-1")
        record = found.deliveries[0]
        assert (record.state, record.attempts, record.last_error) == ("delivered", 2, "THROTTLING: slow down")
        assert await store.next_due_at() is None

    with_store(scenario)


def test_a_delivery_can_be_stored_already_held_by_the_accepting_node():
    async def scenario(store: SqliteStore) -> None:
        held = delivery("d1", "e1", due=160, state="in-flight", lease_owner="me")
        await store.append_events([event("e1", "id-1")], [held])
        assert await store.claim_deliveries("other", now=159, lease_seconds=60, limit=10) == []
        assert await store.record_outcomes([DeliveryOutcome("d1", "me", "delivered", 1, 150)], now=150) == 1

    with_store(scenario)


def test_find_event_shows_every_bus_the_event_reached():
    async def scenario(store: SqliteStore) -> None:
        await store.append_events([event("e1", "same"), event("e2", "other")], [delivery("d1", "e1")])
        second = NewEvent("e3", "same", "222222222222", "eu-west-1", "central", 101.0, '{"id": "same"}')
        await store.append_events([second], [])
        found = await store.find_event("same")
        assert [(e.account, e.bus, len(e.deliveries)) for e in found] == [
            (A, "default", 1),
            ("222222222222", "central", 0),
        ]
        assert await store.find_event("missing") == []

    with_store(scenario)


def test_appends_are_all_or_nothing():
    async def scenario(store: SqliteStore) -> None:
        await store.append_events([event("e1", "id-1")], [])
        try:
            await store.append_events([event("e2", "id-2"), event("e1", "dup")], [])
        except Exception:
            pass
        else:
            raise AssertionError("a duplicate row id must fail the append")
        assert await store.find_event("id-2") == []

    with_store(scenario)


def test_retention_removes_finished_deliveries_then_their_events():
    async def scenario(store: SqliteStore) -> None:
        # Row ids begin with their time (RowIds), which retention relies on.
        e1, e2, e3, e4 = (
            id_floor(at) + row for at, row in ((100, "e1"), (100, "e2"), (900, "e3"), (100, "e4"))
        )
        d1, d2, d3 = (id_floor(at) + row for at, row in ((100, "d1"), (100, "d2"), (900, "d3")))
        await store.append_events(
            [
                event(e1, "old", at=100),
                event(e2, "open", at=100),
                event(e3, "new", at=900),
                event(e4, "bare"),
            ],
            [delivery(d1, e1), delivery(d2, e2), delivery(d3, e3, created_at=900.0)],
        )
        claimed = await store.claim_deliveries("n", now=100, lease_seconds=60, limit=10)
        assert len(claimed) == 3
        finished = [DeliveryOutcome(d, "n", "delivered", 1, 100) for d in (d1, d3)]
        await store.record_outcomes(finished[:1], now=150)
        await store.record_outcomes(finished[1:], now=950)
        assert await store.purge_outbox(before=500, limit=100) == 3  # d1, then e1 and the bare e4
        assert await store.find_event("old") == [] and await store.find_event("bare") == []
        assert [e.event_id for e in await store.find_event("open")] == ["open"]  # still delivering
        assert [e.event_id for e in await store.find_event("new")] == ["new"]

    with_store(scenario)


def test_recovery_at_start_makes_a_dead_process_deliveries_due(tmp_path: Path):
    path = str(tmp_path / "outbox.db")

    async def first(store: SqliteStore) -> None:
        await store.append_events(
            [event("e1", "id-1")], [delivery("d1", "e1", due=5000, state="in-flight", lease_owner="dead")]
        )

    async def second(store: SqliteStore) -> None:
        assert await store.recover_leases(now=300) == 1
        claimed = await store.claim_deliveries("alive", now=300, lease_seconds=60, limit=10)
        assert [c.id for c in claimed] == ["d1"]

    with_store(first, path)
    with_store(second, path)
