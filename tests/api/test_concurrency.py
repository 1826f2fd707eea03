"""Concurrent requests never corrupt state: each operation runs in one transaction."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from botocore.exceptions import ClientError


def test_concurrent_creates_of_one_bus_succeed_once(server, account):
    clients = [server.client(account=account) for _ in range(8)]

    def create(index: int) -> str:
        try:
            clients[index].create_event_bus(Name="contested")
            return "created"
        except ClientError as error:
            return error.response["Error"]["Code"]

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(create, range(8)))
    assert outcomes.count("created") == 1
    assert outcomes.count("ResourceAlreadyExistsException") == 7


def test_concurrent_put_targets_never_exceed_five(server, account):
    clients = [server.client(account=account) for _ in range(8)]
    clients[0].put_rule(Name="r", ScheduleExpression="rate(1 hour)")

    def add(index: int) -> str:
        try:
            clients[index].put_targets(
                Rule="r", Targets=[{"Id": f"t{index}", "Arn": "arn:aws:sqs:us-east-1:1:q"}]
            )
            return "added"
        except ClientError as error:
            return error.response["Error"]["Code"]

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(add, range(8)))
    assert outcomes.count("added") == 5
    assert outcomes.count("LimitExceededException") == 3
    assert len(clients[0].list_targets_by_rule(Rule="r")["Targets"]) == 5
