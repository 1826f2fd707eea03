"""Stores: where resources, events and the delivery outbox live."""

from __future__ import annotations

from eventyard.store.base import Store


def open_store(url: str) -> Store:
    """A store for `url`: `memory`, `sqlite:///path/to.db`, or `postgresql://...`."""
    if url == "memory":
        from eventyard.store.sqlite import SqliteStore

        return SqliteStore(":memory:")
    if url.startswith("sqlite://"):
        from eventyard.store.sqlite import SqliteStore

        # As in SQLAlchemy: sqlite:///relative/path.db and sqlite:////absolute/path.db
        return SqliteStore(url.removeprefix("sqlite:///") or ":memory:")
    if url.startswith(("postgresql://", "postgres://")):
        from eventyard.store.postgres import PostgresStore  # type: ignore[import-not-found]

        return PostgresStore(url)
    raise ValueError(f"unsupported store URL: {url!r} (use memory, sqlite:///path or postgresql://...)")
