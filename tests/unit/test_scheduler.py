"""Scheduled rules, in-process on an in-memory store: which fire time is due (catch-up fires only the latest
missed one), and firing, once per fire time, through PutRule, DisableRule and DeleteRule."""

from __future__ import annotations

import asyncio
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from eventyard.config import Config
from eventyard.core.schedule import latest_fire_time, parse_schedule
from eventyard.delivery import metrics
from eventyard.delivery import scheduler as sched
from eventyard.operations import buses, rules, targets
from eventyard.runtime import Context, Runtime
from eventyard.store.sqlite import SqliteStore

ACCOUNT, REGION = "111111111111", "us-east-1"
START = datetime(2026, 11, 26, 12, 0, 10, tzinfo=UTC).timestamp()  # ten seconds into a minute
MINUTE = 60.0


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


# ---------------------------------------------------------------------------------------------------
# The arithmetic of catch-up


def brute_latest(expression: str, after: datetime, until: datetime, anchor: datetime) -> datetime | None:
    schedule, last = parse_schedule(expression), None
    moment = schedule.next_after(after, anchor=anchor)
    while moment is not None and moment <= until:
        last, moment = moment, schedule.next_after(moment, anchor=anchor)
    return last


@pytest.mark.parametrize(
    "expression",
    [
        "rate(1 minute)",
        "rate(5 minutes)",
        "rate(3 hours)",
        "cron(0 12 * * ? *)",
        "cron(15,45 * ? * MON-FRI *)",
        "cron(*/7 * * * ? *)",
        "cron(0 0 L * ? 2027)",
        "cron(30 9 ? * 6#3 *)",
    ],
)
def test_latest_fire_time_is_the_last_one_in_the_span(expression: str) -> None:
    rng = random.Random(expression)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    schedule = parse_schedule(expression)
    for _ in range(300):
        anchor = base + timedelta(seconds=rng.randrange(0, 86400 * 60))
        after = anchor + timedelta(seconds=rng.randrange(0, 86400 * 5))
        until = after + timedelta(seconds=rng.choice([rng.randrange(0, 900), rng.randrange(0, 86400 * 20)]))
        expected = brute_latest(expression, after, until, anchor)
        assert latest_fire_time(schedule, after=after, until=until, anchor=anchor) == expected


def test_latest_fire_time_over_decades_takes_few_steps() -> None:
    schedule = parse_schedule("cron(* * * * ? *)")  # every minute: 10 million minutes in 20 years
    after = datetime(2026, 1, 1, tzinfo=UTC)
    until = datetime(2046, 1, 1, 0, 0, 30, tzinfo=UTC)
    assert latest_fire_time(schedule, after=after, until=until) == datetime(2046, 1, 1, tzinfo=UTC)
    assert latest_fire_time(parse_schedule("cron(0 0 1 1 ? 2030)"), after=after, until=until) == datetime(
        2030, 1, 1, tzinfo=UTC
    )
    assert latest_fire_time(parse_schedule("cron(0 0 1 1 ? 2050)"), after=after, until=until) is None


def doc(expression: str, anchor: float = START, handled: float = START) -> dict[str, Any]:
    return {
        "Account": ACCOUNT, "Region": REGION, "Rule": "r", "Arn": f"arn:aws:events:{REGION}:{ACCOUNT}:rule/r",
        "ScheduleExpression": expression, "Anchor": anchor, "HandledUntil": handled,
    }  # fmt: skip


def test_nothing_is_due_before_the_first_fire_time() -> None:
    assert sched.fire_plan(doc("rate(5 minutes)"), at("2026-11-26T12:04:59")) == (
        None,
        at("2026-11-26T12:05"),
    )


def test_a_fire_time_is_due_from_its_minute_on() -> None:
    due, upcoming = sched.fire_plan(doc("rate(5 minutes)"), at("2026-11-26T12:05:00"))
    assert (due, upcoming) == (at("2026-11-26T12:05"), at("2026-11-26T12:10"))
    handled = doc("rate(5 minutes)", handled=at("2026-11-26T12:05"))
    assert sched.fire_plan(handled, at("2026-11-26T12:09:59")) == (None, at("2026-11-26T12:10"))


def test_after_a_long_absence_only_the_latest_missed_fire_time_is_due() -> None:
    # 12:05 ... 15:05 were missed: 37 fire times; one is fired, at its own time.
    due, upcoming = sched.fire_plan(doc("rate(5 minutes)"), at("2026-11-26T15:07:42"))
    assert (due, upcoming) == (at("2026-11-26T15:05"), at("2026-11-26T15:10"))
    due, upcoming = sched.fire_plan(doc("cron(0 9 * * ? *)"), at("2027-03-01T08:59:00"))
    assert (due, upcoming) == (at("2027-02-28T09:00"), at("2027-03-01T09:00"))


def test_a_rate_counts_from_its_anchor_not_from_the_last_fire() -> None:
    # Handled up to an odd time (the rule was disabled then): the rate keeps its phase.
    late = doc("rate(5 minutes)", handled=at("2026-11-26T12:07:30"))
    assert sched.fire_plan(late, at("2026-11-26T12:09")) == (None, at("2026-11-26T12:10"))


def test_a_schedule_that_is_over_is_never_due_again() -> None:
    assert sched.fire_plan(doc("cron(0 0 1 1 ? 2026)"), at("2030-01-01T00:00")) == (None, None)


def test_the_event_id_of_a_fire_time_is_stable_and_unique() -> None:
    one = sched.scheduled_event_id(doc("rate(5 minutes)"), at("2026-11-26T12:05"))
    assert one == sched.scheduled_event_id(doc("rate(5 minutes)"), at("2026-11-26T12:05"))
    others = {
        sched.scheduled_event_id(doc("rate(5 minutes)"), at("2026-11-26T12:10")),
        sched.scheduled_event_id(doc("rate(5 minutes)", anchor=START + 1), at("2026-11-26T12:05")),
        sched.scheduled_event_id(doc("rate(1 minute)"), at("2026-11-26T12:05")),
    }
    assert one not in others and len(others) == 3


# ---------------------------------------------------------------------------------------------------
# Firing, in-process


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


class World:
    """A runtime on an in-memory store whose clock reads START; no engine (deliveries stay pending)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    @classmethod
    async def make(cls) -> World:
        runtime = Runtime(config=Config(), store=SqliteStore(":memory:"))
        runtime.clock.offset_seconds = START - time.time()
        await runtime.store.open()
        return cls(runtime)

    async def call(self, operation: Any, **params: Any) -> Any:
        return await operation(Context(ACCOUNT, REGION, "request", self.runtime), params)

    async def scheduled(self, expression: str = "rate(5 minutes)", name: str = "r", **extra: Any) -> None:
        await self.call(rules.put_rule, Name=name, ScheduleExpression=expression, **extra)
        arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:q"
        await self.call(targets.put_targets, Rule=name, Targets=[{"Id": "q", "Arn": arn}])

    async def schedule(self, name: str = "r") -> dict[str, Any] | None:
        async with self.runtime.store.transaction() as tx:
            return await tx.get(sched.SCHEDULE, "", "", f"{REGION}/{ACCOUNT}/{name}")

    async def fire_at(self, when: float) -> None:
        self.runtime.clock.offset_seconds += when - self.runtime.clock.time()
        await sched.fire_due(self.runtime)

    def fired(self, name: str = "r") -> int:
        return metrics.of(self.runtime).rule(ACCOUNT, REGION, "default", name).scheduled_events

    async def event(self, name: str, fire_time: float) -> dict[str, Any] | None:
        schedule = await self.schedule(name)
        assert schedule is not None
        found = await self.runtime.store.find_event(sched.scheduled_event_id(schedule, fire_time))
        if not found:
            return None
        (record,) = found
        assert [d.target_id for d in record.deliveries] == ["q"]
        return orjson.loads(record.body)  # type: ignore[no-any-return]


def scenario(body: Any) -> None:
    async def go() -> None:
        world = await World.make()
        try:
            await body(world)
        finally:
            await world.runtime.store.close()

    run(go())


def test_each_fire_time_is_fired_once_with_aws_envelope() -> None:
    async def body(world: World) -> None:
        await world.scheduled()
        await world.fire_at(at("2026-11-26T12:04:59"))
        assert world.fired() == 0
        await world.fire_at(at("2026-11-26T12:05:01"))
        await world.fire_at(at("2026-11-26T12:05:40"))  # the same fire time: nothing more
        assert world.fired() == 1
        event = await world.event("r", at("2026-11-26T12:05"))
        assert event == {
            "version": "0", "id": event["id"] if event else None, "detail-type": "Scheduled Event",
            "source": "aws.events", "account": ACCOUNT, "time": "2026-11-26T12:05:00Z", "region": REGION,
            "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/r"], "detail": {},
        }  # fmt: skip
        await world.fire_at(at("2026-11-26T12:10:00"))
        assert world.fired() == 2

    scenario(body)


def test_a_tick_that_died_after_publishing_does_not_fire_again() -> None:
    async def body(world: World) -> None:
        await world.scheduled()
        await world.fire_at(at("2026-11-26T12:05:01"))
        assert world.fired() == 1
        # As if the node had died before HandledUntil moved on: the event is stored, the document behind.
        async with world.runtime.store.transaction() as tx:
            document = await tx.get(sched.SCHEDULE, "", "", f"{REGION}/{ACCOUNT}/r")
            assert document is not None and document["HandledUntil"] == at("2026-11-26T12:05")
            document["HandledUntil"] = START
            await tx.put(sched.SCHEDULE, "", "", f"{REGION}/{ACCOUNT}/r", document)
        await world.fire_at(at("2026-11-26T12:05:30"))
        assert world.fired() == 1  # found stored: not published again
        assert (await world.schedule())["HandledUntil"] == at("2026-11-26T12:05")  # type: ignore[index]

    scenario(body)


def test_a_disabled_rule_does_not_fire_and_does_not_catch_up_when_enabled() -> None:
    async def body(world: World) -> None:
        await world.scheduled()
        await world.call(rules.disable_rule, Name="r")
        await world.fire_at(at("2026-11-26T12:05:01"))
        assert world.fired() == 0 and await world.event("r", at("2026-11-26T12:05")) is None
        await world.call(rules.enable_rule, Name="r")
        await world.fire_at(at("2026-11-26T12:06"))
        assert world.fired() == 0  # 12:05 passed while disabled
        await world.fire_at(at("2026-11-26T12:10:02"))
        assert world.fired() == 1 and await world.event("r", at("2026-11-26T12:10")) is not None

    scenario(body)


def test_a_rule_without_targets_fires_nothing_until_it_has_one() -> None:
    async def body(world: World) -> None:
        await world.call(rules.put_rule, Name="r", ScheduleExpression="rate(5 minutes)")
        await world.fire_at(at("2026-11-26T12:05:01"))
        assert world.fired() == 0
        arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:q"
        await world.call(targets.put_targets, Rule="r", Targets=[{"Id": "q", "Arn": arn}])
        await world.fire_at(at("2026-11-26T12:10:01"))
        assert world.fired() == 1

    scenario(body)


def test_a_changed_expression_starts_afresh_and_the_same_one_keeps_its_anchor() -> None:
    async def body(world: World) -> None:
        await world.scheduled("rate(5 minutes)")
        world.runtime.clock.offset_seconds += at("2026-11-26T12:03:30") - world.runtime.clock.time()
        await world.call(rules.put_rule, Name="r", ScheduleExpression="rate(5 minutes)", Description="same")
        assert (await world.schedule())["Anchor"] == pytest.approx(START, abs=1)  # type: ignore[index]
        await world.call(rules.put_rule, Name="r", ScheduleExpression="rate(10 minutes)")
        await world.fire_at(at("2026-11-26T12:05:01"))
        assert world.fired() == 0  # counted from 12:03 now: first at 12:13
        await world.fire_at(at("2026-11-26T12:13:00"))
        assert world.fired() == 1
        await world.call(rules.put_rule, Name="r", EventPattern='{"source": ["x"]}')  # no schedule any more
        assert await world.schedule() is None
        await world.fire_at(at("2026-11-26T12:30:00"))
        assert world.fired() == 1

    scenario(body)


def test_a_deleted_rule_leaves_no_schedule() -> None:
    async def body(world: World) -> None:
        await world.call(rules.put_rule, Name="r", ScheduleExpression="rate(1 minute)")
        assert await world.schedule() is not None
        await world.call(rules.delete_rule, Name="r")
        assert await world.schedule() is None
        await world.fire_at(at("2026-11-26T12:05:00"))

    scenario(body)


def test_a_rule_of_the_same_name_on_another_bus_leaves_the_schedule_alone() -> None:
    async def body(world: World) -> None:
        await world.scheduled()
        await world.call(buses.create_event_bus, Name="orders")
        await world.call(rules.put_rule, Name="r", EventBusName="orders", EventPattern='{"source": ["x"]}')
        await world.call(rules.delete_rule, Name="r", EventBusName="orders")
        assert await world.schedule() is not None
        await world.fire_at(at("2026-11-26T12:05:00"))
        assert world.fired() == 1

    scenario(body)


def test_catching_up_after_downtime_fires_once_per_rule() -> None:
    async def body(world: World) -> None:
        await world.scheduled("rate(1 minute)", name="often")
        await world.scheduled("cron(0 * * * ? *)", name="hourly")
        await world.fire_at(at("2026-11-26T18:20:05"))  # six hours later
        assert (world.fired("often"), world.fired("hourly")) == (1, 1)
        assert await world.event("often", at("2026-11-26T18:20")) is not None
        assert await world.event("hourly", at("2026-11-26T18:00")) is not None

    scenario(body)


def test_scheduled_rules_stored_by_an_older_eventyard_are_adopted_without_a_backlog() -> None:
    """A rule stored before schedules fired has no schedule document: the scheduler adopts it once, its
    rate counting from its creation, without firing the fire times that passed before."""

    async def body(world: World) -> None:
        await world.scheduled()
        async with world.runtime.store.transaction() as tx:  # as an older Eventyard left it
            await tx.delete(sched.SCHEDULE, "", "", f"{REGION}/{ACCOUNT}/r")
        assert await world.schedule() is None
        world.runtime.clock.offset_seconds += at("2026-11-26T13:02:00") - world.runtime.clock.time()
        assert await sched.adopt(world.runtime) == 1
        assert await sched.adopt(world.runtime) == 0  # once
        adopted = await world.schedule()
        assert adopted is not None
        assert adopted["Anchor"] == pytest.approx(START, abs=0.5)  # the rule's creation
        assert adopted["HandledUntil"] == pytest.approx(at("2026-11-26T13:02:00"), abs=0.5)
        await world.fire_at(at("2026-11-26T13:04:00"))
        assert world.fired() == 0  # 12:05 ... 13:00 passed before adoption: no backlog
        await world.fire_at(at("2026-11-26T13:05:00"))  # on the phase of its creation at 12:00:10
        assert world.fired() == 1
        assert await world.event("r", at("2026-11-26T13:05")) is not None

    scenario(body)
