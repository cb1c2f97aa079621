"""Signals to policy in use: raising and following them up from chat or the minutes, and their views.

`!signaal`, `!signalen` and the '## Signalen' section of the minutes all come through here, so a
signal is checked for case data, numbered and moved through its statuses the same way wherever it
was written. Nothing of a refused text is stored: not the text, not a trace in the log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from brug.content.library import Library
from brug.content.render import format_date, md_escape
from brug.domain.partnership import Member, Organisation, Partnership
from brug.domain.privacy import find_case_data, refusal
from brug.domain.signals import (
    MAX_ANSWER,
    MAX_RECIPIENT,
    MAX_TEXT,
    MAX_THEME,
    OPEN,
    STATUS_LABEL,
    Change,
    NewSignal,
    SignalRecord,
    SignalUpdate,
    Status,
    Verb,
    by_status,
    change_for,
    free_text_of,
    waiting,
)
from brug.domain.types import Language
from brug.store import Store

TEXTS: dict[str, dict[str, str]] = {
    "nl": {
        "example": "!signaal Meerdere gezinnen kunnen de schoolreis niet betalen #onderwijskosten",
        "added": "Signaal {number} genoteerd: {text}\n\nThema: {theme}{guessed} · niveau: {level}\n\n"
        "Het staat op de agenda van het volgende overleg, om te bespreken en te bundelen. Aanpassen kan met "
        "`!signaal {number} thema <thema>` of `!signaal {number} niveau micro|meso|macro`.",
        "guessed": " (door brug voorgesteld)",
        "no_level": "nog te kiezen",
        "exists": "Signaal {number} was al genoteerd.",
        "too_long": "Dat is te lang ({length} tekens). Hou het bij {limit} tekens: beschrijf kort wat je vaker ziet.",
        "no_such": "Er is geen signaal met nummer {number}. Typ `!signalen` voor de open signalen.",
        "closed": "Signaal {number} is afgesloten; daar verandert niets meer aan.",
        "already": "Signaal {number} staat al op *{status}*.",
        "level": "Kies als niveau micro, meso of macro: `!signaal {number} niveau meso`.",
        "empty": "Daar hoort nog tekst bij, bijvoorbeeld `!signaal {number} doorgegeven aan de schepen van onderwijs`.",
        "moved": "Signaal {number} staat nu op *{status}*{detail}.",
        "to": " — doorgegeven aan {to}",
        "moved_to": " (aan {to})",
        "changed": "Signaal {number} aangepast: thema {theme}, niveau {level}.",
        "question": "De vraag aan het beleid bij signaal {number} is genoteerd.",
        "none_open": "Er staan geen open signalen. Een nieuw signaal noteer je met `!signaal <tekst>`.",
        "open": "**Open signalen**",
        "waiting": "wacht sinds {when} op een antwoord",
        "show": "**Signaal {number}** ({status}) — {date}, {who}\n\n{text}\n\nThema: {theme} · niveau: {level}",
        "show_to": "Doorgegeven aan {to} op {when}.",
        "show_answer": "Antwoord ({when}): {answer}",
        "show_question": "Vraag aan het beleid: {question}",
        "minutes": "verslag",
    },
    "en": {
        "example": "!signal Several families cannot pay for the school trip #onderwijskosten",
        "added": "Signal {number} noted: {text}\n\nTheme: {theme}{guessed} · level: {level}\n\n"
        "It is on the agenda of the next meeting, to discuss and bundle. Change it with "
        "`!signal {number} theme <theme>` or `!signal {number} level micro|meso|macro`.",
        "guessed": " (suggested by brug)",
        "no_level": "still to choose",
        "exists": "Signal {number} was noted already.",
        "too_long": "That is too long ({length} characters). Keep it within {limit}: briefly describe what you "
        "see more often.",
        "no_such": "There is no signal number {number}. Type `!signals` for the open signals.",
        "closed": "Signal {number} is closed; nothing changes about it any more.",
        "already": "Signal {number} is already *{status}*.",
        "level": "Choose micro, meso or macro as the level: `!signal {number} level meso`.",
        "empty": "That needs some text, for example `!signal {number} forwarded to the alderman for education`.",
        "moved": "Signal {number} is now *{status}*{detail}.",
        "to": " — passed on to {to}",
        "moved_to": " (to {to})",
        "changed": "Signal {number} changed: theme {theme}, level {level}.",
        "question": "The question to policy for signal {number} is noted.",
        "none_open": "There are no open signals. Note a new one with `!signal <text>`.",
        "open": "**Open signals**",
        "waiting": "waiting for an answer since {when}",
        "show": "**Signal {number}** ({status}) — {date}, {who}\n\n{text}\n\nTheme: {theme} · level: {level}",
        "show_to": "Passed on to {to} on {when}.",
        "show_answer": "Answer ({when}): {answer}",
        "show_question": "Question to policy: {question}",
        "minutes": "minutes",
    },
}


@dataclass(frozen=True)
class Outcome:
    """What a signal command did: the reply for the person, and whether the log changed."""

    reply: str
    changed: bool = False
    refused: bool = False  # case data: nothing stored
    problem: str | None = None  # why nothing changed: no-such, closed, already, too-long, empty, level


def organisation_of(p: Partnership, member: Member) -> Organisation | None:
    return next((org for org, m in p.members if m.key == member.key), None)


def case_refusal(text: str, library: Library, language: Language) -> str | None:
    """The kind refusal when `text` looks like a personal case; None when it may be kept."""
    findings = find_case_data(text, library.privacy)
    if not findings:
        return None
    return refusal(findings, library.privacy, language, TEXTS[language]["example"])


def raise_signal(
    store: Store,
    library: Library,
    p: Partnership,
    new: NewSignal,
    *,
    by: str,
    organisation: str | None,
    at: datetime,
    origin: str,
) -> Outcome:
    say = TEXTS[p.language]
    if len(new.text) > MAX_TEXT:
        return Outcome(say["too_long"].format(length=len(new.text), limit=MAX_TEXT), problem="too-long")
    refused = case_refusal(" ".join(filter(None, [new.text, new.theme])), library, p.language)
    if refused:
        return Outcome(refused, refused=True)
    catalogue = library.signals
    guessed_theme = catalogue.guess_theme(new.text) if new.theme is None else None
    theme = new.theme or (guessed_theme.id if guessed_theme else _other(p.language))
    level = new.level or catalogue.guess_level(new.text)
    number, created = store.add_signal(
        p.id,
        text=new.text,
        theme=theme,
        level=level.value if level else None,
        raised_by=by,
        organisation=organisation,
        at=at,
        origin=origin,
    )
    if not created:
        return Outcome(say["exists"].format(number=number))
    return Outcome(
        say["added"].format(
            number=number,
            text=md_escape(new.text),
            theme=md_escape(catalogue.theme_label(theme, p.language)),
            guessed=say["guessed"] if new.theme is None else "",
            level=level.value if level else say["no_level"],
        ),
        changed=True,
    )


def _other(language: Language) -> str:
    return "andere" if language == "nl" else "other"


def update_signal(
    store: Store, library: Library, p: Partnership, update: SignalUpdate, *, by: str, at: datetime, origin: str
) -> Outcome:
    say = TEXTS[p.language]
    signal = store.signal(p.id, update.number)
    if signal is None:
        return Outcome(say["no_such"].format(number=update.number), problem="no-such")
    if update.verb is Verb.toon:
        return Outcome(show_signal(signal, library, p.language, p.zone))
    refused = case_refusal(free_text_of(update), library, p.language)
    if refused:
        return Outcome(refused, refused=True)
    change: Change = change_for(signal, update, at, library.signals)
    if change.problem is not None:
        return Outcome(_problem(change.problem, signal, update, p.language), problem=change.problem)
    store.update_signal(
        p.id, signal.number, change.values, event=change.event, note=change.note, by=by, at=at, origin=origin
    )
    if change.event is not None:
        forwarded = change.event is Status.doorgegeven and change.note
        to = say["moved_to"].format(to=md_escape(change.note)) if forwarded else ""
        return Outcome(
            say["moved"].format(number=signal.number, status=STATUS_LABEL[p.language][change.event], detail=to),
            changed=True,
        )
    if update.verb is Verb.vraag:
        return Outcome(say["question"].format(number=signal.number), changed=True)
    now = store.signal(p.id, signal.number)
    assert now is not None
    return Outcome(
        say["changed"].format(
            number=now.number,
            theme=md_escape(library.signals.theme_label(now.theme, p.language)),
            level=now.level.value if now.level else say["no_level"],
        ),
        changed=True,
    )


def _problem(problem: str, signal: SignalRecord, update: SignalUpdate, language: Language) -> str:
    say = TEXTS[language]
    if problem == "too-long":
        limit = {Verb.doorgegeven: MAX_RECIPIENT, Verb.antwoord: MAX_ANSWER, Verb.thema: MAX_THEME}.get(
            update.verb, MAX_TEXT
        )
        return say["too_long"].format(length=len(update.value), limit=limit)
    status = STATUS_LABEL[language][signal.status]
    return say[{"closed": "closed", "already": "already", "level": "level", "empty": "empty"}[problem]].format(
        number=signal.number, status=status
    )


def show_signal(signal: SignalRecord, library: Library, language: Language, zone: Any) -> str:
    say = TEXTS[language]
    lines = [
        say["show"].format(
            number=signal.number,
            status=STATUS_LABEL[language][signal.status],
            date=format_date(signal.raised_at.astimezone(zone).date(), language),
            who=md_escape(", ".join(filter(None, [signal.raised_by, signal.organisation]))),
            text=md_escape(signal.text),
            theme=md_escape(library.signals.theme_label(signal.theme, language)),
            level=signal.level.value if signal.level else say["no_level"],
        )
    ]
    if signal.forwarded_to and signal.forwarded_at:
        lines.append(
            say["show_to"].format(
                to=md_escape(signal.forwarded_to),
                when=format_date(signal.forwarded_at.astimezone(zone).date(), language),
            )
        )
    if signal.answer and signal.answered_at:
        lines.append(
            say["show_answer"].format(
                when=format_date(signal.answered_at.astimezone(zone).date(), language), answer=md_escape(signal.answer)
            )
        )
    if signal.question:
        lines.append(say["show_question"].format(question=md_escape(signal.question)))
    return "\n\n".join(lines)


def open_signals_message(store: Store, library: Library, p: Partnership, now: datetime) -> str:
    """`!signalen`: the open signals, by status, with who they wait on."""
    say = TEXTS[p.language]
    signals = store.signals(p.id, open_only=True)
    if not signals:
        return say["none_open"]
    late = {s.number for s in waiting(signals, now, library.signals.waiting_weeks)}
    lines = [say["open"], ""]
    for status, items in by_status(signals):
        if status not in OPEN or not items:
            continue
        lines.append(f"*{STATUS_LABEL[p.language][status]}*")
        for s in items:
            extra = ""
            if s.status is Status.doorgegeven and s.forwarded_to:
                extra = say["to"].format(to=md_escape(s.forwarded_to))
                if s.number in late and s.forwarded_at:
                    when = format_date(s.forwarded_at.astimezone(p.zone).date(), p.language)
                    extra += f" ⏰ {say['waiting'].format(when=when)}"
            theme = md_escape(library.signals.theme_label(s.theme, p.language))
            lines.append(f"{s.number}. {md_escape(s.text)} — {theme}{extra}")
        lines.append("")
    return "\n".join(lines).strip() + "\n"


def signal_views(signals: list[SignalRecord], library: Library, language: Language, zone: Any) -> list[dict[str, Any]]:
    """Signals as templates show them: labels resolved, dates local."""
    return [
        {
            "number": s.number,
            "text": s.text,
            "theme": library.signals.theme_label(s.theme, language),
            "level": s.level.value if s.level else None,
            "status": STATUS_LABEL[language][s.status],
            "status_id": s.status.value,
            "raised_by": s.raised_by,
            "organisation": s.organisation,
            "raised_on": s.raised_at.astimezone(zone).date(),
            "forwarded_to": s.forwarded_to,
            "forwarded_on": s.forwarded_at.astimezone(zone).date() if s.forwarded_at else None,
            "answer": s.answer,
            "answered_on": s.answered_at.astimezone(zone).date() if s.answered_at else None,
            "question": s.question,
            "closed_on": next(
                (e.at.astimezone(zone).date() for e in reversed(s.events) if e.status is Status.afgesloten), None
            ),
        }
        for s in signals
    ]


def signals_log_context(store: Store, library: Library, p: Partnership) -> dict[str, Any]:
    """What `signalen.md` shows: every signal under its current status."""
    signals = store.signals(p.id)
    groups = [
        {"status": STATUS_LABEL[p.language][status], "status_id": status.value, "signals": views}
        for status, items in by_status(signals)
        for views in [signal_views(items, library, p.language, p.zone)]
    ]
    return {"signal_groups": groups, "signal_count": len(signals), "waiting_weeks": library.signals.waiting_weeks}
