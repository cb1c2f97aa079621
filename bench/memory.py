"""Benchmark: what `brug run` holds per loaded partnership, and where it goes.

Run from the repository root:

    PYTHONPATH=plugin:. python bench/memory.py                      # 1,000 partnerships
    PYTHONPATH=plugin:. python bench/memory.py --partnerships 2000 --trace --top 15

It writes N partnership files as bench/scale.py does (twelve generated shapes, each under its own id; the
texts repeat, but nothing here relies on that: every file is parsed and kept on its own), loads them with
`Bot.load()` on a SQLite store in a temporary folder, and runs two scheduler ticks (the first one works
out every partnership's next slots). It reports what each step added to the process's RSS, per 1,000
partnerships, or with `--trace` what Python allocated (tracemalloc) and the lines that allocated most
(tracemalloc's own tables then make the RSS meaningless). Then the size of one partnership as brug keeps
it (`LoadedPartnership`, a `sys.getsizeof` walk) against the validated `Partnership`, and what making a
partnership again from what is kept costs (a reconcile does that once per partnership). Nothing is
asserted; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import sys
import tempfile
import time
import tracemalloc
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for extra in (ROOT / "plugin", ROOT, ROOT / "bench"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

from fanout import Clock  # noqa: E402
from pydantic import BaseModel  # noqa: E402
from scale import SETUP_AT, make_bot, write_files  # noqa: E402

import brug.content.partnerships as loading  # noqa: E402
from brug.content.partnerships import load_partnership  # noqa: E402
from brug.domain.holidays import load_school_calendar  # noqa: E402


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def deep_size(value: Any, seen: set[int] | None = None) -> int:
    """Bytes of `value` and everything it holds that no one else does (classes, None, small ints and
    interned names are shared; a ZoneInfo is one per zone)."""
    seen = set() if seen is None else seen
    if id(value) in seen or isinstance(value, type) or value is None or isinstance(value, bool):
        return 0
    seen.add(id(value))
    size = sys.getsizeof(value)
    if isinstance(value, BaseModel):
        size += deep_size(value.__dict__, seen) + deep_size(value.__pydantic_fields_set__, seen)
    elif isinstance(value, dict):
        size += sum(deep_size(k, seen) + deep_size(v, seen) for k, v in value.items())
    elif isinstance(value, list | tuple | set | frozenset):
        size += sum(deep_size(v, seen) for v in value)
    elif hasattr(value, "__slots__") and not isinstance(value, str | bytes | Path):
        size += sum(deep_size(getattr(value, name, None), seen) for name in value.__slots__)
    return size


def step(name: str, before: Any, rss_before: float, count: int, top: int) -> tuple[Any, float]:
    """Print what a step added: RSS, or with tracemalloc on, what Python allocated and on which lines."""
    gc.collect()
    rss = rss_mb()
    if before is None:
        print(f"\n{name}: RSS +{rss - rss_before:.1f} MB ({1000 * (rss - rss_before) / count:.1f} MB per 1,000)")
        return None, rss
    after = tracemalloc.take_snapshot()
    diff = after.compare_to(before, "lineno")
    traced = sum(d.size_diff for d in diff) / 2**20
    print(f"\n{name}: allocated +{traced:.1f} MB ({1000 * traced / count:.1f} MB per 1,000)")
    for d in diff[:top]:
        print(f"  {d.size_diff / 2**20:7.2f} MB {d.count_diff:8d} blocks  {d.traceback[0]}")
    return after, rss


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--partnerships", type=int, default=1000)
    parser.add_argument("--top", type=int, default=8, help="lines shown per step with --trace")
    parser.add_argument(
        "--trace",
        action="store_true",
        help="what Python allocated, by line (tracemalloc; its own tables make RSS useless)",
    )
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    count = args.partnerships
    figures: dict[str, Any] = {"partnerships": count, "load_average": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory(prefix="brug-memory-") as folder:
        work = Path(folder)
        write_files(work / "partnerschappen", count, 0, 0, args.seed)
        config = work / "brug.toml"
        config.write_text('partnerships = ["partnerschappen"]\nworkspace = "werkruimte"\nstate = "state.db"\n')
        os.chdir(work)
        clock = Clock(SETUP_AT)
        gc.collect()
        if args.trace:
            tracemalloc.start()
        snapshot, rss = tracemalloc.take_snapshot() if args.trace else None, rss_mb()
        started = time.perf_counter()
        bot = make_bot(config, clock)
        figures["load_s"] = round(time.perf_counter() - started, 2)
        before = rss
        snapshot, rss = step("load", snapshot, rss, count, args.top)
        figures["load_mb_per_1000" if not args.trace else "load_rss_traced"] = round(1000 * (rss - before) / count, 1)
        scheduler = bot.scheduler(load_school_calendar())
        for _ in range(2):
            clock.now += timedelta(minutes=1)
            asyncio.run(scheduler.tick())
        before = rss
        snapshot, rss = step("two ticks (every partnership's next slots worked out)", snapshot, rss, count, args.top)
        figures["ticks_mb_per_1000" if not args.trace else "ticks_rss_traced"] = round(1000 * (rss - before) / count, 1)
        tracemalloc.stop()

        item = next(iter(bot.loaded.values()))
        whole, _ = load_partnership(item.path, bot.rt.library)
        kept, validated = deep_size(item), deep_size(whole)
        print(
            f"\none partnership ({item.path.stat().st_size} bytes of YAML): kept {kept} bytes "
            f"(its text {len(item.text)}), validated {validated} bytes"
        )
        items = list(bot.loaded.values())
        started = time.perf_counter()
        for loaded in items:
            loading._validated.__wrapped__(loaded.text)  # what `.partnership` does for one not at hand
        per = (time.perf_counter() - started) / len(items)
        print(f"made again from what is kept: {1e6 * per:.0f} µs per partnership")
        figures.update(kept_bytes=kept, validated_bytes=validated, text_bytes=len(item.text), again_us=round(1e6 * per))
        bot.rt.store.close()
        os.chdir(ROOT)
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
