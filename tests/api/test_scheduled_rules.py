"""Scheduled rules fire: moving the server's test clock past a fire time sends AWS's "Scheduled Event" to the
rule's targets (an API destination, another bus), and to no other rule. A server of its own, so that the
clock moves only when these tests move it."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.api.delivery_helpers import deliveries_of, entry
from tests.fixtures_aws import Receiver
from tests.support import ServerProcess, api_destination, new_account

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@pytest.fixture(scope="module")
def eventyard(new_store_url: Callable[[], str]) -> Iterator[ServerProcess]:
    process = ServerProcess(new_store_url(), "--retry-base-seconds", "0.01").start()
    yield process
    process.stop()


def server_time(server: ServerProcess) -> datetime:
    response = httpx.post(f"{server.url}/_eventyard/clock", json={"advance": 0}, timeout=10)
    response.raise_for_status()
    return datetime.fromtimestamp(response.json()["now"], UTC)


def move_clock_to(server: ServerProcess, moment: datetime) -> None:
    server.advance_clock(max((moment - server_time(server)).total_seconds(), 0))


def minute_of(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class Owner:
    """A fresh account on the server, with API destinations to the test's receiver."""

    def __init__(self, server: ServerProcess, receiver: Receiver) -> None:
        self.server = server
        self.receiver = receiver
        self.account = new_account()
        self.events = server.client(account=self.account)
        self.destinations: dict[str, str] = {}

    def destination(self, path: str) -> str:
        """An API destination POSTing to `path` on the receiver."""
        if path not in self.destinations:
            name = f"to{len(self.destinations)}"
            self.destinations[path] = api_destination(self.events, f"{self.receiver.url}{path}", name=name)
        return self.destinations[path]

    def scheduled(self, name: str, expression: str, path: str | None = None, **rule: Any) -> datetime:
        """A rule `name` on `expression` with one target to `path` (if any); the minute it was created in."""
        for _ in range(3):  # the rule's creation minute must be known: retry if a minute began meanwhile
            before = minute_of(server_time(self.server))
            self.events.put_rule(Name=name, ScheduleExpression=expression, **rule)
            if minute_of(server_time(self.server)) == before:
                break
            self.events.delete_rule(Name=name)
        else:
            raise AssertionError("could not create the rule within one minute")
        if path is not None:
            self.target(name, path)
        return before

    def target(self, rule: str, path: str, **target: Any) -> None:
        self.events.put_targets(Rule=rule, Targets=[{"Id": "t", "Arn": self.destination(path), **target}])

    def arn(self, rule: str) -> str:
        return f"arn:aws:events:us-east-1:{self.account}:rule/{rule}"

    def scheduled_event(self, rule: str, event_id: str, fire_time: datetime) -> dict[str, Any]:
        return {
            "version": "0", "id": event_id, "detail-type": "Scheduled Event", "source": "aws.events",
            "account": self.account, "time": iso(fire_time), "region": "us-east-1",
            "resources": [self.arn(rule)], "detail": {},
        }  # fmt: skip

    def fired(self, rule: str) -> float:
        """What /metrics counts of the rule's scheduled events."""
        text = httpx.get(f"{self.server.url}/metrics", timeout=10).text
        labels = f'account="{self.account}",event_bus="default",region="us-east-1",rule="{rule}"'
        found = re.search(rf"^eventyard_scheduled_events_total\{{{re.escape(labels)}\}} (\S+)$", text, re.M)
        return float(found.group(1)) if found else 0.0


def start_a_minute(server: ServerProcess) -> None:
    """Move the clock to one second past the next whole minute: what a test does within the next 58 seconds
    stays in that minute (and moving the clock by whole minutes keeps it there)."""
    now = server_time(server)
    move_clock_to(server, minute_of(now) + timedelta(minutes=1, seconds=1))


@pytest.fixture
def owner(eventyard: ServerProcess, receiver: Receiver) -> Iterator[Owner]:
    start_a_minute(eventyard)
    found = Owner(eventyard, receiver)
    yield found
    # Later tests move the clock on: this account's rules stop firing at a receiver that is gone.
    for rule in found.events.list_rules()["Rules"]:
        ids = [t["Id"] for t in found.events.list_targets_by_rule(Rule=rule["Name"])["Targets"]]
        if ids:
            found.events.remove_targets(Rule=rule["Name"], Ids=ids)
        found.events.delete_rule(Name=rule["Name"])


def test_a_rate_rule_sends_a_scheduled_event_at_each_fire_time(owner: Owner, receiver: Receiver) -> None:
    created = owner.scheduled("every5", "rate(5 minutes)", "/tick")
    owner.server.advance_clock(4 * 60)
    assert owner.fired("every5") == 0  # the clock call answers after what came due was published
    owner.server.advance_clock(60)
    (first,) = receiver.wait_for("/tick", 1)
    event = first.json()
    assert UUID.fullmatch(event["id"])
    assert event == owner.scheduled_event("every5", event["id"], created + timedelta(minutes=5))
    assert list(event) == ["version", "id", "detail-type", "source", "account", "time", "region", "resources",
                           "detail"]  # fmt: skip
    record = deliveries_of(owner.server, event["id"])
    assert record is not None
    assert [(d["rule"], d["target_id"]) for d in record["deliveries"]] == [(owner.arn("every5"), "t")]

    owner.server.advance_clock(5 * 60)
    second = receiver.wait_for("/tick", 2)[1].json()
    assert second == owner.scheduled_event("every5", second["id"], created + timedelta(minutes=10))
    assert second["id"] != event["id"]
    assert owner.fired("every5") == 2
    assert len(receiver.at("/tick")) == 2


def test_a_cron_rule_fires_at_its_minute(owner: Owner, receiver: Receiver) -> None:
    now = server_time(owner.server)
    fire = minute_of(now) + timedelta(minutes=3)
    owner.scheduled("at-minute", f"cron({fire.minute} * * * ? *)", "/cron")
    move_clock_to(owner.server, fire - timedelta(seconds=20))
    assert owner.fired("at-minute") == 0
    move_clock_to(owner.server, fire + timedelta(seconds=30))
    event = receiver.wait_for("/cron", 1)[0].json()
    assert event == owner.scheduled_event("at-minute", event["id"], fire)
    move_clock_to(owner.server, fire + timedelta(minutes=59))
    assert owner.fired("at-minute") == 1  # the next is an hour after the first
    move_clock_to(owner.server, fire + timedelta(hours=1, seconds=5))
    later = receiver.wait_for("/cron", 2)[1].json()
    assert later["time"] == iso(fire + timedelta(hours=1))


def test_a_disabled_rule_does_not_fire(owner: Owner, receiver: Receiver) -> None:
    created = owner.scheduled("paused", "rate(5 minutes)", "/paused")
    owner.scheduled("witness", "rate(5 minutes)", "/witness")
    owner.events.disable_rule(Name="paused")
    owner.server.advance_clock(5 * 60)
    receiver.wait_for("/witness", 1)  # delivered with the same clock move the disabled rule ignored
    assert owner.fired("paused") == 0 and receiver.at("/paused") == []
    owner.events.enable_rule(Name="paused")
    owner.server.advance_clock(5 * 60)
    (event,) = receiver.wait_for("/paused", 1)
    assert event.json()["time"] == iso(created + timedelta(minutes=10))  # the missed 5th minute stays missed


def test_other_rules_of_the_default_bus_never_see_a_scheduled_event(owner: Owner, receiver: Receiver) -> None:
    """A rule with both a pattern and a schedule fires on both; a scheduled event goes to its own rule's
    targets only, even when another rule's pattern would match it."""
    owner.events.put_rule(Name="listener", EventPattern='{"source": ["aws.events"]}')
    owner.target("listener", "/listener")
    owner.events.put_rule(Name="anything", EventPattern='{"account": [{"exists": true}]}')
    owner.target("anything", "/anything")
    created = owner.scheduled(
        "both", "rate(5 minutes)", "/both", EventPattern='{"source": ["com.example.shop"]}'
    )
    result = owner.events.put_events(Entries=[entry()])
    assert result["FailedEntryCount"] == 0
    receiver.wait_for("/anything", 1)
    assert receiver.wait_for("/both", 1)[0].json()["source"] == "com.example.shop"

    owner.server.advance_clock(5 * 60)
    scheduled = receiver.wait_for("/both", 2)[1].json()
    assert scheduled == owner.scheduled_event("both", scheduled["id"], created + timedelta(minutes=5))
    record = deliveries_of(owner.server, scheduled["id"])
    assert record is not None
    assert [d["rule"] for d in record["deliveries"]] == [owner.arn("both")]
    assert receiver.at("/listener") == [] and len(receiver.at("/anything")) == 1


def test_an_input_transformer_shapes_the_scheduled_event(owner: Owner, receiver: Receiver) -> None:
    created = owner.scheduled("shaped", "rate(1 minute)")
    owner.target(
        "shaped",
        "/shaped",
        InputTransformer={
            "InputPathsMap": {"at": "$.time", "rule": "$.resources[0]", "kind": "$.detail-type"},
            "InputTemplate": '{"when": <at>, "rule": <rule>, "kind": <kind>, "detail": "fixed"}',
        },
    )
    owner.server.advance_clock(60)
    (received,) = receiver.wait_for("/shaped", 1)
    assert received.json() == {
        "when": iso(created + timedelta(minutes=1)),
        "rule": owner.arn("shaped"),
        "kind": "Scheduled Event",
        "detail": "fixed",
    }


def test_a_scheduled_event_sent_to_another_bus_is_matched_there(owner: Owner, receiver: Receiver) -> None:
    owner.events.create_event_bus(Name="ops")
    owner.events.put_rule(
        Name="on-ops",
        EventBusName="ops",
        EventPattern='{"source": ["aws.events"], "detail-type": ["Scheduled Event"]}',
    )
    owner.events.put_targets(
        Rule="on-ops", EventBusName="ops", Targets=[{"Id": "t", "Arn": owner.destination("/ops")}]
    )
    created = owner.scheduled("to-ops", "rate(2 minutes)")
    bus_arn = f"arn:aws:events:us-east-1:{owner.account}:event-bus/ops"
    owner.events.put_targets(Rule="to-ops", Targets=[{"Id": "bus", "Arn": bus_arn}])
    owner.server.advance_clock(2 * 60)
    event = receiver.wait_for("/ops", 1)[0].json()
    assert event == owner.scheduled_event("to-ops", event["id"], created + timedelta(minutes=2))
    owner.events.remove_targets(Rule="on-ops", EventBusName="ops", Ids=["t"])
    owner.events.delete_rule(Name="on-ops", EventBusName="ops")
    owner.events.remove_targets(Rule="to-ops", Ids=["bus"])


def test_a_rule_without_targets_fires_nothing_and_a_long_jump_fires_once(
    owner: Owner, receiver: Receiver
) -> None:
    created = owner.scheduled("later", "rate(1 minute)")
    owner.server.advance_clock(3 * 60)
    assert owner.fired("later") == 0
    owner.target("later", "/later")
    owner.server.advance_clock(6 * 3600)  # six hours: 360 fire times missed, the latest is fired
    (event,) = receiver.wait_for("/later", 1)
    assert owner.fired("later") == 1
    fire = datetime.fromisoformat(event.json()["time"].replace("Z", "+00:00"))
    assert fire == minute_of(server_time(owner.server)) or fire == minute_of(
        server_time(owner.server)
    ) - timedelta(minutes=1)
    assert (fire - created) % timedelta(minutes=1) == timedelta(0)
    assert json.loads(event.body)["resources"] == [owner.arn("later")]
