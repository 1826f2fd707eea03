"""The per-account quotas of connections and API destinations (3,000 each in AWS), with a lowered cap."""

from __future__ import annotations

import asyncio

import pytest

from eventyard.errors import AwsError
from eventyard.operations import api_destinations, connections
from tests.unit.target_world import world

BASIC = {"BasicAuthParameters": {"Username": "u", "Password": "p"}}


def test_quotas_refuse_one_more(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connections, "MAX_CONNECTIONS", 2)
    monkeypatch.setattr(api_destinations, "MAX_API_DESTINATIONS", 1)

    async def scenario() -> None:
        async with world() as w:
            first = await w.connection("one", "BASIC", BASIC)
            await w.connection("two", "BASIC", BASIC)
            with pytest.raises(AwsError) as caught:
                await w.connection("three", "BASIC", BASIC)
            assert caught.value.code == "LimitExceededException"
            assert "2 connections" in caught.value.message
            await w.destination("d1", first["ConnectionArn"], "https://example.com")
            with pytest.raises(AwsError) as caught:
                await w.destination("d2", first["ConnectionArn"], "https://example.com")
            assert caught.value.code == "LimitExceededException"

    asyncio.run(scenario())


def test_the_quotas_are_aws_defaults() -> None:
    assert connections.MAX_CONNECTIONS == 3000
    assert api_destinations.MAX_API_DESTINATIONS == 3000
