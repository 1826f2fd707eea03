"""Connections of API destinations: CreateConnection, DescribeConnection, ListConnections, UpdateConnection,
DeleteConnection, DeauthorizeConnection.

A connection keeps its secrets (password, API key value, client secret, secret parameter values) in the
store beside its public description, as AWS keeps them in a Secrets Manager secret; Describe and List
never return them.
"""

from __future__ import annotations

import ipaddress
import secrets
import string
from typing import Any
from urllib.parse import urlsplit

from eventyard.core import arn as arns
from eventyard.errors import AwsError, already_exists, limit_exceeded, not_found, validation
from eventyard.operations import _common as common
from eventyard.operations.registry import operation
from eventyard.runtime import Context, Runtime
from eventyard.store.base import Conflict, Doc, Tx

CONNECTION = "connection"
API_DESTINATION = "api_destination"
MAX_CONNECTIONS = 3000

BASIC, API_KEY, OAUTH = "BASIC", "API_KEY", "OAUTH_CLIENT_CREDENTIALS"
# AuthorizationType -> the member of AuthParameters that carries its credentials
AUTH_BLOCK = {BASIC: "BasicAuthParameters", API_KEY: "ApiKeyAuthParameters", OAUTH: "OAuthParameters"}
# What each block must hold once complete (the members CreateConnection requires)
_REQUIRED = {
    "BasicAuthParameters": ("Username", "Password"),
    "ApiKeyAuthParameters": ("ApiKeyName", "ApiKeyValue"),
    "OAuthParameters": ("ClientParameters", "AuthorizationEndpoint", "HttpMethod"),
}
_SECRET_MEMBERS = {"Password", "ApiKeyValue", "ClientSecret"}
# States in which the connection can be used to invoke an endpoint
USABLE_STATES = {"AUTHORIZED", "AUTHORIZING", "ACTIVE"}
_SUMMARY_FIELDS = (
    "ConnectionArn", "Name", "ConnectionState", "StateReason", "AuthorizationType", "CreationTime",
    "LastModifiedTime", "LastAuthorizedTime",
)  # fmt: skip
_TIMES = ("ConnectionArn", "ConnectionState", "CreationTime", "LastModifiedTime", "LastAuthorizedTime")


def secret_arn(region: str, account: str, name: str, uid: str) -> str:
    """As Secrets Manager names EventBridge's secret: the name plus a dash and six random characters."""
    suffix = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(6))
    resource = f"secret:events!connection/{name}/{uid}-{suffix}"
    return f"arn:{arns.partition(region)}:secretsmanager:{region}:{account}:{resource}"


def parse_connection_arn(arn: str) -> tuple[str, str, str] | None:
    """(account, region, name) of `arn:<partition>:events:<region>:<account>:connection/<name>/<uuid>`."""
    return common.parse_uid_arn(arn, "connection")


async def connection_by_arn(tx: Tx, arn: str) -> Doc | None:
    """The connection with exactly this ARN (a connection re-created under the same name has another)."""
    return await common.get_by_uid_arn(tx, CONNECTION, "connection", "ConnectionArn", arn)


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_endpoint(url: str, member: str) -> None:
    """AWS requires HTTPS; Eventyard also takes plain HTTP to a loopback address, for local receivers."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and is_loopback(parts.hostname):
        return
    raise validation(
        f"Invalid {member} '{url}': the endpoint must be an https:// URL "
        "(Eventyard also accepts http:// to a loopback address such as 127.0.0.1)."
    )


def _check_blocks(auth_type: str, auth: dict[str, Any]) -> None:
    """AuthParameters may hold only the block of the authorization type."""
    wanted = AUTH_BLOCK[auth_type]
    for other in AUTH_BLOCK.values():
        if other != wanted and other in auth:
            raise validation(
                f"{other} cannot be specified for the authorization type {auth_type}; specify only {wanted}."
            )


def _check_complete(auth_type: str, block: dict[str, Any] | None) -> None:
    name = AUTH_BLOCK[auth_type]
    if not block:
        raise validation(f"{name} must be specified for the authorization type {auth_type}.")
    missing = [member for member in _REQUIRED[name] if not block.get(member)]
    if name == "OAuthParameters" and block.get("ClientParameters"):
        missing += [m for m in ("ClientID", "ClientSecret") if not block["ClientParameters"].get(m)]
    if missing:
        raise validation(f"{name} is missing required members: {', '.join(missing)}.")
    if name == "OAuthParameters":
        check_endpoint(block["AuthorizationEndpoint"], "AuthorizationEndpoint")


def _merge(current: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """UpdateConnection changes only the members it names; nested structures merge member by member."""
    merged = dict(current)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict) and key != "OAuthHttpParameters":
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _public_http_parameters(parameters: dict[str, Any]) -> dict[str, Any]:
    """InvocationHttpParameters / OAuthHttpParameters with the values marked IsValueSecret left out."""
    public: dict[str, Any] = {}
    for kind, items in parameters.items():
        public[kind] = [
            {k: v for k, v in item.items() if not (k == "Value" and item.get("IsValueSecret"))}
            for item in items
        ]
    return public


def public_auth_parameters(doc: Doc) -> dict[str, Any]:
    """AuthParameters as Describe shows them: every secret removed."""
    auth: dict[str, Any] = doc.get("Secret") or {}
    public: dict[str, Any] = {}
    for block in AUTH_BLOCK.values():
        if block not in auth:
            continue
        value = {k: v for k, v in auth[block].items() if k not in _SECRET_MEMBERS}
        if block == "OAuthParameters":
            client = auth[block].get("ClientParameters") or {}
            value["ClientParameters"] = {k: v for k, v in client.items() if k not in _SECRET_MEMBERS}
            if "OAuthHttpParameters" in value:
                value["OAuthHttpParameters"] = _public_http_parameters(value["OAuthHttpParameters"])
        public[block] = value
    if "InvocationHttpParameters" in auth:
        public["InvocationHttpParameters"] = _public_http_parameters(auth["InvocationHttpParameters"])
    if "ConnectivityParameters" in auth:
        public["ConnectivityParameters"] = _describe_connectivity(doc, auth["ConnectivityParameters"])
    return public


def _describe_connectivity(doc: Doc, parameters: dict[str, Any]) -> dict[str, Any]:
    resource = parameters["ResourceParameters"]["ResourceConfigurationArn"]
    return {
        "ResourceParameters": {
            "ResourceConfigurationArn": resource,
            "ResourceAssociationArn": doc.get("ResourceAssociationArn", ""),
        }
    }


def _association_arn(ctx: Context) -> str:
    return (
        f"arn:{arns.partition(ctx.region)}:vpc-lattice:{ctx.region}:{ctx.account}:servicenetworkresourceassociation/"
        f"snra-{secrets.token_hex(9)[:17]}"
    )


def _times(doc: Doc, state: str | None = None) -> dict[str, Any]:
    out = {key: doc[key] for key in _TIMES if doc.get(key) is not None}
    if state is not None:
        out["ConnectionState"] = state
    return out


async def get_connection(tx: Tx, ctx: Context, name: str) -> Doc:
    doc = await tx.get(CONNECTION, ctx.account, ctx.region, name)
    if doc is None:
        raise not_found(f"Failed to describe the connection(s). Connection '{name}' does not exist.")
    return doc


def _authorizing(runtime: Runtime, arn: str) -> bool:
    from eventyard.delivery.targets import http

    return http.authorization_running(runtime, arn)


async def _idle_connection(tx: Tx, ctx: Context, name: str) -> Doc:
    """The connection to change, unless it is being authorized."""
    doc = await get_connection(tx, ctx, name)
    if _authorizing(ctx.runtime, doc["ConnectionArn"]):
        raise AwsError(
            "ConcurrentModificationException",
            f"Connection '{name}' is being authorized; try again when it is no longer AUTHORIZING.",
        )
    return doc


def _settle_state(ctx: Context, doc: Doc) -> bool:
    """Set the state a connection with fresh credentials starts in; True if OAuth must authorize now."""
    now = ctx.clock.time()
    doc.pop("StateReason", None)
    private = bool(doc.get("InvocationConnectivityParameters"))
    if doc["AuthorizationType"] == OAUTH:
        doc["ConnectionState"] = "AUTHORIZING"
        return True
    doc["ConnectionState"] = "ACTIVE" if private else "AUTHORIZED"
    doc["LastAuthorizedTime"] = now
    return False


def _start_authorization(ctx: Context, doc: Doc) -> None:
    from eventyard.delivery.targets import http

    http.start_authorization(ctx.runtime, ctx.account, ctx.region, doc["Name"], doc["ConnectionArn"])


@operation("CreateConnection")
async def create_connection(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    name: str = params["Name"]
    auth_type: str = params["AuthorizationType"]
    auth: dict[str, Any] = params["AuthParameters"]
    _check_blocks(auth_type, auth)
    _check_complete(auth_type, auth.get(AUTH_BLOCK[auth_type]))
    uid = ctx.runtime.ids()
    now = ctx.clock.time()
    doc: Doc = {
        "Name": name,
        "ConnectionArn": common.uid_arn("connection", ctx.region, ctx.account, name, uid),
        "AuthorizationType": auth_type,
        "SecretArn": secret_arn(ctx.region, ctx.account, name, uid),
        "Secret": auth,
        "SecretVersion": 1,
        "CreationTime": now,
        "LastModifiedTime": now,
    }
    for key in ("Description", "KmsKeyIdentifier", "InvocationConnectivityParameters"):
        if params.get(key) is not None:
            doc[key] = params[key]
    if "ConnectivityParameters" in auth:
        doc["ResourceAssociationArn"] = _association_arn(ctx)
    authorize = _settle_state(ctx, doc)
    async with ctx.store.transaction() as tx:
        if await tx.get(CONNECTION, ctx.account, ctx.region, name) is not None:
            raise already_exists(f"Connection {name} already exists.")
        if await tx.count(CONNECTION, ctx.account, ctx.region) >= MAX_CONNECTIONS:
            raise limit_exceeded(
                f"The requested resource exceeds the maximum number allowed ({MAX_CONNECTIONS} connections)."
            )
        try:
            await tx.insert(CONNECTION, ctx.account, ctx.region, name, doc)
        except Conflict:
            raise already_exists(f"Connection {name} already exists.") from None
    if authorize:
        _start_authorization(ctx, doc)
    return {key: doc[key] for key in ("ConnectionArn", "ConnectionState", "CreationTime", "LastModifiedTime")}


@operation("DescribeConnection")
async def describe_connection(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    async with ctx.store.transaction() as tx:
        doc = await get_connection(tx, ctx, params["Name"])
    out = {key: doc[key] for key in _SUMMARY_FIELDS if doc.get(key) is not None}
    for key in ("Description", "SecretArn", "KmsKeyIdentifier"):
        if doc.get(key) is not None:
            out[key] = doc[key]
    if doc.get("InvocationConnectivityParameters"):
        out["InvocationConnectivityParameters"] = _describe_connectivity(
            doc, doc["InvocationConnectivityParameters"]
        )
    auth = public_auth_parameters(doc)
    if auth:
        out["AuthParameters"] = auth
    return out


@operation("ListConnections")
async def list_connections(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    after = common.decode_token(ctx, "ListConnections", params.get("NextToken"))
    limit = params.get("Limit")
    state = params.get("ConnectionState")
    async with ctx.store.transaction() as tx:
        docs = await tx.list(
            CONNECTION, ctx.account, ctx.region, prefix=params.get("NamePrefix"), after=after
        )
    if state is not None:
        docs = [doc for doc in docs if doc["ConnectionState"] == state]
    summaries = [{key: doc[key] for key in _SUMMARY_FIELDS if doc.get(key) is not None} for doc in docs]
    summaries, token = common.page(ctx, "ListConnections", summaries, limit)
    return {"Connections": summaries, "NextToken": token}


@operation("UpdateConnection")
async def update_connection(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    name: str = params["Name"]
    async with ctx.store.transaction() as tx:
        doc = await _idle_connection(tx, ctx, name)
        old_type = doc["AuthorizationType"]
        new_type: str = params.get("AuthorizationType") or old_type
        update: dict[str, Any] = params.get("AuthParameters") or {}
        _check_blocks(new_type, update)
        current: dict[str, Any] = doc.get("Secret") or {}
        block = AUTH_BLOCK[new_type]
        if new_type != old_type:
            # A new authorization type needs its credentials in full; the old ones are dropped.
            current = {k: v for k, v in current.items() if k not in AUTH_BLOCK.values()}
        merged = _merge(current, update)
        _check_complete(new_type, merged.get(block))
        credentials_changed = (
            new_type != old_type or bool(update) or doc["ConnectionState"] not in USABLE_STATES
        )
        doc["AuthorizationType"] = new_type
        doc["Secret"] = merged
        for key in ("Description", "KmsKeyIdentifier", "InvocationConnectivityParameters"):
            if params.get(key) is not None:
                doc[key] = params[key]
        if "ConnectivityParameters" in merged and not doc.get("ResourceAssociationArn"):
            doc["ResourceAssociationArn"] = _association_arn(ctx)
        authorize = False
        if credentials_changed:
            doc["SecretVersion"] = doc.get("SecretVersion", 0) + 1
            if not doc.get("SecretArn"):
                uid = doc["ConnectionArn"].rsplit("/", 1)[1]
                doc["SecretArn"] = secret_arn(ctx.region, ctx.account, name, uid)
            authorize = _settle_state(ctx, doc)
        doc["LastModifiedTime"] = ctx.clock.time()
        await tx.put(CONNECTION, ctx.account, ctx.region, name, doc)
    _forget(ctx.runtime, doc["ConnectionArn"])
    if authorize:
        _start_authorization(ctx, doc)
    return _times(doc)


@operation("DeleteConnection")
async def delete_connection(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    name: str = params["Name"]
    async with ctx.store.transaction() as tx:
        doc = await _idle_connection(tx, ctx, name)
        users = [
            destination["Name"]
            for destination in await tx.list(API_DESTINATION, ctx.account, ctx.region)
            if destination["ConnectionArn"] == doc["ConnectionArn"]
        ]
        if users:
            raise validation(
                f"Connection '{name}' cannot be deleted because it is used by the API destination(s) "
                f"{', '.join(users)}. Delete them or update them to use another connection first."
            )
        await tx.delete(CONNECTION, ctx.account, ctx.region, name)
    _forget(ctx.runtime, doc["ConnectionArn"])
    return _times(doc, "DELETING")


@operation("DeauthorizeConnection")
async def deauthorize_connection(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Remove every authorization parameter; the connection stays, DEAUTHORIZED, until updated."""
    name: str = params["Name"]
    async with ctx.store.transaction() as tx:
        doc = await _idle_connection(tx, ctx, name)
        doc["Secret"] = {}
        doc.pop("SecretArn", None)
        doc["SecretVersion"] = doc.get("SecretVersion", 0) + 1
        doc["ConnectionState"] = "DEAUTHORIZED"
        doc["StateReason"] = "The connection was deauthorized with DeauthorizeConnection."
        doc["LastModifiedTime"] = ctx.clock.time()
        await tx.put(CONNECTION, ctx.account, ctx.region, name, doc)
    _forget(ctx.runtime, doc["ConnectionArn"])
    return _times(doc, "DEAUTHORIZING")


def _forget(runtime: Runtime, arn: str) -> None:
    from eventyard.delivery.targets import http

    http.forget_connection(runtime, arn)
