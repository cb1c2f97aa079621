"""The coordinators' portfolio: where each partnership of an organisation stands, read in one place.

This is the web's one query layer over the store: every portfolio page gets its figures from
`portfolio_rows` (or `portfolio_row` for one partnership). Only aggregates leave it — counts,
dates, the barometer's published means — never a voter, never an answer's author.

"Needs attention" when any of: no meeting for 8 weeks, overdue actions, the agreement's review is
due, a bouwsteen below 2.5 in the last published barometer round, or the agreement is not signed.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from brug.app import agreements, barometer
from brug.app.service import Runtime
from brug.content.agreement import review_of
from brug.content.library import Library
from brug.content.radar import number
from brug.domain.agreement import Overall, reminder_due
from brug.domain.barometer import BlockResult, RoundResult, Tally
from brug.domain.partnership import Partnership, today_in
from brug.domain.signals import OPEN
from brug.domain.types import Bouwsteen, Language
from brug.store import PortfolioFigures

QUIET = timedelta(weeks=8)
LOW = 2.5
REASONS = {
    "nl": {
        "quiet": "8 weken geen overleg",
        "overdue": "acties over tijd",
        "review": "herziening akkoord nodig",
        "low": "bouwsteen onder 2,5",
        "unsigned": "akkoord niet ondertekend",
    },
    "en": {
        "quiet": "no meeting for 8 weeks",
        "overdue": "overdue actions",
        "review": "agreement review due",
        "low": "a bouwsteen below 2.5",
        "unsigned": "agreement not signed",
    },
}
AGREEMENT = {
    "nl": {"none": "nog geen", "draft": "ontwerp", "signed": "ondertekend", "changed": "gewijzigd na ondertekening"},
    "en": {"none": "none yet", "draft": "draft", "signed": "signed", "changed": "changed since signing"},
}


@dataclass(frozen=True)
class Row:
    id: str
    name: str
    phase: str  # the phase id (for filtering)
    phase_title: str
    last_meeting: datetime | None
    next_meeting: datetime | None
    open_actions: int
    overdue_actions: int
    agreement: str  # Overall's value
    agreement_label: str
    signed_version: int | None
    review: str | None  # ISO date
    barometer: str | None  # the last published round's label and overall mean, e.g. "2026–2027, trimester 1: 3,4"
    trend: str
    lowest: str | None  # the lowest bouwsteen of that round and its mean
    open_signals: int
    reasons: list[str] = field(default_factory=list)  # why it needs attention (REASONS keys)

    @property
    def attention(self) -> bool:
        return bool(self.reasons)


def phase_title_of(p: Partnership, library: Library, language: Language) -> str:
    model = library.phase_models.get(p.workflow)
    phase = next((ph for ph in model.phases if ph.id == p.phase), None) if model is not None else None
    return phase.title(language) if phase is not None else p.phase


def phase_choices(partnerships: Iterable[Partnership], library: Library, language: Language) -> list[tuple[str, str]]:
    """(phase id, title) of the phases these partnerships are in, for the filter."""
    return sorted({(p.phase, phase_title_of(p, library, language)) for p in partnerships}, key=lambda c: c[1])


def organisations_of(p: Partnership) -> set[str]:
    return {org.id for org in p.organisations}


def visible(partnerships: Iterable[Partnership], organisation: str | Collection[str]) -> list[Partnership]:
    """The partnerships an organisation (or any of several) takes part in: all a viewer of it may see."""
    wanted = {organisation} if isinstance(organisation, str) else set(organisation)
    return [p for p in partnerships if not organisations_of(p).isdisjoint(wanted)]


_MEETINGS: dict[tuple[str, datetime], tuple[object, datetime | None, datetime | None]] = {}


def meeting_around(p: Partnership, now: datetime) -> tuple[datetime | None, datetime | None]:
    """The last meeting before `now` and the next one; kept for the hour (expanding rules costs most)."""
    if p.meetings is None:
        return None, None
    hour = now.replace(minute=0, second=0, microsecond=0)
    cached = _MEETINGS.get((p.id, hour))
    if cached is not None and cached[0] is p.meetings:  # the same file as loaded then
        return cached[1], cached[2]
    rule = p.meetings.recurrence()
    # the recent past first (cheap); a year back only for a partnership that has not met lately
    recent = now - QUIET - timedelta(weeks=1)
    before = rule.between(recent, now, p.zone) or rule.between(now - timedelta(days=366), recent, p.zone)
    ahead = rule.after(now, p.zone, 1)
    found = (before[-1] if before else None, ahead[0] if ahead else None)
    if len(_MEETINGS) > 20_000:
        _MEETINGS.clear()
    _MEETINGS[(p.id, hour)] = (p.meetings, *found)
    return found


def published_rounds(p: Partnership, figures: PortfolioFigures) -> list[RoundResult]:
    """A partnership's closed rounds that may be shown, oldest first: the means of everyone's counts."""
    out = []
    for record in figures.closed_rounds.get(p.id, []):
        if (record.respondents or 0) < record.min_respondents:
            continue
        totals = figures.round_totals.get((p.id, record.round_id), {})
        blocks = {
            Bouwsteen(b): BlockResult(Bouwsteen(b), Tally(counts), {})  # type: ignore[arg-type]
            for b, counts in totals.items()
        }
        out.append(RoundResult(record.round_id, record.respondents or 0, record.min_respondents, blocks))
    return out


def portfolio_row(
    p: Partnership, rt: Runtime, now: datetime, language: Language, figures: PortfolioFigures | None = None
) -> Row:
    """One partnership's row; `figures` are the store's figures read once for a whole page."""
    figures = figures if figures is not None else rt.store.portfolio_figures()
    today = today_in(p.zone, now)
    last, next_ = meeting_around(p, now)
    open_actions = figures.open_actions.get(p.id, [])
    overdue = [due for due in open_actions if due and due < today.isoformat()]
    versions, signed = agreements.from_rows(figures.agreement_versions.get(p.id, []), figures.signoffs.get(p.id, []))
    status = agreements.agreement_status(p, versions, signed)
    review = review_of(p, rt.library, status)
    review_due = review is not None and (reminder_due(review, today) or review <= today)
    results = published_rounds(p, figures)
    label = lowest = None
    low = False
    if results:
        last_round = results[-1]
        mean = barometer.overall(last_round)
        label = barometer.round_label(last_round.round_id, language)
        if mean is not None:
            label += f": {number(mean, language)}"
        means = {b: m for b in Bouwsteen if (m := last_round.mean(b)) is not None}
        if means:
            worst = min(means, key=lambda b: means[b])
            lowest = f"{rt.library.bouwstenen[worst].title(language)} {number(means[worst], language)}"
            low = means[worst] < LOW
    signals = sum(1 for s in figures.signal_statuses.get(p.id, []) if s in OPEN)
    reasons = []
    if p.meetings is not None and (last is None or now - last > QUIET):
        reasons.append("quiet")
    if overdue:
        reasons.append("overdue")
    if review_due:
        reasons.append("review")
    if low:
        reasons.append("low")
    if status.overall is not Overall.signed:
        reasons.append("unsigned")
    phase_title = phase_title_of(p, rt.library, language)
    return Row(
        id=p.id,
        name=p.name,
        phase=p.phase,
        phase_title=phase_title,
        last_meeting=last,
        next_meeting=next_,
        open_actions=len(open_actions),
        overdue_actions=len(overdue),
        agreement=status.overall.value,
        agreement_label=AGREEMENT[language][status.overall.value],
        signed_version=status.signed_version,
        review=review.isoformat() if review else None,
        barometer=label,
        trend=trend(results, language),
        lowest=lowest,
        open_signals=signals,
        reasons=reasons,
    )


def trend(results: list[RoundResult], language: Language, last: int = 4) -> str:
    """The overall mean of the last published rounds, as `brug barometer` shows it."""
    if len(results) < 2:
        return ""
    parts = [
        f"{barometer.round_label(r.round_id, language)}: {number(m, language)}"
        for r in results[-last:]
        if (m := barometer.overall(r)) is not None
    ]
    return " → ".join(parts)


SORTS = {
    "name": lambda r: (r.name.lower(),),
    "phase": lambda r: (r.phase_title.lower(), r.name.lower()),
    "attention": lambda r: (-len(r.reasons), r.name.lower()),
    "next": lambda r: (r.next_meeting is None, r.next_meeting or datetime.max, r.name.lower()),
}


def portfolio_rows(
    partnerships: Iterable[Partnership],
    rt: Runtime,
    organisation: str | Collection[str],
    now: datetime,
    language: Language,
    *,
    phase: str | None = None,
    attention: bool = False,
    sort: str = "attention",
) -> list[Row]:
    """The rows of an organisation's portfolio, filtered by phase and 'needs attention', sorted."""
    figures = rt.store.portfolio_figures()
    rows = [portfolio_row(p, rt, now, language, figures) for p in visible(partnerships, organisation)]
    if phase:
        rows = [r for r in rows if r.phase == phase]
    if attention:
        rows = [r for r in rows if r.attention]
    return sorted(rows, key=SORTS.get(sort, SORTS["attention"]))  # type: ignore[arg-type]
