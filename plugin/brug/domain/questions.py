"""The reflection question bank (see `workflows/questions/`)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from brug.domain.types import Bouwsteen, SeedRef, Slug, Strict, Text


class Audience(StrEnum):
    """Who a question is for: who is asked to answer it (the prompt says so)."""

    iedereen = "iedereen"
    school = "school"  # the schools (primary, secondary) at the table
    welzijn = "welzijn"  # the welfare partners
    coordinator = "coordinator"


class Setting(StrEnum):
    """What a question takes for granted about the partnership; it is only asked where that holds."""

    school = "school"  # a school (primary or secondary) takes part; a centre for basic education is no school
    welzijn = "welzijn"  # a welfare organisation takes part
    gezinnen = "gezinnen"  # the partners work with children and their parents


class QuestionKind(StrEnum):
    open = "open"
    pulse = "pulse"  # a 1-5 rating for the barometer


class Scale(Strict):
    """The labelled ends of a 1-5 pulse scale."""

    low: Text
    high: Text


class Question(Strict):
    id: Slug
    bouwsteen: Bouwsteen
    audience: Audience = Audience.iedereen
    assumes: list[Setting] = Field(default_factory=list, description="asked only in partnerships where these hold")
    phases: list[Slug] = Field(default_factory=list, description="phase ids where it fits best; empty = any")
    kind: QuestionKind = QuestionKind.open
    source: SeedRef
    text: Text
    scale: Scale | None = None

    @model_validator(mode="after")
    def _scale_for_pulse(self) -> Question:
        if self.kind is QuestionKind.pulse and self.scale is None:
            raise PydanticCustomError(
                "brug_pulse_scale", "a scale with low and high labels for a pulse item", {"loc": ("scale",)}
            )
        if self.kind is QuestionKind.open and self.scale is not None:
            raise PydanticCustomError("brug_open_scale", "no scale on an open question", {"loc": ("scale",)})
        return self


class QuestionFile(Strict):
    questions: list[Question] = Field(min_length=1)


class BouwsteenInfo(Strict):
    id: Bouwsteen
    title: Text
    summary: Text
    source: list[SeedRef] = Field(min_length=1)


class BouwsteenFile(Strict):
    bouwstenen: list[BouwsteenInfo] = Field(min_length=6, max_length=6)
