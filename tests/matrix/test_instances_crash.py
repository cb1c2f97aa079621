"""Three `brug run` on one PostgreSQL share 200 partnerships; one of them is SIGKILLed 20 times at random
moments (and restarted, or not). Every reflection prompt still reaches Synapse exactly once, counted
there by its `be.brug.key`, and a killed instance's partnerships are taken over within 60 s.

What is real: the PostgreSQL the tests start, Synapse, the `brug run` processes (the same command a
provider runs) and their leases, the local transcripts they share. What the test does itself, to stay
within CI's time: it makes 20 Matrix rooms and tells brug's store that the 200 partnerships' rooms are
those (ten partnerships share a room; each post carries its partnership in its key), and records the
partnerships as applied a moment ago — provisioning 800 rooms through brug takes about 2.7 s per
partnership on this machine (9 minutes), and an instance that starts or takes over does not re-apply
what was applied within the reconcile interval. So the crash phase is the scheduler's work only: the
prompts fall due one after another over two days of brug's clock (running 1,728 times as fast): two
per partnership (`COUNT=2`), about 390 in all, so that even a loaded machine keeps up with them.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, insert, text

from brug.app.scheduler import AGENDA, BAROMETER, REFLECTION, reflection_slots, slot_id
from brug.content.partnerships import load_partnership
from brug.devservers.synapse import LocalSynapse
from brug.store import Store, engine_url
from brug.store.schema import partnerships, resources, schedule_marks
from tests.conftest import ROOT
from tests.matrix.world import unique
from tests.postgres import PostgresServer

# They wait on the wall clock (leases, kills, brug's sped-up clock): the long ones go first, and all of them
# run one after another in one worker, never two of them at once (see README, Tests).
pytestmark = [pytest.mark.slow, pytest.mark.long, pytest.mark.xdist_group("real-time")]

PARTNERSHIPS = 200
ROOMS = 20
INSTANCES = 3
KILLS = 20
START = datetime(2026, 8, 31, 0, 0, tzinfo=UTC)
END = START + timedelta(days=2)
REAL_SECONDS = 100  # the two days pass in about this many seconds
TTL, RENEW = 8, 2  # seconds; short for the kill loop (the default, 30 and 10, is measured below)


def write_project(folder: Path, state: str, matrix: str = "", count: int = PARTNERSHIPS) -> Path:
    (folder / "partnerschappen").mkdir(parents=True)
    for n in range(count):
        minute = n * 1440 // count  # the prompts spread over the day
        (folder / "partnerschappen" / f"k{n:03d}.yaml").write_text(
            f"id: k{n:03d}\nname: Samenwerking {n}\nworkflow: samenwerken\nphase: leerkansen\n"
            f"platforms: {{chat: [{'matrix' if matrix else 'local'}], files: local}}\n"
            "organisations:\n  - id: a\n    name: Organisatie A\n    kind: caw\n    members:\n"
            "      - {name: An, role: Coördinator, coordinator: true}\n"
            f'reflection: {{start: "2026-08-31 {minute // 60:02d}:{minute % 60:02d}", rrule: "FREQ=DAILY;COUNT=2", '
            "skip_school_holidays: false, pulse: false}\nbarometer: {full: false}\n",
            encoding="utf-8",
        )
    config = folder / "brug.toml"
    config.write_text(
        f'partnerships = ["partnerschappen"]\nworkspace = "werkruimte"\nstate = "{state}"\n'
        "[schedule]\ngrace_hours_reflection = 100000\nreconcile_minutes = 600\n" + matrix,
        encoding="utf-8",
    )
    return config


def environment(clock: str | None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    env.update(PYTHONPATH=str(ROOT / "plugin"), COLUMNS="300", **extra)  # log lines unwrapped
    if clock:
        env["BRUG_CLOCK"] = clock
    return env


class Instances:
    """The `brug run` processes: started, killed, restarted; each slot logs to its own file."""

    def __init__(self, folder: Path, config: Path, env: dict[str, str]) -> None:
        self.folder, self.env = folder, env
        self.command = [sys.executable, "-m", "brug", "--config", str(config), "-v", "run"]
        self.running: dict[int, subprocess.Popen[bytes]] = {}

    def start(self, slot: int) -> None:
        log = (self.folder / f"instance-{slot}.log").open("ab")
        self.running[slot] = subprocess.Popen(self.command, env=self.env, stdout=log, stderr=log, cwd=self.folder)

    def joined(self, watch: TakeoverWatch, at_least: int = 0, timeout: float = 120) -> dict[int, str]:
        """The running slots whose instance has joined (slot -> instance id), once `at_least` have (or the
        timeout passed: the caller's assertions tell)."""
        began = time.time()
        while True:
            found = {slot: watch.instance_of(p.pid) for slot, p in self.running.items()}
            joined = {slot: instance for slot, instance in found.items() if instance is not None}
            if len(joined) >= min(at_least, len(found)) or time.time() - began >= timeout:
                return joined
            time.sleep(0.3)

    def kill(self, slot: int) -> int:
        process = self.running.pop(slot)
        process.send_signal(signal.SIGKILL)
        process.wait()
        return process.pid

    def stop_all(self, timeout: float = 90) -> list[int]:
        for process in self.running.values():
            process.send_signal(signal.SIGTERM)
        codes = [process.wait(timeout=timeout) for process in self.running.values()]
        self.running.clear()
        return codes

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in sorted(self.folder.glob("instance-*.log")))


class TakeoverWatch:
    """Measures, for each kill, how long until none of the dead instance's leases is still its own."""

    def __init__(self, url: str) -> None:
        self.engine = create_engine(engine_url(url))
        self.pending: list[tuple[float, str, set[str]]] = []
        self.measured: list[float] = []
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def instance_of(self, pid: int) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(text("SELECT id FROM instances WHERE pid = :pid"), {"pid": pid}).scalar()

    def killed(self, moment: float, instance: str) -> None:
        with self.engine.connect() as conn:
            held = {r[0] for r in conn.execute(text("SELECT name FROM leases WHERE owner = :me"), {"me": instance})}
        if not held:  # killed before it took anything
            return
        with self.lock:
            self.pending.append((moment, instance, held))

    def _watch(self) -> None:
        while not self.done.is_set():
            with self.lock:
                pending = list(self.pending)
            for entry in pending:
                moment, instance, held = entry
                with self.engine.connect() as conn:
                    rows = conn.execute(
                        text(
                            "SELECT name FROM leases WHERE name = ANY(:names) AND owner IS NOT NULL AND owner <> :dead "
                            "AND expires_at > now()"
                        ),
                        {"names": sorted(held), "dead": instance},
                    ).all()
                if len(rows) == len(held):
                    with self.lock:
                        self.pending.remove(entry)
                        self.measured.append(time.time() - moment)
            time.sleep(0.2)

    def close(self) -> None:
        self.done.set()
        self.thread.join()
        self.engine.dispose()


def matrix_keys(synapse: LocalSynapse, token: str, bot_id: str, rooms: list[str]) -> list[str]:
    """The `be.brug.key` of every message brug's account posted in these rooms, from Synapse itself."""
    keys: list[str] = []
    with httpx.Client(base_url=synapse.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
        for room in rooms:
            start = None
            while True:
                params = {"dir": "b", "limit": 500, **({"from": start} if start else {})}
                page = http.get(f"/_matrix/client/v3/rooms/{room}/messages", params=params).json()
                for event in page.get("chunk", []):
                    key = event.get("content", {}).get("be.brug.key")
                    if event["sender"] == bot_id and event["type"] == "m.room.message" and key:
                        keys.append(key)
                if not page.get("chunk") or not page.get("end"):
                    break
                start = page["end"]
    return keys


def expected_prompts(folder: Path, library, end: datetime) -> set[str]:  # type: ignore[no-untyped-def]
    """The key prefixes of the reflection prompts due in (START, end], over every partnership."""
    out = set()
    for n in range(PARTNERSHIPS):
        p, _ = load_partnership(folder / "partnerschappen" / f"k{n:03d}.yaml", library)
        assert p is not None
        out |= {f"{p.id}/reflection/{slot_id(s.at)}/" for s in reflection_slots(p, START, end, None)}
    return out


def seed(store: Store, rooms: list[str]) -> None:
    """What one instance's `brug apply` would have left: rooms known, partnerships applied, schedules at START
    (in one transaction: 200 partnerships one call at a time take long on a loaded machine)."""
    now = datetime.now(UTC)
    ids = [f"k{n:03d}" for n in range(PARTNERSHIPS)]
    room_rows = [
        dict(
            partnership_id=pid,
            platform="matrix",
            kind="room",
            key=key,
            ref=rooms[n % len(rooms)],
            updated_at=now,
            data=json.dumps({"name": key, "topic": "", "alias": "", "join": "invite"}),
        )
        for n, pid in enumerate(ids)
        for key in ("space", "algemeen", "overleg", "reflectie")
    ]
    applied = [
        dict(
            id=pid,
            name=f"Samenwerking {n}",
            workflow="samenwerken",
            phase="leerkansen",
            phase_changes=0,
            applied_at=now,
        )
        for n, pid in enumerate(ids)
    ]
    later = (END + timedelta(days=400)).isoformat(timespec="seconds")  # none due: no meetings, no full rounds
    marks = [dict(partnership_id=pid, kind=REFLECTION, upto=START.isoformat(timespec="seconds")) for pid in ids] + [
        dict(partnership_id=pid, kind=kind, upto=later) for pid in ids for kind in (AGENDA, BAROMETER)
    ]
    with store.engine.begin() as conn:
        conn.execute(insert(resources), room_rows)
        conn.execute(insert(partnerships), applied)
        conn.execute(insert(schedule_marks), marks)


async def test_three_instances_killed_twenty_times_post_every_prompt_exactly_once(
    synapse: LocalSynapse, postgres: PostgresServer, tmp_path: Path, library
) -> None:  # type: ignore[no-untyped-def]
    began = time.time()
    bot = synapse.register(unique("brugmany"), "pw")
    auth = {"Authorization": f"Bearer {bot.access_token}"}
    with httpx.Client(base_url=synapse.base_url, headers=auth, timeout=60) as http:
        rooms = [
            http.post("/_matrix/client/v3/createRoom", json={"preset": "private_chat", "name": f"r{n}"}).json()[
                "room_id"
            ]
            for n in range(ROOMS)
        ]
    url = postgres.url()
    (tmp_path / "token").write_text(bot.access_token)
    matrix = (
        f'[matrix]\nhomeserver = "{synapse.base_url}"\nuser_id = "{bot.user_id}"\n'
        f'device_id = "{bot.device_id}"\naccess_token_file = "token"\n'
    )
    config = write_project(tmp_path, url, matrix)
    store = Store(url)
    seed(store, rooms)
    speed = (END - START).total_seconds() / REAL_SECONDS
    anchor = time.time() + 3
    env = environment(
        f"{START.isoformat()}@{anchor}x{speed}",
        BRUG_INSTANCES__LEASE_SECONDS=str(TTL),
        BRUG_INSTANCES__RENEW_SECONDS=str(RENEW),
    )
    instances = Instances(tmp_path, config, env)
    watch = TakeoverWatch(url)
    rng = random.Random(20261207)
    setup = time.time() - began
    try:
        for slot in range(INSTANCES):
            instances.start(slot)
        instances.joined(watch, at_least=INSTANCES)  # the first kill once all three work
        for _ in range(KILLS):
            # two at work while one is killed: start what is down (or leave it down for a while), and wait
            # for two to have joined — a start takes seconds, and the kills are meant to hit working ones
            down = [slot for slot in range(INSTANCES) if slot not in instances.running]
            if down and (len(instances.running) < 2 or rng.random() < 0.7):
                instances.start(down[0])
            instances.joined(watch, at_least=2)
            time.sleep(rng.uniform(0.5, 3.0))  # a random moment of their work
            joined = instances.joined(watch)
            starting = sorted(slot for slot in instances.running if slot not in joined)
            # mostly one that has joined and holds work, now and then one that is still starting
            victim = rng.choice(starting if starting and rng.random() < 0.15 else sorted(joined) or starting)
            instance = joined.get(victim)
            instances.kill(victim)
            if instance is not None:  # it had joined (killed while starting: it held nothing)
                watch.killed(time.time(), instance)
        for slot in range(INSTANCES):
            if slot not in instances.running:
                instances.start(slot)
        instances.joined(watch, at_least=INSTANCES)  # SIGTERM only once each has its handlers
        kill_loop_ended = time.time()
        due = expected_prompts(tmp_path, library, END)
        deadline = max(time.time(), anchor + REAL_SECONDS) + 180
        with store.engine.connect() as conn:  # until every prompt due by END is recorded done
            while time.time() < deadline:
                done = conn.execute(
                    text("SELECT count(*) FROM slots WHERE kind = 'reflection' AND status = 'done' AND at <= :end"),
                    {"end": END.isoformat(timespec="seconds")},
                ).scalar()
                conn.rollback()
                if done == len(due):
                    break
                time.sleep(1)
        while watch.pending and time.time() < deadline:  # the last kill's partnerships taken over as well:
            time.sleep(0.5)  # with the prompts done early, a clean stop came before that takeover (leases left)
        assert instances.stop_all() == [0] * INSTANCES, instances.logs()
        stopped_at = START + timedelta(seconds=(time.time() - anchor + 5) * speed)  # brug's clock, and a bit
    finally:
        for slot in list(instances.running):
            instances.kill(slot)
        watch.close()

    expected = expected_prompts(tmp_path, library, END)  # key prefixes: each must be there once
    valid = expected_prompts(tmp_path, library, stopped_at)  # and those due later, before the stop
    assert len(expected) >= PARTNERSHIPS * 19 // 10

    keys = matrix_keys(synapse, bot.access_token, bot.user_id, rooms)
    prompts = [k for k in keys if "/reflection/" in k]
    assert len(prompts) == len(set(prompts)), "a prompt reached Synapse twice"
    by_prefix = {k.rsplit("/", 1)[0] + "/": k for k in prompts}
    assert len(by_prefix) == len(prompts), "two questions for one slot"
    assert set(by_prefix) <= valid, sorted(set(by_prefix) - valid)[:5]
    missing = sorted(expected - set(by_prefix))
    assert not missing, f"{len(missing)} prompts never reached Synapse, e.g. {missing[:5]}"

    local: list[str] = []  # the shared local transcripts: each prompt once there too
    for transcript in (tmp_path / "werkruimte").rglob("reflectie.jsonl"):
        local += [json.loads(line)["key"] for line in transcript.read_text().splitlines() if line.strip()]
    local = [k for k in local if "/reflection/" in k]
    assert len(local) == len(set(local)) and set(local) == set(prompts)

    assert store.pending("matrix") == [] and store.pending("local") == []
    with store.engine.connect() as conn:
        statuses = conn.execute(text("SELECT status, count(*) FROM slots GROUP BY status")).all()
        assert dict(statuses) == {"done": len(prompts)}  # type: ignore[arg-type]
        left = conn.execute(text("SELECT count(*) FROM leases WHERE owner IS NOT NULL")).scalar()
        assert left == 0  # the last three stopped cleanly and handed everything back
    store.close()

    assert watch.pending == [], f"{len(watch.pending)} kill(s) whose partnerships were never taken over"
    assert len(watch.measured) >= KILLS // 2 and max(watch.measured) < 60, watch.measured
    timings = sorted(watch.measured)
    print(
        f"\n{PARTNERSHIPS} partnerships, {len(prompts)} prompts, {KILLS} kills; set-up {setup:.0f} s, kill loop "
        f"{kill_loop_ended - began - setup:.0f} s, total {time.time() - began:.0f} s; takeover (lease {TTL} s, "
        f"renewed every {RENEW} s): median {timings[len(timings) // 2]:.1f} s, max {timings[-1]:.1f} s"
    )


def test_at_default_settings_a_killed_instances_partnerships_are_taken_over_within_60_s(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    """Leases of 30 s, renewed every 10 s: the survivor takes over within 40 s (lease + one renewal)."""
    url = postgres.url()
    count = 20
    config = write_project(tmp_path, url, count=count)
    env = environment(None)
    instances = Instances(tmp_path, config, env)
    Store(url).close()  # the tables, for the queries below (the instances would make them too)
    engine = create_engine(engine_url(url))

    def holders() -> dict[str | None, int]:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT owner, count(*) FROM leases WHERE name NOT LIKE 'listener:%' AND expires_at > now() "
                    "GROUP BY owner"
                )
            ).all()
        return dict(rows)  # type: ignore[arg-type]

    def wait_for(check, timeout: float) -> float:  # type: ignore[no-untyped-def]
        began = time.time()
        while time.time() - began < timeout:
            if check():
                return time.time() - began
            time.sleep(0.2)
        raise AssertionError(f"not within {timeout} s: {holders()}\n{instances.logs()}")

    try:
        instances.start(0)
        wait_for(lambda: sum(holders().values()) == count, 120)  # the first holds them all
        first = next(iter(holders()))
        instances.start(1)
        with engine.connect() as conn:
            wait_for(lambda: conn.execute(text("SELECT count(*) FROM instances")).scalar() == 2, 60)
        instances.kill(0)
        took = wait_for(lambda: holders().get(first, 0) == 0 and sum(holders().values()) == count, 90)
        assert instances.stop_all() == [0], instances.logs()
    finally:
        for slot in list(instances.running):
            instances.kill(slot)
        engine.dispose()
    assert took < 60, took
    log = (tmp_path / "instance-1.log").read_text()
    assert f"took over {count} partnership(s) from instance {first} (expired " in log, log
    print(f"\ntakeover at default settings (lease 30 s, renewed every 10 s): {took:.1f} s after the kill")
