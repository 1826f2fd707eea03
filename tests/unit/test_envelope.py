"""core.envelope: entry checks with AWS's codes and messages, entry sizes as AWS counts them, the envelope."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eventyard.core import envelope as env
from eventyard.core.envelope import EntryError
from eventyard.core.ids import new_event_id


def entry(**fields: object) -> dict[str, object]:
    return {"Source": "com.example", "DetailType": "Thing", "Detail": "{}", **fields}


def test_size_counts_time_as_14_bytes_and_text_as_utf8():
    assert env.entry_size(entry()) == len("com.example") + len("Thing") + 2
    moment = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    assert env.entry_size(entry(Time=moment)) == 14 + len("com.example") + len("Thing") + 2
    assert env.entry_size(entry(Detail='{"a":"é"}', Resources=["€", "arn:x"])) == (
        len("com.example") + len("Thing") + len('{"a":"é"}'.encode()) + 3 + 5
    )
    # EventBusName and TraceHeader are not counted; missing fields count nothing.
    assert env.entry_size(entry(EventBusName="b" * 100, TraceHeader="t" * 100)) == env.entry_size(entry())
    assert env.entry_size(entry(EventBusName="b" * 100, TraceHeader="t" * 100)) == 11 + 5 + 2
    assert env.entry_size({}) == 0


@given(
    source=st.text(max_size=40),
    detail_type=st.text(max_size=40),
    detail=st.text(max_size=200),
    resources=st.lists(st.text(max_size=30), max_size=5),
    timed=st.booleans(),
)
def test_size_is_the_sum_of_utf8_lengths(source, detail_type, detail, resources, timed):
    fields = {"Source": source, "DetailType": detail_type, "Detail": detail, "Resources": resources}
    if timed:
        fields["Time"] = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    expected = (14 if timed else 0) + sum(
        len(text.encode("utf-8", "surrogatepass")) for text in [source, detail_type, detail, *resources]
    )
    assert env.entry_size(fields) == expected


@pytest.mark.parametrize(
    ("fields", "code", "message"),
    [
        (
            {"Source": None},
            "InvalidArgument",
            "Parameter Source is not valid. Reason: Source is a required argument.",
        ),
        (
            {"Source": "", "DetailType": ""},
            "InvalidArgument",
            "Parameter Source is not valid. Reason: Source is a required argument.",
        ),
        (
            {"DetailType": None, "Detail": None},
            "InvalidArgument",
            "Parameter DetailType is not valid. Reason: DetailType is a required argument.",
        ),
        (
            {"Detail": ""},
            "InvalidArgument",
            "Parameter Detail is not valid. Reason: Detail is a required argument.",
        ),
        (
            {"Source": "aws.ec2", "Detail": "not json"},
            "NotAuthorizedForSourceException",
            "Not authorized for the source.",
        ),
        ({"Detail": "not json"}, "MalformedDetail", "Detail is malformed."),
        ({"Detail": "[]"}, "MalformedDetail", "Detail is malformed."),
        ({"Detail": "null"}, "MalformedDetail", "Detail is malformed."),
        ({"Detail": '{"a": 1} trailing'}, "MalformedDetail", "Detail is malformed."),
        ({"Detail": '{"a": [9223372036854775808]}'}, "MalformedDetail", "Detail is malformed."),
        ({"Detail": '{"a": -9223372036854775809}'}, "MalformedDetail", "Detail is malformed."),
    ],
)
def test_entry_errors_in_aws_order(fields, code, message):
    checked = env.check_entry({k: v for k, v in entry(**fields).items() if v is not None})
    assert checked == EntryError(code, message)
    assert checked.result() == {"ErrorCode": code, "ErrorMessage": message}


def test_valid_details_and_the_int64_range():
    assert env.check_entry(entry(Detail='{"a": 9223372036854775807, "b": -9223372036854775808}')) == {
        "a": 9223372036854775807,
        "b": -9223372036854775808,
    }
    assert env.check_entry(entry(Detail='{"id": "12345678901234567890123"}')) == {
        "id": "12345678901234567890123"
    }
    assert env.check_entry(entry(Detail='{"a": 1, "a": 2}')) == {"a": 2}  # the last duplicate wins


def nested(levels: int) -> str:
    return '{"a":' * (levels - 1) + '{"a":"é"}' + "}" * (levels - 1)


def test_a_detail_may_nest_as_deep_as_aws_reads_and_no_deeper():
    assert isinstance(env.check_entry(entry(Detail=nested(env.MAX_DEPTH))), dict)
    assert env.check_entry(entry(Detail=nested(env.MAX_DEPTH + 1))) == env.MALFORMED_DETAIL
    # Brackets in strings are no levels.
    assert isinstance(env.check_entry(entry(Detail='{"a":"' + "[" * 2000 + '"}')), dict)
    wide = "{" + ",".join(f'"k{i}":{{"v":[1]}}' for i in range(1000)) + "}"  # many brackets, 3 levels
    assert isinstance(env.check_entry(entry(Detail=wide)), dict)


def test_event_json_writes_any_accepted_detail_compactly():
    shallow = {"a": [1, 2.5, None, True], "b": "é\u2028"}
    assert env.event_json(shallow) == '{"a":[1,2.5,null,true],"b":"é\u2028"}'
    deep = env.check_entry(entry(Detail=nested(env.MAX_DEPTH)))
    assert env.event_json({"detail": deep}) == '{"detail":' + nested(env.MAX_DEPTH) + "}"


def test_partner_events_may_use_aws_partner_sources():
    partner = entry(Source="aws.partner/example.com/123/orders")
    assert env.check_entry(partner) == EntryError(
        "NotAuthorizedForSourceException", "Not authorized for the source."
    )
    assert env.check_entry(partner, refuse_aws_sources=False) == {}


def test_has_required_fields():
    assert env.has_required_fields(entry())
    assert not env.has_required_fields(entry(Detail=""))
    assert not env.has_required_fields({"Source": "a", "DetailType": "b"})


def test_envelope_keys_values_and_order():
    moment = dt.datetime(2017, 12, 22, 18, 43, 48, 999_999, tzinfo=dt.UTC)
    event = env.envelope(
        entry(Time=moment, Resources=["arn:1"]),
        {"x": 1},
        event_id="id-1",
        account="123456789012",
        region="eu-west-1",
        now=0,
    )
    assert list(event) == [
        "version",
        "id",
        "detail-type",
        "source",
        "account",
        "time",
        "region",
        "resources",
        "detail",
    ]
    assert event == {
        "version": "0",
        "id": "id-1",
        "detail-type": "Thing",
        "source": "com.example",
        "account": "123456789012",
        "time": "2017-12-22T18:43:48Z",
        "region": "eu-west-1",
        "resources": ["arn:1"],
        "detail": {"x": 1},
    }
    late = env.envelope(
        entry(), {}, event_id="i", account="1", region="r", now=1_700_000_000.9, source="override"
    )
    assert (late["time"], late["resources"], late["source"]) == ("2023-11-14T22:13:20Z", [], "override")


def test_format_time_converts_to_utc():
    plus_two = dt.timezone(dt.timedelta(hours=2))
    assert env.format_time(dt.datetime(2026, 3, 1, 2, 0, 0, tzinfo=plus_two)) == "2026-03-01T00:00:00Z"
    assert env.format_time(dt.datetime(2026, 3, 1, 2, 0, 0)) == "2026-03-01T02:00:00Z"  # naive: UTC
    assert env.format_time(0) == "1970-01-01T00:00:00Z"


def test_event_ids_are_uuid_shaped_unique_and_time_ordered():
    import uuid

    ids = [new_event_id() for _ in range(5000)]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    parsed = uuid.UUID(ids[0])
    assert str(parsed) == ids[0] and parsed.variant == uuid.RFC_4122 and parsed.version == 7
