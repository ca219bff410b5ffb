"""Cron schedules as wall times in a zone: slots across the clock changes of 2026, the boundaries
of slots(after, until), Vixie's day rules, readings, and a table of broken inputs with the line
each must produce. The expected instants are worked out by hand from the zones' rules:
Denver is UTC-7 (MST) and UTC-6 (MDT), changing on 8 March 02:00→03:00 and 1 November
02:00→01:00; Madrid is UTC+1 (CET) and UTC+2 (CEST), changing on 29 March 02:00→03:00 and
25 October 03:00→02:00.

The property test at the end checks a whole year against an independent reference: every fifth UTC
minute of 2026, its wall time in the zone and a hand-written predicate per expression."""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import zoneinfo
from collections import Counter
from collections.abc import Callable

import pytest

from kpiboard.errors import UserError
from reports.cron import Cron, CronError

H = dt.timedelta(hours=1)
MINUTE = dt.timedelta(minutes=1)
DENVER = "America/Denver"
MADRID = "Europe/Madrid"


def z(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    """A UTC instant: z(2026, 3, 8, 9) is 2026-03-08 09:00Z."""
    return dt.datetime(year, month, day, hour, minute, tzinfo=dt.UTC)


def local(zone: str, year: int, month: int, day: int, hour: int = 0) -> dt.datetime:
    """A wall time in a zone (its first occurrence)."""
    return dt.datetime(year, month, day, hour, tzinfo=zoneinfo.ZoneInfo(zone))


# --- slots across the four clock changes of 2026 -------------------------------------------

DAILY_CASES = [
    # zone, expression, the three days around the change (UTC of each day's slot)
    (DENVER, "0 8 * * *", [z(2026, 3, 7, 15), z(2026, 3, 8, 14), z(2026, 3, 9, 14)]),
    (DENVER, "0 8 * * *", [z(2026, 10, 31, 14), z(2026, 11, 1, 15), z(2026, 11, 2, 15)]),
    # 02:30 does not exist on 8 March: the slot is at 03:00 MDT, the end of the gap
    (DENVER, "30 2 * * *", [z(2026, 3, 7, 9, 30), z(2026, 3, 8, 9), z(2026, 3, 9, 8, 30)]),
    # on 1 November 02:30 exists once, in MST
    (DENVER, "30 2 * * *", [z(2026, 10, 31, 8, 30), z(2026, 11, 1, 9, 30), z(2026, 11, 2, 9, 30)]),
    # 01:30 exists on 8 March (MST); on 1 November it happens twice: the first, MDT
    (DENVER, "30 1 * * *", [z(2026, 3, 7, 8, 30), z(2026, 3, 8, 8, 30), z(2026, 3, 9, 7, 30)]),
    (DENVER, "30 1 * * *", [z(2026, 10, 31, 7, 30), z(2026, 11, 1, 7, 30), z(2026, 11, 2, 8, 30)]),
    (MADRID, "0 8 * * *", [z(2026, 3, 28, 7), z(2026, 3, 29, 6), z(2026, 3, 30, 6)]),
    (MADRID, "0 8 * * *", [z(2026, 10, 24, 6), z(2026, 10, 25, 7), z(2026, 10, 26, 7)]),
    # in Madrid 02:30 is both the gap (29 March) and the doubled hour (25 October)
    (MADRID, "30 2 * * *", [z(2026, 3, 28, 1, 30), z(2026, 3, 29, 1), z(2026, 3, 30, 0, 30)]),
    (
        MADRID,
        "30 2 * * *",
        [z(2026, 10, 24, 0, 30), z(2026, 10, 25, 0, 30), z(2026, 10, 26, 1, 30)],
    ),
    (MADRID, "30 1 * * *", [z(2026, 3, 28, 0, 30), z(2026, 3, 29, 0, 30), z(2026, 3, 29, 23, 30)]),
    (
        MADRID,
        "30 1 * * *",
        [z(2026, 10, 23, 23, 30), z(2026, 10, 24, 23, 30), z(2026, 10, 26, 0, 30)],
    ),
]


@pytest.mark.parametrize(("zone", "expression", "expected"), DAILY_CASES)
def test_daily_slots_across_a_clock_change(
    zone: str, expression: str, expected: list[dt.datetime]
) -> None:
    cron = Cron.parse(expression, zone)
    assert cron.slots(expected[0] - H, expected[-1] + H) == expected


HOURLY_CASES = [
    # Denver 8 March: 00:00 MST is 07:00Z; 02:00 vanished onto 03:00 MDT (09:00Z): 23 slots
    (DENVER, dt.date(2026, 3, 8), [z(2026, 3, 8, 7) + k * H for k in range(23)]),
    # Denver 1 November: the second 01:00 (08:00Z) is not a slot: 24 slots, one per wall time
    (
        DENVER,
        dt.date(2026, 11, 1),
        [z(2026, 11, 1, 6), z(2026, 11, 1, 7)] + [z(2026, 11, 1, 9) + k * H for k in range(22)],
    ),
    (MADRID, dt.date(2026, 3, 29), [z(2026, 3, 28, 23) + k * H for k in range(23)]),
    (
        MADRID,
        dt.date(2026, 10, 25),
        [z(2026, 10, 24, 22), z(2026, 10, 24, 23), z(2026, 10, 25, 0)]
        + [z(2026, 10, 25, 2) + k * H for k in range(21)],
    ),
]


@pytest.mark.parametrize(("zone", "day", "expected"), HOURLY_CASES)
def test_hourly_on_the_day_of_a_clock_change(
    zone: str, day: dt.date, expected: list[dt.datetime]
) -> None:
    start = local(zone, day.year, day.month, day.day)
    end = local(zone, day.year, day.month, day.day + 1)
    # the local day's slots: from its midnight (included) to the next midnight (excluded)
    assert Cron.parse("0 * * * *", zone).slots(start - MINUTE, end - MINUTE) == expected


HALF_HOUR_CASES = [
    # 01:00 01:30 MST, then 02:00, 02:30 and 03:00 are one slot at 03:00 MDT, then 03:30 04:00
    (DENVER, z(2026, 3, 8, 7, 59), z(2026, 3, 8, 10), [8, 8.5, 9, 9.5, 10]),
    # 00:30 01:00 01:30 MDT, then 02:00 02:30 MST: no second 01:00 or 01:30
    (DENVER, z(2026, 11, 1, 6), z(2026, 11, 1, 9, 30), [6.5, 7, 7.5, 9, 9.5]),
    (MADRID, z(2026, 3, 28, 23, 59), z(2026, 3, 29, 1, 30), [0, 0.5, 1, 1.5]),
    (MADRID, z(2026, 10, 24, 23), z(2026, 10, 25, 2, 30), [-0.5, 0, 0.5, 2, 2.5]),
]


@pytest.mark.parametrize(("zone", "after", "until", "hours"), HALF_HOUR_CASES)
def test_every_half_hour_across_a_clock_change(
    zone: str, after: dt.datetime, until: dt.datetime, hours: list[float]
) -> None:
    midnight = after.replace(hour=0, minute=0) + dt.timedelta(days=after.hour > 12)
    expected = [midnight + dt.timedelta(hours=hour) for hour in hours]
    assert Cron.parse("*/30 * * * *", zone).slots(after, until) == expected


@pytest.mark.parametrize(
    ("zone", "spring", "autumn"),
    [
        (DENVER, z(2026, 3, 9, 14), z(2026, 11, 2, 15)),
        (MADRID, z(2026, 3, 30, 6), z(2026, 10, 26, 7)),
    ],
)
def test_weekly_is_a_week_of_wall_time_apart(
    zone: str, spring: dt.datetime, autumn: dt.datetime
) -> None:
    slots = Cron.parse("0 8 * * MON", zone).slots(z(2026, 1, 1), z(2027, 1, 1))
    gaps = {later: later - earlier for earlier, later in itertools.pairwise(slots)}
    assert len(slots) == 52
    assert gaps[spring] == 167 * H  # the week the clock goes forward is an hour short
    assert gaps[autumn] == 169 * H
    assert Counter(gaps.values()) == {168 * H: 49, 167 * H: 1, 169 * H: 1}
    assert all(slot.astimezone(zoneinfo.ZoneInfo(zone)).hour == 8 for slot in slots)


# --- boundaries, next, inputs ---------------------------------------------------------------


def test_slots_exclude_after_and_include_until() -> None:
    cron = Cron.parse("0 8 * * *", "UTC")
    slot = z(2026, 1, 2, 8)
    assert cron.slots(slot, slot + dt.timedelta(days=1)) == [z(2026, 1, 3, 8)]
    assert cron.slots(slot - dt.timedelta(microseconds=1), slot) == [slot]
    assert cron.slots(slot - H, slot - dt.timedelta(microseconds=1)) == []
    assert cron.slots(slot, slot) == []
    assert cron.slots(slot + H, slot) == []
    assert len(cron.slots(z(2026, 1, 1), z(2027, 1, 1))) == 365


def test_slots_take_any_aware_datetimes_and_give_utc() -> None:
    cron = Cron.parse("0 8 * * *", DENVER)
    slots = cron.slots(local(DENVER, 2026, 3, 7, 8), local(MADRID, 2026, 3, 9, 15))
    assert slots == [z(2026, 3, 8, 14), z(2026, 3, 9, 14)]
    assert all(slot.tzinfo is dt.UTC for slot in slots)


def test_naive_datetimes_are_refused() -> None:
    cron = Cron.parse("0 8 * * *", "UTC")
    with pytest.raises(ValueError, match="'after' must be an aware datetime"):
        cron.slots(dt.datetime(2026, 1, 1), z(2026, 1, 2))
    with pytest.raises(ValueError, match="'until' must be an aware datetime"):
        cron.slots(z(2026, 1, 1), dt.datetime(2026, 1, 2))
    with pytest.raises(ValueError, match="aware"):
        cron.next(dt.datetime(2026, 1, 1))


@pytest.mark.parametrize(
    ("expression", "zone", "after", "expected"),
    [
        ("0 8 * * *", "UTC", z(2026, 1, 2, 8), z(2026, 1, 3, 8)),
        ("0 8 * * *", "UTC", z(2026, 1, 2, 8) - dt.timedelta(seconds=1), z(2026, 1, 2, 8)),
        ("30 2 * * *", DENVER, z(2026, 3, 7, 9, 30), z(2026, 3, 8, 9)),
        ("30 1 * * *", DENVER, z(2026, 11, 1, 7, 30), z(2026, 11, 2, 8, 30)),
        ("0 0 29 2 *", "UTC", z(2026, 1, 1), z(2028, 2, 29)),  # the next leap day
        ("0 12 31 * *", "UTC", z(2026, 1, 31, 12), z(2026, 3, 31, 12)),
        ("@yearly", MADRID, z(2026, 6, 1), z(2026, 12, 31, 23)),
    ],
)
def test_next(expression: str, zone: str, after: dt.datetime, expected: dt.datetime) -> None:
    assert Cron.parse(expression, zone).next(after) == expected


def test_next_walks_the_same_slots() -> None:
    cron = Cron.parse("*/30 * * * *", DENVER)
    slots = cron.slots(z(2026, 10, 30), z(2026, 11, 3))
    walked = [cron.next(z(2026, 10, 30))]
    while len(walked) < len(slots):
        walked.append(cron.next(walked[-1]))
    assert walked == slots


def test_a_day_that_never_happened() -> None:
    """Samoa skipped 30 December 2011 (UTC-10 to UTC+14): its 08:00 is at the first instant
    after the gap, midnight of the 31st."""
    slots = Cron.parse("0 8 * * *", "Pacific/Apia").slots(z(2011, 12, 29), z(2011, 12, 31))
    assert slots == [z(2011, 12, 29, 18), z(2011, 12, 30, 10), z(2011, 12, 30, 18)]


def test_parse_is_cached_and_validates_like_the_constructor() -> None:
    cron = Cron.parse("0 8 * * MON", DENVER)
    assert Cron.parse("0 8 * * MON", DENVER) is cron
    assert Cron("0 8 * * MON", DENVER) == cron
    assert (cron.expression, cron.timezone) == ("0 8 * * MON", DENVER)
    with pytest.raises(CronError):
        Cron("0 8 * * MOM", DENVER)


# --- the day fields -------------------------------------------------------------------------

SUNDAYS_MARCH_2026 = [1, 8, 15, 22, 29]


def days_of(expression: str, year: int = 2026, month: int = 3) -> list[int]:
    """The UTC days of a month a (once a day) expression falls on."""
    start = z(year, month, 1)
    end = z(year + month // 12, month % 12 + 1, 1)
    return [slot.day for slot in Cron.parse(expression, "UTC").slots(start - H, end - H)]


@pytest.mark.parametrize("sunday", ["0", "7", "SUN", "sun", "Sun"])
def test_day_of_week_0_and_7_are_sunday(sunday: str) -> None:
    assert days_of(f"0 8 * * {sunday}") == SUNDAYS_MARCH_2026


@pytest.mark.parametrize(
    ("expression", "days"),
    [
        ("0 8 * * 5-7", [1, 6, 7, 8, 13, 14, 15, 20, 21, 22, 27, 28, 29]),  # Fri, Sat, Sun
        ("0 8 * * 0-6", list(range(1, 32))),
        (
            "0 8 * * 1-5",
            [2, 3, 4, 5, 6, 9, 10, 11, 12, 13, 16, 17, 18, 19, 20, 23, 24, 25, 26, 27, 30, 31],
        ),
        ("0 8 * * mon-fri/2", [2, 4, 6, 9, 11, 13, 16, 18, 20, 23, 25, 27, 30]),  # Mon Wed Fri
        ("@weekly", SUNDAYS_MARCH_2026),
    ],
)
def test_day_of_week_ranges(expression: str, days: list[int]) -> None:
    assert days_of(expression) == days


@pytest.mark.parametrize(
    ("expression", "days"),
    [
        # April 2026: Fridays are 3, 10, 17, 24; the 13th is a Monday
        ("0 8 13 * FRI", [3, 10, 13, 17, 24]),  # both restricted: either matches (Vixie)
        ("0 8 1,13 * fri", [1, 3, 10, 13, 17, 24]),
        ("0 8 13 * *", [13]),
        ("0 8 * * FRI", [3, 10, 17, 24]),
        ("0 8 */2 * FRI", [3, 17]),  # a starred day of month: both must match (Vixie)
        ("0 8 1-31 * FRI", list(range(1, 31))),  # restricted, if to every day: either matches
    ],
)
def test_day_of_month_and_day_of_week(expression: str, days: list[int]) -> None:
    assert days_of(expression, month=4) == days


@pytest.mark.parametrize(
    ("expression", "minutes"),
    [
        ("*/15 9 * * *", [0, 15, 30, 45]),
        ("5/15 9 * * *", [5, 20, 35, 50]),
        ("10-30/10 9 * * *", [10, 20, 30]),
        ("1,2,3-4,59 9 * * *", [1, 2, 3, 4, 59]),
        ("*/25 9 * * *", [0, 25, 50]),
    ],
)
def test_minute_lists_ranges_and_steps(expression: str, minutes: list[int]) -> None:
    slots = Cron.parse(expression, "UTC").slots(z(2026, 1, 1), z(2026, 1, 1, 23))
    assert [slot.minute for slot in slots] == minutes
    assert {slot.hour for slot in slots} == {9}


@pytest.mark.parametrize(
    ("nickname", "expression", "count"),
    [
        ("@hourly", "0 * * * *", 8760 - 1),  # 02:00 on 29 March vanished onto 03:00
        ("@daily", "0 0 * * *", 365),
        ("@midnight", "0 0 * * *", 365),
        ("@weekly", "0 0 * * 0", 52),
        ("@monthly", "0 0 1 * *", 12),
        ("@yearly", "0 0 1 1 *", 1),
        ("@DAILY", "0 0 * * *", 365),
    ],
)
def test_nicknames(nickname: str, expression: str, count: int) -> None:
    year = (local(MADRID, 2026, 1, 1) - MINUTE, local(MADRID, 2027, 1, 1) - MINUTE)
    slots = Cron.parse(nickname, MADRID).slots(*year)
    assert slots == Cron.parse(expression, MADRID).slots(*year)
    assert len(slots) == count


def test_month_names() -> None:
    slots = Cron.parse("0 0 1 jan,JUL *", "UTC").slots(z(2026, 1, 1) - H, z(2027, 1, 1) - H)
    assert slots == [z(2026, 1, 1), z(2026, 7, 1)]


# --- readings -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "zone", "reading"),
    [
        ("0 8 * * MON", DENVER, "Mondays at 08:00 (America/Denver)"),
        ("30 5 * * *", "UTC", "every day at 05:30 (UTC)"),
        ("@daily", MADRID, "every day at 00:00 (Europe/Madrid)"),
        ("@weekly", "UTC", "Sundays at 00:00 (UTC)"),
        ("0 8 * * 7", "UTC", "Sundays at 08:00 (UTC)"),
        ("@hourly", "UTC", "every hour at :00 (UTC)"),
        ("@monthly", "UTC", "the 1st of every month at 00:00 (UTC)"),
        ("0 8 1,15 * *", "UTC", "the 1st and 15th of every month at 08:00 (UTC)"),
        ("0 8 22 * *", "UTC", "the 22nd of every month at 08:00 (UTC)"),
        ("0 8,17 * * 1-5", "UTC", "weekdays at 08:00 and 17:00 (UTC)"),
        ("0 9 * * SAT,SUN", "UTC", "weekends at 09:00 (UTC)"),
        ("0 7 * * MON,WED,FRI", "UTC", "Mondays, Wednesdays and Fridays at 07:00 (UTC)"),
        ("*/15 * * * *", "UTC", "every 15 minutes (UTC)"),
        ("*/30 * * * MON-FRI", "UTC", "every 30 minutes on weekdays (UTC)"),
        ("15 */2 * * *", "UTC", "every 2 hours at :15 (UTC)"),
        ("0 * * * SUN", "UTC", "every hour at :00 on Sundays (UTC)"),
        # no short reading: the expression itself
        ("0 8 13 * FRI", "UTC", "0 8 13 * FRI"),
        ("0 8 1 1 *", "UTC", "0 8 1 1 *"),
        ("*/7 * * * *", "UTC", "*/7 * * * *"),
        ("0 1,2,3,4,5 * * *", "UTC", "0 1,2,3,4,5 * * *"),
    ],
)
def test_describe(expression: str, zone: str, reading: str) -> None:
    assert Cron.parse(expression, zone).describe() == reading


# --- broken inputs --------------------------------------------------------------------------

FIVE = (
    "write 5 fields: minute hour day-of-month month day-of-week (e.g. '0 8 * * MON'), "
    "or @hourly, @daily, @weekly, @monthly, @yearly"
)

BROKEN = [
    ("0 8 * * MOM", "UTC", "cron '0 8 * * MOM': day of week: unknown name 'MOM' (mon, tue, … sun)"),
    ("0 8 * JANE *", "UTC", "cron '0 8 * JANE *': month: unknown name 'JANE' (jan, feb, … dec)"),
    ("0 8 * *", "UTC", f"cron '0 8 * *': 4 fields; {FIVE}"),
    ("", "UTC", f"cron '': empty; {FIVE}"),
    (
        "0 0 8 * * *",
        "UTC",
        f"cron '0 0 8 * * *': 6 fields (seconds and years are not part of cron); {FIVE}",
    ),
    ("60 8 * * *", "UTC", "cron '60 8 * * *': minute: 60 is out of range (0-59)"),
    ("0 ² * * *", "UTC", "cron '0 ² * * *': hour: '²' is not a number (0-23)"),
    (
        "*/² * * * *",
        "UTC",
        "cron '*/² * * * *': minute: step '²' in '*/²' is not a whole number above 0 (e.g. '*/15')",
    ),
    ("0 24 * * *", "UTC", "cron '0 24 * * *': hour: 24 is out of range (0-23)"),
    ("0 8 0 * *", "UTC", "cron '0 8 0 * *': day of month: 0 is out of range (1-31)"),
    ("0 8 * 13 *", "UTC", "cron '0 8 * 13 *': month: 13 is out of range (1-12)"),
    ("0 8 * * 8", "UTC", "cron '0 8 * * 8': day of week: 8 is out of range (0-7)"),
    ("0 8 MON * *", "UTC", "cron '0 8 MON * *': day of month: 'MON' is not a number (1-31)"),
    (
        "-5 8 * * *",
        "UTC",
        "cron '-5 8 * * *': minute: '-5' is not a range; write it low-high (e.g. '0-29')",
    ),
    (
        "0 8 * * 1-3-5",
        "UTC",
        "cron '0 8 * * 1-3-5': day of week: '1-3-5' is not a range; write it low-high "
        "(e.g. 'mon-fri')",
    ),
    (
        "0 8 * * 5L",
        "UTC",
        "cron '0 8 * * 5L': day of week: '5L' is neither a number (0-7) "
        "nor a name (mon, tue, … sun)",
    ),
    (
        "0 8 * * FRI-MON",
        "UTC",
        "cron '0 8 * * FRI-MON': day of week: range 'FRI-MON' runs backwards; "
        "split it where the week goes round, e.g. 'FRI-SAT,SUN-MON'",
    ),
    (
        "0 22-2 * * *",
        "UTC",
        "cron '0 22-2 * * *': hour: range '22-2' runs backwards; "
        "split it where the day goes round, e.g. '22-23,0-2'",
    ),
    (
        "*/0 * * * *",
        "UTC",
        "cron '*/0 * * * *': minute: step '0' in '*/0' is not a whole number above 0 (e.g. '*/15')",
    ),
    (
        "0 8 1,,2 * *",
        "UTC",
        "cron '0 8 1,,2 * *': day of month: an empty item in '1,,2' (a list is written '1,15')",
    ),
    (
        "0 0 30 2 *",
        "UTC",
        "cron '0 0 30 2 *': day of month '30' never falls in month '2', so it would never run; "
        "choose days every one of those months has",
    ),
    (
        "@dialy",
        "UTC",
        "cron '@dialy': unknown nickname '@dialy' (@hourly, @daily, @weekly, @monthly, @yearly)",
    ),
    (
        "@reboot",
        "UTC",
        "cron '@reboot': unknown nickname '@reboot' (@hourly, @daily, @weekly, @monthly, @yearly)",
    ),
    (
        "0 8 * * *",
        "America/Denvr",
        "time zone 'America/Denvr' is not an IANA zone — did you mean 'America/Denver'?",
    ),
    (
        "0 8 * * *",
        "america/denver",
        "time zone 'america/denver' is not an IANA zone — did you mean 'America/Denver'?",
    ),
    (
        "0 8 * * *",
        "Madrid",
        "time zone 'Madrid' is not an IANA zone — did you mean 'Europe/Madrid'?",
    ),
    (
        "0 8 * * *",
        "new york",
        "time zone 'new york' is not an IANA zone — did you mean 'America/New_York'?",
    ),
    ("0 8 * * *", "utc", "time zone 'utc' is not an IANA zone — did you mean 'UTC'?"),
    (
        "0 8 * * *",
        "Mars/Olympus",
        "time zone 'Mars/Olympus' is not an IANA zone (a name like 'America/Denver', "
        "'Europe/Madrid' or 'UTC')",
    ),
    (
        "0 8 * * *",
        "localtime",
        "time zone 'localtime' is not an IANA zone (a name like 'America/Denver', "
        "'Europe/Madrid' or 'UTC')",
    ),
    (
        "0 8 * * *",
        "Europe",
        "time zone 'Europe' is not an IANA zone but an area of zones: name a place in it "
        "(e.g. 'Europe/Amsterdam')",
    ),
    (
        "0 8 * * *",
        "right/UTC",
        "time zone 'right/UTC' is not an IANA zone — did you mean 'UTC'?",
    ),
    (
        "0 8 * * *",
        "../../etc/passwd",
        "time zone '../../etc/passwd' is not an IANA zone (a name like 'America/Denver', "
        "'Europe/Madrid' or 'UTC')",
    ),
    (
        "0 8 * * *",
        "",
        "time zone '' is not an IANA zone (a name like 'America/Denver', 'Europe/Madrid' or 'UTC')",
    ),
    (
        "0 8 * * MOM",
        "Mars/Olympus",
        "time zone 'Mars/Olympus' is not an IANA zone (a name like 'America/Denver', "
        "'Europe/Madrid' or 'UTC')",
    ),
]


@pytest.mark.parametrize(("expression", "zone", "message"), BROKEN)
def test_broken_inputs_get_one_line_each(expression: str, zone: str, message: str) -> None:
    with pytest.raises(CronError) as caught:
        Cron.parse(expression, zone)
    assert str(caught.value) == message
    assert "\n" not in message
    # the command line prints a UserError as its line; callers may also catch ValueError
    assert isinstance(caught.value, UserError) and isinstance(caught.value, ValueError)


# --- a whole year against an independent reference -------------------------------------------

PREDICATES: dict[str, Callable[[dt.datetime], bool]] = {
    "*/30 * * * *": lambda t: t.minute % 30 == 0,
    "30 2 * * *": lambda t: (t.hour, t.minute) == (2, 30),
    "0 * * * *": lambda t: t.minute == 0,
    "*/5 0-3 * * *": lambda t: t.minute % 5 == 0 and t.hour <= 3,
    "15,45 1-2 * * SUN": lambda t: t.minute in (15, 45) and t.hour in (1, 2) and t.weekday() == 6,
    "0 23,0 1,15 * 0": lambda t: (
        t.minute == 0 and t.hour in (23, 0) and (t.day in (1, 15) or t.weekday() == 6)
    ),
}
"""Expressions and, written separately by hand, what a wall time matching each looks like."""

YEAR = (z(2026, 1, 1), z(2027, 1, 1))
STEP = dt.timedelta(minutes=5)
"""The reference's clock ticks every five minutes: every minute these expressions name and
every clock change of these zones falls on a multiple of five, and it is five times faster."""


@functools.cache
def walls(zone: str) -> tuple[tuple[dt.datetime, dt.datetime, int], ...]:
    """Every fifth UTC minute of 2026 (and two days either side) with its wall time in the zone and
    the wall time's fold (1: the second time that wall time happens)."""
    tz = zoneinfo.ZoneInfo(zone)
    rows = []
    instant = YEAR[0] - dt.timedelta(days=2)
    while instant <= YEAR[1] + dt.timedelta(days=2):
        seen = instant.astimezone(tz)
        rows.append((instant, seen.replace(tzinfo=None), seen.fold))
        instant += STEP
    return tuple(rows)


@functools.cache
def gaps(zone: str) -> dict[dt.datetime, list[dt.datetime]]:
    """The first instant after each gap, with the wall times that vanished in it."""
    rows = walls(zone)
    return {
        instant: [before + k * STEP for k in range(1, (wall - before) // STEP)]
        for (_, before, _), (instant, wall, _) in itertools.pairwise(rows)
        if wall - before > STEP
    }


def reference(zone: str, matches: Callable[[dt.datetime], bool]) -> list[dt.datetime]:
    """The slots of 2026 read straight off the wall clock: an instant whose wall time matches
    (its first occurrence only), and the first instant after a gap in which a vanished wall time
    matched; an instant once."""
    vanished = gaps(zone)
    return [
        instant
        for instant, wall, fold in walls(zone)
        if YEAR[0] < instant <= YEAR[1]
        and ((fold == 0 and matches(wall)) or any(map(matches, vanished.get(instant, []))))
    ]


ZONES = (DENVER, MADRID, "America/Santiago", "America/Nuuk")
"""Santiago's clock jumps at midnight (00:00 → 01:00); Nuuk's jumps across it (23:00 → 00:00),
so 23:00 and 23:30 of one day land on the next day's midnight."""


def test_the_reference_sees_the_clock_changes() -> None:
    assert list(gaps(DENVER)) == [z(2026, 3, 8, 9), z(2027, 3, 14, 9)][:1]
    assert len(gaps(DENVER)[z(2026, 3, 8, 9)]) == 12  # 02:00, 02:05 … 02:55
    assert list(gaps(MADRID)) == [z(2026, 3, 29, 1)]
    # Santiago: 6 September 2026, 00:00 -04 becomes 01:00 -03
    assert list(gaps("America/Santiago")) == [z(2026, 9, 6, 4)]
    assert sum(fold for _, _, fold in walls(DENVER)) == 12  # the second 01:00 … 01:55
    # Nuuk: 28 March 2026, 23:00 -02 becomes 00:00 -01 on the 29th
    assert gaps("America/Nuuk") == {
        z(2026, 3, 29, 1): [dt.datetime(2026, 3, 28, 23) + k * STEP for k in range(12)]
    }


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("expression", list(PREDICATES))
def test_a_year_of_slots_matches_the_wall_clock(zone: str, expression: str) -> None:
    matches = PREDICATES[expression]
    tz = zoneinfo.ZoneInfo(zone)
    slots = Cron.parse(expression, zone).slots(*YEAR)

    assert slots, "every expression here runs in 2026"
    assert all(earlier < later for earlier, later in itertools.pairwise(slots))
    for slot in slots:  # its wall time matches, the first time it happens, or it ends a gap
        seen = slot.astimezone(tz)
        on_time = seen.fold == 0 and matches(seen.replace(tzinfo=None))
        assert on_time or any(map(matches, gaps(zone).get(slot, []))), slot
    assert slots == reference(zone, matches)  # and none is missing


@pytest.mark.parametrize("zone", ZONES)
def test_slots_of_consecutive_ticks_add_up_to_the_whole(zone: str) -> None:
    """A tick asks for (last tick, now]: cut anywhere, at a gap's end or inside the doubled
    hour too, and nothing is lost or sent twice."""
    cron = Cron.parse("*/30 * * * *", zone)
    doubled = [instant for instant, _, fold in walls(zone) if fold == 1]
    cuts = [YEAR[0] + k * dt.timedelta(hours=7, minutes=13) for k in range(1, 1200)]
    cuts = sorted({*cuts, *gaps(zone), *doubled[::7]} - {*YEAR})
    edges = [YEAR[0], *(cut for cut in cuts if YEAR[0] < cut < YEAR[1]), YEAR[1]]
    pieces = [slot for start, end in itertools.pairwise(edges) for slot in cron.slots(start, end)]
    assert pieces == cron.slots(*YEAR)
    assert len(pieces) == 365 * 48 - 2  # 02:00 and 02:30 (Santiago: 00:00, 00:30) vanish


def test_a_year_every_five_minutes() -> None:
    slots = Cron.parse("*/5 * * * *", DENVER).slots(*YEAR)
    # 365 days of 288 wall times; 02:00 … 02:55 on 8 March vanish onto 03:00, which exists
    assert len(slots) == 365 * 288 - 12
    assert slots[0] == z(2026, 1, 1, 0, 5) and slots[-1] == z(2027, 1, 1)
