"""Small helpers for API tests."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError


def error_of(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    """(code, message, HTTP status) of a boto3 ClientError."""
    error = excinfo.value.response
    return error["Error"]["Code"], error["Error"]["Message"], error["ResponseMetadata"]["HTTPStatusCode"]


def refused(call: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[str, str, int]:
    """(code, message, HTTP status) of a boto3 call that must fail with a ClientError."""
    with pytest.raises(ClientError) as excinfo:
        call(*args, **kwargs)
    return error_of(excinfo)


def put_policy(client: Any, *statements: dict[str, Any], bus: str = "default") -> None:
    """PutPermission of a whole policy document of `statements` on `bus` (a name or an ARN)."""
    client.put_permission(
        EventBusName=bus, Policy=json.dumps({"Version": "2012-10-17", "Statement": list(statements)})
    )


def pages_of(list_call: Callable[..., Any], key: str, **kwargs: Any) -> list[list[Any]]:
    """The items of every page of a List call (its `key` member), following NextToken to the last page."""
    pages: list[list[Any]] = []
    token = None
    while True:
        answer = list_call(**kwargs, **({"NextToken": token} if token else {}))
        pages.append(answer[key])
        token = answer.get("NextToken")
        if not token:
            return pages


def signed(account: str, region: str = "us-east-1") -> str:
    """An Authorization header as boto3 sends it (the server reads the account and Region from its
    credential scope; nothing checks the signature)."""
    return (
        f"AWS4-HMAC-SHA256 Credential={account}/20261126/{region}/events/aws4_request, "
        "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=abc"
    )
