"""API destination targets: one HTTP request per invocation, with the connection's authorization, AWS's
headers, the 5-second timeout, AWS's retry classification and the destination's invocation rate limit, which
holds for all the nodes together (a token bucket in the store that every node takes from).

Also the OAuth client-credentials flow of connections: tokens fetched from the authorization endpoint,
cached per connection, refreshed before they expire and after a 401 or 407 from the endpoint.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import logging
import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx
import orjson

from eventyard.core.envelope import event_json
from eventyard.delivery.targets import Delayed, DeliveryError, Invocation, adapter
from eventyard.operations.api_destinations import DEFAULT_RATE_LIMIT, api_destination_by_arn
from eventyard.operations.connections import (
    API_KEY,
    BASIC,
    CONNECTION,
    OAUTH,
    USABLE_STATES,
    connection_by_arn,
    parse_connection_arn,
)
from eventyard.store.base import StoreUnavailable, again_on_contention

if TYPE_CHECKING:
    from eventyard.runtime import Runtime

log = logging.getLogger("eventyard.delivery.http")

# The headers EventBridge adds to every request (User Guide, "Headers in requests to API destinations").
AWS_HEADERS = {
    "User-Agent": "Amazon/EventBridge/ApiDestinations",
    "Content-Type": "application/json; charset=utf-8",
    "Range": "bytes=0-1048575",
    "Accept-Encoding": "gzip,deflate",
    "Connection": "close",
}
_NO_BODY = {"GET", "HEAD"}
_OAUTH_REFRESH = {401, 407}
# A rate-limited invocation waits in place this long at most; a longer wait is handed back to the engine.
MAX_INLINE_WAIT = 0.5
# The rate limit's burst, a tenth of a second's worth, is split between the bucket that every node shares (it
# holds BUCKET_SECONDS' worth of tokens) and the tokens a node took from it in a batch, each of which it uses
# within TOKEN_HOLD seconds of its grant or drops: in any W seconds all the nodes together invoke a destination
# at most rate x (W + BUCKET_SECONDS + TOKEN_HOLD) + 1 times.
BUCKET_SECONDS = 0.05
TOKEN_HOLD = 0.05
# A node that found the bucket empty waits until it holds this many seconds' worth before it asks again: a
# destination at its limit costs a node a take every GRANT_WAIT seconds, not one per invocation.
GRANT_WAIT = 0.01
# How long a looked-up destination and connection are reused before they are read again.
LOOKUP_TTL = 1.0
# A token is refreshed this long before the expiry its endpoint announced.
TOKEN_MARGIN = 10.0
_EXTENSION = "http_targets"


@dataclass
class _Token:
    value: str
    version: int
    expires_at: float | None  # monotonic time


@dataclass
class _Grant:
    """Tokens the store granted at once: each good for one invocation until `until` (monotonic time)."""

    left: int
    until: float


@dataclass
class _Allowance:
    """This node's part of an API destination's rate limit: the grants of tokens it took from the bucket
    that every node shares, oldest first (two when the next was taken before the last ran out)."""

    grants: deque[_Grant] = field(default_factory=deque)
    # How many to ask the store for: doubled when a grant ran out in time, halved when tokens were dropped.
    batch: int = 1
    waiting: int = 0  # invocations on this node waiting for a token
    taking: asyncio.Task[float | None] | None = None  # the take from the store under way: one at a time

    def use(self, now: float) -> bool:
        """Use a token that is still good, if there is one, from the oldest grant; spent and expired
        grants go, and tell how many to ask for next time."""
        while self.grants:
            grant = self.grants[0]
            if grant.left and now < grant.until:
                grant.left -= 1
                return True
            self.grants.popleft()
            if grant.left:
                self.batch = max(1, self.batch // 2)
            elif now < grant.until:
                self.batch *= 2
        return False

    def running_low(self) -> bool:
        """Whether to take the next grant now: the batch is worth taking ahead and half of it is used."""
        held = sum(grant.left for grant in self.grants)
        return self.batch > 1 and held <= self.batch // 2 and self.taking is None


@dataclass
class _State:
    """What the HTTP targets of one runtime share: one client, tokens, limiters, authorizations."""

    client: httpx.AsyncClient
    tokens: dict[str, _Token] = field(default_factory=dict)
    token_locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    allowances: dict[str, _Allowance] = field(default_factory=dict)
    authorizations: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    lookups: dict[str, tuple[float, dict[str, Any], dict[str, Any] | None]] = field(default_factory=dict)


class _HttpService:
    """Closes the shared client and stops authorizations and takes of tokens when the server stops."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        state: _State | None = self.runtime.extensions.pop(_EXTENSION, None)
        if state is None:
            return
        tasks = list(state.authorizations.values())
        tasks += [allowance.taking for allowance in state.allowances.values() if allowance.taking is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await state.client.aclose()


def _state(runtime: Runtime) -> _State:
    state: _State | None = runtime.extensions.get(_EXTENSION)
    if state is None:
        client = httpx.AsyncClient(
            follow_redirects=False,  # a 3xx is an answer, not retried (AWS)
            limits=httpx.Limits(max_connections=512, max_keepalive_connections=64),
        )
        del client.headers["Accept"]  # httpx's default "*/*": not among the headers AWS sends
        state = runtime.extensions[_EXTENSION] = _State(client=client)
        runtime.services.append(_HttpService(runtime))
    return state


def _timeout(runtime: Runtime) -> httpx.Timeout:
    return httpx.Timeout(runtime.config.api_destination_timeout)


# ---- connections: authorization and tokens -------------------------------------------------------------


def authorization_running(runtime: Runtime, connection_arn: str) -> bool:
    state: _State | None = runtime.extensions.get(_EXTENSION)
    task = state.authorizations.get(connection_arn) if state else None
    return task is not None and not task.done()


def start_authorization(runtime: Runtime, account: str, region: str, name: str, connection_arn: str) -> None:
    """Exchange an OAuth connection's client credentials for a token in the background: the connection
    goes from AUTHORIZING to AUTHORIZED, or to DEAUTHORIZED with the reason in StateReason."""
    state = _state(runtime)
    forget_connection(runtime, connection_arn)
    task = asyncio.get_running_loop().create_task(_authorize(runtime, connection_arn))
    state.authorizations[connection_arn] = task
    task.add_done_callback(lambda done: _drop_task(state, connection_arn, done))


def _drop_task(state: _State, arn: str, task: asyncio.Task[None]) -> None:
    if state.authorizations.get(arn) is task:
        del state.authorizations[arn]


def forget_connection(runtime: Runtime, connection_arn: str) -> None:
    """Drop what is cached for a connection (its token, looked-up destinations) after it changed."""
    state: _State | None = runtime.extensions.get(_EXTENSION)
    if state is None:
        return
    state.tokens.pop(connection_arn, None)
    state.lookups.clear()


def forget_api_destination(runtime: Runtime, api_destination_arn: str) -> None:
    state: _State | None = runtime.extensions.get(_EXTENSION)
    if state is not None:
        state.lookups.pop(api_destination_arn, None)
        state.allowances.pop(api_destination_arn, None)


async def _authorize(runtime: Runtime, arn: str) -> None:
    async with runtime.store.transaction() as tx:
        connection = await connection_by_arn(tx, arn)
    if connection is None or connection["ConnectionState"] != "AUTHORIZING":
        return
    try:
        await oauth_token(runtime, connection, refresh=True)
    except DeliveryError as error:
        await _set_state(runtime, connection, "DEAUTHORIZED", error.message)
        return
    except Exception as error:  # never let a background task die silently
        log.exception("authorizing connection %s failed", arn)
        await _set_state(runtime, connection, "DEAUTHORIZED", f"Authorization failed: {error}")
        return
    await _set_state(runtime, connection, "AUTHORIZED", None)


async def _set_state(runtime: Runtime, connection: dict[str, Any], state: str, reason: str | None) -> None:
    """Record a connection's new state unless it was changed (new credentials) meanwhile."""
    parsed = parse_connection_arn(connection["ConnectionArn"])
    if parsed is None:
        return
    account, region, name = parsed

    async def record() -> None:
        async with runtime.store.transaction() as tx:
            current = await tx.get(CONNECTION, account, region, name)
            if (
                current is None
                or current["ConnectionArn"] != connection["ConnectionArn"]
                or current.get("SecretVersion") != connection.get("SecretVersion")
            ):
                return
            current["ConnectionState"] = state
            if reason:
                current["StateReason"] = reason[:512]
            else:
                current.pop("StateReason", None)
            if state == "AUTHORIZED":
                current["LastAuthorizedTime"] = runtime.clock.time()
            await tx.put(CONNECTION, account, region, name, current)

    await again_on_contention(record)  # another node or request may write the connection meanwhile
    state_ = runtime.extensions.get(_EXTENSION)
    if state_ is not None:
        state_.lookups.clear()  # the destinations see the new state; the token, if any, stays valid


def _basic(user: str, password: str) -> str:
    """An HTTP Basic Authorization header value."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _pairs(parameters: dict[str, Any] | None, kind: str) -> list[tuple[str, str]]:
    """(key, value) of each parameter; the model lets an item leave out its Key, and such an item names
    nothing to send."""
    items = (parameters or {}).get(kind) or []
    return [(item["Key"], item.get("Value") or "") for item in items if item.get("Key")]


async def oauth_token(runtime: Runtime, connection: dict[str, Any], refresh: bool = False) -> str:
    """The connection's access token: cached, fetched again when near its expiry or when `refresh`."""
    state = _state(runtime)
    arn = connection["ConnectionArn"]
    version = connection.get("SecretVersion", 0)
    lock = state.token_locks.setdefault(arn, asyncio.Lock())
    stale = state.tokens.get(arn) if refresh else None
    async with lock:
        token = state.tokens.get(arn)
        fresh = (
            token is not None
            and token.version == version
            and token is not stale  # another invocation may already have refreshed it
            and (token.expires_at is None or token.expires_at - TOKEN_MARGIN > time.monotonic())
        )
        if token is not None and fresh:
            return token.value
        token = await _fetch_token(runtime, connection)
        state.tokens[arn] = token
        return token.value


async def _fetch_token(runtime: Runtime, connection: dict[str, Any]) -> _Token:
    oauth = (connection.get("Secret") or {}).get("OAuthParameters") or {}
    client_parameters = oauth.get("ClientParameters") or {}
    http_parameters = oauth.get("OAuthHttpParameters") or {}
    method = oauth.get("HttpMethod", "POST")
    endpoint = oauth.get("AuthorizationEndpoint", "")
    headers = {
        "Authorization": _basic(
            client_parameters.get("ClientID", ""), client_parameters.get("ClientSecret", "")
        )
    }
    headers.update(dict(_pairs(http_parameters, "HeaderParameters")))
    query = _pairs(http_parameters, "QueryStringParameters")
    body = _pairs(http_parameters, "BodyParameters")
    if not any(key == "grant_type" for key, _ in body):
        body.insert(0, ("grant_type", "client_credentials"))
    request: dict[str, Any] = {"headers": headers, "timeout": _timeout(runtime)}
    if method in _NO_BODY:
        query += body
    else:
        request["data"] = dict(body)
    if query:
        request["params"] = query
    name = connection["Name"]
    try:
        response = await _state(runtime).client.request(method, endpoint, **request)
    except httpx.TimeoutException:
        raise DeliveryError(
            "TIMEOUT",
            f"The authorization endpoint of connection {name} did not answer in time.",
            retriable=True,
        ) from None
    except httpx.HTTPError as error:
        raise DeliveryError(
            "CONNECTION_FAILURE",
            f"The authorization endpoint of connection {name} could not be reached: {error}",
            retriable=True,
        ) from None
    if response.status_code == 429 or response.status_code >= 500:
        raise DeliveryError(
            "THROTTLING" if response.status_code == 429 else "SDK_CLIENT_ERROR",
            f"The authorization endpoint of connection {name} answered {response.status_code}.",
            retriable=True,
            retry_after=_retry_after(response),
        )
    reason = None
    token: Any = None
    if response.is_success:
        try:
            payload = response.json()
            token = payload.get("access_token") if isinstance(payload, dict) else None
        except ValueError:
            payload = None
        if not isinstance(token, str) or not token:
            reason = "The authorization endpoint answered without an access_token."
    else:
        reason = f"The authorization endpoint answered {response.status_code}: {response.text[:200]}"
    if reason is not None:
        # The credentials are refused: AWS deauthorizes the connection, and retrying cannot help.
        await _set_state(runtime, connection, "DEAUTHORIZED", reason)
        raise DeliveryError(
            "NO_PERMISSIONS", f"Connection {name} could not be authorized. {reason}", retriable=False
        )
    expires_in = payload.get("expires_in") if isinstance(payload, dict) else None
    expires_at = None
    if isinstance(expires_in, int | float) and not isinstance(expires_in, bool) and expires_in > 0:
        expires_at = time.monotonic() + float(expires_in)
    return _Token(value=token, version=connection.get("SecretVersion", 0), expires_at=expires_at)


# ---- invocation ---------------------------------------------------------------------------------------


async def _lookup(runtime: Runtime, arn: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    state = _state(runtime)
    now = time.monotonic()
    cached = state.lookups.get(arn)
    if cached is not None and cached[0] > now:
        return cached[1], cached[2]
    async with runtime.store.transaction() as tx:
        destination = await api_destination_by_arn(tx, arn)
        if destination is None:
            raise DeliveryError("NO_RESOURCE", f"The API destination {arn} does not exist.", retriable=False)
        connection = await connection_by_arn(tx, destination["ConnectionArn"])
    state.lookups[arn] = (now + LOOKUP_TTL, destination, connection)
    return destination, connection


async def _throttle(runtime: Runtime, destination: dict[str, Any]) -> None:
    """Take a token for one invocation under InvocationRateLimitPerSecond, which holds for all the nodes
    together, waiting for it up to MAX_INLINE_WAIT; raises Delayed when the wait would be longer, so that a
    busy destination does not hold a delivery worker."""
    allowances = _state(runtime).allowances
    arn = destination["ApiDestinationArn"]
    allowance = allowances.get(arn)
    if allowance is None:
        allowance = allowances[arn] = _Allowance()
    rate = int(destination.get("InvocationRateLimitPerSecond") or DEFAULT_RATE_LIMIT)
    if allowance.use(time.monotonic()):
        if allowance.running_low():  # take the next grant now, so that no invocation waits for it
            _start_take(runtime, allowance, arn, rate)
        return
    busy = f"The API destination {destination['Name']} is at its limit of {rate} invocations per second."
    deadline = time.monotonic() + MAX_INLINE_WAIT
    allowance.waiting += 1
    try:
        while True:
            take = allowance.taking or _start_take(runtime, allowance, arn, rate)
            done, _ = await asyncio.wait({take}, timeout=deadline - time.monotonic())
            if allowance.use(time.monotonic()):
                return
            if not done:
                raise Delayed(busy, retry_after=allowance.waiting / rate)
            wait = take.result()
            if wait is None:
                unavailable = "The rate limit could not be checked: the store is unavailable."
                raise Delayed(unavailable, retry_after=1.0)
            if wait > 0:  # the bucket is empty
                if time.monotonic() + wait > deadline:
                    raise Delayed(busy, retry_after=max(wait, allowance.waiting / rate))
                more = max(1, math.ceil(rate * GRANT_WAIT)) - 1  # tokens after the next one worth waiting for
                await asyncio.sleep(min(wait + more / rate, deadline - time.monotonic()))
    finally:
        allowance.waiting -= 1


def _start_take(runtime: Runtime, allowance: _Allowance, arn: str, rate: int) -> asyncio.Task[float | None]:
    allowance.taking = asyncio.get_running_loop().create_task(_take(runtime, allowance, arn, rate))
    return allowance.taking


async def _take(runtime: Runtime, allowance: _Allowance, arn: str, rate: int) -> float | None:
    """One take from the destination's bucket in the store, for the invocations waiting on this node or the
    batch, whichever is more. Returns 0 when it got tokens, else the seconds until the bucket holds one
    again, or None when the store could not be reached."""
    capacity = max(1, math.ceil(rate * BUCKET_SECONDS))
    allowance.batch = min(allowance.batch, capacity)
    want = min(capacity, max(allowance.batch, allowance.waiting))
    try:
        granted, level = await runtime.store.take_tokens(arn, want, rate, capacity, runtime.clock.time())
    except StoreUnavailable:
        return None
    finally:
        allowance.taking = None
    if granted:
        allowance.grants.append(_Grant(granted, time.monotonic() + TOKEN_HOLD))
        return 0.0
    return (1 - level) / rate


def fill_path(endpoint: str, values: list[str]) -> str:
    """Put the PathParameterValues, in order, in the place of each `*` of the endpoint's path."""
    parts = urlsplit(endpoint)
    pieces = parts.path.split("*")
    path = pieces[0]
    for index, piece in enumerate(pieces[1:]):
        path += (quote(values[index], safe="/:@!$&'()+,;=-._~") if index < len(values) else "*") + piece
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, parts.fragment))


def put_header(headers: dict[str, str], key: str, value: str) -> None:
    """Set a header, replacing one of the same name in any case (HTTP header names are case-insensitive):
    a later source wins instead of both being sent."""
    for existing in [k for k in headers if k.lower() == key.lower()]:
        del headers[existing]
    headers[key] = value


def build_request(
    destination: dict[str, Any],
    connection: dict[str, Any],
    http_parameters: dict[str, Any] | None,
    payload: str,
) -> dict[str, Any]:
    """The request for one invocation: the target's HttpParameters merged with the connection's
    InvocationHttpParameters, the connection's values winning (as AWS documents), then its auth, which
    also replaces a header of the same name from either."""
    target = http_parameters or {}
    secret: dict[str, Any] = connection.get("Secret") or {}
    invocation = secret.get("InvocationHttpParameters") or {}
    url = fill_path(destination["InvocationEndpoint"], list(target.get("PathParameterValues") or []))

    headers = dict(AWS_HEADERS)
    for source in (target.get("HeaderParameters") or {}, dict(_pairs(invocation, "HeaderParameters"))):
        for key, value in source.items():
            put_header(headers, key, value)
    auth_type = connection["AuthorizationType"]
    if auth_type == BASIC:
        basic = secret.get("BasicAuthParameters") or {}
        put_header(headers, "Authorization", _basic(basic.get("Username", ""), basic.get("Password", "")))
    elif auth_type == API_KEY:
        api_key = secret.get("ApiKeyAuthParameters") or {}
        put_header(headers, api_key.get("ApiKeyName", "x-api-key"), api_key.get("ApiKeyValue", ""))

    query = dict(target.get("QueryStringParameters") or {})
    query.update(dict(_pairs(invocation, "QueryStringParameters")))

    body = payload
    extra = dict(_pairs(invocation, "BodyParameters"))
    if extra:
        try:
            document = orjson.loads(payload)
        except orjson.JSONDecodeError:
            document = None
        if isinstance(document, dict):
            document.update(extra)
            body = event_json(document)
    method = destination["HttpMethod"]
    request: dict[str, Any] = {"method": method, "url": url, "headers": headers}
    if query:
        request["params"] = list(httpx.QueryParams(urlsplit(url).query).multi_items()) + list(query.items())
    if method not in _NO_BODY:
        request["content"] = body.encode()
    return request


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())  # only a negative number of seconds stops retrying


@adapter("events", "api-destination/")
async def invoke_api_destination(runtime: Runtime, invocation: Invocation) -> None:
    """Invoke the API destination named by the target's ARN with the shaped payload."""
    arn: str = invocation.target["Arn"]
    destination, connection = await _lookup(runtime, arn)
    if connection is None:
        raise DeliveryError(
            "NO_RESOURCE",
            f"The connection {destination['ConnectionArn']} of API destination {destination['Name']} "
            "does not exist.",
            retriable=False,
        )
    if connection["ConnectionState"] not in USABLE_STATES:
        reason = connection.get("StateReason")
        raise DeliveryError(
            "NO_PERMISSIONS",
            f"The connection {connection['Name']} of API destination {destination['Name']} is "
            f"{connection['ConnectionState']}" + (f": {reason}" if reason else "."),
            retriable=False,
        )
    await _throttle(runtime, destination)
    request = build_request(
        destination, connection, invocation.target.get("HttpParameters"), invocation.payload
    )
    oauth = connection["AuthorizationType"] == OAUTH
    if oauth:
        put_header(request["headers"], "Authorization", "Bearer " + await oauth_token(runtime, connection))
    try:
        response = await _state(runtime).client.request(**request, timeout=_timeout(runtime))
    except httpx.TimeoutException:
        raise DeliveryError(
            "TIMEOUT",
            f"The API destination endpoint did not answer within {runtime.config.api_destination_timeout:g} s.",
            retriable=True,
        ) from None
    except httpx.HTTPError as error:
        raise DeliveryError(
            "CONNECTION_FAILURE",
            f"The API destination endpoint could not be reached: {error}",
            retriable=True,
        ) from None
    except UnicodeEncodeError as error:  # a header name or value that HTTP cannot carry: no retry mends it
        raise DeliveryError(
            "CONNECTION_FAILURE",
            f"The request to the API destination could not be sent: a header has a character HTTP headers "
            f"cannot carry ({error.object[error.start : error.end]!r}).",
            retriable=False,
        ) from None
    _check_response(runtime, response, connection if oauth else None)


def _check_response(
    runtime: Runtime, response: httpx.Response, oauth_connection: dict[str, Any] | None
) -> None:
    """2xx succeeds; 429 and 5xx are retried (honouring Retry-After, a negative one stopping the retries);
    1xx, 3xx and other 4xx are not, except a 401/407 to an OAuth connection, whose token is refreshed."""
    status = response.status_code
    if 200 <= status < 300:
        return
    detail = response.text[:256] if response.content else ""
    message = f"The API destination endpoint answered HTTP {status}" + (f": {detail}" if detail else ".")
    if status in _OAUTH_REFRESH and oauth_connection is not None:
        state = _state(runtime)
        token = state.tokens.get(oauth_connection["ConnectionArn"])
        if token is not None and token.version == oauth_connection.get("SecretVersion", 0):
            state.tokens.pop(oauth_connection["ConnectionArn"], None)
        raise DeliveryError("NO_PERMISSIONS", message + " The OAuth token will be refreshed.", retriable=True)
    if status == 429 or status >= 500:
        retry_after = _retry_after(response)
        raise DeliveryError(
            "THROTTLING" if status == 429 else "SDK_CLIENT_ERROR",
            message,
            retriable=retry_after is None or retry_after >= 0,  # a negative Retry-After ends the retries
            retry_after=retry_after,
        )
    raise DeliveryError("SDK_CLIENT_ERROR", message, retriable=False)
