"""Compile pattern JSON into a `Pattern`, refusing what EventBridge refuses, with EventBridge's reasons.

The compiler follows event-ruler's ``JsonRuleCompiler`` token by token, so that of several problems in a
pattern the one reported is the one Ruler meets first (a semantic problem before a later syntax error, for
instance). It is iterative rather than recursive, so that deep nesting cannot exhaust Python's stack.

Ruler's ``Machine.addRule`` retries a pattern the JSON compiler rejects with its older ``RuleCompiler``, which
knows no ``$or`` and treats it as an ordinary field name; so ``{"$or": ["a", "b"]}`` is a valid pattern
matching an event field named ``$or``. We do the same, and when both compilers reject a pattern we report
the JSON compiler's reason, which is what EventBridge returns (conformance case
``content_anything_suffix_ignorecase_EXC``: the legacy compiler would have said something else).

On top of Ruler, EventBridge refuses a pattern whose ``$or`` expand into more than 1000 combinations, and
Ruler refuses a combination of more than 256 fields.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import lru_cache
from typing import Any, NoReturn

from eventyard.core.patterns import jsonlex as tok
from eventyard.core.patterns.errors import InvalidEventPattern, PatternFormatError, PatternValueError
from eventyard.core.patterns.ip import address_if_ip, parse_cidr
from eventyard.core.patterns.model import (
    Absent,
    AnythingBut,
    AnythingButIgnoreCase,
    AnythingButPrefix,
    AnythingButSuffix,
    AnythingButWildcard,
    Branch,
    EqualsIgnoreCase,
    ExactLiteral,
    ExactString,
    Exists,
    IpRange,
    NumericEquals,
    NumericRange,
    Pattern,
    Predicate,
    Prefix,
    PrefixIgnoreCase,
    Suffix,
    SuffixIgnoreCase,
    ValueTest,
    Wildcard,
    path_sort_key,
)
from eventyard.core.patterns.numbers import MAX_DOUBLE, comparable_text
from eventyard.core.patterns.text import wildcard_error

MAX_COMBINATIONS = 1000
MAX_FIELDS = 256
OR = "$or"

# Field names Ruler refuses directly inside an `$or` alternative (its own and ones reserved for later).
RESERVED_IN_OR = frozenset(
    {
        "exactly", "equals-ignore-case", "prefix", "suffix", "anything-but", "exists", "wildcard", "numeric",
        "cidr", "html", "=", "<", "<=", ">", ">=", "regex", "not-wildcard", "not-equals-ignore-case",
        "date-after", "date-on-or-after", "date-before", "date-on-or-before", "in-date-range",
        "ip-address-in-range", "ip-address-not-in-range",
    }
)  # fmt: skip

Rule = dict[str, list[ValueTest]]


def _barf(reason: str) -> NoReturn:
    raise PatternFormatError(reason)


class _Object:
    """An object being read: the branches its fields go into, its path, whether it is an `$or` alternative."""

    __slots__ = ("alternative_of", "has_fields", "in_or", "prefix", "rules")

    def __init__(
        self, rules: list[Rule], prefix: str | None, in_or: bool, alternative_of: _Or | None
    ) -> None:
        self.rules = rules
        self.prefix = prefix
        self.in_or = in_or
        self.alternative_of = alternative_of
        self.has_fields = False


class _Or:
    """An `$or` array being read: the branches before it, and the list its alternatives' branches go into."""

    __slots__ = ("before", "count", "prefix", "target")

    def __init__(self, target: list[Rule], before: list[Rule], prefix: str | None) -> None:
        self.target = target
        self.before = before
        self.prefix = prefix
        self.count = 0


def _extend(prefix: str | None, name: str) -> str:
    return name if prefix is None else prefix + "." + name


class _Compiler:
    def __init__(self, text: str, legacy: bool) -> None:
        self.tokens = tok.Tokenizer(text)
        self.legacy = legacy
        self.overflow = False

    def run(self) -> list[Rule]:
        tokens = self.tokens
        rules: list[Rule] = []
        if tokens.next_token() != tok.START_OBJECT:
            _barf("Filter is not an object")
        stack: list[_Object | _Or] = [_Object(rules, None, False, None)]
        while stack:
            frame = stack[-1]
            if isinstance(frame, _Or):
                token = tokens.next_token()
                if token == tok.END_ARRAY:
                    if frame.count < 2:
                        _barf(f"There must have at least 2 Objects in {OR} relationship.")
                    stack.pop()
                    continue
                frame.count += 1
                if token != tok.START_OBJECT:
                    _barf(f"Only JSON object is allowed in array of {OR} relationship.")
                alternative = [dict(rule) for rule in frame.before] or [{}]
                stack.append(_Object(alternative, frame.prefix, True, frame))
                continue

            token = tokens.next_token()
            if token == tok.END_OBJECT:
                if not frame.has_fields:
                    _barf("Empty objects are not allowed")
                stack.pop()
                if frame.alternative_of is not None:
                    target = frame.alternative_of.target
                    target.extend(frame.rules)
                    self._cap(target)
                continue
            frame.has_fields = True
            name = tokens.current_name
            if name == OR and not self.legacy:
                before = [dict(rule) for rule in frame.rules]
                frame.rules.clear()
                if tokens.next_token() != tok.START_ARRAY:
                    _barf(f"It must be an Array followed with {OR}.")
                stack.append(_Or(frame.rules, before, frame.prefix))
                continue
            if frame.in_or and name in RESERVED_IN_OR:
                _barf(f"{name} is Ruler reserved fieldName which cannot be used inside {OR}.")
            token = tokens.next_token()
            if token == tok.START_OBJECT:
                stack.append(_Object(frame.rules, _extend(frame.prefix, name), frame.in_or, None))
            elif token == tok.START_ARRAY:
                self._write_rules(frame.rules, _extend(frame.prefix, name))
            else:
                _barf(f'"{name}" must be an object or an array')
        return rules

    def _cap(self, rules: list[Rule]) -> None:
        if len(rules) > MAX_COMBINATIONS:
            self.overflow = True
            del rules[MAX_COMBINATIONS + 1 :]

    # -- a field's list of values --------------------------------------------------------------------

    def _write_rules(self, rules: list[Rule], name: str) -> None:
        tokens = self.tokens
        values: list[ValueTest] = []
        while True:
            token = tokens.next_token()
            if token == tok.END_ARRAY:
                break
            if token == tok.START_OBJECT:
                values.append(self._match_expression())
            elif token == tok.VALUE_STRING:
                text = tokens.text()
                address = address_if_ip(text)
                if address is not None:
                    values.append(IpRange(address[0], address[1], address[1], text))
                else:
                    values.append(ExactString(text))
            elif token in tok.NUMBER_TOKENS:
                # AWS's user guide says 300, 300.0 and 3.0e2 are not equal as values. Ruler, the engine,
                # adds a numeric-equality test beside the literal, and AWS does what Ruler does: the
                # recorded case `number_comparison_float` has [300] match 300.0. We follow AWS's
                # behaviour, not its docs.
                text = tokens.text()
                number = comparable_text(text)
                if number is not None:
                    values.append(NumericEquals(number))
                values.append(ExactLiteral(text))
            elif token in (tok.VALUE_NULL, tok.VALUE_TRUE, tok.VALUE_FALSE):
                values.append(ExactLiteral(tokens.text()))
            else:
                _barf("Match value must be String, number, true, false, or null")
        if not values:
            _barf("Empty arrays are not allowed")
        if not rules:
            rules.append({})
        for rule in rules:
            rule[name] = values  # a repeated path replaces the earlier one, as in Ruler ("last one wins")

    def _expect_end(self, reason: str = "Only one key allowed in match expression") -> None:
        if self.tokens.next_token() != tok.END_OBJECT:
            _barf(reason)

    def _string_operand(self, reason: str) -> str:
        if self.tokens.next_token() != tok.VALUE_STRING:
            _barf(reason)
        return self.tokens.text()

    def _match_expression(self) -> ValueTest:
        tokens = self.tokens
        if tokens.next_token() != tok.FIELD_NAME:
            _barf("Match expression name not found")
        kind = tokens.current_name
        handler = self._operators.get(kind)
        if handler is None:
            # `exactly` is Ruler's, not EventBridge's (absent from the EventBridge operator table).
            _barf(f"Unrecognized match type {kind}")
        return handler(self)

    def _prefix(self) -> ValueTest:
        return self._affix("prefix", Prefix, PrefixIgnoreCase)

    def _suffix(self) -> ValueTest:
        return self._affix("suffix", Suffix, SuffixIgnoreCase)

    def _affix(
        self, kind: str, make: Callable[[str], ValueTest], make_ignore_case: Callable[[str], ValueTest]
    ) -> ValueTest:
        """``{"prefix": "v"}`` or ``{"prefix": {"equals-ignore-case": "v"}}`` (and the same for suffix)."""
        tokens = self.tokens
        token = tokens.next_token()
        if token == tok.START_OBJECT:
            if tokens.next_token() != tok.FIELD_NAME:
                _barf(f"{kind.capitalize()} expression name not found")
            operator = tokens.current_name
            if operator != "equals-ignore-case":
                _barf(f"Unsupported {kind} pattern: {operator}")
            test = make_ignore_case(self._string_operand("equals-ignore-case match pattern must be a string"))
            self._expect_end()
        elif token == tok.VALUE_STRING:
            test = make(tokens.text())
        else:
            _barf(f"{kind} match pattern must be a string")
        self._expect_end()
        return test

    def _equals_ignore_case(self) -> ValueTest:
        test = EqualsIgnoreCase(self._string_operand("equals-ignore-case match pattern must be a string"))
        self._expect_end()
        return test

    def _wildcard(self) -> ValueTest:
        text = self._string_operand("wildcard match pattern must be a string")
        problem = wildcard_error(text)
        if problem:
            _barf(problem)
        self._expect_end()
        return Wildcard(text)

    def _cidr(self) -> ValueTest:
        text = self._string_operand("prefix match pattern must be a string")  # sic: Ruler's words
        size, low, high = parse_cidr(text)
        self._expect_end()
        return IpRange(size, low, high, text)

    def _exists(self) -> ValueTest:
        token = self.tokens.next_token()
        if token == tok.VALUE_TRUE:
            test: ValueTest = Exists()
        elif token == tok.VALUE_FALSE:
            test = Absent()
        else:
            _barf("exists match pattern must be either true or false.")
        self._expect_end()
        return test

    # -- numeric -------------------------------------------------------------------------------------

    def _numeric(self) -> ValueTest:
        if self.tokens.next_token() != tok.START_ARRAY:
            _barf("Value of numeric must be an array.")
        test = self._numeric_terms()
        self._expect_end("Too many elements in numeric expression")
        return test

    def _number(self, text: str) -> float:
        number = comparable_text(text)
        if number is None:
            _barf(f"Cannot compare number : {text}")
        return number

    def _range(self, low: str | None, low_open: bool, high: str | None, high_open: bool) -> ValueTest:
        bottom = -MAX_DOUBLE if low is None else self._number(low)
        top = MAX_DOUBLE if high is None else self._number(high)
        if bottom >= top:
            _barf("Bottom must be less than top")
        return NumericRange(bottom, low_open, top, high_open)

    def _numeric_terms(self) -> ValueTest:
        tokens = self.tokens
        if tokens.next_token() != tok.VALUE_STRING:
            _barf(f"Invalid member in numeric match: {tokens.text()}")
        operator = tokens.text()
        token = tokens.next_token()
        if operator == "=":
            if token not in tok.NUMBER_TOKENS:
                _barf("Value of equals must be numeric")
            value = tokens.text()
            self._expect_end_array("Too many elements in numeric expression")
            return NumericEquals(self._number(value))
        if operator in (">=", ">"):
            if token not in tok.NUMBER_TOKENS:
                _barf(f"Value of {operator} must be numeric")
            bottom = tokens.text()
            token = tokens.next_token()
            if token == tok.END_ARRAY:
                return self._range(bottom, operator == ">", None, False)
            return self._complete_range(token, bottom, operator == ">")
        if operator in ("<=", "<"):
            if token not in tok.NUMBER_TOKENS:
                _barf(f"Value of {operator} must be numeric")
            top = tokens.text()
            self._expect_end_array("Too many elements in numeric expression")
            return self._range(None, False, top, operator == "<")
        _barf(f"Unrecognized numeric range operator: {operator}")

    def _complete_range(self, token: int, bottom: str, bottom_open: bool) -> ValueTest:
        tokens = self.tokens
        if token != tok.VALUE_STRING:
            _barf(f"Bad value in numeric range: {tokens.text()}")
        operator = tokens.text()
        if operator not in ("<", "<="):
            _barf(f"Bad numeric range operator: {operator}")
        if tokens.next_token() not in tok.NUMBER_TOKENS:
            _barf(f"Value of {operator} must be numeric")
        top = tokens.text()
        self._expect_end_array("Too many terms in numeric range expression")
        return self._range(bottom, bottom_open, top, operator == "<")

    def _expect_end_array(self, reason: str) -> None:
        if self.tokens.next_token() != tok.END_ARRAY:
            _barf(reason)

    # -- anything-but --------------------------------------------------------------------------------

    def _anything_but(self) -> ValueTest:
        tokens = self.tokens
        kind: str | None = None
        token = tokens.next_token()
        if token == tok.START_OBJECT:
            if tokens.next_token() != tok.FIELD_NAME:
                _barf("Anything-But expression name not found")
            kind = tokens.current_name
            if kind not in ("equals-ignore-case", "prefix", "suffix", "wildcard"):
                _barf(f"Unsupported anything-but pattern: {kind}")
            token = tokens.next_token()
        if token not in (tok.START_ARRAY, tok.VALUE_STRING, tok.VALUE_NUMBER_INT, tok.VALUE_NUMBER_FLOAT):
            _barf("Value of anything-but must be an array or single string/number value.")
        test = self._anything_but_values(token) if kind is None else self._anything_but_set(token, kind)
        self._expect_end("Too many elements in numeric expression")  # sic: Ruler's words
        if kind is not None:
            self._expect_end("Too many elements in numeric expression")
        return test

    def _anything_but_values(self, token: int) -> ValueTest:
        tokens = self.tokens
        if token == tok.VALUE_STRING:
            return AnythingBut(frozenset({tokens.text()}), frozenset())
        if token != tok.START_ARRAY:
            text = tokens.text()
            number = comparable_text(text)
            if number is None:
                # Ruler lets this one escape as IllegalArgumentException: no legacy retry.
                raise PatternValueError(f"Cannot compare number : {text}")
            return AnythingBut(frozenset(), frozenset({number}))
        strings: set[str] = set()
        numbers: set[float] = set()
        while (token := tokens.next_token()) != tok.END_ARRAY:
            if token == tok.VALUE_STRING:
                strings.add(tokens.text())
            elif token in tok.NUMBER_TOKENS:
                numbers.add(self._number(tokens.text()))
            else:
                _barf("Inside anything but list, start|null|boolean is not supported.")
        if bool(strings) == bool(numbers):
            _barf(
                "Inside anything but list, either all values are number or string, "
                "mixed type is not supported"
            )
        return AnythingBut(frozenset(strings), frozenset(numbers))

    _SET_TYPE_ERRORS = {
        "equals-ignore-case": (
            "Inside anything-but/equals-ignore-case list, number|start|null|boolean is not supported."
        ),
        "wildcard": "wildcard match pattern must be a string",
        "prefix": "prefix/suffix match pattern must be a string",
        "suffix": "prefix/suffix match pattern must be a string",
    }
    _SET_TESTS: dict[str, Callable[[frozenset[str]], ValueTest]] = {
        "equals-ignore-case": AnythingButIgnoreCase,
        "wildcard": AnythingButWildcard,
        "prefix": AnythingButPrefix,
        "suffix": AnythingButSuffix,
    }

    def _set_value(self, kind: str) -> str:
        text = self.tokens.text()
        if kind in ("prefix", "suffix") and not text:
            _barf("Null prefix/suffix not allowed")
        return text

    def _anything_but_set(self, token: int, kind: str) -> ValueTest:
        tokens = self.tokens
        values: list[str] = []
        if token == tok.START_ARRAY:
            while (token := tokens.next_token()) != tok.END_ARRAY:
                if token != tok.VALUE_STRING:
                    _barf(self._SET_TYPE_ERRORS[kind])
                values.append(self._set_value(kind))
        elif token == tok.VALUE_STRING:
            values.append(self._set_value(kind))
        else:
            _barf(self._SET_TYPE_ERRORS[kind])
        if kind == "wildcard":
            for value in dict.fromkeys(values):
                problem = wildcard_error(value)
                if problem:
                    _barf(problem)
        return self._SET_TESTS[kind](frozenset(values))

    _operators: dict[str, Callable[[_Compiler], ValueTest]] = {
        "prefix": _prefix,
        "suffix": _suffix,
        "numeric": _numeric,
        "anything-but": _anything_but,
        "exists": _exists,
        "cidr": _cidr,
        "equals-ignore-case": _equals_ignore_case,
        "wildcard": _wildcard,
    }


def _may_hold_or(text: str) -> bool:
    return OR in text or "\\u" in text


def _branches(rules: list[Rule]) -> tuple[Branch, ...]:
    branches: dict[Branch, None] = {}
    for rule in rules:
        if len(rule) > MAX_FIELDS:
            raise InvalidEventPattern(f"Size of rule exceeds max value of {MAX_FIELDS}")
        ordered = sorted(rule.items(), key=lambda item: path_sort_key(item[0]))
        branch = tuple((path, Predicate(frozenset(tests))) for path, tests in ordered)
        branches.setdefault(branch, None)
    return tuple(branches)


def compile_text(text: str) -> Pattern:
    """Compile pattern JSON text, or raise InvalidEventPattern with EventBridge's reason."""
    compiler = _Compiler(text, legacy=False)
    try:
        rules = compiler.run()
    except PatternValueError as error:
        raise InvalidEventPattern(error.reason) from None
    except PatternFormatError as error:
        if _may_hold_or(text):
            try:
                legacy_rules = _Compiler(text, legacy=True).run()
            except (PatternFormatError, PatternValueError):
                pass
            else:
                return Pattern(text, _branches(legacy_rules), legacy=True)
        raise InvalidEventPattern(error.reason) from None
    if compiler.overflow:
        # EventBridge's own limit (not Ruler's); the wording is ours, AWS's exact text is not recorded.
        raise InvalidEventPattern(
            f"The pattern's {OR} alternatives combine into more than {MAX_COMBINATIONS} rules"
        )
    return Pattern(text, _branches(rules))


@lru_cache(maxsize=2048)
def _compile_cached(text: str) -> Pattern:
    return compile_text(text)


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        bad = data[error.start]
        if 0x80 <= bad <= 0xBF or bad >= 0xF8:
            raise InvalidEventPattern(f"Invalid UTF-8 start byte 0x{bad:02x}") from None
        following = data[error.start + 1] if error.start + 1 < len(data) else bad
        raise InvalidEventPattern(f"Invalid UTF-8 middle byte 0x{following:02x}") from None


def parse_pattern(pattern: Any) -> Pattern:
    """Compile an event pattern, given as JSON text (str or UTF-8 bytes) or as Python values.

    Raises InvalidEventPattern, with EventBridge's reason, for anything EventBridge would refuse. Text is
    compiled exactly as written (duplicate keys, escapes); Python values are first written as JSON.
    """
    if isinstance(pattern, Pattern):
        return pattern
    if isinstance(pattern, str):
        text = pattern
    elif isinstance(pattern, bytes | bytearray | memoryview):
        text = _decode(bytes(pattern))
    else:
        try:
            text = json.dumps(pattern, ensure_ascii=False)
        except (TypeError, ValueError) as error:
            raise InvalidEventPattern(f"Pattern is not JSON: {error}") from None
    return _compile_cached(text)
