"""Partner (SaaS) event sources. The customer side of CreateEventBus/DeleteEventBus calls in here."""

from __future__ import annotations

from typing import Any

from eventyard.errors import AwsError
from eventyard.runtime import Context
from eventyard.store.base import Tx


async def attach_partner_bus(ctx: Context, tx: Tx, name: str, bus: dict[str, Any]) -> None:
    """Make `bus` the partner event bus of the source `name` offered to the caller; the source becomes ACTIVE."""
    raise AwsError("NotImplementedException", "Partner event buses are not implemented yet.", 501)


async def detach_partner_bus(ctx: Context, tx: Tx, name: str) -> None:
    """The customer deleted the partner bus: the source returns to PENDING."""
    return None
