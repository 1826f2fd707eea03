"""The PostgreSQL the tests run against (a pytest plugin, loaded by tests/conftest.py).

By default the pytest process (the xdist controller, before any worker starts) creates a throwaway cluster
with tests.pgserver, exports its URL as EVENTYARD_TEST_PG_URL for the workers, and removes it at the end.
To use a server of your own instead, set EVENTYARD_TEST_PG_URL to a URL whose role may CREATE DATABASE;
the tests make (and drop) their own databases in it. EVENTYARD_TEST_STORES=sqlite runs without PostgreSQL.
See docs/postgresql.md.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import pytest

from tests import pgserver

ENV_URL = pgserver.ENV_URL
ENV_STORES = pgserver.ENV_STORES
selected_stores = pgserver.selected_stores


def pytest_configure(config: pytest.Config) -> None:
    if "postgresql" not in selected_stores() or os.environ.get(ENV_URL):
        return
    # Under xdist only the controller gets here without the variable; workers inherit it from it.
    cluster = pgserver.PgCluster().start()
    config.stash[_CLUSTER] = cluster
    os.environ[ENV_URL] = cluster.url


def pytest_unconfigure(config: pytest.Config) -> None:
    cluster = config.stash.get(_CLUSTER, None)
    if cluster is not None:
        cluster.destroy()
        os.environ.pop(ENV_URL, None)


_CLUSTER = pytest.StashKey[pgserver.PgCluster]()

DatabaseFactory = Callable[[], str]


@pytest.fixture(scope="session")
def pg_server_url() -> str:
    """The URL of the test PostgreSQL server (its `postgres` database, for creating others)."""
    url = os.environ.get(ENV_URL)
    if not url:
        pytest.skip(f"PostgreSQL is not selected ({ENV_STORES}={os.environ.get(ENV_STORES)})")
    return url


@pytest.fixture(scope="session")
def pg_database(pg_server_url: str, request: pytest.FixtureRequest) -> Iterator[DatabaseFactory]:
    """Make empty databases on the test server: `pg_database()` returns a URL. All are dropped at the end."""
    made: list[str] = []
    worker = getattr(request.config, "workerinput", {}).get("workerid", "main")
    prefix = f"eventyard_{worker}_{uuid.uuid4().hex[:6]}"

    def make() -> str:
        url = pgserver.create_database(pg_server_url, f"{prefix}_{len(made)}")
        made.append(url)
        return url

    yield make
    for url in made:
        pgserver.drop_database(pg_server_url, url)
