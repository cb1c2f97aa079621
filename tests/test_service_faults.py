"""brug under faults: a crash mid fan-out, SIGTERM during the start-up reconcile, two configs on one
database, a meeting on a daylight-saving night, refusals in one language."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from brug.app.bot import Bot
from brug.app.jobs import post_agenda, post_reflection
from brug.app.lock import AlreadyRunning, instance_lock
from brug.app.meetings import agenda_for, render_agenda
from brug.app.scheduler import AGENDA, REFLECTION, agenda_slots, reflection_slots, slot_post_keys
from brug.app.service import ApplyReport, apply_partnerships
from tests.conftest import ROOT
from tests.runtime import local_runtime
from tests.test_schedule import BRUSSELS, Clock, make_bot, transcript


async def _crash_after_delivery(bot: Bot, clock: Clock) -> tuple:  # type: ignore[type-arg]
    """A tick that started the slots of 21 September: their posts went out, then brug died (no record)."""
    scheduler = bot.scheduler()
    await scheduler.tick()  # marks the start
    p = bot.partnerships()["jaar"]
    start, end = datetime(2026, 9, 20, 12, tzinfo=BRUSSELS), datetime(2026, 9, 21, 12, tzinfo=BRUSSELS)
    [prompt] = reflection_slots(p, start, end, None)
    await post_reflection(p, prompt.at, bot.rt)  # delivered …
    assert bot.rt.store.slot_status("jaar", REFLECTION, prompt.at) is None  # … but never recorded
    return scheduler, prompt


async def test_posts_delivered_before_a_crash_are_never_recorded_as_skipped(
    tmp_path: Path, library
) -> None:  # type: ignore[no-untyped-def]
    clock = Clock(datetime(2026, 9, 20, 12, 0, tzinfo=BRUSSELS))
    bot = make_bot(tmp_path, library, clock)
    scheduler, prompt = await _crash_after_delivery(bot, clock)
    clock.now = datetime(2026, 9, 24, 12, 0, tzinfo=BRUSSELS)  # three days down: far beyond the grace period
    report = await scheduler.tick()
    assert report.skipped == [] and [s.at for s in report.late] == [prompt.at]
    assert bot.rt.store.slot_status("jaar", REFLECTION, prompt.at) == "done"
    assert len(transcript(tmp_path, "reflectie")) == 2  # the prompt and its poll, each once
    assert not bot.rt.store.has_pending("jaar", ["local"])
    # and the next agenda does not tell partners it was "not sent"
    for _ in range(40):
        nxt = scheduler.next_due(clock.now, horizon=timedelta(days=60))
        if nxt is None or nxt > datetime(2026, 10, 11, tzinfo=BRUSSELS):
            break
        clock.now = nxt
        await scheduler.tick()
    agenda = (tmp_path / "ws" / "jaar" / "overleg" / "2026-10-13 agenda en verslag.md").read_text(encoding="utf-8")
    assert "niet verstuurd" not in agenda


async def test_a_post_in_flight_at_the_crash_is_finished_once_and_leaves_nothing_pending(
    tmp_path: Path, library
) -> None:  # type: ignore[no-untyped-def]
    clock = Clock(datetime(2026, 9, 20, 12, 0, tzinfo=BRUSSELS))
    bot = make_bot(tmp_path, library, clock)
    scheduler = bot.scheduler()
    await scheduler.tick()
    p = bot.partnerships()["jaar"]
    start, end = datetime(2026, 9, 20, 12, tzinfo=BRUSSELS), datetime(2026, 10, 11, 12, tzinfo=BRUSSELS)
    [slot] = agenda_slots(p, start, end)
    [key] = slot_post_keys(slot)
    # the outbox row was written, the platform call was under way when brug died
    bot.rt.store.enqueue("local", key, "jaar", "overleg", "agenda", "…")
    assert bot.rt.store.has_pending("jaar", ["local"])  # before the fix: for ever, and a full plan each time
    clock.now = slot.at + timedelta(days=2)  # down beyond the grace period of 12 hours
    report = await scheduler.tick()
    assert AGENDA not in [s.kind for s in report.skipped] and [s.kind for s in report.late] == [AGENDA]
    assert not bot.rt.store.has_pending("jaar", ["local"])
    assert [e["key"] for e in transcript(tmp_path, "overleg")] == [key]
    assert (await scheduler.tick()).late == []  # nothing twice


async def test_slots_never_begun_still_follow_the_grace_rule(
    tmp_path: Path, library
) -> None:  # type: ignore[no-untyped-def]
    clock = Clock(datetime(2026, 9, 20, 12, 0, tzinfo=BRUSSELS))
    bot = make_bot(tmp_path, library, clock)
    scheduler = bot.scheduler()
    await scheduler.tick()
    clock.now = datetime(2026, 9, 24, 12, 0, tzinfo=BRUSSELS)
    report = await scheduler.tick()
    assert [s.kind for s in report.skipped] == [REFLECTION]


def _many(folder: Path, count: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    text = (ROOT / "examples" / "cbe-armoede.yaml").read_text(encoding="utf-8")
    for n in range(count):
        (folder / f"p{n}.yaml").write_text(text.replace("id: cbe-vlierboom", f"id: cbe-{n}", 1), encoding="utf-8")


async def test_a_stop_request_is_honoured_between_operations_and_the_next_apply_continues(
    tmp_path: Path, library
) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    from brug.content.partnerships import load_partnerships

    _many(tmp_path / "p", 3)
    loaded, problems = load_partnerships([tmp_path / "p"], library)
    assert problems == [] and len(loaded) == 3
    rt = local_runtime(tmp_path, library, lambda: datetime(2026, 11, 23, 10, tzinfo=UTC))
    stop = asyncio.Event()
    write = rt.files.write
    written: list[str] = []

    async def write_then_sigterm(pid, path, content, condition):  # type: ignore[no-untyped-def]
        written.append(str(path))
        stop.set()  # as if SIGTERM arrived while this document was being written
        return await write(pid, path, content, condition)

    rt.files.write = write_then_sigterm  # type: ignore[method-assign]
    plans, errors = await apply_partnerships(loaded, rt, ApplyReport(), stop=stop)
    assert errors == [] and plans == [] and len(written) == 1  # the operation in hand finished, no other
    assert rt.store.applied("cbe-0") is None  # not recorded as applied: the next apply continues
    rt.files.write = write  # type: ignore[method-assign]
    plans, _ = await apply_partnerships(loaded, rt, ApplyReport())
    assert len(plans) == 3 and all(rt.store.applied(f"cbe-{n}") for n in range(3))


def _interrupt(folder: Path, command: str, sig: signal.Signals) -> tuple[int, str, str]:
    """Start `brug <command>` on 60 partnerships and send `sig` as soon as the first workspace appears."""
    if not (folder / "partnerschappen").exists():
        _many(folder / "partnerschappen", 60)
        (folder / "brug.toml").write_text(
            'partnerships = ["partnerschappen"]\nworkspace = "werkruimte"\nstate = "state.db"\n', encoding="utf-8"
        )
    env = {
        **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")},
        "PYTHONPATH": str(ROOT / "plugin"),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "brug", command],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # as in a terminal
    )
    try:
        deadline = time.monotonic() + 120
        while not (folder / "werkruimte").exists() and time.monotonic() < deadline:
            assert process.poll() is None, process.communicate()
            time.sleep(0.05)
        process.send_signal(sig)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    return process.returncode, out, err


def test_sigterm_during_the_start_up_reconcile_leaves_cleanly(tmp_path: Path) -> None:
    code, out, err = _interrupt(tmp_path, "run", signal.SIGTERM)  # during the start-up reconcile
    assert code == 0, err
    assert "brug is gestopt." in out and "Traceback" not in err
    workspaces = [p for p in (tmp_path / "werkruimte").iterdir() if p.is_dir()]
    assert len(workspaces) < 60  # it left before the end of the reconcile


@pytest.mark.long
def test_ctrl_c_during_apply_stops_after_the_step_in_hand_and_the_next_apply_continues(tmp_path: Path) -> None:
    code, _, err = _interrupt(tmp_path, "apply", signal.SIGINT)
    assert code == 130 and "Traceback" not in err
    assert "Onderbroken na de lopende stap" in err
    done = len([p for p in (tmp_path / "werkruimte").iterdir() if p.is_dir()])
    assert done < 60
    again = subprocess.run(
        [sys.executable, "-m", "brug", "apply"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT / "plugin")},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 0, again.stderr
    assert len([p for p in (tmp_path / "werkruimte").iterdir() if p.is_dir()]) == 60


def test_the_lock_follows_symlinks_to_the_same_database(tmp_path: Path) -> None:
    real = tmp_path / "echt" / "brug.db"
    real.parent.mkdir()
    real.touch()
    (tmp_path / "link").mkdir()
    alias = tmp_path / "link" / "state.db"
    alias.symlink_to(real)
    with instance_lock(real), pytest.raises(AlreadyRunning) as busy:
        with instance_lock(alias):
            pass
    assert busy.value.holder == str(os.getpid()) and busy.value.state == real
    with instance_lock(tmp_path / "echt" / ".." / "echt" / "brug.db"):  # released: free again
        pass


def test_a_refusal_for_a_running_brug_is_in_one_language(cli, in_tmp: Path) -> None:  # type: ignore[no-untyped-def]
    _many(in_tmp / "partnerschappen", 1)
    (in_tmp / "echt").mkdir()
    (in_tmp / "brug.toml").write_text('state = "link.db"\n', encoding="utf-8")
    (in_tmp / "link.db").symlink_to(in_tmp / "echt" / "brug.db")
    with instance_lock(in_tmp / "echt" / "brug.db"):
        result = cli("apply")
    assert result.exit_code == 1
    line = result.stderr.strip()
    assert line.startswith(f"✗ Er werkt al een andere brug (proces {os.getpid()}) met echt/brug.db."), line
    for english in ("another", "process", "is working", "with this data"):
        assert english not in line


@pytest.mark.parametrize(
    ("local", "shown", "not_shown"),
    [
        ("2027-03-28 02:30", ("03:30", "tot 05:00"), ("02:30", "04:00")),  # 02:30 does not exist that night
        ("2026-10-25 02:30", ("02:30", "tot 03:00"), ("04:00",)),  # the first 02:30; 90 minutes later is 03:00
    ],
)
async def test_an_agenda_on_a_daylight_saving_night_shows_the_real_start_and_end(
    tmp_path: Path, library, local: str, shown: tuple[str, ...], not_shown: tuple[str, ...]
) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "partnerschappen"
    folder.mkdir()
    text = (ROOT / "examples" / "cbe-armoede.yaml").read_text(encoding="utf-8")
    shutil.copy(ROOT / "examples" / "cbe-armoede.yaml", folder / "p.yaml")
    bot = Bot(local_runtime(tmp_path, library, lambda: datetime(2026, 10, 1, tzinfo=UTC)), [folder])
    assert bot.load() == [] and "meetings:" in text
    p = bot.partnerships()["cbe-vlierboom"]
    meetings = p.meetings.model_copy(update={"duration_minutes": 90})  # type: ignore[union-attr]
    p = p.model_copy(update={"meetings": meetings})
    start = datetime.fromisoformat(local).replace(tzinfo=ZoneInfo(p.timezone))
    agenda = agenda_for(p, start, bot.rt.store, library)
    assert agenda.meeting.end - agenda.meeting.start == timedelta(minutes=90)
    rendered = render_agenda(agenda, p, library, bot.rt.renderer, start)
    when = next(line for line in rendered.splitlines() if "Wanneer" in line)
    for words in shown:
        assert words in when, when
    for words in not_shown:
        assert words not in when, when
    await post_agenda(p, start, bot.rt)  # and the job itself does not trip over it


def test_an_unconfigured_file_platform_is_refused_in_the_users_language(cli, in_tmp: Path) -> None:  # type: ignore[no-untyped-def]
    _many(in_tmp / "partnerschappen", 1)
    path = in_tmp / "partnerschappen" / "p0.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("  files: local", "  files: nextcloud"), encoding="utf-8")
    result = cli("apply")
    assert result.exit_code == 1
    assert "✗ cbe-0: bestandsplatform 'nextcloud' staat niet in brug.toml" in result.stderr, result.stderr
