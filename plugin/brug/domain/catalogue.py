"""The catalogue of Flemish organisation kinds (see `workflows/organisation-kinds.yaml`)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from brug.domain.types import Slug, Strict, Text


class Sector(StrEnum):
    onderwijs = "onderwijs"
    welzijn = "welzijn"
    bestuur = "bestuur"
    andere = "andere"


class OrganisationKind(Strict):
    id: Slug
    label: Text
    plural: Text | None = Field(default=None, description="how a group of them is named in large partnerships")
    sector: Sector
    examples: Text | None = None
    school: bool = False  # a school for children (primary, secondary): gets the questions for schools
    families: bool = False  # works with children and their parents


class OrganisationKindFile(Strict):
    kinds: list[OrganisationKind] = Field(min_length=1)
