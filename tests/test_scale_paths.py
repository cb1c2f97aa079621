"""The paths that must stay cheap at 10,000 partnerships keep brug's behaviour (bench/scale.py measures them).

- A tick with nothing due asks the store nothing: marks move on in memory, are written when slots are
  handled, and all at once when `run` ends; a reloaded file is still judged from the mark in memory.
- `next_due` from the windows the scheduler keeps equals the plain expansion of every rule.
- A reconcile reads the store for many partnerships at once (`Prefetched`): it answers exactly as the
  store does, and stops answering for a partnership as soon as something is written about it.

The store-backed tests run on SQLite and on a real PostgreSQL.
"""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import event

from brug.app.bot import Bot
from brug.app.scheduler import KINDS, due_slots
from brug.domain.holidays import load_school_calendar
from brug.store import Prefetched, Store
from tests.runtime import local_runtime
from tests.test_schedule import PARTNERSHIP, Clock

START = datetime(2026, 9, 1, 8, 0, tzinfo=UTC)
OTHER = PARTNERSHIP.replace("id: jaar", "id: ander").replace("FREQ=MONTHLY;BYDAY=+2TU", "FREQ=WEEKLY;BYDAY=TH")


def bot_with(tmp_path: Path, library, clock: Clock, files: dict[str, str], state: str | None = None) -> Bot:  # type: ignore[no-untyped-def]
    folder = tmp_path / "partnerschappen"
    folder.mkdir(exist_ok=True)
    for name, text in files.items():
        (folder / f"{name}.yaml").write_text(text, encoding="utf-8")
    bot = Bot(local_runtime(tmp_path, library, clock, state), [folder])
    assert bot.load() == []
    return bot


class Statements:
    """Counts the SQL statements a store runs."""

    def __init__(self, store: Store) -> None:
        self.seen: list[str] = []
        event.listen(store.engine, "before_cursor_execute", self._seen)

    def _seen(self, conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        self.seen.append(statement)

    def writes(self) -> list[str]:
        return [s for s in self.seen if s.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))]


async def test_a_quiet_tick_asks_the_store_nothing_and_the_marks_are_written_when_run_ends(
    tmp_path: Path,
    library,
    state_url: str,  # type: ignore[no-untyped-def]
) -> None:
    clock = Clock(START)
    bot = bot_with(
        tmp_path,
        library,
        clock,
        {"jaar": PARTNERSHIP.replace("{skip}", "false"), "ander": OTHER.replace("{skip}", "false")},
        state_url,
    )
    scheduler = bot.scheduler()
    await scheduler.tick()  # both are new: they start now
    store = bot.rt.store
    assert store.schedule_marks(["jaar", "ander"])[("jaar", "reflection")] == START
    statements = Statements(store)
    clock.now = START + timedelta(minutes=30)  # nothing due in between
    report = await scheduler.tick()
    assert report.done == report.late == report.skipped == []
    assert statements.seen == []
    assert store.schedule_marks(["jaar"])[("jaar", "reflection")] == START  # the store's mark is older ...

    stop = asyncio.Event()
    stop.set()
    await scheduler.run(stop)  # ... until brug stops
    marks = store.schedule_marks(["jaar", "ander"])
    assert {marks[(pid, kind)] for pid in ("jaar", "ander") for kind in KINDS} == {clock.now}

    later = bot.scheduler()  # a restart finds them, and a slot after them goes out once
    clock.now = datetime(2026, 9, 7, 8, 1, tzinfo=UTC)  # Monday 7 September, 10:01 in Brussels: a prompt
    first = await later.tick()
    assert sorted(s.partnership for s in first.done) == ["ander", "jaar"]
    assert len(statements.writes()) > 0  # handling a slot writes its mark at once
    assert (await later.tick()).done == []
    assert store.schedule_marks(["jaar"])[("jaar", "reflection")] == clock.now.replace(microsecond=0)


async def test_a_reloaded_file_is_judged_from_the_mark_in_memory_not_the_older_one_in_the_store(
    tmp_path: Path,
    library,  # type: ignore[no-untyped-def]
) -> None:
    clock = Clock(datetime(2026, 9, 7, 9, 0, tzinfo=UTC))  # Monday 11:00 in Brussels, after its 10:00 prompt
    text = PARTNERSHIP.replace("{skip}", "false").replace('start: "2026-09-07 10:00"', 'start: "2026-09-08 10:00"')
    bot = bot_with(tmp_path, library, clock, {"jaar": text})
    scheduler = bot.scheduler()
    await scheduler.tick()
    clock.now += timedelta(hours=2)
    await scheduler.tick()  # quiet: the mark moves on in memory only
    # the coordinator moves the prompts to Mondays 12:00: today's is an hour ago, while brug was running
    (tmp_path / "partnerschappen" / "jaar.yaml").write_text(
        text.replace('start: "2026-09-08 10:00"', 'start: "2026-09-07 12:00"'), encoding="utf-8"
    )
    bot.load()
    clock.now += timedelta(minutes=1)
    report = await scheduler.tick()
    assert report.done == report.late == report.skipped == []  # as before: a rule's past is never posted


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_next_due_from_the_kept_windows_is_the_plain_expansion(tmp_path: Path, library, seed: int) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(seed)
    clock = Clock(START)
    calendar = load_school_calendar()
    bot = bot_with(
        tmp_path,
        library,
        clock,
        {"jaar": PARTNERSHIP.replace("{skip}", "true"), "ander": OTHER.replace("{skip}", "false")},
    )
    scheduler = bot.scheduler(calendar)
    await scheduler.tick()
    for _ in range(60):
        horizon = timedelta(hours=rng.choice([1, 20, 48, 24 * 9, 24 * 60]))
        expected = min(
            (s.at for p in bot.partnerships().values() for s in due_slots(p, clock.now, clock.now + horizon, calendar)),
            default=None,
        )
        assert scheduler.next_due(clock.now, horizon) == expected
        step = rng.choice(["slot", "minutes", "days"])
        nxt = scheduler.next_due(clock.now, timedelta(days=60))
        if step == "slot" and nxt is not None:
            clock.now = nxt
        else:
            clock.now += (
                timedelta(minutes=rng.randint(1, 300)) if step == "minutes" else timedelta(days=rng.randint(1, 9))
            )
        await scheduler.tick()


def test_prefetched_reads_answer_as_the_store_does(state_url: str) -> None:
    from brug.planner import DocumentRecord

    store = Store(state_url)
    at = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
    for n, pid in enumerate(["a", "b", "c"]):
        store.record_applied(
            pid, name=pid, workflow="samenwerken", phase="start", phase_changes=n, inputs_hash="h", source="f"
        )
        for i in range(n + 1):
            store.enqueue("local", f"{pid}/reflection/{i}/q", pid, "reflectie", "reflection", "x")
            store.mark_sent("local", f"{pid}/reflection/{i}/q", "r")
            store.enqueue("matrix", f"{pid}/reflection/{i}/q", pid, "reflectie", "reflection", "x")
            store.add_answer(pid, f"{pid}/reflection/{i}/q", "an", f"antwoord {i}", "local", f"e-{pid}-{i}")
            store.add_action(pid, f"actie {i}", None, None, f"o-{pid}-{i}")
            store.record_document(pid, "local", DocumentRecord(f"doc{i}", f"d/{i}.md", "r", "f"))
        store.enqueue("local", f"{pid}/agenda/x", pid, "overleg", "agenda", "x")  # pending, another kind
        store.complete_action(pid, 1)
        store.add_signal(
            pid, text="s", theme="t", level=None, raised_by="x", organisation=None, at=at, origin=f"s-{pid}"
        )
        store.add_agreement_version(
            pid, sha256="s", fingerprint="f", platform="local", who="brug", sections=[], content="tekst", at=at
        )
        store.add_signoff(
            pid,
            organisation="o",
            member="m",
            member_name="M",
            kind="approve",
            version=1,
            sha256="s",
            origin=f"so-{pid}",
            at=at,
        )
    reads = Prefetched(store, ["a", "b", "c", "nobody"])
    for pid in ["a", "b", "c", "nobody"]:
        assert reads.applied(pid) == store.applied(pid)
        assert reads.answers(pid) == store.answers(pid)
        assert reads.post_keys(pid, "reflection") == store.post_keys(pid, "reflection")
        assert reads.post_keys(pid, "agenda") == store.post_keys(pid, "agenda")
        for platforms in (["local"], ["matrix"], ["local", "matrix"], []):
            assert reads.has_pending(pid, platforms) == store.has_pending(pid, platforms)
        assert reads.agreement_record(pid) == store.agreement_record(pid)
        assert reads.latest_agreement_version(pid, content=False) == store.latest_agreement_version(pid, content=False)
        assert reads.actions(pid, open_only=True) == store.actions(pid, open_only=True)
        assert reads.signals_digest(pid) == store.signals_digest(pid)
        assert reads.documents(pid, "local") == store.documents(pid, "local")
        assert reads.document(pid, "local", "doc0") == store.document(pid, "local", "doc0")

    # a write through it about a partnership: from then on that one is read from the store again
    reads.add_action("b", "nieuw", None, None, "o-new")
    assert reads.actions("b", open_only=True) == store.actions("b", open_only=True)
    assert len(reads.actions("b", open_only=True)) == len(reads._actions["b"]) + 1
    store.close()


async def test_a_reconcile_of_many_reads_in_groups_and_replans_only_what_changed(
    tmp_path: Path,
    library,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    import brug.app.service

    monkeypatch.setattr(brug.app.service, "PREFETCH", 2)
    clock = Clock(START)
    files = {f"p{i}": PARTNERSHIP.replace("{skip}", "false").replace("id: jaar", f"id: p{i}") for i in range(5)}
    bot = bot_with(tmp_path, library, clock, files)
    await bot.apply()
    plans, errors, report = await bot.apply()
    assert errors == [] and report.written == 0 and all(plan.unchanged for plan in plans)
    statements = Statements(bot.rt.store)
    await bot.apply()
    assert len(statements.seen) <= 3 * 8 + 5  # three groups of eight reads, nothing per partnership
    bot.rt.store.add_action("p3", "Lokaal boeken", None, None, "chat-1")  # the Deck and status show open actions
    plans, errors, report = await bot.apply()
    assert [plan.partnership.id for plan in plans if not plan.unchanged] == ["p3"]


def test_a_connection_cut_while_resting_is_replaced_without_a_failed_call(postgres, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """No ping before every call (three round trips each), but a rested connection is checked first."""
    import brug.store.database

    store = Store(postgres.url())
    store.record_applied("a", name="a", workflow="w", phase="p", phase_changes=0, inputs_hash="h", source="f")
    assert store.applied("a") is not None  # both pools now hold a connection
    postgres.disconnect_all()  # a server restart, as the pooled connections see it
    monkeypatch.setattr(brug.store.database, "PING_AFTER_REST", 0.0)
    assert store.applied("a") is not None
    store.record_applied("b", name="b", workflow="w", phase="p", phase_changes=0, inputs_hash="h", source="f")
    assert [p.id for p in store.all_applied()] == ["a", "b"]
    store.close()


async def test_the_inputs_hash_is_the_one_earlier_versions_stored(tmp_path: Path, library) -> None:  # type: ignore[no-untyped-def]
    """The partnership's part is encoded once per loaded file; the hash must not change (or every
    workspace would be rendered again after an upgrade)."""
    import hashlib
    import json

    from brug.app.service import _agreement_key, agreement_state, inputs_hash, reflection_rounds
    from brug.workspace.desired import History

    clock = Clock(START)
    bot = bot_with(tmp_path, library, clock, {"jaar": PARTNERSHIP.replace("{skip}", "false")})
    await bot.apply()
    p, rt = bot.partnerships()["jaar"], bot.rt
    history, rounds, agreement = History("leerkansen", 0), reflection_rounds(p, rt), agreement_state(p, rt, START)
    before = json.dumps(
        [
            rt.content_digest,
            p.model_dump(mode="json"),
            [history.applied_phase, history.phase_changes],
            [m.isoformat() for m in p.meeting_times(START, 3)],
            [[r["key"], r["answers"]] for r in rounds],
            [a.number for a in rt.store.actions(p.id, open_only=True)],
            rt.store.signals_digest(p.id),
            rt.files_for(p).platform,
            sorted(rt.chats),
            _agreement_key(agreement),
        ],
        sort_keys=True,
    )
    expected = hashlib.sha256(before.encode()).hexdigest()
    assert inputs_hash(p, rt, history, START, rounds, agreement) == expected
    assert inputs_hash(p, rt, history, START, rounds, agreement) == expected  # also from what was kept
    assert rt.store.applied("jaar").inputs_hash == inputs_hash(
        p, rt, History("leerkansen", 0), START, rounds, agreement
    )


def test_a_change_to_the_web_page_alone_does_not_make_every_workspace_plan_again(tmp_path: Path) -> None:
    """Every partnership's inputs hash starts with the content digest: a changed template re-plans every
    workspace (16 ms each). The web page's stylesheet and templates make no workspace, so they are not in it."""
    from brug.app.service import content_digest

    own = tmp_path / "sjablonen"
    (own / "nl" / "web").mkdir(parents=True)
    (own / "nl" / "agenda.md.j2").write_text("# Agenda\n", encoding="utf-8")
    (own / "nl" / "web" / "answer.html.j2").write_text("<p>antwoord</p>\n", encoding="utf-8")
    (own / "web.css").write_text("body { color: black; }\n", encoding="utf-8")
    before = content_digest([own])

    (own / "web.css").write_text("body { color: navy; }\n", encoding="utf-8")
    (own / "nl" / "web" / "answer.html.j2").write_text("<p>uw antwoord</p>\n", encoding="utf-8")
    (own / "nl" / "web" / "portfolio.html.j2").write_text("<table></table>\n", encoding="utf-8")
    assert content_digest([own]) == before

    (own / "nl" / "agenda.md.j2").write_text("# Agenda van het overleg\n", encoding="utf-8")
    assert content_digest([own]) != before
    (own / "nl" / "agenda.md.j2").write_text("# Agenda\n", encoding="utf-8")
    (own / "nl" / "reflectie.md.j2").write_text("Hoe loopt het?\n", encoding="utf-8")  # a new template counts too
    assert content_digest([own]) != before


async def test_a_reconcile_after_a_content_change_plans_every_workspace_once_and_writes_no_document(
    tmp_path: Path, library  # type: ignore[no-untyped-def]
) -> None:
    """What bench/scale.py saw as a 171 s 'no-op' at 10,000: a template changed between the set-up and the
    measurement. Every partnership is planned in full and its new inputs recorded (no document written);
    the reconcile after that is a no-op again."""
    clock = Clock(START)
    files = {f"p{i}": PARTNERSHIP.replace("{skip}", "false").replace("id: jaar", f"id: p{i}") for i in range(3)}
    bot = bot_with(tmp_path, library, clock, files)
    await bot.apply()
    bot.rt.content_digest = "a new stylesheet or template"
    statements = Statements(bot.rt.store)
    plans, errors, report = await bot.apply()
    assert errors == [] and report.written == 0 and not any(plan.changes for plan in plans)
    assert [plan.unchanged for plan in plans] == [False, False, False]
    assert any("partnerships" in write for write in statements.writes())
    statements.seen.clear()
    plans, errors, report = await bot.apply()
    assert all(plan.unchanged for plan in plans) and statements.writes() == []
