"""Documents that work at every size and in both languages (issue 14): words for every rhythm, local
times with their zone, the default model for any number of partners, and the limits of the documents."""

from __future__ import annotations

import re
from datetime import datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from brug.content.library import Library
from brug.domain.recurrence import RecurrenceError, parse_rrule
from brug.domain.rhythm import describe_rule

START = datetime(2026, 9, 8, 14, 0)
DAY_CODES = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]


def rules() -> st.SearchStrategy[str]:
    """RRULE texts built from the parts brug accepts, many of them valid."""
    day = st.tuples(st.sampled_from(["", "1", "2", "-1", "+3", "-2", "5"]), st.sampled_from(DAY_CODES)).map(
        "".join
    )
    numbers = lambda low, high: st.lists(st.integers(low, high), min_size=1, max_size=3, unique=True).map(  # noqa: E731
        lambda xs: ",".join(map(str, xs))
    )
    optional = {
        "INTERVAL": st.integers(1, 4).map(str),
        "BYDAY": st.lists(day, min_size=1, max_size=4, unique=True).map(",".join),
        "BYMONTHDAY": numbers(-3, 28),
        "BYMONTH": numbers(1, 12),
        "BYSETPOS": st.sampled_from(["1", "-1", "2"]),
        "BYHOUR": st.integers(0, 23).map(str),
        "BYMINUTE": st.sampled_from(["0", "15", "30"]),
        "COUNT": st.integers(1, 50).map(str),
        "UNTIL": st.sampled_from(["20271231", "20280630T120000Z"]),
    }
    chosen = st.fixed_dictionaries({}, optional=optional)
    return st.tuples(st.sampled_from(["DAILY", "WEEKLY", "MONTHLY", "YEARLY"]), chosen).map(
        lambda t: ";".join([f"FREQ={t[0]}", *(f"{k}={v}" for k, v in t[1].items() if not (k == "COUNT" and "UNTIL" in t[1]))])
    )


@settings(max_examples=400, deadline=None)
@given(rule=rules(), language=st.sampled_from(["nl", "en"]))
def test_every_accepted_rule_is_described_in_words(rule: str, language: str) -> None:
    try:
        parse_rrule(rule, START)
    except RecurrenceError:
        return  # refused when the file is read; never shown
    text = describe_rule(rule, START, language)  # type: ignore[arg-type]
    assert not re.search(r"FREQ|BY[A-Z]+|INTERVAL|COUNT|UNTIL|[=;]", text), (rule, text)
    assert re.search(r"\d\d:\d\d", text)  # says at what time
    assert len(text) <= 200


def test_common_rhythms_read_naturally() -> None:
    cases = {
        "FREQ=MONTHLY;BYDAY=+2TU": ("elke tweede dinsdag van de maand om 14:00", "every second Tuesday of the month at 14:00"),
        "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU": ("om de twee weken op dinsdag om 14:00", "every two weeks on Tuesday at 14:00"),
        "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1": (
            "elke maand op de laatste werkdag om 14:00",
            "every month on the last weekday at 14:00",
        ),
        "FREQ=YEARLY;BYMONTH=9;BYDAY=1MO": (
            "elk jaar op de eerste maandag van september om 14:00",
            "every year on the first Monday of September at 14:00",
        ),
        "FREQ=WEEKLY;BYDAY=MO,WE;COUNT=10": (
            "elke week op maandag en woensdag om 14:00, 10 keer in totaal",
            "every week on Monday and Wednesday at 14:00, 10 times in all",
        ),
        "FREQ=MONTHLY;BYMONTHDAY=-1;BYHOUR=9;BYMINUTE=30": (
            "elke maand op de laatste dag om 09:30",
            "every month on the last day at 09:30",
        ),
    }
    for rule, (nl, en) in cases.items():
        assert describe_rule(rule, START, "nl") == nl
        assert describe_rule(rule, START, "en") == en


TWO_ONLY = re.compile(
    r"\b(beide|allebei|twee organisaties|twee partners|de andere organisatie\b|de ander\b|"
    r"both|two organisations|two partners|the other organisation\b|the other side|the other's)",
    re.IGNORECASE,
)


def _texts(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _texts(v)]
    if isinstance(value, list | tuple):
        return [t for v in value for t in _texts(v)]
    if hasattr(value, "model_dump"):
        return _texts(value.model_dump())
    return []


def test_the_default_model_speaks_of_any_number_of_partners(library: Library) -> None:
    model = library.phase_models["samenwerken"]
    found = [t for t in _texts(model) if TWO_ONLY.search(t) and "tandem" not in t.lower()]  # a tandem is a pair
    assert found == []
