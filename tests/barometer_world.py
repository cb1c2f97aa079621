"""A partnership with people from three sectors, for the barometer tests (local, Matrix and Talk)."""

from __future__ import annotations

import textwrap
from pathlib import Path

# (organisation id, kind, [(member id, display name)]): 3 school people, 3 welfare, 1 local government
ORGANISATIONS: list[tuple[str, str, list[str]]] = [
    ("school", "basisschool", ["ann", "bart"]),
    ("clb", "clb", ["chris"]),
    ("ocmw", "ocmw", ["dina", "emre"]),
    ("caw", "caw", ["fien"]),
    ("gemeente", "lokaal-bestuur", ["gert"]),
]


def barometer_partnership(
    folder: Path,
    pid: str = "barometer-test",
    *,
    chat: str = "local",
    ids: dict[str, tuple[str, str]] | None = None,
    extra: str = "",
    organisations: list[tuple[str, str, list[str]]] | None = None,
    language: str = "nl",
    files: str = "local",
) -> Path:
    """Write a partnership file; `ids` maps a member to its (platform field, id), e.g. ('matrix', '@ann:hs')."""
    orgs = ""
    for org, kind, members in organisations or ORGANISATIONS:
        people = "".join(
            f"      - name: {m.capitalize()} Test\n        id: {m}\n        role: Medewerker\n"
            + (f"        coordinator: true\n" if m == "ann" else "")
            + (f'        {ids[m][0]}: "{ids[m][1]}"\n' if ids and m in ids else "")
            for m in members
        )
        orgs += f"  - id: {org}\n    name: Organisatie {org}\n    kind: {kind}\n    members:\n{people}"
    text = textwrap.dedent(f"""\
        id: {pid}
        name: Barometer proef
        language: {language}
        workflow: samenwerken
        phase: ja-graag
        platforms: {{chat: [{chat}], files: {files}}}
        meetings: {{start: "2026-09-08 14:00", rrule: "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU", agenda_lead_days: 3}}
        reflection: {{start: "2026-09-25 09:00", rrule: "FREQ=MONTHLY;BYDAY=-1FR"}}
        """) + extra + "organisations:\n" + orgs
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{pid}.yaml"
    path.write_text(text, encoding="utf-8")
    return path
