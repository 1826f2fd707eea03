"""RuleSet as the server uses it (add, replace, remove, match), and explain as someone debugging a rule."""

from __future__ import annotations

import json
from typing import Any

import pytest

from eventyard.core.patterns.index import index_order
from eventyard.patterns import InvalidEventPattern, Mismatch, RuleSet, explain, matches, parse_pattern

ORDER_PLACED = {
    "version": "0",
    "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
    "detail-type": "Order Placed",
    "source": "com.example.shop",
    "account": "111122223333",
    "time": "2024-05-01T12:00:00Z",
    "region": "eu-west-1",
    "resources": ["arn:aws:shop:eu-west-1:111122223333:order/42"],
    "detail": {"orderId": "42", "total": 150.25, "currency": "EUR", "customer": {"tier": "gold"}},
}


def shop_rules() -> RuleSet:
    rules = RuleSet()
    rules.add("all-shop", {"source": ["com.example.shop"]})
    rules.add("orders", {"source": ["com.example.shop"], "detail-type": [{"prefix": "Order"}]})
    rules.add(
        "big-orders", {"detail-type": ["Order Placed"], "detail": {"total": [{"numeric": [">=", 100]}]}}
    )
    rules.add("gold", {"detail": {"customer": {"tier": ["gold", "platinum"]}}})
    rules.add("not-euro", {"detail": {"currency": [{"anything-but": "EUR"}]}})
    rules.add("billing", {"source": ["com.example.billing"]})
    return rules


class TestMatch:
    def test_names_every_matching_rule(self) -> None:
        assert shop_rules().match(ORDER_PLACED) == {"all-shop", "orders", "big-orders", "gold"}

    def test_json_text_events(self) -> None:
        assert shop_rules().match(json.dumps(ORDER_PLACED)) == {"all-shop", "orders", "big-orders", "gold"}

    def test_nothing_matches_an_unrelated_event(self) -> None:
        assert shop_rules().match({"source": "com.example.other", "detail": {}}) == set()

    def test_an_empty_set_and_a_non_object_event(self) -> None:
        assert RuleSet().match(ORDER_PLACED) == set()
        assert shop_rules().match("[1, 2]") == set()

    def test_agrees_with_matches_rule_by_rule(self) -> None:
        rules = shop_rules()
        for name in rules.names():
            assert (name in rules.match(ORDER_PLACED)) == matches(rules.pattern(name), ORDER_PLACED)


class TestChanges:
    def test_add_under_an_existing_name_replaces_the_rule(self) -> None:
        rules = shop_rules()
        rules.add("gold", {"detail": {"customer": {"tier": ["silver"]}}})
        assert "gold" not in rules.match(ORDER_PLACED)
        assert len(rules) == 6

    def test_remove(self) -> None:
        rules = shop_rules()
        assert rules.remove("orders")
        assert not rules.remove("orders")
        assert "orders" not in rules
        assert rules.match(ORDER_PLACED) == {"all-shop", "big-orders", "gold"}

    def test_rules_sharing_fields_are_removed_independently(self) -> None:
        rules = RuleSet()
        rules.add("a", {"source": ["s"], "detail-type": ["t"]})
        rules.add("b", {"source": ["s"], "detail-type": ["t"]})
        rules.add("c", {"source": ["s"], "detail-type": ["t"], "detail": {"x": ["1"]}})
        event = {"source": "s", "detail-type": "t", "detail": {"x": "1"}}
        assert rules.match(event) == {"a", "b", "c"}
        rules.remove("a")
        assert rules.match(event) == {"b", "c"}
        rules.remove("b")
        assert rules.match(event) == {"c"}

    def test_an_invalid_pattern_leaves_the_set_unchanged(self) -> None:
        rules = shop_rules()
        with pytest.raises(InvalidEventPattern):
            rules.add("gold", {"detail": {"customer": {"tier": []}}})
        assert "gold" in rules.match(ORDER_PLACED)

    def test_removing_everything_leaves_an_empty_index(self) -> None:
        rules = shop_rules()
        rules.add(
            "or", {"$or": [{"a": ["1"]}, {"b": {"c": [{"exists": False}]}}], "d": [{"cidr": "10.0.0.0/8"}]}
        )
        for name in rules.names():
            rules.remove(name)
        assert len(rules) == 0
        assert rules._root.edges == {}
        assert rules._steps.children == {}
        assert rules.match(ORDER_PLACED) == set()

    def test_compiled_patterns_can_be_shared(self) -> None:
        pattern = parse_pattern({"source": ["com.example.shop"]})
        rules = RuleSet()
        rules.add("one", pattern)
        rules.add("two", pattern)
        assert rules.match(ORDER_PLACED) == {"one", "two"}
        assert matches(pattern, ORDER_PLACED)


class TestIndexOrder:
    """The index visits selective fields first and fields that absence may satisfy last."""

    def order(self, pattern: Any) -> list[str]:
        (branch,) = parse_pattern(pattern).branches
        return [path for path, _ in index_order(branch)]

    def test_exact_fields_first_source_leading(self) -> None:
        pattern = {
            "detail": {"a": [{"anything-but": "x"}], "b": [{"prefix": "p"}], "c": ["v"]},
            "detail-type": ["t"],
            "source": ["s"],
        }
        assert self.order(pattern) == ["source", "detail-type", "detail.c", "detail.b", "detail.a"]

    def test_fields_that_absence_may_satisfy_come_last_in_lexical_order(self) -> None:
        pattern = {
            "d": [{"exists": False}],
            "b": ["x", {"exists": False}],
            "a": [{"prefix": "p"}],
            "c": ["x"],
            "source": ["s"],
        }
        assert self.order(pattern) == ["source", "c", "a", "b", "d"]


class TestExplain:
    def test_a_match_has_nothing_to_explain(self) -> None:
        assert explain({"source": ["com.example.shop"]}, ORDER_PLACED) == []

    def test_each_failing_field_is_reported(self) -> None:
        pattern = {
            "source": ["com.example.shop"],
            "detail": {"total": [{"numeric": [">", 1000]}], "currency": ["USD", "GBP"], "missing": ["x"]},
        }
        mismatches = explain(pattern, ORDER_PLACED)
        assert [(m.path, m.reason) for m in mismatches] == [
            ("detail.currency", "no value passes"),
            ("detail.missing", "the field is absent"),
            ("detail.total", "no value passes"),
        ]
        total = mismatches[2]
        assert total.actual == (150.25,)
        assert total.expected == '[{"numeric": [">", 1000]}]'
        assert total.branch is None
        assert (
            str(total)
            == 'detail.total: expected [{"numeric": [">", 1000]}], event has 150.25 (no value passes)'
        )

    def test_exists_false(self) -> None:
        (mismatch,) = explain({"detail": {"orderId": [{"exists": False}]}}, ORDER_PLACED)
        assert (mismatch.path, mismatch.actual, mismatch.reason) == (
            "detail.orderId",
            ("42",),
            "the field is present",
        )

    def test_or_branches_are_numbered(self) -> None:
        pattern = {"$or": [{"source": ["a"]}, {"detail-type": ["b"]}]}
        mismatches = explain(pattern, ORDER_PLACED)
        assert [(m.branch, m.path) for m in mismatches] == [(0, "source"), (1, "detail-type")]

    def test_array_consistency_is_explained(self) -> None:
        event = {"employees": [{"first": "Anna", "last": "Smith"}, {"first": "Peter", "last": "Jones"}]}
        (mismatch,) = explain({"employees": {"first": ["Anna"], "last": ["Jones"]}}, event)
        assert mismatch.path == "employees.first, employees.last"
        assert "different elements of one array" in mismatch.reason

    def test_invalid_patterns_raise(self) -> None:
        with pytest.raises(InvalidEventPattern):
            explain('{"a": []}', ORDER_PLACED)

    def test_mismatch_is_a_value(self) -> None:
        assert Mismatch("a", "[1]", (2,), "no value passes") == Mismatch("a", "[1]", (2,), "no value passes")
        assert hash(Mismatch("a", "[1]", (2,), "no value passes")) == hash(
            Mismatch("a", "[1]", (2,), "no value passes")
        )
        assert Mismatch("a", "[1]", (2,), "no value passes") != Mismatch("a", "[1]", (3,), "no value passes")
        assert Mismatch("a", "[1]", (2,), "no value passes") != Mismatch("a", "[1]", (2,), "x", branch=0)


def test_readers_need_no_lock_while_one_writer_changes_rules() -> None:
    import sys
    import threading

    rules = RuleSet()
    rules.add("stable", {"source": ["com.example.shop"], "detail": {"total": [{"numeric": [">", 100]}]}})
    churned = [
        pattern
        for n in range(10)
        for pattern in (
            {"source": ["com.example.shop"], "detail": {"total": [{"numeric": [">", n, "<", n + 50]}]}},
            {
                "source": ["com.example.shop"],
                "detail-type": [{"prefix": {"equals-ignore-case": "ORDER"[: n % 6] + "x" * n}}],
            },
            {
                "detail": {
                    "currency": [{"anything-but": [f"X{n}"]}],
                    "customer": {"tier": [{"suffix": f"{n}"}]},
                }
            },
            {"resources": [{"wildcard": f"arn:*:{n}*"}], "detail": {"missing": [{"exists": False}]}},
        )
    ]
    stop = threading.Event()
    failures: list[BaseException] = []

    def writer() -> None:
        step = 0
        while not stop.is_set():
            rules.add(f"w{step % 40}", churned[step % 40] if step % 3 else {"source": [f"s{step}"]})
            rules.remove(f"w{(step + 20) % 40}")
            step += 1

    def reader() -> None:
        try:
            while not stop.is_set():
                assert "stable" in rules.match(ORDER_PLACED)
        except BaseException as error:  # reported below
            failures.append(error)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    threads = [
        threading.Thread(target=writer),
        threading.Thread(target=reader),
        threading.Thread(target=reader),
    ]
    try:
        for thread in threads:
            thread.start()
        threading.Event().wait(1.0)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        sys.setswitchinterval(interval)
    assert failures == []
    final = RuleSet()
    for name in rules.names():
        final.add(name, rules.pattern(name))
    assert rules.match(ORDER_PLACED) == final.match(ORDER_PLACED)
