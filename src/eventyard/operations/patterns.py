"""TestEventPattern: whether an event matches an event pattern, judged and refused as EventBridge does."""

from __future__ import annotations

from typing import Any

from eventyard.errors import validation
from eventyard.operations.registry import operation
from eventyard.patterns import InvalidEventPattern, matches, parse_pattern, validate_test_event
from eventyard.runtime import Context


@operation("TestEventPattern")
async def test_event_pattern(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """``{"Result": bool}``; ValidationException "Parameter Event is not valid." for an event that is not a
    JSON object with id, account, source, time, region and detail-type; InvalidEventPatternException for a
    pattern EventBridge refuses.

    The event is checked before the pattern, as LocalStack (whose tests are checked against AWS) does; AWS's
    order when both are wrong is not recorded.
    """
    try:
        event = validate_test_event(params["Event"])
    except ValueError as error:
        raise validation(str(error)) from None
    try:
        pattern = parse_pattern(params["EventPattern"])
    except InvalidEventPattern as error:
        raise error.to_aws_error() from None
    return {"Result": matches(pattern, event)}


test_event_pattern.__test__ = False  # type: ignore[attr-defined]  # a handler, not a pytest test
