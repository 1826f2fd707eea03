"""The Store interface that operations use; SQLite and PostgreSQL implement it and pass one test suite.

Resources are JSON documents keyed by (kind, account, region, parent, name). Every operation runs in one
transaction: `async with store.transaction() as tx: ...` commits on success and rolls back on error.
"""

from __future__ import annotations

import abc
import re
from contextlib import AbstractAsyncContextManager
from importlib import resources as importlib_resources
from typing import Any

Doc = dict[str, Any]


class Conflict(Exception):
    """An insert hit an existing key."""


class StoreUnavailable(Exception):
    """The database cannot be reached; the request fails with InternalException and is not half-applied."""


class Tx(abc.ABC):
    """One transaction. Methods are async so that a networked store can implement them."""

    @abc.abstractmethod
    async def get(self, kind: str, account: str, region: str, name: str, parent: str = "") -> Doc | None: ...

    @abc.abstractmethod
    async def insert(
        self,
        kind: str,
        account: str,
        region: str,
        name: str,
        doc: Doc,
        parent: str = "",
        ref: str | None = None,
    ) -> None:
        """Add a new resource; raise Conflict if the key exists."""

    @abc.abstractmethod
    async def put(
        self,
        kind: str,
        account: str,
        region: str,
        name: str,
        doc: Doc,
        parent: str = "",
        ref: str | None = None,
    ) -> None:
        """Insert or replace."""

    @abc.abstractmethod
    async def delete(self, kind: str, account: str, region: str, name: str, parent: str = "") -> bool: ...

    @abc.abstractmethod
    async def list(
        self,
        kind: str,
        account: str,
        region: str,
        parent: str | None = "",
        prefix: str | None = None,
        after: str | None = None,
        limit: int | None = None,
    ) -> list[Doc]:
        """Resources ordered by (parent, name); `parent=None` lists across parents."""

    @abc.abstractmethod
    async def count(self, kind: str, account: str, region: str, parent: str | None = "") -> int: ...

    @abc.abstractmethod
    async def by_ref(self, kind: str, region: str, ref: str) -> list[tuple[str, Doc]]:
        """(account, doc) of resources whose `ref` is `ref`, in any account, ordered by name."""

    @abc.abstractmethod
    async def find(self, kind: str, region: str, name: str, parent: str = "") -> list[tuple[str, Doc]]:
        """(account, doc) of resources with this name in any account of the region."""


class Store(abc.ABC):
    @abc.abstractmethod
    async def open(self) -> None:
        """Connect and apply pending migrations (safe when several nodes start at once)."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[Tx]: ...


def migrations() -> list[tuple[int, str]]:
    """The versioned migrations shipped in the package, in order, as (version, SQL)."""
    folder = importlib_resources.files("eventyard.store") / "migrations"
    found = []
    for entry in folder.iterdir():
        match = re.fullmatch(r"(\d+)_.*\.sql", entry.name)
        if match:
            found.append((int(match.group(1)), entry.read_text()))
    return sorted(found)


def split_statements(sql: str) -> list[str]:
    lines = [line for line in sql.splitlines() if not line.strip().startswith("--")]
    return [statement.strip() for statement in "\n".join(lines).split(";") if statement.strip()]
