"""Settings from command-line flags and EVENTYARD_* environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from eventyard.core.envelope import DEFAULT_MAX_ENTRY_SIZE

DEFAULT_STORE_DIR = Path(".eventyard")


@dataclass
class Config:
    host: str = "127.0.0.1"
    port: int = 4010
    store: str = ""  # empty: a SQLite file under ./.eventyard/
    default_account: str = "123456789012"
    default_region: str = "us-east-1"
    max_entry_size: int = DEFAULT_MAX_ENTRY_SIZE  # summed over a request's entries, as AWS counts
    aws_endpoint_url: str | None = None
    aws_endpoints: dict[str, str] = field(default_factory=dict)
    retry_base_seconds: float = 1.0
    api_destination_timeout: float = 5.0  # AWS's client execution timeout for API destinations
    test_clock: bool = False
    log_level: str = "info"
    node_id: str = ""
    partner_source_pending_days: float = 7.0
    partner_source_deactivated_days: float = 14.0
    delivery_workers: int = 256  # invocations this node makes at once, in all
    delivery_target_concurrency: int = 64  # ... and per target ARN, so one slow target cannot take them all
    delivery_lease_seconds: float = 60.0  # a node that dies holding deliveries: others take them after this
    delivery_retention_seconds: float = 86400.0  # finished deliveries and their events are kept this long

    def store_url(self) -> str:
        if self.store:
            return self.store
        return f"sqlite:///{(DEFAULT_STORE_DIR / 'eventyard.db').resolve()}"


class ConfigError(ValueError):
    """A setting that cannot be used (an EVENTYARD_* variable read outside the command line's parser):
    `eventyard serve` reports it in one line and exits with status 2."""


def env_number(name: str, default: float, minimum: float = 0.0) -> float:
    """EVENTYARD_<name> as a finite number above `minimum`, or `default` when unset or empty."""
    text = env(name)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (minimum < value < float("inf")):  # NaN fails too
        raise ConfigError(f"EVENTYARD_{name}: expected a number greater than {minimum:g}, got {text!r}")
    return value


def env(name: str, default: str | None = None) -> str | None:
    """EVENTYARD_<name>, or `default` when it is unset or empty (`EVENTYARD_PORT= eventyard serve`)."""
    return os.environ.get(f"EVENTYARD_{name}") or default
