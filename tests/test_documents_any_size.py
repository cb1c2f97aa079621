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
    from brug.app.jobs import audiences, settings_of
    from brug.content.partnerships import load_partnership
    from brug.domain.questions import Audience, Setting
    from brug.domain.reflection import choose_question
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


# --- documents at 2 and at 40 organisations ------------------------------------------------------
#
# The limits (stated in README, "Documents at every size"):
# - no Markdown table in any document has more than 6 columns or a row longer than 200 characters
#   (the agreement: table header rows at most 100 characters, see tests/test_agreement.py);
# - the overview stays under 130 lines at 40 organisations (under 90 at 2-8), the pinned chat
#   overview under 1,200 characters, an agenda under 160 lines plus one per open action, a phase
#   guide or document under 120;
# - the agreement (owned by its own tests) stays under 400 lines.
MAX_COLUMNS = 6
MAX_TABLE_ROW = 200
LIMITS_LINES = {"overview": 130, "agreement": 400, "reflection-log": 60, "signals-log": 80}
MAX_GUIDE_LINES = 120
MAX_AGENDA_LINES = 160  # plus one line per open action
MAX_PINNED = 1200
LARGE = "kinderen-eerst-gent"


def _tables(text: str) -> list[list[str]]:
    tables: list[list[str]] = []
    current: list[str] = []
    for line in text.splitlines():
        if line.lstrip().startswith("|"):
            current.append(line)
        elif current:
            tables.append(current)
            current = []
    if current:
        tables.append(current)
    return tables


def _workspace(library: Library, renderer, path, language: str):  # type: ignore[no-untyped-def]
    from brug.content.partnerships import load_partnership
    from brug.workspace.desired import desired_workspace

    p, problems = load_partnership(path, library)
    assert p is not None, problems
    p = p.model_copy(update={"language": language})
    return p, desired_workspace(p, library, renderer, datetime(2026, 11, 23, 10, tzinfo=UTC))


def test_the_large_example_is_large() -> None:
    from tests.conftest import EXAMPLES

    path = next(p for p in EXAMPLES if p.stem == LARGE)
    import yaml

    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    kinds = [o["kind"] for o in data["organisations"]]
    assert len(kinds) >= 30 and kinds.count("basisschool") + kinds.count("secundaire-school") >= 30
    assert sum(len(o["members"]) for o in data["organisations"]) >= 75


def test_every_document_of_every_example_keeps_to_the_limits(library: Library, renderer) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import EXAMPLES

    for path in EXAMPLES:
        for language in ("nl", "en"):
            p, ws = _workspace(library, renderer, path, language)
            small = len(p.organisations) < 9
            for doc in ws.documents:
                lines = doc.content.splitlines()
                kind = doc.key.split("/")[0]
                limit = LIMITS_LINES.get(doc.key, MAX_GUIDE_LINES)
                if doc.key == "overview" and small:
                    limit = 90
                assert len(lines) <= limit, (path.stem, language, doc.key, len(lines))
                for table in _tables(doc.content):
                    columns = table[0].strip().strip("|").count("|") + 1
                    assert columns <= MAX_COLUMNS, (path.stem, doc.key, table[0])
                    if doc.key == "agreement":
                        assert len(table[0]) <= 100, (path.stem, doc.key, table[0])
                    else:
                        assert max(len(row) for row in table) <= MAX_TABLE_ROW, (path.stem, doc.key, kind)


def test_the_overview_groups_a_large_partnership_by_kind(library: Library, renderer) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import EXAMPLES

    path = next(p for p in EXAMPLES if p.stem == LARGE)
    for language, heading, count in (("nl", "**Basisscholen (26)**", "39 organisaties en 79 mensen"), ("en", "**Primary schools (26)**", "39 organisations and 79 people")):
        p, ws = _workspace(library, renderer, path, language)
        overview = next(d.content for d in ws.documents if d.key == "overview")
        assert heading in overview and count in overview
        who = overview.split("## ")[1]
        for o in p.organisations:  # every organisation once, on one line
            assert who.count(f"**{o.name}**") == 1, o.name
        assert len(who.splitlines()) <= 70  # 39 organisations, a line each, and the headings
        # what moves with time (the next meetings) is in the overview brug owns
        assert ("Volgend overleg" if language == "nl" else "Next meeting") in overview
        assert "donderdag 17 december 2026" in overview or "Thursday 17 December 2026" in overview
        assert "FREQ" not in overview and "BYSETPOS" not in overview


def test_a_small_partnership_keeps_its_detailed_list(library: Library, renderer) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import EXAMPLES

    path = next(p for p in EXAMPLES if p.stem == "cbe-armoede")
    p, ws = _workspace(library, renderer, path, "nl")
    overview = next(d.content for d in ws.documents if d.key == "overview")
    assert "organisaties en" not in overview  # no summary line, no grouping at 2 organisations
    assert "- Koen De Smet, Coördinator partnerwerking · **coördinator** · contactpersoon" in overview


def test_the_pinned_overview_names_groups_not_36_schools(library: Library, renderer) -> None:  # type: ignore[no-untyped-def]
    from brug.content.context import common_context
    from tests.conftest import EXAMPLES

    path = next(p for p in EXAMPLES if p.stem == LARGE)
    for language in ("nl", "en"):
        p, _ = _workspace(library, renderer, path, language)
        text = renderer.render("overview-message", language, **common_context(p, library, datetime(2026, 11, 23, 10, tzinfo=UTC), []))
        assert len(text) <= MAX_PINNED, len(text)
        assert ("Basisscholen (26)" if language == "nl" else "Primary schools (26)") in text
        assert "De Regenboog" not in text


def test_agendas_of_the_large_example_keep_to_the_limits(library: Library, renderer) -> None:  # type: ignore[no-untyped-def]
    from brug.app.meetings import agenda_context
    from brug.domain.agenda import AddedItem, OpenAction, build_agenda
    from tests.conftest import EXAMPLES

    path = next(p for p in EXAMPLES if p.stem == LARGE)
    for language in ("nl", "en"):
        p, _ = _workspace(library, renderer, path, language)
        start = p.meeting_times(datetime(2026, 11, 23, 10, tzinfo=UTC), 1)[0]
        actions = [OpenAction(n, f"Actie {n}", "An", None) for n in range(1, 21)]
        added = [AddedItem(f"Punt {n}", "Bert", n) for n in range(1, 9)]
        for phase in library.phase_models[p.workflow].phases:
            agenda = build_agenda(p, phase, start, 2, actions, added, "doel")
            text = renderer.render("agenda", language, **agenda_context(agenda, p, library, datetime(2026, 11, 23, tzinfo=UTC)))
            assert len(text.splitlines()) <= MAX_AGENDA_LINES + len(actions), (phase.id, len(text.splitlines()))
