"""Partner events delivered end to end to real targets of a rule on the customer's partner event bus: an API
destination pointing at an HTTP receiver on 127.0.0.1, and an SQS queue on moto in server mode.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.api.delivery_helpers import deliveries_of
from tests.api.partner_helpers import Cast, make_cast
from tests.fixtures_aws import MotoServer, Receiver, receive_all
from tests.support import ServerProcess, api_destination


@pytest.fixture(scope="module")
def eventyard(new_store_url: Callable[[], str], moto_server: MotoServer) -> Iterator[ServerProcess]:
    process = ServerProcess(new_store_url(), "--aws-endpoint-url", moto_server.url).start()
    yield process
    process.stop()


@pytest.fixture
def cast(eventyard: ServerProcess) -> Cast:
    return make_cast(eventyard)


def customer_rule(cast: Cast, source: str, target: dict[str, Any], pattern: dict[str, Any]) -> None:
    cast.customer.put_rule(Name="orders", EventBusName=source, EventPattern=json.dumps(pattern))
    cast.customer.put_targets(Rule="orders", EventBusName=source, Targets=[{"Id": "t", **target}])


def send(cast: Cast, source: str, *details: dict[str, Any], detail_type: str = "Order Created") -> list[str]:
    result = cast.partner.put_partner_events(
        Entries=[{"Source": source, "DetailType": detail_type, "Detail": json.dumps(d)} for d in details]
    )
    assert result["FailedEntryCount"] == 0, result
    return [entry["EventId"] for entry in result["Entries"]]


def no_deliveries(eventyard: ServerProcess, event_id: str) -> bool:
    """The event is stored (on the partner bus) and matched no rule with a target: nothing will be sent."""
    found = deliveries_of(eventyard, event_id)
    return found is not None and found["deliveries"] == []


def test_partner_events_reach_an_api_destination(
    eventyard: ServerProcess, cast: Cast, receiver: Receiver
) -> None:
    source = cast.offer_and_associate()
    destination = api_destination(cast.customer, f"{receiver.url}/orders", "orders-hook", api_key="s3cret")
    customer_rule(cast, source, {"Arn": destination}, {"detail-type": ["Order Created"]})

    ids = send(cast, source, {"order": 1}, {"order": 2})
    [deleted] = send(cast, source, {"order": 3}, detail_type="Order Deleted")
    assert no_deliveries(eventyard, deleted)  # the rule does not match this one
    requests = receiver.wait_for("/orders", 2)
    events = sorted((r.json() for r in requests), key=lambda e: e["detail"]["order"])
    assert [e["id"] for e in events] == ids
    for event, order in zip(events, (1, 2), strict=True):
        assert event["source"] == source
        assert event["account"] == cast.customer_account
        assert event["region"] == "us-east-1"
        assert event["detail-type"] == "Order Created"
        assert event["detail"] == {"order": order}
    assert all(r.headers["x-api-key"] == "s3cret" for r in requests)
    assert len(receiver.at("/orders")) == 2


def test_partner_events_reach_an_sqs_queue(
    eventyard: ServerProcess, cast: Cast, moto_server: MotoServer
) -> None:
    source = cast.offer_and_associate()
    sqs = moto_server.sqs(cast.customer_account)
    queue_url = sqs.create_queue(QueueName="partner-orders")["QueueUrl"]
    queue_arn = f"arn:aws:sqs:us-east-1:{cast.customer_account}:partner-orders"
    customer_rule(
        cast,
        source,
        {"Arn": queue_arn, "InputPath": "$.detail"},
        {"source": [source], "detail": {"amount": [{"numeric": [">", 10]}]}},
    )
    small, _ = send(cast, source, {"amount": 5}, {"amount": 50})
    assert no_deliveries(eventyard, small)
    [message] = receive_all(sqs, queue_url, 1)
    assert json.loads(message["Body"]) == {"amount": 50}
    assert receive_all(sqs, queue_url, 1, timeout=0.3) == []  # the small order did not match


def test_a_deactivated_source_delivers_nothing_until_activated(
    eventyard: ServerProcess, cast: Cast, receiver: Receiver
) -> None:
    source = cast.offer_and_associate()
    destination = api_destination(cast.customer, f"{receiver.url}/in")
    customer_rule(cast, source, {"Arn": destination}, {"source": [source]})
    cast.customer.deactivate_event_source(Name=source)
    [paused] = send(cast, source, {"n": "while paused"})
    assert deliveries_of(eventyard, paused) is None  # accepted and dropped: not even stored
    cast.customer.activate_event_source(Name=source)
    send(cast, source, {"n": "after"})
    [request] = receiver.wait_for("/in", 1)
    assert request.json()["detail"] == {"n": "after"}
    send(cast, source, {"n": "later"})
    assert [r.json()["detail"]["n"] for r in receiver.wait_for("/in", 2)] == ["after", "later"]
