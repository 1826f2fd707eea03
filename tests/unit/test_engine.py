"""The delivery engine in-process: an in-memory store, an injected clock moved by hand, scripted test adapters.

Adapters are registered for the made-up service `eventyardtest` (ARN `arn:aws:eventyardtest:...:<name>`), so
each test scripts what its targets answer, and time only moves when a test moves it.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from eventyard.clock import Clock
from eventyard.config import Config
from eventyard.delivery import ingest
from eventyard.delivery.engine import MAX_BACKOFF_FACTOR, DeliveryEngine, RetryPolicy, backoff
from eventyard.delivery.targets import Delayed, DeliveryError, Invocation, adapter
from eventyard.runtime import Runtime
from eventyard.store.sqlite import SqliteStore

ACCOUNT, REGION = "111111111111", "us-east-1"
RULE_ARN = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/shop"
DLQ = "arn:aws:sqs:us-east-1:1:dlq"

Script = Callable[[Invocation], Awaitable[None]]
SCRIPTS: dict[str, Script] = {}
CALLS: dict[str, list[Invocation]] = {}


@adapter("eventyardtest")
async def scripted(runtime: Runtime, invocation: Invocation) -> None:
    name = invocation.target["Arn"].rsplit(":", 1)[-1]
    CALLS.setdefault(name, []).append(invocation)
    await SCRIPTS[name](invocation)


def target_arn(name: str) -> str:
    return f"arn:aws:eventyardtest:{REGION}:{ACCOUNT}:{name}"


def fails(times: int, error: Callable[[], Exception]) -> Script:
    left = [times]

    async def script(invocation: Invocation) -> None:
        if left[0] > 0:
            left[0] -= 1
            raise error()

    return script


async def succeed(invocation: Invocation) -> None:
    return None


def retriable(**extra: Any) -> DeliveryError:
    return DeliveryError("THROTTLING", "try later", retriable=True, **extra)


class World:
    """A runtime with its engine, a rule `shop` on the default bus, and the dead-letter queue as a list."""

    def __init__(self, **config: Any) -> None:
        self.clock = Clock()
        self.runtime = Runtime(config=Config(**config), store=SqliteStore(":memory:"), clock=self.clock)
        self.dead_letters: list[tuple[str, str, dict[str, str]]] = []
        self.dlq_error: Exception | None = None
        self.engine = DeliveryEngine(self.runtime, rng=random.Random(7), dead_letter=self._dead_letter)
        self.runtime.services.append(self.engine)

    async def _dead_letter(self, runtime: Runtime, queue: str, body: str, attributes: dict[str, str]) -> None:
        if self.dlq_error is not None:
            raise self.dlq_error
        self.dead_letters.append((queue, body, attributes))

    async def __aenter__(self) -> World:
        SCRIPTS.clear()
        CALLS.clear()
        await self.runtime.start()
        async with self.runtime.store.transaction() as tx:
            await tx.put("event_bus", ACCOUNT, REGION, "default", {"Name": "default"})
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.runtime.stop()

    async def targets(self, *targets: dict[str, Any]) -> None:
        rule = {
            "Name": "shop",
            "Arn": RULE_ARN,
            "State": "ENABLED",
            "EventPattern": '{"source": ["shop"]}',
            "Targets": list(targets),
        }
        async with self.runtime.store.transaction() as tx:
            await tx.put("rule", ACCOUNT, REGION, "shop", rule, parent="default")
        self.runtime.rules_changed(ACCOUNT, REGION, "default")

    async def target(self, script: Script, **fields: Any) -> None:
        """The rule's one target, `t`, answering as `script` does; `fields` add to the target."""
        SCRIPTS["t"] = script
        await self.targets({"Id": "t", "Arn": target_arn("t"), **fields})

    async def put(self, detail: dict[str, Any] | None = None, event_id: str = "event-1") -> str:
        event = {
            "version": "0",
            "id": event_id,
            "detail-type": "Order",
            "source": "shop",
            "account": ACCOUNT,
            "time": "2026-01-01T00:00:00Z",
            "region": REGION,
            "resources": [],
            "detail": detail or {},
        }
        await ingest.publish(self.runtime, ACCOUNT, REGION, "default", [event])
        return event_id

    async def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        for hook in self.runtime.extensions["clock_listeners"]:
            await hook()

    async def settle(self) -> None:
        """Let the engine run until it holds nothing and has written its outcomes."""
        for _ in range(3):
            await asyncio.sleep(0.01)
            await self.engine.drain()

    async def record(self, event_id: str = "event-1") -> Any:
        (event,) = await self.runtime.store.find_event(event_id)
        (delivery,) = event.deliveries
        return delivery


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(scenario())


def test_backoff_is_exponential_with_jitter_and_capped():
    rng = random.Random(1)
    for attempt in range(1, 12):
        full = min(2.0 ** (attempt - 1), MAX_BACKOFF_FACTOR)
        for _ in range(20):
            assert full / 2 <= backoff(attempt, 1.0, rng) <= full
    assert backoff(185, 0.01, rng) <= 0.01 * MAX_BACKOFF_FACTOR
    delays = {round(backoff(3, 1.0, rng), 6) for _ in range(50)}
    assert len(delays) > 40  # jittered


def test_retry_policy_defaults_are_awss():
    assert RetryPolicy.of({}) == RetryPolicy(185, 86400)
    assert RetryPolicy.of({"RetryPolicy": {"MaximumRetryAttempts": 0}}) == RetryPolicy(0, 86400)
    assert RetryPolicy.of({"RetryPolicy": {"MaximumEventAgeInSeconds": 60}}) == RetryPolicy(185, 60)


def test_a_target_failing_n_times_is_retried_as_the_clock_moves():
    async def scenario() -> None:
        async with World(retry_base_seconds=10) as world:
            await world.target(fails(3, retriable))
            await world.put({"n": 1})
            await world.settle()
            first = await world.record()
            assert (first.state, first.attempts) == ("pending", 1)
            assert 5 <= first.due_at - world.clock.time() <= 10  # 10 s, half of it jitter
            await world.advance(5)
            await world.settle()
            assert len(CALLS["t"]) == 1  # not due yet: nothing happens without time
            for expected_attempts, wait in ((2, 5), (3, 20), (4, 40)):
                await world.advance(wait)
                await world.settle()
                assert len(CALLS["t"]) == expected_attempts
            delivered = await world.record()
            assert (delivered.state, delivered.attempts) == ("delivered", 4)
            assert delivered.last_error == "THROTTLING: try later"
            assert [call.attempt for call in CALLS["t"]] == [1, 2, 3, 4]
            assert json.loads(CALLS["t"][0].payload)["detail"] == {"n": 1}

    run(scenario)


def test_maximum_retry_attempts_then_the_dead_letter_queue():
    async def scenario() -> None:
        async with World(retry_base_seconds=1) as world:
            await world.target(
                fails(100, lambda: DeliveryError("TIMEOUT", "no answer", retriable=True)),
                RetryPolicy={"MaximumRetryAttempts": 2},
                DeadLetterConfig={"Arn": "arn:aws:sqs:us-east-1:111111111111:dlq"},
            )
            await world.put()
            for _ in range(5):
                await world.settle()
                await world.advance(10)
            record = await world.record()
            assert (record.state, record.attempts) == ("dead-lettered", 3)
            ((queue, body, attributes),) = world.dead_letters
            assert queue == "arn:aws:sqs:us-east-1:111111111111:dlq"
            assert json.loads(body)["id"] == "event-1"
            assert attributes == {
                "RULE_ARN": RULE_ARN,
                "TARGET_ARN": target_arn("t"),
                "ERROR_CODE": "TIMEOUT",
                "ERROR_MESSAGE": "no answer",
                "EXHAUSTED_RETRY_CONDITION": "MaximumRetryAttempts",
                "RETRY_ATTEMPTS": "2",
            }

    run(scenario)


def test_maximum_event_age_ends_retries_even_before_another_attempt():
    async def scenario() -> None:
        async with World(retry_base_seconds=1) as world:
            await world.target(
                fails(100, retriable),
                RetryPolicy={"MaximumEventAgeInSeconds": 60},
                DeadLetterConfig={"Arn": "arn:aws:sqs:us-east-1:111111111111:dlq"},
            )
            await world.put()
            await world.settle()
            await world.advance(61)  # the retry comes due after the event's maximum age
            await world.settle()
            assert len(CALLS["t"]) == 1
            record = await world.record()
            assert record.state == "dead-lettered"
            attributes = world.dead_letters[0][2]
            assert attributes["EXHAUSTED_RETRY_CONDITION"] == "MaximumEventAgeInSeconds"
            assert attributes["RETRY_ATTEMPTS"] == "0"
            assert (attributes["ERROR_CODE"], attributes["ERROR_MESSAGE"]) == ("THROTTLING", "try later")

    run(scenario)


def test_an_event_a_rate_limit_held_past_its_maximum_age_is_dead_lettered_as_a_timeout():
    async def scenario() -> None:
        async with World() as world:
            await world.target(
                fails(100, lambda: Delayed("rate limit reached", 30)),
                RetryPolicy={"MaximumEventAgeInSeconds": 60},
                DeadLetterConfig={"Arn": DLQ},
            )
            await world.put()
            for _ in range(3):
                await world.settle()
                await world.advance(30)
            await world.settle()
            record = await world.record()
            assert (record.state, record.attempts) == ("dead-lettered", 0)
            attributes = world.dead_letters[0][2]
            assert (attributes["ERROR_CODE"], attributes["RETRY_ATTEMPTS"]) == ("TIMEOUT", "0")
            assert attributes["EXHAUSTED_RETRY_CONDITION"] == "MaximumEventAgeInSeconds"

    run(scenario)


def test_a_retry_that_would_come_after_the_maximum_age_ends_now():
    async def scenario() -> None:
        async with World(retry_base_seconds=1) as world:
            await world.target(
                fails(100, lambda: retriable(retry_after=120)), RetryPolicy={"MaximumEventAgeInSeconds": 60}
            )
            await world.put()
            await world.settle()
            record = await world.record()
            assert (record.state, record.attempts) == ("dropped", 1)
            assert record.last_error.endswith("(MaximumEventAgeInSeconds exhausted)")

    run(scenario)


def test_non_retriable_failures_skip_the_retries():
    async def scenario() -> None:
        async with World() as world:
            await world.target(
                fails(1, lambda: DeliveryError("NO_RESOURCE", "gone", retriable=False)),
                DeadLetterConfig={"Arn": DLQ},
            )
            await world.put()
            await world.settle()
            assert (await world.record()).state == "dead-lettered"
            attributes = world.dead_letters[0][2]
            assert (attributes["ERROR_CODE"], attributes["RETRY_ATTEMPTS"]) == ("NO_RESOURCE", "0")
            assert attributes["EXHAUSTED_RETRY_CONDITION"] == ""  # none: the SQS side leaves it out
            assert len(CALLS["t"]) == 1

    run(scenario)


def test_without_a_dead_letter_queue_the_event_is_dropped_and_counted():
    async def scenario() -> None:
        async with World() as world:
            await world.target(fails(1, lambda: DeliveryError("NO_PERMISSIONS", "denied", retriable=False)))
            await world.put()
            await world.settle()
            record = await world.record()
            assert (record.state, record.last_error) == ("dropped", "NO_PERMISSIONS: denied")
            text = world.engine.metrics.exposition().decode()
            labels = f'account="{ACCOUNT}",event_bus="default",region="{REGION}",rule="shop"'
            assert f"eventyard_dropped_invocations_total{{{labels}}} 1.0" in text
            assert f"eventyard_failed_invocations_total{{{labels}}} 1.0" in text

    run(scenario)


def test_a_refusing_dead_letter_queue_leaves_the_delivery_failed():
    async def scenario() -> None:
        async with World() as world:
            world.dlq_error = DeliveryError("NO_RESOURCE", "no such queue", retriable=False)
            await world.target(
                fails(1, lambda: DeliveryError("NO_RESOURCE", "gone", retriable=False)),
                DeadLetterConfig={"Arn": DLQ},
            )
            await world.put()
            await world.settle()
            record = await world.record()
            assert record.state == "failed"
            assert record.last_error == f"NO_RESOURCE: gone; dead-letter queue {DLQ}: no such queue"

    run(scenario)


def test_retry_after_is_the_more_conservative_wait():
    async def scenario() -> None:
        async with World(retry_base_seconds=1) as world:
            await world.target(fails(1, lambda: retriable(retry_after=300)))
            await world.put()
            await world.settle()
            record = await world.record()
            assert record.due_at - world.clock.time() >= 299
            await world.advance(250)
            await world.settle()
            assert len(CALLS["t"]) == 1
            await world.advance(51)
            await world.settle()
            assert (await world.record()).state == "delivered"

    run(scenario)


def test_rate_limited_invocations_wait_without_counting_an_attempt():
    async def scenario() -> None:
        async with World() as world:
            await world.target(
                fails(2, lambda: Delayed("rate limit reached", 0.5)), RetryPolicy={"MaximumRetryAttempts": 0}
            )
            await world.put()
            for _ in range(3):
                await world.settle()
                await world.advance(1)
            await world.settle()
            record = await world.record()
            assert (record.state, record.attempts) == ("delivered", 1)  # delays are not failed attempts
            assert [call.attempt for call in CALLS["t"]] == [1, 1, 1]

    run(scenario)


def test_input_shaping_reaches_the_adapter():
    async def scenario() -> None:
        async with World() as world:
            SCRIPTS["t"] = succeed
            await world.targets(
                {"Id": "t", "Arn": target_arn("t"), "InputPath": "$.detail"},
                {"Id": "u", "Arn": target_arn("u"), "Input": '{"constant": true}'},
            )
            SCRIPTS["u"] = succeed
            await world.put({"order": 7})
            await world.settle()
            assert CALLS["t"][0].payload == '{"order":7}'
            assert CALLS["u"][0].payload == '{"constant": true}'

    run(scenario)


def test_a_slow_target_holds_up_neither_publishing_nor_other_targets():
    async def scenario() -> None:
        async with World(delivery_target_concurrency=2) as world:
            release = asyncio.Event()
            running = [0, 0]  # now, most at once

            async def slow(invocation: Invocation) -> None:
                running[0] += 1
                running[1] = max(running)
                await release.wait()
                running[0] -= 1

            SCRIPTS["slow"], SCRIPTS["fast"] = slow, succeed
            await world.targets(
                {"Id": "s", "Arn": target_arn("slow")}, {"Id": "f", "Arn": target_arn("fast")}
            )
            loop = asyncio.get_running_loop()
            started = loop.time()
            for n in range(10):
                await world.put({"n": n}, event_id=f"e{n}")
            assert loop.time() - started < 1.0
            for _ in range(100):
                if len(CALLS.get("fast", [])) == 10:
                    break
                await asyncio.sleep(0.01)
            assert len(CALLS["fast"]) == 10  # all through while the slow target holds two
            assert running[1] == 2  # at most delivery_target_concurrency at once
            release.set()
            await world.settle()
            assert len(CALLS["slow"]) == 10

    run(scenario)


def test_stopping_gives_held_deliveries_back_and_a_restart_delivers_them(tmp_path):
    async def scenario() -> None:
        path = str(tmp_path / "store.db")
        world = World(delivery_target_concurrency=1)
        world.runtime.store = SqliteStore(path)
        world.engine.stop_grace = 0.1
        release = asyncio.Event()

        async def stuck(invocation: Invocation) -> None:
            await release.wait()

        async with world:
            await world.target(stuck)
            for n in range(5):
                await world.put(event_id=f"e{n}")
            await asyncio.sleep(0.05)
        # Stopped: one invocation was cut short, four were queued. Nothing is lost.
        again = World()
        again.runtime.store = SqliteStore(path)
        async with again:
            SCRIPTS["t"] = succeed
            for _ in range(50):
                await asyncio.sleep(0.01)
                if len(CALLS.get("t", [])) >= 5:
                    break
            await again.settle()
            states = [(await again.record(f"e{n}")).state for n in range(5)]
            assert states == ["delivered"] * 5

    run(scenario)


def test_a_delivery_leased_by_a_node_that_died_is_taken_over_when_the_lease_ends():
    async def scenario() -> None:
        from eventyard.store.outbox import NewDelivery, NewEvent

        async with World() as world:
            SCRIPTS["t"] = succeed
            now = world.clock.time()
            body = json.dumps({"id": "ghost-event", "source": "shop", "detail": {}})
            await world.runtime.store.append_events(
                [NewEvent("row-1", "ghost-event", ACCOUNT, REGION, "default", now, body)],
                [
                    NewDelivery(
                        "d-1",
                        "row-1",
                        ACCOUNT,
                        REGION,
                        "default",
                        RULE_ARN,
                        "t",
                        target_arn("t"),
                        json.dumps({"Id": "t", "Arn": target_arn("t")}),
                        "in-flight",
                        now + 60,
                        now,
                        "dead-node",
                    )
                ],
            )
            world.engine.wake()
            await world.settle()
            assert "t" not in CALLS  # still leased to the other node
            await world.advance(61)
            await world.settle()
            assert len(CALLS["t"]) == 1
            assert (await world.record("ghost-event")).state == "delivered"

    run(scenario)


def test_a_copy_on_another_bus_is_delivered_with_the_rules_it_went_through():
    """Forwarded while publishing to another bus of the account, the event reaches that bus's targets through
    the engine knowing the rules it went through (what keeps buses forwarding to each other from looping)."""

    async def scenario() -> None:
        async with World() as world:
            relay = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/other/relay"
            rule = {
                "Name": "relay",
                "Arn": relay,
                "State": "ENABLED",
                "EventPattern": '{"source": ["shop"]}',
                "Targets": [{"Id": "t", "Arn": target_arn("t")}],
            }
            async with world.runtime.store.transaction() as tx:
                await tx.put("event_bus", ACCOUNT, REGION, "other", {"Name": "other"})
                await tx.put("rule", ACCOUNT, REGION, "relay", rule, parent="other")
            world.runtime.rules_changed(ACCOUNT, REGION, "other")
            SCRIPTS["t"] = succeed
            await world.targets({"Id": "bus", "Arn": f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/other"})
            await world.put()
            await world.settle()
            (call,) = CALLS["t"]
            assert (call.rule_arn, call.via) == (relay, (RULE_ARN,))

    run(scenario)


def test_a_delivery_made_while_publishing_is_kept_on_the_events_row():
    """A bus of the rule's account is delivered to in the accepting commit: its record shows with the event's
    other deliveries, but only the deliveries left for the engine are rows of `deliveries`."""

    async def scenario() -> None:
        async with World() as world:
            async with world.runtime.store.transaction() as tx:
                await tx.put("event_bus", ACCOUNT, REGION, "other", {"Name": "other"})
            SCRIPTS["t"] = SCRIPTS["u"] = succeed
            other = f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/other"
            await world.targets(
                {"Id": "t", "Arn": target_arn("t")},
                {"Id": "bus", "Arn": other},
                {"Id": "u", "Arn": target_arn("u")},
            )
            await world.put()
            await world.settle()
            (event,) = await world.runtime.store.find_event("event-1")
            records = {d.target_id: d for d in event.deliveries}
            assert [d.id for d in event.deliveries] == sorted(records[t].id for t in ("t", "bus", "u"))
            bus = records["bus"]
            assert (bus.target_arn, bus.rule_arn, bus.state, bus.attempts) == (
                other,
                RULE_ARN,
                "delivered",
                1,
            )
            assert bus.created_at == bus.updated_at == event.ingested_at
            assert (records["t"].state, records["u"].state) == ("delivered", "delivered")  # by the engine
            rows = await world.runtime.store.run(
                lambda conn: conn.execute("SELECT target_id FROM deliveries ORDER BY target_id").fetchall()
            )
            assert rows == [("t",), ("u",)]

    run(scenario)


@pytest.mark.parametrize("via_self", [True, False])
def test_event_bus_targets_never_loop(via_self):
    async def scenario() -> None:
        from eventyard.delivery.targets.event_bus import put_on_event_bus

        async with World() as world:
            event = {"id": "x", "account": ACCOUNT, "source": "shop"}
            invocation = Invocation(
                account=ACCOUNT,
                region=REGION,
                rule_arn=f"arn:aws:events:{REGION}:{ACCOUNT}:rule/other/r",
                rule_name="r",
                target={
                    "Arn": f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{'other' if via_self else 'default'}"
                },
                event=event,
                payload="{}",
                attempt=1,
                via=() if via_self else (f"arn:aws:events:{REGION}:{ACCOUNT}:rule/other/r",),
            )
            with pytest.raises(DeliveryError) as excinfo:
                await put_on_event_bus(world.runtime, invocation)
            assert (excinfo.value.code, excinfo.value.retriable) == ("NO_PERMISSIONS", False)
            assert "loop" in excinfo.value.message

    run(scenario)


def test_retention_deletes_finished_deliveries_and_their_events_once_old_enough():
    async def scenario() -> None:
        async with World(delivery_retention_seconds=3600) as world:
            await world.target(succeed)
            await world.put(event_id="kept-a-while")
            await world.settle()
            assert await world.engine.purge() == 0  # delivered, but not an hour ago
            await world.advance(3601)
            assert await world.engine.purge() == 2  # the delivery, then its event
            assert await world.runtime.store.find_event("kept-a-while") == []

    run(scenario)


def test_a_delivery_reclaimed_while_it_waits_in_its_lane_is_made_under_the_new_lease():
    """A delivery whose lease runs out while it waits behind a slow invocation is claimed again by this node;
    it must then be made at once under the new lease, not skipped as expired and left to sit out that lease."""

    async def scenario() -> None:
        async with World(delivery_target_concurrency=1) as world:
            release = asyncio.Event()

            async def slow_first(invocation: Invocation) -> None:
                if len(CALLS["t"]) == 1:
                    await release.wait()

            await world.target(slow_first)
            for n in range(3):
                await world.put({"n": n}, event_id=f"e{n}")
            await asyncio.sleep(0.05)
            assert len(CALLS["t"]) == 1  # the others wait in the lane, leased to this node
            await world.advance(61)  # every lease has run out: the dispatcher claims them again
            await asyncio.sleep(0.05)
            release.set()
            await world.settle()
            states = [(await world.record(f"e{n}")).state for n in range(3)]
            assert states == ["delivered"] * 3  # without moving the clock again

    run(scenario)
