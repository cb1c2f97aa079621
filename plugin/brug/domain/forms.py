"""The forms of collaboration as data (`workflows/forms.yaml`): what each form expects of a partnership."""

from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from brug.domain.agreement import Renewal
from brug.domain.partnership import Form
from brug.domain.types import SeedRef, Slug, Strict, Text


class AgreementSpec(Strict):
    """The agreement document a form asks for: its title and its sections, in order."""

    title: Text
    sections: list[Slug] = Field(min_length=2)


class FormSpec(Strict):
    id: Form
    label: Text
    description: Text
    renewal: Renewal
    phase_model: Slug | None = Field(default=None, description="the phase model when the file names none")
    agreement: AgreementSpec
    source: list[SeedRef] = Field(min_length=1)


class FormFile(Strict):
    forms: list[FormSpec]

    @model_validator(mode="after")
    def _every_form_once(self) -> FormFile:
        ids = [f.id for f in self.forms]
        missing = [f.value for f in Form if f not in ids]
        if missing or len(set(ids)) != len(ids):
            raise PydanticCustomError(
                "brug_forms", "every form exactly once ({value})", {"value": ", ".join(f.value for f in Form)}
            )
        return self
