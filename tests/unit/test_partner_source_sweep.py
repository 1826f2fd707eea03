"""The periodic expiry sweep of partner event sources, run in-process on an in-memory store.

Reads already hide expired sources; the sweep is what removes their rows. These tests look at the rows.
"""

from __future__ import annotations

import asyncio
from typing import Any

from eventyard.config import Config
from eventyard.operations import partner_sources as ps
from eventyard.runtime import Context, Runtime
from eventyard.store.sqlite import SqliteStore

PARTNER, CUSTOMER = "111111111111", "222222222222"
DAY = 86400


def call(
    runtime: Runtime, operation: Any, region: str = "us-east-1", account: str = PARTNER, **params: Any
) -> Any:
    return operation(Context(account, region, "test-request", runtime), params)


async def rows(runtime: Runtime) -> tuple[list[str], list[str]]:
    """(names of source rows in us-east-1 and eu-west-1, claim keys)."""
    async with runtime.store.transaction() as tx:
        sources = [
            s["Name"]
            for region in ("us-east-1", "eu-west-1")
            for s in await tx.list(ps.SOURCE, PARTNER, region)
        ]
        claims = [f"{c['Region']}/{c['Name']}" for c in await tx.list(ps.SOURCE_NAME, "", "")]
    return sources, claims


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


async def _runtime() -> Runtime:
    runtime = Runtime(config=Config(), store=SqliteStore(":memory:"))
    await runtime.store.open()
    return runtime


def test_the_sweep_deletes_only_what_has_expired() -> None:
    async def scenario() -> None:
        runtime = await _runtime()
        create = ps.create_partner_event_source
        await call(runtime, create, Name="aws.partner/x.com/a/old", Account=CUSTOMER)
        await call(runtime, create, region="eu-west-1", Name="aws.partner/x.com/a/old", Account=CUSTOMER)
        runtime.clock.advance(3 * DAY)
        await call(runtime, create, Name="aws.partner/x.com/a/new", Account=CUSTOMER)
        assert await ps.sweep_expired(runtime) == 0
        runtime.clock.advance(5 * DAY)
        assert await ps.sweep_expired(runtime) == 2
        assert await rows(runtime) == (["aws.partner/x.com/a/new"], ["us-east-1/aws.partner/x.com/a/new"])
        assert await ps.sweep_expired(runtime) == 0  # nothing left to do, nothing breaks
        await runtime.store.close()

    run(scenario())


def test_active_sources_are_never_swept() -> None:
    async def scenario() -> None:
        runtime = await _runtime()
        name = "aws.partner/x.com/a/live"
        await call(runtime, ps.create_partner_event_source, Name=name, Account=CUSTOMER)
        async with runtime.store.transaction() as tx:
            await ps.attach_partner_bus(
                Context(CUSTOMER, "us-east-1", "r", runtime), tx, name, {"Name": name, "CreationTime": 0}
            )
        runtime.clock.advance(60 * DAY)
        assert await ps.sweep_expired(runtime) == 0
        assert (await rows(runtime))[0] == [name]
        await runtime.store.close()

    run(scenario())


def test_concurrent_sweeps_delete_each_source_once() -> None:
    async def scenario() -> None:
        runtime = await _runtime()
        for i in range(450):  # more than one batch of claims
            await call(
                runtime, ps.create_partner_event_source, Name=f"aws.partner/x.com/n/{i:03}", Account=CUSTOMER
            )
        runtime.clock.advance(8 * DAY)
        counts = await asyncio.gather(*(ps.sweep_expired(runtime) for _ in range(3)))
        assert sum(counts) == 450
        assert await rows(runtime) == ([], [])
        await runtime.store.close()

    run(scenario())


def test_the_service_sweeps_when_the_test_clock_moves() -> None:
    async def scenario() -> None:
        runtime = await _runtime()
        sweep = ps.ExpirySweep(runtime, interval=3600)
        await sweep.start()
        await call(runtime, ps.create_partner_event_source, Name="aws.partner/x.com/a/b", Account=CUSTOMER)
        runtime.clock.advance(8 * DAY)
        for hook in runtime.extensions["clock_listeners"]:
            await hook()
        assert await rows(runtime) == ([], [])
        await sweep.stop()
        await runtime.store.close()

    run(scenario())
