"""A post that keeps failing is parked and named in `brug status`; it never holds back other posts."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from brug.app.bot import Bot
from brug.app.scheduler import AGENDA
from brug.app.service import PARK_AFTER
from brug.ports import PlatformError
from brug.store import Store
from tests.conftest import ROOT
from tests.runtime import local_runtime
from tests.test_workspace_local import project, run  # noqa: F401 - the CLI project fixture

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


class RefusingChat:
    """A chat platform that refuses the posts whose key contains `refuse` (as Matrix's M_FORBIDDEN would)."""

    platform = "matrix"

    def __init__(self, refuse: str) -> None:
        self.refuse = refuse
        self.posted: list[str] = []

    async def post(self, partnership: str, room: str, key: str, kind: str, markdown: str) -> str:
        if self.refuse in key:
            raise PlatformError(f"posting {key}: M_FORBIDDEN not allowed")
        self.posted.append(key)
        return f"$ev{len(self.posted)}"


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def bot(tmp_path: Path, library, clock: Clock, state_url: str) -> Bot:  # type: ignore[no-untyped-def]
    folder = tmp_path / "partnerschappen"
    folder.mkdir()
    text = (ROOT / "examples" / "cbe-armoede.yaml").read_text(encoding="utf-8")
    (folder / "cbe.yaml").write_text(text.replace("chat: [local]", "chat: [local, matrix]"), encoding="utf-8")
    rt = local_runtime(tmp_path, library, clock, state_url)  # on SQLite and on PostgreSQL
    b = Bot(rt, [folder])
    assert b.load() == []
    return b


async def test_a_failing_agenda_blocks_no_later_one_and_is_parked_after_n_attempts(bot: Bot, clock: Clock) -> None:
    december = "cbe-vlierboom/agenda/2026-12-10"
    chat = RefusingChat(refuse=december)
    bot.rt.chats["matrix"] = chat
    scheduler = bot.scheduler(grace={AGENDA: timedelta(days=60)})
    await scheduler.tick()  # brug starts serving the partnership now
    clock.now = datetime(2027, 1, 9, 14, 0, tzinfo=UTC)  # the agendas of 10 December and 14 January are due
    report = await scheduler.tick()
    assert [s.meeting.month for s in report.failed if s.kind == AGENDA] == [12]  # type: ignore[union-attr]
    assert any(k.startswith("cbe-vlierboom/agenda/2027-01-14") for k in chat.posted)  # the later one went out
    for _ in range(PARK_AFTER - 2):
        report = await scheduler.tick()
        assert [s.meeting.month for s in report.failed if s.kind == AGENDA] == [12]  # type: ignore[union-attr]
    report = await scheduler.tick()  # the fifth failed attempt parks it: the schedule moves on
    assert not [s for s in report.failed if s.kind == AGENDA]
    parked = bot.rt.store.parked_posts("cbe-vlierboom")
    assert [(p["platform"], p["attempts"]) for p in parked] == [("matrix", PARK_AFTER)]
    assert "M_FORBIDDEN" in parked[0]["last_error"] and parked[0]["key"].startswith(december)
    assert bot.rt.store.is_sent("local", parked[0]["key"])  # the other platform had it at the first try
    assert await scheduler.tick() == type(report)()  # nothing is retried any more
    assert chat.posted.count(next(k for k in chat.posted if "2027-01-14" in k)) == 1


def test_status_names_parked_posts(cli, project: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    run(cli, "apply")
    store = Store.at(project / "staat" / "brug.db")
    store.enqueue("matrix", "cbe-vlierboom/agenda/x", "cbe-vlierboom", "overleg", "agenda", "…")
    for _ in range(PARK_AFTER):
        store.record_post_failure("matrix", "cbe-vlierboom/agenda/x", "M_FORBIDDEN [not] allowed", park_after=5)
    store.record_event_failure("matrix", "$e1", "cbe-vlierboom", "M_TOO_LARGE")
    store.close()
    out = run(cli, "status").stdout
    assert "geparkeerde berichten: 1" in out and "cbe-vlierboom/agenda/x: M_FORBIDDEN [not] allowed" in out
    assert "chatberichten met een fout: 1" in out
