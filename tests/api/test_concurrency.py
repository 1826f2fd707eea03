"""Concurrent requests never corrupt state: each operation runs in one transaction."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import ClientError


def race(clients: list[Any], call: Callable[[Any, int], Any]) -> list[str]:
    """`call(client, index)` for each client at once; each outcome: "ok" or the error code."""

    def attempt(index: int) -> str:
        try:
            call(clients[index], index)
            return "ok"
        except ClientError as error:
            return str(error.response["Error"]["Code"])

    with ThreadPoolExecutor(len(clients)) as pool:
        return list(pool.map(attempt, range(len(clients))))


def test_concurrent_creates_of_one_bus_succeed_once(server, account):
    clients = [server.client(account=account) for _ in range(8)]
    outcomes = race(clients, lambda client, _: client.create_event_bus(Name="contested"))
    assert outcomes.count("ok") == 1
    assert outcomes.count("ResourceAlreadyExistsException") == 7


def test_concurrent_put_targets_never_exceed_five(server, account):
    clients = [server.client(account=account) for _ in range(8)]
    clients[0].put_rule(Name="r", ScheduleExpression="rate(1 hour)")
    outcomes = race(
        clients,
        lambda client, index: client.put_targets(
            Rule="r", Targets=[{"Id": f"t{index}", "Arn": "arn:aws:sqs:us-east-1:1:q"}]
        ),
    )
    assert outcomes.count("ok") == 5
    assert outcomes.count("LimitExceededException") == 3
    assert len(clients[0].list_targets_by_rule(Rule="r")["Targets"]) == 5
