"""A small, cheap HTTP/1.1 load generator for the PutEvents benchmarks: raw asyncio connections (keep-alive,
reconnecting when the server closes), pre-built requests, per-request latency. Loopback only.

It sends what boto3 sends (`X-Amz-Target`, the JSON 1.1 content type, a SigV4-shaped Authorization header
whose access key id names the account) but does not compute signatures: neither server checks them, and
signing would only make the client, not the servers, slower.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import orjson


def put_events_request(host: str, port: int, body: bytes, account: str = "111111111111") -> bytes:
    """A PutEvents request for `account` (moto reads the account from x-moto-account-id; Eventyard from the
    access key id in the Authorization header)."""
    head = (
        "POST / HTTP/1.1\r\n"
        f"Host: {host}:{port}\r\n"
        "Content-Type: application/x-amz-json-1.1\r\n"
        "X-Amz-Target: AWSEvents.PutEvents\r\n"
        "X-Amz-Date: 20260101T000000Z\r\n"
        f"X-Moto-Account-Id: {account}\r\n"
        f"Authorization: AWS4-HMAC-SHA256 Credential={account}/20260101/us-east-1/events/aws4_request, "
        "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=0\r\n"
        f"Content-Length: {len(body)}\r\n"
        "\r\n"
    )
    return head.encode() + body


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)  # seconds, one per answered request
    sent_at: list[float] = field(default_factory=list)  # time.perf_counter() when each request was written
    accepted_events: int = 0
    failed_entries: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    elapsed: float = 0.0

    def error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1

    def percentile(self, p: float) -> float:
        return percentile(self.latencies, p)


def percentile(values: Sequence[float], p: float) -> float:
    """The `p`th percentile of `values` (nearest rank), NaN if there are none."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = 0
    close = lines[0].startswith("HTTP/1.0")
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "connection":
            close = value.strip().lower() == "close"
    body = await reader.readexactly(length) if length else b""
    return status, body, close


async def run(
    host: str,
    port: int,
    requests: Sequence[bytes],
    entries_per_request: int,
    *,
    connections: int = 8,
    duration: float = 10.0,
    rate: float | None = None,
    on_answer: Callable[[int, float, bytes], None] | None = None,
) -> Result:
    """Send `requests` round-robin on `connections` keep-alive connections for `duration` seconds, each
    connection waiting for its answer before the next request (closed loop), or paced to `rate` requests
    per second in all. `on_answer(index, sent_at, body)` sees every successful answer."""
    result = Result()
    started = time.perf_counter()
    deadline = started + duration
    counter = iter(range(10**12))
    interval = connections / rate if rate else 0.0

    async def connection(slot: int) -> None:
        reader: asyncio.StreamReader | None = None
        writer: asyncio.StreamWriter | None = None
        next_send = started + (slot * interval / connections if interval else 0.0)
        while True:
            now = time.perf_counter()
            if now >= deadline:
                break
            if interval:
                if next_send > now:
                    await asyncio.sleep(next_send - now)
                next_send += interval
            index = next(counter)
            request = requests[index % len(requests)]
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(host, port)
                assert reader is not None
                sent = time.perf_counter()
                writer.write(request)
                status, body, close = await _read_response(reader)
                answered = time.perf_counter()
            except (OSError, asyncio.IncompleteReadError) as failure:
                result.error(type(failure).__name__)
                if writer is not None:
                    writer.close()
                reader = writer = None
                continue
            if close:
                writer.close()
                reader = writer = None
            if status != 200:
                result.error(f"HTTP {status}")
                continue
            result.latencies.append(answered - sent)
            result.sent_at.append(sent)
            failed = orjson.loads(body).get("FailedEntryCount", 0)
            result.failed_entries += failed
            result.accepted_events += entries_per_request - failed
            if on_answer is not None:
                on_answer(index, sent, body)
        if writer is not None:
            writer.close()

    await asyncio.gather(*(connection(slot) for slot in range(connections)))
    result.elapsed = time.perf_counter() - started
    return result


def rss_mb(pid: int) -> float:
    """Resident memory of a process, from /proc (Linux)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used, from /proc (Linux)."""
    import os

    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
