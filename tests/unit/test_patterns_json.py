"""Broken pattern JSON is refused in Jackson's words, as EventBridge (which reads patterns with it) does."""

from __future__ import annotations

import pytest

from eventyard.patterns import InvalidEventPattern, matches, parse_pattern

TOKENS = "(JSON String, Number, Array, Object or token 'null', 'true' or 'false')"


def reason(text: str) -> str:
    with pytest.raises(InvalidEventPattern) as refused:
        parse_pattern(text)
    return refused.value.reason


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # the conformance cases
        ("this is valid json but not a dict", f"Unrecognized token 'this': was expecting {TOKENS}"),
        (
            "{'bad': 'quotation'}",
            "Unexpected character (''' (code 39)): was expecting double-quote to start field name",
        ),
        ('{"not": closed mark"', f"Unrecognized token 'closed': was expecting {TOKENS}"),
        # literals
        ('{"a": [tru]}', f"Unrecognized token 'tru': was expecting {TOKENS}"),
        ('{"a": [True]}', f"Unrecognized token 'True': was expecting {TOKENS}"),
        ('{"a": [nulls]}', f"Unrecognized token 'nulls': was expecting {TOKENS}"),
        (
            '{"a": [NaN]}',
            "Non-standard token 'NaN': enable `JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS` to allow",
        ),
        ('{"a": [@]}', f"Unexpected character ('@' (code 64)): expected a valid value {TOKENS}"),
        # numbers
        ('{"a": [01]}', "Invalid numeric value: Leading zeroes not allowed"),
        ('{"a": [-01]}', "Invalid numeric value: Leading zeroes not allowed"),
        (
            '{"a": [1.]}',
            "Unexpected character (']' (code 93)) in numeric value: Decimal point not followed by a digit",
        ),
        (
            '{"a": [1e]}',
            "Unexpected character (']' (code 93)) in numeric value: "
            "Exponent indicator not followed by a digit",
        ),
        (
            '{"a": [-x]}',
            "Unexpected character ('x' (code 120)) in numeric value: "
            "expected digit (0-9) to follow minus sign, for valid numeric value",
        ),
        # structure
        ('{"a": ["x",]}', f"Unexpected character (']' (code 93)): expected a valid value {TOKENS}"),
        ('{"a": [,"x"]}', f"Unexpected character (',' (code 44)): expected a valid value {TOKENS}"),
        (
            '{"a": ["x"],}',
            "Unexpected character ('}' (code 125)): was expecting double-quote to start field name",
        ),
        (
            '{"a" ["x"]}',
            "Unexpected character ('[' (code 91)): was expecting a colon to separate field name and value",
        ),
        ('{"a": }', "Unexpected character ('}' (code 125)): expected a value"),
        (
            '{"a": ["x" "y"]}',
            "Unexpected character ('\"' (code 34)): was expecting comma to separate Array entries",
        ),
        (
            '{"a": ["x"] "b": ["y"]}',
            "Unexpected character ('\"' (code 34)): was expecting comma to separate Object entries",
        ),
        (
            '{"a": ["x"]]',
            "Unexpected close marker ']': expected '}' "
            '(for Object starting at [Source: (String)"{"a": ["x"]]"; line: 1, column: 1])',
        ),
        (
            '{"a": ["x"]',
            "Unexpected end-of-input: expected close marker for Object "
            '(start marker at [Source: (String)"{"a": ["x"]"; line: 1, column: 1])',
        ),
        (
            '\n\n {"a": ["x"]',
            "Unexpected end-of-input: expected close marker for Object "
            '(start marker at [Source: (String)"\n\n {"a": ["x"]"; line: 3, column: 2])',
        ),
        ('{"a": ["x"],', "Unexpected end-of-input within/between Object entries"),
        ('{"a"', "Unexpected end-of-input within/between Object entries"),
        ('{"a', "Unexpected end-of-input in field name"),
        # strings
        ('{"a": ["x]}', "Unexpected end-of-input: was expecting closing quote for a string value"),
        ('{"a": ["\\q"]}', "Unrecognized character escape 'q' (code 113)"),
        (
            '{"a": ["\\u12G4"]}',
            "Unexpected character ('G' (code 71)): expected a hex-digit for character escape sequence",
        ),
        (
            '{"a": ["x\ny"]}',
            "Illegal unquoted character ((CTRL-CHAR, code 10)): "
            "has to be escaped using backslash to be included in string value",
        ),
        (
            '{"a\tb": ["x"]}',
            "Illegal unquoted character ((CTRL-CHAR, code 9)): "
            "has to be escaped using backslash to be included in name",
        ),
        # between tokens
        (
            '{"a":\x01["x"]}',
            "Illegal character ((CTRL-CHAR, code 1)): "
            "only regular white space (\\r, \\n or \\t) is allowed between tokens",
        ),
        (
            '{"a": // note\n ["x"]}',
            "Unexpected character ('/' (code 47)): maybe a (non-standard) comment? "
            "(not recognized as one since Feature 'ALLOW_COMMENTS' not enabled for parser)",
        ),
        ("123x", "Unexpected character ('x' (code 120)): Expected space separating root-level values"),
        (
            "]",
            "Unexpected close marker ']': expected '}' "
            '(for root starting at [Source: (String)"]"; line: 1, column: 0])',
        ),
    ],
)
def test_jackson_reasons(text: str, expected: str) -> None:
    assert reason(text) == expected


def test_long_sources_are_quoted_up_to_500_characters() -> None:
    text = '{"a": ["' + "x" * 600 + '"]'
    quoted = text[:500]
    assert reason(text) == (
        "Unexpected end-of-input: expected close marker for Object "
        f'(start marker at [Source: (String)"{quoted}"[truncated {len(text) - 500} chars]; '
        "line: 1, column: 1])"
    )


def test_unrecognized_tokens_are_quoted_up_to_256_characters() -> None:
    assert (
        reason('{"a": [' + "z" * 300 + "]}") == f"Unrecognized token '{'z' * 256}...': was expecting {TOKENS}"
    )


def test_nothing_after_the_pattern_is_read() -> None:
    # Ruler stops reading at the end of the root object, as Jackson's streaming parser lets it.
    assert matches('{"a": ["x"]} and then some', {"a": "x"})


def test_escapes_decode_as_in_java() -> None:
    assert matches('{"a": ["\\u00e9\\n\\/"]}', {"a": "é\n/"})
    assert matches('{"a": ["\\ud83d\\ude00"]}', {"a": "😀"})
    # A lone surrogate is written by Java as "?": it matches any lone surrogate, or a question mark.
    assert matches('{"a": ["\\ud800"]}', {"a": "\udbff"})
    assert matches('{"a": ["\\ud800"]}', {"a": "?"})


def test_whitespace_anywhere_between_tokens() -> None:
    assert matches(' \r\n\t{ "a" :\r\n [ "x" , "y" ] }', {"a": "y"})


def test_deep_nesting_is_not_a_crash() -> None:
    depth = 5000
    text = '{"a":' * depth + '["x"]' + "}" * depth
    pattern = parse_pattern(text)
    path = ".".join(["a"] * depth)
    assert pattern.paths == {path}
