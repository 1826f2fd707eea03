"""Scheduled rules on several nodes of one PostgreSQL database: each fire time is fired once, whichever node's
clock reaches it first, and a node killed outright does not stop the schedule."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.api.delivery_helpers import wait_for
from tests.fixtures_aws import Receiver
from tests.support import ServerProcess, api_destination, new_account


@pytest.fixture
def two_nodes(pg_database: Callable[[], str]) -> Iterator[list[ServerProcess]]:
    url = pg_database()
    nodes = [ServerProcess(url, "--node-id", f"node-{i}") for i in range(2)]
    try:
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda node: node.start(), nodes))
        yield nodes
    finally:
        for node in nodes:
            node.stop()


def scheduled_count(node: ServerProcess, account: str) -> float:
    text = httpx.get(f"{node.url}/metrics", timeout=10).text
    prefix = f'eventyard_scheduled_events_total{{account="{account}",'
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix))


def test_each_fire_time_is_fired_once_across_nodes(
    two_nodes: list[ServerProcess], receiver: Receiver
) -> None:
    a, b = two_nodes
    account = new_account()
    # Both clocks to one second past a whole minute, so that only the test's moves cross minutes.
    now = httpx.post(f"{a.url}/_eventyard/clock", json={"advance": 0}, timeout=10).json()["now"]
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda node: node.advance_clock(61 - now % 60), (a, b)))
    via_a = a.client(account=account)
    via_a.put_rule(Name="tick", ScheduleExpression="rate(1 minute)")
    via_a.put_targets(
        Rule="tick", Targets=[{"Id": "t", "Arn": api_destination(via_a, f"{receiver.url}/tick")}]
    )

    # Both clocks move together, at the same moment: both nodes try every fire time.
    with ThreadPoolExecutor(2) as pool:
        for _ in range(5):
            list(pool.map(lambda node: node.advance_clock(60), (a, b)))
    assert len(fired_events(receiver, 5)) == 5
    assert scheduled_count(a, account) + scheduled_count(b, account) == 5

    # One node dies; the other keeps the schedule alone. (A delivery the dead node made but had not yet
    # recorded is made again once its lease ends, as delivery is at least once: same event, same id.)
    a.kill()
    for _ in range(2):
        b.advance_clock(60)
    ids = fired_events(receiver, 7)
    assert len(ids) == 7
    for event_id in ids:  # each published once: one stored event, one delivery (perhaps made twice)
        found = httpx.get(f"{b.url}/_eventyard/deliveries", params={"event_id": event_id}, timeout=10).json()
        assert (len(found["events"]), len(found["deliveries"])) == (1, 1), found


def fired_events(receiver: Receiver, count: int) -> set[str]:
    """The ids of the events at the receiver once `count` fire times have arrived, one id per fire time."""

    def ids_by_time() -> dict[str, set[str]] | None:
        found: dict[str, set[str]] = defaultdict(set)
        for request in receiver.at("/tick"):
            event = request.json()
            found[event["time"]].add(event["id"])
        return found if len(found) >= count else None

    found = wait_for(ids_by_time, what=f"{count} fire times")
    assert all(len(ids) == 1 for ids in found.values()), found
    return {event_id for ids in found.values() for event_id in ids}
