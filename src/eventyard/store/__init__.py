"""Stores: where resources, events and the delivery outbox live."""

from __future__ import annotations

from eventyard.store.base import Store


def store_kind(url: str) -> str:
    """Which store `url` names: `memory`, `sqlite` or `postgresql` (ValueError if none)."""
    if url == "memory":
        return "memory"
    if url.startswith("sqlite://"):
        return "sqlite"
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql"
    raise ValueError(f"unsupported store URL: {url!r} (use memory, sqlite:///path or postgresql://...)")


def open_store(url: str) -> Store:
    """A store for `url`: `memory`, `sqlite:///path/to.db`, or `postgresql://...`."""
    kind = store_kind(url)
    if kind == "memory":
        from eventyard.store.sqlite import SqliteStore

        return SqliteStore(":memory:")
    if kind == "sqlite":
        from eventyard.store.sqlite import SqliteStore

        # As in SQLAlchemy: sqlite:///relative/path.db and sqlite:////absolute/path.db
        return SqliteStore(url.removeprefix("sqlite:///") or ":memory:")
    from eventyard.store.postgres import PostgresStore  # type: ignore[import-not-found]

    return PostgresStore(url)
