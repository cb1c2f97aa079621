"""Property-based: random rules and random large partnership files go through validate, plan and one
scheduler tick; each case must end within its own deadline (an alarm, not a speed measurement)."""

from __future__ import annotations

import asyncio
import itertools
import re
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from dateutil.rrule import rrulestr
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from brug.app.bot import Bot
from brug.app.scheduler import KINDS
from brug.app.service import plan_partnership
from brug.content.partnerships import load_partnership
from brug.domain.recurrence import TWO_YEARS, Recurrence, RecurrenceError, parse_rrule
from tests.runtime import local_runtime
from tests.test_rules_bounded import deadline

DAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]


def _list(values: st.SearchStrategy[Any]) -> st.SearchStrategy[str]:
    return st.lists(values, min_size=1, max_size=4).map(lambda xs: ",".join(map(str, xs)))


PARTS = st.fixed_dictionaries(
    {"FREQ": st.sampled_from(["DAILY", "WEEKLY", "MONTHLY", "YEARLY", "HOURLY", "MINUTELY", "SECONDLY", "NONE"])},
    optional={
        "INTERVAL": st.integers(-2, 800).map(str),
        "COUNT": st.integers(-1, 3000).map(str),
        "UNTIL": st.dates(datetime(1999, 1, 1).date(), datetime(2300, 1, 1).date()).map(lambda d: d.strftime("%Y%m%d")),
        "BYDAY": _list(
            st.tuples(st.sampled_from(["", "+1", "2", "-1", "+5", "-6", "53", "0"]), st.sampled_from(DAYS)).map("".join)
        ),
        "BYMONTHDAY": _list(st.integers(-40, 40)),
        "BYMONTH": _list(st.integers(0, 13)),
        "BYSETPOS": _list(st.integers(-400, 400)),
        "BYHOUR": _list(st.integers(-1, 25)),
        "BYMINUTE": _list(st.integers(0, 61)),
        "BYYEARDAY": _list(st.integers(-370, 370)),
        "BYWEEKNO": _list(st.integers(-55, 55)),
        "WKST": st.sampled_from(DAYS + ["XX"]),
    },
)
RULES = st.one_of(
    PARTS.map(lambda parts: ";".join(f"{k}={v}" for k, v in parts.items())),
    st.text(max_size=60),
)
STARTS = st.datetimes(datetime(1990, 1, 1), datetime(2210, 1, 1)).map(lambda d: d.replace(second=0, microsecond=0))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(RULES, STARTS)
@example("FREQ=DAILY;UNTIL=20000101", datetime(2000, 1, 1, 0, 1))  # the last day counts whole
def test_any_rule_is_refused_or_gives_a_sensible_bounded_series(rule: str, start: datetime) -> None:
    with deadline(20):
        try:
            parsed = parse_rrule(rule, start)
        except RecurrenceError:
            return
        first = list(itertools.islice(parsed.occurrences(), 30))
        assert first and first[0] - start <= TWO_YEARS
        assert all(a < b and a.date() != b.date() for a, b in itertools.pairwise(first))  # once a day at most
        if "Z" not in rule:  # dateutil refuses a UTC UNTIL with a local start; brug reads it as local
            # a date-only UNTIL counts its whole day in brug ("until 20 June" keeps a meeting that evening);
            # dateutil reads it as midnight, so the reference is asked with the day's last second
            as_brug_reads_it = re.sub(r"UNTIL=(\d{8})(?=;|$)", r"UNTIL=\1T235959", rule.removeprefix("RRULE:"))
            reference = list(itertools.islice(rrulestr(as_brug_reads_it, dtstart=start), 30))
            assert first == reference
        recurrence = Recurrence(rule, start)
        from zoneinfo import ZoneInfo

        zone = ZoneInfo("Europe/Brussels")
        moment = datetime(2031, 5, 1, tzinfo=UTC)
        found = recurrence.between(moment - timedelta(days=4000), moment + timedelta(days=4000), zone)
        assert len(found) <= 5000
        assert len(recurrence.after(moment, zone, 10)) <= 10


ORG_KINDS = ["basisschool", "clb", "ocmw", "caw", "secundaire-school"]
TEXT = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["Netwerk [/bold]", "[pilot]", "a\x00b\x1bc", "{{ 7*7 }}", "<script>", "x" * 6000]),
)


@st.composite
def large_files(draw: st.DrawFn) -> dict[str, Any]:
    orgs = []
    for n in range(draw(st.integers(1, 230))):
        members = [
            {"name": f"Lid {n}-{m} {draw(st.sampled_from(['', '[b]', 'Ré']))}".strip(), "role": "medewerker"}
            for m in range(draw(st.integers(1, 3)))
        ]
        kind = draw(st.sampled_from(ORG_KINDS))
        orgs.append({"id": f"org-{n}", "name": f"Organisatie {n}", "kind": kind, "members": members})
    valid_rule = st.sampled_from(
        ["FREQ=MONTHLY;BYDAY=+2TU", "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO", "FREQ=DAILY", "FREQ=MONTHLY;BYMONTHDAY=-1"]
    )
    data: dict[str, Any] = {
        "id": "groot",
        "name": draw(TEXT),
        "workflow": "samenwerken",
        "phase": draw(st.sampled_from(["vind-elkaar", "leerkansen"])),
        "goal": draw(TEXT),
        "organisations": orgs,
        "meetings": {
            "start": draw(st.one_of(st.just("2026-09-08 14:00"), STARTS.map(lambda d: f"{d:%Y-%m-%d %H:%M}"))),
            "rrule": draw(st.one_of(valid_rule, valid_rule, RULES)),
            "duration_minutes": draw(st.integers(10, 700)),
        },
        "reflection": {
            "start": draw(st.sampled_from(["2026-09-07 10:00", "2099-01-01 10:00", "1990-01-01 10:00"])),
            "rrule": draw(st.one_of(valid_rule, valid_rule, RULES)),
        },
    }
    return data


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(large_files(), st.datetimes(datetime(2026, 1, 1), datetime(2030, 1, 1), timezones=st.just(UTC)))
def test_random_large_files_go_through_validate_plan_and_a_tick(  # type: ignore[no-untyped-def]
    library, data: dict[str, Any], now: datetime
) -> None:
    with tempfile.TemporaryDirectory() as folder, deadline(90):
        path = Path(folder) / "partnerschappen" / "groot.yaml"
        path.parent.mkdir()
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        p, problems = load_partnership(path, library)
        assert (p is None) == bool(problems)
        event("valid" if p is not None else "refused")
        for problem in problems:
            line = str(problem)
            assert "\n" not in line and len(line) <= 400 and problem.line is not None
        if p is None:
            return
        event(f"valid with {len(p.organisations) // 50 * 50}+ organisations")
        rt = local_runtime(Path(folder), library, lambda: now)
        bot = Bot(rt, [path.parent])
        assert bot.load() == []

        async def plan_and_tick() -> None:
            plan = await plan_partnership(p, "groot.yaml", rt)
            assert plan.operations
            for kind in KINDS:  # as if brug last looked 40 days ago: the tick expands the rules over that span
                rt.store.set_schedule_mark(p.id, kind, now - timedelta(days=40))
            report = await bot.scheduler().tick()
            assert report.failed == []

        asyncio.run(plan_and_tick())
