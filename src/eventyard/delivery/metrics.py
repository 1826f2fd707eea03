"""Prometheus metrics named after EventBridge's CloudWatch metrics (AWS/Events), one registry per runtime.

CloudWatch name -> Prometheus name: `TriggeredRules` -> `eventyard_triggered_rules_total`, and so on; labels
`account`, `region`, `event_bus` and, for per-rule metrics, `rule` (the rule's name, as CloudWatch's RuleName
dimension). Counts are of this node since it started, as Prometheus counters are.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

if TYPE_CHECKING:
    from eventyard.delivery.ingest import BusRoutes, Publication, RouteRule
    from eventyard.runtime import Runtime

CONTENT_TYPE = CONTENT_TYPE_LATEST
_EXTENSION = "metrics"
_BUS = ("account", "region", "event_bus")
_RULE = (*_BUS, "rule")
_SIZE_BUCKETS = (256, 1024, 4096, 16384, 65536, 262144, 524288, 1048576, 4194304)
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.put_events_request_size = Histogram(
            "eventyard_put_events_request_size_bytes",
            "PutEventsRequestSize: size of PutEvents requests (entry sizes as AWS counts them).",
            ("account", "region"),
            buckets=_SIZE_BUCKETS,
            registry=r,
        )
        self.put_events_entries = Counter(
            "eventyard_put_events_entries", "PutEvents entries received (accepted or not).", _BUS, registry=r
        )
        self.put_events_failed_entries = Counter(
            "eventyard_put_events_failed_entries",
            "PutEvents entries refused, by error code.",
            ("account", "region", "error_code"),
            registry=r,
        )
        self.missing_bus_events = Counter(
            "eventyard_events_to_missing_bus",
            "Events accepted for a bus that does not exist and dropped, as AWS does.",
            _BUS,
            registry=r,
        )
        self.matched_events = Counter(
            "eventyard_matched_events",
            "MatchedEvents: events that matched at least one rule.",
            _BUS,
            registry=r,
        )
        self.triggered_rules = Counter(
            "eventyard_triggered_rules", "TriggeredRules: rules that matched an event.", _RULE, registry=r
        )
        self.invocations = Counter(
            "eventyard_invocations",
            "Invocations: targets invoked by a rule, counted once per delivery when it succeeds or fails for good.",
            _RULE,
            registry=r,
        )
        self.failed_invocations = Counter(
            "eventyard_failed_invocations",
            "FailedInvocations: deliveries that failed permanently (after retries, or not retriable).",
            _RULE,
            registry=r,
        )
        self.invocation_attempts = Counter(
            "eventyard_invocation_attempts",
            "InvocationAttempts: attempts to invoke a target.",
            _RULE,
            registry=r,
        )
        self.successful_invocation_attempts = Counter(
            "eventyard_successful_invocation_attempts",
            "SuccessfulInvocationAttempts: attempts that delivered.",
            _RULE,
            registry=r,
        )
        self.retry_invocation_attempts = Counter(
            "eventyard_retry_invocation_attempts",
            "RetryInvocationAttempts: attempts that were retries of an earlier failed attempt.",
            _RULE,
            registry=r,
        )
        self.invocations_sent_to_dlq = Counter(
            "eventyard_invocations_sent_to_dlq",
            "InvocationsSentToDLQ: failed deliveries sent to the target's dead-letter queue.",
            _RULE,
            registry=r,
        )
        self.invocations_failed_to_be_sent_to_dlq = Counter(
            "eventyard_invocations_failed_to_be_sent_to_dlq",
            "InvocationsFailedToBeSentToDLQ: failed deliveries the dead-letter queue did not take.",
            _RULE,
            registry=r,
        )
        self.dropped_invocations = Counter(
            "eventyard_dropped_invocations",
            "Failed deliveries dropped because the target has no dead-letter queue.",
            _RULE,
            registry=r,
        )
        self.throttled_invocations = Counter(
            "eventyard_throttled_invocations",
            "Invocations delayed because the target's rate limit was reached (not failures).",
            _RULE,
            registry=r,
        )
        self.ingestion_to_invocation_success_latency = Histogram(
            "eventyard_ingestion_to_invocation_success_latency_seconds",
            "IngestionToInvocationSuccessLatency: from acceptance to the successful invocation.",
            _BUS,
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.deliveries_in_progress = Gauge(
            "eventyard_deliveries_in_progress",
            "Deliveries this node holds: queued for or being invoked.",
            registry=r,
        )

        self._rules: dict[tuple[str, str, str, str], RuleMetrics] = {}

    def rule(self, account: str, region: str, bus: str, rule: str) -> RuleMetrics:
        """The per-rule series of one rule (looked up once, then kept: labels() is the costly part)."""
        key = (account, region, bus, rule)
        found = self._rules.get(key)
        if found is None:
            found = self._rules[key] = RuleMetrics(self, key)
        return found

    # Recording, in EventBridge's terms.

    def put_events(self, account: str, region: str, size: int) -> None:
        self.put_events_request_size.labels(account, region).observe(size)

    def entries(self, account: str, region: str, bus: str, count: int) -> None:
        self.put_events_entries.labels(account, region, bus).inc(count)

    def failed_entry(self, account: str, region: str, code: str) -> None:
        self.put_events_failed_entries.labels(account, region, code).inc()

    def events_to_missing_bus(self, publication: Publication, count: int) -> None:
        self.missing_bus_events.labels(publication.account, publication.region, publication.bus).inc(count)

    def matched(self, routes: BusRoutes, rules: list[RouteRule]) -> None:
        self.rule(routes.account, routes.region, routes.name, "").matched_events.inc()
        for rule in rules:
            self.rule(routes.account, routes.region, routes.name, rule.name).triggered_rules.inc()

    def delivered_inline(self, routes: BusRoutes, rule: RouteRule) -> None:
        """A bus target of the same account, delivered while publishing: one successful attempt."""
        series = self.rule(routes.account, routes.region, routes.name, rule.name)
        series.invocation_attempts.inc()
        series.successful_invocation_attempts.inc()
        series.invocations.inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def of(runtime: Runtime) -> Metrics:
    found = runtime.extensions.get(_EXTENSION)
    if found is None:
        found = runtime.extensions[_EXTENSION] = Metrics()
    return found  # type: ignore[no-any-return]


class RuleMetrics:
    """The series of one (account, region, bus, rule); `matched_events` is per bus (rule "")."""

    __slots__ = (
        "dropped_invocations",
        "failed_invocations",
        "invocation_attempts",
        "invocations",
        "invocations_failed_to_be_sent_to_dlq",
        "invocations_sent_to_dlq",
        "latency",
        "matched_events",
        "retry_invocation_attempts",
        "successful_invocation_attempts",
        "throttled_invocations",
        "triggered_rules",
    )

    def __init__(self, metrics: Metrics, key: tuple[str, str, str, str]) -> None:
        bus = key[:3]
        if not key[3]:
            self.matched_events = metrics.matched_events.labels(*bus)
            self.latency = metrics.ingestion_to_invocation_success_latency.labels(*bus)
            return
        for name in self.__slots__:
            if name not in ("matched_events", "latency"):
                setattr(self, name, getattr(metrics, name).labels(*key))
