"""Requests shaped exactly as R's paws sends them (paws.common 0.7.7; ../shared/reference/client-wire.md):
SigV4 signing content-length;content-type;host;x-amz-date;x-amz-target, an `Accept` header listing XML
types, no `x-amz-content-sha256`. R and paws are not installed here (CRAN is out of reach), so the bytes are
sent with httpx; what matters to paws is checked on the answers: every answer, errors included, is a JSON
body it can parse, with the error code in `__type` and the text in `message`."""

from __future__ import annotations

import httpx
import orjson

from tests.support import ServerProcess


def paws_call(server: ServerProcess, account: str, operation: str, params: dict) -> httpx.Response:
    body = orjson.dumps(params)
    headers = {
        "User-Agent": "paws/0.7.7 (R4.2.2; linux-gnu; x86_64)",
        "Accept": "application/json, text/xml, application/xml, */*",
        "Content-Type": "application/x-amz-json-1.1",
        "Content-Length": str(len(body)),
        "X-Amz-Target": f"AWSEvents.{operation}",
        "X-Amz-Date": "20261126T120000Z",
        "Authorization": (
            f"AWS4-HMAC-SHA256 Credential={account}/20261126/eu-west-1/events/aws4_request, "
            "SignedHeaders=content-length;content-type;host;x-amz-date;x-amz-target, "
            "Signature=6c1f0d4f0c4c1e1b4e1f0e6a55b1c5f0f9c1a1d1e1f1a1b1c1d1e1f1a1b1c1d1"
        ),
    }
    return httpx.post(server.url + "/", content=body, headers=headers, timeout=10)


def test_paws_requests_are_served(server: ServerProcess, account: str) -> None:
    created = paws_call(server, account, "CreateEventBus", {"Name": "from-r"})
    assert created.status_code == 200
    assert created.headers["content-type"] == "application/x-amz-json-1.1"
    assert created.json() == {"EventBusArn": f"arn:aws:events:eu-west-1:{account}:event-bus/from-r"}
    put = paws_call(
        server,
        account,
        "PutEvents",
        {"Entries": [{"EventBusName": "from-r", "Source": "r.app", "DetailType": "t", "Detail": "{}"}]},
    )
    assert put.status_code == 200
    assert put.json()["FailedEntryCount"] == 0
    listed = paws_call(server, account, "ListEventBuses", {})
    assert [bus["Name"] for bus in listed.json()["EventBuses"]] == ["default", "from-r"]


def test_paws_can_parse_every_error_answer(server: ServerProcess, account: str) -> None:
    cases = [
        ("DescribeRule", {"Name": "missing"}, 400, "ResourceNotFoundException"),
        ("PutRule", {"Name": "r", "EventPattern": "{"}, 400, "InvalidEventPatternException"),
        ("CreateEventBus", {}, 400, "ValidationException"),
        ("CreateArchive", {"ArchiveName": "a", "EventSourceArn": "arn"}, 501, "NotImplementedException"),
        ("NoSuchOperation", {}, 400, "UnknownOperationException"),
    ]
    for operation, params, status, code in cases:
        answer = paws_call(server, account, operation, params)
        assert answer.status_code == status, (operation, answer.text)
        assert answer.headers["content-type"].startswith("application/"), operation
        error = answer.json()
        assert error["__type"] == code, operation
        assert isinstance(error["message"], str) and error["message"], operation
