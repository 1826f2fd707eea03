"""Shared fixtures: one real server per test session (per xdist worker), one fresh account per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures_aws import moto_server, receiver  # noqa: F401  (shared stand-ins for AWS and HTTP)
from tests.support import ServerProcess, new_account


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    path: Path = tmp_path_factory.mktemp("store") / "eventyard.db"
    process = ServerProcess(f"sqlite:///{path}").start()
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
