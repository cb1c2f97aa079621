"""Where the built-in data lives: inside the installed wheel, or in the source checkout."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

_PACKAGE = Path(__file__).resolve().parents[1]


def data_dir(name: Literal["workflows", "templates"]) -> Path:
    packaged = _PACKAGE / "_data" / name  # the wheel maps workflows/ and templates/ here
    if packaged.is_dir():
        return packaged
    return _PACKAGE.parents[1] / name  # a checkout: plugin/brug -> repository root
