"""The fallback adapter: AWS target types Eventyard does not deliver to yet (Lambda, SNS, Kinesis, Step
Functions, ...) fail at once, without retries, so that the event reaches the dead-letter queue if any."""

from __future__ import annotations

from typing import TYPE_CHECKING

from eventyard.delivery.targets import DeliveryError, Invocation, adapter

if TYPE_CHECKING:
    from eventyard.runtime import Runtime


@adapter("*")
async def unsupported_target(runtime: Runtime, invocation: Invocation) -> None:
    arn: str = invocation.target["Arn"]
    parts = arn.split(":", 5)
    service = parts[2] if len(parts) == 6 else "unknown"
    raise DeliveryError(
        "SDK_CLIENT_ERROR",
        f"Eventyard does not deliver to '{service}' targets yet ({arn}); "
        "supported targets are event buses, API destinations and SQS queues.",
        retriable=False,
    )
