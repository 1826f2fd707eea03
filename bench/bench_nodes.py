"""Benchmark: PutEvents throughput and latency with one node on SQLite, one node on PostgreSQL and two nodes
on one PostgreSQL database.

The load is the delivery benchmark's (bench/put_events.py): a custom bus with 100 rules, each matching one
`kind` of order event and targeting a second bus, so every event matches exactly one rule; 8 keep-alive
connections send PutEvents requests of 10 entries each, closed loop, for a fixed time. With two nodes the 8
connections are split 4 and 4, as a load balancer would. Every node answers only after the events and their
deliveries are committed (SQLite: WAL, synchronous=FULL; PostgreSQL: fsync and synchronous_commit on); the
delivery to the second bus, of the same account, is made in that commit.

PostgreSQL is a throwaway cluster (tests/pgserver.py, durable settings) on this machine, unless
EVENTYARD_BENCH_PG_URL names a server whose role may create databases.

    .venv/bin/python bench/bench_nodes.py [--seconds 15] [--rules 100] [--connections 8]

Besides events/s and latency it prints the CPU each process used (100% = one core), which is what shows
the bottleneck. The scenarios take turns for --rounds rounds (each on a new, empty database) and the summary
gives each one's median, so that a machine whose other load drifts affects all of them alike.
Loopback only; each run is bounded by its --seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from tests import pgserver  # noqa: E402

from _load import Result, cpu_seconds, put_events_request, run  # noqa: E402
from _servers import Server, eventyard, metric_total  # noqa: E402
from put_events import ACCOUNT, bodies, setup  # noqa: E402


def postgres_pids(cluster: pgserver.PgCluster | None) -> list[int]:
    """The postmaster and its children (backends, WAL writer, checkpointer ...) of our own cluster."""
    if cluster is None or cluster.root is None:
        return []
    pid_file = cluster.data / "postmaster.pid"
    postmaster = int(pid_file.read_text().split()[0])
    children = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    if int(stat.read().rsplit(")", 1)[1].split()[1]) == postmaster:
                        children.append(int(entry))
            except (OSError, ValueError, IndexError):
                pass
    return [postmaster, *children]


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat (all cores)."""
    with open("/proc/stat") as stat:
        fields = [float(x) for x in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    ticks = os.sysconf("SC_CLK_TCK")
    return (sum(fields) - idle) / ticks, sum(fields) / ticks


def cpu_of(pids: list[int]) -> dict[int, float]:
    found = {}
    for pid in pids:
        try:
            found[pid] = cpu_seconds(pid)
        except OSError:
            pass  # gone
    return found


async def load(nodes: list[Server], rules: int, seconds: float, connections: int) -> Result:
    """The same closed-loop load, its connections spread over the nodes; one combined result."""
    share = [connections // len(nodes) + (i < connections % len(nodes)) for i in range(len(nodes))]
    runs = []
    for server, count in zip(nodes, share, strict=True):
        requests = [put_events_request("127.0.0.1", server.port, body, ACCOUNT) for body in bodies(rules)]
        runs.append(run("127.0.0.1", server.port, requests, 10, connections=count, duration=seconds))
    results = await asyncio.gather(*runs)
    combined = Result()
    for result in results:
        combined.latencies += result.latencies
        combined.accepted_events += result.accepted_events
        combined.failed_entries += result.failed_entries
        for what, n in result.errors.items():
            combined.errors[what] = combined.errors.get(what, 0) + n
        combined.elapsed = max(combined.elapsed, result.elapsed)
    return combined


def commits_and_wal(store: str) -> tuple[int, int]:
    """(transactions committed in the store's database, WAL bytes written by the whole cluster) so far."""
    import psycopg

    with psycopg.connect(store, autocommit=True) as conn:
        row = conn.execute(
            "SELECT xact_commit, pg_current_wal_lsn() - '0/0'::pg_lsn FROM pg_stat_database "
            "WHERE datname = current_database()"
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def scenario(
    name: str,
    stores: list[str],
    workdir: Path,
    args: argparse.Namespace,
    cluster: pgserver.PgCluster | None = None,
) -> dict[str, object]:
    nodes = [
        eventyard(workdir, "--node-id", f"node-{i}", store=store, name=f"node-{i}")
        for i, store in enumerate(stores)
    ]
    try:
        for server in nodes:
            server.start()
        setup(nodes[0], args.rules)
        time.sleep(0.5)  # the other nodes hear of the new rules (LISTEN/NOTIFY) well within this
        asyncio.run(load(nodes, args.rules, min(3.0, args.seconds), args.connections))  # warm-up
        pg = postgres_pids(cluster)
        before = {server.name: cpu_seconds(server.pid) for server in nodes}
        postgres = stores[0] if stores[0].startswith("postgresql") else None
        commits_before = commits_and_wal(postgres) if postgres else (0, 0)
        pg_before, me_before, machine_before = cpu_of(pg), time.process_time(), machine_busy()
        result = asyncio.run(load(nodes, args.rules, args.seconds, args.connections))
        commits_after = commits_and_wal(postgres) if postgres else (0, 0)
        cpu = {
            n: round(100 * (cpu_seconds(s.pid) - before[n]) / result.elapsed)
            for n, s in zip(before, nodes, strict=True)
        }
        machine_after = machine_busy()
        pg_after = cpu_of(postgres_pids(cluster))
        pg_cpu = sum(pg_after[p] - pg_before.get(p, 0.0) for p in pg_after)
        accepted = sum(
            metric_total(s, "eventyard_put_events_entries_total", event_bus="bench") for s in nodes
        )
        row: dict[str, object] = {
            "scenario": name,
            "events_per_second": round(result.accepted_events / result.elapsed),
            "requests": len(result.latencies),
            "p50_ms": round(result.percentile(50) * 1000, 2),
            "p99_ms": round(result.percentile(99) * 1000, 2),
            "failed_entries": result.failed_entries,
            "errors": result.errors,
            "cpu_percent": {
                **cpu,
                **({"postgresql": round(100 * pg_cpu / result.elapsed)} if cluster is not None else {}),
                "load generator": round(100 * (time.process_time() - me_before) / result.elapsed),
            },
            # Everything the machine's cores did meanwhile (ours, the kernel's network stack, anyone else's),
            # 100% per core: what is left of it is what a second node could still use.
            "machine_cpu_percent": round(100 * (machine_after[0] - machine_before[0]) / result.elapsed),
            "cores": os.cpu_count(),
            "accepted_in_all": int(accepted),
        }
        if postgres:
            commits = commits_after[0] - commits_before[0]
            row["commits_per_second"] = round(commits / result.elapsed)
            row["events_per_commit"] = round(result.accepted_events / max(1, commits), 1)
            row["wal_bytes_per_event"] = round(
                (commits_after[1] - commits_before[1]) / max(1, result.accepted_events)
            )
        print(json.dumps(row), flush=True)
        return row
    finally:
        for server in nodes:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=15.0, help="measured time per scenario and round")
    parser.add_argument("--rounds", type=int, default=3, help="the scenarios take turns this many times")
    parser.add_argument("--rules", type=int, default=100)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--only", choices=["sqlite", "pg1", "pg2"], action="append", help="run only these")
    parser.add_argument(
        "--pg-setting", action="append", default=[], metavar="NAME=VALUE", help="for the throwaway cluster"
    )
    parser.add_argument(
        "--commit-delay",
        type=int,
        default=0,
        help="PostgreSQL's commit_delay in microseconds (with commit_siblings=1) for the throwaway cluster",
    )
    args = parser.parse_args()
    wanted = args.only or ["sqlite", "pg1", "pg2"]
    names = {"sqlite": "sqlite, 1 node", "pg1": "postgresql, 1 node", "pg2": "postgresql, 2 nodes"}
    rows: dict[str, list[dict[str, object]]] = {names[w]: [] for w in wanted}
    cluster: pgserver.PgCluster | None = None
    server_url = os.environ.get("EVENTYARD_BENCH_PG_URL")
    try:
        if not server_url and {"pg1", "pg2"} & set(wanted):
            settings = (
                {"commit_delay": str(args.commit_delay), "commit_siblings": "1"} if args.commit_delay else {}
            )
            settings |= dict(setting.split("=", 1) for setting in args.pg_setting)
            cluster = pgserver.PgCluster(durable=True, max_connections=100, settings=settings).start()
            server_url = cluster.url
        for _ in range(args.rounds):
            for which in wanted:
                with tempfile.TemporaryDirectory(prefix="eventyard-bench-nodes-") as work:
                    workdir = Path(work)
                    if which == "sqlite":
                        stores = [f"sqlite:///{workdir / 'bench.db'}"]
                    else:
                        assert server_url is not None
                        stores = [pgserver.create_database(server_url)] * (2 if which == "pg2" else 1)
                    rows[names[which]].append(scenario(names[which], stores, workdir, args, cluster))
                    if which != "sqlite":
                        pgserver.drop_database(server_url or "", stores[0])
    finally:
        if cluster is not None:
            cluster.destroy()
    summary = {}
    for name, runs in rows.items():
        summary[name] = {
            "events_per_second": round(statistics.median(float(r["events_per_second"]) for r in runs)),  # type: ignore[arg-type]
            "p99_ms": round(statistics.median(float(r["p99_ms"]) for r in runs), 1),  # type: ignore[arg-type]
            "runs": [r["events_per_second"] for r in runs],
        }
    one, two = summary.get(names["pg1"]), summary.get(names["pg2"])
    if one and two:
        summary["two_nodes_over_one_on_postgresql"] = round(
            float(two["events_per_second"]) / max(1.0, float(one["events_per_second"])),
            2,  # type: ignore[arg-type]
        )
    print(json.dumps({"median": summary}), flush=True)


if __name__ == "__main__":
    main()
