"""PutPartnerEvents through the real server: per-entry results in request order, the same entry rules as
PutEvents, and what happens to an entry in each state of its source (OG's state table):

| source, for the customer          | PutPartnerEvents             |
|-----------------------------------|------------------------------|
| none, deleted, expired, foreign   | the entry fails              |
| PENDING (no bus, or deactivated)  | accepted, dropped, counted   |
| ACTIVE                            | put on the customer's bus    |

What reached the customer's bus is read from `GET /_eventyard/deliveries?event_id=...`.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import httpx
import pytest

from tests.api.delivery_helpers import deliveries_of, events_on, wait_for
from tests.api.partner_helpers import Cast, expect_error, make_cast
from tests.support import ServerProcess


@pytest.fixture
def cast(server: ServerProcess) -> Cast:
    return make_cast(server)


def partner_entry(source: str, detail: Any = None, **fields: Any) -> dict[str, Any]:
    return {
        "Source": source,
        "DetailType": "Order Created",
        "Detail": json.dumps({"order": 1} if detail is None else detail),
        **fields,
    }


def bus_arn(account: str, name: str, region: str = "us-east-1") -> str:
    return f"arn:aws:events:{region}:{account}:event-bus/{name}"


def forward_all(cast: Cast, source: str, to: str = "inbox") -> str:
    """A rule on the partner bus that sends everything from `source` to the customer's bus `to`."""
    cast.customer.create_event_bus(Name=to)
    cast.customer.put_rule(
        Name="everything", EventBusName=source, EventPattern=json.dumps({"source": [source]})
    )
    cast.customer.put_targets(
        Rule="everything",
        EventBusName=source,
        Targets=[{"Id": "inbox", "Arn": bus_arn(cast.customer_account, to)}],
    )
    return bus_arn(cast.customer_account, to)


def metric(server: ServerProcess, name: str, **labels: str) -> float:
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_an_event_reaches_the_customers_partner_bus_as_aws_shapes_it(
    cast: Cast, server: ServerProcess
) -> None:
    name = cast.offer_and_associate()
    inbox = forward_all(cast, name)
    result = cast.partner.put_partner_events(
        Entries=[
            partner_entry(
                name,
                {"id": "ord_1", "amount": 12.5},
                Resources=["Support Ticket"],  # free-form, as Zendesk sends
                Time=dt.datetime(2026, 3, 4, 5, 6, 7, tzinfo=dt.UTC),
            )
        ]
    )
    assert result["FailedEntryCount"] == 0
    event_id = result["Entries"][0]["EventId"]
    copies = wait_for(lambda: events_on(server, event_id))
    # Stored on the partner bus only: the copy the rule put on `inbox` has nothing to do there.
    assert set(copies) == {bus_arn(cast.customer_account, name)}
    event = copies[bus_arn(cast.customer_account, name)]
    assert event == {
        "version": "0",
        "id": event_id,
        "detail-type": "Order Created",
        "source": name,
        "account": cast.customer_account,
        "time": "2026-03-04T05:06:07Z",
        "region": "us-east-1",
        "resources": ["Support Ticket"],
        "detail": {"id": "ord_1", "amount": 12.5},
    }
    [delivery] = deliveries_of(server, event_id)["deliveries"]
    assert delivery["rule"] == f"arn:aws:events:us-east-1:{cast.customer_account}:rule/{name}/everything"
    assert (delivery["target_arn"], delivery["state"]) == (inbox, "delivered")  # a bus of the same account


def test_results_are_per_entry_in_request_order(cast: Cast, server: ServerProcess) -> None:
    active = cast.offer_and_associate("active")
    pending = cast.offer("pending")
    foreign = make_cast(server).offer()  # another partner's source
    missing = cast.source_name("never-created")
    entries = [
        partner_entry(active),
        {"Source": active, "DetailType": "x"},  # no Detail
        partner_entry(missing),
        partner_entry(active, detail=[1, 2]),  # Detail must be a JSON object
        partner_entry(pending),
        partner_entry(foreign),
        {"Source": active, "Detail": "{}"},  # no DetailType
        partner_entry(active),
    ]
    result = cast.partner.put_partner_events(Entries=entries)
    codes = [e.get("ErrorCode") for e in result["Entries"]]
    assert codes == [
        None,
        "InvalidArgument",
        "ResourceNotFoundException",
        "MalformedDetail",
        None,
        "ResourceNotFoundException",
        "InvalidArgument",
        None,
    ]
    assert result["FailedEntryCount"] == 5
    ok = [e for e in result["Entries"] if "EventId" in e]
    assert all("ErrorCode" not in e for e in ok) and len({e["EventId"] for e in ok}) == 3
    missing_result = result["Entries"][2]
    assert (
        missing in missing_result["ErrorMessage"] and "Event Bus Not Found" in missing_result["ErrorMessage"]
    )
    assert "is a required argument" in result["Entries"][1]["ErrorMessage"]
    # The foreign source's entry says no more than a missing one.
    assert result["Entries"][5]["ErrorMessage"].replace(foreign, "X") == missing_result[
        "ErrorMessage"
    ].replace(missing, "X")
    # Only the ACTIVE source's events were stored, on its bus.
    assert set(events_on(server, result["Entries"][0]["EventId"])) == {bus_arn(cast.customer_account, active)}
    assert deliveries_of(server, result["Entries"][4]["EventId"]) is None


def test_a_pending_source_accepts_drops_and_counts(cast: Cast, server: ServerProcess) -> None:
    name = cast.offer()
    before = metric(server, "eventyard_partner_events_dropped_total", account=cast.customer_account)
    result = cast.partner.put_partner_events(Entries=[partner_entry(name), partner_entry(name)])
    assert result["FailedEntryCount"] == 0 and all("EventId" in e for e in result["Entries"])
    for entry in result["Entries"]:
        assert deliveries_of(server, entry["EventId"]) is None  # not persisted at rest, as AWS says
    after = metric(server, "eventyard_partner_events_dropped_total", account=cast.customer_account)
    assert after - before == 2
    assert (
        metric(
            server,
            "eventyard_put_partner_events_entries_total",
            account=cast.partner_account,
            outcome="dropped",
        )
        == 2
    )


def test_each_state_of_the_source_decides_the_entrys_fate(cast: Cast, server: ServerProcess) -> None:
    name = cast.offer_and_associate()

    def send() -> dict[str, Any]:
        return cast.partner.put_partner_events(Entries=[partner_entry(name)])["Entries"][0]  # type: ignore[no-any-return]

    def stored(entry: dict[str, Any]) -> bool:
        return deliveries_of(server, entry["EventId"]) is not None

    assert stored(send())  # ACTIVE
    cast.customer.deactivate_event_source(Name=name)
    assert not stored(send())  # PENDING (deactivated): accepted and dropped
    cast.customer.activate_event_source(Name=name)
    assert stored(send())
    cast.customer.delete_event_bus(Name=name)
    assert not stored(send())  # PENDING (the customer deleted the bus)
    cast.customer.create_event_bus(Name=name, EventSourceName=name)
    assert stored(send())
    cast.partner.delete_partner_event_source(Name=name, Account=cast.customer_account)
    assert send()["ErrorCode"] == "ResourceNotFoundException"  # DELETED: refused
    cast.partner.create_partner_event_source(Name=name, Account=cast.customer_account)
    assert not stored(send())  # re-created: PENDING although the old bus exists
    cast.customer.activate_event_source(Name=name)
    assert stored(send())


def test_the_rules_of_a_deleted_sources_bus_work_again_once_it_is_reattached(
    cast: Cast, server: ServerProcess
) -> None:
    """OG-FAQ: the rules of the bus stay while the source is DELETED; "if the event source is later recreated
    and reassociated, these rules become active again"."""
    name = cast.offer_and_associate()
    inbox = forward_all(cast, name)
    rule = f"arn:aws:events:us-east-1:{cast.customer_account}:rule/{name}/everything"

    def send() -> dict[str, Any]:
        return cast.partner.put_partner_events(Entries=[partner_entry(name)])["Entries"][0]  # type: ignore[no-any-return]

    def matched(entry: dict[str, Any]) -> set[tuple[str, str]]:
        found = deliveries_of(server, entry["EventId"])
        return {(d["rule"], d["target_arn"]) for d in found["deliveries"]} if found else set()

    assert matched(send()) == {(rule, inbox)}
    cast.partner.delete_partner_event_source(Name=name, Account=cast.customer_account)
    assert send()["ErrorCode"] == "ResourceNotFoundException"
    assert cast.customer.describe_rule(Name="everything", EventBusName=name)["State"] == "ENABLED"
    cast.partner.create_partner_event_source(Name=name, Account=cast.customer_account)
    assert matched(send()) == set()  # PENDING: accepted, dropped
    cast.customer.activate_event_source(Name=name)
    assert matched(send()) == {(rule, inbox)}


def test_events_match_only_the_rules_of_the_partner_bus(cast: Cast, server: ServerProcess) -> None:
    name = cast.offer_and_associate()
    pattern = json.dumps({"source": [{"prefix": "aws.partner/"}]})
    cast.customer.create_event_bus(Name="elsewhere")
    # A rule on the customer's default bus for the same source, forwarding to `elsewhere`: it never fires.
    cast.customer.put_rule(Name="default-rule", EventPattern=pattern)
    cast.customer.put_targets(
        Rule="default-rule", Targets=[{"Id": "t", "Arn": bus_arn(cast.customer_account, "elsewhere")}]
    )
    inbox = forward_all(cast, name)
    event_id = cast.partner.put_partner_events(Entries=[partner_entry(name)])["Entries"][0]["EventId"]
    copies = wait_for(lambda: events_on(server, event_id))
    assert set(copies) == {bus_arn(cast.customer_account, name)}
    found = {(d["rule"], d["target_arn"]) for d in deliveries_of(server, event_id)["deliveries"]}
    assert found == {(f"arn:aws:events:us-east-1:{cast.customer_account}:rule/{name}/everything", inbox)}


def test_only_the_partner_that_created_a_source_sends_on_it(cast: Cast, server: ServerProcess) -> None:
    name = cast.offer_and_associate()
    for sender in (cast.stranger, cast.customer):
        result = sender.put_partner_events(Entries=[partner_entry(name)])
        assert result["FailedEntryCount"] == 1
        assert result["Entries"][0]["ErrorCode"] == "ResourceNotFoundException"


def test_sources_are_regional_for_sending_too(cast: Cast, server: ServerProcess) -> None:
    name = cast.offer_and_associate()
    europe = server.client(account=cast.partner_account, region="eu-west-1")
    result = europe.put_partner_events(Entries=[partner_entry(name)])
    assert result["Entries"][0]["ErrorCode"] == "ResourceNotFoundException"


def test_request_level_rules_are_those_of_put_events(cast: Cast) -> None:
    name = cast.offer_and_associate()
    expect_error(
        lambda: cast.partner.put_partner_events(Entries=[{"Source": name, "DetailType": "x"}]),
        "ValidationException",
    )
    big = partner_entry(name, {"blob": "x" * (1024 * 1024)})
    expect_error(
        lambda: cast.partner.put_partner_events(Entries=[big]),
        "ValidationException",
        "Total size of the entries in the request is over the limit",
    )
    expect_error(
        lambda: cast.partner.put_partner_events(Entries=[partner_entry(name)] * 21),
        "ValidationException",
        "Member must have length less than or equal to 20",
    )
    expect_error(
        lambda: cast.partner.put_partner_events(Entries=[partner_entry("com.example.not-a-partner")]),
        "ValidationException",
        "regular expression pattern",
    )
    result = cast.partner.put_partner_events(Entries=[partner_entry(name)] * 20)
    assert result["FailedEntryCount"] == 0 and len(result["Entries"]) == 20
