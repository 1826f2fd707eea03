"""Connections through the real server with boto3: the three authorization types, states, secrets kept
secret, updates, deauthorization, deletion, paging and every error."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.api.helpers import error_of
from tests.fixtures_aws import Receiver, Reply

SECRETS = ("pa55word", "key-value-123", "client-s3cret", "hidden-header", "hidden-query", "hidden-body")
BASIC = {"BasicAuthParameters": {"Username": "ada", "Password": "pa55word"}}
API_KEY = {"ApiKeyAuthParameters": {"ApiKeyName": "x-api-key", "ApiKeyValue": "key-value-123"}}
INVOCATION = {
    "HeaderParameters": [
        {"Key": "x-open", "Value": "visible", "IsValueSecret": False},
        {"Key": "x-closed", "Value": "hidden-header", "IsValueSecret": True},
    ],
    "QueryStringParameters": [{"Key": "q", "Value": "hidden-query", "IsValueSecret": True}],
    "BodyParameters": [{"Key": "b", "Value": "hidden-body", "IsValueSecret": True}],
}


def oauth(endpoint: str) -> dict[str, Any]:
    return {
        "OAuthParameters": {
            "ClientParameters": {"ClientID": "client-1", "ClientSecret": "client-s3cret"},
            "AuthorizationEndpoint": endpoint,
            "HttpMethod": "POST",
            "OAuthHttpParameters": {
                "BodyParameters": [{"Key": "scope", "Value": "events", "IsValueSecret": False}]
            },
        }
    }


def settled(events: Any, name: str, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        described = events.describe_connection(Name=name)
        if described["ConnectionState"] != "AUTHORIZING" or time.monotonic() > deadline:
            return described
        time.sleep(0.05)


def no_secret_in(*responses: Any) -> None:
    text = json.dumps(responses, default=str)
    for secret in SECRETS:
        assert secret not in text


def test_basic_connection_is_authorized_and_described_without_its_password(events, account):
    created = events.create_connection(
        Name="shop", Description="the shop", AuthorizationType="BASIC", AuthParameters=BASIC
    )
    arn = created["ConnectionArn"]
    assert re.fullmatch(rf"arn:aws:events:us-east-1:{account}:connection/shop/[0-9a-f-]{{36}}", arn)
    assert created["ConnectionState"] == "AUTHORIZED"
    assert created["CreationTime"] == created["LastModifiedTime"]
    described = events.describe_connection(Name="shop")
    assert described["ConnectionArn"] == arn
    assert described["Name"] == "shop" and described["Description"] == "the shop"
    assert described["AuthorizationType"] == "BASIC"
    assert described["AuthParameters"] == {"BasicAuthParameters": {"Username": "ada"}}
    uid = arn.rsplit("/", 1)[1]
    assert re.fullmatch(
        rf"arn:aws:secretsmanager:us-east-1:{account}:secret:events!connection/shop/{uid}-[A-Za-z0-9]{{6}}",
        described["SecretArn"],
    )
    assert "LastAuthorizedTime" in described
    no_secret_in(created, described, events.list_connections())


def test_api_key_connection_with_invocation_parameters_hides_every_secret_value(events):
    events.create_connection(
        Name="keyed",
        AuthorizationType="API_KEY",
        AuthParameters={**API_KEY, "InvocationHttpParameters": INVOCATION},
    )
    described = events.describe_connection(Name="keyed")
    assert described["AuthParameters"] == {
        "ApiKeyAuthParameters": {"ApiKeyName": "x-api-key"},
        "InvocationHttpParameters": {
            "HeaderParameters": [
                {"Key": "x-open", "Value": "visible", "IsValueSecret": False},
                {"Key": "x-closed", "IsValueSecret": True},
            ],
            "QueryStringParameters": [{"Key": "q", "IsValueSecret": True}],
            "BodyParameters": [{"Key": "b", "IsValueSecret": True}],
        },
    }
    no_secret_in(described, events.list_connections())


def test_oauth_connection_authorizes_against_its_token_endpoint(events, receiver: Receiver):
    receiver.default("/token", Reply(200, {"access_token": "tok", "expires_in": 3600}))
    created = events.create_connection(
        Name="oauth",
        AuthorizationType="OAUTH_CLIENT_CREDENTIALS",
        AuthParameters=oauth(f"{receiver.url}/token"),
    )
    assert created["ConnectionState"] == "AUTHORIZING"
    described = settled(events, "oauth")
    assert described["ConnectionState"] == "AUTHORIZED"
    assert described["AuthParameters"] == {
        "OAuthParameters": {
            "ClientParameters": {"ClientID": "client-1"},
            "AuthorizationEndpoint": f"{receiver.url}/token",
            "HttpMethod": "POST",
            "OAuthHttpParameters": {
                "BodyParameters": [{"Key": "scope", "Value": "events", "IsValueSecret": False}]
            },
        }
    }
    (request,) = receiver.at("/token")
    assert request.form() == {"grant_type": "client_credentials", "scope": "events"}
    no_secret_in(described, events.list_connections())


def test_oauth_connection_refused_by_its_endpoint_is_deauthorized(events, receiver: Receiver):
    receiver.default("/token", Reply(401, {"error": "invalid_client"}))
    events.create_connection(
        Name="refused",
        AuthorizationType="OAUTH_CLIENT_CREDENTIALS",
        AuthParameters=oauth(f"{receiver.url}/token"),
    )
    described = settled(events, "refused")
    assert described["ConnectionState"] == "DEAUTHORIZED"
    assert "401" in described["StateReason"]


def test_a_connection_cannot_change_while_it_is_authorizing(events, receiver: Receiver):
    receiver.default("/token", Reply(200, {"access_token": "slow"}, delay=1.5))
    events.create_connection(
        Name="slow",
        AuthorizationType="OAUTH_CLIENT_CREDENTIALS",
        AuthParameters=oauth(f"{receiver.url}/token"),
    )
    receiver.wait_for("/token", 1)
    for call in (
        lambda: events.update_connection(Name="slow", Description="now"),
        lambda: events.deauthorize_connection(Name="slow"),
        lambda: events.delete_connection(Name="slow"),
    ):
        with pytest.raises(ClientError) as excinfo:
            call()
        assert error_of(excinfo)[0] == "ConcurrentModificationException"
    assert settled(events, "slow")["ConnectionState"] == "AUTHORIZED"
    events.update_connection(Name="slow", Description="now")
    assert events.describe_connection(Name="slow")["Description"] == "now"


def test_update_changes_only_what_it_names(events):
    events.create_connection(Name="upd", AuthorizationType="BASIC", AuthParameters=BASIC)
    before = events.describe_connection(Name="upd")
    updated = events.update_connection(
        Name="upd", Description="renamed user", AuthParameters={"BasicAuthParameters": {"Username": "grace"}}
    )
    assert updated["ConnectionState"] == "AUTHORIZED"
    assert updated["ConnectionArn"] == before["ConnectionArn"]
    assert updated["LastModifiedTime"] >= before["LastModifiedTime"]
    after = events.describe_connection(Name="upd")
    assert after["AuthParameters"] == {"BasicAuthParameters": {"Username": "grace"}}
    assert after["Description"] == "renamed user"
    assert after["SecretArn"] == before["SecretArn"]


def test_update_to_another_authorization_type_needs_its_credentials(events):
    events.create_connection(Name="switch", AuthorizationType="BASIC", AuthParameters=BASIC)
    with pytest.raises(ClientError) as excinfo:
        events.update_connection(Name="switch", AuthorizationType="API_KEY")
    code, message, _ = error_of(excinfo)
    assert code == "ValidationException" and "ApiKeyAuthParameters" in message
    with pytest.raises(ClientError) as excinfo:
        events.update_connection(
            Name="switch",
            AuthorizationType="API_KEY",
            AuthParameters={"ApiKeyAuthParameters": {"ApiKeyName": "k"}},
        )
    assert "ApiKeyValue" in error_of(excinfo)[1]
    events.update_connection(Name="switch", AuthorizationType="API_KEY", AuthParameters=API_KEY)
    described = events.describe_connection(Name="switch")
    assert described["AuthorizationType"] == "API_KEY"
    assert described["AuthParameters"] == {"ApiKeyAuthParameters": {"ApiKeyName": "x-api-key"}}


def test_deauthorize_removes_the_credentials_until_an_update(events):
    events.create_connection(Name="deauth", AuthorizationType="BASIC", AuthParameters=BASIC)
    answered = events.deauthorize_connection(Name="deauth")
    assert answered["ConnectionState"] == "DEAUTHORIZING"
    described = events.describe_connection(Name="deauth")
    assert described["ConnectionState"] == "DEAUTHORIZED"
    assert "SecretArn" not in described and "AuthParameters" not in described
    with pytest.raises(ClientError) as excinfo:  # nothing left to merge a partial update into
        events.update_connection(Name="deauth", AuthParameters={"BasicAuthParameters": {"Username": "ada"}})
    assert error_of(excinfo)[0] == "ValidationException"
    assert events.update_connection(Name="deauth", AuthParameters=BASIC)["ConnectionState"] == "AUTHORIZED"
    described = events.describe_connection(Name="deauth")
    assert described["ConnectionState"] == "AUTHORIZED" and "SecretArn" in described


def test_delete_answers_deleting_then_the_connection_is_gone(events):
    created = events.create_connection(Name="gone", AuthorizationType="BASIC", AuthParameters=BASIC)
    deleted = events.delete_connection(Name="gone")
    assert deleted["ConnectionArn"] == created["ConnectionArn"]
    assert deleted["ConnectionState"] == "DELETING"
    assert "LastAuthorizedTime" in deleted
    with pytest.raises(ClientError) as excinfo:
        events.describe_connection(Name="gone")
    assert error_of(excinfo) == (
        "ResourceNotFoundException",
        "Failed to describe the connection(s). Connection 'gone' does not exist.",
        400,
    )


def test_a_connection_in_use_by_an_api_destination_cannot_be_deleted(events):
    arn = events.create_connection(Name="used", AuthorizationType="BASIC", AuthParameters=BASIC)[
        "ConnectionArn"
    ]
    events.create_api_destination(
        Name="user", ConnectionArn=arn, InvocationEndpoint="https://example.com/hook", HttpMethod="POST"
    )
    with pytest.raises(ClientError) as excinfo:
        events.delete_connection(Name="used")
    code, message, _ = error_of(excinfo)
    assert code == "ValidationException" and "user" in message
    events.delete_api_destination(Name="user")
    events.delete_connection(Name="used")


@pytest.mark.parametrize(
    "call",
    ["describe_connection", "delete_connection", "deauthorize_connection", "update_connection"],
)
def test_missing_connections_are_not_found(events, call):
    with pytest.raises(ClientError) as excinfo:
        getattr(events, call)(Name="nothing")
    assert error_of(excinfo)[:2] == (
        "ResourceNotFoundException",
        "Failed to describe the connection(s). Connection 'nothing' does not exist.",
    )


def test_creating_twice_is_refused(events):
    events.create_connection(Name="twice", AuthorizationType="BASIC", AuthParameters=BASIC)
    with pytest.raises(ClientError) as excinfo:
        events.create_connection(Name="twice", AuthorizationType="API_KEY", AuthParameters=API_KEY)
    assert error_of(excinfo)[0] == "ResourceAlreadyExistsException"


@pytest.mark.parametrize(
    ("auth_type", "auth", "fragment"),
    [
        ("BASIC", API_KEY, "ApiKeyAuthParameters cannot be specified for the authorization type BASIC"),
        ("BASIC", {**BASIC, **API_KEY}, "ApiKeyAuthParameters cannot be specified"),
        ("API_KEY", {"InvocationHttpParameters": INVOCATION}, "ApiKeyAuthParameters must be specified"),
        ("OAUTH_CLIENT_CREDENTIALS", BASIC, "BasicAuthParameters cannot be specified"),
        ("OAUTH_CLIENT_CREDENTIALS", oauth("http://example.com/token"), "https://"),
        ("OAUTH_CLIENT_CREDENTIALS", oauth("ftp://example.com/token"), "https://"),
    ],
)
def test_auth_parameters_must_match_the_authorization_type(events, auth_type, auth, fragment):
    with pytest.raises(ClientError) as excinfo:
        events.create_connection(Name="bad", AuthorizationType=auth_type, AuthParameters=auth)
    code, message, status = error_of(excinfo)
    assert (code, status) == ("ValidationException", 400)
    assert fragment in message


def test_the_model_constraints_are_enforced(events):
    with pytest.raises(ClientError) as excinfo:
        events.create_connection(Name="Invalid Name!", AuthorizationType="BASIC", AuthParameters=BASIC)
    assert error_of(excinfo)[1] == (
        "1 validation error detected: Value 'Invalid Name!' at 'name' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: [\\.\\-_A-Za-z0-9]+"
    )
    with pytest.raises(ClientError) as excinfo:
        events.create_connection(Name="ok", AuthorizationType="DIGEST", AuthParameters=BASIC)
    assert error_of(excinfo)[1] == (
        "1 validation error detected: Value 'DIGEST' at 'authorizationType' failed to satisfy constraint: "
        "Member must satisfy enum value set: [BASIC, OAUTH_CLIENT_CREDENTIALS, API_KEY]"
    )


def test_list_filters_by_prefix_and_state_and_pages(events):
    for name in ("page-a", "page-b", "page-c", "other"):
        events.create_connection(Name=name, AuthorizationType="BASIC", AuthParameters=BASIC)
    events.deauthorize_connection(Name="page-b")
    listed = events.list_connections(NamePrefix="page-")["Connections"]
    assert [c["Name"] for c in listed] == ["page-a", "page-b", "page-c"]
    assert set(listed[0]) == {
        "ConnectionArn", "Name", "ConnectionState", "AuthorizationType", "CreationTime", "LastModifiedTime",
        "LastAuthorizedTime",
    }  # fmt: skip
    deauthorized = events.list_connections(ConnectionState="DEAUTHORIZED")["Connections"]
    assert [c["Name"] for c in deauthorized] == ["page-b"]
    assert deauthorized[0]["StateReason"]
    first = events.list_connections(NamePrefix="page-", Limit=2)
    assert [c["Name"] for c in first["Connections"]] == ["page-a", "page-b"]
    second = events.list_connections(NamePrefix="page-", Limit=2, NextToken=first["NextToken"])
    assert [c["Name"] for c in second["Connections"]] == ["page-c"]
    assert "NextToken" not in second
    with pytest.raises(ClientError) as excinfo:
        events.list_connections(NextToken="forged-token")
    assert error_of(excinfo)[0] == "InvalidToken"


def test_connections_belong_to_their_account_and_region(events, client_for):
    events.create_connection(Name="mine", AuthorizationType="BASIC", AuthParameters=BASIC)
    for other in (client_for(), client_for(region="eu-west-1")):
        assert other.list_connections()["Connections"] == []
        with pytest.raises(ClientError) as excinfo:
            other.describe_connection(Name="mine")
        assert error_of(excinfo)[0] == "ResourceNotFoundException"
