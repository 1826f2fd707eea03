"""The SQS adapter and the dead-letter queue sender against moto in server mode on 127.0.0.1."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from eventyard.delivery import aws
from eventyard.delivery.targets import DeliveryError
from eventyard.delivery.targets.sqs import parse_queue_arn, send_to_dead_letter_queue, send_to_queue
from tests.fixtures_aws import MotoServer, Receiver, Reply, receive_all
from tests.support import free_port, new_account
from tests.unit.target_world import invocation, world


def queue(moto: MotoServer, account: str, name: str, **attributes: str) -> tuple[Any, str, str]:
    """(sqs client, queue URL, queue ARN) of a new queue in `account`."""
    sqs = moto.sqs(account)
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    return sqs, url, f"arn:aws:sqs:us-east-1:{account}:{name}"


def test_a_queue_arn_is_in_the_partition_of_its_region() -> None:
    assert parse_queue_arn("arn:aws-cn:sqs:cn-north-1:123456789012:q") == ("cn-north-1", "123456789012", "q")
    for arn in ("arn:aws:sqs:cn-north-1:123456789012:q", "arn:aws-us-gov:sqs:us-east-1:123456789012:q"):
        with pytest.raises(DeliveryError) as caught:
            parse_queue_arn(arn)
        assert (caught.value.code, caught.value.retriable) == ("NO_RESOURCE", False)


def test_the_payload_becomes_the_message_body(moto_server: MotoServer) -> None:
    sqs, url, arn = queue(moto_server, new_account(), "orders")

    async def scenario() -> None:
        async with world(aws_endpoint_url=moto_server.url) as w:
            await send_to_queue(w.runtime, invocation(arn, '{"order": 1}'))
            await send_to_queue(w.runtime, invocation(arn, '{"order": 2}'))

    asyncio.run(scenario())
    bodies = sorted(message["Body"] for message in receive_all(sqs, url, 2))
    assert bodies == ['{"order": 1}', '{"order": 2}']


def test_a_fifo_queue_gets_the_message_group(moto_server: MotoServer) -> None:
    sqs, url, arn = queue(
        moto_server, new_account(), "orders.fifo", FifoQueue="true", ContentBasedDeduplication="true"
    )

    async def scenario() -> None:
        async with world(aws_endpoint_url=moto_server.url) as w:
            await send_to_queue(
                w.runtime, invocation(arn, '{"n": 1}', SqsParameters={"MessageGroupId": "g-1"})
            )
            with pytest.raises(DeliveryError) as caught:
                await send_to_queue(w.runtime, invocation(arn, '{"n": 2}'))
            assert (caught.value.code, caught.value.retriable) == ("INVALID_PARAMETER", False)

    asyncio.run(scenario())
    (message,) = receive_all(sqs, url, 1)
    assert message["Body"] == '{"n": 1}'
    assert message["Attributes"]["MessageGroupId"] == "g-1"


def test_a_missing_queue_is_not_retried(moto_server: MotoServer) -> None:
    async def scenario() -> None:
        async with world(aws_endpoint_url=moto_server.url) as w:
            arn = f"arn:aws:sqs:us-east-1:{new_account()}:nowhere"
            with pytest.raises(DeliveryError) as caught:
                await send_to_queue(w.runtime, invocation(arn))
            assert (caught.value.code, caught.value.retriable) == ("NO_RESOURCE", False)

    asyncio.run(scenario())


def test_a_queue_deleted_and_created_again_is_found_again(moto_server: MotoServer) -> None:
    account = new_account()
    sqs, url, arn = queue(moto_server, account, "comes-back")

    async def scenario() -> None:
        async with world(aws_endpoint_url=moto_server.url) as w:
            await send_to_queue(w.runtime, invocation(arn, '"one"'))
            assert [m["Body"] for m in receive_all(sqs, url, 1)] == ['"one"']
            sqs.delete_queue(QueueUrl=url)
            with pytest.raises(DeliveryError) as caught:
                await send_to_queue(w.runtime, invocation(arn, '"lost"'))
            assert caught.value.code == "NO_RESOURCE"
            sqs.create_queue(QueueName="comes-back")
            await send_to_queue(w.runtime, invocation(arn, '"two"'))

    asyncio.run(scenario())
    assert [m["Body"] for m in receive_all(sqs, url, 1)] == ['"two"']


def test_a_queue_of_another_account_receives_in_that_account(moto_server: MotoServer) -> None:
    owner = new_account()
    sqs, url, arn = queue(moto_server, owner, "shared")
    same_name_elsewhere = moto_server.sqs(new_account())
    other_url = same_name_elsewhere.create_queue(QueueName="shared")["QueueUrl"]

    async def scenario() -> None:
        async with world(aws_endpoint_url=moto_server.url) as w:  # the rule's account is another one
            await send_to_queue(w.runtime, invocation(arn, '"for the owner"'))

    asyncio.run(scenario())
    assert [m["Body"] for m in receive_all(sqs, url, 1)] == ['"for the owner"']
    assert receive_all(same_name_elsewhere, other_url, 1, timeout=0.5) == []


def test_dead_letters_carry_eventbridges_attributes(moto_server: MotoServer) -> None:
    sqs, url, arn = queue(moto_server, new_account(), "dlq")
    attributes = {
        "RULE_ARN": "arn:aws:events:us-east-1:123456789012:rule/orders",
        "TARGET_ARN": "arn:aws:events:us-east-1:123456789012:api-destination/dest/1",
        "ERROR_CODE": "SDK_CLIENT_ERROR",
        "ERROR_MESSAGE": "The API destination endpoint answered HTTP 500.",
        "EXHAUSTED_RETRY_CONDITION": "MaximumRetryAttempts",
        "RETRY_ATTEMPTS": "3",
    }

    async def scenario() -> None:
        async with world(aws_endpoint_url=moto_server.url) as w:
            await send_to_dead_letter_queue(w.runtime, arn, '{"id": "e-1"}', attributes)

    asyncio.run(scenario())
    (message,) = receive_all(sqs, url, 1)
    assert message["Body"] == '{"id": "e-1"}'
    got = {
        key: (value["DataType"], value["StringValue"]) for key, value in message["MessageAttributes"].items()
    }
    assert got == {key: ("String", value) for key, value in attributes.items()}


def test_a_missing_dead_letter_queue_raises(moto_server: MotoServer) -> None:
    async def scenario() -> None:
        async with world(aws_endpoint_url=moto_server.url) as w:
            with pytest.raises(DeliveryError) as caught:
                await send_to_dead_letter_queue(
                    w.runtime, f"arn:aws:sqs:us-east-1:{new_account()}:gone", "{}", {"ERROR_CODE": "TIMEOUT"}
                )
            assert caught.value.code == "NO_RESOURCE"
            with pytest.raises(DeliveryError) as caught:
                await send_to_dead_letter_queue(
                    w.runtime, f"arn:aws:sqs:us-east-1:{new_account()}:dlq.fifo", "{}", {}
                )
            assert caught.value.code == "INVALID_PARAMETER"

    asyncio.run(scenario())


def test_without_an_endpoint_nothing_is_called() -> None:
    async def scenario() -> None:
        async with world() as w:
            with pytest.raises(DeliveryError) as caught:
                await send_to_queue(w.runtime, invocation("arn:aws:sqs:us-east-1:123456789012:orders"))
            assert not caught.value.retriable
            assert "--aws-endpoint-url" in caught.value.message

    asyncio.run(scenario())


def test_a_per_service_endpoint_wins_over_the_general_one(moto_server: MotoServer) -> None:
    sqs, url, arn = queue(moto_server, new_account(), "routed")

    async def scenario() -> None:
        dead = f"http://127.0.0.1:{free_port()}"
        async with world(aws_endpoint_url=dead, aws_endpoints={"sqs": moto_server.url}) as w:
            await send_to_queue(w.runtime, invocation(arn, '"routed"'))

    asyncio.run(scenario())
    assert [m["Body"] for m in receive_all(sqs, url, 1)] == ['"routed"']


def test_an_unreachable_endpoint_is_retried() -> None:
    async def scenario() -> None:
        async with world(aws_endpoint_url=f"http://127.0.0.1:{free_port()}") as w:
            with pytest.raises(DeliveryError) as caught:
                await send_to_queue(w.runtime, invocation("arn:aws:sqs:us-east-1:123456789012:orders"))
            assert (caught.value.code, caught.value.retriable) == ("CONNECTION_FAILURE", True)

    asyncio.run(scenario())


def test_boto3_calls_do_not_block_the_event_loop(receiver: Receiver) -> None:
    """A slow AWS endpoint (the receiver, answering after 0.6 s) leaves the loop free meanwhile."""
    receiver.default(
        "/", Reply(400, {"__type": "AWS.SimpleQueueService.NonExistentQueue", "message": "no"}, delay=0.6)
    )

    async def scenario() -> None:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        async with world(aws_endpoint_url=receiver.url) as w:
            ticker = asyncio.create_task(tick())
            started = time.monotonic()
            with pytest.raises(DeliveryError):
                await send_to_queue(w.runtime, invocation("arn:aws:sqs:us-east-1:123456789012:slow"))
            elapsed = time.monotonic() - started
            ticker.cancel()
        assert elapsed >= 0.6
        assert ticks >= 20

    asyncio.run(scenario())
    assert len(receiver.at("/")) == 1


def client_error(code: str, status: int) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "SendMessage",
    )


@pytest.mark.parametrize(
    ("code", "status", "dlq_code", "retriable"),
    [
        ("AWS.SimpleQueueService.NonExistentQueue", 400, "NO_RESOURCE", False),
        ("QueueDoesNotExist", 400, "NO_RESOURCE", False),
        ("AccessDenied", 403, "NO_PERMISSIONS", False),
        ("KMS.AccessDeniedException", 400, "NO_PERMISSIONS", False),
        ("InvalidClientTokenId", 403, "NO_PERMISSIONS", False),
        ("ThrottlingException", 400, "THROTTLING", True),
        ("RequestThrottled", 403, "THROTTLING", True),  # SQS throttles with a 403
        ("SomethingElse", 403, "NO_PERMISSIONS", False),
        ("Anything", 429, "THROTTLING", True),
        ("InvalidParameterValue", 400, "INVALID_PARAMETER", False),
        ("InvalidMessageContents", 400, "INVALID_PARAMETER", False),
        ("UnsupportedOperation", 400, "SDK_CLIENT_ERROR", False),
        ("InternalError", 500, "INTERNAL_ERROR", True),
        ("ServiceUnavailable", 503, "INTERNAL_ERROR", True),
    ],
)
def test_aws_errors_are_classified_as_eventbridge_does(
    code: str, status: int, dlq_code: str, retriable: bool
) -> None:
    error = aws.delivery_error(client_error(code, status))
    assert (error.code, error.retriable) == (dlq_code, retriable)
    assert code in error.message


def test_an_answer_without_a_queue_url_is_a_clean_retriable_failure(receiver: Receiver) -> None:
    """An endpoint answering GetQueueUrl with `{}` fails the invocation with a DeliveryError (not a KeyError,
    which the engine would log with a traceback)."""
    receiver.default("/", Reply(200, {}))
    arn = "arn:aws:sqs:us-east-1:123456789012:odd"

    async def scenario() -> None:
        async with world(aws_endpoint_url=receiver.url) as w:
            with pytest.raises(DeliveryError) as caught:
                await send_to_queue(w.runtime, invocation(arn))
            assert (caught.value.code, caught.value.retriable) == ("SDK_CLIENT_ERROR", True)
            assert caught.value.message == f"GetQueueUrl for {arn} answered without a QueueUrl."
            with pytest.raises(DeliveryError):  # nothing was cached: the next attempt asks again
                await send_to_dead_letter_queue(w.runtime, arn, "{}", {})

    asyncio.run(scenario())
    assert [r.headers.get("x-amz-target") for r in receiver.at("/")] == ["AmazonSQS.GetQueueUrl"] * 2
