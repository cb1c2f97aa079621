"""Rendering the Markdown templates in a Jinja2 sandbox.

Two kinds of text meet in a template: the product's own content (phase models, questions,
templates: trusted Markdown) and what people typed (names, goals, agenda items: untrusted). Every
`{{ … }}` output passes `finalize`, which escapes untrusted text for Markdown, so a name like
`<b>**Jan**</b>` is shown as typed wherever it lands, and markdown-it (html disabled) escapes again
on the way to HTML. Trusted text is marked by the `tr` filter and the date filters.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, tzinfo
from enum import Enum
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markdown_it import MarkdownIt

from brug.content.labels import label
from brug.content.resources import data_dir
from brug.domain.types import Language, Text


class Trusted(str):
    """Text that is already Markdown the product wrote; printed as it is."""

    __slots__ = ()


_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|#~])")
_LINE_START = re.compile(r"^(\s*)(?:([-+=])|(\d+)([.)]))(?=\s|$)", re.MULTILINE)


@lru_cache(maxsize=8192)
def md_escape(text: str) -> str:
    """Escape text a person typed so Markdown shows it literally (on one line)."""
    text = " ".join(text.split())
    text = _MD_SPECIAL.sub(r"\\\1", text)
    # a list marker at the start: '- x' -> '\- x', '1. x' -> '1\. x' (digits cannot be escaped)
    return _LINE_START.sub(lambda m: m[1] + ("\\" + m[2] if m[2] else m[3] + "\\" + m[4]), text)


_ESCAPED = re.compile(r"\\([\\`*_\[\]<>|#~.)=+-])")


def markdown_to_plain(text: str) -> str:
    """The Markdown as a person reads it without formatting: escapes removed (for plain-text bodies)."""
    return _ESCAPED.sub(r"\1", text).strip()


def _finalize(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, Trusted):
        return value
    if isinstance(value, Enum):
        return md_escape(str(value.value))
    if isinstance(value, str):
        return md_escape(value)
    return value


DAYS = {
    "nl": ("maandag", "dinsdag", "woensdag", "donderdag", "vrijdag", "zaterdag", "zondag"),
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
}
MONTHS = {
    "nl": (
        "januari",
        "februari",
        "maart",
        "april",
        "mei",
        "juni",
        "juli",
        "augustus",
        "september",
        "oktober",
        "november",
        "december",
    ),
    "en": (
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ),
}


def format_date(value: date, language: Language) -> str:
    return f"{DAYS[language][value.weekday()]} {value.day} {MONTHS[language][value.month - 1]} {value.year}"


def format_time(value: datetime) -> str:
    return f"{value.hour:02d}:{value.minute:02d}"


def format_datetime(value: datetime, language: Language) -> str:
    joiner = "om" if language == "nl" else "at"
    return f"{format_date(value, language)} {joiner} {format_time(value)}"


def format_local(value: datetime, zone: tzinfo, language: Language) -> str:
    """A moment as local time in `zone`, with the zone's name: 'dinsdag 8 september 2026 om 14:00 CEST'.

    A moment without a zone (as the store may return one) is taken to be UTC."""
    local = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(zone)
    return f"{format_datetime(local, language)} {local.tzname() or zone}"


@pass_context
def _tr(ctx: Context, value: Text | None) -> Trusted:
    if value is None:
        return Trusted("")
    return Trusted(value(ctx["lang"]))


@pass_context
def _date(ctx: Context, value: date | None) -> Trusted:
    return Trusted("" if value is None else format_date(value, ctx["lang"]))


def _time(value: datetime | None) -> Trusted:
    return Trusted("" if value is None else format_time(value))


@pass_context
def _datetime(ctx: Context, value: datetime | None) -> Trusted:
    return Trusted("" if value is None else format_datetime(value, ctx["lang"]))


def _code(value: str | None) -> Trusted:
    """Text shown exactly as typed, as a Markdown code span (with enough backticks around it)."""
    text = " ".join(str(value or "").split())
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return Trusted(f"{fence}{pad}{text}{pad}{fence}")


@pass_context
def _label(ctx: Context, value: Any) -> Trusted:
    if value is None:
        return Trusted("")
    text = label(value, ctx["lang"], ctx.get("bouwstenen"))
    return Trusted(md_escape(text))


class Renderer:
    """Renders `templates/<lang>/<name>.md.j2`, looking first in an override folder when given."""

    def __init__(self, override: Path | None = None) -> None:
        self._envs: dict[Language, Environment] = {}
        self._override = override

    def env(self, language: Language) -> Environment:
        """Templates from outside brug (an override folder) run in Jinja2's sandbox; brug's own
        templates, which ship with the code, run in a plain environment with the same filters and
        the same escaping of people's text (the sandbox costs ~40% of rendering time)."""
        if language not in self._envs:
            folders: list[Path] = []
            if self._override is not None:
                folders.append(self._override / language)
            folders.append(data_dir("templates") / language)
            kind = ImmutableSandboxedEnvironment if self._override is not None else Environment
            env = kind(
                loader=FileSystemLoader([str(f) for f in folders]),
                autoescape=False,
                trim_blocks=True,
                lstrip_blocks=True,
                keep_trailing_newline=True,
                undefined=StrictUndefined,
                finalize=_finalize,
                auto_reload=False,
                cache_size=-1,
            )
            env.filters.update(tr=_tr, date=_date, time=_time, datetime=_datetime, label=_label, code=_code)
            self._envs[language] = env
        return self._envs[language]

    def render(self, name: str, language: Language, **context: Any) -> str:
        template = self.env(language).get_template(f"{name}.md.j2")
        text = template.render(lang=language, **context)
        return _tidy(text)

    def names(self, language: Language) -> Sequence[str]:
        return sorted(n.removesuffix(".md.j2") for n in self.env(language).list_templates(extensions=["j2"]))


def _tidy(text: str) -> str:
    """No trailing spaces, at most one blank line in a row, and exactly one newline at the end."""
    out: list[str] = []
    blank = False
    for line in text.strip("\n").split("\n"):
        line = line.rstrip(" \t")
        if not line:
            if blank:
                continue
            blank = True
        else:
            blank = False
        out.append(line)
    return "\n".join(out) + "\n"


_MARKDOWN = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable(["table", "strikethrough"])


def markdown_to_html(text: str) -> str:
    """HTML for chat messages; raw HTML in the input is shown as text, never interpreted."""
    return _MARKDOWN.render(text).strip()
