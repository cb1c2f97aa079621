"""`brug export`: a partnership's agendas, actions, answers and agreement history, to keep or hand over."""

from __future__ import annotations

import csv
from pathlib import Path, PurePosixPath

from brug.domain.partnership import Partnership
from brug.service import Runtime


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

    history = folder / "agreement-history.md"
    parts = [f"# {p.name if p else partnership_id}: samenwerkingsakkoord, versies door brug\n"]
    for at, content in store.versions(partnership_id, "agreement"):
        parts.append(f"\n---\n\n## {at:%Y-%m-%d %H:%M}\n\n{content}")
    history.write_text("".join(parts), encoding="utf-8")
    written.append(history)
    return written
