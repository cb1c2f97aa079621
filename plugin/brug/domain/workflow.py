"""Phase models: the route a partnership walks, as data (see `workflows/phase-models/`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from brug.domain.agreement import Renewal
from brug.domain.partnership import Actor
from brug.domain.types import Bouwsteen, SeedRef, Slug, Strict, Text


class ChecklistItem(Strict):
    id: Slug
    text: Text


class Section(Strict):
    """A heading of a phase document with a short prompt that tells partners what to write there."""

    title: Text
    prompt: Text


class DocumentSpec(Strict):
    """A document a phase asks the partners to make, created from the generic document template."""

    id: Slug
    title: Text
    purpose: Text
    sections: list[Section] = Field(min_length=1)


class AgendaItem(Strict):
    title: Text
    minutes: int | None = Field(default=None, ge=1, le=240)
    note: Text | None = None
    # when a meeting is too short for every item: high ones keep their place first, low ones go first
    priority: Literal["high", "normal", "low"] = "normal"


class Room(Strict):
    """A chat room every partnership following this model gets, and which actors are in it (seed 002:
    necessary actors take part everywhere; supporting ones follow the general room, not every prompt)."""

    id: Slug
    name: Text
    topic: Text
    actors: list[Actor] = Field(default_factory=lambda: [Actor.noodzakelijk, Actor.omkadering], min_length=1)


class Phase(Strict):
    id: Slug
    title: Text
    purpose: Text
    checklist: list[ChecklistItem] = Field(min_length=3)
    tips: list[Text] = Field(min_length=1)
    documents: list[DocumentSpec] = Field(default_factory=list)
    agenda: list[AgendaItem] = Field(min_length=2)
    bouwstenen: list[Bouwsteen] = Field(min_length=1, max_length=6)
    exit_criteria: list[Text] = Field(min_length=1)
    source: list[SeedRef] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_inner_ids(self) -> Phase:
        _unique("checklist", [c.id for c in self.checklist])
        _unique("documents", [d.id for d in self.documents])
        return self


DEFAULT_ROOMS = (
    Room(
        id="algemeen",
        name=Text(nl="Algemeen", en="General"),
        topic=Text(nl="Alles over de samenwerking", en="Everything about the partnership"),
    ),
    Room(
        id="overleg",
        name=Text(nl="Overleg", en="Meetings"),
        topic=Text(nl="Agenda's, verslagen en acties", en="Agendas, minutes and actions"),
    ),
    Room(
        id="reflectie",
        name=Text(nl="Reflectie", en="Reflection"),
        topic=Text(nl="Samen terugkijken", en="Looking back together"),
        actors=[Actor.noodzakelijk],  # reflection prompts are for those who do the work together
    ),
)


class PhaseModel(Strict):
    id: Slug
    title: Text
    description: Text
    source: list[SeedRef] = Field(min_length=1)
    rooms: list[Room] = Field(default_factory=lambda: list(DEFAULT_ROOMS))
    agreement_renewal: Renewal | None = Field(
        default=None, description="how the agreement is renewed when the form renews it (default: the form's rule)"
    )
    phases: list[Phase] = Field(min_length=2)

    @model_validator(mode="after")
    def _consistent(self) -> PhaseModel:
        _unique("phases", [p.id for p in self.phases])
        rooms = [r.id for r in self.rooms]
        _unique("rooms", rooms)
        for needed in ("algemeen", "overleg", "reflectie"):
            if needed not in rooms:
                raise PydanticCustomError(
                    "brug_missing_room", "a room with id '{value}'", {"value": needed, "loc": ("rooms",)}
                )
        return self

    def phase(self, phase_id: str) -> Phase:
        return next(p for p in self.phases if p.id == phase_id)

    def has_phase(self, phase_id: str) -> bool:
        return any(p.id == phase_id for p in self.phases)

    def index(self, phase_id: str) -> int:
        return next(i for i, p in enumerate(self.phases) if p.id == phase_id)

    def next_phase(self, phase_id: str) -> Phase | None:
        i = self.index(phase_id) + 1
        return self.phases[i] if i < len(self.phases) else None

    def reached(self, phase_id: str) -> list[Phase]:
        """The phases up to and including `phase_id`: the ones whose material the workspace holds."""
        return self.phases[: self.index(phase_id) + 1]


def _unique(field: str, ids: list[str]) -> None:
    seen: set[str] = set()
    for i, value in enumerate(ids):
        if value in seen:
            raise PydanticCustomError(
                "brug_duplicate_id", "unique ids ('{value}' is used twice)", {"value": value, "loc": (field, i, "id")}
            )
        seen.add(value)
