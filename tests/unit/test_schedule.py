"""Schedule expressions: validation (PutRule) and next-fire-time arithmetic.

Expected fire times are derived independently of the implementation: from the calendar module, from
hand-worked calendar facts (stated in comments), from brute-force reference predicates written here, and
from pyawscron as a differential oracle on the subset of syntax where it is correct.
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pyawscron.awscron import AWSCron

from eventyard.core.schedule import (
    INVALID_SCHEDULE_MESSAGE,
    CronSchedule,
    RateSchedule,
    parse_schedule,
    validate_schedule_expression,
)
from eventyard.errors import AwsError


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def fire_times(expression: str, start: datetime, n: int, anchor: datetime | None = None) -> list[datetime]:
    s = parse_schedule(expression)
    out: list[datetime] = []
    t = start
    for _ in range(n):
        nxt = s.next_after(t, anchor=anchor)
        if nxt is None:
            break
        out.append(nxt)
        t = nxt
    return out


def assert_invalid(expression: object) -> None:
    with pytest.raises(AwsError) as exc:
        parse_schedule(expression)  # type: ignore[arg-type]
    assert exc.value.code == "ValidationException"
    assert exc.value.message == INVALID_SCHEDULE_MESSAGE
    assert exc.value.status == 400


# ------------------------------------------------------------------------------------------ error message


def test_error_message_is_aws_text() -> None:
    # Text recorded against AWS (LocalStack snapshot-validated test_put_rule_with_invalid_schedule_rate).
    assert INVALID_SCHEDULE_MESSAGE == "Parameter ScheduleExpression is not valid."
    with pytest.raises(AwsError) as exc:
        validate_schedule_expression("rate(0 minutes)")
    assert exc.value.message == "Parameter ScheduleExpression is not valid."


# ------------------------------------------------------------------------------------------------- rate


@pytest.mark.parametrize(
    ("expression", "minutes"),
    [
        ("rate(1 minute)", 1),
        ("rate(5 minutes)", 5),
        ("rate(1 hour)", 60),
        ("rate(2 hours)", 120),
        ("rate(1 day)", 1440),
        ("rate(7 days)", 7 * 1440),
        ("rate(100 minutes)", 100),
    ],
)
def test_rate_valid(expression: str, minutes: int) -> None:
    s = parse_schedule(expression)
    assert isinstance(s, RateSchedule)
    assert s.kind == "rate"
    assert s.expression == expression
    assert s.interval == timedelta(minutes=minutes)


@pytest.mark.parametrize(
    "expression",
    [
        # The list LocalStack validated against AWS (all give "Parameter ScheduleExpression is not valid.").
        "rate(10 seconds)",
        "rate(10 years)",
        "rate(1 minutes)",
        "rate(1 hours)",
        "rate(1 days)",
        "rate(10 minute)",
        "rate(10 hour)",
        "rate(10 day)",
        "rate()",
        "rate(10)",
        "rate(10 minutess)",
        "rate(foo minutes)",
        "rate(0 minutes)",
        "rate(-10 minutes)",
        "rate(10 MINUTES)",
        "rate( 10 minutes )",
        " rate(10 minutes)",
        # Documented examples of invalid rates, and more.
        "rate(5 hour)",
        "rate(0 minute)",
        "rate(1.5 hours)",
        "rate(1  minute)",
        "rate(1 minute) ",
        "rate(1 minute",
        "rate 1 minute",
        "RATE(1 minute)",
        "rate(1 Minute)",
        "rate(1\tminute)",
        "rate(1 week)",
        "rate(+5 minutes)",
        "rate(5 minutes)x",
        "rate(٥ minutes)",  # Arabic-Indic digit five: not an ASCII digit
        "rate(99999999999999 minutes)",
        "",
        "foo",
        "at(2025-01-01T00:00:00)",  # EventBridge Scheduler syntax, not scheduled rules
    ],
)
def test_rate_invalid(expression: str) -> None:
    assert_invalid(expression)


def test_non_string_is_invalid() -> None:
    assert_invalid(None)
    assert_invalid(5)


def brute_force_rate(anchor: datetime, interval: timedelta, t: datetime) -> datetime:
    base = anchor.replace(second=0, microsecond=0)
    k = 1
    while base + k * interval <= t:
        k += 1
    return base + k * interval


@pytest.mark.parametrize("expression", ["rate(1 minute)", "rate(7 minutes)", "rate(1 hour)", "rate(3 days)"])
@pytest.mark.parametrize(
    "offset",
    [
        timedelta(0),
        timedelta(seconds=1),
        timedelta(seconds=59),
        timedelta(minutes=1),
        timedelta(minutes=7),
        timedelta(minutes=7, seconds=30),
        timedelta(hours=5, minutes=3),
        timedelta(days=3),
        timedelta(days=10, minutes=1),
        -timedelta(minutes=30),  # t before the rule was created
    ],
)
def test_rate_next_after_matches_brute_force(expression: str, offset: timedelta) -> None:
    anchor = utc(2024, 2, 28, 23, 58, 42)
    s = parse_schedule(expression)
    assert isinstance(s, RateSchedule)
    t = anchor + offset
    assert s.next_after(t, anchor=anchor) == brute_force_rate(anchor, s.interval, t)


def test_rate_schedule_is_anchored_to_creation_minute() -> None:
    created = utc(2025, 6, 1, 12, 0, 30)
    got = fire_times("rate(5 minutes)", created, 4, anchor=created)
    assert got == [
        utc(2025, 6, 1, 12, 5),
        utc(2025, 6, 1, 12, 10),
        utc(2025, 6, 1, 12, 15),
        utc(2025, 6, 1, 12, 20),
    ]


def test_rate_next_after_is_strictly_after() -> None:
    anchor = utc(2025, 1, 1, 0, 0)
    s = parse_schedule("rate(1 hour)")
    assert s.next_after(utc(2025, 1, 1, 1, 0), anchor=anchor) == utc(2025, 1, 1, 2, 0)
    assert s.next_after(utc(2025, 1, 1, 0, 59, 59, 999999), anchor=anchor) == utc(2025, 1, 1, 1, 0)


def test_rate_crosses_leap_day_without_calendar_arithmetic() -> None:
    # rate(1 day) is a fixed 24 h interval in UTC (no DST): 2024-02-28 -> 02-29 -> 03-01.
    anchor = utc(2024, 2, 27, 6, 30)
    assert fire_times("rate(1 day)", anchor, 3, anchor=anchor) == [
        utc(2024, 2, 28, 6, 30),
        utc(2024, 2, 29, 6, 30),
        utc(2024, 3, 1, 6, 30),
    ]


def test_rate_requires_anchor() -> None:
    with pytest.raises(ValueError):
        parse_schedule("rate(1 minute)").next_after(utc(2025, 1, 1))


def test_rate_accepts_naive_and_other_zones() -> None:
    s = parse_schedule("rate(1 hour)")
    anchor = utc(2025, 1, 1, 10, 0)
    cet = timezone(timedelta(hours=1))
    # 11:30 CET = 10:30 UTC -> next is 11:00 UTC
    assert s.next_after(datetime(2025, 1, 1, 11, 30, tzinfo=cet), anchor=anchor) == utc(2025, 1, 1, 11, 0)
    # naive values are UTC
    assert s.next_after(datetime(2025, 1, 1, 10, 30), anchor=datetime(2025, 1, 1, 10, 0)) == utc(
        2025, 1, 1, 11, 0
    )
    assert s.next_after(datetime(2025, 1, 1, 10, 30), anchor=anchor).tzinfo is UTC


def test_rate_huge_value_does_not_overflow() -> None:
    s = parse_schedule("rate(2147483647 days)")
    assert s.next_after(utc(2025, 1, 1), anchor=utc(2025, 1, 1)) is None
    assert_invalid("rate(2147483648 days)")


# -------------------------------------------------------------------------------------- cron: validity

VALID_CRON = [
    # eb-create-rule-schedule examples table
    "cron(0 10 * * ? *)",
    "cron(15 12 * * ? *)",
    "cron(0 18 ? * MON-FRI *)",
    "cron(0 8 1 * ? *)",
    "cron(0/15 * * * ? *)",
    "cron(0/10 * ? * MON-FRI *)",
    "cron(0/5 8-17 ? * MON-FRI *)",
    "cron(0/30 20-2 ? * MON-FRI *)",
    # put-rule examples of the same page
    "cron(0 12 * * ? *)",
    "cron(5,35 14 * * ? *)",
    "cron(15 10 ? * 6L 2019-2022)",
    # LocalStack's AWS-validated list
    "cron(0/30 20-23 ? * MON-FRI *)",
    "cron(0/30 0-2 ? * MON-FRI *)",
    # wildcards from the guide's table
    "cron(0 0 L * ? *)",
    "cron(0 0 3W * ? *)",
    "cron(0 0 ? * 3#2 *)",
    "cron(0 0 ? * L *)",
    "cron(1/10 * * * ? *)",
    "cron(0 0 ? JAN,FEB,MAR SUN *)",
    "cron(0 0 1-15 * ? *)",
    "cron(0 0 7 * ? *)",
    "cron(0 0 ? * 1-7 *)",
    "cron(0 0 ? * SUN-SAT *)",
    "cron(59 23 31 12 ? 2199)",
    "cron(0 0 1 1 ? 1970)",
    "cron(0 0 * * ? 1970-2199)",
    "cron(0 0 * * ? 2020/5)",
    "cron(0 0 * * ? 2024,2026,2030-2032)",
    # Quartz forms AWS accepts (third-party observations, see module docstring)
    "cron(0 0 LW * ? *)",
    "cron(0 0 L-3 * ? *)",
    "cron(0 0 ? * FRIL *)",
    "cron(0 0 ? * MON#1 *)",
    "cron(0 0 ? * mon-fri *)",
    "cron(0 0 ? jan-mar mOn *)",
    "cron(0 0 lw * ? *)",
    "cron(0 0 ? * 2/2 *)",
    # ranges: wrapping and stepped
    "cron(50-10 * * * ? *)",
    "cron(0 22-3/2 * * ? *)",
    "cron(0 0 30-2 * ? *)",
    "cron(0 0 1 NOV-FEB ? *)",
    "cron(0 0 ? * FRI-MON *)",
    "cron(0 0 1 11-2/2 ? *)",
    "cron(05 09 * * ? *)",
    "cron(*/20 * * * ? *)",
    "cron(0 0 1 * ? *)",
    # Quartz tokenizer: runs of spaces/tabs between fields
    "cron(0  10 * * ? *)",
    "cron(0\t10 * * ? *)",
]


@pytest.mark.parametrize("expression", VALID_CRON)
def test_cron_valid(expression: str) -> None:
    s = parse_schedule(expression)
    assert isinstance(s, CronSchedule)
    assert s.kind == "cron"
    assert s.expression == expression


INVALID_CRON = [
    # field count
    "cron(0 10 * * ?)",
    "cron(0 10 * * ? * *)",
    "cron(0 0 10 * * ? *)",
    "cron()",
    "cron( )",
    # exactly one of day-of-month / day-of-week must be '?'
    "cron(0 10 * * * *)",
    "cron(0 10 ? * ? *)",
    "cron(0 10 1 * MON *)",
    "cron(0 10 L * L *)",
    # '?' only in the day fields
    "cron(? 10 * * ? *)",
    "cron(0 ? * * ? *)",
    "cron(0 10 * ? ? *)",
    "cron(0 10 * * ? ?)",
    # out of range
    "cron(60 10 * * ? *)",
    "cron(0 24 * * ? *)",
    "cron(0 10 0 * ? *)",
    "cron(0 10 32 * ? *)",
    "cron(0 10 * 0 ? *)",
    "cron(0 10 * 13 ? *)",
    "cron(0 10 ? * 0 *)",
    "cron(0 10 ? * 8 *)",
    "cron(0 10 * * ? 1969)",
    "cron(0 10 * * ? 2200)",
    "cron(0 10 * * ? 2500)",
    "cron(0 0-60 * * ? *)",
    "cron(0 10 * 1-13 ? *)",
    "cron(-1 10 * * ? *)",
    # '#': only in day-of-week, once, 1..5
    "cron(0 10 ? * 3#1,6#3 *)",
    "cron(0 10 ? * 3#0 *)",
    "cron(0 10 ? * 3#6 *)",
    "cron(0 10 ? * 8#1 *)",
    "cron(0 10 ? * 3#2-4 *)",
    "cron(0 10 3#2 * ? *)",
    "cron(0#1 10 * * ? *)",
    "cron(0 10 * * ? 2020#1)",
    # 'L' / 'W' placement
    "cron(L 10 * * ? *)",
    "cron(0 L * * ? *)",
    "cron(0 10 * L ? *)",
    "cron(0 10 * * ? L)",
    "cron(0 10 L,15 * ? *)",
    "cron(0 10 ? * 6L,2 *)",
    "cron(0 10 ? * 8L *)",
    "cron(0 10 ? * 0L *)",
    "cron(0 10 L-31 * ? *)",
    "cron(0 10 L-0 * ? *)",
    "cron(0 10 ? * 3W *)",
    "cron(0 10 0W * ? *)",
    "cron(0 10 32W * ? *)",
    "cron(0 10 1-5W * ? *)",
    "cron(0 10 1W,15 * ? *)",
    "cron(0 10 WL * ? *)",
    # increments
    "cron(0/0 10 * * ? *)",
    "cron(0/60 10 * * ? *)",
    "cron(0 0/24 * * ? *)",
    "cron(0 10 1/32 * ? *)",
    "cron(0 10 1 1/13 ? *)",
    "cron(0 10 ? * 1/8 *)",
    "cron(/5 10 * * ? *)",
    "cron(5/ 10 * * ? *)",
    "cron(1/2/3 10 * * ? *)",
    # names in the wrong field / unknown names
    "cron(0 10 * JANUARY ? *)",
    "cron(0 10 * XYZ ? *)",
    "cron(0 10 ? * MONDAY *)",
    "cron(0 10 ? JAN MON-XYZ *)",
    "cron(0 10 MON * ? *)",
    "cron(0 10 ? * JAN *)",
    "cron(MON 10 * * ? *)",
    # lists and ranges
    "cron(0 10 1,,2 * ? *)",
    "cron(0 10 1, * ? *)",
    "cron(0 10 ,1 * ? *)",
    "cron(0 10 1-2-3 * ? *)",
    "cron(0 10 1- * ? *)",
    "cron(0 10 -1 * ? *)",
    "cron(0 10 *-5 * ? *)",
    "cron(0 10 * * ? 2022-2020)",  # descending year ranges do not wrap
    "cron(0 10 1.5 * ? *)",
    "cron(0 10 ١ * ? *)",  # Arabic-Indic digit one
    # outer syntax
    "CRON(0 10 * * ? *)",
    "cron(0 10 * * ? *) ",
    " cron(0 10 * * ? *)",
    "cron(0 10 * * ? *",
    "cron 0 10 * * ? *",
    "cron((0 10 * * ? *))",
    "cron(0 10 * * ? *)cron(0 10 * * ? *)",
    "cron(0\n10 * * ? *)",
    "cron(0 10 * * ? 00002020)",
]


@pytest.mark.parametrize("expression", INVALID_CRON)
def test_cron_invalid(expression: str) -> None:
    assert_invalid(expression)


# ------------------------------------------------------------------------------------ cron: fire times


def test_every_day_at_ten() -> None:
    assert fire_times("cron(0 10 * * ? *)", utc(2025, 12, 31, 10, 0), 3) == [
        utc(2026, 1, 1, 10, 0),
        utc(2026, 1, 2, 10, 0),
        utc(2026, 1, 3, 10, 0),
    ]


def test_next_after_is_strictly_after_and_floors_seconds() -> None:
    s = parse_schedule("cron(* * * * ? *)")
    assert s.next_after(utc(2025, 1, 1, 0, 0)) == utc(2025, 1, 1, 0, 1)
    assert s.next_after(utc(2025, 1, 1, 0, 0, 59, 999999)) == utc(2025, 1, 1, 0, 1)
    s = parse_schedule("cron(30 * * * ? *)")
    assert s.next_after(utc(2025, 1, 1, 0, 29, 59)) == utc(2025, 1, 1, 0, 30)
    assert s.next_after(utc(2025, 1, 1, 0, 30, 0)) == utc(2025, 1, 1, 1, 30)


def test_year_end_rollover() -> None:
    assert fire_times("cron(59 23 * * ? *)", utc(2024, 12, 31, 23, 59), 1) == [utc(2025, 1, 1, 23, 59)]
    assert fire_times("cron(0 0 1 1 ? *)", utc(2024, 12, 31, 23, 59), 2) == [utc(2025, 1, 1), utc(2026, 1, 1)]


def test_accepts_naive_and_other_zones_returns_utc() -> None:
    s = parse_schedule("cron(0 10 * * ? *)")
    est = timezone(timedelta(hours=-5))
    # 04:30 EST = 09:30 UTC -> 10:00 UTC the same day
    got = s.next_after(datetime(2025, 1, 6, 4, 30, tzinfo=est))
    assert got == utc(2025, 1, 6, 10, 0)
    assert got is not None and got.tzinfo is UTC
    assert s.next_after(datetime(2025, 1, 6, 9, 30)) == utc(2025, 1, 6, 10, 0)


def test_anchor_is_ignored_by_cron() -> None:
    s = parse_schedule("cron(0 10 * * ? *)")
    t = utc(2025, 1, 6, 9, 0)
    assert s.next_after(t) == s.next_after(t, anchor=utc(2020, 1, 1, 3, 17))


def test_guide_example_every_30_minutes_overnight_weekdays() -> None:
    # "0/30 20-2 ? * MON-FRI *": every 30 min between 20:00 and 02:30 on each of MON-FRI, the hours
    # 0-2 belonging to the (weekday) day they fall on. 2025-03-07 is a Friday, 2025-03-08 a Saturday,
    # 2025-03-10 a Monday.
    got = fire_times("cron(0/30 20-2 ? * MON-FRI *)", utc(2025, 3, 7, 19, 0), 10)
    assert got == [
        utc(2025, 3, 7, 20, 0),
        utc(2025, 3, 7, 20, 30),
        utc(2025, 3, 7, 21, 0),
        utc(2025, 3, 7, 21, 30),
        utc(2025, 3, 7, 22, 0),
        utc(2025, 3, 7, 22, 30),
        utc(2025, 3, 7, 23, 0),
        utc(2025, 3, 7, 23, 30),
        # Saturday 00:00-02:30 is not MON-FRI; the next run is Monday 00:00
        utc(2025, 3, 10, 0, 0),
        utc(2025, 3, 10, 0, 30),
    ]


def test_guide_example_every_5_minutes_business_hours() -> None:
    got = fire_times("cron(0/5 8-17 ? * MON-FRI *)", utc(2025, 3, 7, 17, 50), 3)  # a Friday
    assert got == [utc(2025, 3, 7, 17, 55), utc(2025, 3, 10, 8, 0), utc(2025, 3, 10, 8, 5)]


def test_increment_starting_minute() -> None:
    # "1/10 ... the 11th, 21st, and 31st minute, and so on"
    s = parse_schedule("cron(1/10 * * * ? *)")
    assert isinstance(s, CronSchedule)
    assert s.minutes == (1, 11, 21, 31, 41, 51)


def test_increment_forms() -> None:
    def minutes(field: str) -> tuple[int, ...]:
        s = parse_schedule(f"cron({field} 0 * * ? *)")
        assert isinstance(s, CronSchedule)
        return s.minutes

    assert minutes("*/20") == (0, 20, 40)
    assert minutes("0/15") == (0, 15, 30, 45)
    assert minutes("10-30/10") == (10, 20, 30)
    assert minutes("50-10/5") == (0, 5, 10, 50, 55)  # wrapping and stepped
    assert minutes("5,1-3,58/1") == (1, 2, 3, 5, 58, 59)
    assert minutes("7") == (7,)
    assert minutes("59/59") == (59,)


def test_wrapping_ranges_in_every_field() -> None:
    s = parse_schedule("cron(58-1 22-1 30-2 NOV-FEB ? *)")
    assert isinstance(s, CronSchedule)
    assert s.minutes == (0, 1, 58, 59)
    assert s.hours == (0, 1, 22, 23)
    assert s.months == frozenset({11, 12, 1, 2})
    # day-of-month 30-2 wraps through 31: days 30, 31, 1, 2 (only those the month has)
    assert s.days_in(2025, 11) == [1, 2, 30]
    assert s.days_in(2025, 12) == [1, 2, 30, 31]
    assert s.days_in(2024, 2) == [1, 2]
    d = parse_schedule("cron(0 0 ? * FRI-MON *)")
    assert isinstance(d, CronSchedule)
    # 2025-03-01 is a Saturday: FRI-MON = Fri, Sat, Sun, Mon
    assert [x.day for x in fire_times("cron(0 0 ? * FRI-MON *)", utc(2025, 2, 28, 12), 5)] == [1, 2, 3, 7, 8]


def test_day_of_week_numbering_one_is_sunday() -> None:
    # 2025-03-02 is a Sunday.
    for number, name in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"], start=1):
        by_number = fire_times(f"cron(0 0 ? * {number} *)", utc(2025, 3, 1), 2)
        by_name = fire_times(f"cron(0 0 ? * {name} *)", utc(2025, 3, 1), 2)
        assert by_number == by_name
        assert by_number[0] == utc(2025, 3, 2 + number - 1)
        assert by_number[1] - by_number[0] == timedelta(days=7)
        assert calendar.day_abbr[by_number[0].weekday()].upper() == name


def test_month_names_and_case_insensitivity() -> None:
    a = fire_times("cron(0 0 1 JAN,jul ? *)", utc(2025, 1, 15), 3)
    b = fire_times("cron(0 0 1 1,7 ? *)", utc(2025, 1, 15), 3)
    assert a == b == [utc(2025, 7, 1), utc(2026, 1, 1), utc(2026, 7, 1)]


def test_dom_set_skips_months_without_the_day() -> None:
    got = fire_times("cron(0 0 31 * ? *)", utc(2025, 1, 31, 1), 4)
    assert got == [utc(2025, 3, 31), utc(2025, 5, 31), utc(2025, 7, 31), utc(2025, 8, 31)]


def test_leap_day() -> None:
    assert fire_times("cron(0 0 29 2 ? *)", utc(2025, 3, 1), 3) == [
        utc(2028, 2, 29),
        utc(2032, 2, 29),
        utc(2036, 2, 29),
    ]
    # 2100 is not a leap year (divisible by 100, not by 400); 2000 was.
    assert fire_times("cron(0 0 29 2 ? 2096-2199)", utc(2096, 3, 1), 1) == [utc(2104, 2, 29)]
    assert fire_times("cron(0 0 29 2 ? 1996-2004)", utc(1996, 3, 1), 2) == [
        utc(2000, 2, 29),
        utc(2004, 2, 29),
    ]


def test_impossible_date_never_fires() -> None:
    assert parse_schedule("cron(0 0 30 2 ? *)").next_after(utc(2025, 1, 1)) is None
    assert (
        parse_schedule("cron(0 0 ? 2 3#5 2026)").next_after(utc(2025, 1, 1)) is None
    )  # Feb 2026: 4 Tuesdays


def test_year_field() -> None:
    # Guide example: last Friday of each month during 2019-2022, 10:15.
    s = parse_schedule("cron(15 10 ? * 6L 2019-2022)")
    assert s.next_after(utc(2023, 1, 1)) is None
    assert s.next_after(utc(2022, 12, 1)) == utc(2022, 12, 30, 10, 15)  # Dec 2022: Friday 30th is the last
    assert s.next_after(utc(2015, 1, 1)) == utc(2019, 1, 25, 10, 15)  # Jan 2019: Fridays 4, 11, 18, 25
    assert [t.year for t in fire_times("cron(0 0 1 1 ? 2020/5)", utc(2019, 1, 1), 4)] == [
        2020,
        2025,
        2030,
        2035,
    ]
    assert [t.year for t in fire_times("cron(0 0 1 1 ? 2024,2030-2031)", utc(2020, 1, 1), 5)] == [
        2024,
        2030,
        2031,
    ]


def test_last_possible_fire_time() -> None:
    s = parse_schedule("cron(59 23 31 12 ? *)")
    assert s.next_after(utc(2199, 12, 31, 23, 58)) == utc(2199, 12, 31, 23, 59)
    assert s.next_after(utc(2199, 12, 31, 23, 59)) is None
    assert parse_schedule("cron(* * * * ? *)").next_after(utc(2300, 1, 1)) is None
    assert parse_schedule("cron(0 0 1 1 ? *)").next_after(utc(1900, 6, 1)) == utc(1970, 1, 1)


# Months spanning leap and non-leap Februaries, 30/31-day months and every weekday on the 1st.
MONTHS = [(y, m) for y in (2023, 2024, 2025, 2100) for m in range(1, 13)]


def _days(year: int, month: int) -> range:
    return range(1, calendar.monthrange(year, month)[1] + 1)


@pytest.mark.parametrize(("year", "month"), MONTHS)
def test_dom_l_and_offsets(year: int, month: int) -> None:
    last = calendar.monthrange(year, month)[1]
    s = parse_schedule(f"cron(0 12 L * ? {year})")
    assert s.next_after(utc(year, month, 1)) == utc(year, month, last, 12)
    s3 = parse_schedule(f"cron(0 12 L-3 * ? {year})")
    assert s3.next_after(utc(year, month, 1)) == utc(year, month, last - 3, 12)


def test_dom_l_offset_beyond_month_start() -> None:
    # L-30 exists only in 31-day months (the 1st); February never fires.
    s = parse_schedule("cron(0 0 L-30 * ? 2025)")
    assert fire_times("cron(0 0 L-30 * ? 2025)", utc(2025, 1, 1, 1), 3) == [
        utc(2025, 3, 1),
        utc(2025, 5, 1),
        utc(2025, 7, 1),
    ]
    assert isinstance(s, CronSchedule) and s.days_in(2025, 2) == []


@pytest.mark.parametrize(("year", "month"), MONTHS)
def test_dom_lw_is_last_weekday(year: int, month: int) -> None:
    expected = max(d for d in _days(year, month) if calendar.weekday(year, month, d) < 5)
    assert parse_schedule(f"cron(0 0 LW * ? {year})").next_after(utc(year, month, 1)) == utc(
        year, month, expected
    )


def _nearest_weekday(year: int, month: int, day: int) -> int | None:
    """Reference: the weekday of the month closest to `day` (never leaving the month)."""
    if day not in _days(year, month):
        return None
    weekdays = [d for d in _days(year, month) if calendar.weekday(year, month, d) < 5]
    return min(weekdays, key=lambda d: abs(d - day))


@pytest.mark.parametrize(("year", "month"), MONTHS)
def test_dom_w_nearest_weekday(year: int, month: int) -> None:
    for day in range(1, 32):
        s = parse_schedule(f"cron(0 0 {day}W * ? *)")
        assert isinstance(s, CronSchedule)
        expected = _nearest_weekday(year, month, day)
        assert s.days_in(year, month) == ([] if expected is None else [expected]), (year, month, day)


def test_dom_w_known_cases() -> None:
    # 2025-03-01 is a Saturday -> 1W is Monday the 3rd (does not go back into February).
    assert parse_schedule("cron(0 0 1W * ? *)").next_after(utc(2025, 2, 28, 1)) == utc(2025, 3, 3)
    # 2025-08-31 is a Sunday and the last day -> 31W is Friday the 29th.
    assert parse_schedule("cron(0 0 31W * ? *)").next_after(utc(2025, 8, 1)) == utc(2025, 8, 29)
    # 2025-05-03 is a Saturday -> 3W is Friday the 2nd; 2025-05-04 Sunday -> 4W is Monday the 5th.
    assert parse_schedule("cron(0 0 3W * ? *)").next_after(utc(2025, 5, 1, 1)) == utc(2025, 5, 2)
    assert parse_schedule("cron(0 0 4W * ? *)").next_after(utc(2025, 5, 1, 1)) == utc(2025, 5, 5)
    # 31W does not fire in 30-day months (AWS console preview): after Mar 31 comes May.
    assert fire_times("cron(0 0 31W * ? *)", utc(2025, 3, 31, 1), 1) == [utc(2025, 5, 30)]


@pytest.mark.parametrize(("year", "month"), MONTHS)
def test_dow_last_and_nth(year: int, month: int) -> None:
    for aws_day in range(1, 8):
        py_day = (aws_day - 2) % 7  # AWS 1=SUN -> Python 6, 2=MON -> 0, ...
        matching = [d for d in _days(year, month) if calendar.weekday(year, month, d) == py_day]
        s = parse_schedule(f"cron(0 0 ? * {aws_day}L *)")
        assert isinstance(s, CronSchedule)
        assert s.days_in(year, month) == [matching[-1]]
        for nth in range(1, 6):
            s = parse_schedule(f"cron(0 0 ? * {aws_day}#{nth} *)")
            assert isinstance(s, CronSchedule)
            assert s.days_in(year, month) == matching[nth - 1 : nth]


def test_dow_l_alone_is_saturday() -> None:
    sat = fire_times("cron(0 0 ? * L *)", utc(2025, 3, 3), 3)
    assert sat == fire_times("cron(0 0 ? * SAT *)", utc(2025, 3, 3), 3)
    assert all(t.weekday() == 5 for t in sat)


def test_guide_example_second_tuesday() -> None:
    # "3#2 would be the second Tuesday of the month": March 2025 Tuesdays are 4, 11, 18, 25.
    assert parse_schedule("cron(0 9 ? * 3#2 *)").next_after(utc(2025, 3, 1)) == utc(2025, 3, 11, 9)
    assert parse_schedule("cron(0 9 ? * TUE#2 *)").next_after(utc(2025, 3, 1)) == utc(2025, 3, 11, 9)


def test_fifth_weekday_skips_months_without_one() -> None:
    # 5th Tuesday: 2025 has them in April (29), July (29), September (30), December (30).
    got = fire_times("cron(0 10 ? * 3#5 *)", utc(2025, 3, 1), 4)
    assert got == [utc(2025, 4, 29, 10), utc(2025, 7, 29, 10), utc(2025, 9, 30, 10), utc(2025, 12, 30, 10)]


@pytest.mark.parametrize(
    "expression",
    [
        "cron(0 0 L * ? *)",
        "cron(0/7 3-5 ? * 2,4,6 *)",
        "cron(0 0 15W * ? *)",
        "cron(0 0 ? * 6L *)",
        "cron(0 0 ? * 1#3 *)",
        "cron(30 22-1 29 2 ? *)",
        "cron(0 0 LW 2,3 ? *)",
    ],
)
def test_matches_agrees_with_next_after(expression: str) -> None:
    """Walk minute by minute over two months: `matches` and the chain of `next_after` must agree."""
    s = parse_schedule(expression)
    assert isinstance(s, CronSchedule)
    t = utc(2024, 2, 1)
    end = utc(2024, 4, 1)
    expected = []
    while t < end:
        if s.matches(t):
            expected.append(t)
        t += timedelta(minutes=1)
    assert [
        x for x in fire_times(expression, utc(2024, 1, 31, 23, 59), len(expected) + 1) if x < end
    ] == expected


# ----------------------------------------------------------------------- pyawscron as differential oracle


def _field(draw: st.DrawFn, low: int, high: int, names: list[str] | None = None) -> str:
    """A list of plain values, non-wrapping ranges and increments (the syntax pyawscron gets right)."""

    def value(v: int) -> str:
        if names is not None and draw(st.booleans()):
            return names[v - low]
        return str(v)

    kind = draw(st.sampled_from(["*", "*/n", "list"]))
    if kind == "*":
        return "*"
    if kind == "*/n":
        return f"*/{draw(st.integers(1, high - low))}"
    items = []
    for _ in range(draw(st.integers(1, 3))):
        a = draw(st.integers(low, high))
        form = draw(st.sampled_from(["v", "a-b", "a-b/n", "v/n"]))
        if form == "v":
            items.append(value(a))
        elif form == "v/n":
            items.append(f"{a}/{draw(st.integers(1, high - low))}")
        else:
            b = draw(st.integers(a, high))
            rng = f"{value(a)}-{value(b)}"
            items.append(rng if form == "a-b" else f"{a}-{b}/{draw(st.integers(1, high - low))}")
    return ",".join(items)


MONTH_NAMES = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
DAY_NAMES = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]


@st.composite
def simple_cron(draw: st.DrawFn) -> str:
    minute = _field(draw, 0, 59)
    hour = _field(draw, 0, 23)
    if draw(st.booleans()):
        # pyawscron indexes days that the month lacks (e.g. 31 in April): stay within 1-28
        dom, dow = _field(draw, 1, 28), "?"
    else:
        dom, dow = "?", _field(draw, 1, 7, DAY_NAMES)
    month = _field(draw, 1, 12, MONTH_NAMES)
    year = draw(st.sampled_from(["*", "2024-2030", "2025,2027", "2024/2"]))
    return f"{minute} {hour} {dom} {month} {dow} {year}"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    fields=simple_cron(),
    start=st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2026, 12, 31)),
)
def test_differential_against_pyawscron(fields: str, start: datetime) -> None:
    start = start.replace(tzinfo=UTC)
    try:
        expected = AWSCron.get_next_n_schedule(4, start, fields)
    except Exception:  # pyawscron's own limits (recursion cap, exhausted years): no oracle for this case
        assume(False)
        return
    assume(all(x is not None for x in expected))
    assert fire_times(f"cron({fields})", start, 4) == expected


def test_differential_oracle_known_cases() -> None:
    # A few fixed points, so that the oracle test cannot silently skip everything.
    start = utc(2025, 3, 1, 7, 13)
    for fields in [
        "0/15 * * * ? *",
        "5,35 14 * * ? *",
        "0 18 ? * MON-FRI *",
        "0 8 1 * ? *",
        "10-40/10 1-3 ? JAN-JUN 2-4 *",
    ]:
        assert fire_times(f"cron({fields})", start, 6) == AWSCron.get_next_n_schedule(6, start, fields)


# ------------------------------------------------------------------------------------------------ fuzz


@settings(max_examples=2000, deadline=None)
@given(st.text())
def test_fuzz_arbitrary_text_only_raises_aws_error(text: str) -> None:
    for expression in (text, f"cron({text})", f"rate({text})"):
        try:
            parse_schedule(expression)
        except AwsError as e:
            assert e.message == INVALID_SCHEDULE_MESSAGE


_TOKEN_TEXT = (
    "* ? L W # - / , LW L- 0 1 2 3 5 6 7 12 15 23 29 30 31 59 60 1970 2024 2199 JAN DEC MON FRI SAT x"
)
TOKENS = st.sampled_from([*_TOKEN_TEXT.split(" "), " ", "  "])


@st.composite
def cron_like(draw: st.DrawFn) -> str:
    fields = [
        "".join(draw(st.lists(TOKENS, min_size=1, max_size=4)))
        for _ in range(draw(st.sampled_from([5, 6, 6, 6, 7])))
    ]
    return f"cron({' '.join(fields)})"


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cron_like(), st.datetimes(min_value=datetime(1960, 1, 1), max_value=datetime(2210, 1, 1)))
def test_fuzz_cron_like_text(expression: str, start: datetime) -> None:
    try:
        s = parse_schedule(expression)
    except AwsError as e:
        assert e.message == INVALID_SCHEDULE_MESSAGE
        return
    assert isinstance(s, CronSchedule)
    nxt = s.next_after(start)
    if nxt is not None:
        assert nxt > start.replace(tzinfo=UTC)
        assert nxt.second == 0 and nxt.microsecond == 0
        assert s.matches(nxt)
        # Minimality, checked by brute force when the gap is short enough.
        if nxt - start.replace(tzinfo=UTC) <= timedelta(hours=6):
            t = start.replace(second=0, microsecond=0, tzinfo=UTC) + timedelta(minutes=1)
            while t < nxt:
                assert not s.matches(t)
                t += timedelta(minutes=1)


def test_parsed_schedules_are_cached_and_immutable() -> None:
    a = parse_schedule("cron(0 10 * * ? *)")
    assert a is parse_schedule("cron(0 10 * * ? *)")
    with pytest.raises(AttributeError):
        a.expression = "x"  # type: ignore[misc]
    # failures are not cached as objects: each call raises a fresh error
    errors = []
    for _ in range(2):
        with pytest.raises(AwsError) as exc:
            parse_schedule("cron(bad)")
        errors.append(exc.value)
    assert errors[0] is not errors[1]
