"""Accepted events are never lost: the server is SIGKILLed between accepting events and delivering them, and
after a restart on the same store every accepted event reaches its target."""

from __future__ import annotations

import json
from collections.abc import Callable

from tests.api.delivery_helpers import deliveries_of, wait_for
from tests.fixtures_aws import Receiver, Reply
from tests.support import ServerProcess, api_destination, new_account


def test_sigkill_after_acceptance_loses_no_delivery(new_store_url: Callable[[], str], receiver: Receiver):
    store = new_store_url()
    account = new_account()
    receiver.default("/hook", Reply(200, delay=3.0))  # slow: deliveries are still in flight at the kill
    server = ServerProcess(store, "--delivery-target-concurrency", "4").start()
    try:
        events = server.client(account=account)
        destination = api_destination(events, receiver.url + "/hook", "hook")
        events.put_rule(Name="all", EventPattern='{"source": ["com.example.shop"]}')
        events.put_targets(Rule="all", Targets=[{"Id": "hook", "Arn": destination}])
        accepted: list[str] = []
        for start in range(0, 60, 10):
            entries = [
                {"Source": "com.example.shop", "DetailType": "Order", "Detail": json.dumps({"n": n})}
                for n in range(start, start + 10)
            ]
            result = events.put_events(Entries=entries)
            assert result["FailedEntryCount"] == 0
            accepted += [e["EventId"] for e in result["Entries"]]
        receiver.wait_for("/hook", 1)  # delivery has begun
        server.kill()  # SIGKILL: no shutdown, no flush
        assert len(receiver.at("/hook")) < len(accepted)

        receiver.default("/hook", Reply(200))
        server.start()
        # Deliveries the dead process held are leased to it: a shared store frees them when the lease ends.
        server.advance_clock(61)

        def delivered() -> set[str]:
            return {request.json()["id"] for request in receiver.at("/hook")}

        try:
            wait_for(lambda: delivered() >= set(accepted), timeout=30, what="every accepted event delivered")
        except AssertionError:
            missing = sorted(set(accepted) - delivered())
            records = [deliveries_of(server, event_id) for event_id in missing[:3]]
            raise AssertionError(
                f"{len(missing)} accepted events not delivered; their records: {records}\n{server.log()}"
            ) from None
        assert delivered() == set(accepted)  # at least once each, and nothing that was not accepted
    finally:
        server.stop()
