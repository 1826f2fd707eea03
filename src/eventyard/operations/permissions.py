"""Event bus resource policies: PutPermission and RemovePermission."""

from __future__ import annotations

from typing import Any

from eventyard.core import policy as policies
from eventyard.core.envelope import event_json
from eventyard.errors import AwsError, not_found, validation
from eventyard.operations import _common as common
from eventyard.operations._common import BUS
from eventyard.operations.registry import operation
from eventyard.runtime import Context

MAX_POLICY_LENGTH = 10240


def _check_length(text: str) -> None:
    if len(text) > MAX_POLICY_LENGTH:
        raise AwsError(
            "PolicyLengthExceededException",
            f"The policy is {len(text)} characters long; the event bus policy can be at most {MAX_POLICY_LENGTH}.",
        )


@operation("PutPermission")
async def put_permission(ctx: Context, params: dict[str, Any]) -> None:
    account, region, name = common.resolve_bus(ctx, params.get("EventBusName"))  # a name: the caller's bus
    whole = params.get("Policy")
    if whole is None:
        missing = [key for key in ("Action", "Principal", "StatementId") if not params.get(key)]
        if missing:
            raise validation(f"Parameter(s) {', '.join(missing)} must be specified when Policy is not.")
        # Principal is an account or '*' (the model's pattern), and '*' needs no Condition: AWS then lets any
        # account put events.
    else:
        document = policies.parse(whole)
        if document is None:
            raise validation("Parameter Policy is not valid: it must be a JSON policy document.")
        _check_length(whole)
    async with ctx.store.transaction() as tx:
        bus = await common.get_bus(ctx, tx, account, region, name)
        if whole is not None:
            bus["Policy"] = whole
        else:
            document = policies.parse(bus.get("Policy")) or {"Version": policies.VERSION, "Statement": []}
            sid = params["StatementId"]
            statements = [s for s in policies.statements(document) if s.get("Sid") != sid]
            statements.append(
                policies.statement(
                    sid, bus["Arn"], params["Action"], params["Principal"], params.get("Condition")
                )
            )
            document["Statement"] = statements
            text = event_json(document)  # orjson writes at most 254 levels; a policy may have more
            _check_length(text)
            bus["Policy"] = text
        bus["LastModifiedTime"] = ctx.clock.time()
        await tx.put(BUS, account, region, name, bus)


@operation("RemovePermission")
async def remove_permission(ctx: Context, params: dict[str, Any]) -> None:
    account, region, name = common.resolve_bus(ctx, params.get("EventBusName"))  # a name: the caller's bus
    sid = params.get("StatementId")
    remove_all = params.get("RemoveAllPermissions", False)
    if not sid and not remove_all:
        raise validation("Parameter StatementId or RemoveAllPermissions must be specified.")
    async with ctx.store.transaction() as tx:
        bus = await common.get_bus(ctx, tx, account, region, name)
        if remove_all:
            bus.pop("Policy", None)
        else:
            document = policies.parse(bus.get("Policy"))
            if document is None:
                raise not_found(f"EventBus {name} does not have a policy.")
            statements = policies.statements(document)
            kept = [s for s in statements if s.get("Sid") != sid]
            if len(kept) == len(statements):
                raise not_found("Statement with the provided id does not exist.")
            if kept:
                document["Statement"] = kept
                bus["Policy"] = event_json(document)
            else:
                bus.pop("Policy", None)
        bus["LastModifiedTime"] = ctx.clock.time()
        await tx.put(BUS, account, region, name, bus)
