"""Each pattern operator, by example, against the sample event of event-ruler's README.

Every example runs through both `matches` (the reference evaluator) and `RuleSet` (the index).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from eventyard.patterns import RuleSet, matches

EVENT: dict[str, Any] = {
    "version": "0",
    "id": "ddddd4-aaaa-7777-4444-345dd43cc333",
    "detail-type": "EC2 Instance State-change Notification",
    "source": "aws.ec2",
    "account": "012345679012",
    "time": "2017-10-02T16:24:49Z",
    "region": "us-east-1",
    "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-000000aaaaaa00000"],
    "detail": {
        "c-count": 5,
        "d-count": 3,
        "x-limit": 301.8,
        "source-ip": "10.0.0.33",
        "instance-id": "i-000000aaaaaa00000",
        "state": "running",
    },
}


def verdict(pattern: Any, event: Any = None) -> bool:
    """The verdict of both matchers, which must agree."""
    event = EVENT if event is None else event
    rules = RuleSet()
    rules.add("rule", pattern)
    by_index = rules.match(event) == {"rule"}
    by_reference = matches(pattern, event)
    assert by_index == by_reference, "the index and the reference evaluator disagree"
    return by_reference


def detail(**fields: Any) -> dict[str, Any]:
    return {"detail": fields}


class TestSimpleMatching:
    def test_the_readme_rule_matches(self) -> None:
        assert verdict(
            {
                "detail-type": ["EC2 Instance State-change Notification"],
                "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-000000aaaaaa00000"],
                "detail": {"state": ["initializing", "running"]},
            }
        )

    def test_one_field_wrong_fails_the_rule(self) -> None:
        assert not verdict({"source": ["aws.ec2"], "detail": {"state": ["stopped"]}})

    def test_strings_compare_exactly(self) -> None:
        assert not verdict({"source": ["AWS.EC2"]})
        assert not verdict({"source": ["aws.ec2 "]})

    def test_fields_absent_from_the_event_fail(self) -> None:
        assert not verdict({"detail": {"no-such-field": ["x"]}})

    def test_keys_are_case_sensitive(self) -> None:
        assert not verdict({"Source": ["aws.ec2"]})

    @pytest.mark.parametrize(
        ("rule_value", "event_value", "expected"),
        [
            ("5", 5, False),  # a string never matches a number ...
            (5, "5", False),  # ... nor a number a string
            (True, "true", False),
            ("true", True, False),
            (True, True, True),
            (False, False, True),
            (None, None, True),
            (None, "null", False),
            (None, "", False),
            ("", "", True),
            ("", None, False),
        ],
    )
    def test_values_compare_as_json_text(self, rule_value: Any, event_value: Any, expected: bool) -> None:
        assert verdict({"v": [rule_value]}, {"v": event_value}) is expected

    def test_null_does_not_match_an_absent_field(self) -> None:
        assert not verdict({"v": [None]}, {"w": 1})


class TestNumbersAsValues:
    """A number in a pattern matches numerically equal numbers (Ruler adds a numeric-equality test).

    AWS's user guide says 300, 300.0 and 3.0e2 are not equal; the engine, and AWS itself, say they are
    (conformance case `number_comparison_float`: [300] matches 300.0).
    """

    @pytest.mark.parametrize("written", ["300", "300.0", "3.0e2", "3e2", "300.000000"])
    def test_numerically_equal_numbers_match(self, written: str) -> None:
        assert verdict('{"v": [300]}', '{"v": ' + written + "}")
        assert verdict('{"v": [' + written + "]}", '{"v": 300}')

    def test_the_readme_x_limit(self) -> None:
        assert verdict(detail(**{"x-limit": [301.8]}))
        assert verdict('{"detail": {"x-limit": [3.018e2]}}')
        assert not verdict(detail(**{"x-limit": [301.9]}))

    def test_numbers_beyond_double_precision_match_by_their_text(self) -> None:
        # 9007199254740993 is no double: Ruler keeps only the literal, so only the same literal matches.
        assert verdict('{"v": [9007199254740993]}', '{"v": 9007199254740993}')
        assert not verdict('{"v": [9007199254740993]}', '{"v": 9007199254740992}')
        assert verdict('{"v": [1.00000000000000001]}', '{"v": 1.00000000000000001}')
        assert not verdict('{"v": [1.00000000000000001]}', '{"v": 1.0}')

    def test_an_account_number_matches_as_a_number_or_not_at_all(self) -> None:
        assert verdict({"account": [12345678901]}, {"account": 12345678901})
        assert not verdict({"account": [12345678901]}, {"account": "12345678901"})


class TestPrefixMatching:
    def test_readme_prefix(self) -> None:
        assert verdict({"time": [{"prefix": "2017-10-02"}]})
        assert not verdict({"time": [{"prefix": "2017-10-03"}]})

    def test_prefix_only_matches_strings(self) -> None:
        assert not verdict(detail(**{"c-count": [{"prefix": "5"}]}))

    def test_empty_prefix_matches_any_string(self) -> None:
        assert verdict({"source": [{"prefix": ""}]})
        assert not verdict(detail(**{"c-count": [{"prefix": ""}]}))

    def test_prefix_ignoring_case(self) -> None:
        assert verdict({"source": [{"prefix": {"equals-ignore-case": "AWS.E"}}]})
        assert not verdict({"source": [{"prefix": {"equals-ignore-case": "AWS.S"}}]})


class TestSuffixMatching:
    def test_readme_suffix(self) -> None:
        assert verdict({"source": [{"suffix": "ec2"}]})
        assert not verdict({"source": [{"suffix": "EC2"}]})

    def test_suffix_ignoring_case(self) -> None:
        assert verdict({"source": [{"suffix": {"equals-ignore-case": "EC2"}}]})
        assert not verdict({"source": [{"suffix": {"equals-ignore-case": "S3"}}]})

    def test_suffix_only_matches_strings(self) -> None:
        assert not verdict(detail(**{"c-count": [{"suffix": "5"}]}))


class TestEqualsIgnoreCaseMatching:
    def test_readme_equals_ignore_case(self) -> None:
        assert verdict({"source": [{"equals-ignore-case": "AWS.EC2"}]})
        assert not verdict({"source": [{"equals-ignore-case": "EC2"}]})

    def test_empty_string(self) -> None:
        assert verdict({"v": [{"equals-ignore-case": ""}]}, {"v": ""})
        assert not verdict({"v": [{"equals-ignore-case": ""}]}, {"v": "x"})

    def test_only_strings(self) -> None:
        assert not verdict({"v": [{"equals-ignore-case": "true"}]}, {"v": True})

    def test_case_is_compared_character_by_character_not_folded(self) -> None:
        # Ruler accepts, for each pattern character, its lower- or upper-case form: ß becomes ß or SS.
        assert verdict({"v": [{"equals-ignore-case": "straße"}]}, {"v": "STRASSE"})
        assert verdict({"v": [{"equals-ignore-case": "straße"}]}, {"v": "strasse".replace("ss", "ß")})
        # The Kelvin sign lower-cases to k, but k's forms are k and K only.
        assert not verdict({"v": [{"equals-ignore-case": "k"}]}, {"v": "\u212a"})
        # Turkish dotless ı has upper case I: so I matches it, and so does ı.
        assert verdict({"v": [{"equals-ignore-case": "ı"}]}, {"v": "I"})

    def test_characters_outside_the_bmp_only_match_question_marks(self) -> None:
        # Ruler encodes each UTF-16 half of 😀 on its own, which Java writes as "?".
        assert not verdict({"v": [{"equals-ignore-case": "😀"}]}, {"v": "😀"})
        assert verdict({"v": [{"equals-ignore-case": "😀"}]}, {"v": "??"})
        assert verdict({"v": ["😀"]}, {"v": "😀"})  # exact matching is unaffected


class TestWildcardMatching:
    @pytest.mark.parametrize(
        ("wildcard", "expected"),
        [
            ("aws.*", True),
            ("*.ec2", True),
            ("a*s*c*2", True),
            ("*", True),
            ("aws.ec2*", True),  # * may match nothing
            ("aws*ec3", False),
            ("", False),
        ],
    )
    def test_source(self, wildcard: str, expected: bool) -> None:
        assert verdict({"source": [{"wildcard": wildcard}]}) is expected

    def test_resources(self) -> None:
        assert verdict({"resources": [{"wildcard": "arn:aws:ec2:*:instance/*"}]})

    def test_escaped_star_and_backslash_are_literal(self) -> None:
        assert verdict({"v": [{"wildcard": "a\\*c"}]}, {"v": "a*c"})
        assert not verdict({"v": [{"wildcard": "a\\*c"}]}, {"v": "abc"})
        assert verdict({"v": [{"wildcard": "a\\\\*"}]}, {"v": "a\\bc"})

    def test_only_strings(self) -> None:
        assert not verdict({"v": [{"wildcard": "*"}]}, {"v": 5})
        assert not verdict({"v": [{"wildcard": "*"}]}, {"v": None})

    def test_empty_wildcard_matches_the_empty_string(self) -> None:
        assert verdict({"v": [{"wildcard": ""}]}, {"v": ""})


class TestAnythingButMatching:
    def test_single_string_then_number(self) -> None:
        assert verdict(detail(state=[{"anything-but": "initializing"}]))
        assert not verdict(detail(state=[{"anything-but": "running"}]))
        assert verdict(detail(**{"x-limit": [{"anything-but": 123}]}))
        assert not verdict(detail(**{"x-limit": [{"anything-but": 301.8}]}))

    def test_lists(self) -> None:
        assert verdict(detail(state=[{"anything-but": ["stopped", "overloaded"]}]))
        assert not verdict(detail(state=[{"anything-but": ["stopped", "running"]}]))
        assert verdict(detail(**{"x-limit": [{"anything-but": [100, 200, 300]}]}))

    def test_numbers_are_compared_numerically(self) -> None:
        assert not verdict('{"v": [{"anything-but": [3e2]}]}', '{"v": 300.0}')

    def test_prefix_suffix_ignore_case_and_wildcard(self) -> None:
        assert verdict(detail(state=[{"anything-but": {"prefix": "init"}}]))
        assert not verdict(detail(state=[{"anything-but": {"prefix": "run"}}]))
        assert verdict(detail(state=[{"anything-but": {"prefix": ["init", "stop"]}}]))
        assert not verdict(detail(state=[{"anything-but": {"suffix": "ing"}}]))
        assert not verdict(detail(state=[{"anything-but": {"equals-ignore-case": "RUNNING"}}]))
        assert verdict(detail(state=[{"anything-but": {"equals-ignore-case": ["STOPPED"]}}]))
        assert not verdict(detail(state=[{"anything-but": {"wildcard": "*unn*"}}]))
        assert verdict(detail(state=[{"anything-but": {"wildcard": ["stop*", "*ed"]}}]))

    def test_an_absent_field_matches_nothing_not_even_anything_but(self) -> None:
        assert not verdict(detail(missing=[{"anything-but": "x"}]))

    def test_any_present_value_of_another_type_passes(self) -> None:
        # Only strings can equal a string or start with a prefix; numbers, booleans and null pass.
        for value in (None, True, 12, 1.5):
            assert verdict({"v": [{"anything-but": "x"}]}, {"v": value})
            assert verdict({"v": [{"anything-but": {"prefix": "x"}}]}, {"v": value})
            assert verdict({"v": [{"anything-but": {"wildcard": "*"}}]}, {"v": value})
        assert verdict({"v": [{"anything-but": [1, 2]}]}, {"v": "1"})

    def test_an_empty_set_matches_nothing(self) -> None:
        # Ruler accepts `{"prefix": []}` but stores no value for it, so it never matches.
        assert not verdict({"v": [{"anything-but": {"prefix": []}}]}, {"v": "x"})
        assert verdict({"v": [{"anything-but": {"prefix": []}}, "x"]}, {"v": "x"})


class TestNumericMatching:
    def test_readme_numeric(self) -> None:
        assert verdict(
            '{"detail": {"c-count": [{"numeric": [">", 0, "<=", 5]}], "d-count": [{"numeric": ["<", 10]}],'
            ' "x-limit": [{"numeric": ["=", 3.018e2]}]}}'
        )

    @pytest.mark.parametrize(
        ("terms", "expected"),
        [
            (["=", 5], True),
            (["<", 5], False),
            (["<=", 5], True),
            ([">", 5], False),
            ([">=", 5], True),
            ([">", 4.999999], True),
            ([">", 0, "<", 5], False),
            ([">", 0, "<=", 5], True),
            ([">=", 5, "<", 6], True),
            ([">", 5, "<", 6], False),
            ([">", -1e300, "<", 1e300], True),
        ],
    )
    def test_bounds(self, terms: list[Any], expected: bool) -> None:
        assert verdict(detail(**{"c-count": [{"numeric": terms}]})) is expected

    def test_only_json_numbers(self) -> None:
        assert not verdict({"v": [{"numeric": [">", 0]}]}, {"v": "5"})
        assert not verdict({"v": [{"numeric": [">", 0]}]}, {"v": True})

    def test_full_double_range(self) -> None:
        # Ruler 1.8+ compares any double; older AWS docs limited numbers to +-5e9 with 6 decimals.
        assert verdict({"v": [{"numeric": [">", 5e9]}]}, {"v": 1e12})
        assert verdict({"v": [{"numeric": ["=", 0.0000001]}]}, {"v": 1e-7})

    def test_numbers_no_double_represents_take_no_part(self) -> None:
        assert not verdict({"v": [{"numeric": [">", 0]}]}, '{"v": 1e400}')
        assert not verdict({"v": [{"numeric": [">", 0]}]}, '{"v": 9007199254740993}')
        assert verdict({"v": [{"numeric": [">", 0]}]}, '{"v": 9007199254740992}')


class TestIpAddressMatching:
    def test_readme_cidr(self) -> None:
        assert verdict(detail(**{"source-ip": [{"cidr": "10.0.0.0/24"}]}))
        assert not verdict(detail(**{"source-ip": [{"cidr": "10.0.1.0/24"}]}))
        assert verdict(detail(**{"source-ip": [{"cidr": "10.0.0.0/8"}]}))

    def test_ipv6(self) -> None:
        rule = {"ip": [{"cidr": "2001:db8::/32"}]}
        assert verdict(rule, {"ip": "2001:db8:0:0:1::"})
        assert verdict(rule, {"ip": "2001:0DB8::ffff"})
        assert not verdict(rule, {"ip": "2001:db9::"})
        assert not verdict(rule, {"ip": "10.0.0.1"})

    def test_host_bits_are_not_cleared(self) -> None:
        # Ruler's block runs from the address as written to that address with its host bits set.
        assert not verdict(detail(**{"source-ip": [{"cidr": "10.0.0.40/24"}]}))
        assert verdict(detail(**{"source-ip": [{"cidr": "10.0.0.20/24"}]}))

    def test_an_ip_string_in_a_pattern_matches_the_address_in_any_spelling(self) -> None:
        assert verdict({"ip": ["2001:db8::1"]}, {"ip": "2001:0db8:0000:0000:0000:0000:0000:0001"})
        assert verdict(detail(**{"source-ip": ["10.0.0.33"]}))
        assert not verdict({"ip": ["2001:db8::1"]}, {"ip": "2001:db8::2"})

    def test_an_ipv4_mapped_ipv6_address_is_ipv4(self) -> None:
        assert verdict({"ip": [{"cidr": "10.0.0.0/8"}]}, {"ip": "::ffff:a00:1"})

    def test_non_addresses_do_not_match(self) -> None:
        rule = {"ip": [{"cidr": "10.0.0.0/8"}]}
        for value in ("10.0.0.256", "10.0.0", "ten", 10, None):
            assert not verdict(rule, {"ip": value})

    def test_anything_but_never_rules_out_an_address_beside_a_cidr(self) -> None:
        # Ruler reads the field's values as addresses, which no quoted string can equal.
        rule = {"ip": [{"cidr": "192.168.0.0/16"}, {"anything-but": "10.0.0.1"}]}
        assert verdict(rule, {"ip": "10.0.0.1"})


class TestExistsMatching:
    def test_readme_exists(self) -> None:
        assert verdict(detail(**{"c-count": [{"exists": True}]}))
        assert not verdict(detail(**{"c-count": [{"exists": False}]}))
        assert verdict(detail(**{"e-count": [{"exists": False}]}))

    def test_only_leaves_count(self) -> None:
        event = {"detail": {"c-count": {"c1": 100}}}
        assert verdict(detail(**{"c-count": [{"exists": False}]}), event)
        assert not verdict(detail(**{"c-count": [{"exists": True}]}), event)

    def test_null_is_a_value(self) -> None:
        assert verdict({"v": [{"exists": True}]}, {"v": None})
        assert not verdict({"v": [{"exists": False}]}, {"v": None})

    def test_empty_arrays_and_objects_are_absent(self) -> None:
        for empty in ([], {}):
            assert not verdict({"v": [{"exists": True}]}, {"v": empty})
            assert verdict({"v": [{"exists": False}]}, {"v": empty})

    def test_exists_or_a_value(self) -> None:
        rule = {"v": [{"exists": False}, "x"]}
        assert verdict(rule, {})
        assert verdict(rule, {"v": "x"})
        assert not verdict(rule, {"v": "y"})


class TestComplexExample:
    def test_readme_complex_example(self) -> None:
        assert verdict(
            {
                "time": [{"prefix": "2017-10-02"}],
                "detail": {
                    "state": [{"anything-but": "initializing"}],
                    "c-count": [{"numeric": [">", 0, "<=", 5]}],
                    "d-count": [{"numeric": ["<", 10]}],
                    "x-limit": [{"anything-but": [100, 200, 300]}],
                    "source-ip": [{"cidr": "10.0.0.0/8"}],
                },
            }
        )

    def test_operators_in_one_list_are_alternatives(self) -> None:
        assert verdict({"source": [{"prefix": "nope"}, {"suffix": "ec2"}, "other"]})
        assert not verdict({"source": [{"prefix": "nope"}, {"suffix": "nope"}]})


class TestDottedKeys:
    def test_a_dotted_key_in_the_pattern_is_a_path(self) -> None:
        assert verdict({"detail.state": ["running"]})

    def test_a_dotted_key_in_the_event_is_a_path(self) -> None:
        assert verdict({"detail": {"state": ["running"]}}, {"detail.state": "running"})

    def test_deeper_dotted_keys(self) -> None:
        assert verdict({"a": {"b.c": {"d": ["x"]}}}, {"a.b": {"c.d": "x"}})


def test_events_as_json_text() -> None:
    assert verdict({"source": ["aws.ec2"]}, json.dumps(EVENT))
