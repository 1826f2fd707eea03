"""ARNs and names exactly as EventBridge forms them."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from botocore.endpoint_provider import RuleSetStandardLibrary
from botocore.loaders import create_loader

DEFAULT_BUS = "default"
_ARN = re.compile(r"arn:(aws[\w-]*):events:([\w-]*):(\d{12}|):(.+)")


@functools.cache
def _partitions() -> RuleSetStandardLibrary:
    """botocore's partition data (partitions.json), read once."""
    return RuleSetStandardLibrary(create_loader().load_data("partitions"))


@functools.lru_cache(maxsize=64)  # on every ARN formed or read; bounded, as Regions come from callers
def partition(region: str) -> str:
    """The partition of `region` ("aws-cn" for cn-north-1, "aws-us-gov" for us-gov-west-1, ...), as botocore's
    endpoint rules find it (`aws.partition`: the partition listing the Region or whose `regionRegex` it
    matches); "aws" for a Region in no partition."""
    return _partitions().aws_partition(region)["name"]  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class Arn:
    partition: str
    region: str
    account: str
    resource: str

    def __str__(self) -> str:
        return f"arn:{self.partition}:events:{self.region}:{self.account}:{self.resource}"


def events(region: str, account: str, resource: str) -> str:
    """An EventBridge ARN, in the partition of its Region."""
    return f"arn:{partition(region)}:events:{region}:{account}:{resource}"


def consistent(partition_name: str, region: str) -> bool:
    """May an ARN in partition `partition_name` name `region`? Only if that is the Region's partition; an ARN
    without a Region (IAM's, S3's) may be in any partition."""
    return not region or partition_name == partition(region)


def parse(text: str) -> Arn | None:
    """An EventBridge ARN; None for any other text, or one whose partition is not its Region's."""
    found = _ARN.fullmatch(text)
    if found is None:
        return None
    parsed = Arn(*found.groups())
    return parsed if consistent(parsed.partition, parsed.region) else None


# Any service's ARN, as a target's `Arn` must be: partition, service, Region and account (either may be
# empty), and a resource without whitespace or control characters. (Loose on purpose: what each service
# accepts is for its delivery to find out.)
_ANY_ARN = re.compile(r"arn:(aws[a-z-]*):([a-z0-9-]+):([a-z0-9-]*):(\d*):([^\x00-\x20\x7f]+)")
# The names EventBridge lets callers create (the model's RuleName and EventBusName patterns): a name that
# does not match was never created, whatever an ARN says.
RULE_NAME = re.compile(r"[\.\-_A-Za-z0-9]+")
BUS_NAME = re.compile(r"[/\.\-_A-Za-z0-9]+")


def fields(text: str) -> tuple[str, str, str, str] | None:
    """(service, region, account, resource) of an ARN of any service, in the form AWS accepts for a target;
    None for any other text, or one whose partition is not its Region's."""
    found = _ANY_ARN.fullmatch(text)
    if found is None:
        return None
    partition_name, service, region, account, resource = found.groups()
    return (service, region, account, resource) if consistent(partition_name, region) else None


def well_formed(text: str) -> bool:
    """Is `text` an ARN of any service, in the form AWS accepts for a target?"""
    return fields(text) is not None


def event_bus(region: str, account: str, name: str) -> str:
    return events(region, account, f"event-bus/{name}")


def parse_event_bus(text: str) -> tuple[str, str, str] | None:
    """(account, region, name) of an event bus ARN; None for any other text."""
    parsed = parse(text)
    if parsed is None or not parsed.account or not parsed.resource.startswith("event-bus/"):
        return None
    return parsed.account, parsed.region, parsed.resource.removeprefix("event-bus/")


def rule(region: str, account: str, bus: str, name: str) -> str:
    """`rule/<rule>` on the default bus, `rule/<bus>/<rule>` on any other."""
    path = name if bus == DEFAULT_BUS else f"{bus}/{name}"
    return events(region, account, f"rule/{path}")


def rule_bus(rule_arn: str) -> str:
    """The bus of a rule ARN (the inverse of `rule` for the bus part)."""
    path = rule_arn.split(":", 5)[5].removeprefix("rule/")
    bus, _, _ = path.rpartition("/")
    return bus or DEFAULT_BUS


def event_source(region: str, name: str) -> str:
    """Partner event sources have an empty account field."""
    return events(region, "", f"event-source/{name}")
