"""ARNs and names exactly as EventBridge forms them."""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_BUS = "default"
_ARN = re.compile(r"arn:(aws[\w-]*):events:([\w-]*):(\d{12}|):(.+)")


@dataclass(frozen=True, slots=True)
class Arn:
    partition: str
    region: str
    account: str
    resource: str

    def __str__(self) -> str:
        return f"arn:{self.partition}:events:{self.region}:{self.account}:{self.resource}"


def parse(text: str) -> Arn | None:
    found = _ARN.fullmatch(text)
    if found is None:
        return None
    return Arn(*found.groups())


def event_bus(region: str, account: str, name: str) -> str:
    return f"arn:aws:events:{region}:{account}:event-bus/{name}"


def rule(region: str, account: str, bus: str, name: str) -> str:
    """`rule/<rule>` on the default bus, `rule/<bus>/<rule>` on any other."""
    path = name if bus == DEFAULT_BUS else f"{bus}/{name}"
    return f"arn:aws:events:{region}:{account}:rule/{path}"


def event_source(region: str, name: str) -> str:
    """Partner event sources have an empty account field."""
    return f"arn:aws:events:{region}::event-source/{name}"
