"""Benchmark: aggregating barometer rounds and drawing every radar.

Run from the repository root:

    PYTHONPATH=plugin python bench/barometer.py [--partnerships 1000] [--rounds 12] [--members 20] [--seed 1]

It generates (seeded, not timed) N partnerships × R rounds × M members; each member belongs to one
of 4–8 organisations in one of the sectors and rates each bouwsteen with probability 0.8. Then it
measures with `time.perf_counter` (wall) and `time.process_time` (CPU):

  baseline   a plain loop that only sums each bouwsteen's scores per round and writes a minimal SVG
             polygon: the least any barometer must do, measured in the same run
  brug       what brug does per round: `aggregate` (the anonymity rules for the total and the groups),
             `needs_attention` against the previous round, and the full radar (`radar_svg`), this
             round against the previous one

Goal (reported, never asserted): brug under 2 s for 1,000 × 12 × 20. The ratio brug / baseline is
printed too, since absolute times depend on the machine. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import time
from pathlib import Path

try:
    import brug  # noqa: F401
except ImportError:  # run without PYTHONPATH: use the package next to this script
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugin"))

from brug.content.radar import radar_svg
from brug.domain.barometer import RoundResult, Vote, aggregate, needs_attention
from brug.domain.types import Bouwsteen

GOAL_S = 2.0
SECTORS = ("onderwijs", "welzijn", "bestuur")
BLOCKS = list(Bouwsteen)

Round = list[Vote]


def generate(partnerships: int, rounds: int, members: int, seed: int) -> list[list[Round]]:
    rng = random.Random(seed)
    data = []
    for _ in range(partnerships):
        groups = [rng.choice(SECTORS) for _ in range(rng.randint(4, 8))]
        people = [(f"m{i}", rng.choice(groups)) for i in range(members)]
        leaning = {b: rng.uniform(2.0, 4.5) for b in BLOCKS}
        series = []
        for _ in range(rounds):
            votes = [
                Vote(who, b, min(5, max(1, round(rng.gauss(leaning[b], 0.9)))), group)
                for who, group in people
                for b in BLOCKS
                if rng.random() < 0.8
            ]
            series.append(votes)
        data.append(series)
    return data


def baseline(data: list[list[Round]]) -> int:
    """Sum per bouwsteen, mean, and a bare polygon: no rules, no groups, no labels."""
    drawn = 0
    for series in data:
        for votes in series:
            sums = dict.fromkeys(BLOCKS, 0)
            counts = dict.fromkeys(BLOCKS, 0)
            for vote in votes:
                sums[vote.bouwsteen] += vote.score
                counts[vote.bouwsteen] += 1
            points = " ".join(f"{i * 10},{sums[b] / counts[b]:.1f}" for i, b in enumerate(BLOCKS) if counts[b])
            drawn += len(f'<svg xmlns="http://www.w3.org/2000/svg"><polygon points="{points}"/></svg>')
    return drawn


def with_brug(data: list[list[Round]]) -> tuple[int, int, int]:
    """brug's own path: anonymity-checked aggregates, attention, and the full radar per round."""
    drawn = attention = published = 0
    for n, series in enumerate(data):
        previous: RoundResult | None = None
        for r, votes in enumerate(series):
            result = aggregate(f"p{n}-r{r}", votes, 3)
            if not result.published:
                continue
            published += 1
            attention += needs_attention(result, previous) is not None
            svg = radar_svg(
                f"Barometer — samenwerking {n}",
                "nl",
                result.means,
                f"ronde {r + 1}",
                previous.means if previous is not None else None,
                f"ronde {r}",
            )
            drawn += len(svg)
            previous = result
    return drawn, attention, published


def timed(work, *args):  # type: ignore[no-untyped-def]
    wall, cpu = time.perf_counter(), time.process_time()
    result = work(*args)
    return result, time.perf_counter() - wall, time.process_time() - cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--partnerships", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--members", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each variant; the best counts")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    data = generate(args.partnerships, args.rounds, args.members, args.seed)
    votes = sum(len(v) for series in data for v in series)
    print(
        f"generated {args.partnerships} partnerships × {args.rounds} rounds × {args.members} members: "
        f"{votes:,} votes in {time.perf_counter() - start:.1f} s (not timed)"
    )
    best: dict[str, tuple[float, float]] = {}
    svgs = 0
    for run in range(args.repeat):
        for name, work in (("baseline", baseline), ("brug", with_brug)) if run % 2 == 0 else (
            ("brug", with_brug),
            ("baseline", baseline),
        ):
            result, wall, cpu = timed(work, data)
            if name == "brug":
                svgs = result[2]
            print(f"  run {run + 1} {name:<9} wall {wall:6.3f} s   cpu {cpu:6.3f} s")
            if name not in best or wall < best[name][0]:
                best[name] = (wall, cpu)
    brug_wall, baseline_wall = best["brug"][0], best["baseline"][0]
    print(f"brug:     {brug_wall:.3f} s for {svgs:,} radars ({svgs / brug_wall:,.0f} rounds/s)")
    print(f"baseline: {baseline_wall:.3f} s")
    print(f"ratio brug / baseline: {brug_wall / baseline_wall:.2f}×")
    print(f"goal under {GOAL_S:.0f} s: {'met' if brug_wall < GOAL_S else 'NOT met'}")
    print(
        json.dumps(
            {
                "partnerships": args.partnerships,
                "rounds": args.rounds,
                "members": args.members,
                "votes": votes,
                "radars": svgs,
                "brug_wall_s": round(brug_wall, 3),
                "brug_cpu_s": round(best["brug"][1], 3),
                "baseline_wall_s": round(baseline_wall, 3),
                "ratio": round(brug_wall / baseline_wall, 2),
                "goal_s": GOAL_S,
                "goal_met": brug_wall < GOAL_S,
                "python": platform.python_version(),
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
