"""Recurrence rules: only sensible series are accepted, and no expansion of a rule can run away."""

from __future__ import annotations

import itertools
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, time
from pathlib import Path

import pytest
from dateutil.rrule import rrulestr

from brug.content.partnerships import load_partnership
from brug.domain.recurrence import Recurrence, RecurrenceError, Rule, parse_rrule
from tests.test_partnership_file import VALID, write

START = datetime(2026, 9, 8, 14, 0)


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Fail (instead of hanging the suite) when the block does not end; not a speed measurement."""

    def expired(*_: object) -> None:
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


REFUSED = [
    ("FREQ=WEEKLY;INTERVAL=0", "range"),
    ("FREQ=WEEKLY;INTERVAL=-1", "value"),
    ("FREQ=DAILY;COUNT=0", "range"),
    ("FREQ=DAILY;UNTIL=20200101", "until_before_start"),
    ("FREQ=DAILY;BYHOUR=0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23", "several_a_day"),
    ("FREQ=WEEKLY;BYMINUTE=0,30", "several_a_day"),
    ("FREQ=HOURLY", "too_often"),
    ("FREQ=MINUTELY;BYMONTH=2;BYMONTHDAY=30", "too_often"),
    ("FREQ=SECONDLY", "too_often"),
    ("FREQ=MONTHLY;BYDAY=20MO", "value"),  # dateutil raised IndexError: a traceback in validate
    ("FREQ=YEARLY;BYMONTH=3;BYDAY=-6FR", "value"),
    ("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30", "no_dates"),  # dateutil alone needs 21 s to find nothing
    ("FREQ=WEEKLY;BYMONTH=4;BYMONTHDAY=31", "no_dates"),
    ("FREQ=MONTHLY;BYDAY=+6TU", "value"),
    ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29", "too_rare"),
    ("FREQ=YEARLY;INTERVAL=5", "range"),
    ("FREQ=MONTHLY;INTERVAL=100", "range"),
    ("FREQ=WEEKLY;BYDAY=+1MO", "nth_day"),
    ("FREQ=DAILY;BYSETPOS=1", "setpos"),
    ("FREQ=MONTHLY;BYYEARDAY=1", "unsupported"),
    ("FREQ=DAILY;FREQ=WEEKLY", "twice"),
    ("FREQ=NONSENSE", "freq"),
    ("INTERVAL=2", "freq"),
    ("DTSTART:20260101T000000\nRRULE:FREQ=DAILY", "dtstart"),
    ("FREQ=DAILY;BYHOUR=25", "range"),
    ("FREQ=DAILY;COUNT=5;UNTIL=20270101", "count_and_until"),
    ("FREQ=DAILY;UNTIL=2027", "value"),
    ("FREQ=DAILY;" + "BYMONTH=1;" * 100, "too_long"),
]


@pytest.mark.parametrize(("rule", "code"), REFUSED)
def test_a_rule_without_a_sensible_series_is_refused(rule: str, code: str) -> None:
    with deadline(10), pytest.raises(RecurrenceError) as refused:
        parse_rrule(rule, START)
    assert refused.value.code == code


ACCEPTED = [
    "FREQ=MONTHLY;BYDAY=+2TU",
    "FREQ=MONTHLY;BYDAY=-1FR",
    "FREQ=WEEKLY;INTERVAL=3;BYDAY=FR",
    "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU;UNTIL=20270629T235959",
    "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH;WKST=SU",
    "FREQ=WEEKLY;INTERVAL=3",
    "FREQ=DAILY",
    "FREQ=DAILY;INTERVAL=10;BYDAY=MO,TU,WE,TH,FR",
    "FREQ=DAILY;BYHOUR=9;BYMINUTE=30",
    "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
    "FREQ=MONTHLY;INTERVAL=3;BYMONTHDAY=15",
    "FREQ=MONTHLY;BYMONTHDAY=31",
    "FREQ=MONTHLY;BYMONTHDAY=-1;COUNT=30",
    "FREQ=YEARLY",
    "FREQ=YEARLY;INTERVAL=2;BYMONTH=3;BYDAY=+1MO",
    "RRULE:freq=weekly;byday=we",
]


@pytest.mark.parametrize("rule", ACCEPTED)
def test_an_accepted_rule_gives_the_dates_of_rfc_5545(rule: str) -> None:
    """brug asks dateutil one period at a time; the dates are the ones dateutil gives for the whole rule."""
    mine = list(itertools.islice(parse_rrule(rule, START).occurrences(), 60))
    reference = list(itertools.islice(rrulestr(rule.removeprefix("RRULE:"), dtstart=START), 60))
    assert mine == reference and mine


def test_a_search_for_the_next_date_gives_up_after_two_years_without_one() -> None:
    """Even a rule that slipped past the checks cannot make an expansion walk to the year 9999."""
    never = Rule("DAILY", 1, None, None, START, time(14), 0, "BYMONTH=2;BYMONTHDAY=30")
    with deadline(10):
        assert list(never.occurrences()) == []
        assert Recurrence(None, None, (START,)).local_times(START) is not None
    once = Rule("YEARLY", 1, None, None, START, time(14), 0, "BYMONTH=2;BYMONTHDAY=29")
    with deadline(10):
        assert list(once.occurrences()) == [datetime(2028, 2, 29, 14)]  # 2032 lies beyond the gap limit


def test_expansions_are_capped_in_count() -> None:
    daily = Recurrence("FREQ=DAILY", START)
    from zoneinfo import ZoneInfo

    zone = ZoneInfo("Europe/Brussels")
    with deadline(30):
        found = daily.between(datetime(2026, 9, 1, tzinfo=zone), datetime(2199, 1, 1, tzinfo=zone), zone)
    assert 1000 <= len(found) <= 5000


def test_a_refused_rule_is_one_line_in_the_users_language(tmp_path: Path, library) -> None:  # type: ignore[no-untyped-def]
    text = VALID.replace("FREQ=MONTHLY;BYDAY=+2TU", "FREQ=WEEKLY;INTERVAL=0")
    with deadline(10):
        _, nl = load_partnership(write(tmp_path, text), library)
        _, en = load_partnership(write(tmp_path, text), library, "en")
    assert len(nl) == 1 and str(nl[0]).endswith(
        "p.yaml:22: meetings.rrule: verwacht een geldige RRULE (RFC 5545) zoals FREQ=MONTHLY;BYDAY=+2TU: "
        "INTERVAL moet tussen 1 en 104 liggen, niet 0"
    )
    assert "INTERVAL must be between 1 and 104, not 0" in str(en[0])


def test_a_start_far_in_the_past_or_future_is_refused(tmp_path: Path, library) -> None:  # type: ignore[no-untyped-def]
    text = VALID.replace('start: "2026-09-08 14:00"', 'start: "1026-09-08 14:00"')
    _, problems = load_partnership(write(tmp_path, text), library)
    assert "meetings.start: verwacht een jaar van 2000 tot 2199" in str(problems[0])
