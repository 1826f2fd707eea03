"""Smoke test with the aws CLI (PyPI `awscli`) against the running server, as a user would type it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

AWS = str(Path(sys.executable).parent / "aws")


def aws(server, account: str, *args: str) -> dict:
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": account,
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    }
    done = subprocess.run(
        [AWS, "--endpoint-url", server.url, "--output", "json", "events", *args],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if done.stdout.strip() else {}


def test_aws_cli_smoke(server, account):
    created = aws(server, account, "create-event-bus", "--name", "cli-bus")
    assert created["EventBusArn"] == f"arn:aws:events:us-east-1:{account}:event-bus/cli-bus"
    listed = aws(server, account, "list-event-buses")
    assert [bus["Name"] for bus in listed["EventBuses"]] == ["cli-bus", "default"]
    aws(server, account, "put-rule", "--name", "tick", "--schedule-expression", "rate(1 minute)")
    described = aws(server, account, "describe-rule", "--name", "tick")
    assert described["ScheduleExpression"] == "rate(1 minute)"
    aws(server, account, "delete-rule", "--name", "tick")
    aws(server, account, "delete-event-bus", "--name", "cli-bus")


def test_aws_cli_reports_aws_errors(server, account):
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": account,
        "AWS_SECRET_ACCESS_KEY": "t",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    done = subprocess.run(
        [AWS, "--endpoint-url", server.url, "events", "describe-rule", "--name", "missing"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode != 0
    assert "ResourceNotFoundException" in done.stderr
    assert "Rule missing does not exist on EventBus default." in done.stderr
