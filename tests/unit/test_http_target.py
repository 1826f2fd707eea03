"""The API destination adapter against a real HTTP receiver on 127.0.0.1: auth, AWS's headers, parameters,
OAuth tokens, retry classification, Retry-After, the timeout and the invocation rate limit."""

from __future__ import annotations

import asyncio
import base64
import email.utils
import itertools
import time

import pytest

from eventyard.delivery.targets import Delayed, DeliveryError, adapter_for, load_all
from eventyard.delivery.targets import http as http_target
from tests.fixtures_aws import Receiver, Reply
from tests.unit.target_world import World, invocation, world

BASIC = {"BasicAuthParameters": {"Username": "ada", "Password": "s3cret"}}


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


async def basic_destination(w: World, endpoint: str, method: str = "POST", **auth: object) -> str:
    created = await w.connection("conn", "BASIC", {**BASIC, **auth})
    return await w.destination("dest", created["ConnectionArn"], endpoint, method)


def test_adapters_are_chosen_by_arn() -> None:
    load_all()
    api = adapter_for("arn:aws:events:us-east-1:123456789012:api-destination/dest/0b7e")
    assert api is http_target.invoke_api_destination
    from eventyard.delivery.targets import sqs, unsupported

    assert adapter_for("arn:aws:sqs:us-east-1:123456789012:orders") is sqs.send_to_queue
    assert adapter_for("arn:aws:lambda:us-east-1:123456789012:function:f") is unsupported.unsupported_target
    assert (
        adapter_for("arn:aws:states:us-east-1:123456789012:stateMachine:m") is unsupported.unsupported_target
    )
    # any partition, as long as it is the Region's
    assert adapter_for("arn:aws-cn:sqs:cn-north-1:123456789012:orders") is sqs.send_to_queue
    assert adapter_for("arn:aws-us-gov:events:us-gov-west-1:123456789012:event-bus/b") is not None
    assert adapter_for("arn:aws:sqs:cn-north-1:123456789012:orders") is None


def test_unsupported_targets_fail_without_retries() -> None:
    from eventyard.delivery.targets.unsupported import unsupported_target

    async def scenario() -> None:
        async with world() as w:
            with pytest.raises(DeliveryError) as caught:
                await unsupported_target(
                    w.runtime, invocation("arn:aws:lambda:us-east-1:123456789012:function:f")
                )
            assert not caught.value.retriable
            assert "'lambda'" in caught.value.message

    asyncio.run(scenario())


def test_basic_auth_and_the_headers_aws_sends(receiver: Receiver) -> None:
    async def scenario() -> None:
        async with world() as w:
            arn = await basic_destination(w, f"{receiver.url}/hook")
            await http_target.invoke_api_destination(w.runtime, invocation(arn, '{"id": 1}'))

    asyncio.run(scenario())
    (request,) = receiver.at("/hook")
    assert request.method == "POST"
    assert request.body == b'{"id": 1}'
    headers = request.headers
    assert headers["authorization"] == basic("ada", "s3cret")
    assert headers["user-agent"] == "Amazon/EventBridge/ApiDestinations"
    assert headers["content-type"] == "application/json; charset=utf-8"
    assert headers["range"] == "bytes=0-1048575"
    assert headers["accept-encoding"] == "gzip,deflate"
    assert headers["connection"] == "close"
    assert headers["content-length"] == "9"
    assert headers["host"] == receiver.url.removeprefix("http://")
    # AWS's list and the connection's authorization, once each, and nothing else (no httpx "Accept: */*")
    sent = sorted(name.lower() for name, _ in request.header_lines)
    aws = ["user-agent", "content-type", "range", "accept-encoding", "connection", "content-length", "host"]
    assert sent == sorted([*aws, "authorization"])


def test_api_key_goes_in_its_header(receiver: Receiver) -> None:
    async def scenario() -> None:
        async with world() as w:
            created = await w.connection(
                "keyed",
                "API_KEY",
                {"ApiKeyAuthParameters": {"ApiKeyName": "x-api-key", "ApiKeyValue": "k-123"}},
            )
            arn = await w.destination("dest", created["ConnectionArn"], f"{receiver.url}/hook")
            await http_target.invoke_api_destination(w.runtime, invocation(arn))

    asyncio.run(scenario())
    (request,) = receiver.at("/hook")
    assert request.headers["x-api-key"] == "k-123"
    assert "authorization" not in request.headers


def test_path_query_header_and_body_parameters_with_connection_values_winning(receiver: Receiver) -> None:
    connection_parameters = {
        "HeaderParameters": [
            {"Key": "x-both", "Value": "from-connection", "IsValueSecret": False},
            {"Key": "x-secret", "Value": "hidden", "IsValueSecret": True},
        ],
        "QueryStringParameters": [{"Key": "both", "Value": "from-connection", "IsValueSecret": False}],
        "BodyParameters": [{"Key": "tenant", "Value": "acme", "IsValueSecret": True}],
    }

    async def scenario() -> None:
        async with world() as w:
            arn = await basic_destination(
                w, f"{receiver.url}/orders/*/items/*?fixed=1", InvocationHttpParameters=connection_parameters
            )
            target_parameters = {
                "PathParameterValues": ["o 1", "7"],
                "HeaderParameters": {"x-both": "from-target", "x-target": "t", "Content-Type": "text/plain"},
                "QueryStringParameters": {"both": "from-target", "q": "v w"},
            }
            await http_target.invoke_api_destination(
                w.runtime, invocation(arn, '{"id": 1}', HttpParameters=target_parameters)
            )

    asyncio.run(scenario())
    (request,) = receiver.wait_for("/orders/o%201/items/7", 1)
    assert dict(request.query) == {"fixed": "1", "both": "from-connection", "q": "v w"}
    assert request.headers["x-both"] == "from-connection"
    assert request.headers["x-target"] == "t"
    assert request.headers["x-secret"] == "hidden"
    assert request.headers["content-type"] == "text/plain"  # a target header may replace AWS's default
    assert request.headers["authorization"] == basic("ada", "s3cret")
    assert request.json() == {"id": 1, "tenant": "acme"}


def test_body_parameters_join_an_event_nested_as_deep_as_put_events_allows(receiver: Receiver) -> None:
    chain = '{"a":' * 999 + "1" + "}" * 999  # a Detail 1,000 levels deep
    event = '{"id":"1","detail":' + chain + "}"

    async def scenario() -> None:
        async with world() as w:
            created = await w.connection(
                "with-body",
                "API_KEY",
                {
                    "ApiKeyAuthParameters": {"ApiKeyName": "x-api-key", "ApiKeyValue": "k"},
                    "InvocationHttpParameters": {"BodyParameters": [{"Key": "tenant", "Value": "acme"}]},
                },
            )
            arn = await w.destination("dest", created["ConnectionArn"], f"{receiver.url}/deep")
            await http_target.invoke_api_destination(w.runtime, invocation(arn, event))

    asyncio.run(scenario())
    (request,) = receiver.wait_for("/deep", 1)
    assert request.body.decode() == event[:-1] + ',"tenant":"acme"}'


@pytest.mark.parametrize(
    ("auth_type", "auth", "header", "value"),
    [
        ("BASIC", BASIC, "Authorization", basic("ada", "s3cret")),
        (
            "API_KEY",
            {"ApiKeyAuthParameters": {"ApiKeyName": "x-api-key", "ApiKeyValue": "k-1"}},
            "X-Api-Key",
            "k-1",
        ),
        ("OAUTH_CLIENT_CREDENTIALS", None, "Authorization", "Bearer tok-1"),
    ],
)
def test_the_connections_authorization_replaces_a_target_header_of_the_same_name(
    receiver: Receiver, auth_type: str, auth: dict[str, object] | None, header: str, value: str
) -> None:
    """Header names are case-insensitive: the target's `authorization` (or `X-API-KEY`) is replaced by the
    connection's, which takes precedence, instead of both being sent."""
    receiver.default("/token", Reply(200, {"access_token": "tok-1"}))

    async def scenario() -> None:
        async with world() as w:
            created = await w.connection("conn", auth_type, auth or oauth_parameters(receiver))
            await w.settled("conn")
            arn = await w.destination("dest", created["ConnectionArn"], f"{receiver.url}/hook")
            target_headers = {header.lower(): "from-target", header.upper(): "FROM-TARGET"}
            await http_target.invoke_api_destination(
                w.runtime, invocation(arn, HttpParameters={"HeaderParameters": target_headers})
            )

    asyncio.run(scenario())
    (request,) = receiver.at("/hook")
    assert request.header_values(header) == [value]


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_get_and_head_carry_no_body(receiver: Receiver, method: str) -> None:
    async def scenario() -> None:
        async with world() as w:
            arn = await basic_destination(w, f"{receiver.url}/hook", method)
            await http_target.invoke_api_destination(w.runtime, invocation(arn))

    asyncio.run(scenario())
    (request,) = receiver.at("/hook")
    assert request.method == method
    assert request.body == b""


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE", "OPTIONS"])
def test_other_methods_carry_the_payload(receiver: Receiver, method: str) -> None:
    async def scenario() -> None:
        async with world() as w:
            arn = await basic_destination(w, f"{receiver.url}/hook", method)
            await http_target.invoke_api_destination(w.runtime, invocation(arn, '"text"'))

    asyncio.run(scenario())
    (request,) = receiver.at("/hook")
    assert (request.method, request.body) == (method, b'"text"')


def oauth_parameters(receiver: Receiver, method: str = "POST") -> dict[str, object]:
    return {
        "OAuthParameters": {
            "ClientParameters": {"ClientID": "client-1", "ClientSecret": "client-secret"},
            "AuthorizationEndpoint": f"{receiver.url}/token",
            "HttpMethod": method,
            "OAuthHttpParameters": {
                "HeaderParameters": [{"Key": "x-tenant", "Value": "acme", "IsValueSecret": False}],
                "QueryStringParameters": [{"Key": "realm", "Value": "events", "IsValueSecret": False}],
                "BodyParameters": [
                    {"Key": "audience", "Value": "https://api.example", "IsValueSecret": True}
                ],
            },
        }
    }


def test_oauth_token_is_fetched_once_cached_and_sent_as_bearer(receiver: Receiver) -> None:
    receiver.default(
        "/token", Reply(200, {"access_token": "tok-1", "expires_in": 3600, "token_type": "bearer"})
    )

    async def scenario() -> None:
        async with world() as w:
            created = await w.connection("oauth", "OAUTH_CLIENT_CREDENTIALS", oauth_parameters(receiver))
            assert created["ConnectionState"] == "AUTHORIZING"
            described = await w.settled("oauth")
            assert described["ConnectionState"] == "AUTHORIZED"
            assert "LastAuthorizedTime" in described
            arn = await w.destination("dest", created["ConnectionArn"], f"{receiver.url}/hook")
            for _ in range(3):
                await http_target.invoke_api_destination(w.runtime, invocation(arn))

    asyncio.run(scenario())
    (token_request,) = receiver.at("/token")
    assert token_request.method == "POST"
    assert token_request.headers["authorization"] == basic("client-1", "client-secret")
    assert token_request.headers["x-tenant"] == "acme"
    assert dict(token_request.query) == {"realm": "events"}
    assert token_request.form() == {"grant_type": "client_credentials", "audience": "https://api.example"}
    assert [r.headers["authorization"] for r in receiver.at("/hook")] == ["Bearer tok-1"] * 3


def test_oauth_with_get_sends_the_parameters_in_the_query(receiver: Receiver) -> None:
    receiver.default("/token", Reply(200, {"access_token": "tok-get"}))

    async def scenario() -> None:
        async with world() as w:
            await w.connection("oauth", "OAUTH_CLIENT_CREDENTIALS", oauth_parameters(receiver, "GET"))
            assert (await w.settled("oauth"))["ConnectionState"] == "AUTHORIZED"

    asyncio.run(scenario())
    (token_request,) = receiver.at("/token")
    assert token_request.method == "GET"
    assert dict(token_request.query) == {
        "realm": "events",
        "grant_type": "client_credentials",
        "audience": "https://api.example",
    }


@pytest.mark.parametrize("status", [401, 407])
def test_oauth_token_is_refreshed_after_401_or_407(receiver: Receiver, status: int) -> None:
    receiver.script("/token", Reply(200, {"access_token": "tok-1"}), Reply(200, {"access_token": "tok-2"}))
    receiver.script("/hook", Reply(status))

    async def scenario() -> None:
        async with world() as w:
            created = await w.connection("oauth", "OAUTH_CLIENT_CREDENTIALS", oauth_parameters(receiver))
            await w.settled("oauth")
            arn = await w.destination("dest", created["ConnectionArn"], f"{receiver.url}/hook")
            with pytest.raises(DeliveryError) as caught:
                await http_target.invoke_api_destination(w.runtime, invocation(arn))
            assert caught.value.retriable  # the retry uses a fresh token
            await http_target.invoke_api_destination(w.runtime, invocation(arn))

    asyncio.run(scenario())
    assert len(receiver.at("/token")) == 2
    assert [r.headers["authorization"] for r in receiver.at("/hook")] == ["Bearer tok-1", "Bearer tok-2"]


def test_a_token_about_to_expire_is_fetched_again(receiver: Receiver) -> None:
    receiver.default("/token", Reply(200, {"access_token": "short", "expires_in": 5}))  # inside the margin

    async def scenario() -> None:
        async with world() as w:
            created = await w.connection("oauth", "OAUTH_CLIENT_CREDENTIALS", oauth_parameters(receiver))
            await w.settled("oauth")
            arn = await w.destination("dest", created["ConnectionArn"], f"{receiver.url}/hook")
            await http_target.invoke_api_destination(w.runtime, invocation(arn))
            await http_target.invoke_api_destination(w.runtime, invocation(arn))

    asyncio.run(scenario())
    assert len(receiver.at("/token")) == 3  # authorization, then one per invocation


def test_refused_client_credentials_deauthorize_the_connection(receiver: Receiver) -> None:
    receiver.default("/token", Reply(400, {"error": "invalid_client"}))

    async def scenario() -> None:
        async with world() as w:
            created = await w.connection("oauth", "OAUTH_CLIENT_CREDENTIALS", oauth_parameters(receiver))
            described = await w.settled("oauth")
            assert described["ConnectionState"] == "DEAUTHORIZED"
            assert "400" in described["StateReason"] and "invalid_client" in described["StateReason"]
            arn = await w.destination("dest", created["ConnectionArn"], f"{receiver.url}/hook")
            with pytest.raises(DeliveryError) as caught:
                await http_target.invoke_api_destination(w.runtime, invocation(arn))
            assert (caught.value.code, caught.value.retriable) == ("NO_PERMISSIONS", False)

    asyncio.run(scenario())
    assert receiver.at("/hook") == []


async def answer(w: World, receiver: Receiver, reply: Reply) -> DeliveryError | None:
    receiver.script("/hook", reply)
    arn = await basic_destination(w, f"{receiver.url}/hook")
    try:
        await http_target.invoke_api_destination(w.runtime, invocation(arn))
    except DeliveryError as error:
        return error
    return None


@pytest.mark.parametrize(
    ("status", "code", "retriable"),
    [
        (429, "THROTTLING", True),
        (500, "SDK_CLIENT_ERROR", True),
        (502, "SDK_CLIENT_ERROR", True),
        (503, "SDK_CLIENT_ERROR", True),
        (400, "SDK_CLIENT_ERROR", False),
        (401, "SDK_CLIENT_ERROR", False),
        (403, "SDK_CLIENT_ERROR", False),
        (404, "SDK_CLIENT_ERROR", False),
        (302, "SDK_CLIENT_ERROR", False),
    ],
)
def test_failures_are_retried_on_429_and_5xx_only(
    receiver: Receiver, status: int, code: str, retriable: bool
) -> None:
    async def scenario() -> None:
        async with world() as w:
            error = await answer(w, receiver, Reply(status, b"nope", {"Location": "/elsewhere"}))
            assert error is not None
            assert (error.code, error.retriable) == (code, retriable)
            assert str(status) in error.message and "nope" in error.message

    asyncio.run(scenario())
    assert len(receiver.at("/hook")) == 1  # no redirect followed, no retry inside one attempt


@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_2xx_is_success(receiver: Receiver, status: int) -> None:
    async def scenario() -> None:
        async with world() as w:
            assert await answer(w, receiver, Reply(status)) is None

    asyncio.run(scenario())


def test_retry_after_in_seconds_is_honoured(receiver: Receiver) -> None:
    async def scenario() -> None:
        async with world() as w:
            error = await answer(w, receiver, Reply(429, headers={"Retry-After": "7"}))
            assert error is not None and error.retriable and error.retry_after == 7.0

    asyncio.run(scenario())


def test_retry_after_as_a_date_is_honoured(receiver: Receiver) -> None:
    when = email.utils.formatdate(time.time() + 120, usegmt=True)

    async def scenario() -> None:
        async with world() as w:
            error = await answer(w, receiver, Reply(503, headers={"Retry-After": when}))
            assert error is not None and error.retriable
            assert error.retry_after is not None and 110 < error.retry_after <= 121

    asyncio.run(scenario())


def test_a_negative_retry_after_stops_the_retries(receiver: Receiver) -> None:
    async def scenario() -> None:
        async with world() as w:
            error = await answer(w, receiver, Reply(503, headers={"Retry-After": "-1"}))
            assert error is not None and not error.retriable

    asyncio.run(scenario())


def test_a_slow_endpoint_times_out_and_is_retried(receiver: Receiver) -> None:
    async def scenario() -> None:
        async with world(api_destination_timeout=0.3) as w:
            started = time.monotonic()
            error = await answer(w, receiver, Reply(200, delay=1.5))
            elapsed = time.monotonic() - started
            assert error is not None
            assert (error.code, error.retriable) == ("TIMEOUT", True)
            assert elapsed < 1.2

    asyncio.run(scenario())


def test_the_default_timeout_is_five_seconds() -> None:
    async def scenario() -> None:
        async with world() as w:
            assert http_target._timeout(w.runtime).read == 5.0

    asyncio.run(scenario())


def test_an_unreachable_endpoint_is_retried() -> None:
    from tests.support import free_port

    async def scenario() -> None:
        async with world() as w:
            arn = await basic_destination(w, f"http://127.0.0.1:{free_port()}/hook")
            with pytest.raises(DeliveryError) as caught:
                await http_target.invoke_api_destination(w.runtime, invocation(arn))
            assert (caught.value.code, caught.value.retriable) == ("CONNECTION_FAILURE", True)

    asyncio.run(scenario())


def test_missing_destination_and_deauthorized_connection_are_not_retried(receiver: Receiver) -> None:
    from eventyard.operations import connections

    async def scenario() -> None:
        async with world() as w:
            with pytest.raises(DeliveryError) as caught:
                await http_target.invoke_api_destination(
                    w.runtime, invocation("arn:aws:events:us-east-1:123456789012:api-destination/nope/1234")
                )
            assert (caught.value.code, caught.value.retriable) == ("NO_RESOURCE", False)
            arn = await basic_destination(w, f"{receiver.url}/hook")
            await connections.deauthorize_connection(w.ctx, {"Name": "conn"})
            with pytest.raises(DeliveryError) as caught:
                await http_target.invoke_api_destination(w.runtime, invocation(arn))
            assert (caught.value.code, caught.value.retriable) == ("NO_PERMISSIONS", False)
            assert "DEAUTHORIZED" in caught.value.message

    asyncio.run(scenario())
    assert receiver.at("/hook") == []


async def deliver_like_the_engine(w: World, arn: str) -> None:
    """Invoke until done, waiting out Delayed as the engine does (without counting an attempt)."""
    while True:
        try:
            await http_target.invoke_api_destination(w.runtime, invocation(arn))
            return
        except Delayed as delayed:
            assert delayed.retry_after is not None and delayed.retry_after > 0
            await asyncio.sleep(delayed.retry_after)


def test_the_invocation_rate_limit_is_enforced(receiver: Receiver) -> None:
    rate, count = 5, 8

    async def scenario() -> None:
        async with world() as w:
            created = await w.connection("conn", "BASIC", BASIC)
            arn = await w.destination("dest", created["ConnectionArn"], f"{receiver.url}/hook", rate=rate)
            await asyncio.gather(*(deliver_like_the_engine(w, arn) for _ in range(count)))

    asyncio.run(scenario())
    times = sorted(request.at for request in receiver.wait_for("/hook", count))
    assert len(times) == count  # delayed, none dropped
    assert times[-1] - times[0] >= (count - 1) / rate - 0.05
    for first, second in itertools.pairwise(times):
        assert second - first >= 1 / rate - 0.1  # slots are 0.2 s apart; arrival adds some jitter
    for start in times:  # a window of one second holds `rate` slots, plus one at its closing edge
        assert sum(1 for t in times if start <= t < start + 1.0) <= rate + 1


def test_a_long_wait_is_handed_back_to_the_engine(receiver: Receiver) -> None:
    async def scenario() -> None:
        async with world() as w:
            created = await w.connection("conn", "BASIC", BASIC)
            arn = await w.destination("dest", created["ConnectionArn"], f"{receiver.url}/hook", rate=1)
            await http_target.invoke_api_destination(w.runtime, invocation(arn))
            with pytest.raises(Delayed) as caught:
                await http_target.invoke_api_destination(w.runtime, invocation(arn))
            assert caught.value.code == "THROTTLING" and caught.value.retriable
            assert caught.value.retry_after is not None and 0.5 < caught.value.retry_after <= 1.0

    asyncio.run(scenario())
    assert len(receiver.at("/hook")) == 1


def test_a_high_rate_does_not_slow_invocations(receiver: Receiver) -> None:
    async def scenario() -> None:
        async with world() as w:
            created = await w.connection("conn", "BASIC", BASIC)
            arn = await w.destination("dest", created["ConnectionArn"], f"{receiver.url}/hook", rate=300)
            # 30 invocations at 300/s need 0.1 s of tokens: each waits in place, none is put back as Delayed
            # (which would raise here). No wall-clock assertion: the house has no timed tests.
            await asyncio.gather(
                *(http_target.invoke_api_destination(w.runtime, invocation(arn)) for _ in range(30))
            )

    asyncio.run(scenario())
    assert len(receiver.at("/hook")) == 30


def test_fill_path() -> None:
    fill = http_target.fill_path
    assert fill("https://h/a/*/b/*", ["1", "2"]) == "https://h/a/1/b/2"
    assert fill("https://h/a/*?x=*", ["v"]) == "https://h/a/v?x=*"
    assert fill("https://h/a/*/*", ["only"]) == "https://h/a/only/*"
    assert fill("https://h/a/*", ["sp ace"]) == "https://h/a/sp%20ace"
