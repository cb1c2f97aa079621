"""Choosing reflection questions: rotate the bouwstenen, weight the phase's focus, never repeat early."""

from __future__ import annotations

from collections import Counter

from brug.domain.questions import Audience, QuestionKind
from brug.domain.reflection import choose_question, next_bouwsteen
from brug.domain.types import Bouwsteen

EVERYONE = {Audience.iedereen, Audience.school, Audience.welzijn, Audience.coordinator}


def run(library, rounds: int, phase: str, focus, audiences=EVERYONE) -> list:  # type: ignore[no-untyped-def]
    asked: list[str] = []
    picked = []
    for _ in range(rounds):
        q = choose_question(library.questions, asked, phase, focus, audiences)
        asked.append(q.id)
        picked.append(q)
    return picked


def test_six_rounds_visit_all_six_bouwstenen(library) -> None:  # type: ignore[no-untyped-def]
    picked = run(library, 6, "vind-elkaar", [])
    assert {q.bouwsteen for q in picked} == set(Bouwsteen)
    assert all(q.kind is QuestionKind.open for q in picked)


def test_the_phase_focus_comes_twice_as_often(library) -> None:  # type: ignore[no-untyped-def]
    focus = [Bouwsteen.relatie, Bouwsteen.vertrouwen]
    counts = Counter(q.bouwsteen for q in run(library, 32, "wij-wordt-ons", focus))
    for block in Bouwsteen:
        expected = 8 if block in focus else 4
        assert abs(counts[block] - expected) <= 1, counts


def test_never_the_same_block_twice_in_a_row(library) -> None:  # type: ignore[no-untyped-def]
    picked = run(library, 40, "leerkansen", [Bouwsteen.doel])
    assert all(a.bouwsteen != b.bouwsteen for a, b in zip(picked, picked[1:], strict=False))


def test_no_question_returns_before_its_block_is_used_up(library) -> None:  # type: ignore[no-untyped-def]
    picked = run(library, 6 * 20, "leerkansen", [])
    by_block: dict[Bouwsteen, list[str]] = {}
    for q in picked:
        by_block.setdefault(q.bouwsteen, []).append(q.id)
    for block, ids in by_block.items():
        size = len([q for q in library.questions if q.bouwsteen == block and q.kind is QuestionKind.open])
        first_cycle = ids[:size]
        assert len(set(first_cycle)) == len(first_cycle), block


def test_questions_fitting_the_phase_come_first(library) -> None:  # type: ignore[no-untyped-def]
    q = choose_question(library.questions, [], "ja-graag", [], EVERYONE)
    fitting = [x for x in library.questions if x.bouwsteen == q.bouwsteen and "ja-graag" in x.phases]
    if fitting:
        assert "ja-graag" in q.phases


def test_audience_is_respected(library) -> None:  # type: ignore[no-untyped-def]
    only_welfare = {Audience.iedereen, Audience.welzijn}
    for q in run(library, 60, "uitvoeren", [], only_welfare):
        assert q.audience in only_welfare


def test_next_bouwsteen_prefers_the_least_served() -> None:
    asked = [Bouwsteen.doel, Bouwsteen.relatie, Bouwsteen.doel]
    assert next_bouwsteen(asked, []) == Bouwsteen.betrokkenheid
