"""The web pages' and mails' templates: `templates/<lang>/web/*.j2`, in the same Jinja2 sandbox.

HTML templates are autoescaped (what a person typed is shown as typed); the plain-text mail is not.
"""

from __future__ import annotations

from functools import lru_cache

from jinja2 import FileSystemLoader, StrictUndefined, select_autoescape
from jinja2.sandbox import ImmutableSandboxedEnvironment

from brug.content.resources import data_dir
from brug.domain.types import Language


@lru_cache(maxsize=4)
def page_env(language: Language) -> ImmutableSandboxedEnvironment:
    return ImmutableSandboxedEnvironment(
        loader=FileSystemLoader(str(data_dir("templates") / language / "web")),
        autoescape=select_autoescape(["html", "html.j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def stylesheet() -> str:
    return (data_dir("templates") / "web.css").read_text(encoding="utf-8")
