"""A pull tokenizer for pattern JSON that fails where, and in the words, Jackson's parser fails.

EventBridge compiles a pattern with event-ruler, which reads it token by token from a Jackson ``JsonParser``
and stops at the first problem, whether Jackson's (``Unrecognized token 'this': was expecting ...``) or
its own (``Empty arrays are not allowed``). To say the same thing for the same text, the compiler here
pulls tokens from this class, which copies the behaviour of Jackson's ``ReaderBasedJsonParser`` with
default features: no comments, no single quotes, no NaN, no leading zeros or plus signs, no trailing
commas, duplicate keys allowed. As in Jackson, a field's value is read together with its name, a string's
content is decoded only when asked for (or when skipped by the next token), and nothing after the root value
is read.
"""

from __future__ import annotations

import re
import unicodedata

from eventyard.core.patterns.errors import PatternFormatError

# Token kinds (0 is the end of the input).
END = 0
START_OBJECT = 1
END_OBJECT = 2
START_ARRAY = 3
END_ARRAY = 4
FIELD_NAME = 5
VALUE_STRING = 6
VALUE_NUMBER_INT = 7
VALUE_NUMBER_FLOAT = 8
VALUE_TRUE = 9
VALUE_FALSE = 10
VALUE_NULL = 11

NUMBER_TOKENS = frozenset({VALUE_NUMBER_INT, VALUE_NUMBER_FLOAT})

_ROOT, _ARRAY, _OBJECT = 0, 1, 2
_TYPE_DESC = {_ROOT: "root", _ARRAY: "Array", _OBJECT: "Object"}
_VALID_TOKENS = "(JSON String, Number, Array, Object or token 'null', 'true' or 'false')"
_MAX_SNIPPET = 500  # Jackson quotes at most this many characters of the source in a location
_MAX_ERROR_TOKEN = 256  # and at most this many of an unrecognized token
_STRUCT_TEXT = {START_OBJECT: "{", END_OBJECT: "}", START_ARRAY: "[", END_ARRAY: "]"}
_LITERAL_TEXT = {VALUE_TRUE: "true", VALUE_FALSE: "false", VALUE_NULL: "null"}
_SIMPLE_ESCAPES = {"b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", '"': '"', "/": "/", "\\": "\\"}
_PLAIN_RUN = re.compile(r'[^"\\\x00-\x1f]*')
_DIGITS = re.compile(r"[0-9]*")
_HEX = "0123456789abcdefABCDEF"


def _char_desc(ch: str) -> str:
    """Jackson's `_getCharDesc`: how an offending character is quoted in a message."""
    code = ord(ch)
    if code <= 0x1F or 0x7F <= code <= 0x9F:
        return f"(CTRL-CHAR, code {code})"
    if code > 255:
        return f"'{ch}' (code {code} / 0x{code:x})"
    return f"'{ch}' (code {code})"


def _java_identifier_start(ch: str) -> bool:
    cat = unicodedata.category(ch)
    return cat[0] == "L" or cat in ("Nl", "Sc", "Pc")


def _java_identifier_part(ch: str) -> bool:
    code = ord(ch)
    if code <= 0x08 or 0x0E <= code <= 0x1B or 0x7F <= code <= 0x9F:
        return True  # Java counts these controls as "ignorable" identifier parts
    cat = unicodedata.category(ch)
    return cat[0] == "L" or cat in ("Nl", "Sc", "Pc", "Nd", "Mn", "Mc", "Cf")


class _Context:
    __slots__ = ("col", "index", "kind", "line")

    def __init__(self, kind: int, line: int, col: int) -> None:
        self.kind = kind
        self.line = line
        self.col = col
        self.index = -1

    def expect_comma(self) -> bool:
        self.index += 1
        return self.kind != _ROOT and self.index > 0


class Tokenizer:
    """Tokens of one JSON text, read on demand with `next_token()`; `text()` is the current token's text."""

    __slots__ = (
        "_ctx",
        "_incomplete",
        "_name",
        "_next",
        "_next_start",
        "_pos",
        "_stack",
        "_string_start",
        "_text",
        "_token_text",
        "_value",
        "current",
    )

    def __init__(self, text: str) -> None:
        self._text = text
        self._pos = 0
        self._ctx = _Context(_ROOT, 1, 0)
        self._stack: list[_Context] = []
        self.current = -1  # no token read yet
        self._next = -1
        self._next_start = 0
        self._name: str | None = None
        self._incomplete = False
        self._string_start = 0
        self._value: str | None = None
        self._token_text = ""

    # -- public --------------------------------------------------------------------------------------

    @property
    def current_name(self) -> str:
        """The field name of the current FIELD_NAME token."""
        return self._name or ""

    def text(self) -> str:
        """The current token's text: a string's decoded content, a number's literal, ``{`` for an object."""
        token = self.current
        if token == FIELD_NAME:
            return self._name or ""
        if token == VALUE_STRING:
            if self._incomplete:
                self._value = self._finish_string()
            return self._value or ""
        if token in NUMBER_TOKENS:
            return self._token_text
        if token in _LITERAL_TEXT:
            return _LITERAL_TEXT[token]
        if token in _STRUCT_TEXT:
            return _STRUCT_TEXT[token]
        return "null"

    def next_token(self) -> int:
        """Advance to the next token and return its kind (END when the root value is complete)."""
        if self.current == FIELD_NAME:
            return self._next_after_name()
        if self._incomplete:
            self._skip_string()
        ch = self._skip_ws_or_end()
        if ch is None:
            if self._ctx.kind != _ROOT:
                desc = _TYPE_DESC[self._ctx.kind]
                self._fail(
                    f"Unexpected end-of-input: expected close marker for {desc} "
                    f"(start marker at {source_location(self._text, self._ctx.line, self._ctx.col)})"
                )
            self.current = END
            return END
        if ch in "]}":
            return self._close_scope(ch)
        ctx = self._ctx
        if ctx.expect_comma():
            ch = self._skip_comma(ch)
        in_object = ctx.kind == _OBJECT
        if in_object:
            self._name = self._parse_name() if ch == '"' else self._odd_name(ch)
            self.current = FIELD_NAME
            ch = self._skip_colon()
        token_pos = self._pos - 1  # the value's first character has been consumed
        token = self._value_token(ch, in_object, token_pos)
        if in_object:
            self._next = token
            self._next_start = token_pos
            return FIELD_NAME
        self.current = token
        return token

    # -- structure -----------------------------------------------------------------------------------

    def _next_after_name(self) -> int:
        token = self._next
        self._next = -1
        if token in (START_ARRAY, START_OBJECT):
            line, col = self._line_col(self._next_start)
            self._push(_ARRAY if token == START_ARRAY else _OBJECT, line, col + 1)
        self.current = token
        return token

    def _push(self, kind: int, line: int, col: int) -> None:
        self._stack.append(self._ctx)
        self._ctx = _Context(kind, line, col)

    def _close_scope(self, ch: str) -> int:
        ctx = self._ctx
        if ch == "]":
            if ctx.kind != _ARRAY:
                self._mismatched_end(ch, "}")
            self.current = END_ARRAY
        else:
            if ctx.kind != _OBJECT:
                self._mismatched_end(ch, "]")
            self.current = END_OBJECT
        self._ctx = self._stack.pop()
        return self.current

    def _mismatched_end(self, actual: str, expected: str) -> None:
        ctx = self._ctx
        self._fail(
            f"Unexpected close marker '{actual}': expected '{expected}' "
            f"(for {_TYPE_DESC[ctx.kind]} starting at {source_location(self._text, ctx.line, ctx.col)})"
        )

    def _value_token(self, ch: str, in_object: bool, token_pos: int) -> int:
        if ch == '"':
            self._incomplete = True
            self._string_start = self._pos
            return VALUE_STRING
        if ch == "[" or ch == "{":
            if not in_object:
                line, col = self._line_col(token_pos)
                self._push(_ARRAY if ch == "[" else _OBJECT, line, col + 1)
            return START_ARRAY if ch == "[" else START_OBJECT
        if ch == "}":
            self._unexpected_char(ch, "expected a value")
        if ch == "t":
            self._match_literal("true")
            return VALUE_TRUE
        if ch == "f":
            self._match_literal("false")
            return VALUE_FALSE
        if ch == "n":
            self._match_literal("null")
            return VALUE_NULL
        if ch == "-" or "0" <= ch <= "9":
            return self._number(ch, token_pos)
        return self._odd_value(ch)

    # -- whitespace and separators -------------------------------------------------------------------

    def _skip_ws_or_end(self) -> str | None:
        text = self._text
        pos = self._pos
        end = len(text)
        while pos < end:
            ch = text[pos]
            pos += 1
            if ch > " ":
                if ch == "/":
                    self._pos = pos
                    self._comment()
                self._pos = pos
                return ch
            if ch not in " \t\n\r":
                self._pos = pos
                self._fail(
                    f"Illegal character ({_char_desc(ch)}): only regular white space "
                    "(\\r, \\n or \\t) is allowed between tokens"
                )
        self._pos = pos
        return None

    def _comment(self) -> None:
        self._unexpected_char(
            "/",
            "maybe a (non-standard) comment? (not recognized as one since Feature 'ALLOW_COMMENTS' "
            "not enabled for parser)",
        )

    def _skip_comma(self, ch: str) -> str:
        if ch != ",":
            self._unexpected_char(ch, f"was expecting comma to separate {_TYPE_DESC[self._ctx.kind]} entries")
        following = self._skip_ws_or_end()
        if following is None:
            self._fail(f"Unexpected end-of-input within/between {_TYPE_DESC[self._ctx.kind]} entries")
        return following  # type: ignore[return-value]

    def _skip_colon(self) -> str:
        ch = self._skip_ws_or_end()
        if ch is None:
            self._fail(f"Unexpected end-of-input within/between {_TYPE_DESC[self._ctx.kind]} entries")
        if ch != ":":
            self._unexpected_char(str(ch), "was expecting a colon to separate field name and value")
        ch = self._skip_ws_or_end()
        if ch is None:
            self._fail(f"Unexpected end-of-input within/between {_TYPE_DESC[self._ctx.kind]} entries")
        return ch  # type: ignore[return-value]

    # -- names and strings ---------------------------------------------------------------------------

    def _odd_name(self, ch: str) -> str:
        self._unexpected_char(ch, "was expecting double-quote to start field name")
        return ""

    def _parse_name(self) -> str:
        return self._read_string("name", "Unexpected end-of-input in field name")

    def _finish_string(self) -> str:
        self._incomplete = False
        self._pos = self._string_start
        return self._read_string(
            "string value", "Unexpected end-of-input: was expecting closing quote for a string value"
        )

    def _skip_string(self) -> None:
        self._finish_string()

    def _read_string(self, what: str, eof_message: str) -> str:
        text = self._text
        end = len(text)
        pos = self._pos
        parts: list[str] = []
        escaped_surrogate = False
        while True:
            run_end = _PLAIN_RUN.match(text, pos).end()  # type: ignore[union-attr]
            if run_end > pos:
                parts.append(text[pos:run_end])
                pos = run_end
            if pos >= end:
                self._pos = pos
                self._fail(eof_message)
            ch = text[pos]
            pos += 1
            if ch == '"':
                break
            if ch == "\\":
                self._pos = pos
                decoded = self._decode_escape()
                pos = self._pos
                if "\ud800" <= decoded <= "\udfff":
                    escaped_surrogate = True
                parts.append(decoded)
                continue
            self._pos = pos
            self._fail(
                f"Illegal unquoted character ({_char_desc(ch)}): has to be escaped using backslash "
                f"to be included in {what}"
            )
        self._pos = pos
        value = "".join(parts)
        if escaped_surrogate:
            # Escaped UTF-16 halves that form a pair are one character, as in a Java string.
            value = value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")
        return value

    def _decode_escape(self) -> str:
        text = self._text
        if self._pos >= len(text):
            self._fail("Unexpected end-of-input in character escape sequence")
        ch = text[self._pos]
        self._pos += 1
        simple = _SIMPLE_ESCAPES.get(ch)
        if simple is not None:
            return simple
        if ch != "u":
            self._fail(f"Unrecognized character escape {_char_desc(ch)}")
        value = 0
        for _ in range(4):
            if self._pos >= len(text):
                self._fail("Unexpected end-of-input in character escape sequence")
            digit = text[self._pos]
            self._pos += 1
            if digit not in _HEX:
                self._unexpected_char(digit, "expected a hex-digit for character escape sequence")
            value = (value << 4) | int(digit, 16)
        return chr(value)

    # -- literals and numbers ------------------------------------------------------------------------

    def _match_literal(self, word: str) -> None:
        text = self._text
        pos = self._pos  # just after the first letter
        for i in range(1, len(word)):
            if pos >= len(text) or text[pos] != word[i]:
                self._pos = pos
                self._invalid_token(word[:i])
            pos += 1
        self._pos = pos
        if pos < len(text):
            ch = text[pos]
            if ch >= "0" and ch != "]" and ch != "}" and _java_identifier_part(ch):
                self._invalid_token(word)

    def _invalid_token(self, matched: str) -> None:
        text = self._text
        pos = self._pos
        token = [matched]
        length = len(matched)
        while pos < len(text) and _java_identifier_part(text[pos]):
            token.append(text[pos])
            pos += 1
            length += 1
            if length >= _MAX_ERROR_TOKEN:
                token.append("...")
                break
        self._pos = pos
        self._fail(f"Unrecognized token '{''.join(token)}': was expecting {_VALID_TOKENS}")

    def _number(self, first: str, start: int) -> int:
        text = self._text
        end = len(text)
        pos = self._pos  # just after `first`
        if first == "-":
            if pos >= end:
                self._fail("Unexpected end-of-input in a Number value")
            ch = text[pos]
            if not "0" <= ch <= "9":
                self._pos = pos + 1
                if text.startswith("Infinity", pos):
                    self._non_numeric("-Infinity")
                self._unexpected_number_char(
                    ch, "expected digit (0-9) to follow minus sign, for valid numeric value"
                )
            first = ch
            pos += 1
        if first == "0" and pos < end and "0" <= text[pos] <= "9":
            self._pos = pos
            self._fail("Invalid numeric value: Leading zeroes not allowed")
        pos = _DIGITS.match(text, pos).end()  # type: ignore[union-attr]
        is_float = False
        if pos < end and text[pos] == ".":
            is_float = True
            pos += 1
            digits_end = _DIGITS.match(text, pos).end()  # type: ignore[union-attr]
            if digits_end == pos:
                bad = text[pos] if pos < end else "."
                self._pos = min(pos + 1, end)
                self._unexpected_number_char(bad, "Decimal point not followed by a digit")
            pos = digits_end
        if pos < end and text[pos] in "eE":
            is_float = True
            pos += 1
            if pos < end and text[pos] in "+-":
                pos += 1
            digits_end = _DIGITS.match(text, pos).end()  # type: ignore[union-attr]
            if digits_end == pos:
                bad = text[pos] if pos < end else text[pos - 1]
                self._pos = min(pos + 1, end)
                self._unexpected_number_char(bad, "Exponent indicator not followed by a digit")
            pos = digits_end
        self._pos = pos
        self._token_text = text[start:pos]
        if self._ctx.kind == _ROOT and pos < end and text[pos] not in " \t\n\r":
            self._pos = pos + 1
            self._unexpected_char(text[pos], "Expected space separating root-level values")
        return VALUE_NUMBER_FLOAT if is_float else VALUE_NUMBER_INT

    def _odd_value(self, ch: str) -> int:
        text = self._text
        for word in ("NaN", "Infinity"):
            if ch == word[0] and text.startswith(word[1:], self._pos):
                self._pos += len(word) - 1
                if self._pos < len(text) and _java_identifier_part(text[self._pos]):
                    self._invalid_token(word)
                self._non_numeric(word)
        if ch == "+":
            if self._pos >= len(text):
                self._fail("Unexpected end-of-input in a Number value")
            self._pos += 1
            self._unexpected_number_char(
                "+",
                "JSON spec does not allow numbers to have plus signs: enable "
                "`JsonReadFeature.ALLOW_LEADING_PLUS_SIGN_FOR_NUMBERS` to allow",
            )
        if _java_identifier_start(ch):
            self._invalid_token(ch)
        self._unexpected_char(ch, f"expected a valid value {_VALID_TOKENS}")
        return END

    # -- errors --------------------------------------------------------------------------------------

    def _unexpected_char(self, ch: str, comment: str) -> None:
        self._fail(f"Unexpected character ({_char_desc(ch)}): {comment}")

    def _unexpected_number_char(self, ch: str, comment: str) -> None:
        self._fail(f"Unexpected character ({_char_desc(ch)}) in numeric value: {comment}")

    def _non_numeric(self, token: str) -> None:
        self._fail(
            f"Non-standard token '{token}': enable `JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS` to allow"
        )

    def _fail(self, reason: str) -> None:
        raise PatternFormatError(reason)

    def _line_col(self, offset: int) -> tuple[int, int]:
        """1-based line and 0-based column of `offset`, counting line breaks as Jackson does."""
        text = self._text
        line = 1
        row_start = 0
        pos = 0
        while True:
            n = text.find("\n", pos, offset)
            r = text.find("\r", pos, offset)
            if n < 0 and r < 0:
                break
            brk = n if r < 0 or (0 <= n < r) else r
            pos = brk + 1
            if text[brk] == "\r" and pos < len(text) and text[pos] == "\n":
                pos += 1
            line += 1
            row_start = pos
        return line, offset - row_start


def source_location(source: str, line: int, col: int) -> str:
    """A place in JSON text as Jackson's messages show it: ``[Source: (String)"..."; line: 1, column: 4]``."""
    snippet = source[:_MAX_SNIPPET]
    truncated = len(source) - len(snippet)
    extra = f"[truncated {truncated} chars]" if truncated > 0 else ""
    return f'[Source: (String)"{snippet}"{extra}; line: {line}, column: {col}]'
