"""The signalennota: a partnership's signals of a period, per theme, to send to policy makers.

One report for one partnership, or for several (a coordinating organisation's `--all` or a list).
The Markdown comes from the template `signalennota.md.j2`; the PDF is that same Markdown typeset
with reportlab (see `brug.content.pdf`), behind a title page (title, period, date, partners) and a table of
contents. Only signals are in it — patterns, never people.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from brug.app.signals import signal_views
from brug.content.library import Library
from brug.content.pdf import TitlePage, markdown_to_pdf
from brug.content.render import Renderer, format_date
from brug.domain.partnership import Partnership
from brug.domain.signals import STATUS_LABEL, Level, SignalRecord, Status, nota_themes
from brug.domain.types import Language, slugify
from brug.store import Store

TITLE = {"nl": "Signalennota", "en": "Signals to policy"}
SEVERAL = {"nl": "{n} samenwerkingen", "en": "{n} partnerships"}
FOOTNOTE = {
    "nl": "Opgemaakt met brug. Deze nota bevat geen gegevens over kinderen, gezinnen of andere personen.",
    "en": "Made with brug. This report holds no data about children, families or other people.",
}
LABELS = {
    "nl": {"period": "Periode", "made": "Opgemaakt op", "from": "Van", "partners": "Partners", "contents": "Inhoud"},
    "en": {"period": "Period", "made": "Made on", "from": "From", "partners": "Partners", "contents": "Contents"},
}
UNTIL = {"nl": "tot en met", "en": "to"}


class NothingToReport(Exception):
    """No signal was raised in the period: a report would be empty."""


@dataclass(frozen=True)
class NotaFiles:
    markdown: Path
    pdf: Path
    signals: int
    themes: int


def school_year_start(day: date) -> date:
    """1 September of the school year `day` falls in (the default start of a report)."""
    return date(day.year if day.month >= 9 else day.year - 1, 9, 1)


def nota_context(
    partnerships: list[Partnership], store: Store, library: Library, start: date, end: date, now: datetime
) -> dict[str, Any]:
    """Everything the template needs, for one partnership or several (their signals raised in [start, end])."""
    first = partnerships[0]
    language: Language = first.language
    zone = first.zone
    signals: list[SignalRecord] = []
    for p in partnerships:
        signals += [s for s in store.signals(p.id) if start <= s.raised_at.astimezone(p.zone).date() <= end]
    if not signals:
        raise NothingToReport
    names = {p.id: p.name for p in partnerships}
    several = len(partnerships) > 1
    organisations: dict[str, Any] = {}
    contacts = []
    for p in partnerships:
        for org in p.organisations:
            organisations.setdefault(org.name, {"name": org.name, "kind": library.kinds[org.kind].label(language)})
        contacts += [{"name": m.name, "organisation": org.name} for org, m in p.members if m.coordinator]
    themes = []
    for report in nota_themes(signals, library.signals, language, zone):
        views = signal_views(report.signals, library, language, zone)
        for view, s in zip(views, report.signals, strict=True):
            view["partnership"] = names[s.partnership]
        themes.append(
            {
                "label": report.label,
                "count": report.count,
                "signals": views,
                "organisations": report.organisations,
                "partnerships": [names[pid] for pid in report.partnerships],
                "since": report.since,
                "last": report.last,
                "levels": [(level.value, report.levels[level]) for level in Level if level in report.levels],
                "done": [
                    {
                        "on": e.at.astimezone(zone).date(),
                        "number": f"{names[s.partnership]} {s.number}" if several else str(s.number),
                        "status": e.status.value,
                        "note": e.note,
                    }
                    for s, e in report.done
                ],
                "questions": report.questions,
            }
        )
    every = sorted(signals, key=lambda s: (s.partnership, s.number))
    overview = signal_views(every, library, language, zone)
    for view, s in zip(overview, every, strict=True):
        view["partnership"] = names[s.partnership]
    title = TITLE[language]
    subject = first.name if not several else SEVERAL[language].format(n=len(partnerships))
    return {
        "nota": {
            "title": f"{title} — {subject}",
            "subject": subject,
            "partnership_names": [p.name for p in partnerships],
            "several": several,
            "start": start,
            "end": end,
            "made_on": now.astimezone(zone).date(),
            "organisations": list(organisations.values()),
            "raising": sorted({s.organisation for s in signals if s.organisation}),
            "contacts": contacts,
            "levels": library.signals.levels,
            "themes": themes,
            "signals": overview,
            "signal_count": len(signals),
            "statuses": {s.value: STATUS_LABEL[language][s] for s in Status},
        }
    }


def write_nota(
    partnerships: list[Partnership],
    store: Store,
    library: Library,
    renderer: Renderer,
    start: date,
    end: date,
    now: datetime,
    folder: Path,
) -> NotaFiles:
    """Write the signalennota as Markdown and PDF into `folder`; NothingToReport when there are no signals."""
    context = nota_context(partnerships, store, library, start, end, now)
    language: Language = partnerships[0].language
    nota = context["nota"]
    markdown = renderer.render("signalennota", language, part="all", **context)
    body = renderer.render("signalennota", language, part="body", **context)
    labels = LABELS[language]
    title_page = TitlePage(
        title=TITLE[language],
        subtitle=nota["subject"],
        lines=[
            *([(labels["from"], "; ".join(nota["partnership_names"]))] if nota["several"] else []),
            (labels["period"], f"{format_date(start, language)} {UNTIL[language]} {format_date(end, language)}"),
            (labels["made"], format_date(nota["made_on"], language)),
        ],
        partners_label=labels["partners"],
        partners=[f"{o['name']} — {o['kind']}" for o in nota["organisations"]],
        footnote=FOOTNOTE[language],
        contents_label=labels["contents"],
        running_title=nota["title"],
        language=language,
    )
    folder.mkdir(parents=True, exist_ok=True)
    name = slugify(partnerships[0].id if len(partnerships) == 1 else "samenwerkingen")
    stem = f"signalennota-{name}-{start.isoformat()}-{end.isoformat()}"
    md_path, pdf_path = folder / f"{stem}.md", folder / f"{stem}.pdf"
    md_path.write_text(markdown, encoding="utf-8")
    pdf_path.write_bytes(markdown_to_pdf(body, title_page))
    return NotaFiles(md_path, pdf_path, nota["signal_count"], len(nota["themes"]))
