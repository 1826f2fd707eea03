"""Helpers for tests of PutEvents and delivery: the operator's view of an event, and bounded waiting."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from tests.support import ServerProcess, new_account

if TYPE_CHECKING:
    from tests.fixtures_aws import MotoServer

T = TypeVar("T")


def deliveries_of(server: ServerProcess, event_id: str) -> dict[str, Any] | None:
    """`GET /_eventyard/deliveries?event_id=...`, or None if the event is not stored."""
    response = httpx.get(f"{server.url}/_eventyard/deliveries", params={"event_id": event_id}, timeout=10)
    if response.status_code == 404:
        return None
    response.raise_for_status()
    return response.json()  # type: ignore[no-any-return]


def wait_for(check: Callable[[], T | None], timeout: float = 10.0, what: str = "condition") -> T:
    """Poll `check` (every 20 ms, at most `timeout` seconds) until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def states(server: ServerProcess, event_id: str) -> list[tuple[str, str, str]]:
    """(bus name, target id, state) of every delivery of the event, sorted."""
    found = deliveries_of(server, event_id) or {"deliveries": []}
    return sorted(
        (d["event_bus"].rsplit("/", 1)[-1], d["target_id"], d["state"]) for d in found["deliveries"]
    )


def settled(server: ServerProcess, event_id: str, count: int) -> list[tuple[str, str, str]]:
    """`states` of an event once `count` deliveries exist and none is pending or in flight."""

    def done() -> list[tuple[str, str, str]] | None:
        found = states(server, event_id)
        if len(found) == count and all(state not in ("pending", "in-flight") for *_, state in found):
            return found
        return None

    return wait_for(done, what=f"{count} finished deliveries of {event_id}")


def events_on(server: ServerProcess, event_id: str) -> dict[str, dict[str, Any]]:
    """The stored copies of an event by bus ARN."""
    found = deliveries_of(server, event_id) or {"events": []}
    return {copy["event_bus"]: copy["event"] for copy in found["events"]}


def entry(detail: str = '{"k": "v"}', **fields: Any) -> dict[str, Any]:
    """A valid PutEvents entry; keyword arguments add or replace fields."""
    return {"Source": "com.example.shop", "DetailType": "OrderPlaced", "Detail": detail, **fields}


class RuleOwner:
    """A fresh account on the server with a rule `rule` for the shop's events (`entry`) on its default bus, and
    its SQS on moto: target things with the rule (one target, `t`) and follow an event's one delivery."""

    def __init__(self, server: ServerProcess, moto: MotoServer, rule: str) -> None:
        self.server = server
        self.rule = rule
        self.account = new_account()
        self.events = server.client(account=self.account)
        self.sqs = moto.sqs(self.account)
        self.events.put_rule(Name=rule, EventPattern='{"source": ["com.example.shop"]}')

    def target(self, **target: Any) -> None:
        self.events.put_targets(Rule=self.rule, Targets=[{"Id": "t", **target}])

    def delivery(self, event_id: str) -> dict[str, Any]:
        (record,) = deliveries_of(self.server, event_id)["deliveries"]  # type: ignore[index]
        return record  # type: ignore[no-any-return]

    def finished(self, event_id: str) -> dict[str, Any]:
        def done() -> dict[str, Any] | None:
            record = self.delivery(event_id)
            return record if record["state"] not in ("pending", "in-flight") else None

        return wait_for(done, what=f"the delivery of {event_id} to finish")
