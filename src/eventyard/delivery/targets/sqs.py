"""SQS targets and dead-letter queues: SendMessage to the queue named by an ARN, through delivery.aws."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from eventyard.core import arn as arns
from eventyard.delivery import aws
from eventyard.delivery.targets import DeliveryError, Invocation, adapter

if TYPE_CHECKING:
    from eventyard.runtime import Runtime

_URLS = "sqs_queue_urls"
_QUEUE_GONE = "NO_RESOURCE"


def parse_queue_arn(arn: str) -> tuple[str, str, str]:
    """(region, account, queue name) of `arn:<partition>:sqs:<region>:<account>:<name>`."""
    parsed = arns.fields(arn)
    if parsed is None or parsed[0] != "sqs" or not parsed[1] or not parsed[2] or ":" in parsed[3]:
        raise DeliveryError("NO_RESOURCE", f"{arn} is not the ARN of an SQS queue.", retriable=False)
    _service, region, account, name = parsed
    return region, account, name


async def queue_url(runtime: Runtime, arn: str) -> tuple[Any, str]:
    """The client to reach the queue and its URL (found with GetQueueUrl once, then cached)."""
    region, account, name = parse_queue_arn(arn)
    # The queue's own account: an emulator keeps each account's queues apart and has no IAM to cross.
    client = aws.client(runtime, "sqs", region, account)
    urls: dict[str, str] = runtime.extensions.setdefault(_URLS, {})
    url = urls.get(arn)
    if url is None:
        found = await aws.call(client, "get_queue_url", QueueName=name, QueueOwnerAWSAccountId=account)
        url = found.get("QueueUrl")
        if not isinstance(url, str) or not url:
            # A broken answer (an emulator or proxy), as botocore's unparsable ones: retried.
            raise DeliveryError(
                "SDK_CLIENT_ERROR",
                f"GetQueueUrl for {arn} answered without a QueueUrl.",
                retriable=True,
            )
        urls[arn] = url
    return client, url


async def send(runtime: Runtime, arn: str, **params: Any) -> dict[str, Any]:
    client, url = await queue_url(runtime, arn)
    try:
        return await aws.call(client, "send_message", QueueUrl=url, **params)
    except DeliveryError as error:
        if error.code == _QUEUE_GONE:
            runtime.extensions.get(_URLS, {}).pop(arn, None)  # re-created queues get a fresh look-up
        raise


@adapter("sqs")
async def send_to_queue(runtime: Runtime, invocation: Invocation) -> None:
    """Deliver the shaped payload as the message body; FIFO queues take SqsParameters.MessageGroupId."""
    target = invocation.target
    params: dict[str, Any] = {"MessageBody": invocation.payload}
    group = (target.get("SqsParameters") or {}).get("MessageGroupId")
    if group:
        params["MessageGroupId"] = group
    elif target["Arn"].endswith(".fifo"):
        raise DeliveryError(
            "INVALID_PARAMETER",
            f"The FIFO queue {target['Arn']} needs SqsParameters.MessageGroupId on target {target['Id']}.",
            retriable=False,
        )
    await send(runtime, target["Arn"], **params)


async def send_to_dead_letter_queue(
    runtime: Runtime, queue_arn: str, body: str, attributes: dict[str, str]
) -> None:
    """Send a failed event to its DLQ with the String message attributes EventBridge adds
    (RULE_ARN, TARGET_ARN, ERROR_CODE, ERROR_MESSAGE, EXHAUSTED_RETRY_CONDITION, RETRY_ATTEMPTS).
    Raises DeliveryError when the queue cannot take it (the engine counts InvocationsFailedToBeSentToDLQ)."""
    if queue_arn.endswith(".fifo"):
        raise DeliveryError(
            "INVALID_PARAMETER",
            f"{queue_arn} is a FIFO queue; EventBridge dead-letter queues must be standard queues.",
            retriable=False,
        )
    message_attributes = {
        name: {"DataType": "String", "StringValue": value}
        for name, value in attributes.items()
        if value != ""  # SQS refuses empty attribute values
    }
    await send(runtime, queue_arn, MessageBody=body, MessageAttributes=message_attributes)
