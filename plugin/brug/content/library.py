"""The product's content as loaded data: phase models, question bank, bouwstenen, organisation kinds.

Everything is validated on load with the same one-line problems as partnership files, so a
coordinator who adds an own phase model gets the same quality of errors as for a partnership.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from brug.content.problems import (
    Problem,
    ProblemsFound,
    display_path,
    message,
    os_reason,
    problems_from_validation,
    yaml_reason,
)
from brug.content.resources import data_dir
from brug.content.yamlfile import YamlDocument, YamlError, load_yaml_file
from brug.domain.catalogue import OrganisationKind, OrganisationKindFile
from brug.domain.forms import FormFile, FormSpec
from brug.domain.privacy import PrivacyRules
from brug.domain.questions import BouwsteenFile, BouwsteenInfo, Question, QuestionFile
from brug.domain.signals import SignalCatalogue
from brug.domain.types import Bouwsteen, Language, strip_controls
from brug.domain.workflow import PhaseModel

M = TypeVar("M", bound=BaseModel)


def read_model(path: Path, model: type[M], language: Language = "nl") -> tuple[M | None, list[Problem]]:
    """Read and validate one YAML file. Never raises for bad content: problems are returned."""
    name = display_path(path)
    try:
        document = load_yaml_file(path)
    except YamlError as err:
        text = message(err.kind, language, reason=yaml_reason(str(err), language), **err.ctx)
        return None, [Problem(name, err.loc, text, err.line)]
    except OSError as err:
        return None, [Problem(name, (), message("brug_unreadable", language, reason=os_reason(err, language)))]
    return validate_document(document, name, model, language)


def validate_document(
    document: YamlDocument,
    name: str,
    model: type[M],
    language: Language = "nl",
) -> tuple[M | None, list[Problem]]:
    if not isinstance(document.data, dict):
        return None, [Problem(name, (), message("brug_not_mapping", language), 1)]
    try:
        # JSON mode: strict about types, but enum values and ISO times may be written as text
        return model.model_validate_json(json.dumps(_plain(document.data))), []
    except ValidationError as err:
        return None, problems_from_validation(err, name, document, model, language)


def _plain(value: Any) -> Any:
    """YAML can hold what JSON cannot (binary, complex keys); such parts become visibly wrong values.

    Control characters written as escapes ("\\0", "\\e") are taken out here, like raw ones on reading.
    """
    if isinstance(value, dict):
        return {_key(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, str):
        return strip_controls(value)
    if value is None or isinstance(value, int | float | bool):
        return value
    return f"<{type(value).__name__}>"


def _key(key: Any) -> str:
    return strip_controls(key) if isinstance(key, str) else f"<{type(key).__name__}>"


@dataclass(frozen=True)
class Library:
    phase_models: dict[str, PhaseModel]
    questions: tuple[Question, ...]
    bouwstenen: dict[Bouwsteen, BouwsteenInfo]
    kinds: dict[str, OrganisationKind]
    signals: SignalCatalogue  # themes and levels of signals to policy
    privacy: PrivacyRules  # what looks like a personal case and is refused
    forms: dict[str, FormSpec]

    def questions_for(self, bouwsteen: Bouwsteen) -> list[Question]:
        return [q for q in self.questions if q.bouwsteen == bouwsteen]

    @cached_property
    def question_by_id(self) -> dict[str, Question]:
        """The question bank by id (a reconcile looks questions up for every partnership)."""
        return {q.id: q for q in self.questions}


def load_library(
    extra_phase_model_dirs: Sequence[Path] = (), language: Language = "nl", root: Path | None = None
) -> Library:
    """Load the built-in content (and a user's own phase models); raise ProblemsFound if any is wrong."""
    root = root or data_dir("workflows")
    problems: list[Problem] = []

    def take(path: Path, model: type[M]) -> M | None:
        value, found = read_model(path, model, language)
        problems.extend(found)
        return value

    models: dict[str, PhaseModel] = {}
    model_files = [*_yaml_files(root / "phase-models")]
    for folder in extra_phase_model_dirs:
        if not folder.is_dir():
            problems.append(
                Problem(
                    display_path(folder),
                    (),
                    message(
                        "brug_unreadable",
                        language,
                        reason="folder not found" if language == "en" else "map niet gevonden",
                    ),
                )
            )
            continue
        model_files += _yaml_files(folder)
    for path in model_files:
        model = take(path, PhaseModel)
        if model is None:
            continue
        if model.id in models:
            problems.append(
                Problem(display_path(path), ("id",), message("brug_duplicate_id", language, value=model.id))
            )
        models[model.id] = model

    questions: list[Question] = []
    for path in _yaml_files(root / "questions"):
        bank = take(path, QuestionFile)
        if bank:
            questions.extend(bank.questions)
    seen: set[str] = set()
    for q in questions:
        if q.id in seen:
            problems.append(
                Problem("workflows/questions", ("questions", q.id), message("brug_duplicate_id", language, value=q.id))
            )
        seen.add(q.id)

    blocks = take(root / "bouwstenen.yaml", BouwsteenFile)
    kinds = take(root / "organisation-kinds.yaml", OrganisationKindFile)
    forms = take(root / "forms.yaml", FormFile)
    for form in forms.forms if forms else []:
        if form.phase_model is not None and form.phase_model not in models:
            problems.append(
                Problem(
                    "workflows/forms.yaml",
                    ("forms", form.id.value, "phase_model"),
                    f"fasemodel '{form.phase_model}' bestaat niet"
                    if language == "nl"
                    else f"phase model '{form.phase_model}' does not exist",
                )
            )
    signals = take(root / "signals.yaml", SignalCatalogue)
    privacy = take(root / "privacy-rules.yaml", PrivacyRules)
    if problems:
        raise ProblemsFound(problems)
    assert blocks is not None and kinds is not None and signals is not None and privacy is not None
    assert forms is not None
    return Library(
        phase_models=models,
        questions=tuple(questions),
        bouwstenen={b.id: b for b in blocks.bouwstenen},
        kinds={k.id: k for k in kinds.kinds},
        signals=signals,
        privacy=privacy,
        forms={f.id.value: f for f in forms.forms},
    )


def _yaml_files(folder: Path) -> Iterable[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
