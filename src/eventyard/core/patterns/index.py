"""RuleSet: many patterns compiled into one index, so that matching costs little more with more rules.

The index is event-ruler's state machine in Python terms. Every branch of every rule is a path through a
tree of nodes: from a node, an *edge* is labelled with a field path (``source``), and leads, through the
field's predicate, to a child node; branches share nodes as long as they share their leading (path,
predicate) pairs, in the order `index_order` gives a branch's fields (the most selective first). An edge
indexes its children's tests by value: exact strings in a dict, prefixes and suffixes in dicts by length,
case-insensitive values by a folded key, numbers by value and sorted ranges, and so on. A node where a branch
ends names its rule.

Matching flattens only the parts of the event some rule looks at (other keys are skipped unread), then walks
the tree from the root: at each node, for each edge, the event's values at the edge's path are looked up in
the edge's index, and the walk continues from every child reached, carrying the array membership of the
values used so far (Ruler's array consistency), against which ``exists: false`` is judged as Ruler judges it.
The cost is the number of (node, edge) pairs the event's values actually reach, not the number of rules.

Adding or removing a rule touches only the nodes and index entries of its own branches. One writer at a time:
a reader running concurrently sees the index before or after each step of a change, never a torn structure
(hot structures are replaced, not mutated in place, when they change).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from types import MappingProxyType
from typing import Any

from eventyard.core.patterns.compiler import parse_pattern
from eventyard.core.patterns.events import (
    LEAF_TYPES,
    Membership,
    coerce_leaf,
    literal_text,
    load_event,
    merge,
)
from eventyard.core.patterns.ip import address_if_ip
from eventyard.core.patterns.model import (
    ANYTHING_BUT_TESTS,
    Absent,
    AnythingBut,
    AnythingButIgnoreCase,
    AnythingButPrefix,
    AnythingButSet,
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
from eventyard.core.patterns.numbers import JsonFloat, comparable_value
from eventyard.core.patterns.text import (
    case_positions,
    ends_with_ignore_case,
    equals_ignore_case,
    fold_key,
    fold_value,
    java_utf8,
    starts_with_ignore_case,
    wildcard_parts,
    wildcard_regex,
)


class _Values(list):  # type: ignore[type-arg]
    """Several values at one path, or values inside arrays: (value, array membership) pairs."""

    __slots__ = ()


_MISSING = object()


def _add_value(fields: dict[str, Any], path: str, value: Any, membership: Membership) -> None:
    found = fields.get(path, _MISSING)
    if found is _MISSING:
        fields[path] = _Values(((value, membership),))
    elif type(found) is _Values:
        found.append((value, membership))
    else:
        fields[path] = _Values(((found, ()), (value, membership)))


def _walk(steps: dict[str, _Step], key: str) -> _Step | None:
    step = None
    for part in key.split("."):
        step = steps.get(part)
        if step is None:
            return None
        steps = step.children
    return step


class _Step:
    """A step of the field paths rules use: flattening follows these and skips every other key unread."""

    __slots__ = ("children", "leaf_refs", "name", "path", "refs")

    def __init__(self, name: str, path: str) -> None:
        self.children: dict[str, _Step] = {}
        self.name = name
        self.path = path
        self.refs = 0  # branch fields whose path passes through or ends here
        self.leaf_refs = 0  # branch fields whose path ends here


_NO_ENTRIES: Any = MappingProxyType({})  # a shared, read-only empty table


class _Node:
    """A state: the edges leaving it, and the rules whose branch ends here."""

    __slots__ = ("edge_items", "edges", "fast_items", "refs", "rule_counts", "rules")

    def __init__(self) -> None:
        self.edges: dict[str, _Edge] = _NO_ENTRIES  # most nodes are leaves: no table of their own
        self.fast_items: tuple[
            tuple[str, dict[str, tuple[_Node, ...]], _Edge], ...
        ] = ()  # exact strings only
        self.edge_items: tuple[tuple[str, _Edge], ...] = ()  # the other edges
        self.rule_counts: dict[str, int] | None = None
        self.rules: tuple[str, ...] = ()
        self.refs = 0

    def refresh(self) -> None:
        """Rebuild the tuples the walk reads (replaced, never mutated, so that readers need no lock)."""
        fast: list[tuple[str, dict[str, tuple[_Node, ...]], _Edge]] = []
        other: list[tuple[str, _Edge]] = []
        for path, edge in self.edges.items():
            if edge.fast is not None:
                fast.append((path, edge.fast, edge))
            else:
                other.append((path, edge))
        self.fast_items = tuple(fast)
        self.edge_items = tuple(other)


def _add_to(table: dict[Any, tuple[_Node, ...]], key: Any, node: _Node) -> None:
    table[key] = (*table.get(key, ()), node)


def _remove_from(table: dict[Any, tuple[_Node, ...]], key: Any, node: _Node) -> None:
    remaining = tuple(n for n in table.get(key, ()) if n is not node)
    if remaining:
        table[key] = remaining
    else:
        table.pop(key, None)


class _Lengths:
    """Strings keyed by length, for prefixes and suffixes: look up each length no longer than the value."""

    __slots__ = ("items", "tables")

    def __init__(self) -> None:
        self.tables: dict[int, dict[str, tuple[_Node, ...]]] = {}
        self.items: tuple[tuple[int, dict[str, tuple[_Node, ...]]], ...] = ()

    def add(self, key: str, node: _Node) -> None:
        table = self.tables.get(len(key))
        if table is None:
            table = self.tables[len(key)] = {}
            self.items = tuple(sorted(self.tables.items(), key=lambda item: item[0]))
        _add_to(table, key, node)

    def remove(self, key: str, node: _Node) -> None:
        table = self.tables.get(len(key))
        if table is None:
            return
        _remove_from(table, key, node)
        if not table:
            del self.tables[len(key)]
            self.items = tuple(sorted(self.tables.items(), key=lambda item: item[0]))


_NO_LENGTHS = _Lengths()
_Folded = dict[
    str, tuple[tuple[ValueTest, "_Node"], ...]
]  # folded key -> (case-insensitive test, child)  # shared and never written: `add` replaces it first


class _TextIndex:
    """The tests of an edge that read a value as its JSON text (everything but numbers and IP ranges)."""

    __slots__ = (
        "anything_buts",
        "exists",
        "fold_exact",
        "fold_prefix",
        "fold_suffix",
        "literals",
        "prefixes",
        "slow",
        "strings",
        "suffixes",
        "used",
        "wildcards",
    )

    def __init__(self) -> None:
        # Containers start as shared empty ones and get their own on first use: an index holds tens of
        # thousands of these, and every container is one more object for Python's garbage collector.
        self.strings: dict[str, tuple[_Node, ...]] = {}
        self.literals: dict[str, tuple[_Node, ...]] = _NO_ENTRIES
        self.prefixes = _NO_LENGTHS
        self.suffixes = _NO_LENGTHS
        self.fold_exact: _Folded = _NO_ENTRIES
        self.fold_prefix: dict[int, _Folded] = _NO_ENTRIES
        self.fold_suffix: dict[int, _Folded] = _NO_ENTRIES
        self.wildcards = _NO_LENGTHS  # keyed by the literal text before the first `*`
        self.slow: tuple[tuple[ValueTest, _Node], ...] = ()  # tests with no key: checked one by one
        self.exists: tuple[_Node, ...] = ()
        self.anything_buts: tuple[tuple[AnythingBut | AnythingButSet, _Node], ...] = ()
        self.used = 0

    def add(self, test: ValueTest, node: _Node) -> None:
        self.used += 1
        if isinstance(test, ExactString):
            _add_to(self.strings, java_utf8(test.value), node)
        elif isinstance(test, ExactLiteral):
            if self.literals is _NO_ENTRIES:
                self.literals = {}
            _add_to(self.literals, test.text, node)
        elif isinstance(test, Prefix):
            if self.prefixes is _NO_LENGTHS:
                self.prefixes = _Lengths()
            self.prefixes.add(java_utf8(test.value), node)
        elif isinstance(test, Suffix):
            if self.suffixes is _NO_LENGTHS:
                self.suffixes = _Lengths()
            self.suffixes.add(java_utf8(test.value), node)
        elif isinstance(test, EqualsIgnoreCase | PrefixIgnoreCase | SuffixIgnoreCase):
            key = fold_key(case_positions(test.value))
            if key is None:
                self.slow = (*self.slow, (test, node))
            elif isinstance(test, EqualsIgnoreCase):
                if self.fold_exact is _NO_ENTRIES:
                    self.fold_exact = {}
                self.fold_exact[key] = (*self.fold_exact.get(key, ()), (test, node))
            else:
                # The table of lengths is iterated by readers: it is replaced, not changed in place.
                prefix = isinstance(test, PrefixIgnoreCase)
                tables = dict(self.fold_prefix if prefix else self.fold_suffix)
                table = tables.setdefault(len(key), {})
                table[key] = (*table.get(key, ()), (test, node))
                if prefix:
                    self.fold_prefix = tables
                else:
                    self.fold_suffix = tables
        elif isinstance(test, Wildcard):
            if self.wildcards is _NO_LENGTHS:
                self.wildcards = _Lengths()
            self.wildcards.add(java_utf8(wildcard_parts(test.pattern)[0]), node)
            self.slow = (*self.slow, (test, node))
        elif isinstance(test, Exists):
            self.exists = (*self.exists, node)
        elif isinstance(test, ANYTHING_BUT_TESTS):
            self.anything_buts = (*self.anything_buts, (test, node))
        else:
            raise AssertionError(test)

    def remove(self, test: ValueTest, node: _Node) -> None:
        self.used -= 1
        if isinstance(test, ExactString):
            _remove_from(self.strings, java_utf8(test.value), node)
        elif isinstance(test, ExactLiteral):
            _remove_from(self.literals, test.text, node)
        elif isinstance(test, Prefix):
            self.prefixes.remove(java_utf8(test.value), node)
        elif isinstance(test, Suffix):
            self.suffixes.remove(java_utf8(test.value), node)
        elif isinstance(test, EqualsIgnoreCase | PrefixIgnoreCase | SuffixIgnoreCase):
            key = fold_key(case_positions(test.value))
            entry = (test, node)
            if key is None:
                self.slow = tuple(e for e in self.slow if e != entry)
            else:
                if isinstance(test, EqualsIgnoreCase):
                    table = self.fold_exact
                else:
                    tables = self.fold_prefix if isinstance(test, PrefixIgnoreCase) else self.fold_suffix
                    table = tables.get(len(key), {})
                kept = tuple(e for e in table.get(key, ()) if e != entry)
                if kept:
                    table[key] = kept
                else:
                    table.pop(key, None)
                    if not isinstance(test, EqualsIgnoreCase) and not table:
                        smaller = {size: t for size, t in tables.items() if size != len(key)}
                        if isinstance(test, PrefixIgnoreCase):
                            self.fold_prefix = smaller
                        else:
                            self.fold_suffix = smaller
        elif isinstance(test, Wildcard):
            self.wildcards.remove(java_utf8(wildcard_parts(test.pattern)[0]), node)
            self.slow = tuple(e for e in self.slow if e != (test, node))
        elif isinstance(test, Exists):
            self.exists = tuple(n for n in self.exists if n is not node)
        else:
            self.anything_buts = tuple(e for e in self.anything_buts if e != (test, node))

    def only_strings(self) -> bool:
        """Whether exact strings are the only tests here (so that a dictionary lookup is the whole match)."""
        return not (
            self.literals
            or self.prefixes.items
            or self.suffixes.items
            or self.fold_exact
            or self.fold_prefix
            or self.fold_suffix
            or self.slow
            or self.exists
            or self.anything_buts
        )

    def match(self, value: Any, out: list[_Node]) -> None:
        """Append to `out` the children whose tests accept `value` read as JSON text."""
        if type(value) is str:
            if not value.isascii():
                value = java_utf8(value)
            hit = self.strings.get(value)
            if hit:
                out.extend(hit)
            length = len(value)
            for size, table in self.prefixes.items:
                if size > length:
                    break
                hit = table.get(value[:size])
                if hit:
                    out.extend(hit)
            for size, table in self.suffixes.items:
                if size > length:
                    break
                hit = table.get(value[length - size :])
                if hit:
                    out.extend(hit)
            if self.fold_exact or self.fold_prefix or self.fold_suffix:
                self._match_folded(value, out)
            if self.slow:
                candidates: set[int] = set()
                if self.wildcards.items:
                    for size, table in self.wildcards.items:
                        if size > length:
                            break
                        for node in table.get(value[:size], ()):
                            candidates.add(id(node))
                for test, node in self.slow:
                    if isinstance(test, Wildcard):
                        if id(node) in candidates and wildcard_regex(test.pattern).fullmatch(value):
                            out.append(node)
                    elif _case_test_accepts(test, value):
                        out.append(node)
        elif self.literals:
            hit = self.literals.get(literal_text(value))
            if hit:
                out.extend(hit)
        if self.exists:
            out.extend(self.exists)
        if self.anything_buts:
            for test, node in self.anything_buts:
                if _anything_but_accepts(test, value):
                    out.append(node)

    def _match_folded(self, value: str, out: list[_Node]) -> None:
        folded = fold_value(value)
        length = len(folded)
        for test, node in self.fold_exact.get(folded, ()):
            positions = case_positions(test.value)  # type: ignore[attr-defined]
            if equals_ignore_case(positions, value):
                out.append(node)
        for size, table in self.fold_prefix.items():
            if size <= length:
                for test, node in table.get(folded[:size], ()):
                    positions = case_positions(test.value)  # type: ignore[attr-defined]
                    if starts_with_ignore_case(positions, value):
                        out.append(node)
        for size, table in self.fold_suffix.items():
            if size <= length:
                for test, node in table.get(folded[length - size :], ()):
                    positions = case_positions(test.value)  # type: ignore[attr-defined]
                    if ends_with_ignore_case(positions, value):
                        out.append(node)

    def rewritten(self, out: list[_Node]) -> None:
        """Append the children that accept a value Ruler has rewritten (a number, an IP address)."""
        if self.exists:
            out.extend(self.exists)
        for _test, node in self.anything_buts:
            out.append(node)


def _case_test_accepts(test: ValueTest, value: str) -> bool:
    positions = case_positions(test.value)  # type: ignore[attr-defined]
    if isinstance(test, EqualsIgnoreCase):
        return equals_ignore_case(positions, value)
    if isinstance(test, PrefixIgnoreCase):
        return starts_with_ignore_case(positions, value)
    return ends_with_ignore_case(positions, value)


def _anything_but_accepts(test: AnythingBut | AnythingButSet, value: Any) -> bool:
    """Whether an anything-but test accepts a value read as text (it is only registered if non-empty)."""
    if type(value) is not str:
        return True
    if not value.isascii():
        value = java_utf8(value)
    if isinstance(test, AnythingBut):
        return value not in test.strings
    values = test.values
    if isinstance(test, AnythingButPrefix):
        return not any(value.startswith(v) for v in values)
    if isinstance(test, AnythingButSuffix):
        return not any(value.endswith(v) for v in values)
    if isinstance(test, AnythingButIgnoreCase):
        return not any(equals_ignore_case(case_positions(v), value) for v in values)
    if isinstance(test, AnythingButWildcard):
        return not any(wildcard_regex(v).fullmatch(value) for v in values)
    raise AssertionError(test)


def _normalized(test: ValueTest) -> ValueTest | None:
    """The test as the index stores it (strings as Java's UTF-8 sees them), or None if it can never match."""
    if isinstance(test, AnythingBut):
        if any(not s.isascii() for s in test.strings):
            return AnythingBut(frozenset(java_utf8(s) for s in test.strings), test.numbers)
        return test
    if isinstance(test, AnythingButSet):
        values = test.values
        if not values:
            return None  # Ruler stores nothing for an empty list: it never matches
        if isinstance(test, AnythingButPrefix | AnythingButSuffix) and any(not v.isascii() for v in values):
            return type(test)(frozenset(java_utf8(v) for v in values))
    return test


class _NumberIndex:
    """Numeric tests of an edge (for fields Ruler reads numerically): equal values and sorted ranges."""

    __slots__ = ("anything_buts", "equals", "ranges")

    def __init__(self) -> None:
        self.equals: dict[float, tuple[_Node, ...]] = {}
        # Ranges sorted by low bound, with the list of those bounds: one value, replaced as a whole.
        self.ranges: tuple[list[float], list[tuple[float, NumericRange, _Node]]] = ([], [])
        self.anything_buts: tuple[tuple[frozenset[float], _Node], ...] = ()

    def add(self, test: ValueTest, node: _Node) -> None:
        if isinstance(test, NumericEquals):
            _add_to(self.equals, test.value, node)
        elif isinstance(test, NumericRange):
            # Readers slice both lists together: build new ones rather than change them under a reader.
            lows, ranges = self.ranges
            at = bisect.bisect_right(lows, test.low)
            ranges = [*ranges[:at], (test.low, test, node), *ranges[at:]]
            self.ranges = ([entry[0] for entry in ranges], ranges)
        else:
            self.anything_buts = (*self.anything_buts, (test.numbers, node))  # type: ignore[attr-defined]

    def remove(self, test: ValueTest, node: _Node) -> None:
        if isinstance(test, NumericEquals):
            _remove_from(self.equals, test.value, node)
        elif isinstance(test, NumericRange):
            ranges = [entry for entry in self.ranges[1] if not (entry[2] is node and entry[1] == test)]
            self.ranges = ([entry[0] for entry in ranges], ranges)
        else:
            entry = (test.numbers, node)  # type: ignore[attr-defined]
            self.anything_buts = tuple(e for e in self.anything_buts if e != entry)

    def match(self, number: float, out: list[_Node]) -> None:
        hit = self.equals.get(number)
        if hit:
            out.extend(hit)
        lows, ranges = self.ranges
        if ranges:
            for _, test, node in ranges[: bisect.bisect_right(lows, number)]:
                if test.contains(number):
                    out.append(node)
        for numbers, node in self.anything_buts:
            if number not in numbers:
                out.append(node)

    def not_numbers(self, out: list[_Node]) -> None:
        """Children accepting a value that is no comparable number: numeric anything-but accepts it."""
        for _numbers, node in self.anything_buts:
            out.append(node)


class _Edge:
    """The tests of one field under one node, indexed by how Ruler reads the field's values."""

    __slots__ = (
        "absent",
        "children",
        "fast",
        "ip",
        "ip_ranges",
        "ip_text",
        "key",
        "number_text",
        "numbers",
        "text",
    )

    def __init__(self, path: str) -> None:
        self.key = path_sort_key(path)  # where Ruler's lexical order puts the field
        self.children: dict[Predicate, _Node] = {}
        self.text: _TextIndex | None = None  # predicates read as text
        self.numbers: _NumberIndex | None = None  # predicates with a numeric test ...
        self.number_text: _TextIndex | None = None  # ... and their other tests
        self.ip_ranges: tuple[tuple[IpRange, _Node], ...] = ()  # predicates with an IP test ...
        self.ip_text: _TextIndex | None = None  # ... and their other tests
        self.ip = False
        self.absent: tuple[_Node, ...] = ()
        self.fast: dict[str, tuple[_Node, ...]] | None = None  # set when exact strings are all there is

    def register(self, predicate: Predicate, node: _Node, adding: bool) -> None:
        for raw in predicate.tests:
            if isinstance(raw, Absent):
                if adding:
                    self.absent = (*self.absent, node)
                else:
                    self.absent = tuple(n for n in self.absent if n is not node)
                continue
            test = _normalized(raw)
            if test is None:
                continue
            if predicate.numeric_mode:
                if isinstance(test, NumericEquals | NumericRange) or (
                    isinstance(test, AnythingBut) and test.numbers
                ):
                    if self.numbers is None:
                        self.numbers = _NumberIndex()
                    (self.numbers.add if adding else self.numbers.remove)(test, node)
                    continue
                if isinstance(test, IpRange):
                    continue  # Ruler reads no IP addresses in a field it reads numerically
                if self.number_text is None:
                    self.number_text = _TextIndex()
                target = self.number_text
            elif predicate.ip_mode:
                if isinstance(test, IpRange):
                    entry = (test, node)
                    if adding:
                        self.ip_ranges = (*self.ip_ranges, entry)
                    else:
                        self.ip_ranges = tuple(e for e in self.ip_ranges if e != entry)
                    continue
                if self.ip_text is None:
                    self.ip_text = _TextIndex()
                target = self.ip_text
            else:
                if isinstance(test, IpRange):
                    continue  # cannot happen: an IP test puts its predicate in IP mode
                if self.text is None:
                    self.text = _TextIndex()
                target = self.text
            (target.add if adding else target.remove)(test, node)
        self.ip = bool(self.ip_ranges) or bool(self.ip_text and self.ip_text.used)
        text = self.text
        only_strings = (
            text is not None
            and text.only_strings()
            and not self.absent
            and not self.ip
            and not (
                self.numbers and (self.numbers.equals or self.numbers.ranges[1] or self.numbers.anything_buts)
            )
            and not (self.number_text and self.number_text.used)
        )
        self.fast = text.strings if only_strings and text is not None else None

    def match(self, value: Any) -> Iterable[_Node]:
        """The children whose predicate accepts `value`, each once."""
        out: list[_Node] = []
        if self.text is not None:
            self.text.match(value, out)
        if self.numbers is not None or self.number_text is not None:
            number = None
            if type(value) is int or isinstance(value, float):  # not bool (a subclass of int)
                number = comparable_value(value)
            if number is not None:
                if self.numbers is not None:
                    self.numbers.match(number, out)
                if self.number_text is not None:
                    self.number_text.rewritten(out)
            else:
                if self.numbers is not None:
                    self.numbers.not_numbers(out)
                if self.number_text is not None:
                    self.number_text.match(value, out)
        if self.ip:
            address = address_if_ip(java_utf8(value)) if type(value) is str else None
            if address is not None:
                size, where = address
                for test, node in self.ip_ranges:
                    if test.size == size and test.low <= where <= test.high:
                        out.append(node)
                if self.ip_text is not None:
                    self.ip_text.rewritten(out)
            elif self.ip_text is not None:
                self.ip_text.match(value, out)
        return dict.fromkeys(out) if len(out) > 1 else out


Trail = tuple[tuple[bytes, Membership], ...]

_CHEAP_TESTS = (ExactString, ExactLiteral, NumericEquals)
_FIRST_PATHS = {"source": 0, "detail-type": 1}  # the envelope fields most rules select on
_BROAD_TESTS = (*ANYTHING_BUT_TESTS, Exists)


def _cost(predicate: Predicate) -> int:
    """0 for fields tested by dictionary lookups only, 2 for fields most values pass, 1 otherwise."""
    if all(isinstance(test, _CHEAP_TESTS) for test in predicate.tests):
        return 0
    if any(isinstance(test, _BROAD_TESTS) for test in predicate.tests):
        return 2
    return 1


def index_order(branch: Branch) -> Branch:
    """The order in which the index visits a branch's fields: selective ones first, absences last.

    Ruler visits fields in lexical order, and the order matters in one way only: ``exists: false`` (alone or
    beside value tests) is judged against the array elements chosen for the fields *lexically before* it.
    Whether values can be chosen consistently does not depend on the order of choosing, so the index is
    free to visit ``source`` before ``detail.total > 5`` (and not follow the numeric matches of other
    sources); fields that may be satisfied by absence come last, in lexical order, and the walk judges each
    absence against the elements chosen for the lexically earlier fields only (see `RuleSet.match`).
    """
    values = sorted(
        (item for item in branch if not item[1].absent_ok),
        key=lambda item: (_cost(item[1]), _FIRST_PATHS.get(item[0], 2), path_sort_key(item[0])),
    )
    return (*values, *(item for item in branch if item[1].absent_ok))


class RuleSet:
    """Named event patterns compiled into one index; `match` names every rule an event matches.

    >>> rules = RuleSet()
    >>> rules.add("orders", {"source": ["shop"], "detail-type": [{"prefix": "Order"}]})
    >>> rules.add("big", {"detail": {"amount": [{"numeric": [">", 100]}]}})
    >>> sorted(rules.match({"source": "shop", "detail-type": "Order Placed", "detail": {"amount": 150}}))
    ['big', 'orders']

    Adding a rule under a name already present replaces that rule. Patterns are given as JSON text, Python
    values or compiled `Pattern`s; events as dicts (matched as they are) or JSON text. Matching agrees with
    `matches` for every rule. Not for concurrent writers; readers need no lock.

    A set holds about 18 objects per rule for Python's garbage collector to walk; a process holding tens of
    thousands of rules can call ``gc.freeze()`` once they are loaded to keep full collections short.
    """

    def __init__(self) -> None:
        self._root = _Node()
        # Each rule's pattern as text: compiled patterns are many small objects, and the index holds what
        # matching needs; removal recompiles the text (usually a cache hit).
        self._patterns: dict[str, str] = {}
        self._steps = _Step("", "")

    def __len__(self) -> int:
        return len(self._patterns)

    def __contains__(self, name: object) -> bool:
        return name in self._patterns

    def names(self) -> list[str]:
        """The names of the rules in the set."""
        return list(self._patterns)

    def pattern(self, name: str) -> Pattern:
        """The compiled pattern of rule `name` (KeyError if absent)."""
        return parse_pattern(self._patterns[name])

    def add(self, name: str, pattern: Any) -> None:
        """Add (or replace) rule `name`; raises InvalidEventPattern, leaving the set unchanged, if invalid."""
        compiled = parse_pattern(pattern)
        if name in self._patterns:
            self.remove(name)
        for branch in compiled.branches:
            node = self._root
            for path, predicate in index_order(branch):
                edge = node.edges.get(path)
                if edge is None:
                    edge = _Edge(path)
                    if node.edges is _NO_ENTRIES:
                        node.edges = {}
                    node.edges[path] = edge
                child = edge.children.get(predicate)
                if child is None:
                    child = _Node()
                    edge.register(predicate, child, adding=True)
                    edge.children[predicate] = child
                    node.refresh()
                child.refs += 1
                node = child
            if node.rule_counts is None:
                node.rule_counts = {}
            node.rule_counts[name] = node.rule_counts.get(name, 0) + 1
            node.rules = tuple(node.rule_counts)
            self._count_paths(branch, 1)
        self._patterns[name] = compiled.source

    def remove(self, name: str) -> bool:
        """Remove rule `name`; returns whether it was there."""
        text = self._patterns.pop(name, None)
        if text is None:
            return False
        compiled = parse_pattern(text)
        for branch in compiled.branches:
            trail: list[tuple[_Node, str, _Edge, Predicate, _Node]] = []
            node = self._root
            for path, predicate in index_order(branch):
                edge = node.edges[path]
                child = edge.children[predicate]
                trail.append((node, path, edge, predicate, child))
                node = child
            counts = node.rule_counts
            assert counts is not None
            if counts[name] > 1:
                counts[name] -= 1
            else:
                del counts[name]
            node.rules = tuple(counts)
            if not counts:
                node.rule_counts = None
            for parent, path, edge, predicate, child in reversed(trail):
                child.refs -= 1
                if child.refs == 0:
                    del edge.children[predicate]
                    edge.register(predicate, child, adding=False)
                    if not edge.children:
                        del parent.edges[path]
                    parent.refresh()
            self._count_paths(branch, -1)
        return True

    def _count_paths(self, branch: Iterable[tuple[str, Predicate]], delta: int) -> None:
        for path, _ in branch:
            trail = [self._steps]
            step = self._steps
            for part in path.split("."):
                child = step.children.get(part)
                if child is None:
                    child = _Step(part, part if step is self._steps else step.path + "." + part)
                    step.children[part] = child
                trail.append(child)
                step = child
            step.leaf_refs += delta
            for parent, child in zip(reversed(trail[:-1]), reversed(trail[1:]), strict=True):
                child.refs += delta
                if child.refs == 0:
                    parent.children.pop(child.name)

    def _fields(self, event: dict[str, Any]) -> dict[str, Any]:
        """The event's leaves at paths some rule tests (other keys are skipped unread).

        A path with one value outside any array maps to the value itself (most paths: no allocation);
        otherwise to `_Values`, the (value, array membership) pairs.
        """
        fields: dict[str, Any] = {}
        next_array = 0
        stack: list[tuple[Any, dict[str, _Step], Membership]] = [(event, self._steps.children, ())]
        while stack:
            obj, steps, membership = stack.pop()
            for key, value in obj.items():
                step = steps.get(key)
                if step is None:
                    # {"a.b": 1} has the leaf `a.b` as {"a": {"b": 1}} does
                    if type(key) is not str or "." not in key:
                        continue
                    step = _walk(steps, key)
                    if step is None:
                        continue
                kind = type(value)
                if not (
                    kind is str
                    or kind is int
                    or kind is float
                    or value is None
                    or kind is bool
                    or kind is JsonFloat
                ):
                    if kind is not dict and kind is not list:
                        if isinstance(value, dict):
                            kind = dict
                        elif isinstance(value, tuple):
                            value, kind = list(value), list
                        else:
                            value = coerce_leaf(value)
                    if kind is dict:
                        if step.children:
                            stack.append((value, step.children, membership))
                        continue
                    if kind is list:
                        pending: list[tuple[list[Any], Membership]] = [(value, membership)]
                        while pending:
                            array, outer = pending.pop()
                            array_id = next_array
                            next_array += 1
                            for index, element in enumerate(array):
                                where = (*outer, (array_id, index))
                                element_kind = type(element)
                                if element_kind is dict or isinstance(element, dict):
                                    if step.children:
                                        stack.append((element, step.children, where))
                                elif element_kind is list or element_kind is tuple:
                                    pending.append((list(element), where))
                                elif step.leaf_refs:
                                    if element_kind not in LEAF_TYPES:
                                        element = coerce_leaf(element)
                                    _add_value(fields, step.path, element, where)
                        continue
                if step.leaf_refs:  # a leaf
                    if membership:
                        _add_value(fields, step.path, value, membership)
                    else:
                        existing = fields.setdefault(step.path, value)
                        if existing is not value:
                            _add_value(fields, step.path, value, ())
        return fields

    def match(self, event: Any) -> set[str]:
        """The names of the rules `event` matches (a dict, or JSON text read keeping number literals)."""
        if isinstance(event, str | bytes | bytearray):
            event = load_event(event)
        if not isinstance(event, dict) or not self._root.edges:
            return set()
        fields = self._fields(event)
        result: set[str] = set()
        # Walk states. Most have chosen no value inside an array: they are bare nodes on `plain`, and need
        # no duplicate check (a node has one parent edge, and one value cannot reach a child twice). The
        # others carry the array membership of the values chosen so far and, for judging later absences,
        # each chosen field's lexical key and membership (`trail`); `seen` keeps them from repeating.
        plain: list[_Node] = [self._root]
        stack: list[tuple[_Node, Membership, Trail]] = []
        seen: set[Any] = set()
        while plain or stack:
            if plain:
                node = plain.pop()
                membership: Membership = ()
                trail: Trail = ()
            else:
                node, membership, trail = stack.pop()
            if node.rules:
                result.update(node.rules)
            for path, fast, edge in node.fast_items:
                found = fields.get(path, _MISSING)
                if type(found) is str:  # one string, outside any array: the common case
                    reached = fast.get(found if found.isascii() else java_utf8(found))
                    if reached:
                        if trail:
                            self._push(reached, membership, trail, plain, stack, seen)
                        else:
                            plain.extend(reached)
                elif type(found) is _Values:
                    self._follow(found, edge, membership, trail, plain, stack, seen)
            for path, edge in node.edge_items:
                found = fields.get(path, _MISSING)
                if found is _MISSING:
                    if edge.absent:
                        self._push(edge.absent, membership, trail, plain, stack, seen)
                    continue
                if type(found) is _Values:
                    self._follow(found, edge, membership, trail, plain, stack, seen)
                    if edge.absent and _absent(found, trail, edge.key):
                        self._push(edge.absent, membership, trail, plain, stack, seen)
                    continue
                reached = edge.match(found)  # one value, outside any array
                if reached:
                    if trail:
                        self._push(reached, membership, trail, plain, stack, seen)
                    else:
                        plain.extend(reached)
        return result

    @staticmethod
    def _follow(
        found: _Values,
        edge: _Edge,
        membership: Membership,
        trail: Trail,
        plain: list[_Node],
        stack: list[tuple[_Node, Membership, Trail]],
        seen: set[Any],
    ) -> None:
        """Step over an edge for each of several values (or values inside arrays), keeping them consistent."""
        for value, where in found:
            if where:
                combined = merge(membership, where)
                if combined is None:
                    continue
                extended: Trail = (*trail, (edge.key, where))
            else:
                combined, extended = membership, trail
            for child in edge.match(value):
                key = (child, extended) if extended else child
                if key not in seen:
                    seen.add(key)
                    if extended:
                        stack.append((child, combined, extended))
                    else:
                        plain.append(child)

    @staticmethod
    def _push(
        children: Iterable[_Node],
        membership: Membership,
        trail: Trail,
        plain: list[_Node],
        stack: list[tuple[_Node, Membership, Trail]],
        seen: set[Any],
    ) -> None:
        if not trail:
            plain.extend(children)
            return
        for child in children:
            key = (child, trail)
            if key not in seen:
                seen.add(key)
                stack.append((child, membership, trail))


def _absent(values: _Values, trail: Trail, key: bytes) -> bool:
    """Whether no value at a path is consistent with the values chosen for the lexically earlier fields."""
    before: Membership | None = ()
    for chosen_key, chosen in trail:
        if chosen_key < key:
            before = merge(before, chosen)  # type: ignore[arg-type]
    return all(merge(before, where) is None for _, where in values)  # type: ignore[arg-type]
