"""A runtime with an in-memory store, for driving target adapters directly in unit tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from eventyard.config import Config
from eventyard.delivery.targets import Invocation
from eventyard.operations import api_destinations, connections
from eventyard.runtime import Context, Runtime
from eventyard.store import open_store

ACCOUNT = "123456789012"
REGION = "us-east-1"
RULE_ARN = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/orders"


@dataclass
class World:
    runtime: Runtime

    @property
    def ctx(self) -> Context:
        return Context(ACCOUNT, REGION, "test-request", self.runtime)

    async def connection(self, name: str, auth_type: str, auth: dict[str, Any]) -> dict[str, Any]:
        params = {"Name": name, "AuthorizationType": auth_type, "AuthParameters": auth}
        return await connections.create_connection(self.ctx, params)

    async def describe_connection(self, name: str) -> dict[str, Any]:
        return await connections.describe_connection(self.ctx, {"Name": name})

    async def settled(self, name: str, timeout: float = 5.0) -> dict[str, Any]:
        """The connection once it is no longer AUTHORIZING."""
        deadline = time.monotonic() + timeout
        while True:
            described = await self.describe_connection(name)
            if described["ConnectionState"] != "AUTHORIZING" or time.monotonic() > deadline:
                return described
            await asyncio.sleep(0.02)

    async def destination(
        self, name: str, connection_arn: str, endpoint: str, method: str = "POST", rate: int | None = None
    ) -> str:
        params: dict[str, Any] = {
            "Name": name,
            "ConnectionArn": connection_arn,
            "InvocationEndpoint": endpoint,
            "HttpMethod": method,
        }
        if rate is not None:
            params["InvocationRateLimitPerSecond"] = rate
        created = await api_destinations.create_api_destination(self.ctx, params)
        return str(created["ApiDestinationArn"])


def invocation(arn: str, payload: str = '{"hello": "world"}', **target: Any) -> Invocation:
    return Invocation(
        account=ACCOUNT,
        region=REGION,
        rule_arn=RULE_ARN,
        rule_name="orders",
        target={"Id": "t1", "Arn": arn, **target},
        event={},
        payload=payload,
        attempt=1,
    )


@asynccontextmanager
async def world(**config: Any) -> AsyncIterator[World]:
    runtime = Runtime(config=Config(**config), store=open_store("memory"))
    await runtime.start()
    try:
        yield World(runtime)
    finally:
        await runtime.stop()
