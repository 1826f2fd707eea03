"""Operator endpoints of the delivery engine: `GET /_eventyard/deliveries?event_id=...` and `GET /metrics`;
and the engine and the scheduler of scheduled rules, background services of every server."""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson

from eventyard.core import arn as arns
from eventyard.delivery import metrics
from eventyard.delivery.engine import DeliveryEngine
from eventyard.delivery.scheduler import RuleScheduler
from eventyard.errors import AwsError
from eventyard.operations.registry import RouteResponse, route, service
from eventyard.runtime import Runtime
from eventyard.store.outbox import PENDING, DeliveryRecord, EventRecord

_JSON = {"content-type": "application/json"}


@service
def delivery_engine(runtime: Runtime) -> DeliveryEngine:
    return DeliveryEngine(runtime)


@service
def rule_scheduler(runtime: Runtime) -> RuleScheduler:
    return RuleScheduler(runtime)  # after the engine: started after it, stopped before it


def _iso(seconds: float) -> str:
    moment = dt.datetime.fromtimestamp(seconds, dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _delivery(event: EventRecord, record: DeliveryRecord) -> dict[str, Any]:
    view: dict[str, Any] = {
        "event_id": event.event_id,
        "event_bus": arns.event_bus(event.region, event.account, event.bus),
        "rule": record.rule_arn,
        "target_id": record.target_id,
        "target_arn": record.target_arn,
        "state": record.state,
        "attempts": record.attempts,
        "last_error": record.last_error,
        "created_at": _iso(record.created_at),
        "updated_at": _iso(record.updated_at),
    }
    if record.state == PENDING:
        view["next_attempt_at"] = _iso(record.due_at)
    elif record.lease_owner:
        view["node"] = record.lease_owner
        view["lease_expires_at"] = _iso(record.due_at)
    return view


@route("GET", "/_eventyard/deliveries")
async def deliveries(runtime: Runtime, query: dict[str, str], raw: bytes) -> RouteResponse:
    """Every delivery of one event (on every bus it reached): rule, target, state, attempts, last error."""
    event_id = query.get("event_id", "")
    if not event_id:
        raise AwsError("ValidationException", "Give the event's id: /_eventyard/deliveries?event_id=...")
    found = await runtime.store.find_event(event_id) if "\x00" not in event_id else []  # ids are UUIDs
    if not found:
        raise AwsError(
            "ResourceNotFoundException",
            f"No event {event_id} is stored: it was not accepted, was put on a bus that does not exist, "
            "or is past its retention.",
            404,
        )
    body = {
        "event_id": event_id,
        "events": [
            {
                "event_bus": arns.event_bus(event.region, event.account, event.bus),
                "ingested_at": _iso(event.ingested_at),
                "event": orjson.Fragment(event.body),  # as stored: no parsing, and no nesting limit
            }
            for event in found
        ],
        "deliveries": [_delivery(event, record) for event in found for record in event.deliveries],
    }
    return 200, _JSON, orjson.dumps(body)


@route("GET", "/metrics")
async def prometheus_metrics(runtime: Runtime, query: dict[str, str], raw: bytes) -> RouteResponse:
    """Prometheus text exposition of EventBridge's metrics (see eventyard.delivery.metrics)."""
    return 200, {"content-type": metrics.CONTENT_TYPE}, metrics.of(runtime).exposition()
