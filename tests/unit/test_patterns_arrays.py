"""Arrays in events (any element may match; fields must agree on elements), exists, and `$or`."""

from __future__ import annotations

from typing import Any

import pytest

from eventyard.patterns import InvalidEventPattern, RuleSet, matches, parse_pattern


def verdict(pattern: Any, event: Any) -> bool:
    rules = RuleSet()
    rules.add("rule", pattern)
    by_index = rules.match(event) == {"rule"}
    assert by_index == matches(pattern, event), "the index and the reference evaluator disagree"
    return by_index


EMPLOYEES = {
    "employees": [
        {"firstName": "John", "lastName": "Doe"},
        {"firstName": "Anna", "lastName": "Smith"},
        {"firstName": "Peter", "lastName": "Jones"},
    ]
}


class TestArrayMatching:
    def test_a_field_matches_if_any_element_matches(self) -> None:
        assert verdict({"employees": {"firstName": ["Anna"]}}, EMPLOYEES)
        assert not verdict({"employees": {"firstName": ["Zoe"]}}, EMPLOYEES)

    def test_fields_from_different_elements_of_one_array_do_not_match_together(self) -> None:
        assert verdict({"employees": {"firstName": ["Anna"], "lastName": ["Smith"]}}, EMPLOYEES)
        assert not verdict({"employees": {"firstName": ["Anna"], "lastName": ["Jones"]}}, EMPLOYEES)

    def test_multi_level_arrays(self) -> None:
        event = {
            "employees": [
                [{"firstName": "John", "lastName": "Doe"}, {"firstName": "Anna", "lastName": "Smith"}],
                [{"firstName": "Peter", "lastName": "Jones"}],
            ]
        }
        assert verdict({"employees": {"firstName": ["Anna"]}}, event)
        assert verdict({"employees": {"firstName": ["Peter"], "lastName": ["Jones"]}}, event)
        assert not verdict({"employees": {"firstName": ["Anna"], "lastName": ["Jones"]}}, event)
        assert not verdict({"employees": {"firstName": ["John"], "lastName": ["Smith"]}}, event)

    def test_nested_arrays_of_objects(self) -> None:
        rule = {"u": {"t": {"k": ["color"], "v": ["blue"]}}}
        assert verdict(rule, {"u": [{"t": [{"k": "color", "v": "blue"}]}]})
        assert not verdict(rule, {"u": [{"t": [{"k": "color"}, {"v": "blue"}]}]})

    def test_a_scalar_and_an_array_field_together(self) -> None:
        rule = {"users": {"name": [{"exists": True}]}, "version": ["1"]}
        assert verdict(rule, {"users": [{"name": "alice"}], "version": "1"})
        assert not verdict(rule, {"users": [{"name": "alice"}], "version": "2"})

    def test_arrays_of_scalars_intersect(self) -> None:
        assert verdict({"resources": ["arn:b"]}, {"resources": ["arn:a", "arn:b"]})
        assert not verdict({"resources": ["arn:c"]}, {"resources": ["arn:a", "arn:b"]})
        assert verdict({"d": {"vals": [{"numeric": [">", 0, "<", 10]}]}}, {"d": {"vals": [100, 5, 200]}})

    def test_two_arrays_of_scalars_are_independent(self) -> None:
        rule = {"tags": ["a"], "cats": ["y"]}
        assert verdict(rule, {"tags": ["a", "b"], "cats": ["x", "y"]})

    def test_one_valid_element_among_many(self) -> None:
        rule = {"d": {"a": ["target"], "b": ["found"]}}
        event = {"d": [{"a": "x"}, {"a": "y"}, {"a": "target", "b": "found"}, {"a": "z"}]}
        assert verdict(rule, event)

    def test_anything_but_passes_on_any_other_element(self) -> None:
        assert verdict({"tags": [{"anything-but": "banned"}]}, {"tags": ["banned", "ok"]})
        assert not verdict({"tags": [{"anything-but": "banned"}]}, {"tags": ["banned"]})
        rule = {"u": {"s": [{"anything-but": "banned"}], "n": ["alice"]}}
        assert not verdict(rule, {"u": [{"n": "alice", "s": "banned"}, {"n": "bob", "s": "active"}]})

    def test_empty_arrays_have_no_values(self) -> None:
        assert not verdict({"resources": [None]}, {"resources": []})
        assert not verdict({"d": {"a": [{"exists": True}]}}, {"d": []})


class TestExistsWithArrays:
    def test_absent_in_the_element_that_matched(self) -> None:
        rule = {"d": {"a": [{"exists": True}], "b": [{"exists": False}]}}
        assert verdict(rule, {"d": [{"a": 1}, {"b": 2}]})
        assert not verdict(rule, {"d": [{"a": 1, "b": 2}]})

    def test_absence_is_judged_in_ruler_field_order(self) -> None:
        # Ruler visits d.a before d.b. Judging d.a's absence, it has chosen no element yet, so the d.a of
        # the first element counts, even though the element that has d.b lacks d.a.
        rule = {"d": {"a": [{"exists": False}], "b": [{"exists": True}]}}
        assert not verdict(rule, {"d": [{"a": 1}, {"b": 2}]})
        assert verdict(rule, {"d": [{"b": 2}]})

    def test_absence_after_several_fields(self) -> None:
        rule = {"d": {"a": ["1"], "b": ["2"], "c": [{"exists": False}]}}
        assert verdict(rule, {"d": [{"a": "1", "b": "2"}, {"c": 3}]})
        assert not verdict(rule, {"d": [{"a": "1", "b": "2", "c": 3}]})
        assert not verdict(rule, {"d": [{"a": "1"}, {"b": "2"}]})

    def test_a_value_or_absence(self) -> None:
        rule = {"d": {"a": ["1"], "b": ["x", {"exists": False}]}}
        assert verdict(rule, {"d": [{"a": "1"}, {"b": "y"}]})
        assert verdict(rule, {"d": [{"a": "1", "b": "x"}]})
        assert not verdict(rule, {"d": [{"a": "1", "b": "y"}]})


class TestOr:
    def test_normal_or(self) -> None:
        rule = {
            "source": ["aws.cloudwatch"],
            "$or": [{"metricName": ["CPUUtilization", "ReadLatency"]}, {"namespace": ["AWS/EC2", "AWS/ES"]}],
        }
        assert verdict(rule, {"source": "aws.cloudwatch", "metricName": "ReadLatency"})
        assert verdict(rule, {"source": "aws.cloudwatch", "namespace": "AWS/ES"})
        assert not verdict(rule, {"source": "aws.cloudwatch", "namespace": "AWS/S3"})
        assert not verdict(rule, {"source": "aws.ec2", "metricName": "ReadLatency"})

    def test_parallel_or(self) -> None:
        rule = {
            "$or": [{"metricName": ["CPUUtilization"]}, {"namespace": ["AWS/EC2"]}],
            "detail": {
                "$or": [{"source": ["aws.cloudwatch"]}, {"detail-type": ["CloudWatch Alarm State Change"]}]
            },
        }
        assert len(parse_pattern(rule).branches) == 4
        assert verdict(rule, {"namespace": "AWS/EC2", "detail": {"source": "aws.cloudwatch"}})
        assert not verdict(rule, {"namespace": "AWS/EC2", "detail": {"source": "aws.ec2"}})

    def test_nested_or_and_and(self) -> None:
        rule = {
            "source": ["aws.cloudwatch"],
            "$or": [
                {"metricName": ["CPUUtilization", "ReadLatency"]},
                {
                    "metricType": ["MetricType"],
                    "namespace": ["AWS/EC2", "AWS/ES"],
                    "$or": [{"metricId": [1234]}, {"spaceId": [1000]}],
                },
                {"scope": ["Service"]},
            ],
        }
        assert len(parse_pattern(rule).branches) == 4
        base = {"source": "aws.cloudwatch", "metricType": "MetricType", "namespace": "AWS/ES"}
        assert verdict(rule, {**base, "spaceId": 1000})
        assert not verdict(rule, {**base, "spaceId": 1001})
        assert verdict(rule, {"source": "aws.cloudwatch", "scope": "Service"})

    def test_an_alternative_replaces_a_field_given_before_it(self) -> None:
        # Ruler copies the fields before `$or` into each alternative, where the same path overrides them.
        rule = '{"a": ["1"], "$or": [{"a": ["2"]}, {"b": ["3"]}]}'
        assert verdict(rule, {"a": "2"})
        assert not verdict(rule, {"a": "1"})
        assert verdict(rule, {"a": "1", "b": "3"})

    def test_two_or_keys_multiply(self) -> None:
        rule = '{"$or": [{"a": ["1"]}, {"b": ["1"]}], "$or": [{"c": ["1"]}, {"d": ["1"]}]}'
        assert len(parse_pattern(rule).branches) == 4
        assert verdict(rule, {"b": "1", "c": "1"})
        assert not verdict(rule, {"a": "1", "b": "1"})

    def test_the_same_alternative_twice_is_one_branch(self) -> None:
        assert len(parse_pattern({"$or": [{"a": ["1"]}, {"a": ["1"]}]}).branches) == 1


class TestOrAsAFieldName:
    """Ruler's backward compatibility: an `$or` that is no valid or-relationship is an ordinary key."""

    def test_an_object(self) -> None:
        rule = {"source": ["aws.cloudwatch"], "$or": {"metricType": ["MetricType"]}}
        assert parse_pattern(rule).legacy
        assert verdict(rule, {"source": "aws.cloudwatch", "$or": {"metricType": "MetricType"}})
        assert not verdict(rule, {"source": "aws.cloudwatch", "metricType": "MetricType"})

    def test_a_list_of_values(self) -> None:
        assert verdict({"$or": ["a", "b"]}, {"$or": "b"})

    def test_operators_are_reserved_inside_or(self) -> None:
        rule = {"$or": [{"prefix": "ab"}, {"suffix": "yz"}]}
        assert parse_pattern(rule).legacy
        assert verdict(rule, {"$or": "abc"})
        assert verdict(rule, {"$or": "xyz"})
        assert not verdict(rule, {"$or": "mmm"})

    def test_every_or_becomes_a_field_once_the_pattern_falls_back(self) -> None:
        rule = '{"x": {"$or": [{"a": ["1"]}, {"b": ["2"]}]}, "$or": ["z"]}'
        # The JSON compiler refuses the second $or, the legacy one reads `{"a": ...}` as an unknown
        # match type: both fail, and the first compiler's reason is the one reported.
        with pytest.raises(InvalidEventPattern) as refused:
            parse_pattern(rule)
        assert refused.value.reason == "Only JSON object is allowed in array of $or relationship."
