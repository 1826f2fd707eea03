"""The cast of a partner-flow test: a SaaS partner, its customer and a stranger, each its own account."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.api.helpers import error_of
from tests.support import ServerProcess, new_account

DAY = 86400


@dataclass
class Cast:
    partner_account: str
    customer_account: str
    stranger_account: str
    partner: Any  # boto3 events clients, us-east-1
    customer: Any
    stranger: Any
    partner_name: str  # the `<partner_name>` segment, unique per test

    def source_name(self, event_name: str = "orders") -> str:
        """`aws.partner/<partner_name>/<event_namespace>/<event_name>`."""
        return f"aws.partner/{self.partner_name}/{self.customer_account}/{event_name}"

    def offer(self, event_name: str = "orders") -> str:
        """The partner creates a source for the customer; its name."""
        name = self.source_name(event_name)
        self.partner.create_partner_event_source(Name=name, Account=self.customer_account)
        return name

    def offer_and_associate(self, event_name: str = "orders") -> str:
        """The partner offers a source and the customer creates its partner event bus."""
        name = self.offer(event_name)
        self.customer.create_event_bus(Name=name, EventSourceName=name)
        return name

    def customer_state(self, name: str) -> str:
        return str(self.customer.describe_event_source(Name=name)["State"])


def make_cast(server: ServerProcess, region: str = "us-east-1") -> Cast:
    accounts = [new_account() for _ in range(3)]
    return Cast(
        *accounts,
        *(server.client(account=a, region=region) for a in accounts),
        partner_name=f"saas-{uuid.uuid4().hex[:10]}.example.com",
    )


def expect_error(call: Any, code: str, fragment: str = "") -> str:
    with pytest.raises(ClientError) as excinfo:
        call()
    got, message, status = error_of(excinfo)
    assert (got, status) == (code, 400), message
    assert fragment in message
    return message
