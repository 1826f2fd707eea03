"""Benchmark: PutEvents throughput and latency, Eventyard (SQLite, durable) side by side with moto.

Each server gets the same setup: a custom bus with 100 rules, each matching one `kind` of order event and
targeting a second bus; every event matches exactly one rule. Then 8 keep-alive connections send PutEvents
requests of 10 entries each, as fast as the server answers (closed loop), for a fixed time. Eventyard answers
only once the events and their deliveries are committed to SQLite (WAL, synchronous=FULL); a bus of the same
account is delivered to in that commit (the second bus has no rules, so no copy of the event is stored there).

    .venv/bin/python bench/put_events.py [--seconds 15] [--moto-seconds 10] [--rules 100]

Loopback only; each run is bounded by its --seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _load import Result, cpu_seconds, put_events_request, rss_mb, run
from _servers import Server, eventyard, metric_total, moto

ACCOUNT = "111111111111"


def setup(server: Server, rules: int) -> None:
    client = server.client(account=ACCOUNT)
    client.create_event_bus(Name="bench")
    client.create_event_bus(Name="sink")
    sink = f"arn:aws:events:us-east-1:{ACCOUNT}:event-bus/sink"
    for i in range(rules):
        pattern = {
            "source": ["bench.orders"],
            "detail-type": ["OrderPlaced"],
            "detail": {"kind": [f"kind-{i}"]},
        }
        client.put_rule(Name=f"rule-{i}", EventBusName="bench", EventPattern=json.dumps(pattern))
        client.put_targets(Rule=f"rule-{i}", EventBusName="bench", Targets=[{"Id": "sink", "Arn": sink}])


def bodies(rules: int, count: int = 200, entries: int = 10) -> list[bytes]:
    made = []
    n = 0
    for _ in range(count):
        batch = []
        for _ in range(entries):
            detail = {"kind": f"kind-{n % rules}", "order": n, "customer": f"c-{n % 977}", "note": "x" * 80}
            batch.append(
                {
                    "Source": "bench.orders",
                    "DetailType": "OrderPlaced",
                    "Detail": json.dumps(detail),
                    "EventBusName": "bench",
                }
            )
            n += 1
        made.append(json.dumps({"Entries": batch}).encode())
    return made


def measure(server: Server, rules: int, seconds: float, connections: int) -> tuple[Result, float, float]:
    requests = [put_events_request("127.0.0.1", server.port, body, ACCOUNT) for body in bodies(rules)]
    asyncio.run(
        run("127.0.0.1", server.port, requests, 10, connections=connections, duration=min(2.0, seconds))
    )
    cpu_before = cpu_seconds(server.pid)
    result = asyncio.run(
        run("127.0.0.1", server.port, requests, 10, connections=connections, duration=seconds)
    )
    cpu = cpu_seconds(server.pid) - cpu_before
    return result, cpu, rss_mb(server.pid)


def report(name: str, result: Result, cpu: float, rss: float) -> dict[str, object]:
    rate = result.accepted_events / result.elapsed
    row = {
        "server": name,
        "events_per_second": round(rate),
        "requests": len(result.latencies),
        "p50_ms": round(result.percentile(50) * 1000, 2),
        "p99_ms": round(result.percentile(99) * 1000, 2),
        "max_ms": round(max(result.latencies, default=float("nan")) * 1000, 2),
        "failed_entries": result.failed_entries,
        "errors": result.errors,
        "server_cpu_percent": round(100 * cpu / result.elapsed),
        "server_rss_mb": round(rss),
    }
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=15.0, help="measured time for Eventyard")
    parser.add_argument("--moto-seconds", type=float, default=10.0, help="measured time for moto (0: skip)")
    parser.add_argument("--rules", type=int, default=100)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument(
        "--eventyard-flags", default="", help="extra flags for eventyard serve, e.g. '--delivery-workers 64'"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="eventyard-bench-") as work:
        workdir = Path(work)
        ours = eventyard(workdir, *args.eventyard_flags.split()).start()
        try:
            setup(ours, args.rules)
            result, cpu, rss = measure(ours, args.rules, args.seconds, args.connections)
            report("eventyard (sqlite, durable)", result, cpu, rss)
            accepted = metric_total(ours, "eventyard_put_events_entries_total", event_bus="bench")
            started = time.monotonic()
            delivered = 0.0
            while time.monotonic() - started < 120:
                delivered = metric_total(ours, "eventyard_invocations_total", event_bus="bench")
                if delivered >= accepted:
                    break
                time.sleep(0.5)
            print(
                json.dumps(
                    {
                        "eventyard_accepted_in_all": int(accepted),
                        "delivered_to_the_second_bus": int(delivered),
                        "seconds_to_finish_delivering_after_the_load": round(time.monotonic() - started, 1),
                    }
                ),
                flush=True,
            )
        finally:
            ours.stop()
        if args.moto_seconds > 0:
            theirs = moto(workdir).start()
            try:
                setup(theirs, args.rules)
                result, cpu, rss = measure(theirs, args.rules, args.moto_seconds, args.connections)
                report("moto (server mode, in memory)", result, cpu, rss)
            finally:
                theirs.stop()


if __name__ == "__main__":
    main()
