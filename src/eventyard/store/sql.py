"""The resource queries, written once for both stores in portable SQL with `?` placeholders.

A store's transaction subclasses `SqlTx` and supplies `execute` (and, for PostgreSQL, byte-order collation);
everything else about resources is the same SQL on SQLite and PostgreSQL.
"""

from __future__ import annotations

import abc
from typing import Any

import orjson

from eventyard.store.base import Conflict, Doc, Tx

_KEY = "kind=? AND account=? AND region=? AND parent=? AND name=?"
_INSERT = "INSERT INTO resources (kind, account, region, parent, name, ref, doc) VALUES (?,?,?,?,?,?,?)"


def load(text: str | bytes) -> Doc:
    return orjson.loads(text)  # type: ignore[no-any-return]


def dump(doc: Doc) -> str:
    return orjson.dumps(doc).decode()


class SqlTx(Tx):
    """Tx over the `resources` table; subclasses run the statements."""

    # Appended to ORDER BY and comparisons on names: byte order on both stores (PostgreSQL: COLLATE "C").
    BYTES = ""

    @abc.abstractmethod
    async def execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Run one statement (placeholders `?`) in this transaction; its rows, or [] if it returns none."""

    async def get(self, kind: str, account: str, region: str, name: str, parent: str = "") -> Doc | None:
        rows = await self.execute(
            f"SELECT doc FROM resources WHERE {_KEY}", (kind, account, region, parent, name)
        )
        return load(rows[0][0]) if rows else None

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
        # ON CONFLICT DO NOTHING rather than catching a unique violation: on PostgreSQL an error would abort the
        # transaction, and callers may carry on after a Conflict.
        rows = await self.execute(
            f"{_INSERT} ON CONFLICT DO NOTHING RETURNING 1",
            (kind, account, region, parent, name, ref, dump(doc)),
        )
        if not rows:
            raise Conflict(f"{kind} {account}/{region}/{parent}/{name} exists")

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
        await self.execute(
            f"{_INSERT} ON CONFLICT (kind, account, region, parent, name) "
            "DO UPDATE SET ref=excluded.ref, doc=excluded.doc",
            (kind, account, region, parent, name, ref, dump(doc)),
        )

    async def delete(self, kind: str, account: str, region: str, name: str, parent: str = "") -> bool:
        rows = await self.execute(
            f"DELETE FROM resources WHERE {_KEY} RETURNING 1", (kind, account, region, parent, name)
        )
        return bool(rows)

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
        sql = "SELECT doc FROM resources WHERE kind=? AND account=? AND region=?"
        params: list[Any] = [kind, account, region]
        if parent is not None:
            sql += " AND parent=?"
            params.append(parent)
        if prefix:
            sql += " AND substr(name, 1, ?) = ?"
            params += [len(prefix), prefix]
        if after is not None:
            sql += f" AND name{self.BYTES} > ?"
            params.append(after)
        sql += f" ORDER BY parent{self.BYTES}, name{self.BYTES}"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [load(row[0]) for row in await self.execute(sql, tuple(params))]

    async def count(self, kind: str, account: str, region: str, parent: str | None = "") -> int:
        sql = "SELECT count(*) FROM resources WHERE kind=? AND account=? AND region=?"
        params: tuple[Any, ...] = (kind, account, region)
        if parent is not None:
            sql += " AND parent=?"
            params += (parent,)
        return int((await self.execute(sql, params))[0][0])

    async def by_ref(self, kind: str, region: str, ref: str) -> list[tuple[str, Doc]]:
        rows = await self.execute(
            f"SELECT account, doc FROM resources WHERE kind=? AND region=? AND ref=? ORDER BY name{self.BYTES}",
            (kind, region, ref),
        )
        return [(row[0], load(row[1])) for row in rows]

    async def everywhere(self, kind: str, parent: str = "") -> list[tuple[str, str, Doc]]:
        rows = await self.execute(
            "SELECT account, region, doc FROM resources WHERE kind=? AND parent=? "
            f"ORDER BY account{self.BYTES}, region{self.BYTES}, name{self.BYTES}",
            (kind, parent),
        )
        return [(row[0], row[1], load(row[2])) for row in rows]

    async def find(self, kind: str, region: str, name: str, parent: str = "") -> list[tuple[str, Doc]]:
        rows = await self.execute(
            "SELECT account, doc FROM resources WHERE kind=? AND region=? AND parent=? AND name=? "
            f"ORDER BY account{self.BYTES}",
            (kind, region, parent, name),
        )
        return [(row[0], load(row[1])) for row in rows]
