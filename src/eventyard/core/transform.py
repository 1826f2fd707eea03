"""What a target receives: ``Input`` / ``InputPath`` / ``InputTransformer`` (pure, no I/O).

Two halves:

* PutTargets-time validation: :func:`validate_target_input` (one target: mutual exclusivity, ``Input`` JSON,
  ``InputPath``, ``InputTransformer``), :func:`validate_input_path`, :func:`validate_input_transformer`.
* Per-delivery shaping: :func:`target_input` returns the payload text to deliver. Templates and JSON paths are
  compiled once and cached by their text.

Sources and how sure we are (quoted messages are AWS's own unless marked "ours"):

* EventBridge user guide, eb-transform-target-input (table of examples, predefined variables, "Common issues");
  API reference of InputTransformer / Target; botocore's model (``InputTransformerPathKey`` pattern
  ``[A-Za-z0-9\\_\\-]+``, 1-256; at most 100 map entries; template 1-8192).
* Recorded against AWS in LocalStack's snapshot-validated tests (test_events_inputs.py):
  - "InputTemplate for target <id> contains invalid placeholder <name>." (PutTargets)
  - "Only one of Input, InputPath, or InputTransformer must be provided for target <id>."
  - a variable whose path is absent from the event becomes an empty string: ``"... detail <command>"`` ->
    ``"... detail "`` and, bare in a JSON template, ``"command": <command>`` -> ``"command": ""``;
  - ``<aws.events.event>`` is the event without ``detail``, with ``detail-type`` renamed ``detailType`` and the
    keys in the order id, account, detailType, time, source, region, resources, version;
  - ``InputPath`` ``$.detail.payload.sf_id`` on a string value delivers the JSON text ``"baz"``.
* Third-party measurements against PutTargets (us-east-1, 2026-09-07; a CDK pre-flight rule set):
  - "InputPath for target <id> is invalid." for an InputPath *or* an InputPathsMap value that does not start
    with ``$`` or uses quoted brackets (``$.detail['k']``); ``$`` alone and ``[0]`` indices are accepted;
  - "InputTemplate for target <id> contains placeholder aws.events.event.json valid only for JSON template."
    when the template is not a JSON object (``[<aws.events.event.json>]`` or a quoted string), i.e. only a
    template surrounded by curly braces counts as a JSON template;
  - "JSON syntax error in input for target <id>: [Source: (String)"..."; line: 1, column: 4]" for a
    non-JSON ``Input`` (also seen in aws/aws-cli#6711); JSON scalars are accepted.

Decisions where AWS is silent (also listed in the module's tests):

* JSON templates (stripped text starts with ``{``): a bare placeholder becomes the value's JSON text (strings
  quoted and JSON-escaped); a placeholder inside a JSON string becomes the raw value ("EventBridge doesn't
  escape values extracted by Input Path": a value containing ``"`` yields invalid JSON, as on AWS); the
  template's insignificant whitespace is removed ("The JSON that is passed to the target is minified").
  Every other template is plain text: all placeholders become raw values, the text is kept as is.
* Raw rendering of non-strings: numbers/booleans/null as JSON literals, objects/arrays as compact JSON.
* A JSON ``null`` value found at a path renders as ``null``; only an absent path renders as empty.
* ``InputPath`` selecting nothing delivers the empty string (the same "absent -> empty" rule as above).
* Wildcards (``*``, ``[*]``) select a JSON array of all matches (Jayway JsonPath semantics).
* PutTargets refuses a JSON-object template that is not valid JSON once placeholders are filled, and a
  placeholder used as an object key (API reference: "The placeholder cannot be used as an object key").
  Those messages are ours.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

from eventyard.core.envelope import event_json
from eventyard.core.patterns.jsonlex import source_location
from eventyard.errors import AwsError

RULE_ARN: Final = "aws.events.rule-arn"
RULE_NAME: Final = "aws.events.rule-name"
INGESTION_TIME: Final = "aws.events.event.ingestion-time"
EVENT: Final = "aws.events.event"
EVENT_JSON: Final = "aws.events.event.json"

PREDEFINED_VARIABLES: Final = frozenset({RULE_ARN, RULE_NAME, INGESTION_TIME, EVENT, EVENT_JSON})
JSON_ONLY_VARIABLES: Final = frozenset({EVENT, EVENT_JSON})

MAX_INPUT_PATHS: Final = 100
MAX_PATH_KEY_LENGTH: Final = 256

# A placeholder is <name> with the characters of InputPathsMap keys plus '.' (for the aws.events.* names).
_PLACEHOLDER_RE = re.compile(r"<([A-Za-z0-9_.\-]+)>")
_PATH_KEY_RE = re.compile(r"[A-Za-z0-9_\-]+")
_JSON_WS = " \t\n\r"


def _validation(message: str) -> AwsError:
    return AwsError("ValidationException", message)


def _for_target(target_id: str | None) -> str:
    return "" if target_id is None else f" for target {target_id}"


class _Missing:
    """Marker for "the path selects nothing" (distinct from a JSON null)."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()


# ----------------------------------------------------------------------------------------------- JSONPath

_WILDCARD: Final = object()
# Dot-notation member names: anything but the path syntax itself, whitespace and quotes.
_NAME_RE = re.compile(r"[^.\[\]\s'\"*]+")
_INDEX_RE = re.compile(r"\[(?:([0-9]{1,18})|\*)\]")


class InvalidPathError(ValueError):
    pass


@dataclass(frozen=True)
class JsonPath:
    """The JSONPath subset EventBridge documents: ``$``, ``.name`` (letters, digits, ``-``, ``_``, ``/`` ...),
    ``[index]``, and the wildcards ``.*`` / ``[*]``. Quoted brackets, filters, slices and ``..`` are refused."""

    text: str
    steps: tuple[Any, ...]  # str member, int index, or _WILDCARD

    @property
    def definite(self) -> bool:
        return _WILDCARD not in self.steps

    def find(self, document: Any) -> Any:
        """The selected value, ``MISSING`` if there is none; a list of all matches for a wildcard path."""
        if self.definite:
            node = document
            for step in self.steps:
                if isinstance(step, str):
                    if not isinstance(node, dict) or step not in node:
                        return MISSING
                    node = node[step]
                else:
                    if not isinstance(node, list) or step >= len(node):
                        return MISSING
                    node = node[step]
            return node
        nodes = [document]
        for step in self.steps:
            selected: list[Any] = []
            for node in nodes:
                if step is _WILDCARD:
                    if isinstance(node, dict):
                        selected.extend(node.values())
                    elif isinstance(node, list):
                        selected.extend(node)
                elif isinstance(step, str):
                    if isinstance(node, dict) and step in node:
                        selected.append(node[step])
                elif isinstance(node, list) and step < len(node):
                    selected.append(node[step])
            nodes = selected
        return nodes


@lru_cache(maxsize=4096)
def compile_path(text: str) -> JsonPath:
    """Parse a JSONPath; raises :class:`InvalidPathError`."""
    if not text.startswith("$"):
        raise InvalidPathError(text)
    steps: list[Any] = []
    i, n = 1, len(text)
    while i < n:
        c = text[i]
        if c == ".":
            i += 1
            if i < n and text[i] == "*":
                steps.append(_WILDCARD)
                i += 1
                continue
            m = _NAME_RE.match(text, i)
            if m is None:
                raise InvalidPathError(text)
            steps.append(m.group())
            i = m.end()
        elif c == "[":
            m = _INDEX_RE.match(text, i)
            if m is None:
                raise InvalidPathError(text)
            steps.append(int(m.group(1)) if m.group(1) is not None else _WILDCARD)
            i = m.end()
        else:
            raise InvalidPathError(text)
    return JsonPath(text=text, steps=tuple(steps))


def _is_valid_path(path: object) -> bool:
    if not isinstance(path, str):
        return False
    try:
        compile_path(path)
    except InvalidPathError:
        return False
    return True


# ----------------------------------------------------------------------------------------------- templates


@dataclass(frozen=True)
class Slot:
    """A ``<name>`` placeholder: ``in_string`` when inside a JSON string literal of a JSON template,
    ``is_key`` when that position is an object key."""

    name: str
    in_string: bool
    is_key: bool


@dataclass(frozen=True)
class CompiledTemplate:
    text: str
    json_object: bool  # the stripped template starts with "{" -> JSON template; otherwise plain text
    parts: tuple[str | Slot, ...]  # rendering parts (literals minified for JSON templates)
    raw_parts: tuple[str | Slot, ...]  # same, literals verbatim (used to validate the template)

    @property
    def slots(self) -> tuple[Slot, ...]:
        return tuple(p for p in self.raw_parts if isinstance(p, Slot))


def _next_non_ws(text: str, i: int) -> str:
    while i < len(text) and text[i] in _JSON_WS:
        i += 1
    return text[i] if i < len(text) else ""


@lru_cache(maxsize=1024)
def compile_template(text: str) -> CompiledTemplate:
    json_object = text.lstrip(_JSON_WS).startswith("{")
    parts: list[str | Slot] = []
    raw_parts: list[str | Slot] = []
    buf: list[str] = []  # minified literal
    raw: list[str] = []  # verbatim literal
    in_string = False
    string_slots: list[int] = []  # indexes (in parts) of the slots inside the current string
    i, n = 0, len(text)

    def flush() -> None:
        if raw:
            parts.append("".join(buf))
            raw_parts.append("".join(raw))
            buf.clear()
            raw.clear()

    while i < n:
        c = text[i]
        if c == "<":
            m = _PLACEHOLDER_RE.match(text, i)
            if m is not None:
                flush()
                is_key = json_object and not in_string and _next_non_ws(text, m.end()) == ":"
                slot = Slot(m.group(1), in_string and json_object, is_key)
                if in_string:
                    string_slots.append(len(parts))
                parts.append(slot)
                raw_parts.append(slot)
                i = m.end()
                continue
        if in_string:
            if c == "\\" and i + 1 < n:
                buf.append(text[i : i + 2])
                raw.append(text[i : i + 2])
                i += 2
                continue
            if c == '"':
                in_string = False
                if json_object and string_slots and _next_non_ws(text, i + 1) == ":":
                    for k in string_slots:
                        old = parts[k]
                        assert isinstance(old, Slot)
                        parts[k] = raw_parts[k] = Slot(old.name, old.in_string, True)
                string_slots.clear()
        elif c == '"':
            in_string = True
        elif json_object and c in _JSON_WS:
            raw.append(c)
            i += 1
            continue
        buf.append(c)
        raw.append(c)
        i += 1
    flush()
    return CompiledTemplate(
        text=text, json_object=json_object, parts=tuple(parts), raw_parts=tuple(raw_parts)
    )


def _render(value: Any, bare: bool) -> str:
    if value is MISSING:
        return '""' if bare else ""
    if bare:
        return event_json(value)
    return value if isinstance(value, str) else event_json(value)


# Key order of <aws.events.event> as recorded from AWS; detail-type is renamed detailType there.
_EVENT_VARIABLE_KEYS: Final = (
    ("id", "id"),
    ("account", "account"),
    ("detail-type", "detailType"),
    ("time", "time"),
    ("source", "source"),
    ("region", "region"),
    ("resources", "resources"),
    ("version", "version"),
)
_EVENT_VARIABLE_SOURCES: Final = frozenset(src for src, _ in _EVENT_VARIABLE_KEYS) | {"detail"}


def event_without_detail(event: dict[str, Any]) -> dict[str, Any]:
    """The value of ``<aws.events.event>``: the event without ``detail``, ``detail-type`` as ``detailType``."""
    out = {dst: event[src] for src, dst in _EVENT_VARIABLE_KEYS if src in event}
    out.update((k, v) for k, v in event.items() if k not in _EVENT_VARIABLE_SOURCES)
    return out


def render_transformer(
    transformer: dict[str, Any],
    event: dict[str, Any],
    *,
    rule_arn: str,
    rule_name: str,
    ingestion_time: str,
) -> str:
    compiled = compile_template(transformer["InputTemplate"])
    paths: dict[str, str] = transformer.get("InputPathsMap") or {}
    values: dict[str, Any] = {}
    out: list[str] = []
    for part in compiled.parts:
        if isinstance(part, str):
            out.append(part)
            continue
        name = part.name
        if name in values:
            value = values[name]
        elif name in paths:  # user variables shadow nothing: their keys cannot contain '.'
            value = values[name] = compile_path(paths[name]).find(event)
        elif name == RULE_ARN:
            value = rule_arn
        elif name == RULE_NAME:
            value = rule_name
        elif name == INGESTION_TIME:
            value = ingestion_time
        elif name == EVENT:
            value = values[name] = event_without_detail(event)
        elif name == EVENT_JSON:
            value = event
        else:  # not a variable (refused at PutTargets): keep the text
            out.append(f"<{name}>")
            continue
        out.append(_render(value, compiled.json_object and not part.in_string))
    return "".join(out)


def target_input(
    event: dict[str, Any],
    target: dict[str, Any],
    *,
    rule_arn: str,
    rule_name: str,
    ingestion_time: str,
) -> str:
    """The payload text delivered to ``target`` for ``event``.

    ``target`` is the stored PutTargets target (``Input`` / ``InputPath`` / ``InputTransformer``); with none of
    them the whole event is delivered as compact JSON. ``ingestion_time`` is the ISO-8601 value of
    ``<aws.events.event.ingestion-time>``.
    """
    constant = target.get("Input")
    if constant is not None:
        return constant
    input_path = target.get("InputPath")
    if input_path is not None:
        value = compile_path(input_path).find(event)
        return "" if value is MISSING else event_json(value)
    transformer = target.get("InputTransformer")
    if transformer is not None:
        return render_transformer(
            transformer, event, rule_arn=rule_arn, rule_name=rule_name, ingestion_time=ingestion_time
        )
    return event_json(event)


# ----------------------------------------------------------------------------------------------- validation


def validate_input_path(path: object, *, target_id: str | None = None) -> None:
    """PutTargets check of an ``InputPath`` (and of every ``InputPathsMap`` value)."""
    if not _is_valid_path(path):
        # Message measured against AWS (third-party, see module docstring); used for map values too.
        raise _validation(f"InputPath{_for_target(target_id)} is invalid.")


def _reject_non_finite(token: str) -> Any:
    raise ValueError(f"non-standard JSON constant {token}")


def _strict_json(text: str) -> None:
    json.loads(text, parse_constant=_reject_non_finite)


def validate_input_transformer(transformer: object, *, target_id: str | None = None) -> None:
    """PutTargets check of an ``InputTransformer``; raises ``AwsError("ValidationException", ...)``."""
    where = _for_target(target_id)
    if not isinstance(transformer, dict):
        raise _validation(f"InputTransformer{where} is not valid.")  # ours (the model layer catches it first)
    template = transformer.get("InputTemplate")
    if not isinstance(template, str) or not template:
        # ours; AWS's request model marks InputTemplate required with length 1-8192.
        raise _validation(f"InputTemplate{where} must be specified.")
    paths = transformer.get("InputPathsMap")
    if paths is None:
        paths = {}
    if not isinstance(paths, dict):
        raise _validation(f"InputPathsMap{where} is not valid.")  # ours
    if len(paths) > MAX_INPUT_PATHS:
        # ours; AWS answers from its request model ("1 validation error detected: ...").
        raise _validation(f"InputPathsMap{where} has more than {MAX_INPUT_PATHS} entries.")
    for key, path in paths.items():
        if isinstance(key, str) and (key in PREDEFINED_VARIABLES or key.lower().startswith("aws.")):
            # ours; the predefined names are reserved and keys cannot start with "AWS." (API reference)
            raise _validation(f"InputPathsMap{where} contains reserved key {key}.")
        if not isinstance(key, str) or len(key) > MAX_PATH_KEY_LENGTH or not _PATH_KEY_RE.fullmatch(key):
            # ours; AWS's model: keys match [A-Za-z0-9\_\-]+, length 1-256
            raise _validation(f"InputPathsMap{where} contains invalid key {key}.")
        validate_input_path(path, target_id=target_id)

    compiled = compile_template(template)
    for slot in compiled.slots:
        if slot.name not in paths and slot.name not in PREDEFINED_VARIABLES:
            raise _validation(f"InputTemplate{where} contains invalid placeholder {slot.name}.")
        if slot.name in JSON_ONLY_VARIABLES and not compiled.json_object:
            raise _validation(
                f"InputTemplate{where} contains placeholder {slot.name} valid only for JSON template."
            )
    if not compiled.json_object:
        return
    for slot in compiled.slots:
        if slot.is_key:
            raise _validation(f"InputTemplate{where} uses placeholder {slot.name} as an object key.")  # ours
    probe = "".join(p if isinstance(p, str) else ("" if p.in_string else "null") for p in compiled.raw_parts)
    try:
        _strict_json(probe)
    except ValueError:
        raise _validation(f"InputTemplate{where} is not valid JSON.") from None  # ours


def _jackson_location(text: str, pos: int) -> tuple[int, int]:
    """Line and column in the style of Jackson, which reports the position just after the offending token
    (``env:dev`` -> column 4, ``{'env':'dev'}`` -> column 3, as AWS answers). Approximate for other errors."""
    pos = max(0, min(pos, len(text)))
    line = text.count("\n", 0, pos) + 1
    line_start = text.rfind("\n", 0, pos) + 1
    end = pos
    if end < len(text):
        if text[end].isalnum() or text[end] in "_$":
            while end < len(text) and (text[end].isalnum() or text[end] in "_$"):
                end += 1
        else:
            end += 1
    return line, end - line_start + 1


def validate_input(text: object, *, target_id: str | None = None) -> None:
    """PutTargets check of a constant ``Input``: any JSON text (object, array, string, number, ...)."""
    if not isinstance(text, str):
        raise _validation(f"JSON syntax error in input{_for_target(target_id)}.")  # ours
    try:
        _strict_json(text)
    except json.JSONDecodeError as e:
        pos = e.pos
    except ValueError:  # NaN / Infinity
        pos = 0
    else:
        return
    line, column = _jackson_location(text, pos)
    raise _validation(
        f"JSON syntax error in input{_for_target(target_id)}: {source_location(text, line, column)}"
    )


def validate_target_input(target: dict[str, Any]) -> None:
    """All PutTargets checks of one target's input settings (``Id`` is used in the messages)."""
    target_id = target.get("Id")
    tid = None if target_id is None else str(target_id)
    present = [k for k in ("Input", "InputPath", "InputTransformer") if target.get(k) is not None]
    if len(present) > 1:
        raise _validation(
            f"Only one of Input, InputPath, or InputTransformer must be provided{_for_target(tid)}."
        )
    if target.get("Input") is not None:
        validate_input(target["Input"], target_id=tid)
    elif target.get("InputPath") is not None:
        validate_input_path(target["InputPath"], target_id=tid)
    elif target.get("InputTransformer") is not None:
        validate_input_transformer(target["InputTransformer"], target_id=tid)
