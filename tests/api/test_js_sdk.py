"""The AWS SDK for JavaScript v3 (`@aws-sdk/client-eventbridge`, pinned by tests/js/package-lock.json) against
the real server: the README's snippet as written, and tests/js/scenario.mjs, an application's use of buses,
rules, targets, PutEvents, TestEventPattern, NextToken paging, errors and the partner flow. The SDK signs
differently from boto3 (`x-amz-content-sha256`, `x-amz-user-agent`, keep-alive) and parses answers with its
own code: timestamps into Date objects, errors into exception classes named by `__type`.

What the SDK returned is checked here, and also through the operator's view of the stored events."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from typing import Any

import pytest

from tests import nodejs
from tests.api.delivery_helpers import events_on, states
from tests.support import ROOT, ServerProcess, new_account


@pytest.fixture(scope="session")
def node() -> str:
    return nodejs.install()


def run_node(node: str, args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(
        [node, *args],
        cwd=nodejs.JS,
        env={**os.environ, "NODE_NO_WARNINGS": "1", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_readme_snippet_runs_as_written(node: str, server: ServerProcess) -> None:
    block = re.search(r"<!-- run: js -->\n```js\n(.*?)\n```", (ROOT / "README.md").read_text(), re.DOTALL)
    assert block is not None, "README.md has no `run: js` block"
    code = block.group(1).replace("http://127.0.0.1:4010", server.url)
    printed = run_node(node, ["--input-type=module", "--eval", code], {})
    assert "EventBuses: [" in printed
    assert "arn:aws:events:us-east-1:111111111111:event-bus/default" in printed


@pytest.fixture(scope="module")
def scenario(node: str, server: ServerProcess) -> tuple[dict[str, Any], str, str, float]:
    customer, partner = new_account(), new_account()
    started = time.time()
    printed = run_node(
        node, ["scenario.mjs"], {"EVENTYARD_URL": server.url, "CUSTOMER": customer, "PARTNER": partner}
    )
    return json.loads(printed), customer, partner, started


def test_buses_rules_and_targets(scenario: tuple[dict[str, Any], str, str, float]) -> None:
    report, customer, _, started = scenario
    bus_arn = f"arn:aws:events:us-east-1:{customer}:event-bus/js-orders"
    assert report["buses"] == ["default"]
    assert report["bus"]["arn"] == report["bus"]["describedArn"] == bus_arn
    assert report["bus"]["description"] == "from JS"
    assert report["bus"]["creationTimeIsDate"] is True
    assert started - 5 <= report["bus"]["creationTime"] / 1000 <= time.time() + 5
    assert report["rule"] == {
        "arn": f"arn:aws:events:us-east-1:{customer}:rule/js-orders/big-orders",
        "failedTargets": 0,
        "targets": [["to-default", f"arn:aws:events:us-east-1:{customer}:event-bus/default"]],
        "state": "ENABLED",
    }
    assert report["testPattern"] is True
    assert report["pages"] == [["big-orders"], ["page-a"], ["page-b"]]


def test_put_events_reach_rules(
    scenario: tuple[dict[str, Any], str, str, float], server: ServerProcess
) -> None:
    report, customer, _, _ = scenario
    put = report["put"]
    assert put["failed"] == 1
    matched, malformed, unmatched = put["entries"]
    assert malformed == {"ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is malformed."}
    bus_arn = f"arn:aws:events:us-east-1:{customer}:event-bus/js-orders"
    # total 250 matches the numeric rule and is delivered to the default bus; total 5 matches nothing.
    assert states(server, matched["EventId"]) == [("js-orders", "to-default", "delivered")]
    assert states(server, unmatched["EventId"]) == []
    stored = events_on(server, unmatched["EventId"])[bus_arn]
    assert stored["time"] == "2026-01-02T03:04:05Z"  # the SDK sends Time as epoch seconds
    assert stored["detail"] == {"total": 5}
    assert events_on(server, matched["EventId"])[bus_arn]["account"] == customer


def test_errors_become_the_sdks_exceptions(scenario: tuple[dict[str, Any], str, str, float]) -> None:
    errors = scenario[0]["errors"]
    client_error = {"fault": "client", "status": 400, "isServiceException": True}
    assert errors["missingRule"] == {
        "name": "ResourceNotFoundException",
        "message": "Rule nope does not exist on EventBus js-orders.",
        **client_error,
    }
    assert errors["duplicateBus"] == {
        "name": "ResourceAlreadyExistsException",
        "message": "Event bus js-orders already exists.",
        **client_error,
    }
    assert errors["badPattern"]["name"] == "InvalidEventPatternException"
    assert errors["badPattern"]["message"].startswith("Event pattern is not valid. Reason: ")
    assert errors["badName"] == {
        "name": "ValidationException",
        "message": "1 validation error detected: Value 'no spaces allowed' at 'name' failed to satisfy "
        "constraint: Member must satisfy regular expression pattern: [\\.\\-_A-Za-z0-9]+",
        **client_error,
    }


def test_partner_flow(scenario: tuple[dict[str, Any], str, str, float], server: ServerProcess) -> None:
    report, customer, _, _ = scenario
    partner = report["partner"]
    source = f"aws.partner/js.example.com/{customer}/orders"
    assert partner["sourceArn"] == f"arn:aws:events:us-east-1::event-source/{source}"
    assert partner["seen"] == [[source, "PENDING", "aws.partner/js.example.com"]]
    assert partner["busArn"] == f"arn:aws:events:us-east-1:{customer}:event-bus/{source}"
    assert partner["stateAfterBus"] == "ACTIVE"
    assert partner["expirationIsDate"] is True
    assert partner["put"]["failed"] == 0
    (entry,) = partner["put"]["entries"]
    stored = events_on(server, entry["EventId"])[partner["busArn"]]
    assert (stored["source"], stored["detail-type"], stored["detail"]) == (
        source,
        "OrderShipped",
        {"order": 7},
    )
    (refused,) = partner["fromCustomer"]
    assert refused["ErrorCode"] == "ResourceNotFoundException"
    assert refused["ErrorMessage"].startswith("Event Bus Not Found")
