"""`brug export`: a partnership's agendas, actions, answers, signals, barometer rounds (aggregates only)
and agreement history, to keep or hand over."""

from __future__ import annotations

import csv
import json
from pathlib import Path, PurePosixPath

from brug.app import barometer
from brug.app.service import Runtime
from brug.domain.partnership import Partnership
from brug.domain.signals import SignalRecord
from brug.store import Store


def cell(text: object) -> str:
    """A CSV cell a spreadsheet shows as text: typed text starting with = + - @ is not a formula."""
    value = str(text)
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


async def export_partnership(partnership_id: str, p: Partnership | None, rt: Runtime, to: Path) -> list[Path]:
    folder = to / partnership_id
    (folder / "agendas").mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    store = rt.store

    files = rt.files_for(p) if p is not None else rt.files
    for key, record in sorted(store.documents(partnership_id, files.platform).items()):
        if key.startswith("meeting/"):
            text = await files.read(partnership_id, PurePosixPath(record.path))
            if text is not None:
                target = folder / "agendas" / PurePosixPath(record.path).name
                target.write_text(text, encoding="utf-8")
                written.append(target)

    actions = folder / "actions.csv"
    with actions.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["number", "text", "who", "due", "done", "origin"])
        for a in store.actions(partnership_id):
            out.writerow([a.number, cell(a.text), cell(a.who or ""), a.due or "", "yes" if a.done else "no", a.origin])
    written.append(actions)

    show_names = p is None or p.reflection is None or p.reflection.show_names
    questions = {q.id: q for q in rt.library.questions}
    language = p.language if p else "nl"
    answers = folder / "answers.csv"
    with answers.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["at", "question", "author", "answer"])
        for answer in store.answers(partnership_id):
            question = questions.get(answer.prompt_key.rsplit("/", 1)[-1])
            out.writerow(
                [
                    answer.at.isoformat(timespec="minutes"),
                    question.text(language) if question else answer.prompt_key,
                    cell(answer.author) if show_names else "",
                    cell(answer.text),
                ]
            )
    written.append(answers)

    rounds = folder / "barometer.csv"
    with rounds.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(barometer.export_rows(partnership_id, rt))
    written.append(rounds)
    written += _export_signals(store.signals(partnership_id), folder)
    written += write_agreement_history(partnership_id, p, store, folder)
    return written


def write_agreement_history(partnership_id: str, p: Partnership | None, store: Store, folder: Path) -> list[Path]:
    """Every version brug saw of the agreement, with who approved which one: Markdown to read, JSON to keep."""
    nl = p is None or p.language == "nl"
    signoffs = store.signoffs(partnership_id)
    versions = store.agreement_versions(partnership_id)
    title = p.name if p else partnership_id
    parts = [f"# {title}: {'het akkoord, versie per versie' if nl else 'the agreement, version by version'}\n"]
    for v in versions:
        zone = p.zone if p else None
        when = v.at.astimezone(zone) if zone else v.at
        who = v.who or ("onbekend" if nl else "unknown")
        signed = [
            f"- {s['organisation']}: {s['member_name']} ({s['kind']}, {s['at']:%Y-%m-%d %H:%M})"
            for s in signoffs
            if s["version"] == v.number
        ]
        head = "Versie" if nl else "Version"
        changed = ", ".join(v.sections) or "—"
        parts.append(
            f"\n---\n\n## {head} {v.number} · {when:%Y-%m-%d %H:%M} · {who}\n\n"
            f"sha256 `{v.sha256}` · {'gewijzigd' if nl else 'changed'}: {changed}\n\n"
            + ("\n".join(signed) + "\n\n" if signed else "")
            + f"{v.content}"
        )
    history = folder / "agreement-history.md"
    history.write_text("".join(parts), encoding="utf-8")
    machine = folder / "agreement-history.json"
    payload = {
        "versions": [
            {
                "number": v.number,
                "at": v.at.isoformat(),
                "sha256": v.sha256,
                "who": v.who,
                "platform": v.platform,
                "sections_changed": v.sections,
                "content": v.content,
            }
            for v in versions
        ],
        "signoffs": [
            {
                "organisation": s["organisation"],
                "member": s["member"],
                "name": s["member_name"],
                "kind": s["kind"],
                "version": s["version"],
                "sha256": s["sha256"],
                "at": s["at"].isoformat(),
            }
            for s in signoffs
        ],
    }
    machine.write_text(json.dumps(payload, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return [history, machine]


def _export_signals(signals: list[SignalRecord], folder: Path) -> list[Path]:
    """signals.csv (each signal as it stands) and signal-history.csv (each step it took)."""
    current, steps = folder / "signals.csv", folder / "signal-history.csv"
    with current.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(
            ["number", "raised_at", "text", "theme", "level", "status", "raised_by", "organisation"]
            + ["forwarded_to", "forwarded_at", "answer", "answered_at", "question"]
        )
        for s in signals:
            out.writerow(
                [
                    s.number,
                    s.raised_at.isoformat(timespec="minutes"),
                    cell(s.text),
                    cell(s.theme),
                    s.level.value if s.level else "",
                    s.status.value,
                    cell(s.raised_by),
                    cell(s.organisation or ""),
                    cell(s.forwarded_to or ""),
                    s.forwarded_at.isoformat(timespec="minutes") if s.forwarded_at else "",
                    cell(s.answer or ""),
                    s.answered_at.isoformat(timespec="minutes") if s.answered_at else "",
                    cell(s.question or ""),
                ]
            )
    with steps.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["number", "at", "status", "note", "by"])
        for s in signals:
            for e in s.events:
                out.writerow(
                    [s.number, e.at.isoformat(timespec="minutes"), e.status.value, cell(e.note or ""), cell(e.by)]
                )
    return [current, steps]
