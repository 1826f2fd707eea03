"""Event-pattern matching: Eventyard's RuleSet against moto's matcher, from 10 to 10,000 rules.

Run: ``.venv/bin/python bench/bench_patterns.py`` (about two minutes; ``--quick`` for a smaller run). See
bench/README.md for what it measures and the figures of a recorded run.

What is measured, per rule count:
- events/s matching *pre-parsed dicts* (what the server does: it matches the envelope dict it just built),
  and events/s including ``orjson.loads`` of the event's JSON text;
- time per event relative to the smallest rule set (the growth the index is meant to keep flat);
- at the largest rule set: latency of adding and of removing one rule, and the memory the rule set holds;
- moto's ``EventPattern`` on the same rules and events. moto evaluates every rule for every event (about
  30 ms per event at 1,000 rules), so it runs on a time-boxed sample of events and its events/s is
  extrapolated from that sample; the sample size is printed.

Timings are CPU time of this process (``time.process_time``), best of several rounds, so that other work
on a shared machine inflates them as little as possible; wall-clock figures are printed beside them.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import statistics
import sys
import time
import tracemalloc
import uuid
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from eventyard.patterns import RuleSet, matches

RULES_PER_SOURCE = 10  # default: each application (event source) has about this many rules
DETAIL_TYPES = ["Order Placed", "Order Paid", "Order Shipped", "Order Cancelled", "Refund Issued",
                "Customer Created", "Customer Updated", "Stock Low"]  # fmt: skip
STATUSES = ["placed", "paid", "shipped", "cancelled", "refunded", "pending"]
CURRENCIES = ["EUR", "USD", "GBP", "JPY"]
TIERS = ["gold", "silver", "bronze", "platinum"]
COUNTRIES = ["DE", "FR", "US", "GB", "JP", "IT"]
DOMAINS = ["example.com", "example.org", "mail.test"]
PERIODS = ["daily", "weekly", "adhoc"]


def source_name(index: int) -> str:
    return f"com.example.app{index:05d}"


def make_event(rnd: random.Random, sources: int) -> dict[str, Any]:
    """An EventBridge envelope of about 1 KB, from one of `sources` applications (10% unknown ones)."""
    source = (
        source_name(rnd.randrange(sources)) if rnd.random() < 0.9 else f"com.other.app{rnd.randrange(1000)}"
    )
    order = rnd.randrange(10**7)
    return {
        "version": "0",
        "id": str(uuid.UUID(int=rnd.getrandbits(128))),
        "detail-type": rnd.choice(DETAIL_TYPES),
        "source": source,
        "account": "111122223333",
        "time": f"2024-05-{rnd.randint(1, 28):02d}T{rnd.randint(0, 23):02d}:{rnd.randint(0, 59):02d}:00Z",
        "region": "eu-west-1",
        "resources": [f"arn:aws:shop:eu-west-1:111122223333:order/{order}"],
        "detail": {
            "orderId": f"ord-{order}",
            "status": rnd.choice(STATUSES),
            "total": round(rnd.uniform(1, 1000), 2),
            "currency": rnd.choice(CURRENCIES),
            "customer": {
                "id": f"cust-{rnd.randrange(10**6)}",
                "tier": rnd.choice(TIERS),
                "country": rnd.choice(COUNTRIES).lower() if rnd.random() < 0.3 else rnd.choice(COUNTRIES),
                "email": f"user{rnd.randrange(10**5)}@{rnd.choice(DOMAINS)}",
            },
            "items": [
                {
                    "sku": f"sku-{rnd.randrange(500)}",
                    "quantity": rnd.randint(1, 5),
                    "price": round(rnd.uniform(1, 200), 2),
                }
                for _ in range(rnd.randint(1, 4))
            ],
            "shipping": {
                "method": rnd.choice(["standard", "express", "pickup"]),
                "address": {
                    "city": rnd.choice(["Berlin", "Paris", "Austin"]),
                    "postcode": f"{rnd.randrange(10**5):05d}",
                },
            },
            "sourceIp": ".".join(
                str(part)
                for part in (
                    rnd.choice([10, 172, 192]),
                    rnd.randrange(256),
                    rnd.randrange(256),
                    rnd.randrange(256),
                )
            ),
            "path": f"/exports/{rnd.choice(PERIODS)}/"
            f"{rnd.choice(['orders', 'refunds'])}-{rnd.randrange(100)}.csv",
            "tags": rnd.sample(
                ["priority", "gift", "b2b", "marketplace", "subscription", "promo"], k=rnd.randint(0, 3)
            ),
            "notes": "".join(rnd.choice("abcdefghij klmnop") for _ in range(120)),
        },
    }


def make_rule(rnd: random.Random, sources: int) -> dict[str, Any]:
    """A rule on one application's events: source and detail-type (95%) or source alone, plus a condition.

    By default `sources` grows with the rule count (about RULES_PER_SOURCE rules per application), so that
    a larger rule set means more applications rather than more rules per event: the rules each event meets
    stay alike and the growth measured is the index's. `--rules-per-source 25` and `--fixed-sources` (50
    sources at every size, so 200 rules per source at 10,000) put more rules in each event's way.

    The extra condition is drawn from the operators of the EventBridge user guide: none (exact only) 25%,
    numeric 15%, prefix 10%, anything-but 10%, exists 10%, wildcard 10%, $or 10%, equals-ignore-case 4%,
    suffix 3%, cidr 3%.
    """
    rule: dict[str, Any] = {"source": [source_name(rnd.randrange(sources))]}
    if rnd.random() < 0.95:
        rule["detail-type"] = rnd.sample(DETAIL_TYPES, k=rnd.choice([1, 1, 1, 2]))
    detail: dict[str, Any] = {}
    kind = rnd.random()
    if kind < 0.25:
        pass
    elif kind < 0.40:
        low = rnd.randint(0, 900)
        detail["total"] = [{"numeric": [">=", low, "<", low + rnd.randint(10, 500)]}]
    elif kind < 0.50:
        detail["customer"] = {"tier": [{"prefix": rnd.choice(["go", "si", "pl"])}]}
    elif kind < 0.60:
        detail["status"] = [{"anything-but": rnd.sample(STATUSES, k=2)}]
    elif kind < 0.70:
        detail["shipping"] = {"method": [{"exists": True}]}
        if rnd.random() < 0.5:
            detail["giftMessage"] = [{"exists": False}]
    elif kind < 0.80:
        if rnd.random() < 0.5:
            rule["resources"] = [{"wildcard": f"arn:aws:shop:*:order/*{rnd.randrange(10)}"}]
        else:
            detail["path"] = [{"wildcard": f"/exports/*/{rnd.choice(['orders', 'refunds'])}-*.csv"}]
    elif kind < 0.90:
        rule["$or"] = [
            {"detail": {"currency": rnd.sample(CURRENCIES, k=2)}},
            {"detail": {"total": [{"numeric": [">=", rnd.randint(100, 900)]}]}},
        ]
    elif kind < 0.94:
        detail["customer"] = {"country": [{"equals-ignore-case": rnd.choice(COUNTRIES)}]}
    elif kind < 0.97:
        detail["customer"] = {"email": [{"suffix": rnd.choice(["example.com", ".org"])}]}
    else:
        detail["sourceIp"] = [{"cidr": rnd.choice(["10.0.0.0/8", "192.168.0.0/16", "172.16.0.0/12"])}]
    if detail:
        rule["detail"] = detail
    return rule


def best_cpu_seconds(run: Any, rounds: int) -> tuple[float, float]:
    """The best CPU time and the best wall time of `rounds` runs of `run()`."""
    cpu, wall = float("inf"), float("inf")
    for _ in range(rounds):
        start_cpu, start_wall = time.process_time(), time.perf_counter()
        run()
        cpu = min(cpu, time.process_time() - start_cpu)
        wall = min(wall, time.perf_counter() - start_wall)
    return cpu, wall


def moto_sample(
    rules: list[tuple[str, dict[str, Any]]], events: list[dict[str, Any]], budget: float
) -> dict[str, Any]:
    """moto on as many events as fit in `budget` seconds (at least 3); its verdicts, timing and errors."""
    from moto.events.models import EventPattern

    compiled = [(name, EventPattern.load(json.dumps(pattern))) for name, pattern in rules]
    verdicts: list[set[str]] = []
    errors = 0
    start = time.process_time()
    for event in events:
        matched: set[str] = set()
        for name, pattern in compiled:
            try:
                if pattern.matches_event(event):
                    matched.add(name)
            except Exception:  # moto fails on some valid patterns; count them
                errors += 1
        verdicts.append(matched)
        if len(verdicts) >= 3 and time.process_time() - start > budget:
            break
    seconds = time.process_time() - start
    return {"events": len(verdicts), "seconds": seconds, "verdicts": verdicts, "errors": errors}


def run(
    rule_counts: list[int], pool: int, rounds: int, moto_budget: float, rules_per_source: int | None
) -> dict[str, Any]:
    rnd = random.Random(20240501)
    rows: list[dict[str, Any]] = []
    for count in rule_counts:
        sources = max(1, round(count / rules_per_source)) if rules_per_source else 50
        rules = [(f"rule-{i:05d}", make_rule(rnd, sources)) for i in range(count)]
        events = [make_event(rnd, sources) for _ in range(pool)]
        texts = [orjson.dumps(event) for event in events]
        ruleset = RuleSet()
        build_start = time.process_time()
        for name, pattern in rules:
            ruleset.add(name, pattern)
        build = time.process_time() - build_start

        matched = [0]

        def match_dicts(
            ruleset: RuleSet = ruleset, events: list[dict[str, Any]] = events, matched: list[int] = matched
        ) -> None:
            matched[0] = sum(len(ruleset.match(event)) for event in events)

        def match_texts(ruleset: RuleSet = ruleset, texts: list[bytes] = texts) -> None:
            for text in texts:
                ruleset.match(orjson.loads(text))

        cpu, wall = best_cpu_seconds(match_dicts, rounds)
        cpu_text, _ = best_cpu_seconds(match_texts, rounds)
        row: dict[str, Any] = {
            "rules": count,
            "sources": sources,
            "build_s": build,
            "us_per_event": cpu / pool * 1e6,
            "events_per_s": pool / cpu,
            "events_per_s_wall": pool / wall,
            "events_per_s_with_orjson": pool / cpu_text,
            "matches_per_event": matched[0] / pool,
        }
        moto = moto_sample(rules, events, moto_budget)
        ours = [ruleset.match(event) for event in events[: moto["events"]]]
        row["moto_events_sampled"] = moto["events"]
        row["moto_events_per_s"] = moto["events"] / moto["seconds"]
        row["moto_errors"] = moto["errors"]
        row["moto_disagreements"] = sum(1 for a, b in zip(ours, moto["verdicts"], strict=True) if a != b)
        row["speedup"] = row["events_per_s"] / row["moto_events_per_s"]
        rows.append(row)
        print_row(row)
    return {"rows": rows}


def churn(count: int, samples: int, freeze: bool, rules_per_source: int) -> dict[str, float]:
    """Latency of adding and removing one rule in a set of `count` rules, and the memory the set holds.

    With `freeze`, ``gc.freeze()`` runs after the rules are loaded (as a server can after loading its rules),
    so that Python's occasional full garbage collection no longer walks them; without it, the maximum
    includes such a collection.
    """
    rnd = random.Random(7)
    sources = max(1, round(count / rules_per_source))
    rules = [(f"rule-{i:05d}", make_rule(rnd, sources)) for i in range(count)]
    extra = [(f"extra-{i:04d}", make_rule(rnd, sources)) for i in range(samples)]
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    ruleset = RuleSet()
    for name, pattern in rules:
        ruleset.add(name, pattern)
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    if freeze:
        gc.freeze()
    adds, removes, replaces = [], [], []
    try:
        for name, pattern in extra:
            start = time.perf_counter()
            ruleset.add(name, pattern)
            adds.append(time.perf_counter() - start)
        for (name, _), (_, other) in zip(extra, reversed(extra), strict=True):
            start = time.perf_counter()
            ruleset.add(name, other)
            replaces.append(time.perf_counter() - start)
        for name, _ in extra:
            start = time.perf_counter()
            ruleset.remove(name)
            removes.append(time.perf_counter() - start)
    finally:
        if freeze:
            gc.unfreeze()

    def ms(values: list[float], q: float) -> float:
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    return {
        "rules": count,
        "memory_mb": held / 2**20,
        "add_ms_median": statistics.median(adds) * 1000,
        "add_ms_p99": ms(adds, 0.99),
        "add_ms_max": max(adds) * 1000,
        "replace_ms_median": statistics.median(replaces) * 1000,
        "remove_ms_median": statistics.median(removes) * 1000,
        "remove_ms_p99": ms(removes, 0.99),
        "remove_ms_max": max(removes) * 1000,
    }


def print_churn(changes: dict[str, float], label: str) -> None:
    print(
        f"{changes['rules']} rules, {label}: "
        f"add {changes['add_ms_median']:.3f} ms median, {changes['add_ms_p99']:.3f} p99, "
        f"{changes['add_ms_max']:.3f} max | "
        f"replace {changes['replace_ms_median']:.3f} ms median | "
        f"remove {changes['remove_ms_median']:.3f} ms median, {changes['remove_ms_p99']:.3f} p99, "
        f"{changes['remove_ms_max']:.3f} max"
    )


def print_row(row: dict[str, Any]) -> None:
    print(
        f"{row['rules']:>6} rules ({row['sources']:>4} sources) | "
        f"{row['events_per_s']:>9,.0f} ev/s dicts ({row['us_per_event']:5.1f} us) | "
        f"{row['events_per_s_with_orjson']:>9,.0f} ev/s with orjson | "
        f"wall {row['events_per_s_wall']:>9,.0f} ev/s | "
        f"{row['matches_per_event']:.2f} matches/ev | "
        f"moto {row['moto_events_per_s']:>8,.1f} ev/s ({row['moto_events_sampled']} events sampled, "
        f"{row['moto_disagreements']} disagree, {row['moto_errors']} errors) | x{row['speedup']:,.0f}",
        flush=True,
    )


def self_check(rounds: int = 300) -> None:
    """The benchmark's rules and events go through both matchers the same way (a correctness gate)."""
    rnd = random.Random(99)
    rules = [(f"r{i}", make_rule(rnd, 4)) for i in range(200)]
    ruleset = RuleSet()
    for name, pattern in rules:
        ruleset.add(name, pattern)
    for _ in range(rounds):
        event = make_event(rnd, 4)
        expected = {name for name, pattern in rules if matches(pattern, event)}
        assert ruleset.match(event) == expected, "RuleSet and matches disagree"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", default="10,100,1000,10000", help="comma-separated rule counts")
    parser.add_argument("--events", type=int, default=2000, help="events matched per round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per measurement (the best is kept)")
    parser.add_argument("--moto-budget", type=float, default=2.0, help="CPU seconds of moto per rule count")
    parser.add_argument("--churn-samples", type=int, default=200, help="rules added and removed for latency")
    parser.add_argument(
        "--rules-per-source", type=int, default=RULES_PER_SOURCE, help="rules per application (default 10)"
    )
    parser.add_argument("--fixed-sources", action="store_true", help="50 sources at every size (harder)")
    parser.add_argument("--quick", action="store_true", help="a short run: fewer events and rounds")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args()
    if args.quick:
        args.events, args.rounds, args.moto_budget, args.churn_samples = 500, 2, 0.5, 50
    counts = [int(c) for c in args.rules.split(",")]

    load = os.getloadavg()
    print(
        f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs, "
        f"load {load[0]:.1f}"
    )
    print(
        f"events: {args.events} pre-generated envelopes of "
        f"~{len(json.dumps(make_event(random.Random(1), 10)))} bytes"
    )
    print("timing: CPU seconds of this process, best of", args.rounds, "rounds")
    self_check()
    per_source = None if args.fixed_sources else args.rules_per_source
    shape = "50 sources at every size" if per_source is None else f"about {per_source} rules per source"
    print(f"rules: {shape}, most keyed on source and detail-type\n")
    results = run(counts, args.events, args.rounds, args.moto_budget, per_source)
    rows = results["rows"]
    growth = rows[-1]["us_per_event"] / rows[0]["us_per_event"]
    print(f"\ntime per event, {rows[-1]['rules']} rules vs {rows[0]['rules']}: x{growth:.2f}")
    changes = churn(max(counts), args.churn_samples, False, args.rules_per_source)
    print(f"{changes['rules']} rules hold {changes['memory_mb']:.1f} MB (tracemalloc)")
    print_churn(changes, "garbage collector as is")
    frozen = churn(max(counts), args.churn_samples, True, args.rules_per_source)
    print_churn(frozen, "after gc.freeze()")
    if args.json:
        results.update({"growth": growth, "churn": changes, "churn_frozen": frozen, "load": load})
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
