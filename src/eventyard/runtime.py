"""What a running server holds (config, store, clock, background services) and what each request sees."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from eventyard.clock import Clock, new_id
from eventyard.config import Config
from eventyard.core.ids import new_event_id
from eventyard.store import Store, open_store
from eventyard.store.base import RULES_CHANNEL

log = logging.getLogger("eventyard")


class Service(Protocol):
    """A background part of the server, started before the first request and stopped after the last."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


async def stop_task(task: asyncio.Task[Any] | None) -> None:
    """Cancel a service's background task (if it has one) and wait until it has ended."""
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@dataclass
class Runtime:
    config: Config
    store: Store
    clock: Clock = field(default_factory=Clock)
    ids: Callable[[], str] = new_id
    event_ids: Callable[[], str] = new_event_id  # the `id` of accepted events (time-ordered, UUID-shaped)
    node_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    services: list[Service] = field(default_factory=list)
    # Called after a commit that changed the rules of a bus: (account, region, bus name).
    rule_listeners: list[Callable[[str, str, str], None]] = field(default_factory=list)
    # Called when any bus's rules may have changed unannounced (another node's announcements were missed
    # while the database connection was down): drop every cached rule.
    rule_reset_listeners: list[Callable[[], None]] = field(default_factory=list)
    extensions: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: Config) -> Runtime:
        runtime = cls(config=config, store=open_store(config.store_url()))
        if config.node_id:
            runtime.node_id = config.node_id
        return runtime

    async def start(self) -> None:
        # Other nodes' rule changes arrive here (PostgreSQL LISTEN/NOTIFY); this node's own call
        # rules_changed directly after their commit.
        self.store.subscribe(RULES_CHANNEL, self._rules_announced)
        await self.store.open()
        for service in self.services:
            await service.start()

    async def stop(self) -> None:
        for service in reversed(self.services):
            try:
                await service.stop()
            except Exception:
                log.exception("stopping %r failed", service)
        await self.store.close()

    def rules_changed(self, account: str, region: str, bus: str) -> None:
        for listener in self.rule_listeners:
            listener(account, region, bus)

    def _rules_announced(self, payload: str | None) -> None:
        if payload is None:
            for reset in self.rule_reset_listeners:
                reset()
            return
        account, region, bus = payload.split("\t", 2)
        self.rules_changed(account, region, bus)


@dataclass
class Context:
    """One request: who calls (account, region) and the runtime that serves it."""

    account: str
    region: str
    request_id: str
    runtime: Runtime

    @property
    def store(self) -> Store:
        return self.runtime.store

    @property
    def clock(self) -> Clock:
        return self.runtime.clock

    @property
    def config(self) -> Config:
        return self.runtime.config
