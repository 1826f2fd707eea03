"""Schedule expressions of scheduled rules: ``rate(value unit)`` and ``cron(6 fields)``.

Pure module: parsing/validation (PutRule time) and "next fire time" arithmetic (scheduler), UTC only,
minute granularity (AWS: "Your scheduled rule runs within that minute, but not on the precise 0th second").

Sources (see the lead's reference notes, section 8):
- EventBridge user guide, eb-create-rule-schedule / eb-scheduled-rule-pattern / eb-rate-expressions.
- Error text ``Parameter ScheduleExpression is not valid.``: recorded against AWS in LocalStack's
  snapshot-validated tests (tests/aws/services/events/test_events_schedule.py), for every invalid rate.
- AWS cron syntax is Quartz's (``?``, ``L``, ``W``, ``#``, 1=SUN, year field). Where the EventBridge guide is
  silent we follow Quartz 2.x ``CronExpression`` and third-party observations of the AWS console/API:
  ``LW`` and mixed-case names are accepted (grumBit/aws_cron_expression_validator#18), ``5L`` in
  day-of-week works (ibid. #12), ``31W`` does not fire in months shorter than 31 days (console preview,
  winebarrel/cronplan#106).

Why not ``pyawscron``: it performs no validation (``cron(0 10 * * * *)`` or 5 fields are "accepted" or crash
with IndexError), raises on wrapping ranges (``20-2``), on ``L`` alone in day-of-week, on ``LW``, on sparse
schedules such as ``cron(0 0 29 2 ? *)`` (internal recursion cap / ValueError) and on exhausted year ranges.
The arithmetic below is small and exhaustively tested; pyawscron is used in the tests as a differential
oracle on the subset of expressions where it is correct.
"""

from __future__ import annotations

import bisect
import calendar
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from eventyard.errors import AwsError

INVALID_SCHEDULE_MESSAGE = "Parameter ScheduleExpression is not valid."

# Largest rate value accepted. AWS does not document an upper bound; the service is Java, so a value that
# does not fit an int is assumed to be refused. (Guess, not verified against AWS.)
MAX_RATE_VALUE = 2**31 - 1

MIN_YEAR = 1970
MAX_YEAR = 2199

_ONE_MINUTE = timedelta(minutes=1)


def _invalid() -> AwsError:
    return AwsError("ValidationException", INVALID_SCHEDULE_MESSAGE)


def _utc(t: datetime) -> datetime:
    """Aware datetimes are converted to UTC; naive ones are taken to be UTC already."""
    if t.tzinfo is None:
        return t.replace(tzinfo=UTC)
    return t.astimezone(UTC)


def _floor_minute(t: datetime) -> datetime:
    return t.replace(second=0, microsecond=0)


class Schedule(ABC):
    """A parsed schedule expression.

    ``next_after(t, anchor=...)`` returns the first fire time strictly after ``t`` (an aware UTC datetime on a
    whole minute), or ``None`` when the schedule never fires again (cron year range exhausted).
    ``anchor`` is the moment the rate schedule started (the rule's creation time); cron schedules ignore it.
    Inputs may be naive (taken as UTC) or aware in any zone.
    """

    expression: str

    @property
    @abstractmethod
    def kind(self) -> str:
        """``"rate"`` or ``"cron"``."""

    @abstractmethod
    def next_after(self, t: datetime, *, anchor: datetime | None = None) -> datetime | None: ...


# --------------------------------------------------------------------------------------------------- rate

_RATE_RE = re.compile(r"rate\(([0-9]{1,12}) (minute|minutes|hour|hours|day|days)\)")
_UNIT_MINUTES = {"minute": 1, "hour": 60, "day": 1440}


@dataclass(frozen=True)
class RateSchedule(Schedule):
    """``rate(value unit)``: fires every ``interval``, counted from the anchor (the rule's creation time).

    The first fire time is one interval after the anchor's minute: a rule created at 12:00:30 with
    ``rate(5 minutes)`` fires at 12:05, 12:10, ... (AWS: "A rate expression starts when you create the
    scheduled event rule"; whether the very first run is at creation or one interval later is not
    documented -- one interval later is assumed.)
    """

    expression: str
    value: int
    unit: str  # singular: "minute" | "hour" | "day"

    @property
    def kind(self) -> str:
        return "rate"

    @property
    def interval(self) -> timedelta:
        return timedelta(minutes=self.value * _UNIT_MINUTES[self.unit])

    def next_after(self, t: datetime, *, anchor: datetime | None = None) -> datetime | None:
        if anchor is None:
            raise ValueError("a rate schedule needs anchor= (the rule's creation time)")
        t = _utc(t)
        base = _floor_minute(_utc(anchor))
        step = self.value * _UNIT_MINUTES[self.unit]  # minutes
        elapsed = (t - base) // _ONE_MINUTE  # whole minutes from base to t, floor
        k = max(1, elapsed // step + 1)
        try:
            return base + timedelta(minutes=k * step)
        except OverflowError:
            return None


def _parse_rate(expression: str) -> RateSchedule:
    m = _RATE_RE.fullmatch(expression)
    if m is None:
        raise _invalid()
    value = int(m.group(1))
    unit = m.group(2)
    if value < 1 or value > MAX_RATE_VALUE:
        raise _invalid()
    plural = unit.endswith("s")
    if plural != (value > 1):
        raise _invalid()
    return RateSchedule(expression=expression, value=value, unit=unit.rstrip("s"))


# --------------------------------------------------------------------------------------------------- cron

_MONTH_NAMES = {
    name: i + 1
    for i, name in enumerate(
        ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
    )
}
_DAY_NAMES = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}

# Field index -> (low, high, largest increment accepted). Increment bounds follow Quartz's
# checkIncrementRange; a zero increment is refused (Quartz silently reads "0/0" as "0").
_MINUTE, _HOUR, _DOM, _MONTH, _DOW, _YEAR = range(6)
_BOUNDS = {
    _MINUTE: (0, 59, 59),
    _HOUR: (0, 23, 23),
    _DOM: (1, 31, 31),
    _MONTH: (1, 12, 12),
    _DOW: (1, 7, 7),
    _YEAR: (MIN_YEAR, MAX_YEAR, 9999),  # Quartz has no increment bound for years
}
_WRAPS = {_MINUTE: 60, _HOUR: 24, _DOM: 31, _MONTH: 12, _DOW: 7}  # the year field does not wrap
_NAMES = {_MONTH: _MONTH_NAMES, _DOW: _DAY_NAMES}

_NUMBER_RE = re.compile(r"[0-9]{1,4}")  # longer digit strings are out of range for every field
_ITEM_RE = re.compile(r"(?P<base>\*|[0-9A-Z]+(?:-[0-9A-Z]+)?)(?:/(?P<step>[0-9]{1,4}))?")


def _value(token: str, field: int) -> int:
    names = _NAMES.get(field)
    if names is not None and token in names:
        return names[token]
    if _NUMBER_RE.fullmatch(token) is None:
        raise _invalid()
    v = int(token)
    low, high, _ = _BOUNDS[field]
    if not low <= v <= high:
        raise _invalid()
    return v


def _item_values(item: str, field: int) -> set[int]:
    """One comma-separated item: ``*``, ``v``, ``a-b``, each optionally followed by ``/step``."""
    m = _ITEM_RE.fullmatch(item)
    if m is None:
        raise _invalid()
    low, high, max_step = _BOUNDS[field]
    base, step_text = m.group("base"), m.group("step")
    step = 1
    if step_text is not None:
        step = int(step_text)
        if not 1 <= step <= max_step:
            raise _invalid()
    if base == "*":
        return set(range(low, high + 1, step))
    if "-" in base:
        start_text, end_text = base.split("-")
        start, end = _value(start_text, field), _value(end_text, field)
    else:
        start = _value(base, field)
        # "v" alone is one value; "v/step" runs from v to the top of the field.
        end = high if step_text is not None else start
    if start <= end:
        return set(range(start, end + 1, step))
    # Wrapping range, e.g. hours 20-2 = 20..23,0..2 (Quartz semantics, also for a stepped range).
    size = _WRAPS.get(field)
    if size is None:  # years: a descending range is refused
        raise _invalid()
    out = set()
    for i in range(start, end + size + 1, step):
        v = i % size
        if v < low:  # 1-based fields: 0 stands for the field's top value
            v = size
        out.add(v)
    return out


def _list_values(text: str, field: int) -> frozenset[int]:
    out: set[int] = set()
    for item in text.split(","):
        out |= _item_values(item, field)
    return frozenset(out)


# Day-of-month rules
@dataclass(frozen=True)
class _DomSet:
    days: frozenset[int]


@dataclass(frozen=True)
class _DomLast:
    offset: int  # L-offset; 0 = last day of the month


@dataclass(frozen=True)
class _DomLastWeekday:
    pass


@dataclass(frozen=True)
class _DomNearestWeekday:
    day: int  # nW


# Day-of-week rules (AWS numbering: 1=SUN .. 7=SAT)
@dataclass(frozen=True)
class _DowSet:
    days: frozenset[int]


@dataclass(frozen=True)
class _DowLast:
    weekday: int  # nL: last <weekday> of the month


@dataclass(frozen=True)
class _DowNth:
    weekday: int
    nth: int  # n#k: k-th <weekday> of the month, 1..5


_DomRule = _DomSet | _DomLast | _DomLastWeekday | _DomNearestWeekday
_DowRule = _DowSet | _DowLast | _DowNth

_DOM_LAST_RE = re.compile(r"L(?:-([0-9]{1,2}))?")
_DOM_W_RE = re.compile(r"([0-9]{1,2})W")
_DOW_LAST_RE = re.compile(r"([0-9]|[A-Z]{3})L")
_DOW_NTH_RE = re.compile(r"([0-9]|[A-Z]{3})#([0-9])")


def _parse_dom(text: str) -> _DomRule:
    if text == "LW":
        return _DomLastWeekday()
    m = _DOM_LAST_RE.fullmatch(text)
    if m is not None:
        offset = int(m.group(1)) if m.group(1) is not None else 0
        if m.group(1) is not None and not 1 <= offset <= 30:  # Quartz: offset from last day <= 30
            raise _invalid()
        return _DomLast(offset)
    m = _DOM_W_RE.fullmatch(text)
    if m is not None:
        return _DomNearestWeekday(_value(m.group(1), _DOM))
    # L and W only stand alone (Quartz: not in lists or ranges).
    return _DomSet(_list_values(text, _DOM))


def _parse_dow(text: str) -> _DowRule:
    if text == "L":  # L alone in day-of-week = 7 = SAT (Quartz)
        return _DowSet(frozenset({7}))
    m = _DOW_LAST_RE.fullmatch(text)
    if m is not None:
        return _DowLast(_value(m.group(1), _DOW))
    m = _DOW_NTH_RE.fullmatch(text)
    if m is not None:
        nth = int(m.group(2))
        if not 1 <= nth <= 5:
            raise _invalid()
        return _DowNth(_value(m.group(1), _DOW), nth)
    # Anything else with L or # (lists like "3#1,6#3", "6L,2") is refused: one such expression only.
    return _DowSet(_list_values(text, _DOW))


def _aws_weekday(year: int, month: int, day: int) -> int:
    """1=SUN .. 7=SAT."""
    return (calendar.weekday(year, month, day) + 1) % 7 + 1


@dataclass(frozen=True)
class CronSchedule(Schedule):
    """``cron(Minutes Hours Day-of-month Month Day-of-week Year)``, evaluated in UTC."""

    expression: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    dom: _DomRule | None  # None = "?"
    months: frozenset[int]
    dow: _DowRule | None  # None = "?"
    years: tuple[int, ...]

    @property
    def kind(self) -> str:
        return "cron"

    def days_in(self, year: int, month: int) -> list[int]:
        """The days of ``year-month`` on which the schedule fires (ignoring the month/year fields)."""
        ndays = calendar.monthrange(year, month)[1]
        if self.dom is not None:
            rule = self.dom
            if isinstance(rule, _DomSet):
                return sorted(d for d in rule.days if d <= ndays)
            if isinstance(rule, _DomLast):
                d = ndays - rule.offset
                return [d] if d >= 1 else []
            if isinstance(rule, _DomLastWeekday):
                wd = calendar.weekday(year, month, ndays)  # Mon=0 .. Sun=6
                return [ndays - max(0, wd - 4)]
            # Nearest weekday to the given day, never leaving the month; a day the month does not have
            # never fires (AWS console preview: "31W" skips 30-day months).
            d = rule.day
            if d > ndays:
                return []
            wd = calendar.weekday(year, month, d)
            if wd == 5:  # Saturday -> Friday, or Monday the 3rd when the 1st is a Saturday
                d = d + 2 if d == 1 else d - 1
            elif wd == 6:  # Sunday -> Monday, or Friday when Sunday is the last day of the month
                d = d - 2 if d == ndays else d + 1
            return [d]
        rule_w = self.dow
        assert rule_w is not None
        first = _aws_weekday(year, month, 1)
        if isinstance(rule_w, _DowSet):
            return [d for d in range(1, ndays + 1) if (first - 1 + d - 1) % 7 + 1 in rule_w.days]
        if isinstance(rule_w, _DowNth):
            d = 1 + (rule_w.weekday - first) % 7 + 7 * (rule_w.nth - 1)
            return [d] if d <= ndays else []
        # Last <weekday> of the month.
        last_wd = _aws_weekday(year, month, ndays)
        return [ndays - (last_wd - rule_w.weekday) % 7]

    def matches(self, t: datetime) -> bool:
        """Whether the schedule fires in the minute containing ``t``."""
        t = _utc(t)
        return (
            t.minute in self.minutes
            and t.hour in self.hours
            and t.month in self.months
            and t.year in self.years
            and t.day in self.days_in(t.year, t.month)
        )

    def next_after(self, t: datetime, *, anchor: datetime | None = None) -> datetime | None:
        start = _floor_minute(_utc(t)) + _ONE_MINUTE
        year, month = start.year, start.month
        while True:
            yi = bisect.bisect_left(self.years, year)
            if yi == len(self.years):
                return None
            if self.years[yi] != year:
                year, month = self.years[yi], 1
            if month in self.months:
                same_month = (year, month) == (start.year, start.month)
                for day in self.days_in(year, month):
                    if same_month and day < start.day:
                        continue
                    same_day = same_month and day == start.day
                    for hour in self.hours[bisect.bisect_left(self.hours, start.hour) if same_day else 0 :]:
                        same_hour = same_day and hour == start.hour
                        mi = bisect.bisect_left(self.minutes, start.minute) if same_hour else 0
                        if mi < len(self.minutes):
                            return datetime(year, month, day, hour, self.minutes[mi], tzinfo=UTC)
            month += 1
            if month > 12:
                year, month = year + 1, 1


_CRON_RE = re.compile(r"cron\(([^()]*)\)")
_FIELD_SEP_RE = re.compile(r"[ \t]+")


def _parse_cron(expression: str) -> CronSchedule:
    m = _CRON_RE.fullmatch(expression)
    if m is None:
        raise _invalid()
    # Quartz upper-cases the expression and splits on runs of spaces/tabs.
    inner = m.group(1).strip(" \t").upper()
    fields = _FIELD_SEP_RE.split(inner)
    if len(fields) != 6:
        raise _invalid()
    minute_f, hour_f, dom_f, month_f, dow_f, year_f = fields
    # Exactly one of day-of-month / day-of-week is "?".
    if (dom_f == "?") == (dow_f == "?"):
        raise _invalid()
    return CronSchedule(
        expression=expression,
        minutes=tuple(sorted(_list_values(minute_f, _MINUTE))),
        hours=tuple(sorted(_list_values(hour_f, _HOUR))),
        dom=None if dom_f == "?" else _parse_dom(dom_f),
        months=_list_values(month_f, _MONTH),
        dow=None if dow_f == "?" else _parse_dow(dow_f),
        years=tuple(sorted(_list_values(year_f, _YEAR))),
    )


# --------------------------------------------------------------------------------------------------- API


def parse_schedule(expression: str) -> Schedule:
    """Parse a PutRule ``ScheduleExpression``.

    Raises ``AwsError("ValidationException", "Parameter ScheduleExpression is not valid.")`` for anything
    AWS refuses, and never raises anything else, whatever the input text.
    """
    if not isinstance(expression, str):
        raise _invalid()
    return _parse_cached(expression)


@lru_cache(maxsize=1024)
def _parse_cached(expression: str) -> Schedule:
    # Schedules are immutable, so one parsed object can be shared (failures are not cached).
    if expression.startswith("rate("):
        return _parse_rate(expression)
    if expression.startswith("cron("):
        return _parse_cron(expression)
    raise _invalid()


def latest_fire_time(
    schedule: Schedule, *, after: datetime, until: datetime, anchor: datetime | None = None
) -> datetime | None:
    """The last fire time of ``schedule`` in ``(after, until]``, or ``None`` if there is none.

    A scheduler that was away (down, or its clock jumped) fires this one occurrence rather than every one it
    missed. Found by bisection over whole minutes, since ``next_after`` never decreases: about 30 steps
    for any span up to the year 2199, however dense the schedule.
    """
    until = _floor_minute(_utc(until))
    first = schedule.next_after(after, anchor=anchor)
    if first is None or first > until:
        return None

    def within(minutes: int) -> datetime | None:
        """The fire time after `first` + `minutes`, if it is within the span."""
        found = schedule.next_after(first + minutes * _ONE_MINUTE, anchor=anchor)
        return found if found is not None and found <= until else None

    # Bisect for the last minute m (from `first`) whose next fire time is within the span: that fire time
    # is the last one. within(m) holds up to some m and never after; it never holds at `until` itself.
    lo, hi = 0, (until - first) // _ONE_MINUTE
    if hi == 0 or within(0) is None:
        return first
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if within(mid) is not None:
            lo = mid
        else:
            hi = mid
    return within(lo)


def validate_schedule_expression(expression: str) -> None:
    """PutRule-time check; same errors as :func:`parse_schedule`."""
    parse_schedule(expression)
