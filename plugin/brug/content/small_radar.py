"""The barometer's radar in small, for one row of the coordinators' portfolio.

The same picture as `content/radar.py` at a tenth of the size: the six bouwstenen clockwise from
the top in the same order, this round (Okabe–Ito blue, solid, dots) against the previous one
(orange, dashed, squares), so the two stay apart for colour-blind readers and in grey. There is
no room for names or figures: each axis carries the bouwsteen's initial, a dashed ring marks 2.5
(the portfolio's "needs attention" line), and the `<title>` is the picture's text alternative —
every mean with its trend arrow, which the page also shows as text.

The grid (rings, axes, initials) is the same in every small radar of a language: a page defines it
once (`grid_defs`) and each radar refers to it (`<use>`), so a thousand rows stay light. A radar is
cached by its figures: it only changes when a round closes.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from xml.sax.saxutils import escape

from brug.content.radar import AXES, CURRENT, PREVIOUS
from brug.domain.types import Language

SIZE = 120  # the viewBox; shown at 112 px
CX = CY = 60.0
R = 42.0
ATTENTION = 2.5
# each axis, clockwise from the top, as a unit vector (the same directions as the large radar)
_DIRECTIONS = [(0.0, -1.0), (0.866, -0.5), (0.866, 0.5), (0.0, 1.0), (-0.866, 0.5), (-0.866, -0.5)]
# one letter per axis, in AXES order, each the key word of the bouwsteen's name (unique per language)
INITIAL: dict[Language, tuple[str, ...]] = {"nl": ("D", "R", "B", "V", "A", "C"), "en": ("G", "R", "I", "T", "A", "C")}


def _point(i: int, value: float) -> tuple[float, float]:
    dx, dy = _DIRECTIONS[i]
    r = R * value / 5
    return CX + dx * r, CY + dy * r


def _ring(value: float) -> str:
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in (_point(i, value) for i in range(len(AXES))))


def grid_id(language: Language) -> str:
    return f"brug-mini-grid-{language}"


DOT, SQUARE = "brug-mini-dot", "brug-mini-square"  # the two rounds' markers


@functools.cache
def grid_defs(language: Language) -> str:
    """The shared grid and markers, to put once in a page (inside an `<svg>` that is itself hidden)."""
    parts = [
        f'<marker id="{DOT}" viewBox="0 0 10 10" refX="5" refY="5" markerWidth="10" markerHeight="10" '
        f'markerUnits="userSpaceOnUse"><circle cx="5" cy="5" r="4" fill="{CURRENT}" stroke="#fff" stroke-width="1"/>'
        "</marker>",
        f'<marker id="{SQUARE}" viewBox="0 0 7 7" refX="3.5" refY="3.5" markerWidth="7" markerHeight="7" '
        f'markerUnits="userSpaceOnUse"><rect width="7" height="7" fill="{PREVIOUS}"/></marker>',
        f'<g id="{grid_id(language)}">',
        f'<polygon points="{_ring(5)}" fill="#fff" stroke="#9a9a9a" stroke-width="1"/>',
        f'<polygon points="{_ring(ATTENTION)}" fill="none" stroke="#9a9a9a" stroke-width="1" stroke-dasharray="3 3"/>',
    ]
    for i in range(len(AXES)):
        x, y = _point(i, 5)
        parts.append(f'<line x1="{CX}" y1="{CY}" x2="{x:.1f}" y2="{y:.1f}" stroke="#c8c8c8" stroke-width="1"/>')
        lx, ly = _point(i, 6.25)
        parts.append(
            f'<text x="{lx:.1f}" y="{ly + 4:.1f}" font-size="11" font-weight="bold" text-anchor="middle" '
            f'fill="#333">{escape(INITIAL[language][i])}</text>'
        )
    parts.append("</g>")
    return "".join(parts)


def _series(values: Sequence[float | None], colour: str, previous: bool) -> str:
    """One round: a polygon with a marker on each corner, or, when a bouwsteen may not be shown, only
    the sides between two that may and a marker on each point."""
    points = [_point(i, v) if v is not None else None for i, v in enumerate(values)]
    style = f'stroke="{colour}" stroke-width="{1.5 if previous else 2.5}" stroke-linejoin="round"'
    if previous:
        style += ' stroke-dasharray="4 3"'
    marker = f"url(#{SQUARE if previous else DOT})"
    if all(p is not None for p in points):
        fill = 'fill="none"' if previous else f'fill="{colour}" fill-opacity="0.2"'
        corners = " ".join(f"{x:.0f},{y:.0f}" for x, y in points)  # type: ignore[misc]
        return f'<polygon points="{corners}" {fill} {style} marker-start="{marker}" marker-mid="{marker}"/>'
    out = []
    for i, p in enumerate(points):
        q = points[(i + 1) % len(points)]
        if p is not None and q is not None:
            out.append(f'<line x1="{p[0]:.0f}" y1="{p[1]:.0f}" x2="{q[0]:.0f}" y2="{q[1]:.0f}" {style}/>')
    known = [p for p in points if p is not None]
    if known:  # a zero-length path per point carries its marker
        out.append(f'<path d="{" ".join(f"M{x:.0f} {y:.0f}h0" for x, y in known)}" fill="none" stroke="none" '
                   f'marker-start="{marker}" marker-mid="{marker}" marker-end="{marker}"/>')
    return "".join(out)


@functools.lru_cache(maxsize=8192)
def small_radar(
    language: Language,
    current: tuple[float | None, ...],
    previous: tuple[float | None, ...] | None,
    text: str,
) -> str:
    """The small radar as inline SVG: `current` and `previous` are the means in `AXES` order (None: not
    shown), `text` its text alternative. Needs the page's `grid_defs(language)`."""
    return (
        f'<svg class="mini-radar" viewBox="0 0 {SIZE} {SIZE}" width="112" height="112" role="img" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(text)}</title>'
        f'<use href="#{grid_id(language)}"/>'
        + (_series(previous, PREVIOUS, previous=True) if previous is not None else "")
        + _series(current, CURRENT, previous=False)
        + "</svg>"
    )
