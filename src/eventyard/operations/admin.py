"""Operator endpoints beside the API: the test clock and marking rules as managed by a service."""

from __future__ import annotations

from typing import Any

import orjson

from eventyard.errors import AwsError, not_found
from eventyard.operations._common import RULE
from eventyard.operations.registry import RouteResponse, route
from eventyard.runtime import Runtime

_JSON = {"content-type": "application/json"}
# The test clock stays where envelopes can still write the time (years 1 to 9999), with room to spare.
_LAST_TIME = 221845392000.0  # 9000-01-01T00:00:00Z


def _body(raw: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(raw or b"{}")
    except orjson.JSONDecodeError:
        raise AwsError("SerializationException", "The request body is not valid JSON.") from None
    if not isinstance(value, dict):
        raise AwsError("SerializationException", "The request body must be a JSON object.")
    return value


@route("POST", "/_eventyard/clock")
async def move_clock(runtime: Runtime, query: dict[str, str], raw: bytes) -> RouteResponse:
    """Move the server's clock forward by `advance` seconds (only with --test-clock)."""
    if not runtime.config.test_clock:
        raise AwsError(
            "AccessDeniedException", "The test clock is disabled; start the server with --test-clock.", 403
        )
    body = _body(raw)
    advance = body.get("advance", 0)
    if isinstance(advance, bool) or not isinstance(advance, int | float) or not advance >= 0:
        raise AwsError("ValidationException", "advance must be a non-negative number of seconds.")
    if runtime.clock.time() + advance > _LAST_TIME:
        raise AwsError("ValidationException", "advance would take the clock past the year 9000.")
    runtime.clock.advance(advance)
    for hook in runtime.extensions.get("clock_listeners", []):
        await hook()
    return 200, _JSON, orjson.dumps({"now": runtime.clock.time(), "offset": runtime.clock.offset_seconds})


@route("POST", "/_eventyard/managed-rules")
async def mark_managed(runtime: Runtime, query: dict[str, str], raw: bytes) -> RouteResponse:
    """Mark a rule as managed by an AWS service ({account, region, bus, rule, managed_by}), as AWS services do."""
    body = _body(raw)
    try:
        account, region, bus, name = body["account"], body["region"], body.get("bus", "default"), body["rule"]
        managed_by = body["managed_by"]
    except KeyError as missing:
        raise AwsError("ValidationException", f"Missing field {missing}.") from None
    for field, value in (("account", account), ("region", region), ("bus", bus), ("rule", name)):
        if not isinstance(value, str) or not value:
            raise AwsError("ValidationException", f"Field {field} must be a non-empty string.")
    if not isinstance(managed_by, str):
        raise AwsError("ValidationException", "Field managed_by must be a string.")
    async with runtime.store.transaction() as tx:
        rule = await tx.get(RULE, account, region, name, parent=bus)
        if rule is None:
            raise not_found(f"Rule {name} does not exist on EventBus {bus}.")
        rule["ManagedBy"] = managed_by
        await tx.put(RULE, account, region, name, rule, parent=bus)
    return 200, _JSON, orjson.dumps({"Arn": rule["Arn"], "ManagedBy": managed_by})
