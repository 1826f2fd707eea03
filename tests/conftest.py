"""Shared fixtures: one real server per store per test session (per xdist worker), one fresh account per test.

Tests that use `server` (or `store_kind`, `new_store_url`) run once per store: SQLite and PostgreSQL
(tests/pg_fixture.py; EVENTYARD_TEST_STORES=sqlite for SQLite alone).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures_aws import moto_server, receiver  # noqa: F401  (shared stand-ins for AWS and HTTP)
from tests.pgserver import selected_stores
from tests.support import ServerProcess, new_account

pytest_plugins = ["tests.pg_fixture"]


@pytest.fixture(scope="session", params=selected_stores())
def store_kind(request: pytest.FixtureRequest) -> str:
    """`sqlite` or `postgresql`: tests that depend on it run once for each."""
    return str(request.param)


@pytest.fixture(scope="session")
def new_store_url(
    store_kind: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Callable[[], str]:
    """Make the URL of a new, empty store of the kind under test."""

    def make() -> str:
        if store_kind == "postgresql":
            return str(request.getfixturevalue("pg_database")())
        path: Path = tmp_path_factory.mktemp("store") / "eventyard.db"
        return f"sqlite:///{path}"

    return make


@pytest.fixture(scope="session")
def server(new_store_url: Callable[[], str]) -> Iterator[ServerProcess]:
    process = ServerProcess(new_store_url()).start()
    yield process
    process.stop()


@pytest.fixture
def account() -> str:
    return new_account()


@pytest.fixture
def events(server: ServerProcess, account: str) -> Any:
    """A boto3 `events` client for a fresh account, in us-east-1."""
    return server.client(account=account)


@pytest.fixture
def client_for(server: ServerProcess) -> Callable[..., Any]:
    """Make more clients: `client_for(account, region="eu-west-1")`."""

    def make(account: str | None = None, region: str = "us-east-1", service: str = "events") -> Any:
        return server.client(service, account=account or new_account(), region=region)

    return make
