"""What a compiled pattern is: branches of field paths, each path with the value tests any of which may pass.

A pattern compiles, as in event-ruler, into one or more *branches* (one per combination of ``$or``
alternatives); a branch maps flattened field paths (``detail.state``) to a `Predicate`, the set of
`ValueTest`s of which at least one must accept a value found at that path (or, for ``exists: false``, the
path's absence). An event matches the pattern if it matches any branch.

A predicate also records how Ruler reads a value for its tests, because Ruler rewrites a value before
comparing it when the field's tests call for it: if any test of the field is numeric, a number is compared as
a double (`Predicate.numeric_mode`); otherwise, if any is an IP range, an IP string is compared as an address
(`Predicate.ip_mode`). Those rewrites are why, for example, ``anything-but`` never rejects an IP address in a
field that also has a ``cidr`` test.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import ClassVar

from eventyard.core.patterns.ip import format_address
from eventyard.core.patterns.numbers import format_number


@dataclass(frozen=True, slots=True)
class ValueTest:
    """One value test of a pattern; subclasses carry what they compare against."""

    def describe(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class ExactString(ValueTest):
    """``"v"``: the value is the string v."""

    value: str

    def describe(self) -> str:
        return _json_string(self.value)


@dataclass(frozen=True, slots=True)
class ExactLiteral(ValueTest):
    """``5``, ``true``, ``false``, ``null``: written exactly so (a number also gets a NumericEquals)."""

    text: str

    def describe(self) -> str:
        return self.text


@dataclass(frozen=True, slots=True)
class NumericEquals(ValueTest):
    """A number equal to `value` as a double (``{"numeric": ["=", v]}`` and every number literal)."""

    value: float

    def describe(self) -> str:
        return f'{{"numeric": ["=", {format_number(self.value)}]}}'


@dataclass(frozen=True, slots=True)
class NumericRange(ValueTest):
    """A number between `low` and `high`; `*_open` excludes the bound itself."""

    low: float
    low_open: bool
    high: float
    high_open: bool

    def contains(self, number: float) -> bool:
        if number < self.low or (self.low_open and number == self.low):
            return False
        return not (number > self.high or (self.high_open and number == self.high))

    def describe(self) -> str:
        terms: list[str] = []
        if self.low > -1.7976931348623157e308 or self.low_open:
            terms += ['">"' if self.low_open else '">="', format_number(self.low)]
        if self.high < 1.7976931348623157e308 or self.high_open:
            terms += ['"<"' if self.high_open else '"<="', format_number(self.high)]
        return '{"numeric": [' + ", ".join(terms) + "]}"


@dataclass(frozen=True, slots=True)
class Prefix(ValueTest):
    value: str

    def describe(self) -> str:
        return f'{{"prefix": {_json_string(self.value)}}}'


@dataclass(frozen=True, slots=True)
class Suffix(ValueTest):
    value: str

    def describe(self) -> str:
        return f'{{"suffix": {_json_string(self.value)}}}'


@dataclass(frozen=True, slots=True)
class EqualsIgnoreCase(ValueTest):
    value: str

    def describe(self) -> str:
        return f'{{"equals-ignore-case": {_json_string(self.value)}}}'


@dataclass(frozen=True, slots=True)
class PrefixIgnoreCase(ValueTest):
    value: str

    def describe(self) -> str:
        return f'{{"prefix": {{"equals-ignore-case": {_json_string(self.value)}}}}}'


@dataclass(frozen=True, slots=True)
class SuffixIgnoreCase(ValueTest):
    value: str

    def describe(self) -> str:
        return f'{{"suffix": {{"equals-ignore-case": {_json_string(self.value)}}}}}'


@dataclass(frozen=True, slots=True)
class Wildcard(ValueTest):
    """``{"wildcard": "a*b"}`` with ``\\*`` and ``\\\\`` escapes (already validated)."""

    pattern: str

    def describe(self) -> str:
        return f'{{"wildcard": {_json_string(self.pattern)}}}'


@dataclass(frozen=True, slots=True)
class IpRange(ValueTest):
    """An address from `low` to `high` of the given size (4 or 16 bytes); a ``cidr`` or an IP string."""

    size: int
    low: int
    high: int
    source: str = field(compare=False)

    def describe(self) -> str:
        if self.low == self.high:
            return _json_string(self.source)
        low, high = format_address(self.size, self.low), format_address(self.size, self.high)
        return f'{{"cidr": {_json_string(self.source)}}} ({low} to {high})'


@dataclass(frozen=True, slots=True)
class AnythingBut(ValueTest):
    """``anything-but`` a set of strings, or of numbers (compared as doubles); any present value otherwise."""

    strings: frozenset[str]
    numbers: frozenset[float]

    def describe(self) -> str:
        values = sorted(_json_string(s) for s in self.strings) + sorted(
            format_number(n) for n in self.numbers
        )
        return f'{{"anything-but": {_one_or_list(values)}}}'


@dataclass(frozen=True, slots=True)
class AnythingButSet(ValueTest):
    """``{"anything-but": {"<operator>": [...]}}``: a value passes if `operator` accepts it for none of `values`.

    An empty set is valid in a pattern, but Ruler stores nothing for it, so nothing matches it.
    """

    values: frozenset[str]
    operator: ClassVar[str]

    def describe(self) -> str:
        rendered = _one_or_list(sorted(_json_string(v) for v in self.values))
        return f'{{"anything-but": {{"{self.operator}": {rendered}}}}}'


@dataclass(frozen=True, slots=True)
class AnythingButPrefix(AnythingButSet):
    operator: ClassVar[str] = "prefix"


@dataclass(frozen=True, slots=True)
class AnythingButSuffix(AnythingButSet):
    operator: ClassVar[str] = "suffix"


@dataclass(frozen=True, slots=True)
class AnythingButIgnoreCase(AnythingButSet):
    operator: ClassVar[str] = "equals-ignore-case"


@dataclass(frozen=True, slots=True)
class AnythingButWildcard(AnythingButSet):
    operator: ClassVar[str] = "wildcard"


@dataclass(frozen=True, slots=True)
class Exists(ValueTest):
    """``{"exists": true}``: any value at all (null included) at the path."""

    def describe(self) -> str:
        return '{"exists": true}'


@dataclass(frozen=True, slots=True)
class Absent(ValueTest):
    """``{"exists": false}``: no value at the path (among those consistent with the other fields' values)."""

    def describe(self) -> str:
        return '{"exists": false}'


ANYTHING_BUT_TESTS = (AnythingBut, AnythingButSet)


def _json_string(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _one_or_list(rendered: list[str]) -> str:
    return rendered[0] if len(rendered) == 1 else "[" + ", ".join(rendered) + "]"


@dataclass(frozen=True, slots=True)
class Predicate:
    """The tests of one field of a branch (OR), and how Ruler reads a value for them."""

    tests: frozenset[ValueTest]
    numeric_mode: bool = field(init=False, compare=False)
    ip_mode: bool = field(init=False, compare=False)
    absent_ok: bool = field(init=False, compare=False)
    value_tests: tuple[ValueTest, ...] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        numeric = any(
            isinstance(t, NumericEquals | NumericRange) or (isinstance(t, AnythingBut) and t.numbers)
            for t in self.tests
        )
        object.__setattr__(self, "numeric_mode", numeric)
        object.__setattr__(self, "ip_mode", not numeric and any(isinstance(t, IpRange) for t in self.tests))
        object.__setattr__(self, "absent_ok", any(isinstance(t, Absent) for t in self.tests))
        ordered = sorted((t for t in self.tests if not isinstance(t, Absent)), key=_test_order)
        object.__setattr__(self, "value_tests", tuple(ordered))

    def describe(self) -> str:
        """The tests as pattern JSON; a number literal shows once, not as its two tests."""
        literals = {t.text for t in self.tests if isinstance(t, ExactLiteral)}
        shown = [
            t
            for t in sorted(self.tests, key=_test_order)
            if not (isinstance(t, NumericEquals) and any(_same_number(text, t.value) for text in literals))
        ]
        return "[" + ", ".join(t.describe() for t in shown) + "]"


def _same_number(text: str, value: float) -> bool:
    try:
        return float(text) == value
    except ValueError:
        return False


def _test_order(test: ValueTest) -> tuple[str, str, str]:
    # describe() before repr(): the repr of a frozenset follows the process's string hashing, so text shown
    # (describe, explain) would change with PYTHONHASHSEED; describe() sorts set values.
    return type(test).__name__, test.describe(), repr(test)


Branch = tuple[tuple[str, Predicate], ...]


def path_sort_key(path: str) -> bytes:
    """Ruler visits a branch's fields in Java String order, i.e. by UTF-16 code units."""
    return path.encode("utf-16-be", "surrogatepass")


@dataclass(frozen=True, slots=True)
class Pattern:
    """A compiled, valid event pattern: `matches`, `RuleSet.add` and `explain` accept it as is.

    `branches` hold each ``$or`` combination as (path, predicate) pairs in Ruler's field order; `source` is
    the JSON text compiled; `legacy` is true when Ruler's fallback compiled ``$or`` as an ordinary field name.
    """

    source: str
    branches: tuple[Branch, ...]
    legacy: bool = False

    @property
    def paths(self) -> frozenset[str]:
        """Every flattened field path the pattern looks at."""
        return frozenset(path for branch in self.branches for path, _ in branch)
