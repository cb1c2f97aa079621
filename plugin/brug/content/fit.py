"""Making a message fit a chat platform's size limit before it is sent — one rule for every adapter.

Platforms refuse messages over their limit (Matrix: an event's JSON over 64 KiB is `M_TOO_LARGE`;
Talk: 32,000 characters), and a refused post must never wedge brug. Each adapter says how it
measures a message (`fits`); `split_to_fit` cuts the Markdown between blocks (a blank line outside
a code fence), so a long agenda arrives in numbered parts, each readable on its own. A block that
alone is too long is cut at a line, and a line at a character. Past `max_parts` the last part ends
with `more` (where the rest can be read, e.g. a link to the document).
"""

from __future__ import annotations

from collections.abc import Callable

Fits = Callable[[str], bool]

MAX_PARTS = 5
CUT = "…"


def _blocks(markdown: str) -> list[str]:
    """Top-level blocks: text between blank lines, a fenced code block kept whole, and an indented
    block kept with the list item it continues (alone at the top of a message it would be code)."""
    blocks: list[str] = []
    current: list[str] = []
    fenced = False

    def close() -> None:
        if current:
            text = "\n".join(current)
            if blocks and text[:1].isspace():
                blocks[-1] += "\n\n" + text
            else:
                blocks.append(text)
            current.clear()

    for line in markdown.split("\n"):
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        if not line.strip() and not fenced:
            close()
            continue
        current.append(line)
    close()
    return blocks


def _longest_prefix(pieces: list[str], joiner: str, fits: Fits, suffix: str) -> int:
    """How many of `pieces` (at least 0) fit together with `suffix`; binary search, as measuring costs."""
    low, high = 0, len(pieces)
    while low < high:
        mid = (low + high + 1) // 2
        if fits(joiner.join(pieces[:mid]) + suffix):
            low = mid
        else:
            high = mid - 1
    return low


def _cut(text: str, fits: Fits, suffix: str) -> tuple[str, str]:
    """The longest head of `text` that fits with `suffix` (cut at a line when possible), and the rest."""
    lines = text.split("\n")
    n = _longest_prefix(lines, "\n", fits, suffix)
    if n > 0:
        return "\n".join(lines[:n]), "\n".join(lines[n:])
    chars = list(text)
    n = max(1, _longest_prefix(chars, "", fits, CUT + suffix))
    return text[:n] + CUT, text[n:]


def split_to_fit(markdown: str, fits: Fits, *, max_parts: int = MAX_PARTS, more: str = "") -> list[str]:
    """The message as one part when it fits, else as up to `max_parts` parts that each fit."""
    text = markdown.strip("\n")
    if fits(text):
        return [markdown]
    # room for the part label ("(12/12)") and the `more` note in every part
    reserve = f"\n\n{CUT}\n\n_(00/00)_" + (f"\n\n{more}" if more else "")
    parts: list[str] = []
    rest = _blocks(text)
    while rest and len(parts) < max_parts:
        n = _longest_prefix(rest, "\n\n", fits, reserve)
        if n > 0:
            parts.append("\n\n".join(rest[:n]))
            rest = rest[n:]
        else:  # one block alone is too long: cut it
            head, tail = _cut(rest[0], fits, reserve)
            parts.append(head)
            rest = [tail, *rest[1:]] if tail.strip() else rest[1:]
    total = len(parts)
    out = [f"{part}\n\n_({i}/{total})_" for i, part in enumerate(parts, 1)]
    if rest:
        out[-1] = f"{parts[-1]}\n\n{CUT}\n\n_({total}/{total})_" + (f"\n\n{more}" if more else "")
    return [part + "\n" for part in out]
