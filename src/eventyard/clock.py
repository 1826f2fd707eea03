"""Time and ids, injected so that schedules, retries, retention and expiry are tested without sleeping."""

from __future__ import annotations

import time
import uuid


class Clock:
    """Wall-clock UTC time, optionally shifted: tests move it forward instead of waiting."""

    def __init__(self, offset_seconds: float = 0.0) -> None:
        self.offset_seconds = offset_seconds

    def time(self) -> float:
        return time.time() + self.offset_seconds

    def advance(self, seconds: float) -> None:
        self.offset_seconds += seconds


def new_id() -> str:
    return str(uuid.uuid4())
