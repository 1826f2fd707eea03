"""The table from AWS operation name to handler; every module in this package adds its operations."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from eventyard.runtime import Context, Runtime, Service

Handler = Callable[["Context", dict[str, Any]], Awaitable[dict[str, Any] | None]]

OPERATIONS: dict[str, Handler] = {}


def operation(name: str) -> Callable[[Handler], Handler]:
    """Mark `handler` as the implementation of the AWS operation `name`."""

    def register(handler: Handler) -> Handler:
        if name in OPERATIONS and OPERATIONS[name] is not handler:
            raise RuntimeError(f"operation {name} registered twice")
        OPERATIONS[name] = handler
        return handler

    return register


def load_all() -> dict[str, Handler]:
    """Import every module of `eventyard.operations` so that their handlers register."""
    import eventyard.operations as package

    for module in pkgutil.iter_modules(package.__path__):
        if module.name != "registry" and not module.name.startswith("_"):
            importlib.import_module(f"eventyard.operations.{module.name}")
    return OPERATIONS


RouteHandler = Callable[["Runtime", dict[str, Any], bytes], Awaitable["RouteResponse"]]
RouteResponse = tuple[int, dict[str, str], bytes]
ROUTES: dict[tuple[str, str], RouteHandler] = {}


def route(method: str, path: str) -> Callable[[RouteHandler], RouteHandler]:
    """An HTTP endpoint beside the API (health, metrics, operator look-ups): `handler(runtime, query, body)`."""

    def register(handler: RouteHandler) -> RouteHandler:
        ROUTES[(method, path)] = handler
        return handler

    return register


ServiceFactory = Callable[["Runtime"], "Service"]
SERVICES: list[ServiceFactory] = []


def service(factory: ServiceFactory) -> ServiceFactory:
    """A background service an operations module needs (e.g. an expiry sweep): `factory(runtime)`.

    The app adds one instance per runtime to `runtime.services`, which the lifespan starts and stops.
    """
    SERVICES.append(factory)
    return factory
