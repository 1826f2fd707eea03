"""Scheduled rules: at each fire time of an enabled rule with a ScheduleExpression, a "Scheduled Event" goes to
that rule's targets (and to no other rule), through the outbox like any matched event.

State. Each scheduled rule has a schedule document (kind `rule_schedule`, under no account, so that one list
finds every rule of every account and Region) written by PutRule and removed by DeleteRule in their own
transactions: the expression, its `Anchor` (when this expression was set: a rate counts from there) and
`HandledUntil` (fire times up to this one are done: fired, or passed while the rule was disabled or had no
targets). A changed expression starts afresh from the PutRule that set it; the same expression put again
keeps its anchor.

Firing, one node at a time (`store.exclusive`): for each document, the last fire time in
(HandledUntil, now] is due; its event id is derived from (rule, anchor, fire time), so the event is published
only if the store has no event of that id yet, and HandledUntil then moves to it in a transaction of its own.
A node killed between the two leaves HandledUntil behind; the next tick (any node) finds the event and only
moves HandledUntil on. Each fire time is thus fired once, unless a node loses its database session while it
is still publishing and another node checks before that node's commit lands (then twice, never lost).

Catch-up: after downtime or a jump of the clock, only the latest missed fire time is fired, with its own
time; the earlier ones are skipped, as AWS replays no backlog of scheduled events.

Time is `runtime.clock`: the service sleeps until the next fire time (at most POLL_SECONDS; rule changes wake
it), and moving the test clock fires what became due before the clock call answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from eventyard.core import arn as arns
from eventyard.core.envelope import scheduled_event
from eventyard.core.schedule import latest_fire_time, parse_schedule
from eventyard.delivery import ingest, metrics
from eventyard.errors import AwsError
from eventyard.runtime import stop_task
from eventyard.store.base import Doc, Tx, again_on_contention

if TYPE_CHECKING:
    from eventyard.runtime import Runtime

log = logging.getLogger("eventyard.scheduler")

SCHEDULE = "rule_schedule"
LOCK = "scheduled-rules"
PAGE = 500
POLL_SECONDS = 10.0  # look at the schedules at least this often (missed announcements, a dead lock holder)
BUSY_SECONDS = 1.0  # after another node held the lock, or a failure: look again this soon
CLOCK_LOCK_WAIT = 5.0  # a moved test clock waits this long for another node's tick to finish
_EVENT_IDS = uuid.UUID("0c6d2d55-52a4-4d3c-9a39-1f1a7f3f2f61")  # namespace of scheduled event ids


def _key(region: str, account: str, rule: str) -> str:
    return f"{region}/{account}/{rule}"  # neither a Region, an account nor a rule name holds "/"


def _moment(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


# ---------------------------------------------------------------------------------------------------
# The schedule documents, kept by PutRule and DeleteRule


async def track(tx: Tx, account: str, region: str, rule: Doc, previous: Doc | None, now: float) -> None:
    """PutRule, in its transaction: keep the schedule document of `rule` in step with it. `previous` is the
    rule before this PutRule (None for a new rule)."""
    if rule["EventBusName"] != arns.DEFAULT_BUS:
        return  # only the default bus has schedules (a rule of that name there is another rule)
    key = _key(region, account, rule["Name"])
    current = await tx.get(SCHEDULE, "", "", key)
    expression = rule.get("ScheduleExpression")
    if expression is None:
        if current is not None:
            await tx.delete(SCHEDULE, "", "", key)
        return
    if current is not None and current["ScheduleExpression"] == expression and current["Arn"] == rule["Arn"]:
        return  # the same schedule goes on
    anchor = now
    if current is None and previous is not None and previous.get("ScheduleExpression") == expression:
        anchor = previous["CreationTime"]  # a rule stored before schedules fired: its rate counts from then
    document = {
        "Account": account,
        "Region": region,
        "Rule": rule["Name"],
        "Arn": rule["Arn"],
        "ScheduleExpression": expression,
        "Anchor": anchor,
        "HandledUntil": now,
    }
    await tx.put(SCHEDULE, "", "", key, document)


async def adopt(runtime: Runtime) -> int:
    """Scheduled rules stored before schedules fired (by an older Eventyard) get their schedule documents:
    their rates count from their creation, and fire times already past count as handled (no backlog). How
    many were adopted. Run once per process, under the scheduler's lock."""
    now = runtime.clock.time()
    adopted = 0
    async with runtime.store.transaction() as tx:
        for account, region, rule in await tx.everywhere(ingest.RULE, parent=arns.DEFAULT_BUS):
            if not rule.get("ScheduleExpression"):
                continue
            if await tx.get(SCHEDULE, "", "", _key(region, account, rule["Name"])) is None:
                await track(tx, account, region, rule, rule, now)
                adopted += 1
    if adopted:
        log.info("adopted %d scheduled rule(s) stored before scheduled rules fired", adopted)
    return adopted


async def untrack(tx: Tx, account: str, region: str, bus: str, name: str) -> None:
    """DeleteRule, in its transaction: the rule's schedule stops."""
    if bus == arns.DEFAULT_BUS:
        await tx.delete(SCHEDULE, "", "", _key(region, account, name))


# ---------------------------------------------------------------------------------------------------
# Firing


def fire_plan(schedule: Doc, now: float) -> tuple[float | None, float | None]:
    """(the fire time due now, the next fire time after it), epoch seconds, for a schedule document.

    Due is the latest fire time in (HandledUntil, now], whatever was missed before it (catch-up fires one);
    None when nothing is due. The next fire time is None when the schedule never fires again.
    """
    try:
        parsed = parse_schedule(schedule["ScheduleExpression"])
    except AwsError:
        log.error("rule %s has a schedule that no longer parses; it never fires", schedule["Arn"])
        return None, None
    anchor = _moment(schedule["Anchor"])
    handled = _moment(schedule["HandledUntil"])
    due = latest_fire_time(parsed, after=handled, until=_moment(now), anchor=anchor)
    upcoming = parsed.next_after(due or handled, anchor=anchor)
    return (
        None if due is None else due.timestamp(),
        None if upcoming is None else upcoming.timestamp(),
    )


def scheduled_event_id(schedule: Doc, fire_time: float) -> str:
    """The id of the event of this schedule at `fire_time`: the same on every node and every try, so a fire
    time whose event is stored already is not published again."""
    name = f"{schedule['Arn']}\n{schedule['ScheduleExpression']}\n{schedule['Anchor']!r}\n{fire_time!r}"
    return str(uuid.uuid5(_EVENT_IDS, name))


def _still_due(current: Doc | None, schedule: Doc, due: float) -> bool:
    """Whether the stored schedule document `current` is still `schedule` (not changed or removed since it was
    listed) with `due` not yet handled."""
    return (
        current is not None
        and all(
            current.get(field) == schedule.get(field) for field in ("Arn", "ScheduleExpression", "Anchor")
        )
        and current["HandledUntil"] < due
    )


async def fire_due(runtime: Runtime) -> float | None:
    """Fire every scheduled rule that is due at the clock's time (call under `store.exclusive(LOCK)`).
    Returns the earliest clock time at which one is due next (None: none ever is)."""
    now = runtime.clock.time()
    earliest: float | None = None
    after: str | None = None
    while True:
        async with runtime.store.transaction() as tx:
            documents = await tx.list(SCHEDULE, "", "", after=after, limit=PAGE)
        for document in documents:
            due, upcoming = fire_plan(document, now)
            if due is not None:
                try:
                    await _fire(runtime, document, due)
                except Exception:
                    log.exception("firing the scheduled rule %s failed; trying again", document["Arn"])
                    upcoming = now + BUSY_SECONDS
            if upcoming is not None and (earliest is None or upcoming < earliest):
                earliest = upcoming
        if len(documents) < PAGE:
            return earliest
        last = documents[-1]
        after = _key(last["Region"], last["Account"], last["Rule"])


async def _fire(runtime: Runtime, schedule: Doc, due: float) -> None:
    """Publish the rule's Scheduled Event for `due` (unless it is stored already, or the rule does not fire
    now), then mark `due` handled."""
    account, region, name = schedule["Account"], schedule["Region"], schedule["Rule"]
    key = _key(region, account, name)
    async with runtime.store.transaction() as tx:
        current = await tx.get(SCHEDULE, "", "", key)
        rule = await tx.get(ingest.RULE, account, region, name, parent=arns.DEFAULT_BUS)
    if not _still_due(current, schedule, due):
        return  # changed or handled since it was listed: the next tick sees it as it is now
    if (
        rule is not None
        and rule.get("ScheduleExpression") == schedule["ScheduleExpression"]
        and rule.get("State") in ingest.ENABLED_STATES
        and rule.get("Targets")
    ):
        event_id = scheduled_event_id(schedule, due)
        if not await runtime.store.find_event(event_id, limit=1):
            event = scheduled_event(
                event_id=event_id, account=account, region=region, rule_arn=rule["Arn"], fire_time=due
            )
            bus = (account, region, arns.DEFAULT_BUS)
            publication = ingest.Publication(*bus, [event], rules=(ingest.route_rule(bus, rule),))
            await ingest.publish_all(runtime, [publication])
            metrics.of(runtime).scheduled(*bus, name)

    async def handled() -> None:
        async with runtime.store.transaction() as tx:
            current = await tx.get(SCHEDULE, "", "", key)
            if current is None or not _still_due(current, schedule, due):
                return
            if rule is None:  # deleted meanwhile (DeleteRule removes the document too): nothing to keep
                await tx.delete(SCHEDULE, "", "", key)
                return
            current["HandledUntil"] = due
            await tx.put(SCHEDULE, "", "", key, current)

    await again_on_contention(handled)


class RuleScheduler:
    """The background service that fires scheduled rules: `runtime.extensions["rule_scheduler"]`."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._lock = asyncio.Lock()  # one tick at a time on this node
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._adopted = False  # stored scheduled rules without a schedule document looked for
        runtime.extensions["rule_scheduler"] = self

    async def start(self) -> None:
        self.runtime.extensions.setdefault("clock_listeners", []).append(self._clock_moved)
        self.runtime.rule_listeners.append(self._rules_changed)
        self._task = asyncio.create_task(self._loop(), name="rule-scheduler")

    async def stop(self) -> None:
        await stop_task(self._task)
        self._task = None

    async def tick(self, wait: float = 0.0) -> float:
        """Fire what is due now if no other node is doing it (waiting up to `wait` seconds for it to finish);
        how many seconds until this node should look again."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        async with self._lock:
            while True:
                async with self.runtime.store.exclusive(LOCK) as got:
                    if got:
                        if not self._adopted:
                            await adopt(self.runtime)
                            self._adopted = True
                        upcoming = await fire_due(self.runtime)
                        break
                if loop.time() >= deadline:
                    return BUSY_SECONDS
                await asyncio.sleep(0.05)
        if upcoming is None:
            return POLL_SECONDS
        # A little past the fire time, so that a timer that fires early does not spin.
        return min(max(upcoming - self.runtime.clock.time(), 0.0) + 0.05, POLL_SECONDS)

    def _rules_changed(self, account: str, region: str, bus: str) -> None:
        if bus == arns.DEFAULT_BUS:
            self._wake.set()

    async def _clock_moved(self) -> None:
        try:
            await self.tick(wait=CLOCK_LOCK_WAIT)
        except Exception:
            log.exception("firing scheduled rules after the clock moved failed")
        self._wake.set()  # the loop's wait was measured on the old clock

    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            try:
                delay = await self.tick()
            except Exception as error:
                log.warning("firing scheduled rules failed (trying again): %s", error)
                delay = BUSY_SECONDS
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)
