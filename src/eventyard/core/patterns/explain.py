"""Why an event does not match a pattern: the fields whose tests no value of the event passes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from eventyard.core.patterns.compiler import parse_pattern
from eventyard.core.patterns.evaluate import pattern_matches, predicate_accepts
from eventyard.core.patterns.events import flatten, load_event


@dataclass(frozen=True, slots=True)
class Mismatch:
    """One reason an event fails a pattern.

    `path` is the flattened field path (``detail.state``); `expected` the field's tests as pattern JSON;
    `actual` the event's values at that path (an empty tuple when it has none); `branch` the index of the
    ``$or`` combination concerned, or None when the pattern has a single one; `reason` says what went wrong.
    """

    path: str
    expected: str
    actual: tuple[Any, ...]
    reason: str
    branch: int | None = None

    def __str__(self) -> str:
        where = f"[branch {self.branch}] " if self.branch is not None else ""
        found = "nothing" if not self.actual else ", ".join(_render(v) for v in self.actual)
        return f"{where}{self.path}: expected {self.expected}, event has {found} ({self.reason})"


def _render(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def explain(pattern: Any, event: Any) -> list[Mismatch]:
    """The mismatches between `pattern` and `event` (an empty list when the event matches).

    For each branch (``$or`` combination) of the pattern, every field whose tests accept none of the event's
    values there (or, for ``exists: false``, whose path has a value) is reported; a branch whose fields each
    pass on their own but only with values from different elements of one array is reported once, with the
    paths involved. Raises InvalidEventPattern for an invalid pattern.
    """
    compiled = parse_pattern(pattern)
    if isinstance(event, str | bytes | bytearray):
        event = load_event(event)
    fields = flatten(event)
    if pattern_matches(compiled, fields):
        return []
    numbered = len(compiled.branches) > 1
    mismatches: list[Mismatch] = []
    for index, branch in enumerate(compiled.branches):
        label = index if numbered else None
        found_here = False
        for path, predicate in branch:
            values = tuple(value for value, _ in fields.get(path, ()))
            expected = predicate.describe()
            if not values:
                if not predicate.absent_ok:
                    mismatches.append(Mismatch(path, expected, values, "the field is absent", label))
                    found_here = True
                continue
            if any(predicate_accepts(predicate, value) for value in values):
                continue
            reason = "the field is present" if not predicate.value_tests else "no value passes"
            mismatches.append(Mismatch(path, expected, values, reason, label))
            found_here = True
        if not found_here:
            paths = ", ".join(path for path, _ in branch)
            mismatches.append(
                Mismatch(
                    paths,
                    "values from the same element of each array",
                    (),
                    "each field passes alone, but only with values from different elements of one array",
                    label,
                )
            )
    return mismatches
