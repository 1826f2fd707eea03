"""Event bus targets: the event itself is put on another bus (same account, another Region, or another account
whose bus policy lets the rule's account put events there).

As in AWS: the event keeps its id and the sender's account; an event that came from another account is not
forwarded to a third account; Input, InputPath and InputTransformer do not apply (a bus receives events); and
an event never triggers a rule it already went through, so buses that forward to each other cannot loop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from eventyard.core import arn as arns
from eventyard.core import policy
from eventyard.delivery.targets import DeliveryError, Invocation, adapter

if TYPE_CHECKING:
    from eventyard.runtime import Runtime


@adapter("events", "event-bus/")
async def put_on_event_bus(runtime: Runtime, invocation: Invocation) -> None:
    from eventyard.delivery import ingest  # (ingest imports the targets)

    target_arn = invocation.target["Arn"]
    target_bus = arns.parse_event_bus(target_arn)
    if target_bus is None:
        raise DeliveryError("NO_RESOURCE", f"{target_arn} is not the ARN of an event bus.", retriable=False)
    account, region, bus = target_bus
    sender = invocation.account
    event = invocation.event
    if invocation.rule_arn in invocation.via or (
        (account, region, bus) == (sender, invocation.region, arns.rule_bus(invocation.rule_arn))
    ):
        raise DeliveryError(
            "NO_PERMISSIONS",
            f"Rule {invocation.rule_arn} would receive its own event again: delivering it would loop.",
            retriable=False,
        )
    if account != sender:
        if event.get("account") != sender:
            raise DeliveryError(
                "NO_PERMISSIONS",
                f"The event came from account {event.get('account')}; events received from another account "
                f"are not forwarded to a third account ({account}).",
                retriable=False,
            )
        async with runtime.store.transaction() as tx:  # the policy as it is now, not as cached
            doc = await tx.get(ingest.BUS, account, region, bus)
        # What AWS's authorization sees: the forwarding rule (aws:SourceArn, aws:SourceAccount) and the event.
        context = {
            "aws:SourceArn": invocation.rule_arn,
            "aws:SourceAccount": sender,
            "events:source": str(event.get("source")),
            "events:detail-type": str(event.get("detail-type")),
        }
        decision = (
            policy.decide(doc.get("Policy"), sender, "events:PutEvents", context, doc["Arn"]) if doc else None
        )
        if decision != "Allow":
            raise DeliveryError(
                "NO_PERMISSIONS",
                f"Account {sender} is not allowed to put events on {target_arn}: its resource policy "
                + ("denies" if decision == "Deny" else "does not allow")
                + " events:PutEvents for this event and rule.",
                retriable=False,
            )
    routes = await ingest.routes_for(runtime, account, region, bus)
    if routes.partner:
        raise DeliveryError(
            "NO_PERMISSIONS",
            f"{target_arn} is a partner event bus; only its partner puts events on it.",
            retriable=False,
        )
    created = await ingest.publish(
        runtime,
        account,
        region,
        bus,
        [event],
        skip_rules={*invocation.via, invocation.rule_arn},
        via=(*invocation.via, invocation.rule_arn),
    )
    if created is None:
        raise DeliveryError("NO_RESOURCE", f"Event bus {target_arn} does not exist.", retriable=False)
