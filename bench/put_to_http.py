"""Benchmark: from PutEvents to an HTTP target, at a steady 1,000 events per second.

Eventyard (SQLite, durable) has one rule matching every event, whose target is an API destination pointing
at an HTTP receiver run by this script on 127.0.0.1. The script sends 100 PutEvents requests of 10 entries per
second on 8 keep-alive connections and notes, for every accepted event id, when its request was sent; the
receiver notes when each event arrives. Reported: end-to-end latency (request sent -> event received),
whether every accepted event arrived (and duplicates), PutEvents latency, and the server's memory and CPU.

    .venv/bin/python bench/put_to_http.py [--seconds 20] [--rate 1000]

Loopback only; bounded by --seconds plus at most 60 s for the last deliveries.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _load import cpu_seconds, percentile, put_events_request, rss_mb, run
from _servers import eventyard

ACCOUNT = "111111111111"


class Receiver(asyncio.Protocol):
    """A minimal HTTP/1.1 endpoint: records (event id, arrival time) of each POSTed event, answers 200."""

    arrivals: list[tuple[str, float]] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            length = 0
            for line in self.buffer[:head_end].split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            end = head_end + 4 + length
            if len(self.buffer) < end:
                return
            body, self.buffer = self.buffer[head_end + 4 : end], self.buffer[end:]
            Receiver.arrivals.append((orjson.loads(body)["id"], time.perf_counter()))
            self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")  # type: ignore[attr-defined]


async def bench(seconds: float, rate: float, connections: int, flags: list[str]) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Receiver, "127.0.0.1", 0)
    receiver_port = server.sockets[0].getsockname()[1]
    with tempfile.TemporaryDirectory(prefix="eventyard-bench-") as work:
        ours = eventyard(Path(work), *flags).start()
        try:
            client = ours.client(account=ACCOUNT)
            connection = client.create_connection(
                Name="receiver",
                AuthorizationType="API_KEY",
                AuthParameters={"ApiKeyAuthParameters": {"ApiKeyName": "x-api-key", "ApiKeyValue": "bench"}},
            )["ConnectionArn"]
            destination = client.create_api_destination(
                Name="receiver",
                ConnectionArn=connection,
                InvocationEndpoint=f"http://127.0.0.1:{receiver_port}/events",
                HttpMethod="POST",
                InvocationRateLimitPerSecond=int(rate * 4),
            )["ApiDestinationArn"]
            client.put_rule(Name="all", EventPattern='{"source": ["bench.orders"]}')
            client.put_targets(Rule="all", Targets=[{"Id": "receiver", "Arn": destination}])

            bodies = []
            for r in range(200):
                entries = [
                    {
                        "Source": "bench.orders",
                        "DetailType": "OrderPlaced",
                        "Detail": json.dumps({"order": r * 10 + i, "note": "x" * 80}),
                    }
                    for i in range(10)
                ]
                bodies.append(json.dumps({"Entries": entries}).encode())
            requests = [put_events_request("127.0.0.1", ours.port, body, ACCOUNT) for body in bodies]
            sent_at: dict[str, float] = {}

            def answered(index: int, sent: float, body: bytes) -> None:
                for entry in orjson.loads(body)["Entries"]:
                    if "EventId" in entry:
                        sent_at[entry["EventId"]] = sent

            # Warm up (not counted), then the measured run.
            await run(
                "127.0.0.1", ours.port, requests, 10, connections=connections, duration=2, rate=rate / 10
            )
            await asyncio.sleep(1)
            Receiver.arrivals = []
            rss_peak = 0.0

            async def sample_memory() -> None:
                nonlocal rss_peak
                while True:
                    rss_peak = max(rss_peak, rss_mb(ours.pid))
                    await asyncio.sleep(0.5)

            sampler = asyncio.create_task(sample_memory())
            cpu_before = cpu_seconds(ours.pid)
            result = await run(
                "127.0.0.1",
                ours.port,
                requests,
                10,
                connections=connections,
                duration=seconds,
                rate=rate / 10,
                on_answer=answered,
            )
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if {event_id for event_id, _ in Receiver.arrivals} >= set(sent_at):
                    break
                await asyncio.sleep(0.2)
            cpu = cpu_seconds(ours.pid) - cpu_before
            sampler.cancel()
            first_arrival: dict[str, float] = {}
            for event_id, at in Receiver.arrivals:
                first_arrival.setdefault(event_id, at)
            latencies = [first_arrival[e] - sent for e, sent in sent_at.items() if e in first_arrival]
            copies = Counter(event_id for event_id, _ in Receiver.arrivals if event_id in sent_at)
            print(
                json.dumps(
                    {
                        "server": "eventyard (sqlite, durable) -> API destination on 127.0.0.1",
                        "target_rate_events_per_second": rate,
                        "accepted_events": len(sent_at),
                        "achieved_events_per_second": round(len(sent_at) / result.elapsed),
                        "delivered": len(first_arrival.keys() & sent_at.keys()),
                        "missing": len(sent_at.keys() - first_arrival.keys()),
                        "duplicates": sum(n - 1 for n in copies.values()),
                        "end_to_end_p50_ms": round(percentile(latencies, 50) * 1000, 2),
                        "end_to_end_p99_ms": round(percentile(latencies, 99) * 1000, 2),
                        "end_to_end_max_ms": round(max(latencies, default=float("nan")) * 1000, 2),
                        "put_events_p50_ms": round(result.percentile(50) * 1000, 2),
                        "put_events_p99_ms": round(result.percentile(99) * 1000, 2),
                        "errors": result.errors,
                        "server_rss_peak_mb": round(rss_peak),
                        "server_cpu_percent": round(100 * cpu / result.elapsed),
                    }
                ),
                flush=True,
            )
        finally:
            ours.stop()
            server.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=float, default=1000.0, help="events per second (10 per request)")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument(
        "--eventyard-flags", default="", help="extra flags for eventyard serve, e.g. '--delivery-workers 64'"
    )
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(bench(args.seconds, args.rate, args.connections, args.eventyard_flags.split()))


if __name__ == "__main__":
    main()
