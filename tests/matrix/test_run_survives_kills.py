"""`brug run` is SIGKILLed at random moments and restarted; every due post still appears exactly once."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from brug.app.scheduler import AGENDA, REFLECTION, due_slots
from brug.content.partnerships import load_partnership
from brug.devservers.synapse import LocalSynapse
from brug.store import Store
from tests.conftest import ROOT
from tests.matrix.world import Partner, bot_messages, unique

# They wait on the wall clock (leases, kills, brug's sped-up clock): the long ones go first, and all of them
# run one after another in one worker, never two of them at once (see README, Tests).
pytestmark = [pytest.mark.slow, pytest.mark.long, pytest.mark.xdist_group("real-time")]

START = datetime(2026, 8, 31, 0, 0, tzinfo=UTC)
END = START + timedelta(days=20)
REAL_SECONDS = 60  # the twenty days pass in about a minute
KILLS = 10


def project(folder: Path, synapse: LocalSynapse, bot, partner: str) -> Path:  # type: ignore[no-untyped-def]
    (folder / "partnerschappen").mkdir(parents=True)
    (folder / "token").write_text(bot.access_token)
    (folder / "partnerschappen" / "kill.yaml").write_text(
        "id: kill\nname: Bestand tegen onderbrekingen\nworkflow: samenwerken\nphase: leerkansen\n"
        "platforms: {chat: [matrix], files: local}\n"
        "organisations:\n  - id: a\n    name: Organisatie A\n    kind: caw\n    members:\n"
        f'      - {{name: An, role: Coördinator, coordinator: true, matrix: "{partner}"}}\n'
        'meetings: {start: "2026-09-01 14:00", rrule: "FREQ=WEEKLY;BYDAY=TU", agenda_lead_days: 3}\n'
        'reflection: {start: "2026-08-31 10:00", rrule: "FREQ=DAILY", skip_school_holidays: false}\n',
        encoding="utf-8",
    )
    config = folder / "brug.toml"
    config.write_text(
        'partnerships = ["partnerschappen"]\nworkspace = "werkruimte"\nstate = "state.db"\n'
        "[schedule]\ngrace_hours_agenda = 100000\ngrace_hours_reflection = 100000\n"
        f'[matrix]\nhomeserver = "{synapse.base_url}"\nuser_id = "{bot.user_id}"\n'
        f'device_id = "{bot.device_id}"\naccess_token_file = "token"\n',
        encoding="utf-8",
    )
    return config


def caught_up(store: Store, timeout: float = 300) -> None:
    """Wait until brug's reflection schedule has passed END and nothing waits in the outbox (or the timeout:
    the assertions after it then say what is missing)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        mark = store.schedule_mark("kill", REFLECTION)
        if mark is not None and mark >= END and not store.pending("matrix") and not store.pending("local"):
            return
        time.sleep(1)


async def test_sigkill_at_random_moments_loses_and_doubles_nothing(
    synapse: LocalSynapse, tmp_path: Path, library
) -> None:  # type: ignore[no-untyped-def]
    bot = synapse.register(unique("brugrun"), "pw")
    an = Partner(synapse, synapse.register(unique("an"), "pw"))
    config = project(tmp_path, synapse, bot, an.user_id)
    store = Store.at(tmp_path / "state.db")
    for kind in (AGENDA, REFLECTION):  # the schedule starts at START (a fresh brug would start 'now')
        store.set_schedule_mark("kill", kind, START)
    speed = (END - START).total_seconds() / REAL_SECONDS
    anchor = time.time() + 2
    env = {
        **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")},
        "PYTHONPATH": str(ROOT / "plugin"),
        "BRUG_CLOCK": f"{START.isoformat()}@{anchor}x{speed}",
    }
    command = [sys.executable, "-m", "brug", "--config", str(config), "run"]
    rng = random.Random(20261123)
    logs = tmp_path / "runs.log"
    with logs.open("w") as log:
        for _ in range(KILLS):
            process = subprocess.Popen(command, env=env, stdout=log, stderr=log, cwd=tmp_path)
            time.sleep(rng.uniform(1.0, 4.5))
            process.send_signal(signal.SIGKILL)
            process.wait()
        process = subprocess.Popen(command, env=env, stdout=log, stderr=log, cwd=tmp_path)
        time.sleep(max(0.0, anchor + REAL_SECONDS + 4 - time.time()))  # until well past END
        caught_up(store)  # on a loaded machine the last run may still be working through the backlog
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0, logs.read_text()

    p, _ = load_partnership(tmp_path / "partnerschappen" / "kill.yaml", library)
    assert p is not None
    mark = store.schedule_mark("kill", REFLECTION)
    assert mark is not None and mark >= END
    expected = due_slots(p, START, store.schedule_mark("kill", AGENDA), None)
    expected_prompts = [s for s in expected if s.kind == REFLECTION and s.at <= mark]
    expected_agendas = [s for s in expected if s.kind == AGENDA]
    assert len(expected_prompts) >= 20 and len(expected_agendas) >= 2
    assert {s.status for s in store.slots("kill")} == {"done"}
    assert len(store.slots("kill", REFLECTION)) == len(expected_prompts)
    assert store.pending("matrix") == [] and store.pending("local") == []

    await an.accept_invites()
    rooms = {r.key: r.ref for r in store.resources("matrix", "room", "kill")}
    reflectie = await an.timeline(rooms["reflectie"], limit=500)
    # the reflection room also gets the term's barometer round; count the reflection slots' posts
    prompts = [e for e in bot_messages(reflectie, bot.user_id) if "/reflection/" in e["content"]["be.brug.key"]]
    polls = [
        e
        for e in reflectie
        if e["type"] == "org.matrix.msc3381.poll.start" and "/pulse/" in e["content"]["be.brug.key"]
    ]
    assert len(prompts) == len({e["content"]["be.brug.key"] for e in prompts})
    assert len(prompts) == len(expected_prompts)  # every due prompt, none twice
    assert len(polls) == len(expected_prompts)
    agendas = bot_messages(await an.timeline(rooms["overleg"], limit=500), bot.user_id)
    assert len(agendas) == len(expected_agendas)
    welcome = [
        e
        for e in bot_messages(await an.timeline(rooms["algemeen"], limit=500), bot.user_id)
        if "Welkom" in e["content"]["body"]
    ]
    assert len(welcome) == 1
    await an.close()
