"""The product's content: phase models, question bank, bouwstenen — complete, sourced and valid."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from brug.content.library import load_library
from brug.content.problems import ProblemsFound
from brug.content.resources import data_dir
from brug.domain.questions import Audience, QuestionKind
from brug.domain.types import SEED_REF_PATTERN, Bouwsteen
from tests.conftest import ROOT, SHARED

SEEDS = SHARED / "seeds"


def seed_lengths() -> dict[str, int]:
    return {p.name[:3]: len(p.read_text(encoding="utf-8", errors="replace").splitlines()) for p in SEEDS.glob("*.txt")}


def test_question_bank_meets_its_counts(library) -> None:  # type: ignore[no-untyped-def]
    open_questions = [q for q in library.questions if q.kind is QuestionKind.open]
    assert len(open_questions) >= 60
    per_block = Counter(q.bouwsteen for q in open_questions)
    assert set(per_block) == set(Bouwsteen)
    assert min(per_block.values()) >= 8, per_block
    pulses = Counter(q.bouwsteen for q in library.questions if q.kind is QuestionKind.pulse)
    assert pulses == Counter({b: 1 for b in Bouwsteen})
    audiences = Counter(q.audience for q in library.questions)
    for audience in (Audience.school, Audience.welzijn, Audience.coordinator):
        assert audiences[audience] >= 4, audiences


def test_questions_draw_on_seeds_001_003_and_004(library) -> None:  # type: ignore[no-untyped-def]
    seeds = Counter(q.source[:3] for q in library.questions)
    assert seeds["001"] and seeds["003"] and seeds["004"], seeds


def test_question_phases_exist(library) -> None:  # type: ignore[no-untyped-def]
    phase_ids = {ph.id for model in library.phase_models.values() for ph in model.phases}
    for q in library.questions:
        assert set(q.phases) <= phase_ids, (q.id, q.phases)


def test_every_pulse_item_has_a_labelled_scale(library) -> None:  # type: ignore[no-untyped-def]
    for q in library.questions:
        if q.kind is QuestionKind.pulse:
            assert q.scale is not None and q.scale.low.nl != q.scale.high.nl


def test_both_phase_models(library) -> None:  # type: ignore[no-untyped-def]
    default = library.phase_models["samenwerken"]
    assert [p.id for p in default.phases] == [
        "vind-elkaar",
        "ja-graag",
        "draagvlak",
        "wij-wordt-ons",
        "leerkansen",
        "terugkijken",
    ]
    school = library.phase_models["school-welzijn"]
    assert all(ref.startswith("003:") for ref in school.source)
    assert "synthese" in school.description.nl and "synthesis" in school.description.en
    assert school.phases[-1].id == "afronden"
    for model in (default, school):
        for phase in model.phases:
            assert phase.checklist and phase.tips and phase.agenda and phase.exit_criteria and phase.bouwstenen


@pytest.mark.skipif(not SEEDS.is_dir(), reason="the shared seeds folder is beside the repository in CI")
def test_every_source_reference_points_into_a_seed(library) -> None:  # type: ignore[no-untyped-def]
    lengths = seed_lengths()
    refs = [q.source for q in library.questions]
    refs += [r for m in library.phase_models.values() for r in [*m.source, *(s for p in m.phases for s in p.source)]]
    refs += [r for b in library.bouwstenen.values() for r in b.source]
    for ref in refs:
        m = re.match(SEED_REF_PATTERN, ref)
        assert m, ref
        end = int(m["end"] or m["start"])
        assert m["seed"] in lengths and 1 <= int(m["start"]) <= end <= lengths[m["seed"]], ref


@pytest.mark.skipif(not (SHARED / "tools" / "seed-overlap").exists(), reason="shared tools beside the repository")
def test_content_is_written_in_own_words() -> None:
    result = subprocess.run(
        [str(SHARED / "tools" / "seed-overlap"), "templates", "workflows", "examples", "docs", "README.md"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.stdout == "", result.stdout


def test_a_users_own_phase_model_is_loaded(tmp_path: Path) -> None:
    own = tmp_path / "eigen"
    own.mkdir()
    shutil.copy(data_dir("workflows") / "phase-models" / "samenwerken.yaml", own / "kort.yaml")
    text = (own / "kort.yaml").read_text(encoding="utf-8").replace("id: samenwerken", "id: kort", 1)
    (own / "kort.yaml").write_text(text, encoding="utf-8")
    lib = load_library([own])
    assert "kort" in lib.phase_models and "samenwerken" in lib.phase_models


def test_a_broken_own_phase_model_gets_the_same_quality_of_errors(tmp_path: Path) -> None:
    own = tmp_path / "eigen"
    own.mkdir()
    (own / "fout.yaml").write_text(
        "id: fout\ntitle: {nl: Fout, en: Wrong}\ndescription: {nl: x, en: y}\nsource: ['000:1']\nphases:\n"
        "  - id: een\n    title: {nl: Een}\n",
        encoding="utf-8",
    )
    with pytest.raises(ProblemsFound) as caught:
        load_library([own])
    lines = [str(p) for p in caught.value.problems]
    assert any(
        re.match(r".*fout\.yaml:7: phases\[0\]\.title\.en: verplicht veld ontbreekt$", line) for line in lines
    ), lines
    assert any("phases[0].purpose" in line for line in lines)
    assert all(line.startswith(str(own / "fout.yaml")) for line in lines)
