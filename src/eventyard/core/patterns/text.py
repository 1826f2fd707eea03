"""String comparisons as event-ruler does them on UTF-8 bytes: ignoring case, wildcards, lone surrogates.

Ruler matches a value's UTF-8 bytes. Java encodes an unpaired surrogate as ``?``, so a lone surrogate (from a
``\\ud800`` escape) compares equal to ``?`` and to any other lone surrogate; `java_utf8` applies the same
replacement so that plain string comparison here agrees with Ruler's byte comparison.

``equals-ignore-case`` compiles each UTF-16 unit ``c`` of the pattern into "the UTF-8 of
``String.valueOf(c).toLowerCase()`` or of ``toUpperCase()``": a value matches if it is a sequence of such
pieces, one per unit. That is not Unicode case folding: ``ß`` accepts ``ß`` or ``SS``, the Kelvin sign is
not a ``k``, and a character outside the BMP (two surrogate units) only matches ``??``.
"""

from __future__ import annotations

import re
from functools import lru_cache


def java_utf8(text: str) -> str:
    """`text` with each unpaired surrogate replaced by ``?``, as Java's UTF-8 encoder does."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    return text


def _utf16_units(text: str) -> list[str]:
    units: list[str] = []
    for ch in text:
        code = ord(ch)
        if code > 0xFFFF:
            code -= 0x10000
            units.append(chr(0xD800 + (code >> 10)))
            units.append(chr(0xDC00 + (code & 0x3FF)))
        else:
            units.append(ch)
    return units


Positions = tuple[tuple[str, ...], ...]


@lru_cache(maxsize=4096)
def case_positions(pattern: str) -> Positions:
    """For each UTF-16 unit of `pattern`, the strings a value may have there: its lower and upper case."""
    positions: list[tuple[str, ...]] = []
    for unit in _utf16_units(pattern):
        if "\ud800" <= unit <= "\udfff":
            positions.append(("?",))
            continue
        lower, upper = unit.lower(), unit.upper()
        positions.append((lower,) if lower == upper else (lower, upper))
    return tuple(positions)


def fold_key(positions: Positions) -> str | None:
    """A dictionary key for a case-insensitive pattern whose every position is one character, else None.

    A value can only match such a pattern if `fold_value(value)` equals this key (checked exactly after).
    """
    key: list[str] = []
    for alternatives in positions:
        folded = {alt.lower() for alt in alternatives}
        if len(folded) != 1 or any(len(alt) != 1 for alt in alternatives):
            return None
        (single,) = folded
        if len(single) != 1:
            return None
        key.append(single)
    return "".join(key)


def fold_value(value: str) -> str:
    """The character-by-character lower case of `value` (without the final-sigma rule of str.lower)."""
    if value.isascii():
        return value.lower()
    if "Σ" in value or "\u0130" in value:
        return "".join(ch.lower() if len(ch.lower()) == 1 else ch for ch in value)
    return value.lower()


def _ends_after(positions: Positions, value: str, start: int) -> set[int]:
    """Every index of `value` at which a match of all `positions` starting at `start` can end."""
    current = {start}
    for alternatives in positions:
        following: set[int] = set()
        for index in current:
            for alt in alternatives:
                if value.startswith(alt, index):
                    following.add(index + len(alt))
        if not following:
            return following
        current = following
    return current


def equals_ignore_case(positions: Positions, value: str) -> bool:
    return len(value) in _ends_after(positions, value, 0)


def starts_with_ignore_case(positions: Positions, value: str) -> bool:
    return bool(_ends_after(positions, value, 0))


def ends_with_ignore_case(positions: Positions, value: str) -> bool:
    reversed_positions = tuple(tuple(alt[::-1] for alt in alts) for alts in reversed(positions))
    return bool(_ends_after(reversed_positions, value[::-1], 0))


def wildcard_error(pattern: str) -> str | None:
    """Ruler's complaint about a wildcard pattern, or None; positions count UTF-8 bytes from the quote."""
    data = ('"' + pattern + '"').encode("utf-8", "replace")
    i = 0
    while i < len(data):
        byte = data[i]
        if byte == 0x2A:  # *
            if i + 1 < len(data) and data[i + 1] == 0x2A:
                return f"Consecutive wildcard characters at pos {i}"
        elif byte == 0x5C:  # backslash
            if i + 1 < len(data) and data[i + 1] in (0x2A, 0x5C):
                i += 2
                continue
            return f"Invalid escape character at pos {i}"
        i += 1
    return None


def wildcard_parts(pattern: str) -> list[str]:
    """The literal pieces of a (valid) wildcard pattern, between its unescaped ``*``s."""
    parts: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            current.append(pattern[i + 1])
            i += 2
            continue
        if ch == "*":
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    parts.append("".join(current))
    return parts


@lru_cache(maxsize=4096)
def wildcard_regex(pattern: str) -> re.Pattern[str]:
    """A regular expression that fully matches what the wildcard pattern matches."""
    return re.compile(".*".join(re.escape(java_utf8(part)) for part in wildcard_parts(pattern)), re.DOTALL)
