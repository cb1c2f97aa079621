"""Human labels for the enum values that appear in documents and messages."""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Any

from brug.domain.types import Language

LABELS: dict[str, dict[Language, str]] = {
    # form of collaboration (seed 002)
    "overleg": {"nl": "overleg", "en": "consultation"},
    "ad-hoc": {"nl": "ad-hocsamenwerking", "en": "one-off collaboration"},
    "netwerk": {"nl": "netwerk", "en": "network"},
    "fusie": {"nl": "fusie", "en": "merger"},
    # mandate
    "terugkoppeling": {"nl": "koppelt terug naar de eigen organisatie", "en": "reports back to their organisation"},
    "beslissing": {"nl": "mag beslissen namens de organisatie", "en": "may decide for their organisation"},
    # actor
    "noodzakelijk": {"nl": "noodzakelijke partner", "en": "core partner"},
    "omkadering": {"nl": "omkaderende partner", "en": "supporting partner"},
    # audience
    "iedereen": {"nl": "iedereen", "en": "everyone"},
    "school": {"nl": "scholen", "en": "schools"},
    "welzijn": {"nl": "welzijnspartners", "en": "welfare partners"},
    "coordinator": {"nl": "coördinatoren", "en": "coordinators"},
    # sector
    "onderwijs": {"nl": "onderwijs", "en": "education"},
    "bestuur": {"nl": "lokaal bestuur", "en": "local government"},
    "andere": {"nl": "andere", "en": "other"},
}


def label(value: Any, language: Language, bouwstenen: Mapping[Any, Any] | None = None) -> str:
    key = value.value if isinstance(value, Enum) else str(value)
    if bouwstenen:
        info = bouwstenen.get(key)
        if info is not None:
            return info.title(language)
    entry = LABELS.get(key)
    return entry[language] if entry else key
