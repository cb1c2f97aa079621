"""School holidays of the Flemish Community (see `workflows/school-holidays.yaml`).

Reflection prompts can skip school holidays, so brug needs to know them. The dates live in a data
file that people can read and check; this module validates that file strictly, answers questions
about a day, and recomputes every school year from the official rules so a test can hold the data
file to those rules.

The rules (besluit van de Vlaamse Regering of 17 April 1991 for basic education, of 31 August 2001
for secondary education; summarised on vlaanderen.be, "Schoolvakanties en vrije dagen op school"):

- first school day: 1 September; on a Saturday or Sunday, the Monday after;
- last school day: 30 June; on a Saturday or Sunday, the Friday before;
- herfstvakantie: one week from the Monday of the week holding 1 November (from 2 November when
  1 November is a Sunday);
- kerstvakantie: two weeks from the Monday of the week holding 25 December (from the Monday after
  when 25 December is a Saturday or Sunday);
- krokusvakantie: one week from the seventh Monday before Easter;
- paasvakantie: two weeks from the first Monday of April; from the Monday after Easter when Easter
  is in March; from the second Monday before Easter when Easter is after 15 April (Easter Monday
  then falls just after it and is a day off of its own);
- zomervakantie: 1 July to 31 August;
- days off when they are not already inside a holiday: 11 November, Easter Monday, 1 May,
  Ascension Day and the Friday after, Whit Monday.

Everything here is pure except `load_school_calendar`, which reads the file.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path
from typing import Literal

from dateutil.easter import easter
from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from brug.domain.types import Day, Strict, Text

HolidayName = Literal[
    "herfstvakantie",
    "wapenstilstand",
    "kerstvakantie",
    "krokusvakantie",
    "paasvakantie",
    "paasmaandag",
    "dag-van-de-arbeid",
    "hemelvaart",
    "pinkstermaandag",
    "zomervakantie",
]

HOLIDAY_LABELS: dict[str, Text] = {
    "herfstvakantie": Text(nl="herfstvakantie", en="autumn holiday"),
    "wapenstilstand": Text(nl="Wapenstilstand (11 november)", en="Armistice Day (11 November)"),
    "kerstvakantie": Text(nl="kerstvakantie", en="Christmas holiday"),
    "krokusvakantie": Text(nl="krokusvakantie", en="spring half-term (krokusvakantie)"),
    "paasvakantie": Text(nl="paasvakantie", en="Easter holiday"),
    "paasmaandag": Text(nl="paasmaandag", en="Easter Monday"),
    "dag-van-de-arbeid": Text(nl="Dag van de Arbeid (1 mei)", en="Labour Day (1 May)"),
    "hemelvaart": Text(nl="Hemelvaart en de vrijdag erna", en="Ascension Day and the Friday after"),
    "pinkstermaandag": Text(nl="pinkstermaandag", en="Whit Monday"),
    "zomervakantie": Text(nl="zomervakantie", en="summer holiday"),
}

_YEAR_LABEL = re.compile(r"^(\d{4})-(\d{4})$")


class Holiday(Strict):
    """One holiday: an inclusive range of days (a single day has from == to)."""

    name: HolidayName
    from_: Day = Field(alias="from")
    to: Day

    @model_validator(mode="after")
    def _ordered(self) -> Holiday:
        if self.to < self.from_:
            raise PydanticCustomError(
                "brug_holiday_order",
                "'to' on or after 'from' ({first} .. {last})",
                {"first": str(self.from_), "last": str(self.to), "loc": ("to",)},
            )
        return self

    def contains(self, day: date) -> bool:
        return self.from_ <= day <= self.to

    @property
    def days(self) -> int:
        return (self.to - self.from_).days + 1


class SchoolYear(Strict):
    """One school year: first and last school day, and its holidays in date order.

    The summer holiday is the last entry and runs up to the day before the next first school day,
    so a school year covers every day from `start` up to and including `last_day`.
    """

    year: str = Field(description="like 2025-2026")
    start: Day = Field(description="first school day")
    end: Day = Field(description="last school day")
    holidays: tuple[Holiday, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> SchoolYear:
        match = _YEAR_LABEL.match(self.year)
        if not match or int(match.group(2)) != int(match.group(1)) + 1:
            raise PydanticCustomError(
                "brug_school_year_label",
                "a school year like 2025-2026 ('{value}')",
                {"value": self.year, "loc": ("year",)},
            )
        first = int(match.group(1))
        if not date(first, 9, 1) <= self.start <= date(first, 9, 3):
            raise PydanticCustomError(
                "brug_school_year_start",
                "a first school day between {first}-09-01 and {first}-09-03 ({value})",
                {"first": first, "value": str(self.start), "loc": ("start",)},
            )
        if not date(first + 1, 6, 28) <= self.end <= date(first + 1, 6, 30):
            raise PydanticCustomError(
                "brug_school_year_end",
                "a last school day between {last}-06-28 and {last}-06-30 ({value})",
                {"last": first + 1, "value": str(self.end), "loc": ("end",)},
            )
        for i, (before, after) in enumerate(zip(self.holidays, self.holidays[1:], strict=False), start=1):
            if after.from_ <= before.to:
                raise PydanticCustomError(
                    "brug_holiday_overlap",
                    "holidays in date order without overlap ('{later}' starts before '{earlier}' ends)",
                    {"earlier": before.name, "later": after.name, "loc": ("holidays", i)},
                )
        summer = self.holidays[-1]
        if summer.name != "zomervakantie" or summer.from_ != self.end + timedelta(days=1):
            raise PydanticCustomError(
                "brug_summer",
                "the zomervakantie as the last holiday, from the day after the last school day",
                {"loc": ("holidays", len(self.holidays) - 1)},
            )
        if not date(first + 1, 8, 31) <= summer.to <= date(first + 1, 9, 2):
            raise PydanticCustomError(
                "brug_summer",
                "a zomervakantie that ends between {last}-08-31 and {last}-09-02 ({value})",
                {"last": first + 1, "value": str(summer.to), "loc": ("holidays", len(self.holidays) - 1, "to")},
            )
        for i, holiday in enumerate(self.holidays[:-1]):
            if holiday.name == "zomervakantie" or not self.start < holiday.from_ <= holiday.to < self.end:
                raise PydanticCustomError(
                    "brug_holiday_outside",
                    "'{name}' between the first and the last school day",
                    {"name": holiday.name, "loc": ("holidays", i)},
                )
        return self

    @property
    def label(self) -> str:
        return self.year

    @property
    def first_year(self) -> int:
        return int(self.year[:4])

    @property
    def last_day(self) -> date:
        """The last day this school year covers: the last day of its summer holiday."""
        return self.holidays[-1].to

    def holiday_on(self, day: date) -> Holiday | None:
        return next((h for h in self.holidays if h.contains(day)), None)


class SchoolCalendar(Strict):
    """The school holidays of one region, for consecutive school years."""

    region: Literal["vlaanderen"]
    school_years: tuple[SchoolYear, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _consecutive(self) -> SchoolCalendar:
        for i, (before, after) in enumerate(zip(self.school_years, self.school_years[1:], strict=False), start=1):
            if after.first_year != before.first_year + 1:
                raise PydanticCustomError(
                    "brug_school_years_gap",
                    "consecutive school years ({value} follows {previous})",
                    {"value": after.year, "previous": before.year, "loc": ("school_years", i, "year")},
                )
            if before.last_day + timedelta(days=1) != after.start:
                raise PydanticCustomError(
                    "brug_summer",
                    "a zomervakantie of {previous} that ends the day before {value} starts",
                    {"value": after.year, "previous": before.year, "loc": ("school_years", i - 1, "holidays")},
                )
        return self

    @property
    def first_day(self) -> date:
        return self.school_years[0].start

    @property
    def last_day(self) -> date:
        return self.school_years[-1].last_day

    def covers(self, day: date) -> bool:
        return self.first_day <= day <= self.last_day

    def school_year(self, day: date) -> SchoolYear | None:
        """The school year a day belongs to (its summer holiday included), or None outside the data."""
        return next((y for y in self.school_years if y.start <= day <= y.last_day), None)

    def holiday(self, day: date) -> Holiday | None:
        """The holiday a day falls in; raises ValueError for a day the data does not cover."""
        year = self.school_year(day)
        if year is None:
            raise ValueError(
                f"the school holiday calendar ({self.region}) covers {self.first_day.isoformat()} "
                f"up to and including {self.last_day.isoformat()}, not {day.isoformat()}"
            )
        return year.holiday_on(day)

    def is_holiday(self, day: date) -> bool:
        """True on every day of a holiday (weekends inside it too); False on school days and ordinary weekends."""
        return self.holiday(day) is not None

    def holiday_name(self, day: date) -> str | None:
        holiday = self.holiday(day)
        return holiday.name if holiday else None


# --- the official rules ---------------------------------------------------------------------------


def _monday_of_week(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _range(name: str, first: date, last: date) -> Holiday:
    return Holiday.model_validate({"name": name, "from": first, "to": last})


def first_school_day(year: int) -> date:
    """1 September; when that is a Saturday or Sunday, the Monday after."""
    day = date(year, 9, 1)
    return day + timedelta(days=(7 - day.weekday()) % 7) if day.weekday() >= 5 else day


def last_school_day(year: int) -> date:
    """30 June; when that is a Saturday or Sunday, the Friday before."""
    day = date(year, 6, 30)
    return day - timedelta(days=day.weekday() - 4) if day.weekday() >= 5 else day


def herfstvakantie_start(year: int) -> date:
    nov1 = date(year, 11, 1)
    return nov1 + timedelta(days=1) if nov1.weekday() == 6 else _monday_of_week(nov1)


def kerstvakantie_start(year: int) -> date:
    christmas = date(year, 12, 25)
    if christmas.weekday() >= 5:
        return christmas + timedelta(days=7 - christmas.weekday())
    return _monday_of_week(christmas)


def krokusvakantie_start(year: int) -> date:
    """The seventh Monday before Easter: 48 days before Easter Sunday."""
    return easter(year) - timedelta(days=48)


def paasvakantie_start(year: int) -> date:
    sunday = easter(year)
    if sunday.month == 3:
        return sunday + timedelta(days=1)
    if sunday > date(year, 4, 15):
        return sunday - timedelta(days=13)
    april1 = date(year, 4, 1)
    return april1 + timedelta(days=(7 - april1.weekday()) % 7)


def rule_based_holidays(school_year_start_year: int) -> list[Holiday]:
    """The holidays of school year Y-(Y+1) as the official rules give them, in date order.

    A day off that already lies inside a holiday (Easter Monday, in most years) or inside another
    day off (1 May on Ascension Day) is not listed again.
    The summer holiday runs from the day after the last school day to the day before the first
    school day of the next school year.
    """
    y, spring = school_year_start_year, school_year_start_year + 1
    week, fortnight = timedelta(days=6), timedelta(days=13)
    periods = [
        _range("herfstvakantie", herfstvakantie_start(y), herfstvakantie_start(y) + week),
        _range("kerstvakantie", kerstvakantie_start(y), kerstvakantie_start(y) + fortnight),
        _range("krokusvakantie", krokusvakantie_start(spring), krokusvakantie_start(spring) + week),
        _range("paasvakantie", paasvakantie_start(spring), paasvakantie_start(spring) + fortnight),
    ]
    sunday = easter(spring)
    ascension = sunday + timedelta(days=39)
    days_off = [
        _range("wapenstilstand", date(y, 11, 11), date(y, 11, 11)),
        _range("paasmaandag", sunday + timedelta(days=1), sunday + timedelta(days=1)),
        _range("dag-van-de-arbeid", date(spring, 5, 1), date(spring, 5, 1)),
        _range("hemelvaart", ascension, ascension + timedelta(days=1)),
        _range("pinkstermaandag", sunday + timedelta(days=50), sunday + timedelta(days=50)),
    ]
    # a day off inside a holiday is not listed again; nor is 1 May when it is Ascension Day or the
    # Friday after (2008: Ascension on 1 May)
    holidays = list(periods)
    for day_off in days_off:
        others = [*periods, *(d for d in days_off if d.days > day_off.days)]
        if not any(o.contains(day_off.from_) and o.contains(day_off.to) for o in others):
            holidays.append(day_off)
    holidays.sort(key=lambda h: h.from_)
    summer = _range(
        "zomervakantie",
        last_school_day(spring) + timedelta(days=1),
        first_school_day(spring) - timedelta(days=1),
    )
    return [*holidays, summer]


def rule_based_school_year(school_year_start_year: int) -> SchoolYear:
    y = school_year_start_year
    return SchoolYear.model_validate(
        {
            "year": f"{y}-{y + 1}",
            "start": first_school_day(y),
            "end": last_school_day(y + 1),
            "holidays": tuple(rule_based_holidays(y)),
        }
    )


# --- the one function with I/O --------------------------------------------------------------------


def load_school_calendar(path: Path | None = None) -> SchoolCalendar:
    """Read and validate the holiday file; raises ValueError (YamlError, ValidationError) when it is wrong."""
    import json

    from brug.content.resources import data_dir
    from brug.content.yamlfile import load_yaml_file

    path = path or data_dir("workflows") / "school-holidays.yaml"
    document = load_yaml_file(path)
    if not isinstance(document.data, dict):
        raise ValueError(f"{path}: expected a mapping with 'region' and 'school_years'")
    # JSON mode, as for the other data files: strict types, dates written as text
    return SchoolCalendar.model_validate_json(json.dumps(document.data))
