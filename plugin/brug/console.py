"""The terminal boundary: brug's own markup gives style, every other text is shown exactly as written.

A name like `Netwerk [/bold]` or `[pilot]` comes from a partnership file, a chat message or a
platform; Rich would read it as markup (a traceback, or a word that vanishes). So the consoles here
never parse markup in what they print, and `styled` is the one place where brug's own markup meets
such texts: it escapes each value (and takes out control characters) before parsing the template.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.text import Text

from brug.domain.types import strip_controls


def console(*, stderr: bool = False) -> Console:
    """A console that prints strings as plain text: no markup, no guessing of colours."""
    return Console(stderr=stderr, markup=False, highlight=False, soft_wrap=True)


def styled(template: str, *args: Any, **values: Any) -> Text:
    """brug's own markup in `template` (str.format fields), each value shown as text: `styled('[bold]{}[/]', name)`."""
    return Text.from_markup(template.format(*map(_as_text, args), **{k: _as_text(v) for k, v in values.items()}))


def _as_text(value: Any) -> str:
    return escape(strip_controls(str(value)))
