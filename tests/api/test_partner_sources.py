"""SaaS partner event sources between a partner account and a customer account, through the real server.

Each test plays the partner flow with boto3 clients of different accounts: the partner offers a source, the
customer associates a partner event bus with it, and a third account sees nothing.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.helpers import pages_of
from tests.api.partner_helpers import DAY, Cast, expect_error, make_cast


@pytest.fixture
def cast(server: Any) -> Cast:
    return make_cast(server)


def seconds(delta: Any) -> float:
    return float(delta.total_seconds())


def test_the_partner_flow(cast: Cast) -> None:
    name = cast.source_name()
    region, customer = "us-east-1", cast.customer_account

    # The partner offers a source to the customer's account.
    created = cast.partner.create_partner_event_source(Name=name, Account=customer)
    source_arn = f"arn:aws:events:{region}::event-source/{name}"
    assert created["EventSourceArn"] == source_arn
    described = cast.partner.describe_partner_event_source(Name=name)
    assert (described["Arn"], described["Name"]) == (source_arn, name)
    [offered] = cast.partner.list_partner_event_source_accounts(EventSourceName=name)[
        "PartnerEventSourceAccounts"
    ]
    assert offered["Account"] == customer and offered["State"] == "PENDING"
    assert seconds(offered["ExpirationTime"] - offered["CreationTime"]) == pytest.approx(7 * DAY, abs=0.01)

    # The customer sees it offered, PENDING, created by the partner.
    [listed] = cast.customer.list_event_sources()["EventSources"]
    described = cast.customer.describe_event_source(Name=name)
    for view in (listed, described):
        assert view["Arn"] == source_arn
        assert view["Name"] == name
        assert view["CreatedBy"] == f"aws.partner/{cast.partner_name}"
        assert view["State"] == "PENDING"
        assert view["CreationTime"] == offered["CreationTime"]
        assert view["ExpirationTime"] == offered["ExpirationTime"]

    # The customer associates a partner event bus: the source becomes ACTIVE, without an expiry.
    bus = cast.customer.create_event_bus(Name=name, EventSourceName=name)
    bus_arn = f"arn:aws:events:{region}:{customer}:event-bus/{name}"
    assert bus["EventBusArn"] == bus_arn
    assert cast.customer.describe_event_bus(Name=name)["Arn"] == bus_arn
    active = cast.customer.describe_event_source(Name=name)
    assert active["State"] == "ACTIVE" and "ExpirationTime" not in active
    [offered] = cast.partner.list_partner_event_source_accounts(EventSourceName=name)[
        "PartnerEventSourceAccounts"
    ]
    assert offered["State"] == "ACTIVE" and "ExpirationTime" not in offered

    # Rules work on the partner bus as on any bus.
    rule = cast.customer.put_rule(Name="all", EventBusName=name, EventPattern=f'{{"source": ["{name}"]}}')
    assert rule["RuleArn"] == f"arn:aws:events:{region}:{customer}:rule/{name}/all"
    assert [r["Name"] for r in cast.customer.list_rules(EventBusName=name)["Rules"]] == ["all"]
    assert cast.customer.describe_rule(Name="all", EventBusName=bus_arn)["Arn"] == rule["RuleArn"]
    assert cast.customer.describe_event_bus(Name=bus_arn)["Name"] == name

    # Deactivate: PENDING with a two-week expiry, the bus stays; activate: ACTIVE again.
    cast.customer.deactivate_event_source(Name=name)
    paused = cast.customer.describe_event_source(Name=name)
    assert paused["State"] == "PENDING"
    assert seconds(paused["ExpirationTime"] - paused["CreationTime"]) >= 14 * DAY
    assert cast.customer.describe_event_bus(Name=name)["Arn"] == bus_arn
    cast.customer.activate_event_source(Name=name)
    assert cast.customer_state(name) == "ACTIVE"

    # The partner deletes the source: the customer sees DELETED, the bus and its rules stay.
    cast.partner.delete_partner_event_source(Name=name, Account=customer)
    gone = cast.customer.describe_event_source(Name=name)
    assert gone["State"] == "DELETED" and "ExpirationTime" not in gone
    assert cast.customer.list_event_sources()["EventSources"][0]["State"] == "DELETED"
    assert cast.customer.describe_event_bus(Name=name)["Arn"] == bus_arn
    assert cast.customer.describe_rule(Name="all", EventBusName=name)["State"] == "ENABLED"
    expect_error(lambda: cast.partner.describe_partner_event_source(Name=name), "ResourceNotFoundException")
    assert cast.partner.list_partner_event_sources(NamePrefix=name)["PartnerEventSources"] == []

    # The customer cleans up: rules first, then the bus; the source is then gone for good.
    cast.customer.delete_rule(Name="all", EventBusName=name)
    cast.customer.delete_event_bus(Name=name)
    expect_error(lambda: cast.customer.describe_event_source(Name=name), "ResourceNotFoundException")
    assert cast.customer.list_event_sources()["EventSources"] == []


# --- partner side -------------------------------------------------------------------------------------


def test_a_name_exists_once_per_region(cast: Cast, server: Any) -> None:
    name = cast.offer()
    message = expect_error(
        lambda: cast.partner.create_partner_event_source(Name=name, Account=cast.customer_account),
        "ResourceAlreadyExistsException",
    )
    assert name in message
    # Not for another customer, and not by another account either: one source serves one account.
    expect_error(
        lambda: cast.partner.create_partner_event_source(Name=name, Account=cast.stranger_account),
        "ResourceAlreadyExistsException",
    )
    expect_error(
        lambda: cast.stranger.create_partner_event_source(Name=name, Account=cast.stranger_account),
        "ResourceAlreadyExistsException",
    )
    # Sources are regional: the same name is free in another Region.
    europe = server.client(account=cast.partner_account, region="eu-west-1")
    arn = europe.create_partner_event_source(Name=name, Account=cast.customer_account)["EventSourceArn"]
    assert arn == f"arn:aws:events:eu-west-1::event-source/{name}"


@pytest.mark.parametrize(
    ("name", "account", "fragment"),
    [
        ("aws.partner/only-one-segment", "111122223333", "regular expression pattern"),
        ("partner/example.com/x", "111122223333", "regular expression pattern"),
        ("aws.partner/example.com/bad name", "111122223333", "regular expression pattern"),
        ("aws.partner/example.com/" + "x" * 240, "111122223333", "length less than or equal to 256"),
        ("aws.partner/example.com/x", "1234567890123", "length less than or equal to 12"),
        ("aws.partner/example.com/x", "12345678901x", "regular expression pattern: \\d{12}"),
    ],
)
def test_invalid_source_names_and_accounts(cast: Cast, name: str, account: str, fragment: str) -> None:
    expect_error(
        lambda: cast.partner.create_partner_event_source(Name=name, Account=account),
        "ValidationException",
        fragment,
    )


def test_only_the_creating_partner_sees_its_source(cast: Cast) -> None:
    name = cast.offer()
    for client in (cast.stranger, cast.customer):
        expect_error(lambda c=client: c.describe_partner_event_source(Name=name), "ResourceNotFoundException")
        expect_error(
            lambda c=client: c.list_partner_event_source_accounts(EventSourceName=name),
            "ResourceNotFoundException",
        )
        assert client.list_partner_event_sources(NamePrefix=name)["PartnerEventSources"] == []


def test_deleting_someone_elses_source_changes_nothing(cast: Cast) -> None:
    name = cast.offer()
    cast.stranger.delete_partner_event_source(Name=name, Account=cast.customer_account)
    cast.customer.delete_partner_event_source(Name=name, Account=cast.customer_account)
    cast.partner.delete_partner_event_source(Name=name, Account=cast.stranger_account)  # wrong account
    assert cast.partner.describe_partner_event_source(Name=name)["Name"] == name
    assert cast.customer_state(name) == "PENDING"
    cast.partner.delete_partner_event_source(Name=name, Account=cast.customer_account)
    cast.partner.delete_partner_event_source(Name=name, Account=cast.customer_account)  # twice is fine
    expect_error(lambda: cast.customer.describe_event_source(Name=name), "ResourceNotFoundException")


def test_deleting_a_pending_source_leaves_nothing_behind(cast: Cast) -> None:
    name = cast.offer()
    cast.partner.delete_partner_event_source(Name=name, Account=cast.customer_account)
    assert cast.customer.list_event_sources()["EventSources"] == []
    assert cast.partner.list_partner_event_sources(NamePrefix=name)["PartnerEventSources"] == []
    expect_error(
        lambda: cast.customer.create_event_bus(Name=name, EventSourceName=name), "ResourceNotFoundException"
    )


def test_list_partner_event_sources_pages_by_prefix(cast: Cast) -> None:
    names = sorted(cast.offer(f"stream-{i}") for i in range(5))
    other = cast.offer("other")
    prefix = cast.source_name("stream-")
    pages = pages_of(
        cast.partner.list_partner_event_sources, "PartnerEventSources", NamePrefix=prefix, Limit=2
    )
    seen = [s["Name"] for page in pages for s in page]
    assert seen == names and len(pages) == 3
    everything = cast.partner.list_partner_event_sources(NamePrefix=f"aws.partner/{cast.partner_name}/")
    assert [s["Name"] for s in everything["PartnerEventSources"]] == sorted([*names, other])
    assert all(
        s["Arn"] == f"arn:aws:events:us-east-1::event-source/{s['Name']}"
        for s in everything["PartnerEventSources"]
    )
    assert "NextToken" not in everything


def test_list_partner_event_sources_needs_a_partner_prefix(cast: Cast) -> None:
    expect_error(
        lambda: cast.partner.list_partner_event_sources(NamePrefix="aws.partner"), "ValidationException"
    )
    expect_error(lambda: cast.partner.list_partner_event_sources(NamePrefix="mine/"), "ValidationException")


def test_list_partner_event_source_accounts_pages(cast: Cast) -> None:
    name = cast.offer()
    first = cast.partner.list_partner_event_source_accounts(EventSourceName=name, Limit=1)
    assert [a["Account"] for a in first["PartnerEventSourceAccounts"]] == [cast.customer_account]
    assert "NextToken" not in first
    expect_error(
        lambda: cast.partner.list_partner_event_source_accounts(EventSourceName=name, NextToken="forged"),
        "InvalidToken",
    )


# --- customer side ------------------------------------------------------------------------------------


def test_list_event_sources_pages_and_filters(cast: Cast) -> None:
    names = sorted(cast.offer(f"s{i}") for i in range(5))
    pages = pages_of(cast.customer.list_event_sources, "EventSources", Limit=2)
    assert all(len(page) <= 2 for page in pages)
    seen = [s["Name"] for page in pages for s in page]
    assert seen == names
    only = cast.customer.list_event_sources(NamePrefix=cast.source_name("s3"))["EventSources"]
    assert [s["Name"] for s in only] == [cast.source_name("s3")]
    assert cast.customer.list_event_sources(NamePrefix="aws.partner/nobody")["EventSources"] == []
    # A token belongs to the request that made it.
    token = cast.customer.list_event_sources(Limit=1)["NextToken"]
    expect_error(lambda: cast.stranger.list_event_sources(NextToken=token), "InvalidToken")


def test_the_partner_bus_needs_a_source_offered_to_this_account(cast: Cast) -> None:
    name = cast.offer()
    expect_error(
        lambda: cast.stranger.create_event_bus(Name=name, EventSourceName=name), "ResourceNotFoundException"
    )
    missing = cast.source_name("never-offered")
    expect_error(
        lambda: cast.customer.create_event_bus(Name=missing, EventSourceName=missing),
        "ResourceNotFoundException",
        missing,
    )
    expect_error(
        lambda: cast.customer.create_event_bus(Name="other-name", EventSourceName=name),
        "ValidationException",
        "same",
    )
    expect_error(
        lambda: cast.customer.create_event_bus(Name=name),
        "ValidationException",
        "EventBus name starting with 'aws.' is not valid.",
    )
    cast.customer.create_event_bus(Name=name, EventSourceName=name)
    expect_error(
        lambda: cast.customer.create_event_bus(Name=name, EventSourceName=name),
        "ResourceAlreadyExistsException",
    )
    assert cast.customer_state(name) == "ACTIVE"


def test_a_partner_bus_counts_toward_the_event_bus_quota(cast: Cast) -> None:
    name = cast.offer()
    for index in range(99):  # and the default bus
        cast.customer.create_event_bus(Name=f"bus-{index:02d}")
    expect_error(
        lambda: cast.customer.create_event_bus(Name=name, EventSourceName=name),
        "LimitExceededException",
        "The requested resource exceeds the maximum number allowed.",
    )
    assert cast.customer_state(name) == "PENDING"
    cast.customer.delete_event_bus(Name="bus-00")
    cast.customer.create_event_bus(Name=name, EventSourceName=name)
    assert cast.customer_state(name) == "ACTIVE"
    expect_error(lambda: cast.customer.create_event_bus(Name="bus-00"), "LimitExceededException")


def test_activate_and_deactivate_only_where_they_make_sense(cast: Cast) -> None:
    name = cast.offer()
    # PENDING without a bus: nothing to deactivate, nothing to activate onto.
    expect_error(lambda: cast.customer.deactivate_event_source(Name=name), "InvalidStateException")
    expect_error(
        lambda: cast.customer.activate_event_source(Name=name),
        "ResourceNotFoundException",
        f"Event source {name} or event bus {name} does not exist.",
    )
    cast.customer.create_event_bus(Name=name, EventSourceName=name)
    expect_error(lambda: cast.customer.activate_event_source(Name=name), "InvalidStateException")
    cast.customer.deactivate_event_source(Name=name)
    expect_error(lambda: cast.customer.deactivate_event_source(Name=name), "InvalidStateException")
    cast.customer.activate_event_source(Name=name)
    assert cast.customer_state(name) == "ACTIVE"
    # DELETED by the partner: neither makes sense any more.
    cast.partner.delete_partner_event_source(Name=name, Account=cast.customer_account)
    expect_error(lambda: cast.customer.activate_event_source(Name=name), "InvalidStateException")
    expect_error(lambda: cast.customer.deactivate_event_source(Name=name), "InvalidStateException")
    # Unknown names, and other accounts' sources, are not found.
    unknown = cast.source_name("unknown")
    expect_error(lambda: cast.customer.activate_event_source(Name=unknown), "ResourceNotFoundException")
    expect_error(lambda: cast.customer.deactivate_event_source(Name=unknown), "ResourceNotFoundException")


def test_deleting_the_partner_bus_returns_the_source_to_pending(cast: Cast) -> None:
    name = cast.offer_and_associate()
    cast.customer.put_rule(Name="r", EventBusName=name, EventPattern='{"source": [{"prefix": ""}]}')
    expect_error(lambda: cast.customer.delete_event_bus(Name=name), "ValidationException", "rules")
    cast.customer.delete_rule(Name="r", EventBusName=name)
    cast.customer.delete_event_bus(Name=name)
    source = cast.customer.describe_event_source(Name=name)
    assert source["State"] == "PENDING" and "ExpirationTime" in source
    [offered] = cast.partner.list_partner_event_source_accounts(EventSourceName=name)[
        "PartnerEventSourceAccounts"
    ]
    assert offered["State"] == "PENDING"
    # ... and the customer may associate a bus again.
    cast.customer.create_event_bus(Name=name, EventSourceName=name)
    assert cast.customer_state(name) == "ACTIVE"


def test_a_recreated_source_does_not_revive_the_old_bus(cast: Cast) -> None:
    name = cast.offer_and_associate()
    cast.partner.delete_partner_event_source(Name=name, Account=cast.customer_account)
    assert cast.customer_state(name) == "DELETED"
    # The partner creates the same name again: PENDING, the existing bus is not attached by itself.
    cast.partner.create_partner_event_source(Name=name, Account=cast.customer_account)
    assert cast.customer_state(name) == "PENDING"
    [offered] = cast.partner.list_partner_event_source_accounts(EventSourceName=name)[
        "PartnerEventSourceAccounts"
    ]
    assert offered["State"] == "PENDING"
    # Associating again fails because the bus exists; the customer re-attaches it with ActivateEventSource.
    expect_error(
        lambda: cast.customer.create_event_bus(Name=name, EventSourceName=name),
        "ResourceAlreadyExistsException",
    )
    cast.customer.activate_event_source(Name=name)
    assert cast.customer_state(name) == "ACTIVE"


def test_or_the_customer_deletes_the_old_bus_and_associates_a_new_one(cast: Cast) -> None:
    name = cast.offer_and_associate()
    cast.customer.put_rule(Name="r", EventBusName=name, EventPattern='{"source": [{"prefix": ""}]}')
    cast.partner.delete_partner_event_source(Name=name, Account=cast.customer_account)
    cast.partner.create_partner_event_source(Name=name, Account=cast.customer_account)
    cast.customer.delete_rule(Name="r", EventBusName=name)
    cast.customer.delete_event_bus(Name=name)
    assert cast.customer_state(name) == "PENDING"  # the re-created source, no bus
    cast.customer.create_event_bus(Name=name, EventSourceName=name)
    assert cast.customer_state(name) == "ACTIVE"


def test_a_reused_name_for_another_customer_leaves_the_first_one_deleted(cast: Cast, server: Any) -> None:
    name = cast.offer_and_associate()
    cast.partner.delete_partner_event_source(Name=name, Account=cast.customer_account)
    cast.partner.create_partner_event_source(Name=name, Account=cast.stranger_account)
    assert cast.customer_state(name) == "DELETED"
    assert cast.stranger.describe_event_source(Name=name)["State"] == "PENDING"
    expect_error(lambda: cast.customer.activate_event_source(Name=name), "InvalidStateException")


def test_partner_buses_refuse_cloudtrail_management_events_and_policies(cast: Cast) -> None:
    name = cast.offer_and_associate()
    expect_error(
        lambda: cast.customer.put_rule(
            Name="ct",
            EventBusName=name,
            EventPattern='{"source": ["x"]}',
            State="ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS",
        ),
        "ValidationException",
    )
    expect_error(
        lambda: cast.customer.put_permission(
            EventBusName=name, Action="events:PutEvents", Principal="111122223333", StatementId="s"
        ),
        "ValidationException",
    )
    cast.customer.put_rule(Name="ok", EventBusName=name, EventPattern='{"source": ["x"]}', State="DISABLED")


# --- isolation ----------------------------------------------------------------------------------------


def test_a_third_account_sees_nothing_and_can_do_nothing(cast: Cast) -> None:
    name = cast.offer_and_associate()
    stranger = cast.stranger
    assert stranger.list_event_sources()["EventSources"] == []
    assert stranger.list_partner_event_sources(NamePrefix=name)["PartnerEventSources"] == []
    for call in (
        lambda: stranger.describe_event_source(Name=name),
        lambda: stranger.describe_partner_event_source(Name=name),
        lambda: stranger.list_partner_event_source_accounts(EventSourceName=name),
        lambda: stranger.activate_event_source(Name=name),
        lambda: stranger.deactivate_event_source(Name=name),
        lambda: stranger.create_event_bus(Name=name, EventSourceName=name),
    ):
        expect_error(call, "ResourceNotFoundException")
    stranger.delete_partner_event_source(Name=name, Account=cast.customer_account)
    assert cast.customer_state(name) == "ACTIVE"
    expect_error(lambda: stranger.describe_event_bus(Name=name), "ResourceNotFoundException")


def test_sources_are_regional(cast: Cast, server: Any) -> None:
    name = cast.offer_and_associate()
    partner_eu = server.client(account=cast.partner_account, region="eu-west-1")
    customer_eu = server.client(account=cast.customer_account, region="eu-west-1")
    assert customer_eu.list_event_sources()["EventSources"] == []
    assert partner_eu.list_partner_event_sources(NamePrefix=name)["PartnerEventSources"] == []
    expect_error(lambda: customer_eu.describe_event_source(Name=name), "ResourceNotFoundException")
    expect_error(lambda: partner_eu.describe_partner_event_source(Name=name), "ResourceNotFoundException")
    expect_error(
        lambda: customer_eu.create_event_bus(Name=name, EventSourceName=name), "ResourceNotFoundException"
    )
    # The same name offered in eu-west-1 is a separate source with its own state.
    partner_eu.create_partner_event_source(Name=name, Account=cast.customer_account)
    assert customer_eu.describe_event_source(Name=name)["State"] == "PENDING"
    assert customer_eu.describe_event_source(Name=name)["Arn"].startswith("arn:aws:events:eu-west-1::")
    assert cast.customer_state(name) == "ACTIVE"
    partner_eu.delete_partner_event_source(Name=name, Account=cast.customer_account)
    assert cast.customer_state(name) == "ACTIVE"
