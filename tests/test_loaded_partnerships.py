"""What `brug run` keeps of each loaded partnership (bench/scale.py measures the memory it saves).

- A loaded partnership is kept compact: what the scheduler needs, and the rest as its canonical JSON,
  compressed. The partnership made again from that is the one read from the file, to the last field,
  and the inputs hash reads the same text.
- Reading the files again parses only those whose bytes changed; the others stay the same objects (so
  the scheduler's windows and the inputs hash's kept state stay valid).
- A reconcile keeps no partnership once it is done with it: the kept hash states, the zones and the
  store's reads refer to none (with `keep_plans=False` no plan does either).
"""

from __future__ import annotations

import gc
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

import brug.content.partnerships as loading
from brug.content.partnerships import (
    LoadedPartnership,
    canonical_json,
    load_partnership,
    load_partnerships,
    revision,
)
from tests.test_scale_paths import START, bot_with
from tests.test_schedule import PARTNERSHIP, Clock

EXAMPLES = sorted((Path(__file__).parents[1] / "examples").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_the_partnership_made_again_from_what_is_kept_is_the_one_read(path: Path, library) -> None:  # type: ignore[no-untyped-def]
    # an earlier test in this process may have left this file's partnership among the few kept at hand, made
    # from an equal text of its own: start without them, as a fresh `brug run` does
    loading._validated.cache_clear()
    read, problems = load_partnership(path, library)
    assert problems == [] and read is not None
    [item], _ = load_partnerships([path], library)
    again = item.partnership
    assert again == read and again is not read
    assert canonical_json(again) == canonical_json(read)
    assert (item.id, item.zone, item.meetings, item.reflection, item.barometer) == (
        read.id,
        read.zone,
        read.meetings,
        read.reflection,
        read.barometer,
    )
    assert len(item.text) < len(path.read_bytes())  # smaller than the file, let alone the validated objects
    # asked again, it is the same object (a few are kept at hand), and caches know it by the kept text (the
    # same bytes, though maybe another object: a file loaded twice shares what is at hand)
    assert item.partnership is again and revision(again) == item.text and revision(read) is read
    [twice], _ = load_partnerships([path], library)
    assert twice.text == item.text and twice.partnership is again


def test_reading_again_parses_only_the_files_whose_bytes_changed(
    tmp_path: Path,
    library,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = tmp_path / "partnerschappen"
    folder.mkdir()
    for name in ("a", "b", "c"):
        (folder / f"{name}.yaml").write_text(PARTNERSHIP.replace("{skip}", "false").replace("id: jaar", f"id: {name}"))
    parsed: list[Path] = []
    real = loading.load_partnership

    def counting(path, *args):  # type: ignore[no-untyped-def]
        parsed.append(path)
        return real(path, *args)

    monkeypatch.setattr(loading, "load_partnership", counting)
    first, _ = load_partnerships([folder], library)
    known = {item.id: item for item in first}
    assert len(parsed) == 3
    parsed.clear()
    again, problems = load_partnerships([folder], library, known=known)
    assert problems == [] and parsed == [] and all(x is y for x, y in zip(first, again, strict=True))
    # the same size, one letter else: the bytes decide, not the size or the time
    b = folder / "b.yaml"
    b.write_text(b.read_text().replace("name: Een jaar samen", "name: Een jaar samem"))
    (folder / "c.yaml").unlink()
    shutil.copy(folder / "a.yaml", folder / "d.yaml")  # the same bytes under another name: read, and refused
    again, problems = load_partnerships([folder], library, known=known)
    assert sorted(p.name for p in parsed) == ["b.yaml", "d.yaml"]
    assert [item.id for item in again] == ["a", "b"] and again[0] is first[0] and again[1] is not first[1]
    assert again[1].partnership.name == "Een jaar samem"
    assert [problem.loc for problem in problems] == [("id",)]  # d.yaml repeats a's id


async def test_a_reconcile_keeps_no_partnership_once_done_with_it(tmp_path: Path, library) -> None:  # type: ignore[no-untyped-def]
    files = {f"p{i}": PARTNERSHIP.replace("{skip}", "false").replace("id: jaar", f"id: p{i}") for i in range(4)}
    bot = bot_with(tmp_path, library, Clock(START), files)
    await bot.apply()

    def alive() -> list[str]:
        loading._validated.cache_clear()  # the few kept at hand on purpose
        gc.collect()
        texts = {id(item.text): pid for pid, item in bot.loaded.items()}
        return sorted(texts[id(text)] for _, text in list(loading._TEXTS.values()) if id(text) in texts)

    plans, errors, report = await bot.apply(keep_plans=False)
    assert plans == [] and errors == [] and report.written == 0
    assert alive() == []
    plans, _, _ = await bot.apply()  # the plans hold their partnerships (for `brug plan` and the tests)
    assert alive() == ["p0", "p1", "p2", "p3"]
    del plans
    assert alive() == []
    scheduler = bot.scheduler()
    await scheduler.tick()  # the scheduler works on the compact form
    assert alive() == [] and all(isinstance(p, LoadedPartnership) for p in bot.held())


async def test_a_due_prompt_is_posted_with_the_whole_partnership(tmp_path: Path, library) -> None:  # type: ignore[no-untyped-def]
    clock = Clock(datetime(2026, 9, 7, 7, 0, tzinfo=UTC))  # Monday 09:00 in Brussels; the prompt is at 10:00
    bot = bot_with(tmp_path, library, clock, {"jaar": PARTNERSHIP.replace("{skip}", "false")})
    await bot.apply()
    scheduler = bot.scheduler()
    await scheduler.tick()
    clock.now = datetime(2026, 9, 7, 8, 1, tzinfo=UTC)
    report = await scheduler.tick()
    assert [slot.kind for slot in report.done] == ["reflection"]
    posted = [key for key in bot.rt.store.post_keys("jaar", "reflection")]
    assert len(posted) == 1 and posted[0].startswith("jaar/reflection/2026-09-07T08:00Z/")


@pytest.mark.parametrize(
    "text",
    [
        "2026-09-03 13:30",
        "2026-09-03T13:30",
        "2026-09-03 13:30:15",
        "2026-09-03T13:30:00",  # the canonical form a loaded partnership is kept in
        " 2026-09-03 13:30 ",
        "2026-9-3 9:05",  # one-digit fields: read by the formats only
        "2026-02-30 10:00",
        "2026-09-03 24:00",
        "2026-09-03 13:30:60",
        "2026-09-03 13:30+01:00",
        "2026-09-03",
        "1999-12-31 23:59",
    ],
)
def test_a_local_time_is_read_as_the_formats_read_it(text: str) -> None:
    from datetime import datetime as dt

    from pydantic_core import PydanticCustomError

    from brug.domain.types import _DATETIME_FORMATS, _parse_local_datetime

    def by_formats() -> object:
        for fmt in _DATETIME_FORMATS:
            try:
                return dt.strptime(text.strip(), fmt)
            except ValueError:
                continue
        return "refused"

    try:
        got: object = _parse_local_datetime(text)
    except PydanticCustomError as err:
        got = "refused" if err.type == "brug_local_datetime" else err.type
    expected = by_formats()
    if isinstance(expected, dt) and expected.year < 2000:
        expected = "brug_year"
    assert got == expected


def test_the_portfolio_validates_only_the_partnerships_the_viewer_sees(tmp_path: Path, library) -> None:  # type: ignore[no-untyped-def]
    from brug.web.portfolio import visible

    jaar = PARTNERSHIP.replace("{skip}", "false")
    other = jaar.replace("id: jaar", "id: ander").replace("id: school", "id: academie")
    bot = bot_with(tmp_path, library, Clock(START), {"jaar": jaar, "ander": other})
    loading._validated.cache_clear()
    seen = visible(bot.partnerships(), "school")
    assert [p.id for p in seen] == ["jaar"] and loading._validated.cache_info().misses == 1
    assert [p.id for p in visible(bot.partnerships(), ["school", "ocmw"])] == ["ander", "jaar"]
    assert [p.id for p in visible(dict(bot.partnerships()), "academie")] == ["ander"]  # a plain mapping as well
