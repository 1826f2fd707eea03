"""Helpers for tests of PutEvents and delivery: the operator's view of an event, and bounded waiting."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx

from tests.support import ServerProcess

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


def events_on(server: ServerProcess, event_id: str) -> dict[str, dict[str, Any]]:
    """The stored copies of an event by bus ARN."""
    found = deliveries_of(server, event_id) or {"events": []}
    return {copy["event_bus"]: copy["event"] for copy in found["events"]}


def entry(detail: str = '{"k": "v"}', **fields: Any) -> dict[str, Any]:
    """A valid PutEvents entry; keyword arguments add or replace fields."""
    return {"Source": "com.example.shop", "DetailType": "OrderPlaced", "Detail": detail, **fields}
