"""Event ids: UUID-shaped like AWS's, but time-ordered (the UUIDv7 layout of RFC 9562), so that the store's
index of event ids grows at its end instead of scattering writes over the whole index."""

from __future__ import annotations

import random
import threading
import time

_lock = threading.Lock()
_last_ms = 0
_sequence = 0


def new_event_id() -> str:
    """`xxxxxxxx-xxxx-7xxx-yxxx-xxxxxxxxxxxx`: 48 bits of Unix milliseconds, a 12-bit sequence keeping ids of
    one millisecond in order, and 62 random bits. Clients treat event ids as opaque text, as AWS's own (not
    all version 4) show they must."""
    global _last_ms, _sequence
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms > _last_ms:
            _last_ms, _sequence = ms, random.getrandbits(10)  # leave room for more in this millisecond
        else:
            _sequence += 1
            if _sequence > 0xFFF:
                _last_ms, _sequence = _last_ms + 1, 0
        value = (_last_ms << 80) | (0x7 << 76) | (_sequence << 64) | (0b10 << 62) | random.getrandbits(62)
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
