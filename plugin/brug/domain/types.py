"""Small value types shared by every domain model."""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, StringConstraints
from pydantic_core import PydanticCustomError

Loc = tuple[str | int, ...]  # a path to a field: ("organisations", 1, "members", 0, "matrix")
Language = Literal["nl", "en"]
LANGUAGES: tuple[Language, ...] = ("nl", "en")

SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
Slug = Annotated[str, StringConstraints(pattern=SLUG_PATTERN, min_length=1, max_length=64)]
NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]

# A reference into a seed document: "001:264" or "000:365-425" (seed file number : line or range).
SEED_REF_PATTERN = r"^(?P<seed>\d{3}):(?P<start>\d+)(?:-(?P<end>\d+))?$"
SeedRef = Annotated[str, StringConstraints(pattern=SEED_REF_PATTERN)]


class Strict(BaseModel):
    """Base for every model read from a file: unknown fields are errors, values are not coerced."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Text(Strict):
    """A text in both product languages. Dutch comes first and both are required."""

    nl: NonEmpty
    en: NonEmpty

    def __call__(self, language: Language) -> str:
        return self.nl if language == "nl" else self.en


class Bouwsteen(StrEnum):
    """The six building blocks of seed 001, by short id."""

    doel = "doel"
    relatie = "relatie"
    betrokkenheid = "betrokkenheid"
    vertrouwen = "vertrouwen"
    afstemming = "afstemming"
    communicatie = "communicatie"

    # Each name equals its value, so hashing as the text does is the same hash, computed in C (Enum's
    # own __hash__ runs in Python and dominated counting barometer votes).
    __hash__ = str.__hash__


# C0 and C1 control characters (but tab and newline) and the bidirectional overrides that can make a
# text read differently from what it is: none belongs in a document, a chat message or a terminal.
_CONTROLS = dict.fromkeys(
    [*range(0x00, 0x09), *range(0x0B, 0x20), *range(0x7F, 0xA0), *range(0x202A, 0x202F), *range(0x2066, 0x206A)]
)


def strip_controls(text: str) -> str:
    """The text without control characters (tab and newline stay); for every text brug takes in."""
    return text.translate(_CONTROLS)


_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def slugify(text: str) -> str:
    """Lower-case ASCII slug: 'Ré Vandenbroucke' -> 're-vandenbroucke'."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return _NOT_SLUG.sub("-", ascii_text.lower()).strip("-") or "x"


_DATETIME_FORMATS = ("%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S")
# those formats with two-digit fields (ISO 8601), which datetime.fromisoformat reads the same, in C
_ISO_LOCAL = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}(?::[0-9]{2})?")


YEARS = range(2000, 2200)  # a rhythm's start or a date outside these is a typo, and costly to expand


def _parse_local_datetime(value: object) -> object:
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            raise PydanticCustomError("brug_local_datetime", "local time without a UTC offset", {"value": str(value)})
        return _in_years(value)
    if isinstance(value, str):
        if _ISO_LOCAL.fullmatch(text := value.strip()):  # the usual form
            try:
                return _in_years(datetime.fromisoformat(text))
            except ValueError:
                pass  # not a real moment: the formats below say so
        for fmt in _DATETIME_FORMATS:
            try:
                parsed = datetime.strptime(value.strip(), fmt)
            except ValueError:
                continue
            return _in_years(parsed)
        raise PydanticCustomError("brug_local_datetime", "local time like 2026-09-08 14:00", {"value": value})
    return value


def _in_years(moment: datetime) -> datetime:
    if moment.year not in YEARS:
        raise PydanticCustomError(
            "brug_year", "a year from {low} to {high}", {"low": YEARS.start, "high": YEARS.stop - 1}
        )
    return moment


def _parse_date(value: object) -> object:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise PydanticCustomError("brug_date", "a date like 2027-06-30", {"value": str(value)})


# A wall-clock time in the partnership's own time zone, written "2026-09-08 14:00".
LocalDateTime = Annotated[datetime, BeforeValidator(_parse_local_datetime)]
Day = Annotated[date, BeforeValidator(_parse_date)]
