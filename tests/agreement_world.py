"""A partnership of three organisations for the agreement's sign-off story, on any platform.

School and OCMW each have one member who may decide; the CLB has a member who reports back and a
member who may decide; a supporting member of the local government is kept informed only.
"""

from __future__ import annotations

from pathlib import Path


def people(matrix: dict[str, str] | None = None) -> dict[str, str]:
    """Member key -> the platform id written in the file (Matrix ids when given)."""
    keys = ("hilde", "bart", "annelies", "kris", "wim")
    return {k: (matrix or {}).get(k, "") for k in keys}


def write_partnership(
    folder: Path, pid: str, files: str = "local", chat: str = "local", ids: dict[str, str] | None = None
) -> Path:
    ids = ids or {}

    def member(key: str, name: str, role: str, mandate: str, actor: str = "noodzakelijk", extra: str = "") -> str:
        mx = f', matrix: "{ids[key]}"' if ids.get(key) else ""
        return f"      - {{id: {key}, name: {name}, role: {role}, mandate: {mandate}, actor: {actor}{mx}{extra}}}\n"

    text = (
        f"id: {pid}\nname: Drie partners rond de schoolpoort\nworkflow: samenwerken\nphase: ja-graag\nform: netwerk\n"
        f"platforms: {{chat: [{chat}], files: {files}}}\n"
        'meetings: {start: "2026-12-01 14:00", rrule: "FREQ=MONTHLY;BYDAY=+1TU"}\n'
        "organisations:\n"
        "  - id: school\n    name: Basisschool De Linde\n    kind: basisschool\n    members:\n"
        + member("hilde", "Hilde Maes", "Directeur", "beslissing", extra=", coordinator: true")
        + "  - id: ocmw\n    name: OCMW Ouderzele\n    kind: ocmw\n    members:\n"
        + member("bart", "Bart Van Hoof", "Diensthoofd", "beslissing")
        + "  - id: clb\n    name: CLB Brakelveld\n    kind: clb\n    members:\n"
        + member("annelies", "Annelies Bogaert", "CLB-medewerker", "terugkoppeling")
        + member("kris", "Kris Claes", "Directeur CLB", "beslissing")
        + "  - id: gemeente\n    name: Gemeente Ouderzele\n    kind: lokaal-bestuur\n    members:\n"
        + member("wim", "Wim Peeters", "Beleidsmedewerker", "terugkoppeling", actor="omkadering")
    )
    path = folder / f"{pid}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def edit(text: str, heading: str, addition: str) -> str:
    """A person's edit: a sentence added under one heading (as someone would in Nextcloud Text)."""
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("## ") and heading in line)
    lines.insert(at + 2, addition + "\n")
    return "\n".join(lines) + "\n"
