"""boto3 clients for AWS service targets, pointed at the configured endpoints (moto, LocalStack or AWS).

`--aws-endpoint-url URL` serves every service, `--aws-endpoint SERVICE=URL` one service. With no endpoint
configured Eventyard never calls AWS on its own: the delivery fails with a clear non-retriable error.

Credentials: for an emulator endpoint, dummy ones naming the resource's account (the access key id is the
12-digit account, as LocalStack reads it, and an `x-moto-account-id` header, as moto reads it); for an
`*.amazonaws.com` / `*.api.aws` endpoint, boto3's default credential chain. boto3 is blocking, so every
call runs in a worker thread and never blocks the event loop. Clients are created once and cached.
"""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

from eventyard.delivery.targets import DeliveryError

if TYPE_CHECKING:
    from eventyard.runtime import Runtime

DUMMY_SECRET = "eventyard-dummy-secret"
_CLIENTS = "aws_clients"
_lock = threading.Lock()

# AWS error codes -> (DLQ ERROR_CODE, retriable)
_NO_RESOURCE = {
    "AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist", "NonExistentQueue",
    "ResourceNotFoundException", "NotFound", "NotFoundException",
}  # fmt: skip
_NO_PERMISSIONS = {
    "AccessDenied", "AccessDeniedException", "KMS.AccessDeniedException", "KmsAccessDenied",
    "KMS.DisabledException", "KmsDisabled", "InvalidClientTokenId", "UnrecognizedClientException",
    "AuthFailure", "SignatureDoesNotMatch", "InvalidSecurity", "MissingAuthenticationToken",
    "ExpiredToken", "ExpiredTokenException", "AuthorizationError",
}  # fmt: skip
_THROTTLING = {
    "Throttling", "ThrottlingException", "RequestThrottled", "TooManyRequestsException",
    "OverLimit", "KMS.ThrottlingException", "KmsThrottled", "RequestLimitExceeded",
    "ProvisionedThroughputExceededException", "SlowDown",
}  # fmt: skip
_INVALID_PARAMETER = {
    "InvalidParameterValue", "InvalidParameterValueException", "MissingParameter",
    "InvalidMessageContents", "InvalidAttributeValue", "InvalidParameterCombination",
    "ValidationError", "ValidationException", "InvalidParameterException",
}  # fmt: skip


def endpoint_for(runtime: Runtime, service: str) -> str | None:
    config = runtime.config
    return config.aws_endpoints.get(service) or config.aws_endpoint_url


def _is_aws(endpoint: str) -> bool:
    host = urlsplit(endpoint).hostname or ""
    return host.endswith((".amazonaws.com", ".api.aws", ".amazonaws.com.cn"))


def client(runtime: Runtime, service: str, region: str, account: str) -> Any:
    """The cached boto3 client for `service` in `region`, acting for `account`."""
    endpoint = endpoint_for(runtime, service)
    if endpoint is None:
        raise DeliveryError(
            "SDK_CLIENT_ERROR",
            f"No endpoint is configured for the AWS service '{service}': start Eventyard with "
            f"--aws-endpoint-url URL or --aws-endpoint {service}=URL.",
            retriable=False,
        )
    clients: dict[tuple[str, str, str, str], Any] = runtime.extensions.setdefault(_CLIENTS, {})
    key = (service, region, account, endpoint)
    found = clients.get(key)
    if found is not None:
        return found
    with _lock:
        found = clients.get(key)
        if found is None:
            found = clients[key] = _make_client(service, region, account, endpoint)
    return found


def _make_client(service: str, region: str, account: str, endpoint: str) -> Any:
    config = BotoConfig(
        retries={"max_attempts": 1, "mode": "standard"},  # the delivery engine does the retrying
        connect_timeout=5,
        read_timeout=10,
        max_pool_connections=32,
    )
    if _is_aws(endpoint):
        return boto3.session.Session(region_name=region).client(service, endpoint_url=endpoint, config=config)
    made = boto3.session.Session().client(
        service,
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=account,
        aws_secret_access_key=DUMMY_SECRET,
        config=config,
    )

    def name_account(request: Any, **_: Any) -> None:
        request.headers["x-moto-account-id"] = account

    made.meta.events.register("before-sign", name_account)
    return made


async def call(aws_client: Any, method: str, **params: Any) -> dict[str, Any]:
    """Run one boto3 call in a worker thread; failures come back as DeliveryError with the DLQ's code."""
    try:
        result: dict[str, Any] = await asyncio.to_thread(getattr(aws_client, method), **params)
    except ClientError as error:
        raise delivery_error(error) from None
    except (ConnectTimeoutError, ReadTimeoutError) as error:
        raise DeliveryError("TIMEOUT", f"The call to {method} timed out: {error}", retriable=True) from None
    except EndpointConnectionError as error:
        raise DeliveryError("CONNECTION_FAILURE", str(error), retriable=True) from None
    except NoCredentialsError as error:
        raise DeliveryError("NO_PERMISSIONS", str(error), retriable=False) from None
    except BotoCoreError as error:
        raise DeliveryError("SDK_CLIENT_ERROR", str(error), retriable=True) from None
    return result


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def delivery_error(error: ClientError) -> DeliveryError:
    """Classify an AWS error as EventBridge does: missing resources and permissions are not retried."""
    code = error_code(error)
    message = str(error.response.get("Error", {}).get("Message") or error)
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    text = f"{code}: {message}" if code else message
    if code in _NO_RESOURCE:
        return DeliveryError("NO_RESOURCE", text, retriable=False)
    if code in _THROTTLING or status == 429:  # before 403: SQS answers RequestThrottled with a 403
        return DeliveryError("THROTTLING", text, retriable=True)
    if code in _NO_PERMISSIONS or status == 403:
        return DeliveryError("NO_PERMISSIONS", text, retriable=False)
    if code in _INVALID_PARAMETER:
        return DeliveryError("INVALID_PARAMETER", text, retriable=False)
    if status >= 500 or not status:
        return DeliveryError("INTERNAL_ERROR", text, retriable=True)
    return DeliveryError("SDK_CLIENT_ERROR", text, retriable=False)
