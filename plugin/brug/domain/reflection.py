"""Choosing the next reflection question for a partnership.

Rotation over the six bouwstenen, with the current phase's focus weighted double; within a
bouwsteen, questions that fit the phase and the people at the table come first; no question
returns before all questions of its bouwsteen have been asked.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from brug.domain.questions import Audience, Question, QuestionKind, Setting
from brug.domain.types import Bouwsteen

ORDER = list(Bouwsteen)


def next_bouwsteen(asked: Sequence[Bouwsteen], focus: Sequence[Bouwsteen]) -> Bouwsteen:
    """The bouwsteen least served so far, relative to its weight (focus counts double)."""
    counts = Counter(asked)
    last_seen = {b: i for i, b in enumerate(asked)}

    def need(b: Bouwsteen) -> tuple[float, int, int]:
        weight = 2.0 if b in focus else 1.0
        return (counts[b] / weight, last_seen.get(b, -1), ORDER.index(b))

    candidates = [b for b in ORDER if not asked or b != asked[-1]] or ORDER
    return min(candidates, key=need)


def choose_question(
    bank: Sequence[Question],
    asked_ids: Sequence[str],
    phase: str,
    focus: Sequence[Bouwsteen],
    audiences: set[Audience],
    settings: set[Setting] | None = None,
) -> Question:
    """The next open question for a partnership; `asked_ids` in the order they were asked.

    Only questions for someone at the table (`audiences`) and whose assumptions hold (`settings`;
    None: do not filter on them) are chosen."""
    by_id = {q.id: q for q in bank}
    history = [by_id[i].bouwsteen for i in asked_ids if i in by_id]
    block = next_bouwsteen(history, focus)
    fitting = [
        q
        for q in bank
        if q.bouwsteen == block
        and q.kind is QuestionKind.open
        and (q.audience in audiences or q.audience is Audience.iedereen)
        and (settings is None or set(q.assumes) <= settings)
    ]
    asked_here = [i for i in asked_ids if i in {q.id for q in fitting}]
    cycle = len(asked_here) // len(fitting) if fitting else 0
    used_this_cycle = set(asked_here[cycle * len(fitting) :]) if fitting else set()
    fresh = [q for q in fitting if q.id not in used_this_cycle] or fitting

    order = {q.id: i for i, q in enumerate(bank)}

    def rank(q: Question) -> tuple[int, int]:
        phase_fit = 0 if phase in q.phases else 1 if not q.phases else 2
        return (phase_fit, order[q.id])

    return min(fresh, key=rank)


def pulse_for(bank: Sequence[Question], bouwsteen: Bouwsteen) -> Question | None:
    return next((q for q in bank if q.bouwsteen == bouwsteen and q.kind is QuestionKind.pulse), None)
