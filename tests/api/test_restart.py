"""Durability of resources: a SIGTERM'd server restarted on the same SQLite file keeps everything."""

from __future__ import annotations

import json
import os
import sys

import pytest
from botocore.exceptions import ClientError

from tests.support import ServerProcess, new_account


def populate(events, account):
    events.create_event_bus(Name="kept", Description="survives", Tags=[{"Key": "t", "Value": "1"}])
    events.put_rule(Name="nightly", ScheduleExpression="cron(0 3 * * ? *)", Description="d")
    events.put_targets(
        Rule="nightly", Targets=[{"Id": "q", "Arn": f"arn:aws:sqs:us-east-1:{account}:q", "Input": "{}"}]
    )
    events.put_permission(Action="events:PutEvents", Principal="111122223333", StatementId="s1")


def check(events, account):
    bus = events.describe_event_bus(Name="kept")
    assert bus["Description"] == "survives"
    assert events.list_tags_for_resource(ResourceARN=bus["Arn"])["Tags"] == [{"Key": "t", "Value": "1"}]
    assert events.describe_rule(Name="nightly")["ScheduleExpression"] == "cron(0 3 * * ? *)"
    targets = events.list_targets_by_rule(Rule="nightly")["Targets"]
    assert targets == [{"Id": "q", "Arn": f"arn:aws:sqs:us-east-1:{account}:q", "Input": "{}"}]
    statements = json.loads(events.describe_event_bus()["Policy"])["Statement"]
    assert [s["Sid"] for s in statements] == ["s1"]


def test_restart_with_the_same_sqlite_file_keeps_everything(tmp_path):
    account = new_account()
    server = ServerProcess(f"sqlite:///{tmp_path / 'state.db'}").start()
    try:
        populate(server.client(account=account), account)
        assert server.stop() == 0  # SIGTERM: a clean stop
        server.start()
        check(server.client(account=account), account)
    finally:
        server.stop()


def test_default_store_is_a_file_under_dot_eventyard(tmp_path):
    account = new_account()
    env = {"PYTHONPATH": os.pathsep.join(sys.path)}
    server = ServerProcess(None, cwd=tmp_path, env=env).start()
    try:
        populate(server.client(account=account), account)
        server.stop()
        assert (tmp_path / ".eventyard" / "eventyard.db").exists()
        server.start()
        check(server.client(account=account), account)
    finally:
        server.stop()


def test_memory_store_keeps_nothing():
    account = new_account()
    server = ServerProcess("memory").start()
    try:
        server.client(account=account).create_event_bus(Name="ephemeral")
        server.stop()
        server.start()
        with pytest.raises(ClientError) as excinfo:
            server.client(account=account).describe_event_bus(Name="ephemeral")
        assert excinfo.value.response["Error"]["Code"] == "ResourceNotFoundException"
    finally:
        server.stop()


def test_environment_variables_configure_the_server(tmp_path):
    env = {"EVENTYARD_DEFAULT_ACCOUNT": "999988887777", "EVENTYARD_DEFAULT_REGION": "eu-central-1"}
    server = ServerProcess("memory", env=env).start()
    try:
        anonymous = server.client(account="AKIANOTANACCOUNT", region="eu-central-1")
        assert (
            anonymous.describe_event_bus()["Arn"]
            == "arn:aws:events:eu-central-1:999988887777:event-bus/default"
        )
    finally:
        server.stop()
