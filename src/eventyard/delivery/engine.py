"""The delivery engine: invokes targets for the deliveries in the outbox, at least once, retrying by the
target's RetryPolicy and then dead-lettering.

Work reaches it two ways. The node that accepts an event hands the new deliveries straight to its own engine
(they are stored already leased to it, so no claim round trip); everything else (retries that came due,
deliveries of a node that died, work beyond what this node could hold) is claimed from the store. Each target
ARN has its own lane with a bounded number of concurrent invocations and of held deliveries, and a saturated
lane is excluded from claims, so a slow or failing target never holds up another target, and nothing here
ever holds up PutEvents. Outcomes are written in batches.

Time comes from `runtime.clock`: a retry is due at a clock time, and moving the test clock wakes the engine.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from eventyard.core.envelope import format_time
from eventyard.delivery import metrics
from eventyard.delivery.metrics import RuleMetrics
from eventyard.delivery.targets import Delayed, DeliveryError, Invocation, adapter_for
from eventyard.store.base import DELIVERIES_CHANNEL
from eventyard.store.outbox import (
    DEAD_LETTERED,
    DELIVERED,
    DROPPED,
    FAILED,
    PENDING,
    ClaimedDelivery,
    DeliveryOutcome,
)

if TYPE_CHECKING:
    from eventyard.runtime import Runtime

log = logging.getLogger("eventyard.delivery")

DEFAULT_MAXIMUM_RETRY_ATTEMPTS = 185
DEFAULT_MAXIMUM_EVENT_AGE = 86400
MAX_BACKOFF_FACTOR = 300  # the longest wait between attempts, in units of --retry-base-seconds
ATTEMPT_TIMEOUT = 30.0  # a guard over the adapters' own timeouts (API destinations: 5 s)
LEASE_MARGIN = 1.0  # a held delivery this close to the end of its lease is left for a new claim
CLAIM_BATCH = 256
POLL_SECONDS = 5.0  # look at the store at least this often (other nodes' work, missed wake-ups)
SATURATED_POLL_SECONDS = 0.25  # ... and this often while due work waits for saturated targets
RETENTION_EVERY = 60.0
RETENTION_BATCH = 10_000

Job = tuple[ClaimedDelivery, dict[str, Any] | None]  # the delivery and its event, if already parsed
DeadLetter = Callable[["Runtime", str, str, dict[str, str]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """A target's RetryPolicy with AWS's defaults: retry up to 185 times and for up to 24 hours."""

    maximum_retry_attempts: int = DEFAULT_MAXIMUM_RETRY_ATTEMPTS
    maximum_event_age: float = DEFAULT_MAXIMUM_EVENT_AGE

    @classmethod
    def of(cls, target: dict[str, Any]) -> RetryPolicy:
        policy = target.get("RetryPolicy") or {}
        return cls(
            policy.get("MaximumRetryAttempts", DEFAULT_MAXIMUM_RETRY_ATTEMPTS),
            policy.get("MaximumEventAgeInSeconds", DEFAULT_MAXIMUM_EVENT_AGE),
        )


def backoff(attempt: int, base: float, rng: random.Random) -> float:
    """Delay after failed attempt number `attempt` (1 = the first): exponential from `base`, capped at
    MAX_BACKOFF_FACTOR * base, with "equal jitter" (half fixed, half random) so retries spread out."""
    delay = min(base * 2 ** min(attempt - 1, 30), base * MAX_BACKOFF_FACTOR)
    return delay / 2 + rng.random() * delay / 2


def _error_text(error: DeliveryError) -> str:
    """A failure as the store keeps it (`last_error`), and `_last_failure` reads it back."""
    return f"{error.code}: {error.message}"


def _last_failure(delivery: ClaimedDelivery) -> DeliveryError:
    """The error of the delivery's last attempt; for one never attempted (held by a rate limit, or a dead
    node, until the event was too old), a timeout."""
    if delivery.last_error is None:
        return DeliveryError("TIMEOUT", "The event is older than MaximumEventAgeInSeconds.", retriable=True)
    code, _, message = delivery.last_error.partition(": ")
    return DeliveryError(code, message, retriable=True)


@dataclass(slots=True)
class Lane:
    """The deliveries this node holds for one target ARN."""

    arn: str
    queue: deque[Job] = field(default_factory=deque)
    active: int = 0  # workers invoking this target now


class DeliveryEngine:
    """A Runtime service (started and stopped by the lifespan); `runtime.extensions["delivery_engine"]`."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        rng: random.Random | None = None,
        dead_letter: DeadLetter | None = None,
    ) -> None:
        config = runtime.config
        self.runtime = runtime
        self.rng = rng or random.Random()
        self.dead_letter = dead_letter
        self.lease_seconds = config.delivery_lease_seconds
        self.retention_seconds = config.delivery_retention_seconds
        self.max_active = max(1, config.delivery_workers)
        self.per_target = max(1, min(config.delivery_target_concurrency, self.max_active))
        self.lane_cap = self.per_target * 4  # deliveries held per target (queued + being invoked)
        self.hold_cap = self.max_active * 4  # deliveries held in all
        self.running = False
        self.stop_grace = 5.0  # at a stop, how long invocations under way may take to finish
        self.lanes: dict[str, Lane] = {}
        self.held: dict[str, ClaimedDelivery] = {}  # delivery id -> its latest claim (lease) by this node
        self._wake = asyncio.Event()
        self._outcomes: list[DeliveryOutcome] = []
        self._writing = 0
        self._outcome_ready = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._workers: set[asyncio.Task[None]] = set()
        self.metrics = metrics.of(runtime)
        runtime.extensions["delivery_engine"] = self
        runtime.extensions.setdefault("clock_listeners", []).append(self._clock_moved)
        runtime.store.subscribe(DELIVERIES_CHANNEL, lambda _payload: self.wake())

    # ------------------------------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        from eventyard.delivery.targets import load_all

        load_all()
        released = await self.runtime.store.recover_leases(self.runtime.clock.time())
        if released:
            log.info("%d deliveries of a previous run are due again", released)
        self.running = True
        self._tasks = [
            asyncio.create_task(self._dispatch(), name="delivery-dispatch"),
            asyncio.create_task(self._flush_loop(), name="delivery-outcomes"),
            asyncio.create_task(self._retention_loop(), name="delivery-retention"),
        ]

    async def stop(self) -> None:
        if not self.running:
            return
        self.running = False
        self.wake()
        # Deliveries not started yet go back to the store, due now, for the next start or another node.
        now = self.runtime.clock.time()
        for lane in self.lanes.values():
            while lane.queue:
                job, _ = lane.queue.popleft()
                self._give_back(job, now)
        if self._workers:
            await asyncio.wait(self._workers, timeout=self.stop_grace)
        for worker in list(self._workers):
            worker.cancel()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, *self._workers, return_exceptions=True)
        await self._flush()

    def wake(self) -> None:
        self._wake.set()

    async def _clock_moved(self) -> None:
        self.wake()

    # --------------------------------------------------------------------------------------- taking work

    def can_take(self, target_arn: str) -> bool:
        """Would this node hold a new delivery to `target_arn` now (else it waits in the store)?"""
        if not self.running or len(self.held) >= self.hold_cap:
            return False
        lane = self.lanes.get(target_arn)
        return lane is None or len(lane.queue) + lane.active < self.lane_cap

    def submit(self, jobs: list[Job]) -> None:
        """Take deliveries already leased to this node (just accepted, or claimed)."""
        for job in jobs:
            delivery = job[0]
            if delivery.id in self.held:
                # Re-claimed while still waiting here (its lease ran out in the queue): the waiting job goes
                # on, under the new lease, or it would be skipped as expired and sit out the new lease too.
                self.held[delivery.id] = delivery
                continue
            self.held[delivery.id] = delivery
            lane = self.lanes.get(delivery.target_arn)
            if lane is None:
                lane = self.lanes[delivery.target_arn] = Lane(delivery.target_arn)
            lane.queue.append(job)
        self._spawn()
        self.metrics.in_progress = len(self.held)

    def _spawn(self) -> None:
        """Start workers for lanes with waiting deliveries, within the per-target and overall limits."""
        for lane in list(self.lanes.values()):
            while (
                lane.active < self.per_target
                and lane.active < len(lane.queue)
                and len(self._workers) < self.max_active
            ):
                lane.active += 1
                worker = asyncio.create_task(self._work(lane))
                self._workers.add(worker)
                worker.add_done_callback(self._worker_done)
            if len(self._workers) >= self.max_active:
                return

    def _worker_done(self, worker: asyncio.Task[None]) -> None:
        self._workers.discard(worker)
        if self.running:
            self._spawn()

    def _saturated(self) -> list[str]:
        return [arn for arn, lane in self.lanes.items() if len(lane.queue) + lane.active >= self.lane_cap]

    async def _dispatch(self) -> None:
        store = self.runtime.store
        clock = self.runtime.clock
        while self.running:
            self._wake.clear()
            timeout = POLL_SECONDS
            try:
                room = self.hold_cap - len(self.held)
                if room > 0:
                    excluded = self._saturated()
                    limit = min(room, CLAIM_BATCH)
                    claimed = await store.claim_deliveries(
                        self.runtime.node_id, clock.time(), self.lease_seconds, limit, excluded
                    )
                    if claimed:
                        self.submit([(delivery, None) for delivery in claimed])
                    if len(claimed) == limit:
                        continue  # there may be more due
                    # Unfiltered, so the store answers from its index; due work left unclaimed belongs to
                    # saturated targets, whose workers wake us when they have room again.
                    due = await store.next_due_at()
                    if due is not None:
                        wait = due - clock.time()
                        timeout = min(wait + 0.001 if wait > 0 else SATURATED_POLL_SECONDS, POLL_SECONDS)
                # else: full; a worker finishing wakes us
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("claiming deliveries failed; trying again shortly")
                timeout = 1.0
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except TimeoutError:
                pass

    # -------------------------------------------------------------------------------------------- work

    async def _work(self, lane: Lane) -> None:
        try:
            while lane.queue and self.running:
                job = lane.queue.popleft()
                try:
                    await self._attempt(*job)
                except Exception:
                    log.exception("delivery %s failed unexpectedly; it will be retried", job[0].id)
                finally:
                    self.held.pop(job[0].id, None)
                    # Claim again once there is room for a good batch: the lane is down to half of what it
                    # may hold, or all lanes together are.
                    if (
                        len(lane.queue) + lane.active == self.lane_cap // 2
                        or len(self.held) == self.hold_cap // 2
                    ):
                        self.wake()
        finally:
            lane.active -= 1
            if not lane.queue and not lane.active and self.lanes.get(lane.arn) is lane:
                del self.lanes[lane.arn]
            self.metrics.in_progress = len(self.held)

    async def _attempt(self, delivery: ClaimedDelivery, event: dict[str, Any] | None) -> None:
        runtime = self.runtime
        now = runtime.clock.time()
        delivery = self.held.get(delivery.id, delivery)  # the latest lease, if it was claimed again
        if now >= delivery.lease_expires_at - LEASE_MARGIN:
            return  # held too long: the lease is (nearly) over and the store will hand it out again
        policy = RetryPolicy.of(delivery.target)
        rule_name = delivery.rule_arn.rsplit("/", 1)[-1]
        series = self.metrics.rule(delivery.account, delivery.region, delivery.bus, rule_name)
        attempt = delivery.attempts + 1
        if now - delivery.created_at > policy.maximum_event_age:
            # Came due (a retry, or back from a dead node or a rate limit) after the event's maximum age: no
            # more attempts, and the dead-letter queue gets the last attempt's error, as AWS's does.
            error = _last_failure(delivery)
            await self._exhausted(delivery, error, "MaximumEventAgeInSeconds", delivery.attempts, series)
            return
        if event is None:
            event = orjson.loads(delivery.body)
        series.invocation_attempts += 1
        if attempt > 1:
            series.retry_invocation_attempts += 1
        try:
            payload = self._payload(delivery, event, rule_name)
            adapter = adapter_for(delivery.target_arn)
            if adapter is None:
                raise DeliveryError(
                    "NO_RESOURCE", f"Eventyard cannot deliver to {delivery.target_arn}.", retriable=False
                )
            invocation = Invocation(
                account=delivery.account,
                region=delivery.region,
                rule_arn=delivery.rule_arn,
                rule_name=rule_name,
                target=delivery.target,
                event=event,
                payload=payload,
                attempt=attempt,
                via=tuple(delivery.via.split("\t")) if delivery.via else (),
            )
            async with asyncio.timeout(ATTEMPT_TIMEOUT):  # no extra task per attempt, unlike wait_for
                await adapter(runtime, invocation)
        except Delayed as delayed:
            # Rate limited before invoking: not an attempt; try again when the limit allows.
            series.throttled_invocations += 1
            due = runtime.clock.time() + max(delayed.retry_after or 0.0, 0.001)
            self._record(delivery, PENDING, delivery.attempts, due, None)
            return
        except DeliveryError as error:
            await self._failed(delivery, error, attempt, policy, series)
            return
        except TimeoutError:
            error = DeliveryError("TIMEOUT", f"No answer within {ATTEMPT_TIMEOUT:g} seconds.", retriable=True)
            await self._failed(delivery, error, attempt, policy, series)
            return
        except Exception as unexpected:
            log.exception("invoking %s raised", delivery.target_arn)
            error = DeliveryError(
                "SDK_CLIENT_ERROR", f"{type(unexpected).__name__}: {unexpected}", retriable=True
            )
            await self._failed(delivery, error, attempt, policy, series)
            return
        done = runtime.clock.time()
        series.successful_invocation_attempts += 1
        series.invocations += 1
        self.metrics.delivered_after(
            delivery.account, delivery.region, delivery.bus, done - delivery.ingested_at
        )
        self._record(delivery, DELIVERED, attempt, done, None)

    def _payload(self, delivery: ClaimedDelivery, event: dict[str, Any], rule_name: str) -> str:
        target = delivery.target
        if (
            target.get("Input") is None
            and target.get("InputPath") is None
            and target.get("InputTransformer") is None
        ):
            return delivery.body  # the whole event, exactly as stored
        from eventyard.core.transform import target_input

        try:
            return target_input(
                event,
                target,
                rule_arn=delivery.rule_arn,
                rule_name=rule_name,
                ingestion_time=format_time(delivery.ingested_at),
            )
        except Exception as error:
            raise DeliveryError(
                "INVALID_PARAMETER", f"The target's input could not be built: {error}", retriable=False
            ) from None

    async def _failed(
        self,
        delivery: ClaimedDelivery,
        error: DeliveryError,
        attempt: int,
        policy: RetryPolicy,
        series: RuleMetrics,
    ) -> None:
        now = self.runtime.clock.time()
        if not error.retriable or (error.retry_after is not None and error.retry_after < 0):
            await self._exhausted(delivery, error, None, attempt, series)
            return
        if attempt - 1 >= policy.maximum_retry_attempts:
            await self._exhausted(delivery, error, "MaximumRetryAttempts", attempt, series)
            return
        delay = backoff(attempt, self.runtime.config.retry_base_seconds, self.rng)
        if error.retry_after is not None:
            delay = max(delay, error.retry_after)  # the more conservative of the policy and the target
        due = now + delay
        if due - delivery.created_at > policy.maximum_event_age:
            await self._exhausted(delivery, error, "MaximumEventAgeInSeconds", attempt, series)
            return
        self._record(delivery, PENDING, attempt, due, _error_text(error))

    async def _exhausted(
        self,
        delivery: ClaimedDelivery,
        error: DeliveryError,
        condition: str | None,
        attempts: int,
        series: RuleMetrics,
    ) -> None:
        """No more attempts: to the target's dead-letter queue if it has one, else dropped (and counted)."""
        series.failed_invocations += 1
        series.invocations += 1
        last_error = _error_text(error)
        if condition:
            last_error += f" ({condition} exhausted)"
        queue = (delivery.target.get("DeadLetterConfig") or {}).get("Arn")
        now = self.runtime.clock.time()
        if not queue:
            series.dropped_invocations += 1
            log.info("delivery %s to %s dropped: %s", delivery.id, delivery.target_arn, last_error)
            self._record(delivery, DROPPED, attempts, now, last_error)
            return
        attributes = {
            "RULE_ARN": delivery.rule_arn,
            "TARGET_ARN": delivery.target_arn,
            "ERROR_CODE": error.code,
            "ERROR_MESSAGE": error.message,
            "EXHAUSTED_RETRY_CONDITION": condition or "",
            "RETRY_ATTEMPTS": str(max(attempts - 1, 0)),
        }
        send = self.dead_letter
        if send is None:
            from eventyard.delivery.targets.sqs import send_to_dead_letter_queue

            send = send_to_dead_letter_queue
        try:
            await asyncio.wait_for(send(self.runtime, queue, delivery.body, attributes), ATTEMPT_TIMEOUT)
        except Exception as dlq_error:
            series.invocations_failed_to_be_sent_to_dlq += 1
            reason = dlq_error.message if isinstance(dlq_error, DeliveryError) else str(dlq_error)
            log.warning("delivery %s: dead-letter queue %s refused it: %s", delivery.id, queue, reason)
            self._record(
                delivery, FAILED, attempts, now, f"{last_error}; dead-letter queue {queue}: {reason}"
            )
            return
        series.invocations_sent_to_dlq += 1
        self._record(delivery, DEAD_LETTERED, attempts, now, last_error)

    # ---------------------------------------------------------------------------------------- outcomes

    def _record(
        self, delivery: ClaimedDelivery, state: str, attempts: int, due: float, error: str | None
    ) -> None:
        if error is not None:  # it may quote what a target answered: PostgreSQL's text holds no NUL
            error = error.replace("\x00", "\ufffd")
        self._outcomes.append(DeliveryOutcome(delivery.id, self.runtime.node_id, state, attempts, due, error))
        self._outcome_ready.set()

    def _give_back(self, delivery: ClaimedDelivery, now: float) -> None:
        self.held.pop(delivery.id, None)
        self._record(delivery, PENDING, delivery.attempts, now, None)

    async def _flush_loop(self) -> None:
        while True:
            await self._outcome_ready.wait()
            self._outcome_ready.clear()
            try:
                await self._flush()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("recording delivery outcomes failed; trying again shortly")
                await asyncio.sleep(1.0)
                self._outcome_ready.set()

    async def _flush(self) -> None:
        while self._outcomes:
            batch, self._outcomes = self._outcomes, []
            self._writing += 1
            try:
                await self.runtime.store.record_outcomes(batch, self.runtime.clock.time())
            except BaseException:
                self._outcomes[:0] = batch  # kept: written on the next try
                raise
            finally:
                self._writing -= 1
            if any(outcome.state == PENDING for outcome in batch):
                self.wake()  # a retry may be due before what the dispatcher waits for

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait until nothing is held and every outcome is written (for tests and benchmarks)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.held or self._outcomes or self._writing:
            if loop.time() > deadline:
                raise TimeoutError("deliveries still in progress")
            await asyncio.sleep(0.005)

    # --------------------------------------------------------------------------------------- retention

    async def _retention_loop(self) -> None:
        while True:
            await asyncio.sleep(RETENTION_EVERY)
            try:
                await self.purge()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox retention failed")

    async def purge(self) -> int:
        """Delete finished deliveries and their events older than the retention period."""
        store = self.runtime.store
        gone = 0
        async with store.exclusive("outbox-retention") as got:
            if not got:
                return 0
            before = self.runtime.clock.time() - self.retention_seconds
            while True:
                count = await store.purge_outbox(before, RETENTION_BATCH)
                gone += count
                if count < RETENTION_BATCH:
                    break
        return gone
