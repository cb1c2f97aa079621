"""Checks that relate a partnership to the phase models and the catalogue of organisation kinds."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from brug.domain.partnership import Partnership
from brug.domain.types import Loc
from brug.domain.workflow import PhaseModel


@dataclass(frozen=True)
class Finding:
    loc: Loc
    kind: str
    ctx: dict[str, Any] = field(default_factory=dict)


def check_references(p: Partnership, models: Mapping[str, PhaseModel], kinds: Collection[str]) -> list[Finding]:
    found: list[Finding] = []
    model = models.get(p.workflow)
    if model is None:
        found.append(
            Finding(
                ("workflow",),
                "brug_unknown_ref",
                {"what": "phase_model", "value": p.workflow, "choices": sorted(models)},
            )
        )
    elif not model.has_phase(p.phase):
        found.append(
            Finding(
                ("phase",),
                "brug_unknown_ref",
                {"what": "phase", "value": p.phase, "choices": [ph.id for ph in model.phases], "model": model.id},
            )
        )
    for i, org in enumerate(p.organisations):
        if org.kind not in kinds:
            found.append(
                Finding(
                    ("organisations", i, "kind"),
                    "brug_unknown_ref",
                    {"what": "kind", "value": org.kind, "choices": sorted(kinds)},
                )
            )
    return found
