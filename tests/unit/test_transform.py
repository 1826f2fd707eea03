"""Target input shaping (Input / InputPath / InputTransformer) and its PutTargets validation.

Expected outputs come from the EventBridge user guide's table (eb-transform-target-input), from behaviour
recorded against AWS (LocalStack snapshot tests, quoted in comments), and from the documented rules; the
property tests compare against Python's own JSON encoder/decoder.
"""

from __future__ import annotations

import json
import string
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from eventyard.core.transform import (
    MISSING,
    InvalidPathError,
    compile_path,
    compile_template,
    event_without_detail,
    target_input,
    validate_input,
    validate_input_path,
    validate_input_transformer,
    validate_target_input,
)
from eventyard.errors import AwsError

RULE_ARN = "arn:aws:events:us-east-2:123456789012:rule/example"
RULE_NAME = "example"
INGESTION = "2015-11-11T21:29:55Z"

# The user guide's example event.
UG_EVENT: dict[str, Any] = {
    "version": "0",
    "id": "7bf73129-1428-4cd3-a780-95db273d1602",
    "detail-type": "EC2 Instance State-change Notification",
    "source": "aws.ec2",
    "account": "123456789012",
    "time": "2015-11-11T21:29:54Z",
    "region": "us-east-1",
    "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-abcd1111"],
    "detail": {"instance-id": "i-0123456789", "state": "RUNNING"},
}
# The user guide's Input Path.
UG_PATHS = {
    "timestamp": "$.time",
    "instance": "$.detail.instance-id",
    "state": "$.detail.state",
    "resource": "$.resources[0]",
}


def deliver(
    target: dict[str, Any],
    event: dict[str, Any] | None = None,
    *,
    validate: bool = True,
    target_id: str = "t1",
) -> str:
    if validate:
        validate_target_input({"Id": target_id, "Arn": "arn:aws:sqs:us-east-1:123456789012:q", **target})
    return target_input(
        UG_EVENT if event is None else event,
        target,
        rule_arn=RULE_ARN,
        rule_name=RULE_NAME,
        ingestion_time=INGESTION,
    )


def transform(template: str, paths: dict[str, str] | None = None, event: dict[str, Any] | None = None) -> str:
    transformer: dict[str, Any] = {"InputTemplate": template}
    if paths is not None:
        transformer["InputPathsMap"] = paths
    return deliver({"InputTransformer": transformer}, event)


def refused(target: dict[str, Any], target_id: str = "t1") -> str:
    with pytest.raises(AwsError) as exc:
        validate_target_input({"Id": target_id, "Arn": "arn:aws:sqs:us-east-1:123456789012:q", **target})
    assert exc.value.code == "ValidationException"
    assert exc.value.status == 400
    return exc.value.message


def refused_transformer(template: str, paths: dict[str, Any] | None = None) -> str:
    transformer: dict[str, Any] = {"InputTemplate": template}
    if paths is not None:
        transformer["InputPathsMap"] = paths
    return refused({"InputTransformer": transformer})


# ------------------------------------------------------------------------------------ no input settings


def test_whole_event_as_compact_json() -> None:
    out = deliver({})
    assert json.loads(out) == UG_EVENT
    assert list(json.loads(out)) == list(UG_EVENT)  # key order kept
    assert " " not in out.replace("EC2 Instance State-change Notification", "")
    assert out.startswith('{"version":"0","id":"7bf73129')


def test_an_event_nested_as_deep_as_put_events_allows_is_shaped() -> None:
    chain = '{"a":' * 998 + '"Zoë"' + "}" * 998
    event = {**UG_EVENT, "detail": {"order": 7, "a": orjson.loads(chain)}}  # 1,000 levels, the event 1,001
    assert deliver({"InputPath": "$.detail.a"}, event) == chain
    assert transform('{"deep": <deep>}', {"deep": "$.detail.a"}, event) == '{"deep":' + chain + "}"
    assert deliver({}, event).endswith('"detail":{"order":7,"a":' + chain + "}}")


def test_whole_event_keeps_non_ascii_and_big_numbers() -> None:
    event = {
        **UG_EVENT,
        "detail": {"name": "Zoë ☃", "n": 9223372036854775807, "f": 1.5, "b": False, "z": None},
    }
    out = deliver({}, event)
    assert "Zoë ☃" in out  # not \u-escaped
    assert json.loads(out) == event
    assert '"n":9223372036854775807' in out


# ---------------------------------------------------------------------------------------------- Input


@pytest.mark.parametrize(
    "text", ['{"custom-value": "somecustominput"}', '  {"a" :  1}  ', '"hello"', "42", "null"]
)
def test_input_is_delivered_unchanged(text: str) -> None:
    assert deliver({"Input": text}) == text


# ------------------------------------------------------------------------------------------ InputPath


def test_input_path_detail() -> None:
    assert json.loads(deliver({"InputPath": "$.detail"})) == UG_EVENT["detail"]
    assert deliver({"InputPath": "$.detail"}) == '{"instance-id":"i-0123456789","state":"RUNNING"}'


def test_input_path_string_value_is_json_text() -> None:
    # Recorded against AWS: InputPath "$.detail.payload.sf_id" delivered the body "baz" (with quotes).
    event = {
        **UG_EVENT,
        "detail": {"command": "update-account", "payload": {"acc_id": "0a787ecb-4015", "sf_id": "baz"}},
    }
    assert deliver({"InputPath": "$.detail.payload.sf_id"}, event) == '"baz"'
    assert json.loads(deliver({"InputPath": "$.detail.payload"}, event)) == {
        "acc_id": "0a787ecb-4015",
        "sf_id": "baz",
    }


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("$", UG_EVENT),
        ("$.resources[0]", "arn:aws:ec2:us-east-1:123456789012:instance/i-abcd1111"),
        ("$.resources", UG_EVENT["resources"]),
        ("$.detail.instance-id", "i-0123456789"),
        ("$.detail-type", "EC2 Instance State-change Notification"),
        # wildcards select every match, as a JSON array
        ("$.resources[*]", UG_EVENT["resources"]),
        ("$.detail.*", ["i-0123456789", "RUNNING"]),
        ("$.*.state", ["RUNNING"]),
        ("$.detail.nothing.*", []),
    ],
)
def test_input_path_values(path: str, expected: Any) -> None:
    assert json.loads(deliver({"InputPath": path})) == expected


def test_input_path_scalars() -> None:
    event = {**UG_EVENT, "detail": {"n": 12, "f": -0.5, "t": True, "z": None, "list": [[1, 2], {"k": "v"}]}}
    assert deliver({"InputPath": "$.detail.n"}, event) == "12"
    assert deliver({"InputPath": "$.detail.f"}, event) == "-0.5"
    assert deliver({"InputPath": "$.detail.t"}, event) == "true"
    assert deliver({"InputPath": "$.detail.z"}, event) == "null"
    assert deliver({"InputPath": "$.detail.list[0][1]"}, event) == "2"
    assert deliver({"InputPath": "$.detail.list[1].k"}, event) == '"v"'
    assert deliver({"InputPath": "$.detail.list[*].k"}, event) == '["v"]'


@pytest.mark.parametrize(
    "path",
    [
        "$.detail.missing",
        "$.missing.deeper",
        "$.resources[1]",  # index out of range
        "$.detail[0]",  # index into an object
        "$.resources.x",  # member of an array
        "$.detail.state.x",  # member of a string
    ],
)
def test_input_path_selecting_nothing_delivers_empty_text(path: str) -> None:
    # Decision (AWS undocumented): the same "absent -> empty" rule AWS applies to InputTransformer variables.
    assert deliver({"InputPath": path}) == ""


def test_compiled_paths_are_cached() -> None:
    assert compile_path("$.detail.a") is compile_path("$.detail.a")


def test_json_path_find_distinguishes_null_from_missing() -> None:
    assert compile_path("$.a").find({"a": None}) is None
    assert compile_path("$.a").find({}) is MISSING
    assert compile_path("$.a").find([]) is MISSING
    assert compile_path("$[0]").find([7]) == 7


# ------------------------------------------------------------------------- InputTransformer: user guide


def test_ug_simple_string() -> None:
    assert (
        transform('"instance <instance> is in <state>"', UG_PATHS) == '"instance i-0123456789 is in RUNNING"'
    )


def test_ug_string_with_escaped_quotes() -> None:
    template = r'"instance \"<instance>\" is in <state>"'
    assert transform(template, UG_PATHS) == r'"instance \"i-0123456789\" is in RUNNING"'


def test_ug_simple_json() -> None:
    template = '{\n  "instance" : <instance>,\n  "state": <state>\n}'
    out = transform(template, UG_PATHS)
    assert json.loads(out) == {"instance": "i-0123456789", "state": "RUNNING"}
    assert out == '{"instance":"i-0123456789","state":"RUNNING"}'  # minified


def test_ug_json_with_strings_and_variables() -> None:
    template = '{\n "instance" : <instance>,\n "state": "<state>",\n "instanceStatus": "instance \\"<instance>\\" is in <state>"\n}'
    out = transform(template, UG_PATHS)
    assert json.loads(out) == {
        "instance": "i-0123456789",
        "state": "RUNNING",
        "instanceStatus": 'instance "i-0123456789" is in RUNNING',
    }
    assert (
        out
        == '{"instance":"i-0123456789","state":"RUNNING","instanceStatus":"instance \\"i-0123456789\\" is in RUNNING"}'
    )


def test_ug_json_with_mix_of_variables_and_static_information() -> None:
    template = '{\n  "instance" : <instance>,\n  "state": [ 9, <state>, true ],\n  "Transformed" : "Yes"\n}\n'
    out = transform(template, UG_PATHS)
    assert json.loads(out) == {
        "instance": "i-0123456789",
        "state": [9, "RUNNING", True],
        "Transformed": "Yes",
    }
    assert out == '{"instance":"i-0123456789","state":[9,"RUNNING",true],"Transformed":"Yes"}'


def test_ug_reserved_variables_in_json() -> None:
    template = (
        '{\n  "instance" : <instance>,\n  "state": <state>,\n  "ruleArn" : <aws.events.rule-arn>,\n'
        '  "ruleName" : <aws.events.rule-name>,\n  "originalEvent" : <aws.events.event>\n}'
    )
    out = json.loads(transform(template, UG_PATHS))
    assert out["instance"] == "i-0123456789"
    assert out["state"] == "RUNNING"
    assert out["ruleArn"] == "arn:aws:events:us-east-2:123456789012:rule/example"
    assert out["ruleName"] == "example"
    # "The original event payload as JSON (without the detail field)"
    assert "detail" not in out["originalEvent"]
    assert out["originalEvent"]["id"] == UG_EVENT["id"]


def test_ug_reserved_variables_in_a_string() -> None:
    assert transform('"<aws.events.rule-name> triggered"') == '"example triggered"'


def test_ug_cloudwatch_log_group_template_payload() -> None:
    # The guide's last row shows what a CloudWatch Logs *log event* looks like for this template
    # ("timestamp" : 2015-11-11T21:29:54Z unquoted, message quotes unescaped): that rendering belongs to the
    # Logs target. The payload EventBridge builds from the template follows the JSON rules above.
    template = '{\n  "timestamp" : <timestamp>,\n  "message": "instance \\"<instance>\\" is in <state>"\n}'
    out = transform(template, UG_PATHS)
    assert out == '{"timestamp":"2015-11-11T21:29:54Z","message":"instance \\"i-0123456789\\" is in RUNNING"}'
    assert json.loads(out)["message"] == 'instance "i-0123456789" is in RUNNING'


def test_ug_brackets_and_indices_in_paths() -> None:
    assert transform('"<resource>"', UG_PATHS) == '"arn:aws:ec2:us-east-1:123456789012:instance/i-abcd1111"'


def test_api_reference_plain_text_template() -> None:
    # API reference example: "<instance> is in state <status>" -- a template that is not JSON is plain text.
    paths = {"instance": "$.detail.instance-id", "status": "$.detail.state"}
    assert transform("<instance> is in state <status>", paths) == "i-0123456789 is in state RUNNING"
    assert transform('<instance> is in state "<status>"', paths) == 'i-0123456789 is in state "RUNNING"'


def test_api_reference_json_template_with_variables_in_quotes_or_out() -> None:
    paths = {"instance": "$.detail.instance-id", "status": "$.detail.state"}
    out = transform('{"myInstance": <instance>,"myStatus": "<instance> is in state \\"<status>\\""}', paths)
    assert json.loads(out) == {"myInstance": "i-0123456789", "myStatus": 'i-0123456789 is in state "RUNNING"'}


# ------------------------------------------------------------------- InputTransformer: recorded on AWS

LS_EVENT = {
    "version": "0",
    "id": "e7b1d2c3-0000-4000-8000-000000000001",
    "detail-type": "core.update-account-command",
    "source": "core.update-account-command",
    "account": "111111111111",
    "time": "2024-06-11T08:33:10Z",
    "region": "us-east-1",
    "resources": [],
    "detail": {"command": "update-account", "payload": {"acc_id": "0a787ecb-4015", "sf_id": "baz"}},
}
LS_PATHS = {"detail-type": "$.detail-type", "timestamp": "$.time", "command": "$.detail.command"}
LS_PATHS_MISSING = {**LS_PATHS, "command": "$.detail.notinmessage"}


def test_recorded_string_template_and_missing_variable() -> None:
    template = '"Event of <detail-type> type, at time <timestamp>, info extracted from detail <command>"'
    assert (
        transform(template, LS_PATHS, LS_EVENT)
        == '"Event of core.update-account-command type, at time 2024-06-11T08:33:10Z, info extracted from detail update-account"'
    )
    # AWS: the absent variable becomes empty text.
    assert (
        transform(template, LS_PATHS_MISSING, LS_EVENT)
        == '"Event of core.update-account-command type, at time 2024-06-11T08:33:10Z, info extracted from detail "'
    )


def test_recorded_special_starting_characters() -> None:
    template = '"{[/Check with special starting characters for event of <detail-type> type"'
    expected = '"{[/Check with special starting characters for event of core.update-account-command type"'
    assert transform(template, LS_PATHS, LS_EVENT) == expected
    assert transform(template, LS_PATHS_MISSING, LS_EVENT) == expected


def test_recorded_json_template_and_missing_variable() -> None:
    template = '{"detailType": <detail-type>,  "time": <timestamp>, "command": <command>}'
    assert json.loads(transform(template, LS_PATHS, LS_EVENT)) == {
        "detailType": "core.update-account-command",
        "time": "2024-06-11T08:33:10Z",
        "command": "update-account",
    }
    # AWS: a bare absent variable becomes "" (not null, not nothing).
    assert transform(template, LS_PATHS_MISSING, LS_EVENT) == (
        '{"detailType":"core.update-account-command","time":"2024-06-11T08:33:10Z","command":""}'
    )


def test_recorded_predefined_variables_in_a_string() -> None:
    template = '"Message containing all pre defined variables <aws.events.rule-arn> <aws.events.rule-name> <aws.events.event.ingestion-time>"'
    assert transform(template, None, LS_EVENT) == (
        f'"Message containing all pre defined variables {RULE_ARN} {RULE_NAME} {INGESTION}"'
    )


def test_recorded_predefined_json_variables() -> None:
    out = json.loads(
        transform(
            '{"originalEvent": <aws.events.event>, "originalEventJson": <aws.events.event.json>}',
            None,
            LS_EVENT,
        )
    )
    assert out["originalEventJson"] == LS_EVENT
    assert list(out["originalEventJson"]) == list(LS_EVENT)
    # Recorded on AWS: no detail, detail-type renamed detailType, this key order.
    assert out["originalEvent"] == {
        "id": LS_EVENT["id"],
        "account": "111111111111",
        "detailType": "core.update-account-command",
        "time": LS_EVENT["time"],
        "source": "core.update-account-command",
        "region": "us-east-1",
        "resources": [],
        "version": "0",
    }
    assert list(out["originalEvent"]) == [
        "id",
        "account",
        "detailType",
        "time",
        "source",
        "region",
        "resources",
        "version",
    ]


def test_event_without_detail_keeps_other_envelope_fields() -> None:
    event = {**LS_EVENT, "replay-name": "r1"}
    out = event_without_detail(event)
    assert out["replay-name"] == "r1"
    assert "detail" not in out and "detail-type" not in out
    assert event["detail"] == LS_EVENT["detail"]  # input untouched


# -------------------------------------------------------------------------- InputTransformer: quoting

QUOTING_EVENT = {
    **UG_EVENT,
    "detail": {
        "quote": 'say "hi"',
        "backslash": "a\\b",
        "n": 42,
        "f": 2.5,
        "t": True,
        "z": None,
        "obj": {"k": "v", "n": [1, 2]},
        "arr": ["x", 1],
        "uni": "Zoë",
        "newline": "line1\nline2",
    },
}
Q_PATHS = {k: f"$.detail.{k}" for k in QUOTING_EVENT["detail"]} | {"missing": "$.detail.nope"}


@pytest.mark.parametrize(
    ("name", "bare"),
    [
        ("quote", '"say \\"hi\\""'),
        ("backslash", '"a\\\\b"'),
        ("n", "42"),
        ("f", "2.5"),
        ("t", "true"),
        ("z", "null"),
        ("obj", '{"k":"v","n":[1,2]}'),
        ("arr", '["x",1]'),
        ("uni", '"Zoë"'),
        ("newline", '"line1\\nline2"'),
        ("missing", '""'),
    ],
)
def test_bare_placeholder_in_json_template_is_json_value(name: str, bare: str) -> None:
    out = transform(f'{{"v": <{name}>}}', Q_PATHS, QUOTING_EVENT)
    assert out == f'{{"v":{bare}}}'
    expected = "" if name == "missing" else QUOTING_EVENT["detail"][name]
    assert json.loads(out)["v"] == expected


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("quote", 'say "hi"'),  # not escaped: "EventBridge doesn't escape values extracted by Input Path"
        ("backslash", "a\\b"),
        ("n", "42"),
        ("f", "2.5"),
        ("t", "true"),
        ("z", "null"),
        ("obj", '{"k":"v","n":[1,2]}'),
        ("arr", '["x",1]'),
        ("uni", "Zoë"),
        ("newline", "line1\nline2"),
        ("missing", ""),
    ],
)
def test_placeholder_inside_json_string_is_raw_text(name: str, raw: str) -> None:
    assert transform(f'{{"v": "[<{name}>]"}}', Q_PATHS, QUOTING_EVENT) == f'{{"v":"[{raw}]"}}'
    # and the same raw text in a plain-text template
    assert transform(f"value: <{name}>!", Q_PATHS, QUOTING_EVENT) == f"value: {raw}!"


def test_unescaped_quotes_break_json_like_on_aws() -> None:
    out = transform('{"v": "<quote>"}', Q_PATHS, QUOTING_EVENT)
    assert out == '{"v":"say "hi""}'
    with pytest.raises(json.JSONDecodeError):
        json.loads(out)


def test_json_template_minified_but_strings_untouched() -> None:
    out = transform('{\n\t"a b" :  "  x  y  ",\r\n "c": [ 1 , 2 ] , "d" : { } }', {})
    assert out == '{"a b":"  x  y  ","c":[1,2],"d":{}}'


def test_plain_text_template_keeps_whitespace_and_quotes() -> None:
    assert transform('  "a"  <state> \n', UG_PATHS) == '  "a"  RUNNING \n'


def test_array_template_is_plain_text() -> None:
    # Only templates surrounded by curly braces are JSON templates (AWS refuses <aws.events.event.json> in
    # "[<aws.events.event.json>]" as "valid only for JSON template").
    assert transform("[<state>, 1]", UG_PATHS) == "[RUNNING, 1]"


def test_lone_placeholder_template_is_plain_text() -> None:
    assert transform("<instance>", UG_PATHS) == "i-0123456789"
    assert transform("<state>", {"state": "$.detail"}) == '{"instance-id":"i-0123456789","state":"RUNNING"}'


def test_escaped_characters_in_template_strings() -> None:
    out = transform('{"a": "x\\\\<state>\\"\\\\", "b": "\\u0041"}', UG_PATHS)
    assert out == '{"a":"x\\\\RUNNING\\"\\\\","b":"\\u0041"}'
    assert json.loads(out) == {"a": 'x\\RUNNING"\\', "b": "A"}


def test_text_that_is_not_a_placeholder_is_kept() -> None:
    assert transform('{"html": "<b c> <> <%> a<b"}', {}) == '{"html":"<b c> <> <%> a<b"}'
    assert transform("1 < 2 > 0", {}) == "1 < 2 > 0"


def test_same_variable_used_many_times() -> None:
    assert transform('{"a": <state>, "b": "<state><state>", "c": [<state>]}', UG_PATHS) == (
        '{"a":"RUNNING","b":"RUNNINGRUNNING","c":["RUNNING"]}'
    )


def test_predefined_variables_bare_and_in_string() -> None:
    out = json.loads(
        transform(
            '{"arn": <aws.events.rule-arn>, "name": "<aws.events.rule-name>!", "at": <aws.events.event.ingestion-time>}'
        )
    )
    assert out["arn"] == RULE_ARN
    assert out["name"] == "example!"
    assert out["at"] == INGESTION
    # inside a string of a JSON template: raw compact JSON, its quotes unescaped
    raw = transform('{"e": "<aws.events.event.json>"}')
    assert raw == '{"e":"' + json.dumps(UG_EVENT, separators=(",", ":")) + '"}'


def test_unvalidated_unknown_placeholder_is_left_as_text() -> None:
    target = {"InputTransformer": {"InputTemplate": '{"a": <nope>, "b": <state>}', "InputPathsMap": UG_PATHS}}
    assert deliver(target, validate=False) == '{"a":<nope>,"b":"RUNNING"}'


def test_input_paths_map_may_be_absent_or_empty() -> None:
    assert transform('{"a": 1}') == '{"a":1}'
    assert transform('"constant"', {}) == '"constant"'


def test_compiled_templates_are_cached() -> None:
    t = '{"x": <state>}'
    assert compile_template(t) is compile_template(t)


def test_precedence_when_validation_was_bypassed() -> None:
    both = {"Input": '{"c":1}', "InputPath": "$.detail", "InputTransformer": {"InputTemplate": '"x"'}}
    assert deliver(both, validate=False) == '{"c":1}'
    assert deliver(
        {"InputPath": "$.detail.state", "InputTransformer": {"InputTemplate": '"x"'}}, validate=False
    ) == ('"RUNNING"')


# ------------------------------------------------------------------------------------------- validation


def test_only_one_input_setting() -> None:
    # Message recorded against AWS.
    for target in (
        {"Input": "{}", "InputPath": "$.detail"},
        {"InputPath": "$.detail", "InputTransformer": {"InputTemplate": '"x"'}},
        {"Input": "{}", "InputTransformer": {"InputTemplate": '"x"'}},
        {"Input": "{}", "InputPath": "$", "InputTransformer": {"InputTemplate": '"x"'}},
    ):
        assert refused(target, "target-1") == (
            "Only one of Input, InputPath, or InputTransformer must be provided for target target-1."
        )


def test_none_values_are_not_settings() -> None:
    validate_target_input(
        {"Id": "t", "Arn": "a", "Input": None, "InputPath": "$.detail", "InputTransformer": None}
    )
    validate_target_input({"Id": "t", "Arn": "a"})


def test_invalid_placeholder() -> None:
    # Recorded against AWS.
    template = '"Event of <detail-type> type, with not defined key <notdefinedkey>"'
    assert (
        refused_transformer(template, LS_PATHS)
        == "InputTemplate for target t1 contains invalid placeholder notdefinedkey."
    )
    assert refused_transformer('{"a": "<aws.events.nope>"}') == (
        "InputTemplate for target t1 contains invalid placeholder aws.events.nope."
    )
    assert (
        refused_transformer("<b>bold</b>", {})
        == "InputTemplate for target t1 contains invalid placeholder b."
    )


@pytest.mark.parametrize("name", ["aws.events.event.json", "aws.events.event"])
@pytest.mark.parametrize("template", ["[<{}>]", '"x <{}>"', "<{}>", "event: <{}>"])
def test_json_variables_need_a_json_object_template(name: str, template: str) -> None:
    # Message measured against AWS for aws.events.event.json (third party); applied to aws.events.event too,
    # which the guide restricts the same way ("only be used as the value of a JSON field").
    assert refused_transformer(template.format(name)) == (
        f"InputTemplate for target t1 contains placeholder {name} valid only for JSON template."
    )


def test_json_variables_in_json_object_template_accepted() -> None:
    transform('{"e": <aws.events.event.json>}')
    transform('  {"e": [<aws.events.event>]}')


@pytest.mark.parametrize(
    "path",
    [
        "$",
        "$.detail",
        "$.detail.a-b_c/d",
        "$.resources[0]",
        "$.detail.*",
        "$.a[*].b",
        "$[0]",
        "$.a.b.c.d.e",
        "$.a[10][2]",
    ],
)
def test_valid_paths(path: str) -> None:
    validate_input_path(path, target_id="t1")
    validate_target_input({"Id": "t1", "InputPath": path})
    validate_input_transformer({"InputTemplate": '"<v>"', "InputPathsMap": {"v": path}})


@pytest.mark.parametrize(
    "path",
    [
        "detail",
        ".detail",
        "$detail",
        "$.detail['key']",
        '$.detail["key"]',
        "$['detail']",
        "$..detail",
        "$.detail.",
        "$.",
        "$[?(@.a)]",
        "$.a[1:2]",
        "$.a[-1]",
        "$.a[]",
        "$.a[x]",
        "",
        " $.detail",
        "$.detail x",
        "$.de tail",
        "$.*x",
        "$.a[0",
        "@.a",
    ],
)
def test_invalid_paths(path: str) -> None:
    # Message measured against AWS (third party), for InputPath and InputPathsMap values alike.
    with pytest.raises(AwsError) as exc:
        validate_input_path(path, target_id="t1")
    assert exc.value.message == "InputPath for target t1 is invalid."
    assert refused({"InputPath": path}) == "InputPath for target t1 is invalid."
    assert refused_transformer('"<v>"', {"v": path}) == "InputPath for target t1 is invalid."
    with pytest.raises(InvalidPathError):
        compile_path(path)


def test_path_message_without_target() -> None:
    with pytest.raises(AwsError) as exc:
        validate_input_path("nope")
    assert exc.value.message == "InputPath is invalid."
    with pytest.raises(AwsError):
        validate_input_path(None)


def test_input_paths_map_size() -> None:
    hundred = {f"k{i}": "$.detail" for i in range(100)}
    validate_input_transformer({"InputTemplate": '"x"', "InputPathsMap": hundred}, target_id="t1")
    message = refused_transformer('"x"', {**hundred, "k100": "$.detail"})
    assert "100" in message and "InputPathsMap for target t1" in message


@pytest.mark.parametrize("key", ["aws.events.rule-name", "aws.events.event", "AWS.custom", "aws.x"])
def test_reserved_keys(key: str) -> None:
    assert (
        refused_transformer('"x"', {key: "$.detail"})
        == f"InputPathsMap for target t1 contains reserved key {key}."
    )


@pytest.mark.parametrize("key", ["a.b", "a b", "", "x" * 257, "é", "<k>", 5])
def test_invalid_keys(key: Any) -> None:
    assert (
        refused_transformer('"x"', {key: "$.detail"})
        == f"InputPathsMap for target t1 contains invalid key {key}."
    )


@pytest.mark.parametrize("key", ["AWSx", "aws", "a-b_C9", "x" * 256])
def test_accepted_keys(key: str) -> None:
    # "A key merely starting with AWS is accepted" (third-party measurement).
    validate_input_transformer({"InputTemplate": f'"<{key}>"', "InputPathsMap": {key: "$.detail"}})


def test_template_required() -> None:
    assert (
        refused({"InputTransformer": {"InputPathsMap": {}}})
        == "InputTemplate for target t1 must be specified."
    )
    assert (
        refused({"InputTransformer": {"InputTemplate": ""}})
        == "InputTemplate for target t1 must be specified."
    )
    assert refused({"InputTransformer": "x"}) == "InputTransformer for target t1 is not valid."
    assert refused({"InputTransformer": {"InputTemplate": '"x"', "InputPathsMap": ["a"]}}) == (
        "InputPathsMap for target t1 is not valid."
    )


@pytest.mark.parametrize(
    "template",
    [
        '{"a": <state>',
        '{"a": <state> <state>}',
        '{"a": 1,}',
        '{"a": tru e}',
        '{"a": "unterminated}',
        '{"a": NaN}',
        "{} extra",
        "{'a': 1}",
    ],
)
def test_json_object_template_must_be_valid_json(template: str) -> None:
    assert refused_transformer(template, UG_PATHS) == "InputTemplate for target t1 is not valid JSON."


@pytest.mark.parametrize(
    "template", ["{<state>: 1}", '{"a": 1, <state> : 2}', '{"<state>": 1}', '{"x<state>y" : 1}']
)
def test_placeholder_cannot_be_an_object_key(template: str) -> None:
    assert (
        refused_transformer(template, UG_PATHS)
        == "InputTemplate for target t1 uses placeholder state as an object key."
    )


def test_plain_text_templates_are_not_json_checked() -> None:
    validate_input_transformer({"InputTemplate": 'instance "<state> is {broken', "InputPathsMap": UG_PATHS})
    validate_input_transformer({"InputTemplate": "[<state>,", "InputPathsMap": UG_PATHS})


@pytest.mark.parametrize(
    "text", ['{"env":"dev"}', '"hello"', "1", "-0.5e3", "true", "null", "[1, {}]", ' {"a" : [ ] } ']
)
def test_valid_input(text: str) -> None:
    validate_input(text, target_id="1")
    validate_target_input({"Id": "1", "Input": text})


def test_invalid_input_messages() -> None:
    # Both messages were returned by AWS (aws/aws-cli#6711; ansible-collections/community.aws#201).
    assert (
        refused({"Input": "env:dev"}, "1")
        == 'JSON syntax error in input for target 1: [Source: (String)"env:dev"; line: 1, column: 4]'
    )
    assert refused({"Input": "{'db_name':'x'}"}, "clone_lambda") == (
        "JSON syntax error in input for target clone_lambda: [Source: (String)\"{'db_name':'x'}\"; line: 1, column: 3]"
    )


@pytest.mark.parametrize(
    "text", ["", "{", '{"a":1', "[1,]", "NaN", "Infinity", "{} {}", '{"a":1}\n{"b":2}', "'x'", "01"]
)
def test_invalid_input(text: str) -> None:
    message = refused({"Input": text}, "1")
    assert message.startswith(f'JSON syntax error in input for target 1: [Source: (String)"{text}"; line: ')


def test_invalid_input_source_is_truncated_like_jackson() -> None:
    text = "x" * 600
    message = refused({"Input": text}, "1")
    assert f'(String)"{"x" * 500}"[truncated 100 chars]; line: 1, column: ' in message


def test_invalid_input_line_numbers() -> None:
    assert refused({"Input": '{\n  "a": 1,\n  b: 2\n}'}, "1").endswith("line: 3, column: 4]")


# ----------------------------------------------------------------------------------------------- properties

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(value=JSON_VALUES)
def test_property_bare_placeholder_round_trips(value: Any) -> None:
    event = {**UG_EVENT, "detail": {"v": value}}
    out = transform('{"before": 1, "v": <v>, "after": [<v>]}', {"v": "$.detail.v"}, event)
    assert json.loads(out) == {"before": 1, "v": value, "after": [value]}
    assert json.loads(deliver({"InputPath": "$.detail.v"}, event)) == value


SAFE_TEXT = st.text(alphabet=st.characters(blacklist_categories=["Cc", "Cs"], blacklist_characters='"\\'))


@settings(max_examples=300, deadline=None)
@given(value=SAFE_TEXT, prefix=SAFE_TEXT, suffix=SAFE_TEXT)
def test_property_placeholder_in_string_inserts_raw_text(value: str, prefix: str, suffix: str) -> None:
    assume("<" not in prefix + suffix)
    event = {**UG_EVENT, "detail": {"v": value}}
    template = json.dumps({"s": f"{prefix}<v>{suffix}"}, ensure_ascii=False)
    out = transform(template, {"v": "$.detail.v"}, event)
    assert json.loads(out) == {"s": prefix + value + suffix}
    # plain text (a template not starting with "{"): verbatim around the value
    plain = f"{prefix}<v>{suffix}"
    if not plain.lstrip(" \t\n\r").startswith("{"):
        assert transform(plain, {"v": "$.detail.v"}, event) == prefix + value + suffix


TEMPLATE_PIECES = st.sampled_from(
    [
        "{",
        "}",
        "[",
        "]",
        '"',
        '\\"',
        "\\",
        ":",
        ",",
        " ",
        "\n",
        "<a>",
        "<b>",
        "<nope>",
        "<aws.events.event>",
        "<aws.events.event.json>",
        "<aws.events.rule-arn>",
        "<",
        ">",
        "1",
        "null",
        "x",
        '"k"',
    ]
)


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pieces=st.lists(TEMPLATE_PIECES, min_size=1, max_size=14),
    keys=st.dictionaries(
        st.sampled_from(["a", "b", "aws.x", "a b", "ok_1"]),
        st.sampled_from(["$.detail.state", "$.detail", "$.x", "bad"]),
        max_size=3,
    ),
    a=JSON_VALUES,
)
def test_fuzz_validation_and_delivery(pieces: list[str], keys: dict[str, str], a: Any) -> None:
    template = "".join(pieces)
    transformer = {"InputTemplate": template, "InputPathsMap": keys}
    try:
        validate_input_transformer(transformer, target_id="t")
    except AwsError as e:
        assert e.code == "ValidationException"
        return
    event = {**UG_EVENT, "detail": {"state": a}}
    out = target_input(
        event,
        {"InputTransformer": transformer},
        rule_arn=RULE_ARN,
        rule_name=RULE_NAME,
        ingestion_time=INGESTION,
    )
    assert isinstance(out, str)
    compiled = compile_template(template)
    if compiled.json_object and not any(s.in_string for s in compiled.slots):
        # every placeholder is a JSON value position: the output is valid JSON
        json.loads(out)


@settings(max_examples=2000, deadline=None)
@given(st.text(alphabet=string.printable + "é☃\u0000", max_size=30))
def test_fuzz_paths_and_inputs(text: str) -> None:
    for candidate in (text, "$" + text, "$." + text):
        try:
            path = compile_path(candidate)
        except InvalidPathError:
            with pytest.raises(AwsError):
                validate_input_path(candidate, target_id="t")
        else:
            validate_input_path(candidate, target_id="t")
            path.find(UG_EVENT)
    try:
        validate_input(text, target_id="t")
    except AwsError as e:
        assert e.message.startswith("JSON syntax error in input for target t: [Source: (String)")
    else:
        json.loads(text)


# A generator of JSON-object templates: a random JSON document in which some values are bare placeholders and
# some strings contain placeholders, serialized with random insignificant whitespace. The delivered payload
# must be valid JSON equal to the document with the variables filled in.

WS = st.sampled_from(["", " ", "  ", "\n", "\t", " \r\n "])
VAR_NAMES = ["a", "s", "m", "aws.events.rule-name"]
STRING_PARTS = st.lists(
    st.one_of(SAFE_TEXT.filter(lambda t: "<" not in t), st.sampled_from(VAR_NAMES).map(lambda n: ("ph", n))),
    max_size=4,
)
# Keys and literals hold no "<": text like "<0>" in them would be a placeholder of the template.
KEYS = st.text(max_size=5).filter(lambda t: "<" not in t)
NODES = st.recursive(
    st.one_of(
        JSON_VALUES.filter(lambda v: "<" not in json.dumps(v)).map(lambda v: ("lit", v)),
        st.sampled_from(VAR_NAMES).map(lambda n: ("ph", n)),
        STRING_PARTS.map(lambda parts: ("str", parts)),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=3).map(lambda xs: ("list", xs)),
        st.dictionaries(KEYS, children, max_size=3).map(lambda d: ("dict", d)),
    ),
    max_leaves=10,
)


def _serialize(node: Any, draw_ws: Any) -> str:
    kind, body = node
    if kind == "lit":
        return json.dumps(body, ensure_ascii=False)
    if kind == "ph":
        return f"<{body}>"
    if kind == "str":
        return (
            '"'
            + "".join(
                f"<{p[1]}>" if isinstance(p, tuple) else json.dumps(p, ensure_ascii=False)[1:-1] for p in body
            )
            + '"'
        )
    if kind == "list":
        return "[" + draw_ws() + ",".join(_serialize(c, draw_ws) + draw_ws() for c in body) + "]"
    items = (
        json.dumps(k, ensure_ascii=False) + draw_ws() + ":" + draw_ws() + _serialize(v, draw_ws)
        for k, v in body.items()
    )
    return "{" + draw_ws() + ("," + draw_ws()).join(items) + draw_ws() + "}"


def _expected(node: Any, values: dict[str, Any]) -> Any:
    kind, body = node
    if kind == "lit":
        return body
    if kind == "ph":
        return values[body]
    if kind == "str":
        return "".join(values[p[1]] if isinstance(p, tuple) else p for p in body)
    if kind == "list":
        return [_expected(c, values) for c in body]
    return {k: _expected(v, values) for k, v in body.items()}


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), root=st.dictionaries(KEYS, NODES, max_size=4), a=JSON_VALUES, s=SAFE_TEXT)
def test_property_json_templates(data: st.DataObject, root: dict[str, Any], a: Any, s: str) -> None:
    template = data.draw(WS) + _serialize(("dict", root), lambda: data.draw(WS)) + data.draw(WS)
    paths = {"a": "$.detail.a", "s": "$.detail.s", "m": "$.detail.missing"}
    uses_a_in_string = any(
        isinstance(p, tuple) and p[1] == "a" for n in _walk(("dict", root)) if n[0] == "str" for p in n[1]
    )
    event = {**UG_EVENT, "detail": {"a": a, "s": s}}
    out = transform(template, paths, event)
    json_safe_a = isinstance(a, str) and not any(c in '"\\' or ord(c) < 32 for c in a)
    # raw text of `a` inside a JSON string is only JSON-safe for plain strings (no escaping, by design)
    assume(json_safe_a or not uses_a_in_string)
    values = {"a": a, "s": s, "m": "", "aws.events.rule-name": RULE_NAME}
    assert json.loads(out) == _expected(("dict", root), values)
    assert not any(c in " \t\r\n" for c in _outside_strings(out))  # minified


def _walk(node: Any) -> list[Any]:
    kind, body = node
    if kind == "list":
        return [node, *(x for c in body for x in _walk(c))]
    if kind == "dict":
        return [node, *(x for c in body.values() for x in _walk(c))]
    return [node]


def _outside_strings(text: str) -> str:
    out, in_string, escaped = [], False, False
    for c in text:
        if in_string:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        else:
            out.append(c)
    return "".join(out)
