"""Cron expressions read as wall-clock times in a time zone, turned into UTC instants (slots).

A schedule says "Mondays at 08:00 in Denver", so an expression names **wall times in its
zone**, and each matching wall time is exactly one slot:

- a wall time that does not exist (02:30 on the day the clock jumps 02:00 → 03:00) happens at
  the first instant after the gap (03:00); several vanished wall times that land on that one
  instant make one slot, never two mails at one instant; a wall time that exists is never skipped;
- a wall time that happens twice (01:30 on the day the clock falls back) happens once, at its
  first occurrence.

The matcher is our own, not APScheduler's ``CronTrigger``: schedules follow standard (Vixie)
cron, where day-of-week 0 and 7 are Sunday and a restricted day-of-month and a restricted
day-of-week match when **either** does, while ``CronTrigger`` counts weekdays from Monday and
requires both. As in Vixie cron, a day field is "restricted" when it does not start with ``*``:
``0 8 */2 * MON`` means odd days that are Mondays.

The scheduler asks every schedule for its slots on every tick, so parsing is cached per
(expression, zone) and slots are computed a local day at a time: on a day without a clock change
every slot is the day's UTC midnight plus a fixed time of day; only on the days the offset
changes is each wall time mapped on its own. A year of a ``*/5`` schedule is about 105,000 slots
and takes a few tens of milliseconds. Only the standard library is imported (the command line
imports this module); the suggestion for a misspelt zone is loaded when it is needed.
"""

from __future__ import annotations

import bisect
import datetime as dt
import difflib
import functools
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import NoReturn

from reports.errors import ReportError

ONE_DAY = dt.timedelta(days=1)

NICKNAMES = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
"""The nicknames of Vixie cron that name times (``@reboot`` does not)."""

SHOWN_NICKNAMES = ("@hourly", "@daily", "@weekly", "@monthly", "@yearly")
"""The nicknames messages offer (``@midnight`` and ``@annually`` are synonyms)."""

FORMS = "5 fields: minute hour day-of-month month day-of-week (e.g. '0 8 * * MON'), or " + (
    ", ".join(SHOWN_NICKNAMES)
)
"""What would do, said when an expression has no shape at all."""

MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
WEEKDAYS = ("Mondays", "Tuesdays", "Wednesdays", "Thursdays", "Fridays", "Saturdays", "Sundays")
"""Plural day names by Python's weekday (Monday 0), for :meth:`Cron.describe`."""

SEARCH_START = dt.date(2000, 1, 1)
SEARCH_END = dt.date(2027, 12, 31)
"""28 years holding every (month, day, weekday) a calendar has: an expression none of these days
matches never runs (``0 0 30 2 *``), and is refused."""

NEXT_HORIZON_DAYS = 366 * 100
"""How far :meth:`Cron.next` looks. A day that exists comes back within 40 years (29 February
on a Sunday, across 2100), so this is never reached."""

END_OF_TIME = dt.datetime.max.replace(tzinfo=dt.UTC)


class CronError(ReportError, ValueError):
    """A cron expression or time zone that cannot be used, said in one line: which field, which
    value, what would do (``cron '0 8 * * MOM': day of week: unknown name 'MOM' (mon, tue, …
    sun)``). A :class:`~kpiboard.errors.UserError`, so the command line prints just the line."""


@dataclass(frozen=True)
class _Field:
    """One of the five fields: its name in messages, its range and the names it takes."""

    label: str
    low: int
    high: int
    names: tuple[str, ...] = ()  # names[i] is the value first_name + i
    first_name: int = 0
    wraps: str = ""  # what the field goes round: a backwards range is split there
    example: str = ""  # a range, for messages

    def name_hint(self) -> str:
        return (
            f"{self.names[1]}, {self.names[2]}, … {self.names[0]}"
            if self.label.endswith("week")
            else f"{self.names[0]}, {self.names[1]}, … {self.names[-1]}"
        )

    def value(self, token: str, fail: _Fail) -> int:
        """The number a token stands for: digits or a name, within the field's range."""
        if token.isascii() and token.isdigit():
            number = int(token)
            if not self.low <= number <= self.high:
                fail(f"{token} is out of range ({self.low}-{self.high})")
            return number
        if self.names and token.isalpha():
            if token.lower() in self.names:
                return self.names.index(token.lower()) + self.first_name
            fail(f"unknown name {token!r} ({self.name_hint()})")
        if self.names:
            fail(
                f"{token!r} is neither a number ({self.low}-{self.high}) "
                f"nor a name ({self.name_hint()})"
            )
        return fail(f"{token!r} is not a number ({self.low}-{self.high})")


class _Fail:
    """Raises a :class:`CronError` about one field of one expression."""

    def __init__(self, expression: str, label: str) -> None:
        self.prefix = f"cron {expression!r}: {label}: "

    def __call__(self, message: str) -> NoReturn:
        raise CronError(self.prefix + message)


FIELDS = (
    _Field("minute", 0, 59, wraps="hour", example="0-29"),
    _Field("hour", 0, 23, wraps="day", example="9-17"),
    _Field("day of month", 1, 31, wraps="month", example="1-15"),
    _Field("month", 1, 12, MONTH_NAMES, first_name=1, wraps="year", example="jan-jun"),
    _Field("day of week", 0, 7, DAY_NAMES, wraps="week", example="mon-fri"),
)


@dataclass(frozen=True)
class _Plan:
    """A parsed expression in its zone: what :class:`Cron` computes slots from."""

    zone: zoneinfo.ZoneInfo
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # Python's numbering: Monday 0 … Sunday 6
    either_day: bool  # day of month and day of week both restricted: either matches
    times: tuple[dt.timedelta, ...]  # every matching time of day, ascending

    def matches(self, day: dt.date) -> bool:
        """Whether slots fall on this local day."""
        if day.month not in self.months:
            return False
        by_date = day.day in self.days
        by_weekday = day.weekday() in self.weekdays
        return (by_date or by_weekday) if self.either_day else (by_date and by_weekday)

    def within(
        self, day: dt.date, after: dt.datetime, until: dt.datetime
    ) -> tuple[list[dt.datetime], bool]:
        """The slots of one matching local day with after < slot <= until, as UTC instants,
        ascending, none twice; and whether the day has slots later than ``until``."""
        midnight = dt.datetime.combine(day, dt.time())
        offset = midnight.replace(tzinfo=self.zone).utcoffset()
        following = (midnight + ONE_DAY).replace(tzinfo=self.zone).utcoffset()
        if offset is not None and offset == following:  # no clock change on this day
            base = (midnight - offset).replace(tzinfo=dt.UTC)
            start = bisect.bisect_right(self.times, after - base)
            stop = bisect.bisect_right(self.times, until - base)
            return [base + time for time in self.times[start:stop]], stop < len(self.times)
        instants: list[dt.datetime] = []
        for time in self.times:
            instant = _instant(midnight + time, self.zone)
            if not instants or instant > instants[-1]:
                instants.append(instant)
        start = bisect.bisect_right(instants, after)
        stop = bisect.bisect_right(instants, until)
        return instants[start:stop], stop < len(instants)

    def days_from(self, after: dt.datetime, last: dt.date) -> Iterator[dt.date]:
        """The matching local days from the one before ``after``'s up to ``last``."""
        day = after.astimezone(self.zone).date() - ONE_DAY
        while day <= last:
            if self.matches(day):
                yield day
            day += ONE_DAY


@dataclass(frozen=True)
class Cron:
    """A cron expression (5 fields, or a nickname such as ``@daily``) in an IANA time zone.

    Constructing one validates both (:class:`CronError`); :meth:`parse` does the same and caches
    it, so a scheduler may call ``Cron.parse(expression, zone).slots(after, until)`` each tick.
    """

    expression: str
    timezone: str
    _plan: _Plan = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_plan", _compile(self.expression, self.timezone))

    @classmethod
    def parse(cls, expression: str, timezone: str) -> Cron:
        """The expression in the zone, validated (:class:`CronError`); cached."""
        if cls is not Cron:
            return cls(expression, timezone)
        return _parsed(expression, timezone)

    def slots(self, after: dt.datetime, until: dt.datetime) -> list[dt.datetime]:
        """Every slot with after < slot <= until, as aware UTC datetimes, ascending."""
        after, until = _utc(after, "after"), _utc(until, "until")
        found: list[dt.datetime] = []
        if until <= after:
            return found
        plan = self._plan
        for day in plan.days_from(after, until.astimezone(plan.zone).date()):
            instants, more = plan.within(day, after, until)
            if found and instants and instants[0] <= found[-1]:
                del instants[0]  # a vanished wall time of the day before moved onto this slot
            found.extend(instants)
            if more:
                break
        return found

    def next(self, after: dt.datetime) -> dt.datetime:
        """The first slot strictly after ``after`` (aware UTC)."""
        after = _utc(after, "after")
        last = min(after.toordinal() + NEXT_HORIZON_DAYS, dt.date.max.toordinal() - 2)
        for day in self._plan.days_from(after, dt.date.fromordinal(last)):
            instants, _ = self._plan.within(day, after, END_OF_TIME)
            if instants:
                return instants[0]
        raise CronError(f"cron {self.expression!r}: no slot after {after.isoformat()}")

    def describe(self) -> str:
        """A short English reading: ``Mondays at 08:00 (America/Denver)``, ``every day at 05:30
        (UTC)``, ``every 15 minutes (UTC)``; the expression itself when there is none."""
        reading = _reading(self._plan)
        return f"{reading} ({self.timezone})" if reading else self.expression


@functools.lru_cache(maxsize=4096)
def _parsed(expression: str, timezone: str) -> Cron:
    return Cron(expression, timezone)


def _compile(expression: str, timezone: str) -> _Plan:
    if not isinstance(expression, str):
        raise CronError(f"cron {expression!r}: not text; write {FORMS}")
    zone = _zone(timezone)
    text = expression.strip()
    if text.startswith("@"):
        if text.lower() not in NICKNAMES:
            raise CronError(
                f"cron {expression!r}: unknown nickname {text!r} ({', '.join(SHOWN_NICKNAMES)})"
            )
        text = NICKNAMES[text.lower()]
    parts = text.split()
    if len(parts) != 5:
        extra = " (seconds and years are not part of cron)" if len(parts) in (6, 7) else ""
        count = "empty" if not parts else f"{len(parts)} field{'s' * (len(parts) != 1)}"
        raise CronError(f"cron {expression!r}: {count}{extra}; write {FORMS}")
    values = [
        _field_values(part, spec, _Fail(expression, spec.label))
        for part, spec in zip(parts, FIELDS, strict=True)
    ]
    minutes, hours, days, months, week = values
    plan = _Plan(
        zone=zone,
        minutes=tuple(sorted(minutes)),
        hours=tuple(sorted(hours)),
        days=frozenset(days),
        months=frozenset(months),
        weekdays=frozenset((day - 1) % 7 for day in week),  # cron's Sunday 0 (and 7) → 6
        either_day=not parts[2].startswith("*") and not parts[4].startswith("*"),
        times=tuple(
            dt.timedelta(hours=hour, minutes=minute)
            for hour in sorted(hours)
            for minute in sorted(minutes)
        ),
    )
    _check_some_day(plan, expression, parts)
    return plan


def _field_values(text: str, spec: _Field, fail: _Fail) -> set[int]:
    """The values one field names: ``*``, lists, ranges, steps and names."""
    values: set[int] = set()
    for item in text.split(","):
        if not item:
            fail(f"an empty item in {text!r} (a list is written '1,15')")
        base, slash, step_text = item.partition("/")
        step = 1
        if slash:
            if not (step_text.isascii() and step_text.isdigit()) or int(step_text) == 0:
                fail(f"step {step_text!r} in {item!r} is not a whole number above 0 (e.g. '*/15')")
            step = int(step_text)
        if base == "*":
            low, high = spec.low, spec.high
        elif "-" in base:
            first, _, last = base.partition("-")
            if not first or not last or "-" in last:
                fail(f"{base!r} is not a range; write it low-high (e.g. {spec.example!r})")
            low, high = spec.value(first, fail), spec.value(last, fail)
            if low > high:
                fail(f"range {item!r} runs backwards; {_split_hint(spec, first, last)}")
        else:
            low = spec.value(base, fail)
            high = spec.high if slash else low  # '5/15' is 5, 20, 35, 50
        values.update(range(low, high + 1, step))
    return values


def _split_hint(spec: _Field, first: str, last: str) -> str:
    """How to write a range that goes round the end of its field: ``FRI-SAT,SUN-MON``."""
    top, bottom = (6, 0) if spec.label == "day of week" else (spec.high, spec.low)

    def written(value: int, like: str) -> str:
        if like.isdigit():
            return str(value)
        name = spec.names[value - spec.first_name]
        return name.upper() if like.isupper() else name

    return (
        f"split it where the {spec.wraps} goes round, "
        f"e.g. '{first}-{written(top, first)},{written(bottom, last)}-{last}'"
    )


def _check_some_day(plan: _Plan, expression: str, parts: list[str]) -> None:
    """Refuse an expression whose days never come (``0 0 30 2 *``): it would silently never run."""
    day = SEARCH_START
    while day <= SEARCH_END:
        if plan.matches(day):
            return
        day += ONE_DAY
    week = "" if parts[4] == "*" else f" and day of week {parts[4]!r}"
    raise CronError(
        f"cron {expression!r}: day of month {parts[2]!r}{week} never falls in month "
        f"{parts[3]!r}, so it would never run; choose days every one of those months has"
    )


def _utc(value: dt.datetime, name: str) -> dt.datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"Cron: {name!r} must be an aware datetime, got naive {value.isoformat()}")
    return value.astimezone(dt.UTC)


def _instant(wall: dt.datetime, zone: zoneinfo.ZoneInfo) -> dt.datetime:
    """The UTC instant of a naive wall time in ``zone``: its first occurrence when it happens
    twice, the first instant after the gap when it does not happen at all."""
    before = wall.replace(tzinfo=zone).utcoffset()  # fold 0: the offset before a change
    after = wall.replace(tzinfo=zone, fold=1).utcoffset()  # fold 1: the offset after it
    assert before is not None and after is not None
    if before >= after:  # the time exists: once, or twice (clocks fall back; fold 0 is first)
        return (wall - before).replace(tzinfo=dt.UTC)
    return _gap_end(wall - after, wall - before, after, zone)


def _gap_end(
    low: dt.datetime, high: dt.datetime, offset_after: dt.timedelta, zone: zoneinfo.ZoneInfo
) -> dt.datetime:
    """The instant the clock jumped, between ``low`` (before it) and ``high`` (at or after it),
    both naive UTC: a bisection over seconds, as zoneinfo does not publish its transitions."""
    early, late = 0, int((high - low).total_seconds())
    while late - early > 1:
        middle = (early + late) // 2
        instant = (low + dt.timedelta(seconds=middle)).replace(tzinfo=dt.UTC)
        if instant.astimezone(zone).utcoffset() == offset_after:
            late = middle
        else:
            early = middle
    return (low + dt.timedelta(seconds=late)).replace(tzinfo=dt.UTC)


NOT_ZONES = frozenset(("localtime", "posixrules", "Factory"))
"""Files among the zones that are not places: the host's own setting and tzdata's placeholders
(``posix/`` and ``right/`` hold copies, the latter counting leap seconds)."""


@functools.cache
def _zone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones()) - NOT_ZONES


def _zone(name: str) -> zoneinfo.ZoneInfo:
    """The IANA zone of that name, or a :class:`CronError` suggesting the name meant.

    Listing the zones reads the whole zone directory (30 ms), so a good name is only opened;
    the list is read for a bad one, to suggest a name."""
    if (
        isinstance(name, str)
        and name not in NOT_ZONES
        and name.partition("/")[0] not in ("posix", "right")
    ):
        try:
            return zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            pass
    hint = _zone_hint(name) if isinstance(name, str) else ""
    raise CronError(
        f"time zone {name!r} is not an IANA zone"
        + (hint or " (a name like 'America/Denver', 'Europe/Madrid' or 'UTC')")
    )


def _zone_hint(name: str) -> str:
    """`` — did you mean 'America/Denver'?`` for 'america/denver', 'Denver', 'America/Denvr'."""
    from kpiboard.yamlnodes import did_you_mean  # only on this error path: it loads ruamel.yaml

    names = sorted(_zone_names())
    inside = [zone for zone in names if zone.startswith(f"{name}/")]
    if inside:
        return f" but an area of zones: name a place in it (e.g. {inside[0]!r})"
    key = name.strip().lower().replace(" ", "_")
    if key.partition("/")[0] in ("posix", "right"):
        key = key.partition("/")[2]
    by_lower = {zone.lower(): zone for zone in names}
    cities: dict[str, str] = {}
    for zone in names:  # 'America/Denver' rather than 'US/Mountain'-style aliases
        area, _, city = zone.rpartition("/")
        if area and area not in ("Etc", "US", "Canada", "Brazil", "Mexico", "Chile"):
            cities.setdefault(city.lower(), zone)
    if key in by_lower:
        return f" — did you mean {by_lower[key]!r}?"
    if key in cities:
        return f" — did you mean {cities[key]!r}?"
    hint = did_you_mean(name, names)
    if hint:
        return hint
    close = difflib.get_close_matches(key.rpartition("/")[2], list(cities), n=1, cutoff=0.75)
    return f" — did you mean {cities[close[0]]!r}?" if close else ""


def _reading(plan: _Plan) -> str | None:
    """The English reading of a plan without its zone, or None when there is no short one."""
    if len(plan.months) != 12:
        return None
    days = _days_reading(plan)
    if days is None:
        return None
    if len(plan.times) <= 4:
        clock = [f"{time.seconds // 3600:02d}:{time.seconds // 60 % 60:02d}" for time in plan.times]
        return f"{days} at {_and(clock)}"
    on = "" if days == "every day" else f" on {days}"
    if len(plan.minutes) == 1 and _every(plan.hours, 24):
        step = plan.hours[1] - plan.hours[0]
        hours = "every hour" if step == 1 else f"every {step} hours"
        return f"{hours} at :{plan.minutes[0]:02d}{on}"
    if len(plan.hours) == 24 and _every(plan.minutes, 60):
        return f"every {plan.minutes[1] - plan.minutes[0]} minutes{on}"
    return None


def _days_reading(plan: _Plan) -> str | None:
    every_date = len(plan.days) == 31
    every_weekday = len(plan.weekdays) == 7
    if every_date and every_weekday:
        return "every day"
    if plan.either_day or (not every_date and not every_weekday):
        return None
    if every_date:
        if plan.weekdays == frozenset(range(5)):
            return "weekdays"
        if plan.weekdays == frozenset((5, 6)):
            return "weekends"
        return _and([WEEKDAYS[day] for day in sorted(plan.weekdays)])
    if len(plan.days) > 3:
        return None
    return f"the {_and([_ordinal(day) for day in sorted(plan.days)])} of every month"


def _every(values: tuple[int, ...], cycle: int) -> bool:
    """Whether the values are 0, k, 2k … round a cycle k divides (every k minutes or hours)."""
    if len(values) < 2 or values[0] != 0:
        return False
    step = values[1]
    return cycle % step == 0 and values == tuple(range(0, cycle, step))


def _and(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def _ordinal(number: int) -> str:
    """1st, 2nd, 3rd, 4th … 11th, 12th, 13th … 21st … 31st."""
    if 10 <= number % 100 <= 20:
        return f"{number}th"
    return f"{number}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(number % 10, 'th') }"
