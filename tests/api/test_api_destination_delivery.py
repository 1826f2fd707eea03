"""End to end: PutEvents -> rule -> API destination -> the test's receiver on 127.0.0.1 (auth, AWS's
headers, parameters, OAuth, the timeout, the rate limit), and -> SQS FIFO queues on moto."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.api.delivery_helpers import RuleOwner, entry, wait_for
from tests.fixtures_aws import MotoServer, Receiver, Reply, receive_all
from tests.support import ServerProcess


@pytest.fixture(scope="module")
def eventyard(new_store_url: Callable[[], str], moto_server: MotoServer) -> Iterator[ServerProcess]:
    process = ServerProcess(
        new_store_url(),
        "--retry-base-seconds", "0.01",
        "--api-destination-timeout", "0.5",
        "--aws-endpoint-url", moto_server.url,
    ).start()  # fmt: skip
    yield process
    process.stop()


class Account(RuleOwner):
    """A fresh account with a rule `orders` on its default bus."""

    def __init__(self, server: ServerProcess, moto: MotoServer) -> None:
        super().__init__(server, moto, "orders")

    def connection(self, auth_type: str, auth: dict[str, Any], name: str = "conn") -> str:
        created = self.events.create_connection(Name=name, AuthorizationType=auth_type, AuthParameters=auth)
        return str(created["ConnectionArn"])

    def destination(self, connection: str, endpoint: str, rate: int | None = None, name: str = "dest") -> str:
        extra = {} if rate is None else {"InvocationRateLimitPerSecond": rate}
        created = self.events.create_api_destination(
            Name=name, ConnectionArn=connection, InvocationEndpoint=endpoint, HttpMethod="POST", **extra
        )
        return str(created["ApiDestinationArn"])

    def api_key_target(self, endpoint: str, key_name: str = "x-key", rate: int | None = None) -> None:
        """The rule's target: an API destination at `endpoint` on an API_KEY connection (`key_name`: k)."""
        auth = {"ApiKeyAuthParameters": {"ApiKeyName": key_name, "ApiKeyValue": "k"}}
        self.target(Arn=self.destination(self.connection("API_KEY", auth), endpoint, rate=rate))

    def put(self, *details: str) -> list[str]:
        details = details or ('{"n": 1}',)
        result = self.events.put_events(Entries=[entry(detail=detail) for detail in details])
        assert result["FailedEntryCount"] == 0
        return [str(e["EventId"]) for e in result["Entries"]]


@pytest.fixture
def shop(eventyard: ServerProcess, moto_server: MotoServer) -> Account:
    return Account(eventyard, moto_server)


def test_an_event_reaches_the_endpoint_with_auth_headers_and_parameters(shop, receiver: Receiver):
    connection = shop.connection(
        "BASIC",
        {
            "BasicAuthParameters": {"Username": "shop", "Password": "pw"},
            "InvocationHttpParameters": {
                "HeaderParameters": [{"Key": "x-env", "Value": "prod", "IsValueSecret": True}],
                "QueryStringParameters": [{"Key": "source", "Value": "eventyard", "IsValueSecret": False}],
            },
        },
    )
    shop.target(
        Arn=shop.destination(connection, f"{receiver.url}/orders/*"),
        HttpParameters={
            "PathParameterValues": ["$.detail.id"],  # AWS takes the values literally, not as paths
            "HeaderParameters": {"x-env": "test", "x-team": "shop"},
            "QueryStringParameters": {"source": "target", "v": "1"},
        },
        InputTransformer={"InputPathsMap": {"id": "$.detail.id"}, "InputTemplate": '{"order": <id>}'},
    )
    (event_id,) = shop.put('{"id": "o-7"}')
    (request,) = receiver.wait_for("/orders/$.detail.id", 1)
    assert request.json() == {"order": "o-7"}
    assert request.headers["authorization"] == "Basic c2hvcDpwdw=="
    assert request.headers["user-agent"] == "Amazon/EventBridge/ApiDestinations"
    assert request.headers["content-type"] == "application/json; charset=utf-8"
    assert request.headers["x-env"] == "prod" and request.headers["x-team"] == "shop"
    assert dict(request.query) == {"source": "eventyard", "v": "1"}
    assert shop.finished(event_id)["state"] == "delivered"


def test_oauth_tokens_are_fetched_by_the_server_and_refreshed_after_a_401(shop, receiver: Receiver):
    receiver.script("/token", Reply(200, {"access_token": "first"}), Reply(200, {"access_token": "second"}))
    receiver.script("/hook", Reply(401))
    connection = shop.connection(
        "OAUTH_CLIENT_CREDENTIALS",
        {
            "OAuthParameters": {
                "ClientParameters": {"ClientID": "id", "ClientSecret": "secret"},
                "AuthorizationEndpoint": f"{receiver.url}/token",
                "HttpMethod": "POST",
            }
        },
    )
    wait_for(
        lambda: shop.events.describe_connection(Name="conn")["ConnectionState"] == "AUTHORIZED",
        what="the connection to be authorized",
    )
    destination = shop.destination(connection, f"{receiver.url}/hook")
    assert shop.events.describe_api_destination(Name="dest")["ApiDestinationState"] == "ACTIVE"
    shop.target(Arn=destination)
    (event_id,) = shop.put('{"n": 1}')
    requests = receiver.wait_for("/hook", 2)
    assert [r.headers["authorization"] for r in requests] == ["Bearer first", "Bearer second"]
    record = shop.finished(event_id)
    assert (record["state"], record["attempts"]) == ("delivered", 2)
    assert len(receiver.at("/token")) == 2


def test_an_answer_with_a_nul_character_is_recorded_and_retried(shop, eventyard, moto_server, receiver):
    """The endpoint's answer goes into the delivery's last error: a NUL there (PostgreSQL's text holds none)
    once kept every outcome of the node from being written, so no delivery finished any more."""
    receiver.script("/nul", Reply(500, b"bad\x00body"))
    shop.api_key_target(f"{receiver.url}/nul")
    (event_id,) = shop.put()
    record = shop.finished(event_id)
    assert (record["state"], record["attempts"]) == ("delivered", 2)  # the 500 was recorded, then retried
    other = Account(eventyard, moto_server)  # and the node goes on delivering for everyone
    other.api_key_target(f"{receiver.url}/after")
    (later,) = other.put()
    assert other.finished(later)["state"] == "delivered"


def test_a_failed_attempts_error_keeps_the_endpoints_words_without_nul(shop, receiver: Receiver):
    receiver.default("/refuses", Reply(400, b"no\x00pe"))
    shop.api_key_target(f"{receiver.url}/refuses")
    (event_id,) = shop.put()
    record = shop.finished(event_id)
    assert record["state"] == "dropped"
    assert "no\ufffdpe" in record["last_error"]


def test_a_header_http_cannot_carry_fails_the_delivery_without_retries(shop, receiver: Receiver):
    shop.api_key_target(f"{receiver.url}/never", key_name="x-kéy")
    (event_id,) = shop.put()
    record = shop.finished(event_id)
    assert (record["state"], record["attempts"]) == ("dropped", 1)
    assert record["last_error"].startswith(
        "CONNECTION_FAILURE: The request to the API destination could not be sent"
    )
    assert receiver.at("/never") == []


def test_a_parameter_without_a_key_is_left_out(shop, receiver: Receiver):
    connection = shop.connection(
        "API_KEY",
        {
            "ApiKeyAuthParameters": {"ApiKeyName": "x-key", "ApiKeyValue": "k"},
            "InvocationHttpParameters": {
                "HeaderParameters": [{"Value": "lost"}, {"Key": "x-kept", "Value": "yes"}],
                "QueryStringParameters": [{}],
                "BodyParameters": [{"Value": "lost"}],
            },
        },
    )
    shop.target(Arn=shop.destination(connection, f"{receiver.url}/keys"))
    (event_id,) = shop.put('{"n": 1}')
    (request,) = receiver.wait_for("/keys", 1)
    assert request.headers["x-kept"] == "yes" and request.query == []
    assert shop.finished(event_id)["state"] == "delivered"


def test_a_slow_endpoint_times_out_and_the_retry_delivers(shop, receiver: Receiver):
    receiver.script("/hook", Reply(200, delay=1.5))
    shop.api_key_target(f"{receiver.url}/hook")
    (event_id,) = shop.put()
    record = shop.finished(event_id)
    assert (record["state"], record["attempts"]) == ("delivered", 2)  # the timed-out attempt was retried
    assert len(receiver.at("/hook")) == 2


def test_the_invocation_rate_limit_spreads_the_deliveries(shop, receiver: Receiver):
    rate = 4
    shop.api_key_target(f"{receiver.url}/hook", rate=rate)
    ids = shop.put(*(json.dumps({"n": n}) for n in range(10)))
    requests = receiver.wait_for("/hook", 10, timeout=15)
    assert sorted(r.json()["id"] for r in requests) == sorted(ids)  # delayed, none dropped
    times = sorted(r.at for r in requests)
    assert times[-1] - times[0] >= 9 / rate - 0.2
    for first, second in itertools.pairwise(times):
        assert second - first >= 1 / rate - 0.1
    for event_id in ids:
        record = shop.finished(event_id)
        assert (record["state"], record["attempts"]) == ("delivered", 1)  # waiting was not an attempt


def test_a_deauthorized_connection_sends_the_event_straight_to_the_dead_letter_queue(
    shop, receiver: Receiver
):
    connection = shop.connection("BASIC", {"BasicAuthParameters": {"Username": "u", "Password": "p"}})
    destination = shop.destination(connection, f"{receiver.url}/hook")
    dlq_url = shop.sqs.create_queue(QueueName="dlq")["QueueUrl"]
    shop.target(Arn=destination, DeadLetterConfig={"Arn": f"arn:aws:sqs:us-east-1:{shop.account}:dlq"})
    shop.events.deauthorize_connection(Name="conn")
    (event_id,) = shop.put()
    record = shop.finished(event_id)
    assert (record["state"], record["attempts"]) == ("dead-lettered", 1)
    (message,) = receive_all(shop.sqs, dlq_url, 1)
    attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
    assert attributes["ERROR_CODE"] == "NO_PERMISSIONS"
    assert "DEAUTHORIZED" in attributes["ERROR_MESSAGE"]
    assert attributes["TARGET_ARN"] == destination
    assert receiver.at("/hook") == []


def test_events_reach_a_fifo_queue_in_their_message_group(shop):
    url = shop.sqs.create_queue(
        QueueName="orders.fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"}
    )["QueueUrl"]
    shop.target(
        Arn=f"arn:aws:sqs:us-east-1:{shop.account}:orders.fifo", SqsParameters={"MessageGroupId": "orders"}
    )
    ids = shop.put('{"n": 1}', '{"n": 2}', '{"n": 3}')
    messages = receive_all(shop.sqs, url, 3)
    assert sorted(json.loads(m["Body"])["id"] for m in messages) == sorted(ids)
    assert {m["Attributes"]["MessageGroupId"] for m in messages} == {"orders"}
