"""Two `brug run` on one PostgreSQL race for the Matrix listener; every command is handled exactly once.

The elected listener is frozen (SIGSTOP) past its lease while partners type commands: the other instance
is elected and answers them. The frozen one then resumes (SIGCONT) with the sync it had in flight — its
unfinished batch — while more commands arrive; it must answer none of them and stop listening. Then the
listener moves back by a clean stop (SIGTERM) of the new holder, again while commands arrive.

What is real: Synapse, the PostgreSQL the tests start, and two `brug run` processes (the command a
provider runs) with their leases. The two instances log in as brug's account on devices of their own,
as two hosts would: Synapse then does not fold a doubled reply into the first (its transaction ids are
per device), so a command handled twice shows as two replies in the room. What the test does itself: it
makes the partnership's room and records it in the store (provisioning is not under test), and stores
the sync token where brug starts listening (what a first sync does).

Exactly once is read from Synapse (one reply per command, tagged with the command's event) and from the
store (one action, agenda point or answer per command), and from the instances' logs (each command run
once, by whichever instance held the listener).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, insert, text

from brug.app.scheduler import AGENDA, BAROMETER, REFLECTION
from brug.app.leases import LeaseLost
from brug.devservers.synapse import Account, LocalSynapse
from brug.store import Store, engine_url
from brug.store.schema import outbox, partnerships, resources, schedule_marks
from tests.conftest import ROOT
from tests.listeners import HeldHandlers
from tests.matrix.world import partnership_file, unique
from tests.postgres import PostgresServer

# Leases of 6 s and a frozen instance: it waits on the wall clock, so it runs in the one worker that runs the
# other real-time tests, never beside them (see README, Tests).
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("real-time")]

TTL, RENEW = 6, 2  # seconds: a frozen listener loses its lease within 8 s
PID = "race"
LISTENER = "listener:matrix"
PROMPT_KEY = f"{PID}/reflection/20261207T0900/0"


class Homeserver:
    """The room as a partner and as brug see it, read straight from Synapse."""

    def __init__(self, synapse: LocalSynapse, partner: Account, bot: Account, room: str) -> None:
        self.partner = httpx.Client(
            base_url=synapse.base_url, headers={"Authorization": f"Bearer {partner.access_token}"}, timeout=60
        )
        self.bot = bot
        self.room = room
        self._txn = 0

    def say(self, body: str, thread_root: str | None = None) -> str:
        content: dict[str, Any] = {"msgtype": "m.text", "body": body}
        if thread_root:
            content["m.relates_to"] = {"rel_type": "m.thread", "event_id": thread_root}
        self._txn += 1
        path = f"/_matrix/client/v3/rooms/{self.room}/send/m.room.message/race{time.time_ns()}-{self._txn}"
        return self.partner.put(path, json=content).raise_for_status().json()["event_id"]

    def timeline(self) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        start = None
        while True:
            params: dict[str, Any] = {"dir": "b", "limit": 500, **({"from": start} if start else {})}
            page = self.partner.get(f"/_matrix/client/v3/rooms/{self.room}/messages", params=params).json()
            events += page.get("chunk", [])
            if not page.get("chunk") or not page.get("end"):
                return events
            start = page["end"]

    def replies(self) -> Counter[str]:
        """How many answers brug gave to each partner's event: messages and reactions carrying a reply key
        (`<partnership>/reply/<event>/<n>`), counted per event they answer."""
        count: Counter[str] = Counter()
        for event in self.timeline():
            key = event.get("content", {}).get("be.brug.key", "")
            if event["sender"] == self.bot.user_id and key.startswith(f"{PID}/reply/"):
                count[key.split("/")[2]] += 1
        return count

    def close(self) -> None:
        self.partner.close()


class Race:
    """Two `brug run` processes on one PostgreSQL and one Synapse room, and what the partner typed."""

    def __init__(self, synapse: LocalSynapse, url: str, folder: Path) -> None:
        self.folder, self.url = folder, url
        bot, partner, room, start = room_with_partner(synapse)
        with httpx.Client(base_url=synapse.base_url, headers={"Authorization": f"Bearer {bot.access_token}"}) as http:
            prompt = http.put(  # a reflection prompt brug posted: replies in its thread are answers
                f"/_matrix/client/v3/rooms/{room}/send/m.room.message/prompt",
                json={"msgtype": "m.text", "body": "Wat liep goed?", "be.brug.key": PROMPT_KEY},
            ).json()["event_id"]
        self.server = Homeserver(synapse, partner, bot, room)
        self.prompt = prompt
        self.bot = bot
        (folder / "partnerschappen").mkdir()
        partnership_file(folder / "partnerschappen", PID, "Race", [("An", partner.user_id, True)])
        self.configs = []
        for slot in range(2):  # each instance its own device: a doubled reply would show in the room
            device = bot if slot == 0 else login(synapse, bot.user_id, "pw")
            (folder / f"token-{slot}").write_text(device.access_token)
            config = folder / f"brug-{slot}.toml"
            config.write_text(
                f'partnerships = ["partnerschappen"]\nworkspace = "werkruimte"\nstate = "{url}"\n'
                "[schedule]\nreconcile_minutes = 600\n"
                f"[instances]\nlease_seconds = {TTL}\nrenew_seconds = {RENEW}\n"
                f'[matrix]\nhomeserver = "{synapse.base_url}"\nuser_id = "{bot.user_id}"\n'
                f'device_id = "{device.device_id}"\naccess_token_file = "token-{slot}"\n',
                encoding="utf-8",
            )
            self.configs.append(config)
        self.store = Store(url)
        seed(self.store, room, prompt, bot.user_id, start)
        self.engine = create_engine(engine_url(url))
        self.processes: dict[int, subprocess.Popen[bytes]] = {}
        self.sent: dict[str, str] = {}  # event id -> what it was: "actie", "agendapunt", "answer"

    # --- the instances -----------------------------------------------------------------------------------

    def start(self, slot: int) -> None:
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
        env.update(PYTHONPATH=str(ROOT / "plugin"), COLUMNS="300")
        log = (self.folder / f"instance-{slot}.log").open("ab")
        command = [sys.executable, "-m", "brug", "--config", str(self.configs[slot]), "-v", "run"]
        self.processes[slot] = subprocess.Popen(command, env=env, stdout=log, stderr=log, cwd=self.folder)

    def instance(self, slot: int, timeout: float = 120) -> str:
        """The instance id of a slot's process, once it has joined."""
        pid = self.processes[slot].pid
        return self.wait(lambda: self.one("SELECT id FROM instances WHERE pid = :pid", pid=pid), timeout, "joined")

    def listener(self) -> str | None:
        return self.one(
            "SELECT owner FROM leases WHERE name = :name AND expires_at > now()", name=LISTENER
        )

    def one(self, sql: str, **params: Any) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(text(sql), params).scalar()

    def signal(self, slot: int, sig: signal.Signals) -> None:
        self.processes[slot].send_signal(sig)

    def stop(self, slot: int, timeout: float = 90) -> int:
        process = self.processes.pop(slot)
        process.send_signal(signal.SIGTERM)
        return process.wait(timeout=timeout)

    def log(self, slot: int) -> str:
        return (self.folder / f"instance-{slot}.log").read_text(errors="replace")

    def logs(self) -> str:
        return "\n".join(f"--- instance {s}\n{self.log(s)[-4000:]}" for s in (0, 1))

    def close(self) -> None:
        for process in self.processes.values():
            process.send_signal(signal.SIGCONT)
            process.kill()
            process.wait()
        self.server.close()
        self.store.close()
        self.engine.dispose()

    # --- the partner ---------------------------------------------------------------------------------------

    def command(self, n: int) -> str:
        """The n-th thing the partner types: an action, an agenda point or an answer to the prompt, in turn."""
        kind = ("actie", "agendapunt", "answer")[n % 3]
        if kind == "answer":
            event = self.server.say(f"Antwoord {n}: het overleg liep vlot.", thread_root=self.prompt)
        else:
            event = self.server.say(f"!{kind} Taak {n}")
        self.sent[event] = kind
        return event

    def answered(self) -> set[str]:
        return set(self.server.replies()) & set(self.sent)

    def wait(self, check, timeout: float, what: str):  # type: ignore[no-untyped-def]
        began = time.time()
        while time.time() - began < timeout:
            found = check()
            if found:
                return found
            time.sleep(0.25)
        raise AssertionError(f"not {what} within {timeout} s\n{self.logs()}")

    def all_answered(self, timeout: float = 90) -> None:
        self.wait(lambda: self.answered() == set(self.sent), timeout, "every command answered")


def room_with_partner(synapse: LocalSynapse) -> tuple[Account, Account, str, str]:
    """brug's account, a partner, a room of both, and the sync token from where brug listens."""
    bot = synapse.register(unique("brugrace"), "pw")
    partner = synapse.register(unique("an"), "pw")
    with httpx.Client(base_url=synapse.base_url, headers={"Authorization": f"Bearer {bot.access_token}"}) as http:
        room = http.post(
            "/_matrix/client/v3/createRoom", json={"preset": "private_chat", "invite": [partner.user_id]}
        ).json()["room_id"]
        start = http.get("/_matrix/client/v3/sync", params={"timeout": 0}).json()["next_batch"]
    with httpx.Client(base_url=synapse.base_url, headers={"Authorization": f"Bearer {partner.access_token}"}) as h:
        h.post(f"/_matrix/client/v3/rooms/{room}/join", json={}).raise_for_status()
    return bot, partner, room, start


def login(synapse: LocalSynapse, user_id: str, password: str) -> Account:
    """Another device of the same account, as a second host running brug would have."""
    body = {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": user_id}, "password": password}
    with httpx.Client(base_url=synapse.base_url, timeout=60) as http:
        reply = http.post("/_matrix/client/v3/login", json=body).raise_for_status().json()
    return Account(reply["user_id"], reply["access_token"], reply["device_id"], password)


def seed(store: Store, room: str, prompt: str, bot_id: str, since: str) -> None:
    """The partnership applied a moment ago with its room, its prompt sent, and the point where brug listens."""
    now = datetime.now(UTC)
    later = (now + timedelta(days=400)).isoformat(timespec="seconds")  # nothing falls due during the test
    data = json.dumps({"name": "algemeen", "topic": "", "alias": "", "join": "invite"})
    with store.engine.begin() as conn:
        conn.execute(
            insert(resources),
            [dict(partnership_id=PID, platform="matrix", kind="room", key="algemeen", ref=room, updated_at=now, data=data)],
        )
        conn.execute(
            insert(partnerships),
            [dict(id=PID, name="Race", workflow="samenwerken", phase="ja-graag", phase_changes=0, applied_at=now)],
        )
        conn.execute(
            insert(schedule_marks), [dict(partnership_id=PID, kind=k, upto=later) for k in (AGENDA, REFLECTION, BAROMETER)]
        )
        conn.execute(
            insert(outbox),
            [
                dict(
                    platform="matrix",
                    key=PROMPT_KEY,
                    partnership_id=PID,
                    room="algemeen",
                    kind="reflection",
                    content="Wat liep goed?",
                    status="sent",
                    ref=prompt,
                    created_at=now,
                    sent_at=now,
                )
            ],
        )
    store.put_sync_token("matrix", bot_id, since)


def ran(log: str) -> Counter[str]:
    """Commands and answers an instance's log says it handled, by kind."""
    count: Counter[str] = Counter(m.group(1) for m in re.finditer(rf"{PID}: \S+ ran !(\w+)", log))
    count["answer"] = len(re.findall(rf"{PID}: collected an answer", log))
    return count


@pytest.fixture
def race(synapse: LocalSynapse, postgres: PostgresServer, tmp_path: Path):  # type: ignore[no-untyped-def]
    world = Race(synapse, postgres.url(), tmp_path)
    try:
        yield world
    finally:
        world.close()
        postgres.disconnect_all()


def test_two_listeners_race_over_a_frozen_one_and_a_clean_stop_every_command_once(race: Race) -> None:
    began = time.time()
    race.start(0)
    first = race.instance(0)
    race.wait(lambda: race.listener() == first, 60, "listening on instance 0")
    race.command(0)  # listening: the first command is answered
    race.all_answered()
    race.start(1)
    second = race.instance(1)

    # 1. the listener freezes past its lease; instance 1 is elected and answers what comes meanwhile
    race.signal(0, signal.SIGSTOP)
    frozen_at = time.time()
    for n in range(1, 4):
        race.command(n)
        time.sleep(1.0)
    race.wait(lambda: race.listener() == second, 60, "listener taken over by instance 1")
    took_over = time.time() - frozen_at
    for n in range(4, 6):
        race.command(n)
    race.all_answered()
    # 2. it wakes with the sync it had in flight while commands keep coming
    race.signal(0, signal.SIGCONT)
    for n in range(6, 12):
        race.command(n)
        time.sleep(0.3)
    race.all_answered()
    race.wait(lambda: "stopped listening on Matrix" in race.log(0), 30, "instance 0 stopping its listener")
    for n in range(12, 15):  # after it has seen its lease gone: still one answer each
        race.command(n)
    race.all_answered()

    # 3. a clean stop of the listener while commands arrive: instance 0 takes it back
    for n in range(15, 18):
        race.command(n)
        time.sleep(0.3)
    assert race.stop(1) == 0, race.logs()
    for n in range(18, 21):
        race.command(n)
        time.sleep(0.3)
    race.wait(lambda: race.listener() == first, 60, "listener back on instance 0")
    race.all_answered()
    time.sleep(3)  # a late second answer would come now
    assert race.stop(0) == 0, race.logs()

    replies = race.server.replies()
    doubled = {event: n for event, n in replies.items() if n > 1}
    assert not doubled, f"commands answered more than once: {doubled}\n{race.logs()}"
    assert set(replies) == set(race.sent), race.logs()
    kinds = Counter(race.sent.values())
    with race.engine.connect() as conn:
        actions = conn.execute(text("SELECT origin FROM actions WHERE partnership_id = :p"), {"p": PID}).scalars().all()
        points = conn.execute(text("SELECT origin FROM agenda_items WHERE partnership_id = :p"), {"p": PID}).scalars()
        answers = conn.execute(text("SELECT event_id FROM answers WHERE partnership_id = :p"), {"p": PID}).scalars()
        points, answers = points.all(), answers.all()
    assert sorted(actions) == sorted(f"matrix:{e}" for e, k in race.sent.items() if k == "actie")
    assert sorted(points) == sorted(f"matrix:{e}" for e, k in race.sent.items() if k == "agendapunt")
    assert sorted(answers) == sorted(e for e, k in race.sent.items() if k == "answer")
    handled = ran(race.log(0)) + ran(race.log(1))  # each handled once, not twice with the same effect
    assert handled == kinds, f"{handled} != {kinds}\n{race.logs()}"
    assert ran(race.log(1))["actie"] > 0 and ran(race.log(0))["actie"] > 0  # both listened in turn
    print(
        f"\n{len(race.sent)} commands over a frozen listener and a clean stop; listener taken over "
        f"{took_over:.1f} s after the freeze (lease {TTL} s, renewed every {RENEW} s); {time.time() - began:.0f} s"
    )


async def test_a_listener_whose_lease_moved_on_handles_nothing_of_its_batch(
    synapse: LocalSynapse, postgres: PostgresServer
) -> None:
    """The race made deterministic, in one process: instance b holds the listener and is in the middle of
    answering a command when instance a (its lease run out while it stalled) syncs and finds the same
    command. a must neither answer it nor store its sync token: the lease is checked in the transaction
    that finds the command unhandled, and again before the answer goes out."""
    from brug.adapters.matrix import MatrixAccount, MatrixChat
    from brug.app.leases import Coordinator

    bot, partner, room, start = room_with_partner(synapse)
    url = postgres.url()
    stores = {name: Store(url) for name in "ab"}  # two processes: a store (and lease holder) each
    stores["a"].put_resource(PID, "matrix", "room", "algemeen", room)
    stores["a"].put_sync_token("matrix", bot.user_id, start)
    leases = {name: Coordinator(stores[name].engine, ttl=2, renew=0.5, instance_id=name) for name in "ab"}
    for name in "ab":
        leases[name].register()
    chats = {}
    for name, device in (("a", bot), ("b", login(synapse, bot.user_id, "pw"))):
        account = MatrixAccount(synapse.base_url, bot.user_id, device.device_id, device.access_token)
        chats[name] = MatrixChat(account, stores[name])
        stores[name].listener_guard = leases[name].guard_listener
    server = Homeserver(synapse, partner, bot, room)
    handlers = HeldHandlers("b")  # b is answering the command when a wakes

    try:
        assert leases["a"].tick([], [LISTENER]).listeners_gained == [LISTENER]
        await asyncio.sleep(2.5)  # a stalls past its lease; b is elected
        assert leases["b"].tick([], [LISTENER]).listeners_gained == [LISTENER]
        command = server.say("!actie Verslag rondsturen")
        answering = asyncio.create_task(chats["b"].sync_once(handlers.of("b")))
        await handlers.holder_inside()
        lost = None
        try:  # a wakes and syncs from the same token: the command is b's
            await chats["a"].sync_once(handlers.of("a"))
        except LeaseLost as err:
            lost = err
        handlers.release()
        assert await answering == 1
        assert handlers.handled == [("b", command)], "the listener that lost its lease handled the command too"
        assert server.replies() == Counter({command: 1})
        assert lost is not None  # and says so: brug's listener loop stops on it
        token = stores["a"].sync_token("matrix", bot.user_id)
        assert token != start  # b's, stored after its batch; a stored nothing
    finally:
        handlers.release()
        server.close()
        for name in "ab":
            await chats[name].close()
            stores[name].close()
        postgres.disconnect_all()
