"""Reading partnership files: shape (pydantic), references (phase model, phase, kinds), uniqueness."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from brug.content.library import Library, read_model
from brug.content.problems import Problem, display_path, message
from brug.content.yamlfile import load_yaml_file
from brug.domain.checks import Finding, check_references
from brug.domain.partnership import Partnership
from brug.domain.types import Language

WHAT: dict[str, dict[Language, str]] = {
    "phase_model": {"nl": "een fasemodel", "en": "a phase model"},
    "phase": {"nl": "een fase van fasemodel '{model}'", "en": "a phase of phase model '{model}'"},
    "kind": {"nl": "een organisatietype uit de catalogus", "en": "an organisation kind from the catalogue"},
}
CHOOSE: dict[Language, str] = {"nl": "; kies uit: {0}", "en": "; choose from: {0}"}
MEAN: dict[Language, str] = {"nl": "; bedoel je '{0}'?", "en": "; did you mean '{0}'?"}


@dataclass(frozen=True)
class LoadedPartnership:
    path: Path
    partnership: Partnership


def partnership_files(paths: Iterable[Path]) -> list[Path]:
    """Files named directly, plus every *.yaml / *.yml in folders named (not recursive)."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out += sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
        else:
            out.append(path)
    return out


def load_partnership(
    path: Path, library: Library, language: Language = "nl"
) -> tuple[Partnership | None, list[Problem]]:
    p, problems = read_model(path, Partnership, language)
    if p is None:
        return None, problems
    form = library.forms[p.form.value]
    if "workflow" not in p.model_fields_set and form.phase_model is not None:
        p = p.model_copy(update={"workflow": form.phase_model})  # the form's phase path, e.g. ad-hoc: light
    findings = check_references(p, library.phase_models, library.kinds)
    if not findings:
        return p, []
    document = load_yaml_file(path)
    name = display_path(path)
    return None, [Problem(name, f.loc, _finding_message(f, language), document.line_of(f.loc)) for f in findings]


def load_partnerships(
    paths: Sequence[Path], library: Library, language: Language = "nl"
) -> tuple[list[LoadedPartnership], list[Problem]]:
    loaded: list[LoadedPartnership] = []
    problems: list[Problem] = []
    where: dict[str, Path] = {}
    for path in partnership_files(paths):
        if not path.exists():
            problems.append(
                Problem(
                    display_path(path),
                    (),
                    message(
                        "brug_unreadable",
                        language,
                        reason="file not found" if language == "en" else "bestand niet gevonden",
                    ),
                )
            )
            continue
        p, found = load_partnership(path, library, language)
        problems += found
        if p is None:
            continue
        if p.id in where:
            problems.append(
                Problem(
                    display_path(path),
                    ("id",),
                    message("brug_duplicate_id", language, value=p.id) + f" ({display_path(where[p.id])})",
                    load_yaml_file(path).line_of(("id",)),
                )
            )
            continue
        where[p.id] = path
        loaded.append(LoadedPartnership(path, p))
    return loaded, problems


def _finding_message(f: Finding, language: Language) -> str:
    ctx = dict(f.ctx)
    choices: list[str] = ctx.pop("choices", [])
    close = difflib.get_close_matches(str(ctx.get("value")), choices, n=1, cutoff=0.6)
    shown = ", ".join(choices[:12]) + (", …" if len(choices) > 12 else "")
    hint = MEAN[language].format(close[0]) if close else CHOOSE[language].format(shown)
    expected = WHAT[ctx.pop("what")][language].format(**ctx)
    return message(f.kind, language, expected=expected, hint=hint, **ctx)
