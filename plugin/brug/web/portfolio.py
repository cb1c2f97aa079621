"""The coordinators' portfolio: where each partnership of an organisation stands, read in one place.

This is the web's one query layer over the store: every portfolio page gets its figures from
`portfolio_rows` (or `portfolio_row` for one partnership), which read the store once per page
(`Store.portfolio_figures`: a handful of set-based queries, never one per partnership). Only
aggregates leave it — counts, dates, the barometer's published means — never a voter, never an
answer's author.

"Needs attention" when any of: no meeting for 8 weeks, overdue actions, the agreement's review is
due, a bouwsteen below 2.5 in the last published barometer round, or the agreement is not signed.

What only changes when the store or the partnership file changes is kept between pages, keyed by
what it is made of (so nothing needs forgetting): a round's barometer view and small radar, a
partnership's agreement status, its last and next meeting (until the next one has passed), and each
row's HTML (by the row's values).
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from markupsafe import Markup

from brug.app import agreements, barometer
from brug.app.service import Runtime
from brug.content.agreement import review_of
from brug.content.library import Library
from brug.content.partnerships import LoadedMapping, revision
from brug.content.radar import AXES, SHORT, number
from brug.content.small_radar import grid_defs, small_radar
from brug.domain.agreement import Overall, reminder_due
from brug.domain.barometer import ALL, RoundResult, result_from_counts
from brug.domain.partnership import Partnership, today_in
from brug.domain.signals import OPEN
from brug.domain.types import Bouwsteen, Language
from brug.store import PortfolioFigures, Store
from brug.store.portfolio import PORTFOLIO_TABLES
from brug.web.pages import page_env

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
TOO_FEW = {"nl": "te weinig antwoorden", "en": "too few answers"}


@dataclass(frozen=True)
class BlockView:
    """One bouwsteen of the last published round, as text."""

    title: str
    mean: str | None  # None: too few rated it
    arrow: str  # ↑ ↓ → against the previous published round, "" when there is nothing to compare
    change: str  # "+0,4", "−0,7", "0,0" or ""

    def text(self, language: Language) -> str:
        """'Relatie 3,2 ↑ (+0,4)', 'Relatie 3,2' (no round before), 'Relatie: te weinig antwoorden'."""
        if self.mean is None:
            return f"{self.title}: {TOO_FEW[language]}"
        return f"{self.title} {self.mean} {self.arrow} ({self.change})" if self.arrow else f"{self.title} {self.mean}"


@dataclass(frozen=True)
class BarometerView:
    """The last published barometer round of a partnership: what a row and its detail page show."""

    round_label: str
    mean: float | None  # the mean of the bouwstenen shown
    mean_text: str
    arrow: str  # the overall mean against the previous published round
    lowest: str | None  # "Gemeenschappelijk doel 1,8"
    lowest_mean: float | None
    blocks: tuple[BlockView, ...]
    text: str  # the text alternative of the radar: every mean and its trend
    radar: Markup  # the small radar (inline SVG)
    trend: str  # the overall means of the last published rounds, "… → …"

    @property
    def low(self) -> bool:
        return self.lowest_mean is not None and self.lowest_mean < LOW


@dataclass(frozen=True)
class Row:
    id: str
    name: str
    phase: str  # the phase id (for filtering)
    phase_title: str
    phase_order: int  # the phase's place in its model (for sorting)
    phase_since: datetime | None  # when the partnership entered this phase (None: not applied in it yet)
    in_phase: str | None  # "5 maanden"
    last_meeting: datetime | None
    next_meeting: datetime | None
    open_actions: int
    overdue_actions: int
    agreement: str  # Overall's value
    agreement_label: str
    signed_version: int | None
    changed_since: date | None  # the first change after the last signed version
    review: date | None
    review_due: bool
    barometer: BarometerView | None
    open_signals: int
    reasons: tuple[str, ...] = ()  # why it needs attention (REASONS keys)

    @property
    def attention(self) -> bool:
        return bool(self.reasons)


# --- the parts of a row --------------------------------------------------------------------------


def phase_place(p: Partnership, library: Library, language: Language) -> tuple[str, int]:
    """The phase's title and its place in the phase model."""
    model = library.phase_models.get(p.workflow)
    if model is None or not model.has_phase(p.phase):
        return p.phase, len(model.phases) if model is not None else 0
    return model.phase(p.phase).title(language), model.index(p.phase)


def phase_choices(partnerships: Iterable[Partnership], library: Library, language: Language) -> list[tuple[str, str]]:
    """(phase id, title) of the phases these partnerships are in, in the phase model's order, for the filter."""
    by_model = {(p.workflow, p.phase): p for p in partnerships}
    places = {p.phase: phase_place(p, library, language) for p in by_model.values()}
    return [(pid, title) for pid, (title, _) in sorted(places.items(), key=lambda kv: (kv[1][1], kv[1][0]))]


_ORGANISATIONS: dict[str, tuple[Partnership, frozenset[str]]] = {}


def organisations_of(p: Partnership) -> frozenset[str]:
    """The ids of the organisations that take part (kept per partnership as loaded)."""
    cached, version = _ORGANISATIONS.get(p.id), revision(p)
    if cached is not None and cached[0] is version:
        return cached[1]
    ids = frozenset(org.id for org in p.organisations)
    if len(_ORGANISATIONS) > 50_000:
        _ORGANISATIONS.clear()
    _ORGANISATIONS[p.id] = (version, ids)
    return ids


def visible(
    partnerships: Iterable[Partnership] | Mapping[str, Partnership], organisation: str | Collection[str]
) -> list[Partnership]:
    """The partnerships an organisation (or any of several) takes part in: all a viewer of it may see.
    Of the partnerships `brug run` keeps loaded, only those are validated."""
    wanted = {organisation} if isinstance(organisation, str) else set(organisation)
    if isinstance(partnerships, LoadedMapping):
        return partnerships.taking_part(wanted)
    if isinstance(partnerships, Mapping):
        partnerships = partnerships.values()
    return [p for p in partnerships if not organisations_of(p).isdisjoint(wanted)]


UNITS: dict[Language, dict[str, tuple[str, str]]] = {
    "nl": {"day": ("dag", "dagen"), "week": ("week", "weken"), "month": ("maand", "maanden"), "year": ("jaar", "jaar")},
    "en": {"day": ("day", "days"), "week": ("week", "weeks"), "month": ("month", "months"), "year": ("year", "years")},
}


def _count(n: int, unit: str, language: Language) -> str:
    one, many = UNITS[language][unit]
    return f"{n} {one if n == 1 else many}"


def in_phase_label(since: datetime, now: datetime, language: Language) -> str:
    """How long since `since`, the way people say it: '4 dagen', '3 weken', '5 maanden', '1 jaar en 2 maanden'."""
    days = max(0, (now - since).days)
    if days < 14:
        return _count(days, "day", language)
    if days < 61:
        return _count(days // 7, "week", language)
    months = (now.year - since.year) * 12 + now.month - since.month - (1 if now.day < since.day else 0)
    if months < 12:
        return _count(months, "month", language)
    years = _count(months // 12, "year", language)
    if not months % 12:
        return years
    return f"{years}{' en ' if language == 'nl' else ' '}{_count(months % 12, 'month', language)}"


_MEETINGS: dict[str, tuple[object, datetime, datetime | None, datetime | None]] = {}


def meeting_around(p: Partnership, now: datetime) -> tuple[datetime | None, datetime | None]:
    """The last meeting before `now` and the next one. Expanding rules costs most, so the answer is
    kept until the next meeting has passed (or the partnership file changed)."""
    if p.meetings is None:
        return None, None
    cached, version = _MEETINGS.get(p.id), revision(p)
    if cached is not None and cached[0] is version and cached[1] <= now and (cached[3] is None or now < cached[3]):
        return cached[2], cached[3]
    rule = p.meetings.recurrence()
    # the recent past first (cheap); a year back only for a partnership that has not met lately
    recent = now - QUIET - timedelta(weeks=1)
    before = rule.between(recent, now, p.zone) or rule.between(now - timedelta(days=366), recent, p.zone)
    ahead = rule.after(now, p.zone, 1)
    found = (before[-1] if before else None, ahead[0] if ahead else None)
    if len(_MEETINGS) > 50_000:
        _MEETINGS.clear()
    _MEETINGS[p.id] = (version, now, *found)
    return found


_AGREEMENTS: dict[str, tuple[object, tuple[Any, ...], Any]] = {}


def agreement_of(p: Partnership, library: Library, figures: PortfolioFigures) -> tuple[Any, date | None, date | None]:
    """The agreement's status, its review date and since when it changed after signing; kept while the
    partnership file and the store's versions and sign-offs stay the same."""
    stored = figures.agreement_versions.get(p.id, [])
    signed = figures.signoffs.get(p.id, [])
    key = (tuple((v.number, v.sha256) for v in stored), tuple(s["id"] for s in signed))
    cached, version = _AGREEMENTS.get(p.id), revision(p)
    if cached is not None and cached[0] is version and cached[1] == key:
        return cached[2]  # type: ignore[no-any-return]
    versions, signoffs = agreements.from_rows(stored, signed)
    status = agreements.agreement_status(p, versions, signoffs)
    changed = None
    if status.overall is Overall.changed and status.last_signed is not None:
        after = next((v for v in versions if v.number > status.last_signed), None)
        changed = after.at.astimezone(p.zone).date() if after is not None else None
    found = (status, review_of(p, library, status), changed)
    if len(_AGREEMENTS) > 50_000:
        _AGREEMENTS.clear()
    _AGREEMENTS[p.id] = (version, key, found)
    return found


RoundKey = tuple[str, int, int, tuple[tuple[str, tuple[int, ...]], ...]]


def round_keys(pid: str, figures: PortfolioFigures) -> tuple[RoundKey, ...]:
    """A partnership's closed rounds as plain values (round, respondents, minimum, everyone's counts)."""
    totals = figures.round_totals
    return tuple(
        (r.round_id, r.respondents or 0, r.min_respondents, tuple(totals.get((pid, r.round_id), ())))
        for r in figures.closed_rounds.get(pid, ())
    )


def published(keys: Iterable[RoundKey]) -> list[RoundResult]:
    """The rounds that may be shown, oldest first, by the barometer's own anonymity rules (at least
    `min_respondents` people, and per bouwsteen at least that many who rated it)."""
    out = []
    for round_id, respondents, minimum, totals in keys:
        counts = {Bouwsteen(b): {ALL: c} for b, c in totals}
        result = result_from_counts(round_id, respondents, counts, minimum)
        if result.published:
            out.append(result)
    return out


def _arrow(change: float | None) -> str:
    if change is None:
        return ""
    tenths = round(change * 10)
    return "↑" if tenths > 0 else "↓" if tenths < 0 else "→"


def _change(change: float | None, language: Language) -> str:
    if change is None:
        return ""
    text = number(abs(change), language)
    return ("+" if change > 0 else "−" if change < 0 else "") + text if text not in ("0,0", "0.0") else text


@functools.lru_cache(maxsize=8192)
def barometer_view(keys: tuple[RoundKey, ...], language: Language) -> BarometerView | None:
    """The last published round with its trend and small radar; None while no round may be shown."""
    results = published(keys)
    if not results:
        return None
    last = results[-1]
    previous = results[-2] if len(results) > 1 else None
    blocks = []
    means: dict[Bouwsteen, float] = {}
    for b in AXES:
        mean = last.mean(b)
        before = previous.mean(b) if previous is not None else None
        change = mean - before if mean is not None and before is not None else None
        if mean is not None:
            means[b] = mean
        blocks.append(
            BlockView(
                SHORT[b][language],
                number(mean, language) if mean is not None else None,
                _arrow(change),
                _change(change, language),
            )
        )
    overall = barometer.overall(last)
    before_overall = barometer.overall(previous) if previous is not None else None
    label = barometer.round_label(last.round_id, language)
    worst = min(means, key=lambda b: means[b]) if means else None
    text = f"Barometer {label}: " + "; ".join(block.text(language) for block in blocks)
    radar = small_radar(
        language,
        tuple(last.mean(b) for b in AXES),
        tuple(previous.mean(b) for b in AXES) if previous is not None else None,
        text,
    )
    return BarometerView(
        round_label=label,
        mean=overall,
        mean_text=number(overall, language) if overall is not None else "—",
        arrow=_arrow(overall - before_overall if overall is not None and before_overall is not None else None),
        lowest=f"{SHORT[worst][language]} {number(means[worst], language)}" if worst is not None else None,
        lowest_mean=means[worst] if worst is not None else None,
        blocks=tuple(blocks),
        text=text,
        radar=Markup(radar),  # noqa: S704 - built here from numbers and escaped text
        trend=trend(results, language),
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


# --- rows ----------------------------------------------------------------------------------------


def portfolio_row(
    p: Partnership,
    rt: Runtime,
    now: datetime,
    language: Language,
    figures: PortfolioFigures | None = None,
    places: dict[tuple[str, str], tuple[str, int]] | None = None,
) -> Row:
    """One partnership's row; `figures` are the store's figures read once for a whole page, `places`
    the phases' titles and order as found so far for that page."""
    figures = figures if figures is not None else rt.store.portfolio_figures([p.id])
    today = today_in(p.zone, now).isoformat()
    last, next_ = meeting_around(p, now)
    dues = figures.open_actions.get(p.id, ())
    overdue = sum(1 for due in dues if due and due < today)
    status, review, changed = agreement_of(p, rt.library, figures)
    review_due = review is not None and (reminder_due(review, date.fromisoformat(today)) or review.isoformat() <= today)
    view = barometer_view(round_keys(p.id, figures), language)
    signals = sum(n for status, n in figures.signal_counts.get(p.id, {}).items() if status in OPEN)
    applied_phase, since = figures.phases.get(p.id, (None, None))
    if since is not None:  # a phase in the file that is not applied yet has no date
        since = since.astimezone(p.zone) if applied_phase == p.phase else None
    reasons = []
    if p.meetings is not None and (last is None or now - last > QUIET):
        reasons.append("quiet")
    if overdue:
        reasons.append("overdue")
    if review_due:
        reasons.append("review")
    if view is not None and view.low:
        reasons.append("low")
    if status.overall is not Overall.signed:
        reasons.append("unsigned")
    places = {} if places is None else places
    if (p.workflow, p.phase) not in places:
        places[(p.workflow, p.phase)] = phase_place(p, rt.library, language)
    title, order = places[(p.workflow, p.phase)]
    return Row(
        id=p.id,
        name=p.name,
        phase=p.phase,
        phase_title=title,
        phase_order=order,
        phase_since=since,
        in_phase=in_phase_label(since, now, language) if since is not None else None,
        last_meeting=last,
        next_meeting=next_,
        open_actions=len(dues),
        overdue_actions=overdue,
        agreement=status.overall.value,
        agreement_label=AGREEMENT[language][status.overall.value],
        signed_version=status.signed_version,
        changed_since=changed,
        review=review,
        review_due=review_due,
        barometer=view,
        open_signals=signals,
        reasons=tuple(reasons),
    )


def _lowest(r: Row) -> tuple[bool, float]:
    """The lowest bouwsteen's mean first; rows without one last."""
    mean = r.barometer.lowest_mean if r.barometer is not None else None
    return (mean is None, mean if mean is not None else 0.0)


_AGREEMENT_ORDER = {"none": 0, "draft": 1, "changed": 2, "signed": 3}
# each sort: the row's key, and which way the column is then sorted (for aria-sort)
SORTS: dict[str, tuple[Callable[[Row], tuple[Any, ...]], str]] = {
    "attention": (lambda r: (-len(r.reasons), r.name.lower()), "descending"),
    "name": (lambda r: (r.name.lower(),), "ascending"),
    "phase": (lambda r: (r.phase_order, r.phase_title.lower(), r.name.lower()), "ascending"),
    "in_phase": (lambda r: (r.phase_since is None, r.phase_since or datetime.max, r.name.lower()), "descending"),
    "last": (lambda r: (r.last_meeting is not None, r.last_meeting or datetime.min, r.name.lower()), "ascending"),
    "next": (lambda r: (r.next_meeting is None, r.next_meeting or datetime.max, r.name.lower()), "ascending"),
    "actions": (lambda r: (-r.overdue_actions, -r.open_actions, r.name.lower()), "descending"),
    "agreement": (lambda r: (_AGREEMENT_ORDER[r.agreement], not r.review_due, r.name.lower()), "ascending"),
    "barometer": (lambda r: (*_lowest(r), r.name.lower()), "ascending"),
    "signals": (lambda r: (-r.open_signals, r.name.lower()), "descending"),
}


FRESH_SECONDS = 10.0
_READS: dict[int, tuple[Store, dict[str, int], float, PortfolioFigures]] = {}


def figures_of(store: Store) -> PortfolioFigures:
    """Every partnership's figures. Kept between pages: after this process changed some of the tables
    they come from, only those are read again; all of them at least every FRESH_SECONDS (another
    process — `brug web` beside `brug run` — may have written meanwhile)."""
    kept = _READS.get(id(store))
    now = time.monotonic()
    writes = {table: store.written(table) for table in PORTFOLIO_TABLES}  # before reading: see a write meanwhile
    if kept is None or kept[0] is not store or now - kept[2] >= FRESH_SECONDS:
        figures = store.portfolio_figures()
        _READS[id(store)] = (store, writes, now, figures)
        return figures
    changed = [table for table in PORTFOLIO_TABLES if writes[table] != kept[1][table]]
    if not changed:
        return kept[3]
    fresh = store.portfolio_figures(tables=changed)
    fields = [PORTFOLIO_TABLES[table][0] for table in changed]
    figures = dataclasses.replace(kept[3], **{name: getattr(fresh, name) for name in fields})
    _READS[id(store)] = (store, writes, kept[2], figures)  # as old as its oldest part
    return figures


_ROW_OF: dict[tuple[str, Language], tuple[Partnership, tuple[Any, ...], Row]] = {}


def row_of(
    p: Partnership,
    rt: Runtime,
    now: datetime,
    language: Language,
    figures: PortfolioFigures,
    places: dict[tuple[str, str], tuple[str, int]],
) -> Row:
    """The partnership's row as it was, when nothing it is made of changed (its file, its figures, the
    day, its meetings, how many days in its phase); else made again."""
    pid = p.id
    last, next_ = meeting_around(p, now)
    applied = figures.phases.get(pid)
    rounds = figures.closed_rounds.get(pid, ())
    inputs = (
        today_in(p.zone, now),
        last,
        next_,
        last is None or now - last > QUIET,
        applied,
        (now - applied[1]).days if applied is not None and applied[1] is not None else None,
        figures.open_actions.get(pid),
        figures.signal_counts.get(pid),
        rounds,
        [figures.round_totals.get((pid, r.round_id)) for r in rounds],
        figures.agreement_versions.get(pid),
        figures.signoffs.get(pid),
    )
    kept, version = _ROW_OF.get((pid, language)), revision(p)
    if kept is not None and kept[0] is version and kept[1] == inputs:
        return kept[2]
    row = portfolio_row(p, rt, now, language, figures, places)
    if len(_ROW_OF) > 50_000:
        _ROW_OF.clear()
    _ROW_OF[(pid, language)] = (version, inputs, row)
    return row


_ROWS: dict[tuple[Any, ...], tuple[list[Row], PortfolioFigures, list[object]]] = {}


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
    """The rows of an organisation's portfolio, filtered by phase and 'needs attention', sorted. The
    rows are made again when the store's figures, a partnership file or the minute changed."""
    mine = visible(partnerships, organisation)
    figures = figures_of(rt.store)
    versions = [revision(p) for p in mine]
    key = (id(figures), now.replace(second=0, microsecond=0), language, *map(id, versions))
    kept = _ROWS.get(key)
    if kept is None:
        places: dict[tuple[str, str], tuple[str, int]] = {}
        kept = ([row_of(p, rt, now, language, figures, places) for p in mine], figures, versions)
        if len(_ROWS) >= 32:
            _ROWS.clear()
        _ROWS[key] = kept  # the figures and versions stay referenced: their ids in the key stay theirs
    rows = kept[0]
    if phase:
        rows = [r for r in rows if r.phase == phase]
    if attention:
        rows = [r for r in rows if r.attention]
    order, _ = SORTS.get(sort, SORTS["attention"])
    return sorted(rows, key=order)


# --- rendering -----------------------------------------------------------------------------------


def day(moment: datetime | date | None) -> str:
    return moment.strftime("%d-%m-%Y") if moment else "—"


@functools.lru_cache(maxsize=4)
def _row_template(language: Language) -> Any:
    return page_env(language).get_template("portfolio-row.html.j2")


@functools.lru_cache(maxsize=20_000)
def row_html(row: Row, language: Language) -> Markup:
    """A row of the portfolio's table; kept by the row's values, so a page renders only changed rows."""
    return Markup(_row_template(language).render(r=row, reasons=REASONS[language], day=day))  # noqa: S704 - autoescaped


def rows_html(rows: Iterable[Row], language: Language) -> Markup:
    return Markup("".join([row_html(r, language) for r in rows]))  # noqa: S704 - each row autoescaped


def sort_links(language: Language, phase: str | None, attention: bool) -> dict[str, str]:
    """Each sort's address, keeping the chosen filters (a column heading is a link)."""
    keep = {"phase": phase or "", "attention": "1" if attention else "", "lang": "en" if language == "en" else ""}
    return {
        sort: "/portfolio?" + urlencode({k: v for k, v in {"sort": sort, **keep}.items() if v})
        for sort in SORTS
    }


def page_context(
    rows: list[Row],
    total: int,
    phases: list[tuple[str, str]],
    language: Language,
    *,
    phase: str | None,
    attention: bool,
    sort: str,
) -> dict[str, Any]:
    """What the portfolio template needs besides the viewer: the rows' HTML, the filters, the sort links."""
    return {
        "rows": rows_html(rows, language),
        "shown": len(rows),
        "attention_count": sum(1 for r in rows if r.reasons),
        "total": total,
        "phases": phases,
        "phase": phase,
        "attention": attention,
        "sort": sort if sort in SORTS else "attention",
        "links": sort_links(language, phase, attention),
        "directions": {key: direction for key, (_, direction) in SORTS.items()},
        "grid": Markup(grid_defs(language)),  # noqa: S704 - numbers and fixed letters
    }


_RADARS: dict[tuple[Any, ...], str] = {}


def large_radar(p: Partnership, figures: PortfolioFigures) -> str | None:
    """The last published round as the large radar (against the published round before it), kept
    until another round closes; None while no round may be shown."""
    keys = round_keys(p.id, figures)
    results = published(keys)
    if not results:
        return None
    key = (p.id, p.name, p.language, keys)
    svg = _RADARS.get(key)
    if svg is None:
        svg = barometer.radar_for(p, results[-1], results[-2] if len(results) > 1 else None)
        if len(_RADARS) > 2_000:
            _RADARS.clear()
        _RADARS[key] = svg
    return svg
