"""The README's partner flow runs as written: its aws CLI walkthrough (with the real `aws` command) and its boto3
script, against a server and a moto started the way the page says, on other loopback ports.

The blocks to run are the ones after a `<!-- run: cli -->` or `<!-- run: boto3 -->` marker; only the two
endpoint URLs are replaced.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.api.delivery_helpers import deliveries_of
from tests.fixtures_aws import MotoServer
from tests.support import ROOT, ServerProcess

DOC = ROOT / "README.md"
BIN = Path(sys.executable).parent
CUSTOMER = "222222222222"


def runnable_block(kind: str) -> str:
    found = re.search(rf"<!-- run: {kind} -->\n```\w+\n(.*?)\n```", DOC.read_text(), re.DOTALL)
    assert found is not None, f"README.md has no `run: {kind}` block"
    return found.group(1)


@pytest.fixture(scope="module")
def moto_for_customer() -> Iterator[MotoServer]:
    """moto keeping every queue in the customer's account, as the page starts it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MOTO_ACCOUNT_ID", CUSTOMER)
        moto = MotoServer().start()
    yield moto
    moto.stop()


@pytest.fixture(scope="module")
def servers(
    new_store_url: Callable[[], str], moto_for_customer: MotoServer
) -> Iterator[tuple[ServerProcess, MotoServer]]:
    eventyard = ServerProcess(new_store_url(), "--aws-endpoint-url", moto_for_customer.url).start()
    yield eventyard, moto_for_customer
    eventyard.stop()


def localize(text: str, servers: tuple[ServerProcess, MotoServer]) -> str:
    eventyard, moto = servers
    return text.replace("http://127.0.0.1:4010", eventyard.url).replace("http://127.0.0.1:5000", moto.url)


def clean_env(tmp_path: Path) -> dict[str, str]:
    """No AWS settings from the machine running the tests; the page's commands set what they need."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["AWS_CONFIG_FILE"] = env["AWS_SHARED_CREDENTIALS_FILE"] = str(tmp_path / "none")
    return env


def test_the_aws_cli_walkthrough(servers: tuple[ServerProcess, MotoServer], tmp_path: Path) -> None:
    script = localize(runnable_block("cli"), servers)
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        env=clean_env(tmp_path), cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    outputs = [json.loads(part) for part in re.split(r"(?m)^(?=\{)", done.stdout) if part.strip()]
    assert len(outputs) == 8, done.stdout  # one answer per command of the walkthrough
    eventyard, moto = servers
    source = "aws.partner/example.com/222222222222/orders"
    assert outputs[0] == {"EventSourceArn": f"arn:aws:events:us-east-1::event-source/{source}"}
    [offered] = outputs[1]["EventSources"]
    assert (offered["Name"], offered["State"], offered["CreatedBy"]) == (
        source,
        "PENDING",
        "aws.partner/example.com",
    )
    # The page says: ExpirationTime seven days after creation.
    assert offered["ExpirationTime"] - offered["CreationTime"] == pytest.approx(7 * 86400, abs=0.01)
    assert outputs[2] == {"EventBusArn": f"arn:aws:events:us-east-1:222222222222:event-bus/{source}"}
    assert outputs[3] == {"QueueUrl": f"{moto.url}/{CUSTOMER}/partner-orders"}
    assert outputs[4] == {"RuleArn": f"arn:aws:events:us-east-1:222222222222:rule/{source}/big-orders"}
    assert outputs[5] == {"FailedEntryCount": 0, "FailedEntries": []}
    sent = outputs[6]
    assert sent["FailedEntryCount"] == 0 and len(sent["Entries"]) == 2
    [message] = outputs[7]["Messages"]
    event = json.loads(message["Body"])
    assert event["id"] == sent["Entries"][0]["EventId"]
    assert (event["source"], event["account"], event["region"]) == (source, CUSTOMER, "us-east-1")
    assert event["detail"] == {"order": "A-1", "amount": 250}
    # receive-message takes one message at most: that A-2 (amount 20) did not match is the server's to say.
    small = deliveries_of(eventyard, sent["Entries"][1]["EventId"])
    assert small is not None and small["deliveries"] == []


def test_the_boto3_walkthrough(servers: tuple[ServerProcess, MotoServer], tmp_path: Path) -> None:
    script = tmp_path / "partner_flow.py"
    script.write_text(localize(runnable_block("boto3"), servers))
    done = subprocess.run(
        [sys.executable, str(script)],
        env=clean_env(tmp_path), cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    source = "aws.partner/example.com/222222222222/invoices"
    assert lines[0] == f"arn:aws:events:us-east-1::event-source/{source}"
    assert lines[1].startswith(f"{source} PENDING created by aws.partner/example.com expires ")
    assert lines[2] == f"{source} ACTIVE"
    assert lines[3].startswith("failed entries: 0 event id: ")
    event_id = lines[3].removeprefix("failed entries: 0 event id: ")
    assert lines[4] == f"received {event_id} {source} {CUSTOMER} Invoice Paid {{'invoice': 'INV-7'}}"
    assert len(lines) == 5
