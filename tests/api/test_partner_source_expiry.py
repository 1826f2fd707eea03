"""Expiry of PENDING partner event sources, with the server's clock moved forward instead of waiting.

These tests jump the clock by days, so they get a server of their own rather than the shared one; like the
shared one, it runs on each store under test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.api.partner_helpers import DAY, Cast, expect_error, make_cast
from tests.support import ServerProcess


@pytest.fixture(scope="module")
def clock_server(new_store_url: Callable[[], str]) -> Iterator[ServerProcess]:
    process = ServerProcess(new_store_url()).start()
    yield process
    process.stop()


@pytest.fixture
def cast(clock_server: ServerProcess) -> Cast:
    return make_cast(clock_server)


def assert_gone(cast: Cast, name: str) -> None:
    """Expired means deleted: on both sides, as if it had never been created."""
    expect_error(lambda: cast.customer.describe_event_source(Name=name), "ResourceNotFoundException")
    expect_error(lambda: cast.partner.describe_partner_event_source(Name=name), "ResourceNotFoundException")
    expect_error(
        lambda: cast.partner.list_partner_event_source_accounts(EventSourceName=name),
        "ResourceNotFoundException",
    )
    assert cast.customer.list_event_sources(NamePrefix=name)["EventSources"] == []
    assert cast.partner.list_partner_event_sources(NamePrefix=name)["PartnerEventSources"] == []


def test_a_new_source_expires_seven_days_after_creation(cast: Cast, clock_server: ServerProcess) -> None:
    name = cast.offer()
    clock_server.advance_clock(7 * DAY - 60)
    assert cast.customer_state(name) == "PENDING"
    clock_server.advance_clock(120)
    assert_gone(cast, name)
    expect_error(
        lambda: cast.customer.create_event_bus(Name=name, EventSourceName=name), "ResourceNotFoundException"
    )
    # The name is free again; the new source starts a new seven days.
    cast.partner.create_partner_event_source(Name=name, Account=cast.customer_account)
    source = cast.customer.describe_event_source(Name=name)
    assert source["State"] == "PENDING"
    assert (source["ExpirationTime"] - source["CreationTime"]).total_seconds() == pytest.approx(7 * DAY)


def test_an_expired_source_refuses_the_partners_events(cast: Cast, clock_server: ServerProcess) -> None:
    """OG's state table: a source that "has expired" rejects events, as one never created does."""
    fresh, paused = cast.offer("fresh"), cast.offer_and_associate("paused")
    cast.customer.deactivate_event_source(Name=paused)

    def send(name: str) -> dict[str, Any]:
        entry = {"Source": name, "DetailType": "Order Created", "Detail": "{}"}
        return cast.partner.put_partner_events(Entries=[entry])["Entries"][0]  # type: ignore[no-any-return]

    assert "EventId" in send(fresh) and "EventId" in send(paused)  # PENDING: accepted (and dropped)
    clock_server.advance_clock(7 * DAY + 60)
    refused = send(fresh)
    assert refused["ErrorCode"] == "ResourceNotFoundException"
    assert refused["ErrorMessage"].startswith("Event Bus Not Found")
    assert "EventId" in send(paused)  # deactivated: fourteen days
    clock_server.advance_clock(7 * DAY)
    assert send(paused)["ErrorCode"] == "ResourceNotFoundException"  # DELETED now, its bus still there


def test_expired_sources_leave_the_partners_list_pages_full(cast: Cast, clock_server: ServerProcess) -> None:
    old = [cast.offer(f"a-old-{i}") for i in range(3)]
    clock_server.advance_clock(4 * DAY)
    fresh = [cast.offer(f"b-new-{i}") for i in range(3)]
    clock_server.advance_clock(4 * DAY)
    answer = cast.partner.list_partner_event_sources(NamePrefix=cast.source_name(""), Limit=3)
    assert [s["Name"] for s in answer["PartnerEventSources"]] == fresh
    assert "NextToken" not in answer
    for name in old:
        assert_gone(cast, name)


def test_an_active_source_does_not_expire(cast: Cast, clock_server: ServerProcess) -> None:
    name = cast.offer_and_associate()
    clock_server.advance_clock(30 * DAY)
    assert cast.customer_state(name) == "ACTIVE"
    assert cast.partner.describe_partner_event_source(Name=name)["Name"] == name


def test_a_deactivated_source_expires_after_two_weeks(cast: Cast, clock_server: ServerProcess) -> None:
    name = cast.offer_and_associate()
    clock_server.advance_clock(3 * DAY)
    cast.customer.deactivate_event_source(Name=name)
    clock_server.advance_clock(13 * DAY)  # past seven days, within fourteen
    assert cast.customer_state(name) == "PENDING"
    cast.customer.activate_event_source(Name=name)  # still possible
    cast.customer.deactivate_event_source(Name=name)
    clock_server.advance_clock(14 * DAY + 60)
    expect_error(lambda: cast.partner.describe_partner_event_source(Name=name), "ResourceNotFoundException")
    # The customer's partner bus outlives the source, which it now shows as DELETED.
    assert cast.customer_state(name) == "DELETED"
    assert cast.customer.describe_event_bus(Name=name)["Name"] == name


def test_a_source_whose_bus_was_deleted_expires_again(cast: Cast, clock_server: ServerProcess) -> None:
    name = cast.offer_and_associate()
    clock_server.advance_clock(10 * DAY)
    cast.customer.delete_event_bus(Name=name)
    source = cast.customer.describe_event_source(Name=name)
    assert source["State"] == "PENDING"
    clock_server.advance_clock(7 * DAY - 60)
    assert cast.customer_state(name) == "PENDING"
    clock_server.advance_clock(120)
    assert_gone(cast, name)


def test_expiry_is_per_region(cast: Cast, clock_server: ServerProcess) -> None:
    name = cast.offer()
    europe: Any = clock_server.client(account=cast.partner_account, region="eu-west-1")
    clock_server.advance_clock(3 * DAY)
    europe.create_partner_event_source(Name=name, Account=cast.customer_account)
    clock_server.advance_clock(5 * DAY)
    assert_gone(cast, name)
    assert europe.describe_partner_event_source(Name=name)["Name"] == name


def test_both_periods_are_configurable(new_store_url: Callable[[], str]) -> None:
    server = ServerProcess(
        new_store_url(),
        "--partner-source-pending-days", "1",
        "--partner-source-deactivated-days", "2",
    ).start()  # fmt: skip
    try:
        cast = make_cast(server)
        fresh, paused = cast.offer("fresh"), cast.offer_and_associate("paused")
        cast.customer.deactivate_event_source(Name=paused)
        source = cast.customer.describe_event_source(Name=fresh)
        assert (source["ExpirationTime"] - source["CreationTime"]).total_seconds() == pytest.approx(DAY)
        server.advance_clock(DAY + 60)
        assert_gone(cast, fresh)
        assert cast.customer_state(paused) == "PENDING"
        server.advance_clock(DAY)
        assert cast.customer_state(paused) == "DELETED"
    finally:
        server.stop()
