"""No output of the barometer lets anyone work out one person's rating (property-based).

For random partnerships, voters and ratings the whole path runs for real — votes through chat
commands, the round closing, the document, the radar, the chat post, `!barometer`, the CLI table
and trend, the CSV export and the log lines — and two things must hold:

1. no output names a voter;
2. swap two people's ratings: whenever the published figures stay the same, *every* output stays
   byte for byte the same. Outputs depend on the published figures only, and
   `test_barometer_domain` shows that the published figures leave every person among at least
   two others who could have given their rating (nobody is singled out, not even by subtraction).
"""

from __future__ import annotations

import asyncio
import csv
import functools
import io
import logging
import re
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from brug.app import barometer
from brug.app.bot import Bot
from brug.app.conversation import Incoming
from brug.app.export import export_partnership
from brug.content.library import Library, load_library
from brug.domain.barometer import Vote, aggregate
from brug.domain.types import Bouwsteen
from tests.barometer_world import barometer_partnership
from tests.runtime import local_runtime

PID = "anoniem"
NOW = datetime(2026, 10, 5, 10, tzinfo=UTC)
CLOSED = datetime(2027, 1, 4, 9, tzinfo=UTC)
ORGANISATIONS = [
    ("school", "basisschool", ["ann", "bart", "chris"]),
    ("clb", "clb", ["dirk"]),
    ("ocmw", "ocmw", ["els", "femke"]),
    ("caw", "caw", ["gus", "hanne", "kim"]),
    ("gemeente", "lokaal-bestuur", ["ines", "jef"]),
]
ASKER = "kim"  # a member who only asks `!barometer`, never votes
PEOPLE = [m for _, _, members in ORGANISATIONS for m in members if m != ASKER]
GROUP = {
    "sector": {m: sector for (_, kind, ms) in ORGANISATIONS for m in ms for sector in [
        {"basisschool": "onderwijs", "clb": "onderwijs", "lokaal-bestuur": "bestuur"}.get(kind, "welzijn")
    ]},
    "organisation": {m: org for (org, _, ms) in ORGANISATIONS for m in ms},
}


@functools.cache
def content() -> Library:
    return load_library()


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name} {record.getMessage()}")


def outputs(library, split: str, ratings: dict[str, tuple[int, ...]], blocks: list[Bouwsteen]) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Everything brug shows about one round, from votes in chat to the export."""
    folder = Path(tempfile.mkdtemp(prefix="brug-anon-"))
    clock = {"now": NOW}
    barometer_partnership(
        folder / "partnerschappen", PID, organisations=ORGANISATIONS, extra=f"barometer: {{full: false, split: {split}}}\n"
    )
    rt = local_runtime(folder, library, lambda: clock["now"])
    bot = Bot(rt, [folder / "partnerschappen"])
    assert bot.load() == []
    p = bot.partnerships()[PID]
    handler = Collect()
    logger = logging.getLogger("brug")
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.DEBUG)

    async def run() -> dict[str, str]:
        for n, (who, scores) in enumerate(ratings.items()):
            for b, score in zip(blocks, scores, strict=True):
                await bot.handle(Incoming("local", PID, "reflectie", who, f"!score {b.value} {score}", f"$e{n}{b.value}"))
        shown = {"chat_during": "".join(r.markdown for r in await bot.handle(Incoming("local", PID, "reflectie", ASKER, "!barometer", "$b1")))}
        clock["now"] = CLOSED
        round_id = barometer.current_round(p, rt, NOW)
        assert round_id is not None
        await barometer.close_round(p, round_id, rt)
        shown["chat_after"] = "".join(r.markdown for r in await bot.handle(Incoming("local", PID, "reflectie", ASKER, "!barometer", "$b2")))
        reflectie = folder / "ws" / PID / "reflectie"
        for path in sorted(reflectie.glob("barometer*")):
            shown[path.name] = path.read_text(encoding="utf-8")
        shown["posts"] = "\n".join(e["markdown"] for e in rt.chats["local"].entries(PID, "reflectie"))  # type: ignore[attr-defined]
        header, rows = barometer.table(p, rt, "nl")
        buffer = io.StringIO()
        csv.writer(buffer).writerows([header, *rows])
        shown["cli_table"] = buffer.getvalue()
        shown["cli_trend"] = barometer.trend(p, rt, "nl")
        shown["cli_svg"] = barometer.latest_svg(p, rt) or ""
        await export_partnership(PID, p, rt, folder / "export")
        shown["export"] = (folder / "export" / PID / "barometer.csv").read_text(encoding="utf-8")
        return shown

    try:
        shown = asyncio.run(run())
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
        rt.store.close()
    shown["logs"] = "\n".join(line for line in handler.lines if "brug" in line)
    return shown


def published(split: str, ratings: dict[str, tuple[int, ...]], blocks: list[Bouwsteen]) -> object:
    votes = [Vote(who, b, s, GROUP[split][who]) for who, scores in ratings.items() for b, s in zip(blocks, scores, strict=True)]
    result = aggregate("r", votes)
    return (
        result.published,
        {b: (r.total.counts if r.total else None, {g: t.counts for g, t in r.groups.items()}) for b, r in result.blocks.items()},
    )


@st.composite
def rounds(draw: st.DrawFn) -> tuple[str, list[Bouwsteen], dict[str, tuple[int, ...]], str, str]:
    split = draw(st.sampled_from(["sector", "organisation"]))
    blocks = draw(st.lists(st.sampled_from(list(Bouwsteen)), min_size=1, max_size=2, unique=True))
    voters = draw(st.lists(st.sampled_from(PEOPLE), min_size=2, max_size=len(PEOPLE), unique=True))
    scores = st.tuples(*[st.integers(1, 5) for _ in blocks])
    ratings = {who: draw(scores) for who in sorted(voters, key=PEOPLE.index)}
    me = draw(st.sampled_from(list(ratings)))
    same_group = [w for w in ratings if w != me and GROUP[split][w] == GROUP[split][me]]
    others = [w for w in ratings if w != me]
    other = draw(st.sampled_from(same_group)) if same_group and draw(st.booleans()) else draw(st.sampled_from(others))
    return split, blocks, ratings, me, other


@pytest.mark.long
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rounds())
def test_no_output_lets_anyone_work_out_one_persons_rating(case) -> None:  # type: ignore[no-untyped-def]
    library = content()
    split, blocks, ratings, me, other = case
    shown = outputs(library, split, ratings, blocks)
    names = {who: f"{who.capitalize()} Test" for who in PEOPLE}
    for where, text in shown.items():
        for who, name in names.items():
            assert name not in text, (where, who)
            assert not re.search(rf"(?<![\w-]){who}(?![\w-])", text), (where, who, text[:500])
    swapped = dict(ratings)
    swapped[me], swapped[other] = ratings[other], ratings[me]
    if published(split, ratings, blocks) == published(split, swapped, blocks):
        assert outputs(library, split, swapped, blocks) == shown


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(PEOPLE), st.sampled_from(PEOPLE), st.integers(1, 5), st.integers(1, 5))
def test_with_two_respondents_every_output_says_only_not_enough_answers(a, b, x, y) -> None:  # type: ignore[no-untyped-def]
    library = content()
    if a == b:
        b = PEOPLE[(PEOPLE.index(a) + 1) % len(PEOPLE)]
    ratings = dict(sorted({a: (x,), b: (y,)}.items(), key=lambda kv: PEOPLE.index(kv[0])))
    shown = outputs(library, "sector", ratings, [Bouwsteen.vertrouwen])
    assert "barometer-2026-2027-1.svg" not in shown and shown["cli_svg"] == ""
    assert "Niet genoeg antwoorden: 2 van 3" in shown["barometer.md"] and "2 van 3" in shown["posts"]
    assert "nog niet genoeg antwoorden: 2 van 3" in shown["chat_during"]
    assert "niet genoeg antwoorden: 2 van 3" in shown["chat_after"]
    for where, text in shown.items():
        if where not in ("export", "cli_table"):  # (CSV: checked column by column below)
            # no mean, no spread: no decimal figure anywhere
            assert not re.search(r"\d,\d", text) and not re.search(r"\d\.\d\d", text), where
    export = list(csv.reader(io.StringIO(shown["export"])))
    assert export[1][3] == "2" and all(cell == "" for cell in export[1][4:])
    assert shown["cli_table"].splitlines()[1].endswith("te weinig antwoorden,,,,,")
    # the same whatever the two gave
    other = dict(ratings)
    first, second = list(other)
    other[first], other[second] = (6 - x,), (6 - y,)
    assert outputs(library, "sector", other, [Bouwsteen.vertrouwen]) == shown
