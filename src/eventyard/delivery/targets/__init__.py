"""Target adapters: how one invocation reaches an event bus, an API destination or an AWS service.

An adapter is `async def adapter(runtime, invocation) -> None`; it raises DeliveryError on failure. The
engine picks the adapter from the target's ARN (`adapter_for`), and handles retries and dead-lettering.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from eventyard.core import arn as arns

if TYPE_CHECKING:
    from eventyard.runtime import Runtime


@dataclass(frozen=True, slots=True)
class Invocation:
    """One attempt to deliver one event to one target of one rule."""

    account: str  # owner of the rule
    region: str
    rule_arn: str
    rule_name: str
    target: dict[str, Any]  # the target as PutTargets stored it
    event: dict[str, Any]  # the event envelope as it was matched
    payload: str  # the input after Input/InputPath/InputTransformer shaping
    attempt: int  # 1 for the first attempt
    via: tuple[str, ...] = ()  # rule ARNs that already forwarded this event bus to bus (loop prevention)


class DeliveryError(Exception):
    """A failed invocation. `code` follows the DLQ's ERROR_CODE values (NO_PERMISSIONS, NO_RESOURCE,
    THROTTLING, TIMEOUT, SDK_CLIENT_ERROR, ...). Non-retriable failures go straight to the DLQ."""

    def __init__(self, code: str, message: str, *, retriable: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retriable = retriable
        self.retry_after = retry_after


class Delayed(DeliveryError):
    """Not a failure: the target was not invoked yet (its rate limit is reached); invoke it again after
    `retry_after` seconds without counting an attempt, as AWS delays such invocations instead of failing them."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__("THROTTLING", message, retriable=True, retry_after=retry_after)


Adapter = Callable[["Runtime", Invocation], Awaitable[None]]

# (arn service, resource prefix) -> adapter, e.g. ("events", "event-bus/"), ("sqs", "")
ADAPTERS: dict[tuple[str, str], Adapter] = {}


def adapter(service: str, resource_prefix: str = "") -> Callable[[Adapter], Adapter]:
    """Register an adapter for target ARNs `arn:<partition>:<service>:<region>:<account>:<resource_prefix>...`;
    service "*" is the fallback for every service no other adapter takes."""

    def register(fn: Adapter) -> Adapter:
        ADAPTERS[(service, resource_prefix)] = fn
        return fn

    return register


def adapter_for(target_arn: str) -> Adapter | None:
    parsed = arns.fields(target_arn)
    if parsed is None:
        return None
    service, _region, _account, resource = parsed
    best: tuple[int, Adapter] | None = None
    for (known_service, prefix), fn in ADAPTERS.items():
        if (
            known_service == service
            and resource.startswith(prefix)
            and (best is None or len(prefix) > best[0])
        ):
            best = (len(prefix), fn)
    return best[1] if best else ADAPTERS.get(("*", ""))


def load_all() -> dict[tuple[str, str], Adapter]:
    """Import every module of this package so that their adapters register."""
    import importlib
    import pkgutil

    for module in pkgutil.iter_modules(__path__):
        if not module.name.startswith("_"):
            importlib.import_module(f"{__name__}.{module.name}")
    return ADAPTERS
