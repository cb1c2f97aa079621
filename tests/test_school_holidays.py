"""The Flemish school holidays: the data file, the official rules, and the questions brug asks of them."""

from __future__ import annotations

import copy
import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from brug.content.resources import data_dir
from brug.content.yamlfile import load_yaml_file
from brug.domain.holidays import (
    HOLIDAY_LABELS,
    Holiday,
    SchoolCalendar,
    load_school_calendar,
    rule_based_holidays,
    rule_based_school_year,
)

FILE = data_dir("workflows") / "school-holidays.yaml"
YEARS = range(2025, 2031)


@pytest.fixture(scope="module")
def calendar() -> SchoolCalendar:
    return load_school_calendar()


@pytest.fixture
def raw() -> dict[str, Any]:
    data = load_yaml_file(FILE).data
    assert isinstance(data, dict)
    return copy.deepcopy(data)


def _validate(data: dict[str, Any]) -> SchoolCalendar:
    return SchoolCalendar.model_validate_json(json.dumps(data))


def _ranges(calendar: SchoolCalendar, label: str) -> dict[str, tuple[date, date]]:
    year = next(y for y in calendar.school_years if y.label == label)
    return {h.name: (h.from_, h.to) for h in year.holidays}


# --- the file -------------------------------------------------------------------------------------


def test_file_loads_six_consecutive_school_years(calendar: SchoolCalendar) -> None:
    assert calendar.region == "vlaanderen"
    assert [y.label for y in calendar.school_years] == [f"{y}-{y + 1}" for y in YEARS]
    for before, after in zip(calendar.school_years, calendar.school_years[1:], strict=False):
        assert before.last_day + timedelta(days=1) == after.start
    assert calendar.first_day == date(2025, 9, 1)
    assert calendar.last_day == date(2031, 8, 31)


def test_default_path_is_the_packaged_file() -> None:
    assert load_school_calendar() == load_school_calendar(FILE)


@pytest.mark.parametrize("year", YEARS)
def test_data_equals_the_official_rules(calendar: SchoolCalendar, year: int) -> None:
    school_year = calendar.school_years[year - YEARS.start]
    assert school_year == rule_based_school_year(year)
    assert list(school_year.holidays) == rule_based_holidays(year)


def test_every_holiday_name_has_a_label(calendar: SchoolCalendar) -> None:
    names = {h.name for y in calendar.school_years for h in y.holidays}
    assert names <= set(HOLIDAY_LABELS)


# --- spot checks against published calendars ------------------------------------------------------


def test_2025_2026_as_published(calendar: SchoolCalendar) -> None:
    """Published by Flemish schools (e.g. staproeselare.be, akademiemeise.be, bloesem-driesprong.be)."""
    year = calendar.school_year(date(2025, 9, 1))
    assert year is not None and year.label == "2025-2026"
    assert (year.start, year.end) == (date(2025, 9, 1), date(2026, 6, 30))
    assert _ranges(calendar, "2025-2026") == {
        "herfstvakantie": (date(2025, 10, 27), date(2025, 11, 2)),
        "wapenstilstand": (date(2025, 11, 11), date(2025, 11, 11)),
        "kerstvakantie": (date(2025, 12, 22), date(2026, 1, 4)),
        "krokusvakantie": (date(2026, 2, 16), date(2026, 2, 22)),
        "paasvakantie": (date(2026, 4, 6), date(2026, 4, 19)),
        "dag-van-de-arbeid": (date(2026, 5, 1), date(2026, 5, 1)),
        "hemelvaart": (date(2026, 5, 14), date(2026, 5, 15)),
        "pinkstermaandag": (date(2026, 5, 25), date(2026, 5, 25)),
        "zomervakantie": (date(2026, 7, 1), date(2026, 8, 31)),
    }


def test_2026_2027_as_published(calendar: SchoolCalendar) -> None:
    """openholidaysapi.data (BE, Dutch-speaking schools)."""
    ranges = _ranges(calendar, "2026-2027")
    assert ranges["herfstvakantie"] == (date(2026, 11, 2), date(2026, 11, 8))
    assert ranges["kerstvakantie"] == (date(2026, 12, 21), date(2027, 1, 3))
    assert ranges["krokusvakantie"] == (date(2027, 2, 8), date(2027, 2, 14))
    assert ranges["paasvakantie"] == (date(2027, 3, 29), date(2027, 4, 11))
    assert ranges["zomervakantie"] == (date(2027, 7, 1), date(2027, 8, 31))


def test_2027_2028_as_published(calendar: SchoolCalendar) -> None:
    """kampkompas.be and openholidaysapi.data: the Easter holiday runs through Easter Monday 17 April."""
    ranges = _ranges(calendar, "2027-2028")
    assert ranges["herfstvakantie"] == (date(2027, 11, 1), date(2027, 11, 7))
    assert ranges["kerstvakantie"] == (date(2027, 12, 27), date(2028, 1, 9))
    assert ranges["krokusvakantie"] == (date(2028, 2, 28), date(2028, 3, 5))
    assert ranges["paasvakantie"][0] == date(2028, 4, 3)
    assert ranges["paasmaandag"] == (date(2028, 4, 17), date(2028, 4, 17))
    assert ranges["hemelvaart"] == (date(2028, 5, 25), date(2028, 5, 26))
    assert ranges["pinkstermaandag"] == (date(2028, 6, 5), date(2028, 6, 5))


def test_2028_2029_as_published(calendar: SchoolCalendar) -> None:
    """openholidaysapi.data and bijleshuis.be."""
    ranges = _ranges(calendar, "2028-2029")
    assert ranges["herfstvakantie"] == (date(2028, 10, 30), date(2028, 11, 5))
    assert ranges["kerstvakantie"] == (date(2028, 12, 25), date(2029, 1, 7))
    assert ranges["krokusvakantie"] == (date(2029, 2, 12), date(2029, 2, 18))
    assert ranges["paasvakantie"] == (date(2029, 4, 2), date(2029, 4, 15))


# past school years, as published, hold the rules to more cases than the six years in the file
PAST = {
    2018: {  # Easter 21 April 2019: late, Easter Monday after the holiday
        "herfstvakantie": (date(2018, 10, 29), date(2018, 11, 4)),
        "kerstvakantie": (date(2018, 12, 24), date(2019, 1, 6)),
        "krokusvakantie": (date(2019, 3, 4), date(2019, 3, 10)),
        "paasvakantie": (date(2019, 4, 8), date(2019, 4, 21)),
        "paasmaandag": (date(2019, 4, 22), date(2019, 4, 22)),
        "hemelvaart": (date(2019, 5, 30), date(2019, 5, 31)),
    },
    2019: {
        "herfstvakantie": (date(2019, 10, 28), date(2019, 11, 3)),
        "kerstvakantie": (date(2019, 12, 23), date(2020, 1, 5)),
        "krokusvakantie": (date(2020, 2, 24), date(2020, 3, 1)),
        "paasvakantie": (date(2020, 4, 6), date(2020, 4, 19)),
        "hemelvaart": (date(2020, 5, 21), date(2020, 5, 22)),
    },
    2022: {  # Christmas on a Sunday
        "herfstvakantie": (date(2022, 10, 31), date(2022, 11, 6)),
        "kerstvakantie": (date(2022, 12, 26), date(2023, 1, 8)),
        "krokusvakantie": (date(2023, 2, 20), date(2023, 2, 26)),
        "paasvakantie": (date(2023, 4, 3), date(2023, 4, 16)),
        "pinkstermaandag": (date(2023, 5, 29), date(2023, 5, 29)),
    },
    2023: {  # Easter 31 March 2024: the holiday starts on Easter Monday
        "herfstvakantie": (date(2023, 10, 30), date(2023, 11, 5)),
        "kerstvakantie": (date(2023, 12, 25), date(2024, 1, 7)),
        "krokusvakantie": (date(2024, 2, 12), date(2024, 2, 18)),
        "paasvakantie": (date(2024, 4, 1), date(2024, 4, 14)),
    },
    2024: {  # Easter 20 April 2025
        "herfstvakantie": (date(2024, 10, 28), date(2024, 11, 3)),
        "kerstvakantie": (date(2024, 12, 23), date(2025, 1, 5)),
        "krokusvakantie": (date(2025, 3, 3), date(2025, 3, 9)),
        "paasvakantie": (date(2025, 4, 7), date(2025, 4, 20)),
        "paasmaandag": (date(2025, 4, 21), date(2025, 4, 21)),
    },
    2007: {  # Easter 23 March 2008: the holiday starts on Easter Monday; Ascension Day is 1 May
        "paasvakantie": (date(2008, 3, 24), date(2008, 4, 6)),
        "hemelvaart": (date(2008, 5, 1), date(2008, 5, 2)),
    },
}


@pytest.mark.parametrize("year", sorted(PAST))
def test_rules_reproduce_past_published_years(year: int) -> None:
    computed: dict[str, tuple[date, date]] = {h.name: (h.from_, h.to) for h in rule_based_holidays(year)}
    for name, expected in PAST[year].items():
        assert computed[name] == expected, name


def test_start_and_end_rules() -> None:
    assert rule_based_school_year(2028).start == date(2028, 9, 1)  # a Friday stays
    assert rule_based_school_year(2029).start == date(2029, 9, 3)  # Saturday -> Monday
    assert rule_based_school_year(2030).start == date(2030, 9, 2)  # Sunday -> Monday
    assert rule_based_school_year(2028).end == date(2029, 6, 29)  # Saturday -> Friday
    assert rule_based_school_year(2029).end == date(2030, 6, 28)  # Sunday -> Friday
    assert rule_based_school_year(2030).end == date(2031, 6, 30)  # a Monday stays


def test_easter_monday_outside_an_early_april_holiday() -> None:
    """2047: 1 April is a Monday and Easter is 14 April, so Easter Monday follows the holiday."""
    computed = {h.name: (h.from_, h.to) for h in rule_based_holidays(2046)}
    assert computed["paasvakantie"] == (date(2047, 4, 1), date(2047, 4, 14))
    assert computed["paasmaandag"] == (date(2047, 4, 15), date(2047, 4, 15))


@pytest.mark.parametrize("year", range(1990, 2101))
def test_rules_hold_together_for_a_century(year: int) -> None:
    school_year = rule_based_school_year(year)  # validation: ordered, no overlaps, inside the year
    by_name: dict[str, Holiday] = {h.name: h for h in school_year.holidays}
    for name, length in (("herfstvakantie", 7), ("kerstvakantie", 14), ("krokusvakantie", 7), ("paasvakantie", 14)):
        holiday = by_name[name]
        assert holiday.days == length
        assert holiday.from_.weekday() == 0, name
    assert school_year.holiday_on(date(year, 11, 11)) is not None
    assert school_year.holiday_on(date(year + 1, 5, 1)) is not None
    for day in (date(year, 11, 1), date(year, 12, 25), date(year + 1, 1, 1)):
        assert school_year.holiday_on(day) is not None or day.weekday() >= 5, day


# --- questions about a day ------------------------------------------------------------------------


def test_is_holiday(calendar: SchoolCalendar) -> None:
    for ordinary_weekend_day in (date(2025, 10, 4), date(2025, 10, 5), date(2026, 3, 14), date(2030, 1, 12)):
        assert not calendar.is_holiday(ordinary_weekend_day)
    assert not calendar.is_holiday(date(2025, 10, 25))  # the Saturday before the herfstvakantie
    assert not calendar.is_holiday(date(2025, 9, 1))  # first school day
    for day in (date(2025, 10, 27), date(2025, 10, 29), date(2025, 11, 1), date(2025, 11, 2)):
        assert calendar.is_holiday(day), day
        assert calendar.holiday_name(day) == "herfstvakantie"
    assert not calendar.is_holiday(date(2025, 11, 3))
    for easter_monday in (date(2026, 4, 6), date(2027, 3, 29), date(2028, 4, 17), date(2030, 4, 22)):
        assert calendar.is_holiday(easter_monday), easter_monday
    assert calendar.holiday_name(date(2028, 4, 17)) == "paasmaandag"
    assert calendar.holiday_name(date(2026, 4, 6)) == "paasvakantie"
    assert calendar.holiday_name(date(2026, 5, 15)) == "hemelvaart"
    assert calendar.holiday_name(date(2026, 5, 16)) is None  # the weekend after Ascension is ordinary
    assert calendar.holiday_name(date(2026, 6, 30)) is None  # last school day
    assert calendar.holiday_name(date(2026, 7, 1)) == "zomervakantie"
    assert calendar.holiday_name(date(2029, 9, 2)) == "zomervakantie"


def test_school_year_of_a_day(calendar: SchoolCalendar) -> None:
    summer = calendar.school_year(date(2026, 8, 15))
    assert summer is not None and summer.label == "2025-2026"
    autumn = calendar.school_year(date(2026, 10, 1))
    assert autumn is not None and (autumn.label, autumn.start, autumn.end) == (
        "2026-2027",
        date(2026, 9, 1),
        date(2027, 6, 30),
    )
    assert calendar.school_year(date(2029, 9, 2)).label == "2028-2029"  # type: ignore[union-attr]
    assert calendar.school_year(date(2029, 9, 3)).label == "2029-2030"  # type: ignore[union-attr]


def test_every_covered_day_is_answered(calendar: SchoolCalendar) -> None:
    day, holidays = calendar.first_day, 0
    while day <= calendar.last_day:
        holidays += calendar.is_holiday(day)
        day += timedelta(days=1)
    assert 6 * 100 < holidays < 6 * 120


def test_outside_the_data_is_an_error_not_a_school_day(calendar: SchoolCalendar) -> None:
    for day in (date(2025, 8, 31), date(2031, 9, 1), date(2040, 1, 1)):
        assert not calendar.covers(day)
        assert calendar.school_year(day) is None
        with pytest.raises(ValueError, match="2025-09-01 up to and including 2031-08-31"):
            calendar.is_holiday(day)
        with pytest.raises(ValueError):
            calendar.holiday_name(day)
    assert calendar.covers(date(2025, 9, 1)) and calendar.covers(date(2031, 8, 31))


# --- strict validation ----------------------------------------------------------------------------


def test_overlapping_holidays_are_rejected(raw: dict[str, Any]) -> None:
    raw["school_years"][0]["holidays"][1]["from"] = "2025-11-02"
    with pytest.raises(ValidationError, match="overlap"):
        _validate(raw)


def test_a_range_backwards_is_rejected(raw: dict[str, Any]) -> None:
    raw["school_years"][0]["holidays"][0]["to"] = "2025-10-20"
    with pytest.raises(ValidationError, match="'to' on or after 'from'"):
        _validate(raw)


def test_a_missing_school_year_is_rejected(raw: dict[str, Any]) -> None:
    del raw["school_years"][2]
    with pytest.raises(ValidationError, match="consecutive"):
        _validate(raw)


def test_a_gap_after_the_summer_is_rejected(raw: dict[str, Any]) -> None:
    raw["school_years"][0]["holidays"][-1]["to"] = "2026-09-01"  # 2026-2027 starts on 1 September
    with pytest.raises(ValidationError, match="ends the day before"):
        _validate(raw)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda y: y.update(year="2025-2027"), "like 2025-2026"),
        (lambda y: y.update(start="2025-08-25"), "first school day"),
        (lambda y: y["holidays"][0].update(name="lentevakantie"), "herfstvakantie"),
        (lambda y: y["holidays"][0].update(until="2025-11-02"), "Extra inputs"),
        (lambda y: y["holidays"][0].update(to="2025-11-31"), "a date like"),
        (lambda y: y["holidays"].pop(), "zomervakantie"),
    ],
)
def test_bad_entries_are_rejected(raw: dict[str, Any], change: Any, message: str) -> None:
    change(raw["school_years"][0])
    with pytest.raises(ValidationError, match=message):
        _validate(raw)


def test_loader_reports_a_broken_file(tmp_path: Path) -> None:
    broken = tmp_path / "school-holidays.yaml"
    broken.write_text("region: vlaanderen\nschool_years: []\n", encoding="utf-8")
    with pytest.raises(ValueError):
        load_school_calendar(broken)
    broken.write_text("- just a list\n", encoding="utf-8")
    with pytest.raises(ValueError, match="mapping"):
        load_school_calendar(broken)


def test_labour_day_on_ascension_day_is_listed_once() -> None:
    """2008: Ascension Day fell on 1 May; the published calendar gave 1 and 2 May off."""
    holidays = rule_based_holidays(2007)
    assert [h.name for h in holidays].count("dag-van-de-arbeid") == 0
    assert rule_based_school_year(2007).holiday_on(date(2008, 5, 1)).name == "hemelvaart"  # type: ignore[union-attr]
