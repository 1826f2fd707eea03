"""Patterns EventBridge refuses, and the reason it gives (event-ruler's words, Jackson's for broken JSON)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from eventyard.errors import AwsError
from eventyard.patterns import InvalidEventPattern, RuleSet, matches, parse_pattern


def reason(pattern: object) -> str:
    with pytest.raises(InvalidEventPattern) as refused:
        parse_pattern(pattern)
    return refused.value.reason


def one_field(values: str) -> str:
    return '{"detail": {"v": ' + values + "}}"


class TestShape:
    @pytest.mark.parametrize("text", ["[]", '["a"]', '"x"', "5", "null", "", "   "])
    def test_the_pattern_must_be_an_object(self, text: str) -> None:
        assert reason(text) == "Filter is not an object"

    @pytest.mark.parametrize(
        ("text", "name"), [('{"a": "x"}', "a"), ('{"a": 5}', "a"), ('{"a": {"b": null}}', "b")]
    )
    def test_a_field_must_hold_an_object_or_an_array(self, text: str, name: str) -> None:
        assert reason(text) == f'"{name}" must be an object or an array'

    @pytest.mark.parametrize("text", ["{}", '{"a": {}}', '{"a": {"b": ["x"], "c": {}}}'])
    def test_no_empty_objects(self, text: str) -> None:
        assert reason(text) == "Empty objects are not allowed"

    def test_no_empty_arrays(self) -> None:
        assert reason('{"a": []}') == "Empty arrays are not allowed"

    @pytest.mark.parametrize("values", ['[["x"]]', '[{"prefix": "a"}, []]'])
    def test_values_are_scalars_or_match_expressions(self, values: str) -> None:
        assert reason(one_field(values)) == "Match value must be String, number, true, false, or null"

    def test_a_match_expression_names_its_operator(self) -> None:
        assert reason(one_field("[{}]")) == "Match expression name not found"

    @pytest.mark.parametrize("operator", ["EXISTS", "contains", "regex", "exactly"])
    def test_unknown_operators(self, operator: str) -> None:
        # `exactly` is event-ruler's, but not in EventBridge's operator table.
        assert reason(one_field(f'[{{"{operator}": "x"}}]')) == f"Unrecognized match type {operator}"

    @pytest.mark.parametrize(
        "expression",
        [
            '{"prefix": "a", "suffix": "b"}',
            '{"suffix": "a", "x": 1}',
            '{"equals-ignore-case": "a", "x": 1}',
            '{"wildcard": "a", "x": 1}',
            '{"exists": true, "x": 1}',
            '{"cidr": "10.0.0.0/8", "x": 1}',
            '{"prefix": {"equals-ignore-case": "a", "x": 1}}',
            '{"prefix": {"equals-ignore-case": "a"}, "x": 1}',
        ],
    )
    def test_one_key_per_match_expression(self, expression: str) -> None:
        assert reason(one_field(f"[{expression}]")) == "Only one key allowed in match expression"


class TestOperands:
    @pytest.mark.parametrize(
        ("expression", "expected"),
        [
            ('{"prefix": 5}', "prefix match pattern must be a string"),
            ('{"prefix": ["a"]}', "prefix match pattern must be a string"),
            ('{"suffix": null}', "suffix match pattern must be a string"),
            ('{"equals-ignore-case": ["a"]}', "equals-ignore-case match pattern must be a string"),
            ('{"equals-ignore-case": {"prefix": "a"}}', "equals-ignore-case match pattern must be a string"),
            ('{"wildcard": 123}', "wildcard match pattern must be a string"),
            ('{"cidr": 5}', "prefix match pattern must be a string"),
            ('{"exists": "yes"}', "exists match pattern must be either true or false."),
            ('{"exists": null}', "exists match pattern must be either true or false."),
            ('{"prefix": {}}', "Prefix expression name not found"),
            ('{"prefix": {"wildcard": "a"}}', "Unsupported prefix pattern: wildcard"),
            ('{"prefix": {"equals-ignore-case": 1}}', "equals-ignore-case match pattern must be a string"),
            ('{"suffix": {}}', "Suffix expression name not found"),
            ('{"suffix": {"prefix": "a"}}', "Unsupported suffix pattern: prefix"),
        ],
    )
    def test_operand_types(self, expression: str, expected: str) -> None:
        assert reason(one_field(f"[{expression}]")) == expected


class TestWildcards:
    @pytest.mark.parametrize(
        ("wildcard", "expected"),
        [
            # Positions count UTF-8 bytes of the quoted value, from its opening quote.
            ("a**b", "Consecutive wildcard characters at pos 2"),
            ("**", "Consecutive wildcard characters at pos 1"),
            ("é**", "Consecutive wildcard characters at pos 3"),
            ("a\\b", "Invalid escape character at pos 2"),
            ("ab\\", "Invalid escape character at pos 3"),
        ],
    )
    def test_wildcard_syntax(self, wildcard: str, expected: str) -> None:
        assert reason({"v": [{"wildcard": wildcard}]}) == expected
        assert reason({"v": [{"anything-but": {"wildcard": wildcard}}]}) == expected
        assert reason({"v": [{"anything-but": {"wildcard": ["ok*", wildcard]}}]}) == expected

    @pytest.mark.parametrize("wildcard", ["*a*b*", "\\*", "\\\\", "a\\**"])
    def test_valid_wildcards(self, wildcard: str) -> None:
        parse_pattern({"v": [{"wildcard": wildcard}]})


class TestNumeric:
    @pytest.mark.parametrize(
        ("terms", "expected"),
        [
            ("5", "Value of numeric must be an array."),
            ("[]", "Invalid member in numeric match: ]"),
            ("[5]", "Invalid member in numeric match: 5"),
            ("[true]", "Invalid member in numeric match: true"),
            ('["=", "x"]', "Value of equals must be numeric"),
            ('["=", 5, 6]', "Too many elements in numeric expression"),
            ('[">", "x"]', "Value of > must be numeric"),
            ('[">="]', "Value of >= must be numeric"),
            ('["<", null]', "Value of < must be numeric"),
            ('["<=", 5, 6]', "Too many elements in numeric expression"),
            ('["<", 10, ">", 0]', "Too many elements in numeric expression"),
            ('[">", 5, 10]', "Bad value in numeric range: 10"),
            ('[">", 5, ">", 10]', "Bad numeric range operator: >"),
            ('[">", 0, "<"]', "Value of < must be numeric"),
            ('[">", 5, "<", 10, 11]', "Too many terms in numeric range expression"),
            ('["!=", 5]', "Unrecognized numeric range operator: !="),
            ('[">", 10, "<", 5]', "Bottom must be less than top"),
            ('[">=", 5, "<=", 5]', "Bottom must be less than top"),
            ('["=", 1.00000000000000001]', "Cannot compare number : 1.00000000000000001"),
            ('[">", 1e400]', "Cannot compare number : 1e400"),
            ('["<", -1.7976931348623157e308]', "Bottom must be less than top"),
        ],
    )
    def test_numeric_terms(self, terms: str, expected: str) -> None:
        assert reason(one_field('[{"numeric": ' + terms + "}]")) == expected

    def test_nothing_after_the_terms(self) -> None:
        assert (
            reason(one_field('[{"numeric": [">", 0], "x": 1}]')) == "Too many elements in numeric expression"
        )

    @pytest.mark.parametrize("terms", ['[">", 5e9]', '["<", -1e300]', '["=", 0.1]', '[">", 0, "<", 1e-300]'])
    def test_any_double_is_allowed(self, terms: str) -> None:
        parse_pattern(one_field('[{"numeric": ' + terms + "}]"))


class TestAnythingBut:
    @pytest.mark.parametrize(
        ("expression", "expected"),
        [
            ("null", "Value of anything-but must be an array or single string/number value."),
            ("true", "Value of anything-but must be an array or single string/number value."),
            (
                '{"suffix": {"equals-ignore-case": ".png"}}',
                "Value of anything-but must be an array or single string/number value.",
            ),
            ("{}", "Anything-But expression name not found"),
            ('{"numeric": [">", 1]}', "Unsupported anything-but pattern: numeric"),
            ('["a", null]', "Inside anything but list, start|null|boolean is not supported."),
            ('[["a"]]', "Inside anything but list, start|null|boolean is not supported."),
            (
                '["a", 1]',
                "Inside anything but list, either all values are number or string, "
                "mixed type is not supported",
            ),
            (
                "[]",
                "Inside anything but list, either all values are number or string, "
                "mixed type is not supported",
            ),
            ("1e400", "Cannot compare number : 1e400"),
            ("[1, 1e400]", "Cannot compare number : 1e400"),
            ('{"prefix": ""}', "Null prefix/suffix not allowed"),
            ('{"suffix": ["a", ""]}', "Null prefix/suffix not allowed"),
            ('{"prefix": 5}', "prefix/suffix match pattern must be a string"),
            ('{"suffix": [null, ".txt"]}', "prefix/suffix match pattern must be a string"),
            (
                '{"equals-ignore-case": 5}',
                "Inside anything-but/equals-ignore-case list, number|start|null|boolean is not supported.",
            ),
            (
                '{"equals-ignore-case": ["a", 5]}',
                "Inside anything-but/equals-ignore-case list, number|start|null|boolean is not supported.",
            ),
            ('{"wildcard": 5}', "wildcard match pattern must be a string"),
            ('"x", "y": 1', "Too many elements in numeric expression"),
            ('{"prefix": "x", "y": 1}', "Too many elements in numeric expression"),
        ],
    )
    def test_anything_but_operands(self, expression: str, expected: str) -> None:
        assert reason(one_field('[{"anything-but": ' + expression + "}]")) == expected

    @pytest.mark.parametrize(
        "expression", ['{"equals-ignore-case": ""}', '{"wildcard": ""}', '{"prefix": []}']
    )
    def test_allowed_edge_cases(self, expression: str) -> None:
        parse_pattern(one_field('[{"anything-but": ' + expression + "}]"))


class TestCidr:
    @pytest.mark.parametrize(
        ("cidr", "expected"),
        [
            ("bad-filter", "Malformed CIDR, one '/' required"),
            ("10.0.0.0", "Malformed CIDR, one '/' required"),
            ("10.0.0.0/8/8", "Malformed CIDR, one '/' required"),
            ("10.0.0.0/", "Malformed CIDR, one '/' required"),
            ("10.0.0.0/x", "Malformed CIDR, mask bits must be an integer"),
            ("10.0.0.0/99999999999", "Malformed CIDR, mask bits must be an integer"),
            ("10.0.0.0/-1", "Malformed CIDR, mask bits must not be negative"),
            ("10.0.0.0/32", "IPv4 mask bits must be < 32"),
            ("::/128", "IPv6 mask bits must be < 128"),
            ("xx.11.xx/8", "Nonstandard IP address: xx.11.xx"),
            ("/8", "Nonstandard IP address: "),
            ("::ffff:1.2.3.4/8", "Nonstandard IP address: ::ffff:1.2.3.4"),
            ("10.0.0.256/8", "Invalid IP address: 10.0.0.256"),
            ("1:2/8", "Invalid IP address: 1:2"),
            ("1::2::3/8", "Invalid IP address: 1::2::3"),
            # Current JDKs refuse leading zeros in IPv4 literals as ambiguous.
            ("010.0.0.0/8", "Invalid IP address: 010.0.0.0"),
        ],
    )
    def test_cidr_operands(self, cidr: str, expected: str) -> None:
        assert reason({"ip": [{"cidr": cidr}]}) == expected

    @pytest.mark.parametrize("cidr", ["10.0.0.0/8/", "0.0.0.0/0", "::/0", "2001:db8::/127", "10.0.0.0/+8"])
    def test_valid_cidrs(self, cidr: str) -> None:
        parse_pattern({"ip": [{"cidr": cidr}]})


class TestOr:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ('{"$or": "x"}', "It must be an Array followed with $or."),
            ('{"$or": []}', "There must have at least 2 Objects in $or relationship."),
            ('{"$or": [{"a": ["1"]}]}', "There must have at least 2 Objects in $or relationship."),
            ('{"$or": [{"a": ["1"]}, 5]}', "Only JSON object is allowed in array of $or relationship."),
            (
                '{"$or": [{"a": ["1"]}, {"prefix": ["2"]}]}',
                "prefix is Ruler reserved fieldName which cannot be used inside $or.",
            ),
            (
                '{"$or": [{"a": {"numeric": ["1"]}}, {"b": ["2"]}]}',
                "numeric is Ruler reserved fieldName which cannot be used inside $or.",
            ),
            ('{"$or": [{"a": []}, {"b": ["2"]}]}', "Empty arrays are not allowed"),
            ('{"$or": [{}, {"b": ["2"]}]}', "Empty objects are not allowed"),
        ],
    )
    def test_malformed_or_reports_the_json_compilers_reason(self, text: str, expected: str) -> None:
        # Ruler retries with its legacy compiler, which fails too; EventBridge reports the first reason.
        assert reason(text) == expected

    def test_too_many_combinations(self) -> None:
        def alternatives(count: int) -> list[dict[str, list[int]]]:
            return [{"k": [i]} for i in range(count)]

        ten_ten_ten = {
            "$or": alternatives(10),
            "a": {"$or": alternatives(10)},
            "b": {"$or": alternatives(10)},
        }
        assert len(parse_pattern(ten_ten_ten).branches) == 1000
        ten_ten_eleven = {
            "$or": alternatives(10),
            "a": {"$or": alternatives(10)},
            "b": {"$or": alternatives(11)},
        }
        assert "more than 1000" in reason(ten_ten_eleven)

    def test_a_huge_expansion_is_refused_without_being_built(self) -> None:
        pattern = {f"f{i}": {"$or": [{"x": [1]}, {"y": [2]}]} for i in range(40)}  # 2**40 combinations
        assert "more than 1000" in reason(pattern)


def test_at_most_256_fields_per_combination() -> None:
    parse_pattern({f"f{i}": ["x"] for i in range(256)})
    assert reason({f"f{i}": ["x"] for i in range(257)}) == "Size of rule exceeds max value of 256"
    # The limit applies to each $or combination, with the fields outside the $or.
    common = {f"f{i}": ["x"] for i in range(255)}
    parse_pattern({**common, "$or": [{"a": ["1"]}, {"b": ["2"]}]})
    assert "256" in reason({**common, "g": ["y"], "$or": [{"a": ["1"]}, {"b": ["2"]}]})


def test_the_first_problem_in_the_text_is_the_one_reported() -> None:
    assert reason('{"a": [], "b": [{"prefix": 5}]}') == "Empty arrays are not allowed"
    assert reason('{"a": [{"prefix": 5}], "b": []}') == "prefix match pattern must be a string"
    # ... even before a syntax error later on, as Ruler reads the pattern as a stream.
    assert reason('{"a": [], "b": ') == "Empty arrays are not allowed"


def test_a_string_is_only_decoded_when_ruler_reads_it() -> None:
    # Ruler checks the type of `exists` before Jackson decodes the (badly escaped) string.
    assert reason('{"a": [{"exists": "\\q"}]}') == "exists match pattern must be either true or false."
    assert reason('{"a": [{"prefix": "\\q"}]}') == "Unrecognized character escape 'q' (code 113)"


class TestMessages:
    def test_invalid_event_pattern_words(self) -> None:
        with pytest.raises(InvalidEventPattern) as refused:
            parse_pattern('{"a": []}')
        error = refused.value
        assert error.reason == "Empty arrays are not allowed"
        assert error.message == "Event pattern is not valid. Reason: Empty arrays are not allowed"
        assert str(error) == error.message
        aws = error.to_aws_error()
        assert isinstance(aws, AwsError)
        assert (aws.code, aws.message, aws.status) == ("InvalidEventPatternException", error.message, 400)

    def test_every_entry_point_refuses(self) -> None:
        for use in (lambda: matches('{"a": []}', {}), lambda: RuleSet().add("r", '{"a": []}')):
            with pytest.raises(InvalidEventPattern):
                use()

    def test_python_values_that_are_not_json(self) -> None:
        assert reason({"a": [{1, 2}]}).startswith("Pattern is not JSON")
        assert reason({"a": [float("nan")]}).startswith("Non-standard token 'NaN'")

    def test_bytes(self) -> None:
        assert parse_pattern(b'{"a": ["\xc3\xa9"]}').branches[0][0][0] == "a"
        assert reason(b'{"a": ["\xff"]}') == "Invalid UTF-8 start byte 0xff"
        assert reason(b'{"a": ["\xc3x"]}') == "Invalid UTF-8 middle byte 0x78"


class TestDuplicateKeys:
    def test_the_last_value_of_a_field_wins(self) -> None:
        text = '{"a": ["x"], "a": ["y"]}'
        assert matches(text, {"a": "y"})
        assert not matches(text, {"a": "x"})

    def test_repeated_objects_merge_their_fields(self) -> None:
        text = '{"a": {"b": ["1"]}, "a": {"c": ["2"]}}'
        assert matches(text, {"a": {"b": "1", "c": "2"}})
        assert not matches(text, {"a": {"c": "2"}})

    def test_a_dotted_key_and_a_nested_one_are_the_same_field(self) -> None:
        text = '{"a.b": ["1"], "a": {"b": ["2"]}}'
        assert matches(text, {"a": {"b": "2"}})
        assert not matches(text, {"a": {"b": "1"}})

    def test_an_invalid_earlier_duplicate_is_still_refused(self) -> None:
        assert reason('{"a": "x", "a": ["y"]}') == '"a" must be an object or an array'


def test_a_pattern_compiles_to_the_same_thing_from_text_or_values() -> None:
    pattern = {"source": ["a"], "detail": {"n": [{"numeric": [">", 1]}], "$or": [{"x": ["1"]}, {"y": [2]}]}}
    from_values = parse_pattern(pattern)
    # The same pattern written otherwise (key order, spacing), so that it is compiled on its own rather than
    # found in the cache under the text `json.dumps(pattern)` gives.
    text = '{ "detail" : { "$or" : [ {"x": ["1"]}, {"y": [2]} ], "n": [{"numeric": [">", 1]}] }, "source": ["a"] }'
    assert text != json.dumps(pattern)
    from_text = parse_pattern(text)
    assert from_text is not from_values
    assert from_values.branches == from_text.branches
    assert len(from_values.branches) == 2
    assert [[path for path, _ in branch] for branch in from_text.branches] == [
        ["detail.n", "detail.x", "source"],
        ["detail.n", "detail.y", "source"],
    ]


def test_the_text_of_a_compiled_pattern_does_not_depend_on_string_hashing():
    # Sets of strings iterate in an order that PYTHONHASHSEED decides; what describe() shows must not.
    script = (
        "from eventyard.patterns import parse_pattern\n"
        'p = parse_pattern(\'{"a": [{"anything-but": ["a", "z"]}, {"anything-but": ["m", "n"]},'
        ' {"anything-but": {"prefix": ["b", "y"]}}, {"anything-but": {"prefix": ["c", "x"]}}]}\')\n'
        "print(p.branches[0][0][1].describe())\n"
    )
    shown = {
        subprocess.run(
            [sys.executable, "-c", script],
            env={**os.environ, "PYTHONHASHSEED": str(seed)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in range(8)
    }
    assert shown == {
        '[{"anything-but": ["a", "z"]}, {"anything-but": ["m", "n"]}, '
        '{"anything-but": {"prefix": ["b", "y"]}}, {"anything-but": {"prefix": ["c", "x"]}}]\n'
    }
