"""Delivery through the real server: retries by the target's RetryPolicy, dead-letter queues with AWS's
message attributes, SQS targets, and a slow target that holds up nothing else.

The stand-ins are on 127.0.0.1: an HTTP receiver behind an API destination (scripted to fail), and moto in
server mode for SQS. The server backs off from 10 ms (--retry-base-seconds 0.01) and its test clock is moved
forward where a policy speaks of minutes.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.api.delivery_helpers import RuleOwner, entry, wait_for
from tests.fixtures_aws import MotoServer, Receiver, Reply, receive_all
from tests.support import ServerProcess, api_destination


@pytest.fixture(scope="module")
def eventyard(new_store_url: Callable[[], str], moto_server: MotoServer) -> Iterator[ServerProcess]:
    process = ServerProcess(
        new_store_url(), "--retry-base-seconds", "0.01", "--aws-endpoint-url", moto_server.url
    ).start()
    yield process
    process.stop()


class Shop(RuleOwner):
    """One account on the server: a rule `shop` for the shop's events and helpers to target things with it."""

    def __init__(self, server: ServerProcess, moto: MotoServer) -> None:
        super().__init__(server, moto, "shop")

    def api_destination(self, receiver: Receiver, path: str, name: str = "hook") -> str:
        return api_destination(self.events, receiver.url + path, name)

    def queue(self, name: str) -> tuple[str, str]:
        url = self.sqs.create_queue(QueueName=name)["QueueUrl"]
        return url, f"arn:aws:sqs:us-east-1:{self.account}:{name}"

    def put(self, detail: str = '{"n": 1}') -> str:
        result = self.events.put_events(Entries=[entry(detail=detail)])
        assert result["FailedEntryCount"] == 0
        return str(result["Entries"][0]["EventId"])


@pytest.fixture
def shop(eventyard: ServerProcess, moto_server: MotoServer) -> Shop:
    return Shop(eventyard, moto_server)


def test_a_failing_target_is_retried_until_it_answers(shop, receiver):
    receiver.script("/hook", Reply(500), Reply(503), Reply(429), Reply(200))
    shop.target(Arn=shop.api_destination(receiver, "/hook"))
    event_id = shop.put()
    requests = receiver.wait_for("/hook", 4)
    assert [r.json()["id"] for r in requests] == [event_id] * 4
    record = shop.finished(event_id)
    assert (record["state"], record["attempts"]) == ("delivered", 4)
    assert record["last_error"].startswith("THROTTLING: ")  # the last failure is kept for the operator
    assert len(receiver.at("/hook")) == 4


def test_a_non_retriable_failure_is_not_retried(shop, receiver):
    receiver.default("/hook", Reply(400))
    shop.target(Arn=shop.api_destination(receiver, "/hook"))
    record = shop.finished(shop.put())
    assert (record["state"], record["attempts"]) == ("dropped", 1)
    assert record["last_error"].startswith("SDK_CLIENT_ERROR: ")
    assert len(receiver.at("/hook")) == 1


def test_maximum_retry_attempts_ends_the_retries(shop, receiver):
    receiver.default("/hook", Reply(500))
    shop.target(Arn=shop.api_destination(receiver, "/hook"), RetryPolicy={"MaximumRetryAttempts": 2})
    record = shop.finished(shop.put())
    assert (record["state"], record["attempts"]) == ("dropped", 3)  # the attempt and 2 retries
    assert record["last_error"].endswith("(MaximumRetryAttempts exhausted)")
    assert len(receiver.at("/hook")) == 3


def test_no_retries_with_zero_maximum_retry_attempts(shop, receiver):
    receiver.default("/hook", Reply(500))
    shop.target(Arn=shop.api_destination(receiver, "/hook"), RetryPolicy={"MaximumRetryAttempts": 0})
    assert shop.finished(shop.put())["attempts"] == 1


def test_retry_after_is_honoured_and_the_clock_brings_the_retry(shop, receiver, eventyard):
    receiver.script("/hook", Reply(429, headers={"Retry-After": "600"}), Reply(200))
    shop.target(Arn=shop.api_destination(receiver, "/hook"))
    before = time.time()
    event_id = shop.put()
    receiver.wait_for("/hook", 1)
    record = wait_for(
        lambda: (r := shop.delivery(event_id))["state"] == "pending" and r, what="a pending retry"
    )
    next_attempt = dt.datetime.fromisoformat(record["next_attempt_at"].replace("Z", "+00:00")).timestamp()
    offset = httpx.post(f"{eventyard.url}/_eventyard/clock", json={"advance": 0}).json()["offset"]
    wait = next_attempt - offset - before  # in the server's clock, which runs `offset` seconds ahead
    assert 599 <= wait <= 620  # not before the target asked, not much later
    time.sleep(0.3)
    assert len(receiver.at("/hook")) == 1  # nothing sooner
    eventyard.advance_clock(601)
    receiver.wait_for("/hook", 2)
    assert shop.finished(event_id)["state"] == "delivered"


def test_exhausted_retries_go_to_the_dead_letter_queue_with_aws_attributes(shop, receiver):
    receiver.default("/hook", Reply(503))
    dlq_url, dlq_arn = shop.queue("shop-dlq")
    destination = shop.api_destination(receiver, "/hook")
    shop.target(Arn=destination, RetryPolicy={"MaximumRetryAttempts": 1}, DeadLetterConfig={"Arn": dlq_arn})
    event_id = shop.put('{"order": 42}')
    record = shop.finished(event_id)
    assert (record["state"], record["attempts"]) == ("dead-lettered", 2)
    (message,) = receive_all(shop.sqs, dlq_url, 1)
    event = json.loads(message["Body"])
    assert (event["id"], event["detail"], event["account"]) == (event_id, {"order": 42}, shop.account)
    attributes = {name: value["StringValue"] for name, value in message["MessageAttributes"].items()}
    assert attributes.pop("ERROR_MESSAGE")
    assert attributes == {
        "RULE_ARN": f"arn:aws:events:us-east-1:{shop.account}:rule/shop",
        "TARGET_ARN": destination,
        "ERROR_CODE": "SDK_CLIENT_ERROR",
        "EXHAUSTED_RETRY_CONDITION": "MaximumRetryAttempts",
        "RETRY_ATTEMPTS": "1",
    }


def test_the_dead_letter_queue_gets_the_event_not_the_targets_shaped_input(shop, receiver):
    receiver.default("/hook", Reply(400))
    dlq_url, dlq_arn = shop.queue("shaped-dlq")
    shop.target(
        Arn=shop.api_destination(receiver, "/hook"),
        InputTransformer={"InputPathsMap": {"n": "$.detail.n"}, "InputTemplate": '{"count": <n>}'},
        DeadLetterConfig={"Arn": dlq_arn},
    )
    event_id = shop.put('{"n": 5}')
    assert receiver.wait_for("/hook", 1)[0].json() == {"count": 5}  # the target got the shaped input
    assert shop.finished(event_id)["state"] == "dead-lettered"
    (message,) = receive_all(shop.sqs, dlq_url, 1)
    event = json.loads(message["Body"])
    assert (event["id"], event["detail-type"], event["detail"]) == (event_id, "OrderPlaced", {"n": 5})


def test_maximum_event_age_ends_the_retries(shop, receiver, eventyard):
    receiver.default("/hook", Reply(500))
    dlq_url, dlq_arn = shop.queue("age-dlq")
    shop.target(
        Arn=shop.api_destination(receiver, "/hook"),
        RetryPolicy={"MaximumEventAgeInSeconds": 60},
        DeadLetterConfig={"Arn": dlq_arn},
    )
    event_id = shop.put()
    # 10 ms, 20 ms, ... 3 s between attempts: within 60 s the delivery keeps trying; then the clock jumps.
    receiver.wait_for("/hook", 3)
    eventyard.advance_clock(61)
    record = shop.finished(event_id)
    assert record["state"] == "dead-lettered"
    (message,) = receive_all(shop.sqs, dlq_url, 1)
    attributes = {name: value["StringValue"] for name, value in message["MessageAttributes"].items()}
    assert attributes["EXHAUSTED_RETRY_CONDITION"] == "MaximumEventAgeInSeconds"
    assert int(attributes["RETRY_ATTEMPTS"]) >= 2


def test_an_event_too_old_for_its_retry_is_dead_lettered_with_the_last_attempts_error(
    shop, receiver, eventyard
):
    receiver.script(
        "/hook",
        Reply(500, body=b"first"),
        Reply(500, body=b"down for maintenance", headers={"Retry-After": "30"}),
    )
    dlq_url, dlq_arn = shop.queue("last-error-dlq")
    destination = shop.api_destination(receiver, "/hook")
    shop.target(
        Arn=destination, RetryPolicy={"MaximumEventAgeInSeconds": 60}, DeadLetterConfig={"Arn": dlq_arn}
    )
    event_id = shop.put()
    receiver.wait_for("/hook", 2)
    wait_for(lambda: shop.delivery(event_id)["state"] == "pending", what="the retry asked for in 30 s")
    eventyard.advance_clock(61)  # the retry comes due after the event's maximum age
    record = shop.finished(event_id)
    assert (record["state"], record["attempts"]) == ("dead-lettered", 2)
    (message,) = receive_all(shop.sqs, dlq_url, 1)
    attributes = {name: value["StringValue"] for name, value in message["MessageAttributes"].items()}
    assert attributes == {
        "RULE_ARN": f"arn:aws:events:us-east-1:{shop.account}:rule/shop",
        "TARGET_ARN": destination,
        "ERROR_CODE": "SDK_CLIENT_ERROR",
        "ERROR_MESSAGE": "The API destination endpoint answered HTTP 500: down for maintenance",
        "EXHAUSTED_RETRY_CONDITION": "MaximumEventAgeInSeconds",
        "RETRY_ATTEMPTS": "1",
    }
    assert len(receiver.at("/hook")) == 2  # no attempt after the age limit


def test_a_target_type_eventyard_cannot_invoke_goes_straight_to_the_dead_letter_queue(shop):
    dlq_url, dlq_arn = shop.queue("unsupported-dlq")
    function = f"arn:aws:lambda:us-east-1:{shop.account}:function:f"
    shop.target(Arn=function, DeadLetterConfig={"Arn": dlq_arn})
    event_id = shop.put()
    record = shop.finished(event_id)
    assert (record["state"], record["attempts"]) == ("dead-lettered", 1)
    (message,) = receive_all(shop.sqs, dlq_url, 1)
    attributes = {name: value["StringValue"] for name, value in message["MessageAttributes"].items()}
    assert attributes["TARGET_ARN"] == function
    assert attributes["RETRY_ATTEMPTS"] == "0"
    assert "EXHAUSTED_RETRY_CONDITION" not in attributes  # not retriable: no retry condition was exhausted


def test_a_dead_letter_queue_that_refuses_is_counted(shop, eventyard):
    shop.target(
        Arn=f"arn:aws:lambda:us-east-1:{shop.account}:function:f",
        DeadLetterConfig={"Arn": f"arn:aws:sqs:us-east-1:{shop.account}:no-such-queue"},
    )
    record = shop.finished(shop.put())
    assert record["state"] == "failed"
    assert "no-such-queue" in record["last_error"]
    text = httpx.get(f"{eventyard.url}/metrics").text
    labels = f'account="{shop.account}",event_bus="default",region="us-east-1",rule="shop"'
    assert f"eventyard_invocations_failed_to_be_sent_to_dlq_total{{{labels}}} 1.0" in text
    assert f"eventyard_failed_invocations_total{{{labels}}} 1.0" in text


def test_events_reach_an_sqs_queue_shaped_by_the_target(shop):
    url, arn = shop.queue("orders")
    shop.target(
        Arn=arn,
        InputTransformer={
            "InputPathsMap": {"n": "$.detail.n", "type": "$.detail-type"},
            "InputTemplate": '{"count": <n>, "what": "<type>", "rule": "<aws.events.rule-name>"}',
        },
    )
    event_id = shop.put('{"n": 7}')
    (message,) = receive_all(shop.sqs, url, 1)
    assert json.loads(message["Body"]) == {"count": 7, "what": "OrderPlaced", "rule": "shop"}
    assert shop.finished(event_id)["state"] == "delivered"


def test_a_slow_target_holds_up_neither_put_events_nor_other_targets(shop, receiver):
    receiver.default("/slow", Reply(200, delay=2.0))
    slow = shop.api_destination(receiver, "/slow", "slow")
    fast_url, fast = shop.queue("fast")
    shop.events.put_targets(Rule="shop", Targets=[{"Id": "slow", "Arn": slow}, {"Id": "fast", "Arn": fast}])
    started = time.monotonic()
    ids = [shop.put(json.dumps({"n": n})) for n in range(20)]
    put_seconds = time.monotonic() - started
    messages = receive_all(shop.sqs, fast_url, 20, timeout=5)
    fast_seconds = time.monotonic() - started
    assert sorted(json.loads(m["Body"])["id"] for m in messages) == sorted(ids)
    assert put_seconds < 2.0  # PutEvents answers without waiting for any target
    assert fast_seconds < 2.0  # all 20 reached the fast queue before the first slow answer
    assert len(receiver.wait_for("/slow", 20, timeout=15)) == 20
