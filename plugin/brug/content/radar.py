"""The barometer's picture: a radar of the six bouwstenen, this round against the previous one.

Plain SVG 1.1 (no script, no external fonts or images), so it shows the same in Nextcloud Text,
Element, a browser and on paper. Colour-blind safe: the two rounds differ in colour (Okabe–Ito blue
and orange), in line style (solid / dashed) and in marker shape (dot / square), so they stay apart
in grey print too. Labels are in the partnership's language.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from xml.sax.saxutils import escape

from brug.domain.types import Bouwsteen, Language

SHORT: dict[Bouwsteen, dict[Language, str]] = {
    Bouwsteen.doel: {"nl": "Gemeenschappelijk doel", "en": "Common goal"},
    Bouwsteen.relatie: {"nl": "Relatie", "en": "Relationship"},
    Bouwsteen.betrokkenheid: {"nl": "Betrokkenheid", "en": "Involvement"},
    Bouwsteen.vertrouwen: {"nl": "Respect en vertrouwen", "en": "Respect and trust"},
    Bouwsteen.afstemming: {"nl": "Afstemming en taken", "en": "Alignment and tasks"},
    Bouwsteen.communicatie: {"nl": "Communicatie", "en": "Communication"},
}
CURRENT = "#0072B2"  # Okabe–Ito blue
PREVIOUS = "#E69F00"  # Okabe–Ito orange
TOO_FEW = {"nl": "te weinig antwoorden", "en": "too few answers"}
WIDTH, HEIGHT = 780, 620
CX, CY, R = 390.0, 290.0, 170.0
AXES = list(Bouwsteen)
# cos/sin of each axis, clockwise from the top: computed once
_DIRECTIONS = [
    (math.cos(math.radians(-90 + 60 * i)), math.sin(math.radians(-90 + 60 * i))) for i in range(len(AXES))
]


@functools.lru_cache(maxsize=4096)
def number(value: float, language: Language) -> str:
    """One decimal, halves rounded up as people expect (3.25 -> 3,3), a decimal comma in Dutch."""
    text = f"{math.floor(value * 10 + 0.5 + 1e-9) / 10:.1f}"
    return text.replace(".", ",") if language == "nl" else text


def _point(i: int, value: float) -> tuple[float, float]:
    dx, dy = _DIRECTIONS[i]
    r = R * value / 5
    return CX + dx * r, CY + dy * r


# A mean is a fraction of two small counts, so the same values come back round after round: each
# axis' vertex for a value is placed and formatted once (the caches are bounded).
@functools.lru_cache(maxsize=16384)
def _vertex(i: int, value: float, colour: str, square: bool) -> tuple[str, str, str, str]:
    """Axis i at a value: x and y as written (one decimal), "x,y", and the marker drawn there."""
    x, y = _point(i, value)
    if square:
        marker = f'<rect x="{x - 5:.1f}" y="{y - 5:.1f}" width="10" height="10" fill="{colour}"/>'
    else:
        marker = f'<circle cx="{x:.1f}" cy="{y:.1f}" r="6" fill="{colour}" stroke="#fff" stroke-width="1.5"/>'
    return f"{x:.1f}", f"{y:.1f}", f"{x:.1f},{y:.1f}", marker


@functools.cache
def _style(colour: str, dashed: bool) -> tuple[str, str]:
    """A series' stroke, and its polygon's fill and stroke."""
    style = f'stroke="{colour}" stroke-width="3" stroke-linejoin="round"' + (' stroke-dasharray="9 6"' if dashed else "")
    fill = f'fill="{colour}" fill-opacity="0.18"' if not dashed else 'fill="none"'
    return style, f"{fill} {style}"


def _series(values: Mapping[Bouwsteen, float | None], colour: str, dashed: bool, square: bool) -> list[str]:
    points = [
        (_vertex(i, v, colour, square) if (v := values.get(b)) is not None else None) for i, b in enumerate(AXES)
    ]
    style, polygon = _style(colour, dashed)
    out: list[str] = []
    if None not in points:
        out.append(f'<polygon points="{" ".join([p[2] for p in points])}" {polygon}/>')  # type: ignore[index]
    else:  # only the sides between two known values
        for i, p in enumerate(points):
            q = points[(i + 1) % len(points)]
            if p is not None and q is not None:
                out.append(f'<line x1="{p[0]}" y1="{p[1]}" x2="{q[0]}" y2="{q[1]}" {style}/>')
    out.extend([p[3] for p in points if p is not None])
    return out


@functools.cache
def _grid() -> str:
    """The rings of the scale 1..5 and the six axes: the same in every radar."""
    parts = []
    for ring in range(1, 6):
        coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in (_point(i, ring) for i in range(len(AXES))))
        parts.append(f'<polygon points="{coords}" fill="none" stroke="#c8c8c8" stroke-width="1"/>')
        parts.append(
            f'<text x="{CX + 4:.1f}" y="{CY - R * ring / 5 + 13:.1f}" font-size="11" fill="#777">{ring}</text>'
        )
    for i in range(len(AXES)):
        x, y = _point(i, 5)
        parts.append(f'<line x1="{CX:.1f}" y1="{CY:.1f}" x2="{x:.1f}" y2="{y:.1f}" stroke="#9a9a9a" stroke-width="1"/>')
    return "\n".join(parts)


@functools.cache
def _labels(language: Language) -> list[tuple[str, str]]:
    """Per axis: its label, and the opening of the text under it that shows the value."""
    out = []
    for i, b in enumerate(AXES):
        dx, dy = _DIRECTIONS[i]
        lx, ly = CX + dx * (R + 26), CY + dy * (R + 26)
        anchor = "middle" if abs(dx) < 0.2 else ("start" if dx > 0 else "end")
        ly += 6 if abs(dy) < 0.6 else (-4 if dy < 0 else 16)
        label = (
            f'<text class="axis" x="{lx:.1f}" y="{ly:.1f}" font-size="15" font-weight="bold" text-anchor="{anchor}" '
            f'fill="#222">{escape(SHORT[b][language])}</text>'
        )
        out.append((label, f'<text x="{lx:.1f}" y="{ly + 18:.1f}" font-size="13" text-anchor="{anchor}"'))
    return out


@functools.lru_cache(maxsize=4096)
def _axis(i: int, language: Language, value: str | None) -> str:
    """Axis i's label with the value under it (or 'too few answers')."""
    label, value_at = _labels(language)[i]
    if value is not None:
        return f'{label}\n{value_at} fill="{CURRENT}">{value}</text>'
    return f'{label}\n{value_at} fill="#666">{TOO_FEW[language]}</text>'


_OPEN = (
    f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
    f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="DejaVu Sans, Arial, Helvetica, sans-serif" role="img">'
)
_BACKGROUND = f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>'
_LEGEND_X, _LEGEND_Y = CX - 140, HEIGHT - 58
_LEGEND_CURRENT = (
    f'<line x1="{_LEGEND_X}" y1="{_LEGEND_Y}" x2="{_LEGEND_X + 40}" y2="{_LEGEND_Y}" stroke="{CURRENT}" '
    f'stroke-width="3"/><circle cx="{_LEGEND_X + 20}" cy="{_LEGEND_Y}" r="6" fill="{CURRENT}"/>'
    f'<text x="{_LEGEND_X + 50}" y="{_LEGEND_Y + 5}" font-size="14" fill="#222">'
)
_LEGEND_PREVIOUS = (
    f'<line x1="{_LEGEND_X}" y1="{_LEGEND_Y + 26}" x2="{_LEGEND_X + 40}" y2="{_LEGEND_Y + 26}" stroke="{PREVIOUS}" '
    f'stroke-width="3" stroke-dasharray="9 6"/>'
    f'<rect x="{_LEGEND_X + 15}" y="{_LEGEND_Y + 26 - 5}" width="10" height="10" fill="{PREVIOUS}"/>'
    f'<text x="{_LEGEND_X + 50}" y="{_LEGEND_Y + 26 + 5}" font-size="14" fill="#222">'
)


def radar_svg(
    title: str,
    language: Language,
    current: Mapping[Bouwsteen, float | None],
    current_label: str,
    previous: Mapping[Bouwsteen, float | None] | None = None,
    previous_label: str = "",
) -> str:
    """The radar as an SVG document (UTF-8 text). The frame (grid, axes, labels) is made once per language."""
    values = [number(v, language) if (v := current.get(b)) is not None else None for b in AXES]
    short = [SHORT[b][language] for b in AXES]
    title = escape(title)
    parts = [
        _OPEN,
        f"<title>{title}</title>",
        "<desc>" + escape("; ".join([f"{name}: {value or '—'}" for name, value in zip(short, values)])) + "</desc>",
        _BACKGROUND,
        f'<text x="{CX:.0f}" y="34" font-size="20" font-weight="bold" text-anchor="middle" fill="#222">{title}</text>',
        _grid(),
        *[_axis(i, language, value) for i, value in enumerate(values)],
    ]
    if previous is not None:
        parts.extend(_series(previous, PREVIOUS, dashed=True, square=True))
    parts.extend(_series(current, CURRENT, dashed=False, square=False))
    parts.append(f"{_LEGEND_CURRENT}{escape(current_label)}</text>")
    if previous is not None:
        parts.append(f"{_LEGEND_PREVIOUS}{escape(previous_label)}</text>")
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
