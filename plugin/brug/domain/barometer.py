"""The barometer: partners rate the six bouwstenen 1–5, brug gives back what the group says.

Modelled on the *empowermentroos* of seed 004 (a 1–5 self-rating per axis, drawn as a radar,
repeated over time, then one axis and one concrete action), applied to the six bouwstenen of seed
001. Ratings rate the collaboration and one's own contribution, never people.

Anonymity rules (pure functions, no I/O):
- nothing of a round shows until at least `min_respondents` (never fewer than 3) people answered;
- a bouwsteen shows only when at least `min_respondents` rated it;
- a group (an organisation or a sector) shows only when it has at least `min_respondents`
  respondents AND the rest of the partnership too; and the respondents of all groups that are not
  shown together are either none or at least `min_respondents` — otherwise a hidden small group
  could be worked out by subtracting the shown groups from the total.
What a round keeps after closing is exactly what may be shown: counts per score, per shown cell.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Mapping, Sequence
from collections import Counter
from dataclasses import dataclass, field
from itertools import compress, repeat
from operator import itemgetter
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import NamedTuple, TypeVar
from zoneinfo import ZoneInfo

from brug.domain.holidays import first_school_day, kerstvakantie_start, paasvakantie_start
from brug.domain.types import Bouwsteen

FLOOR = 3  # min_respondents is never lower than this
SCORES = (1, 2, 3, 4, 5)
DROP = 0.75  # a fall of the mean since the previous round that needs attention
GAP = 1.0  # a difference between groups that needs attention
ALL = ""  # the cell of everyone
BLOCKS = tuple(Bouwsteen)  # iterating an Enum class runs Python code; a tuple does not
G = TypeVar("G", str, int)  # a group: its name, or its position among the round's groups


class Split(StrEnum):
    """How results are split (one way only: two overlapping splits would allow subtraction)."""

    sector = "sector"
    organisation = "organisation"
    none = "none"


class Vote(NamedTuple):
    """One person's rating of one bouwsteen in an open round. Never leaves store and aggregation."""

    voter: str
    bouwsteen: Bouwsteen
    score: int
    group: str  # the voter's organisation id or sector, per the partnership's split ("" = none)


class Tally:
    """How many gave each score 1..5; n, mean and spread are worked out once."""

    __slots__ = ("counts", "n", "mean", "spread")

    def __init__(self, counts: Sequence[int]) -> None:
        c1, c2, c3, c4, c5 = counts
        n = c1 + c2 + c3 + c4 + c5
        mean = (c1 + 2 * c2 + 3 * c3 + 4 * c4 + 5 * c5) / n if n else 0.0
        squares = (c1 + 4 * c2 + 9 * c3 + 16 * c4 + 25 * c5) / n if n else 0.0
        self.counts: tuple[int, int, int, int, int] = (c1, c2, c3, c4, c5)
        self.n = n
        self.mean = mean
        self.spread = math.sqrt(max(0.0, squares - mean * mean))  # the standard deviation (population)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Tally) and other.counts == self.counts

    def __hash__(self) -> int:
        return hash(self.counts)

    def __repr__(self) -> str:
        return f"Tally({self.counts})"


class BlockResult(NamedTuple):
    bouwsteen: Bouwsteen
    total: Tally | None  # None: fewer than min_respondents rated it
    groups: dict[str, Tally] = {}  # noqa: RUF012 - only the groups that may be shown; never mutated


@dataclass(frozen=True)
class RoundResult:
    round_id: str
    respondents: int
    min_respondents: int
    blocks: dict[Bouwsteen, BlockResult] = field(default_factory=dict)  # empty unless published

    @property
    def published(self) -> bool:
        return self.respondents >= self.min_respondents

    @functools.cached_property
    def means(self) -> dict[Bouwsteen, float | None]:
        """Every bouwsteen's mean, None where it is not shown; worked out once (read it, never change it)."""
        return {b: block.total.mean if (block := self.blocks.get(b)) and block.total else None for b in BLOCKS}

    def mean(self, b: Bouwsteen) -> float | None:
        return self.means[b]


def shown_groups(sizes: Mapping[G, int], n: int, minimum: int) -> set[G]:
    """The groups that may be shown: each >= minimum, its rest >= minimum, the hidden rest 0 or >= minimum."""
    shown = {g for g, size in sizes.items() if g != ALL and size >= minimum and n - size >= minimum}
    while shown:
        hidden = n - sum(sizes[g] for g in shown)
        if hidden == 0 or hidden >= minimum:
            break
        shown.remove(min(shown, key=lambda g: (sizes[g], g)))  # show one group less, the smallest
    return shown


_VOTER = itemgetter(0)
_GROUP = itemgetter(3)
_CELL_AND_SCORE = itemgetter(1, 3, 2)  # (bouwsteen, group, score)
_HIDDEN = {b: BlockResult(b, None) for b in BLOCKS}  # a bouwsteen too few rated (immutable, shared)

# Aggregating is counting, then applying the rules to small integers. A round's cells hold a few
# votes each, so the same counts and group sizes come back in round after round: the pure steps
# below are remembered (bounded caches), and a Tally is shared, never changed.
_tally = functools.lru_cache(maxsize=8192)(Tally)


@functools.lru_cache(maxsize=256)
def _cell_keys(groups: tuple[str, ...]) -> tuple[tuple[Bouwsteen, str, int], ...]:
    """Every (bouwsteen, group, score), bouwsteen by bouwsteen, groups in order."""
    return tuple((b, g, s) for b in BLOCKS for g in groups for s in SCORES)


@functools.lru_cache(maxsize=8192)
def _shown_cells(sizes: tuple[int, ...], minimum: int, everyone_first: bool) -> tuple[bool, ...] | None:
    """For one bouwsteen, given each group's respondents (groups in name order): per group whether it
    may be shown (() when none may), or None when the bouwsteen itself may not (too few rated it)."""
    n = sum(sizes)
    if n < minimum:
        return None
    first = 1 if everyone_first else 0  # ALL ("") sorts first and is never a group to show
    shown = shown_groups(dict(enumerate(sizes[first:], first)), n, minimum)
    return tuple(i in shown for i in range(len(sizes))) if shown else ()


@functools.lru_cache(maxsize=8192)
def _block(b: Bouwsteen, total: Tally) -> BlockResult:
    """A bouwsteen shown without groups (shared: it never changes)."""
    return BlockResult(b, total)


def aggregate(round_id: str, votes: Iterable[Vote], min_respondents: int = FLOOR) -> RoundResult:
    """What a round may show. Expects at most one vote per voter and bouwsteen (the latest)."""
    votes = votes if isinstance(votes, list | tuple) else list(votes)
    minimum = max(FLOOR, min_respondents)
    respondents = len(set(map(_VOTER, votes)))
    if respondents < minimum:  # nothing may show: nothing to count
        return RoundResult(round_id, respondents, minimum)
    # The only pass over the votes, in C: how often each (bouwsteen, group, score) occurs. Then, in C
    # too: the counts flat (bouwsteen by bouwsteen, group by group, score 1..5), cut into one histogram
    # per (bouwsteen, group); their sizes, bouwsteen by bouwsteen, decide what may show; and per
    # bouwsteen the total histogram. Python only loops over the six bouwstenen.
    groups = tuple(sorted(set(map(_GROUP, votes))))
    counted = Counter(map(_CELL_AND_SCORE, votes))
    flat = list(map(counted.get, _cell_keys(groups), repeat(0)))
    scores = iter(flat)
    cells = list(zip(scores, scores, scores, scores, scores))
    width, everyone_first = len(groups), groups[0] == ALL
    sizes = iter(map(sum, cells))
    rules = map(_shown_cells, zip(*[sizes] * width), repeat(minimum), repeat(everyone_first))
    totals = cells if width == 1 else zip(*[map(sum, zip(*[iter(flat[s::5])] * width)) for s in range(5)])
    tallies = iter(map(_tally, cells))
    blocks: dict[Bouwsteen, BlockResult] = {}
    for b, shown, total, own in zip(BLOCKS, rules, totals, zip(*[tallies] * width)):
        if shown is None:
            blocks[b] = _HIDDEN[b]
        elif not shown:  # no group may show apart from the total (or there is no split)
            blocks[b] = _block(b, _tally(total))
        else:
            blocks[b] = BlockResult(b, _tally(total), dict(zip(compress(groups, shown), compress(own, shown))))
    return RoundResult(round_id, respondents, minimum, blocks)


def result_from_counts(
    round_id: str, respondents: int, counts: Mapping[Bouwsteen, Mapping[str, Sequence[int]]], minimum: int
) -> RoundResult:
    """The same rules as `aggregate`, applied to counts kept per bouwsteen and group (each: how many gave 1..5)."""
    minimum = max(FLOOR, minimum)
    if respondents < minimum:
        return RoundResult(round_id, respondents, minimum)
    blocks: dict[Bouwsteen, BlockResult] = {}
    for b in BLOCKS:
        cells = counts.get(b) or {}
        groups = sorted(cells)
        own = [tuple(cells[g]) for g in groups]
        shown = _shown_cells(tuple(map(sum, own)), minimum, bool(groups) and groups[0] == ALL)
        if shown is None:
            blocks[b] = _HIDDEN[b]
            continue
        total = _tally(tuple(map(sum, zip(*own, strict=True))))
        shown_groups_ = {g: _tally(c) for g, c, show in zip(groups, own, shown) if show}
        blocks[b] = BlockResult(b, total, shown_groups_) if shown_groups_ else _block(b, total)
    return RoundResult(round_id, respondents, minimum, blocks)


# --- what needs attention --------------------------------------------------------------------------


@dataclass(frozen=True)
class Attention:
    """The bouwsteen that needs attention most, and why."""

    bouwsteen: Bouwsteen
    mean: float
    drop: float | None = None  # how far the mean fell since the previous round (>= DROP)
    gap: tuple[str, str, float] | None = None  # (highest group, lowest group, difference >= GAP)
    lowest: bool = False  # it has the lowest mean of this round


def needs_attention(current: RoundResult, previous: RoundResult | None) -> Attention | None:
    """A notable drop first, then a gap between groups, then the lowest mean (ties: the first bouwsteen)."""
    means = {b: m for b, m in current.means.items() if m is not None}
    if not means:
        return None
    lowest = min(means.values())
    before_means = previous.means if previous is not None else {}
    best: tuple[tuple[float, float, float, int], Attention] | None = None
    for b, mean in means.items():
        before = before_means.get(b)
        drop = before - mean if before is not None and before - mean >= DROP - 1e-9 else None
        gap = None
        groups = current.blocks[b].groups
        if len(groups) >= 2:
            ranked = sorted(groups, key=lambda g: (groups[g].mean, g))
            lo, hi = ranked[0], ranked[-1]
            difference = groups[hi].mean - groups[lo].mean
            if difference >= GAP - 1e-9:
                gap = (hi, lo, difference)
        is_lowest = mean == lowest
        if drop is None and gap is None and not is_lowest:
            continue
        rank = (drop or 0.0, gap[2] if gap else 0.0, -mean, -BLOCKS.index(b))
        if best is None or rank > best[0]:
            best = (rank, Attention(b, mean, drop, gap, is_lowest))
    assert best is not None  # the lowest mean is always a candidate
    return best[1]


# --- rounds in time ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Round:
    id: str
    start: datetime  # aware
    end: datetime | None  # aware; None for a round counted in prompts (it ends with its last prompt)


def term_starts(year: int) -> list[date]:
    """The first days of the three terms of Flemish school year year–year+1 (after the holidays)."""
    return [
        first_school_day(year),
        kerstvakantie_start(year) + timedelta(days=14),
        paasvakantie_start(year + 1) + timedelta(days=14),
    ]


def term_round(moment: datetime, zone: ZoneInfo, at_hour: int = 9) -> Round:
    """The school term that `moment` falls in (a term runs until the next one starts)."""
    local = moment.astimezone(zone)
    boundaries: list[tuple[str, datetime]] = []
    for year in (local.year - 2, local.year - 1, local.year, local.year + 1):
        for n, day in enumerate(term_starts(year), start=1):
            boundaries.append((f"{year}-{year + 1}-{n}", datetime(day.year, day.month, day.day, at_hour, tzinfo=zone)))
    boundaries.sort(key=lambda b: b[1])
    for (rid, start), (_, end) in zip(boundaries, boundaries[1:], strict=False):
        if start <= local < end:
            return Round(rid, start, end)
    raise ValueError(f"no school term around {moment}")  # pragma: no cover - the window always covers it


def rule_round(moment: datetime, starts: Sequence[datetime]) -> Round | None:
    """The round between two consecutive occurrences of the partnership's barometer rule."""
    for start, end in zip(starts, starts[1:], strict=False):
        if start <= moment < end:
            return Round(start.astimezone(start.tzinfo).strftime("%Y-%m-%d"), start, end)
    return None


def prompt_round(index: int, every: int, first_prompt: datetime) -> str:
    """The id of the round that prompt number `index` (0-based) belongs to, counted in prompts."""
    return f"{index // every + 1:03d}-{first_prompt:%Y-%m-%d}"
