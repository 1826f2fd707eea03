"""Scheduled rules on several nodes of one PostgreSQL database: each fire time is fired once, whichever node's
clock reaches it first, and a node killed outright does not stop the schedule."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

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
    received = receiver.wait_for("/tick", 5)
    assert scheduled_count(a, account) + scheduled_count(b, account) == 5
    times = Counter(request.json()["time"] for request in received)
    assert len(times) == 5 and set(times.values()) == {1}, times

    # One node dies holding nothing in particular; the other keeps the schedule alone.
    a.kill()
    for _ in range(2):
        b.advance_clock(60)
    received = receiver.wait_for("/tick", 7)
    times = Counter(request.json()["time"] for request in received)
    assert len(times) == 7 and set(times.values()) == {1}, times
    assert len({request.json()["id"] for request in received}) == 7
