"""Prometheus metrics named after EventBridge's CloudWatch metrics (AWS/Events), one registry per runtime.

CloudWatch name -> Prometheus name: `TriggeredRules` -> `eventyard_triggered_rules_total`, and so on; labels
`account`, `region`, `event_bus` and, for per-rule metrics, `rule` (the rule's name, as CloudWatch's RuleName
dimension). Counts are of this node since it started, as Prometheus counters are.

Counting is on the hot path (several counts per event), so counts are plain integers on one object per
(account, region, bus, rule), all touched from the event loop only; they become Prometheus samples when
`/metrics` is read. Histograms use prometheus_client as is.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

if TYPE_CHECKING:
    from eventyard.delivery.ingest import BusRoutes, Publication, RouteRule
    from eventyard.runtime import Runtime

CONTENT_TYPE = CONTENT_TYPE_LATEST
_EXTENSION = "metrics"
_BUS = ["account", "region", "event_bus"]
_RULE = [*_BUS, "rule"]
_SIZE_BUCKETS = (256, 1024, 4096, 16384, 65536, 262144, 524288, 1048576, 4194304)
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)

# attribute -> (metric name without _total, help); counted per bus (rule "") or per rule.
BUS_COUNTS = {
    "put_events_entries": (
        "eventyard_put_events_entries",
        "PutEvents entries accepted, by the bus they went to.",
    ),
    "missing_bus_events": (
        "eventyard_events_to_missing_bus",
        "Events accepted for a bus that does not exist and dropped, as AWS does.",
    ),
    "matched_events": ("eventyard_matched_events", "MatchedEvents: events that matched at least one rule."),
}
RULE_COUNTS = {
    "triggered_rules": ("eventyard_triggered_rules", "TriggeredRules: rules that matched an event."),
    "invocations": (
        "eventyard_invocations",
        "Invocations: targets invoked by a rule, counted once per delivery when it succeeds or fails for good.",
    ),
    "failed_invocations": (
        "eventyard_failed_invocations",
        "FailedInvocations: deliveries that failed permanently (after retries, or not retriable).",
    ),
    "invocation_attempts": (
        "eventyard_invocation_attempts",
        "InvocationAttempts: attempts to invoke a target.",
    ),
    "successful_invocation_attempts": (
        "eventyard_successful_invocation_attempts",
        "SuccessfulInvocationAttempts: attempts that delivered.",
    ),
    "retry_invocation_attempts": (
        "eventyard_retry_invocation_attempts",
        "RetryInvocationAttempts: attempts that were retries of an earlier failed attempt.",
    ),
    "invocations_sent_to_dlq": (
        "eventyard_invocations_sent_to_dlq",
        "InvocationsSentToDLQ: failed deliveries sent to the target's dead-letter queue.",
    ),
    "invocations_failed_to_be_sent_to_dlq": (
        "eventyard_invocations_failed_to_be_sent_to_dlq",
        "InvocationsFailedToBeSentToDLQ: failed deliveries the dead-letter queue did not take.",
    ),
    "dropped_invocations": (
        "eventyard_dropped_invocations",
        "Failed deliveries dropped because the target has no dead-letter queue.",
    ),
    "throttled_invocations": (
        "eventyard_throttled_invocations",
        "Invocations delayed because the target's rate limit was reached (not failures).",
    ),
    "scheduled_events": (
        "eventyard_scheduled_events",
        "Scheduled Events a scheduled rule sent to its targets, one per fire time (also counted as matched).",
    ),
}


class RuleMetrics:
    """The counts of one (account, region, bus, rule); per-bus counts live on rule "". Add with `+= 1`."""

    __slots__ = ("key", *BUS_COUNTS, *RULE_COUNTS)

    def __init__(self, key: tuple[str, str, str, str]) -> None:
        self.key = key
        for name in (*BUS_COUNTS, *RULE_COUNTS):
            setattr(self, name, 0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.series: dict[tuple[str, str, str, str], RuleMetrics] = {}
        self.failed_entries: dict[tuple[str, str, str], int] = {}
        self.in_progress = 0  # deliveries this node holds (set by the engine)
        self.put_events_request_size = Histogram(
            "eventyard_put_events_request_size_bytes",
            "PutEventsRequestSize: size of PutEvents requests (entry sizes as AWS counts them).",
            ("account", "region"),
            buckets=_SIZE_BUCKETS,
            registry=self.registry,
        )
        self.latency = Histogram(
            "eventyard_ingestion_to_invocation_success_latency_seconds",
            "IngestionToInvocationSuccessLatency: from acceptance to the successful invocation.",
            _BUS,
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(self)

    def rule(self, account: str, region: str, bus: str, rule: str) -> RuleMetrics:
        """The counts of one rule (rule "" for the bus's own counts)."""
        key = (account, region, bus, rule)
        found = self.series.get(key)
        if found is None:
            found = self.series[key] = RuleMetrics(key)
        return found

    # Recording, in EventBridge's terms.

    def put_events(self, account: str, region: str, size: int) -> None:
        self.put_events_request_size.labels(account, region).observe(size)

    def entries(self, account: str, region: str, bus: str, count: int) -> None:
        self.rule(account, region, bus, "").put_events_entries += count

    def failed_entry(self, account: str, region: str, code: str) -> None:
        key = (account, region, code)
        self.failed_entries[key] = self.failed_entries.get(key, 0) + 1

    def events_to_missing_bus(self, publication: Publication, count: int) -> None:
        self.rule(publication.account, publication.region, publication.bus, "").missing_bus_events += count

    def matched(self, routes: BusRoutes, rules: list[RouteRule]) -> None:
        self.rule(routes.account, routes.region, routes.name, "").matched_events += 1
        for rule in rules:
            self.rule(routes.account, routes.region, routes.name, rule.name).triggered_rules += 1

    def delivered_inline(self, routes: BusRoutes, rule: RouteRule) -> None:
        """A bus target of the same account, delivered while publishing: one successful attempt."""
        series = self.rule(routes.account, routes.region, routes.name, rule.name)
        series.invocation_attempts += 1
        series.successful_invocation_attempts += 1
        series.invocations += 1

    def scheduled(self, account: str, region: str, bus: str, rule: str) -> None:
        self.rule(account, region, bus, rule).scheduled_events += 1

    def delivered_after(self, account: str, region: str, bus: str, seconds: float) -> None:
        self.latency.labels(account, region, bus).observe(max(seconds, 0.0))

    # The Prometheus side.

    def describe(self) -> Iterator[Metric]:
        return iter(())  # samples appear as they are counted

    def collect(self) -> Iterator[Metric]:
        for counts, labels, per_rule in ((BUS_COUNTS, _BUS, False), (RULE_COUNTS, _RULE, True)):
            for attribute, (name, documentation) in counts.items():
                family = CounterMetricFamily(name, documentation, labels=labels)
                for key, series in self.series.items():
                    if bool(key[3]) == per_rule and (value := getattr(series, attribute)):
                        family.add_metric(list(key) if per_rule else list(key[:3]), value)
                yield family
        failed = CounterMetricFamily(
            "eventyard_put_events_failed_entries",
            "PutEvents entries refused, by error code.",
            labels=["account", "region", "error_code"],
        )
        for (account, region, code), value in self.failed_entries.items():
            failed.add_metric([account, region, code], value)
        yield failed
        yield GaugeMetricFamily(
            "eventyard_deliveries_in_progress",
            "Deliveries this node holds: queued for or being invoked.",
            self.in_progress,
        )

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def of(runtime: Runtime) -> Metrics:
    found = runtime.extensions.get(_EXTENSION)
    if found is None:
        found = runtime.extensions[_EXTENSION] = Metrics()
    return found  # type: ignore[no-any-return]
