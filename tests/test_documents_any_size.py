"""Documents that work at every size and in both languages (issue 14): words for every rhythm, local
times with their zone, the default model for any number of partners, and the limits of the documents."""

from __future__ import annotations

import re
from datetime import UTC, datetime

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


@settings(max_examples=200, deadline=None)
@given(rule=rules(), language=st.sampled_from(["nl", "en"]))
def test_every_accepted_rule_is_described_in_words(rule: str, language: str) -> None:
    try:
        parse_rrule(rule, START)
    except RecurrenceError:
        return  # refused when the file is read; never shown
    text = describe_rule(rule, START, language)  # type: ignore[arg-type]
    assert not re.search(r"FREQ|BY[A-Z]+|INTERVAL|COUNT|UNTIL|[=;]", text), (rule, text)
    assert re.search(r"\d\d:\d\d", text)  # says at what time
    assert len(text) <= 300  # a rule is at most 300 characters itself


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


# --- questions for one audience --------------------------------------------------------------------

CHILDREN_PARENTS_SCHOOL = re.compile(r"\b(kind|kinderen|ouders?|gezin|gezinnen|school\w*|leerling\w*|leerkracht\w*)\b", re.I)


def test_questions_for_everyone_assume_no_children_parents_or_school(library: Library) -> None:
    from brug.domain.questions import Audience, QuestionKind

    loose = [
        q.id
        for q in library.questions
        if q.audience is Audience.iedereen
        and not q.assumes
        and q.id != "betrokkenheid-03"  # names families only to say: leave them out
        and CHILDREN_PARENTS_SCHOOL.search(q.text.nl)
    ]
    assert loose == []
    # every building block keeps enough questions that any partnership can be asked
    for block in {q.bouwsteen for q in library.questions}:
        free = [
            q for q in library.questions
            if q.bouwsteen == block and q.kind is QuestionKind.open and q.audience is Audience.iedereen and not q.assumes
        ]
        assert len(free) >= 4, block


def test_questions_for_one_audience_that_speak_of_the_other_side_assume_it(library: Library) -> None:
    from brug.domain.questions import Audience, Setting

    for q in library.questions:
        if q.audience is Audience.welzijn and re.search(r"\bschool", q.text.nl, re.I):
            assert Setting.school in q.assumes, q.id
        if q.audience is Audience.school and "welzijnspartner" in q.text.nl:
            assert Setting.welzijn in q.assumes, q.id


def test_a_centre_for_basic_education_is_no_school(library: Library) -> None:
    from brug.content.partnerships import load_partnership
    from brug.domain.questions import Audience, Setting
    from brug.domain.reflection import choose_question
    from brug.jobs import audiences, settings_of
    from tests.conftest import EXAMPLES

    class Rt:  # audiences() only reads the library
        pass

    rt = Rt()
    rt.library = library  # type: ignore[attr-defined]
    path = next(p for p in EXAMPLES if p.stem == "cbe-armoede")
    p, problems = load_partnership(path, library)
    assert p is not None, problems
    assert {o.kind for o in p.organisations} >= {"cbe"}
    assert Audience.school not in audiences(p, rt)  # type: ignore[arg-type]
    assert Setting.school not in settings_of(p, rt) and Setting.gezinnen not in settings_of(p, rt)  # type: ignore[arg-type]
    asked: list[str] = []
    model = library.phase_models[p.workflow]
    for _ in range(60):
        q = choose_question(
            library.questions, asked, p.phase, model.phase(p.phase).bouwstenen, audiences(p, rt), settings_of(p, rt)  # type: ignore[arg-type]
        )
        assert q.audience is not Audience.school and not q.assumes, q.id
        assert q.id == "betrokkenheid-03" or not CHILDREN_PARENTS_SCHOOL.search(q.text.nl), q.id
        asked.append(q.id)


def test_the_prompt_says_who_a_question_is_for(library: Library, renderer) -> None:  # type: ignore[no-untyped-def]
    from brug.content.context import common_context, with_extra
    from brug.content.partnerships import load_partnership
    from brug.domain.questions import Audience
    from tests.conftest import EXAMPLES

    p, _ = load_partnership(EXAMPLES[0], library)
    assert p is not None
    for language, words in (("nl", "Deze vraag is voor de **welzijnspartners**"), ("en", "This question is for the **welfare partners**")):
        q = next(q for q in library.questions if q.audience is Audience.welzijn)
        context = common_context(p.model_copy(update={"language": language}), library, datetime(2026, 11, 1, tzinfo=UTC), [])
        text = renderer.render(
            "reflection-prompt", language, **with_extra(context, question=q, bouwsteen=library.bouwstenen[q.bouwsteen], late=False)
        )
        assert words in text
        everyone = next(q for q in library.questions if q.audience is Audience.iedereen)
        text = renderer.render(
            "reflection-prompt", language, **with_extra(context, question=everyone, bouwsteen=library.bouwstenen[everyone.bouwsteen], late=False)
        )
        assert "👉" not in text
