"""Benchmark: N reflection prompts due at the same moment, posted to a local Synapse.

Run from the repository root:

    PYTHONPATH=plugin python bench/fanout.py [--count 1000] [--concurrency 8] [--rounds 2]

What it does:

1. starts a throwaway Synapse (rate limits off) in a temporary folder and registers a bot and one
   partner;
2. writes N partnership files (one organisation, one member: the partner; `platforms: {chat: [matrix]}`;
   a daily reflection rhythm at 10:00 Brussels time, pulse off, no meetings) and loads them with
   `Bot.load()`;
3. SHORTCUT for the set-up: instead of `brug apply` (a space and three rooms per partnership, ~1 s each),
   it creates ONE room per partnership with plain matrix-nio (the 'reflectie' room) and registers it
   with `store.put_resource(pid, "matrix", "room", "reflectie", room_id)`; the schedule marks are put
   one minute before the slot and the clock is fixed one second after it, so one `Scheduler.tick()`
   has all N prompts due. None of this is timed;
4. waits until Synapse is idle and runs one untimed brug round as a warm-up, then measures three
   variants per round, the order rotating every round: (a) brug: one `await scheduler.tick()` posting
   all N prompts through the real path (scheduler -> post_reflection -> deliver -> outbox -> LocalChat
   transcript + MatrixChat); (b) baseline: a plain matrix-nio loop (its own client, an
   asyncio.Semaphore of the same size) sending N short messages to the same N rooms; (c) the same loop
   sending exactly the body and HTML brug posted in the warm-up, which separates Synapse's cost of a
   bigger message from brug's own overhead (`--no-same-content` leaves it out). Each brug round uses the
   next day's slot, so every round posts N new prompts. The best of each is reported, with
   brug/baseline throughput (goal: >= 0.9), also per round;
5. checks that every prompt went out exactly once: the store (slot done, one sent outbox row with an
   event id per partnership and round) and the rooms' timelines (all rooms or a sample);
6. memory: writes N partnership files with `platforms: {chat: [local]}` and a brug.toml whose [matrix]
   section points at the local Synapse, runs `brug apply` once (so the reconcile that `brug run` does
   at start has nothing left to write), then starts `python -m brug --config ... run`, waits until its
   CPU use settles, samples VmRSS/VmHWM from /proc every 0.5 s for --rss-seconds and stops it with
   SIGTERM. This is done twice: with a fresh bot account (in no room: the cost of holding N
   partnerships) and with the bot of step 4 (in N rooms: its first sync carries them all). An idle
   `python -c "import brug.cli"` is measured as a reference.

Timings are reported, never asserted: the script exits 0 when it ran (1 only when the exactly-once
check failed, 2 when it could not run). The last line of output is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

try:
    import brug  # noqa: F401
except ImportError:  # run without PYTHONPATH: use the package next to this script
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugin"))

from nio import (
    AsyncClient,
    AsyncClientConfig,
    MessageDirection,
    RoomCreateResponse,
    RoomMessagesResponse,
    RoomPreset,
    RoomSendResponse,
)

from brug.adapters.local import LocalChat, LocalFiles
from brug.adapters.matrix import TAG, MatrixAccount, MatrixChat, message_content
from brug.app.bot import Bot
from brug.app.jobs import slot_id
from brug.app.scheduler import AGENDA, REFLECTION, TickReport
from brug.app.service import Runtime, content_digest
from brug.content.library import load_library
from brug.content.render import Renderer
from brug.devservers.synapse import Account, LocalSynapse
from brug.store import Store

PLUGIN = Path(__file__).resolve().parents[1] / "plugin"
FIRST_SLOT = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # Monday 23 November 2026, 10:00 in Brussels
PASSWORD = "bench-fanout"
MARKER = "be.brug.bench"  # content key that tells the baseline's messages apart from brug's
GOAL_RATIO = 0.9
GOAL_RSS_MB = 200.0
PAGE = os.sysconf("SC_PAGE_SIZE")
TICKS = os.sysconf("SC_CLK_TCK")


class Clock:
    """A fixed clock the benchmark moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Run:
    what: str  # "brug" | "baseline"
    round: int | str
    wall: float
    cpu: float  # CPU seconds of this process (brug or the nio loop, plus the event loop)
    synapse_cpu: float  # CPU seconds Synapse spent meanwhile
    sent: int
    failed: int = 0

    @property
    def rate(self) -> float:
        return self.sent / self.wall if self.wall else float("inf")


@dataclass
class Memory:
    label: str
    settled_after_s: float | None = None
    hwm_mb: float = 0.0  # VmHWM at the end: the peak since the process started (incl. its start-up)
    window_peak_mb: float = 0.0  # highest VmRSS sampled after it settled
    window_last_mb: float = 0.0
    samples: int = 0
    exit_code: int | None = None
    note: str = ""


@dataclass
class Figures:
    runs: list[Run] = field(default_factory=list)
    memory: list[Memory] = field(default_factory=list)
    checks: dict[str, Any] = field(default_factory=dict)
    setup: dict[str, float] = field(default_factory=dict)


# --- small helpers --------------------------------------------------------------------------------------


def proc_cpu(pid: int | None) -> float:
    """User + system CPU seconds of a process (0 when it is gone)."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def proc_status(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM of a process in MB (empty when it is gone)."""
    out: dict[str, float] = {}
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return out
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) / 1024
    return out


async def wait_quiet(pid: int | None, timeout: float, window: float = 3.0, busy: float = 0.1) -> float:
    """Wait until a process used less than `busy` of a CPU over the last `window` seconds; the seconds waited."""
    started = time.monotonic()
    history: list[tuple[float, float]] = []
    while time.monotonic() - started < timeout:
        now = time.monotonic()
        history.append((now, proc_cpu(pid)))
        before = [cpu for at, cpu in history if at <= now - window]
        if before and history[-1][1] - before[-1] < busy * window:
            break
        await asyncio.sleep(0.5)
    return time.monotonic() - started


async def gather_limited(limit: int, calls: list[Callable[[], Awaitable[Any]]]) -> list[Any]:
    gate = asyncio.Semaphore(limit)

    async def one(call: Callable[[], Awaitable[Any]]) -> Any:
        async with gate:
            return await call()

    return await asyncio.gather(*(one(c) for c in calls))


def nio_client(synapse: LocalSynapse, account: Account) -> AsyncClient:
    config = AsyncClientConfig(request_timeout=60, max_timeouts=5, store_sync_tokens=False)
    client = AsyncClient(synapse.base_url, account.user_id, device_id=account.device_id, config=config)
    client.restore_login(account.user_id, account.device_id, account.access_token)
    return client


# --- partnership files ------------------------------------------------------------------------------------


def pid_of(i: int) -> str:
    return f"fanout-{i:05d}"


def write_fanout_files(folder: Path, count: int, partner: str) -> None:
    """N small partnerships: one organisation, one member (the partner), a daily prompt at 10:00."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        text = textwrap.dedent(f"""\
            id: {pid_of(i)}
            name: Fanout {i}
            workflow: samenwerken
            phase: ja-graag
            platforms: {{chat: [matrix], files: local}}
            reflection:
              start: "2026-11-02 10:00"
              rrule: "FREQ=DAILY"
              pulse: false
              skip_school_holidays: false
            organisations:
              - id: org-{i}
                name: Organisatie {i}
                kind: basisschool
                members:
                  - name: Partner {i}
                    role: Medewerker
                    coordinator: true
                    matrix: "{partner}"
            """)
        (folder / f"{pid_of(i)}.yaml").write_text(text, encoding="utf-8")


def write_rss_files(folder: Path, count: int, seed: int) -> str:
    """N partnership files for `brug run`, on the local chat only. Realistic ones when bench/render.py
    (which generates them) can be imported, small ones otherwise; returns which."""
    import yaml

    folder.mkdir(parents=True, exist_ok=True)
    try:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from render import generate  # type: ignore[import-not-found]

        library = load_library()
        rng = random.Random(seed)
        for i in range(count):
            data = generate(i, rng, library)
            data["platforms"] = {"chat": ["local"], "files": "local"}
            text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=110)
            (folder / f"{data['id']}.yaml").write_text(text, encoding="utf-8")
        return "realistic (bench/render.py generator: 5-12 organisations, meetings, reflection)"
    except Exception as err:  # noqa: BLE001 - fall back to the small files
        for path in folder.glob("*.yaml"):
            path.unlink()
        write_fanout_files(folder, count, "@partner:localhost")
        for path in folder.glob("*.yaml"):
            path.write_text(path.read_text().replace("chat: [matrix]", "chat: [local]"), encoding="utf-8")
        return f"small (one organisation, one member; render.py not usable: {err})"


def write_config(folder: Path, synapse: LocalSynapse, bot: Account) -> Path:
    """A brug.toml like the demo writes: the token in a file next to the state."""
    token = folder / ".brug" / "bot-token"
    token.parent.mkdir(parents=True, exist_ok=True)
    token.write_text(bot.access_token)
    token.chmod(0o600)
    config = folder / "brug.toml"
    config.write_text(
        'partnerships = ["partnerschappen"]\nworkspace = "werkruimte"\nstate = ".brug/state.db"\n\n'
        f'[matrix]\nhomeserver = "{synapse.base_url}"\nuser_id = "{bot.user_id}"\n'
        f'device_id = "{bot.device_id}"\naccess_token_file = ".brug/bot-token"\n',
        encoding="utf-8",
    )
    return config


# --- the fan-out --------------------------------------------------------------------------------------


def make_runtime(folder: Path, synapse: LocalSynapse, bot: Account, clock: Clock) -> Runtime:
    """Like bot.build_runtime (and tests/matrix/world.py) for a brug.toml with a [matrix] section."""
    store = Store.at(folder / ".brug" / "state.db")
    workspace = folder / "werkruimte"
    rt = Runtime(
        library=load_library(),
        renderer=Renderer(),
        store=store,
        files=LocalFiles(workspace),
        chats={"local": LocalChat(workspace, clock)},
        clock=clock,
        content_digest=content_digest(),
    )
    matrix = MatrixChat(MatrixAccount(synapse.base_url, bot.user_id, bot.device_id, bot.access_token), store)
    rt.chats["matrix"] = matrix
    rt.provisioners["matrix"] = matrix
    return rt


async def create_rooms(client: AsyncClient, pids: list[str], concurrency: int) -> dict[str, str]:
    """One 'reflectie' room per partnership, tagged like brug tags its rooms (set-up shortcut)."""

    async def create(pid: str) -> tuple[str, str]:
        response = await client.room_create(
            name=f"{pid} · reflectie",
            preset=RoomPreset.private_chat,
            initial_state=[{"type": TAG, "state_key": "", "content": {"partnership": pid, "room": "reflectie"}}],
        )
        if not isinstance(response, RoomCreateResponse):
            raise RuntimeError(f"creating the room of {pid}: {response}")
        return pid, response.room_id

    return dict(await gather_limited(concurrency, [lambda pid=pid: create(pid) for pid in pids]))


def slot_at(round_: int) -> datetime:
    return FIRST_SLOT + timedelta(days=round_)


async def brug_round(
    bot: Bot,
    clock: Clock,
    pids: list[str],
    round_: int,
    concurrency: int,
    synapse_pid: int | None,
    profile: bool = False,
) -> tuple[Run, TickReport, str]:
    """All N prompts of one slot due at once; time one tick."""
    at = slot_at(round_)
    store = bot.rt.store
    for pid in pids:  # set-up, not timed: one minute before the slot, as if the last tick was then
        store.set_schedule_mark(pid, REFLECTION, at - timedelta(minutes=1))
        store.set_schedule_mark(pid, AGENDA, at - timedelta(minutes=1))
    clock.now = at + timedelta(seconds=1)
    scheduler = bot.scheduler()
    scheduler.concurrency = concurrency
    profiler = None
    if profile:
        from pyinstrument import Profiler

        profiler = Profiler(async_mode="enabled", interval=0.001)
        profiler.start()
    s_cpu, cpu, wall = proc_cpu(synapse_pid), time.process_time(), time.perf_counter()
    report = await scheduler.tick()
    wall, cpu, s_cpu = time.perf_counter() - wall, time.process_time() - cpu, proc_cpu(synapse_pid) - s_cpu
    text = ""
    if profiler is not None:
        profiler.stop()
        text = profiler.output_text(unicode=False, color=False, show_all=False)
    sent = len(report.done) + len(report.late)
    return Run("brug", round_, wall, cpu, s_cpu, sent, len(report.failed)), report, text


BASELINE = "baseline"
SAME = "baseline, brug's content"


async def baseline_round(
    client: AsyncClient,
    rooms: dict[str, str],
    round_: int | str,
    concurrency: int,
    synapse_pid: int | None,
    contents: dict[str, dict[str, Any]] | None = None,
) -> Run:
    """The same N rooms, a plain nio loop: the fastest brug could possibly be. With `contents`, each room
    gets exactly the message brug posted there (same body and HTML), to tell Synapse's cost of a bigger
    message apart from brug's own overhead."""
    gate = asyncio.Semaphore(concurrency)
    failed = 0
    kind = "same" if contents is not None else "baseline"

    async def send(i: int, pid: str, room_id: str) -> None:
        nonlocal failed
        async with gate:
            if contents is not None:
                content = {**contents[pid], MARKER: f"{kind}-{round_}"}
            else:
                content = {"msgtype": "m.text", "body": f"baseline {round_}/{i}", MARKER: f"{kind}-{round_}"}
            response = await client.room_send(room_id, "m.room.message", content)
            if not isinstance(response, RoomSendResponse):
                failed += 1

    s_cpu, cpu, wall = proc_cpu(synapse_pid), time.process_time(), time.perf_counter()
    await asyncio.gather(*(send(i, pid, room) for i, (pid, room) in enumerate(rooms.items())))
    wall, cpu, s_cpu = time.perf_counter() - wall, time.process_time() - cpu, proc_cpu(synapse_pid) - s_cpu
    return Run(SAME if contents is not None else BASELINE, round_, wall, cpu, s_cpu, len(rooms) - failed, failed)


def brug_contents(store: Store, round_: int) -> dict[str, dict[str, Any]]:
    """The Matrix message brug posted to each partnership in `round_`, built by brug's own message_content."""
    from sqlalchemy import text

    prefix = f"%/reflection/{slot_id(slot_at(round_))}/%"
    with store.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT partnership_id, content FROM outbox WHERE platform = 'matrix' AND key LIKE :prefix"),
            {"prefix": prefix},
        ).all()
    return {row.partnership_id: message_content(row.content) for row in rows}


# --- exactly once -----------------------------------------------------------------------------------------


def check_store(store: Store, pids: list[str], brug_rounds: list[int]) -> dict[str, Any]:
    """Every partnership: each round's slot done, one prompt key per slot, sent on Matrix with an event id."""
    problems: list[str] = []
    refs: dict[str, set[str]] = {}
    for pid in pids:
        keys = store.post_keys(pid, "reflection")
        mine: set[str] = set()
        for r in brug_rounds:
            at = slot_at(r)
            if store.slot_status(pid, REFLECTION, at) != "done":
                problems.append(f"{pid}: slot {at:%Y-%m-%d} is {store.slot_status(pid, REFLECTION, at)}")
            prefix = f"{pid}/reflection/{slot_id(at)}/"
            slot_keys = [k for k in keys if k.startswith(prefix)]
            if len(slot_keys) != 1:
                problems.append(f"{pid}: {len(slot_keys)} prompt keys for {at:%Y-%m-%d}")
                continue
            if not store.is_sent("matrix", slot_keys[0]):
                problems.append(f"{pid}: {slot_keys[0]} not sent on matrix")
                continue
            ref = store.sent_post_by_key("matrix", slot_keys[0])
            if not ref or not ref.startswith("$"):
                problems.append(f"{pid}: {slot_keys[0]} has no event id ({ref!r})")
            else:
                mine.add(ref)
        refs[pid] = mine
    all_refs = [ref for refs_ in refs.values() for ref in refs_]
    if len(set(all_refs)) != len(all_refs):
        problems.append(f"{len(all_refs) - len(set(all_refs))} event ids shared between partnerships")
    return {"problems": problems, "refs": refs, "sent": len(all_refs)}


async def check_rooms(
    client: AsyncClient,
    rooms: dict[str, str],
    refs: dict[str, set[str]],
    bot_id: str,
    brug_rounds: int,
    baseline_rounds: list[tuple[str, int]],
    sample: list[str],
) -> dict[str, Any]:
    """Read each sampled room's timeline: brug's prompts exactly once each (the outbox's event ids), and
    one message per baseline run."""
    problems: list[str] = []

    async def one(pid: str) -> None:
        response = await client.room_messages(rooms[pid], direction=MessageDirection.back, limit=200)
        if not isinstance(response, RoomMessagesResponse):
            problems.append(f"{pid}: reading the room failed: {response}")
            return
        events = [e.source for e in response.chunk]
        messages = [e for e in events if e.get("type") == "m.room.message" and e.get("sender") == bot_id]
        ours = [e for e in messages if MARKER not in e.get("content", {})]
        theirs = [e for e in messages if MARKER in e.get("content", {})]
        ids = [e["event_id"] for e in ours]
        if len(ours) != brug_rounds or set(ids) != refs.get(pid, set()):
            problems.append(f"{pid}: {len(ours)} brug prompts in the room, {len(refs.get(pid, ()))} in the outbox")
        per_round = [sum(1 for e in theirs if e["content"][MARKER] == f"{kind}-{r}") for kind, r in baseline_rounds]
        if any(n != 1 for n in per_round):
            problems.append(f"{pid}: baseline messages per round {per_round}")

    await gather_limited(8, [lambda pid=pid: one(pid) for pid in sample])
    return {"problems": problems, "rooms_read": len(sample)}


# --- memory of `brug run` --------------------------------------------------------------------------------


def brug_cmd(python: str, config: Path, *args: str) -> list[str]:
    return [python, "-m", "brug", "--config", str(config), *args]


def brug_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(PLUGIN), *filter(None, [env.get("PYTHONPATH")])])
    env.pop("BRUG_MATRIX__ACCESS_TOKEN", None)
    return env


def idle_import_rss(python: str) -> dict[str, float]:
    code = (
        "import brug.cli, json\n"
        "s = {l.split(':')[0]: int(l.split()[1]) / 1024 for l in open('/proc/self/status') "
        "if l.startswith(('VmRSS', 'VmHWM'))}\n"
        "print(json.dumps(s))"
    )
    done = subprocess.run([python, "-c", code], env=brug_env(), capture_output=True, text=True, timeout=120)
    return json.loads(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 else {}


def brug_apply(python: str, config: Path, log: Path) -> tuple[float, float, int]:
    """`brug apply` once: wall seconds, peak RSS (MB, from wait4) and the exit code."""
    started = time.perf_counter()
    with log.open("w") as out:
        process = subprocess.Popen(
            brug_cmd(python, config, "apply"), cwd=config.parent, env=brug_env(), stdout=out, stderr=subprocess.STDOUT
        )
        try:
            _, status, usage = os.wait4(process.pid, 0)
        except BaseException:
            process.kill()
            process.wait()
            raise
        process.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - started, usage.ru_maxrss / 1024, process.returncode


def brug_run_memory(
    label: str,
    python: str,
    config: Path,
    log: Path,
    seconds: float,
    settle_timeout: float,
    processes: list[subprocess.Popen[bytes]],
) -> Memory:
    """Start `brug run`, wait until its CPU use settles, sample its RSS, stop it with SIGTERM."""
    memory = Memory(label)
    with log.open("w") as out:
        process = subprocess.Popen(
            brug_cmd(python, config, "run"), cwd=config.parent, env=brug_env(), stdout=out, stderr=subprocess.STDOUT
        )
    processes.append(process)
    started = time.monotonic()
    cpu_history: list[float] = []
    while True:  # settled: alive for 3 s at least and under 0.05 s of CPU in the last 2 s
        time.sleep(0.5)
        if process.poll() is not None:
            memory.exit_code = process.returncode
            memory.note = f"brug run stopped by itself (exit {process.returncode}); see {log}"
            return memory
        cpu_history.append(proc_cpu(process.pid))
        elapsed = time.monotonic() - started
        if elapsed > 3 and len(cpu_history) > 4 and cpu_history[-1] - cpu_history[-5] < 0.05:
            memory.settled_after_s = round(elapsed, 1)
            break
        if elapsed > settle_timeout:
            memory.note = f"did not settle within {settle_timeout:.0f} s; sampled anyway"
            break
    end = time.monotonic() + seconds
    while time.monotonic() < end and process.poll() is None:
        status = proc_status(process.pid)
        if status:
            memory.samples += 1
            memory.window_peak_mb = max(memory.window_peak_mb, status.get("VmRSS", 0.0))
            memory.window_last_mb = status.get("VmRSS", 0.0)
            memory.hwm_mb = status.get("VmHWM", memory.hwm_mb)
        time.sleep(0.5)
    process.send_signal(signal.SIGTERM)
    try:
        memory.exit_code = process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        memory.exit_code = process.wait()
        memory.note += " (did not stop within 30 s of SIGTERM; killed)"
    return memory


# --- main ---------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1000, help="number of partnerships (default 1000)")
    parser.add_argument("--concurrency", type=int, default=8, help="posts in flight, brug and baseline (default 8)")
    parser.add_argument("--rounds", type=int, default=2, help="timed rounds of each variant, alternating (default 2)")
    parser.add_argument(
        "--no-same-content",
        dest="same_content",
        action="store_false",
        help="leave out the baseline that sends brug's own messages",
    )
    parser.add_argument("--sample", type=int, default=100, help="rooms whose timeline is read (0: all; default 100)")
    parser.add_argument("--setup-concurrency", type=int, default=16, help="room creations in flight (default 16)")
    parser.add_argument("--quiet-timeout", type=float, default=300, help="max wait for Synapse to go idle (s)")
    parser.add_argument("--rss-seconds", type=float, default=30.0, help="RSS sampling after brug run settled")
    parser.add_argument("--skip-rss", action="store_true", help="skip the `brug run` memory part")
    parser.add_argument("--profile", action="store_true", help="profile one extra brug round with pyinstrument")
    parser.add_argument("--seed", type=int, default=1, help="seed for the files of the memory part (default 1)")
    parser.add_argument(
        "--workdir",
        type=Path,
        help="an empty folder to work in, kept afterwards (default: a temporary one, removed after)",
    )
    args = parser.parse_args(argv)

    if args.rounds < 1 or args.count < 3:
        parser.error("--rounds must be at least 1 and --count at least 3")
    temporary = args.workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="brug-fanout-")) if temporary else args.workdir.resolve()
    if not temporary and workdir.exists() and any(workdir.iterdir()):
        print(f"{workdir} is not empty: give a new or empty folder (its Synapse accounts would clash)", file=sys.stderr)
        return 2
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        return asyncio.run(run(args, workdir))
    finally:
        if temporary:
            shutil.rmtree(workdir, ignore_errors=True)


async def run(args: argparse.Namespace, workdir: Path) -> int:
    count, concurrency = args.count, args.concurrency
    figures = Figures()
    synapse = LocalSynapse(workdir / "synapse", ratelimits=False)
    processes: list[subprocess.Popen[bytes]] = []
    clients: list[AsyncClient] = []
    bot_obj: Bot | None = None
    profile_text = ""
    rss_files = ""
    apply_figures: dict[str, float] = {}
    idle: dict[str, float] = {}
    try:
        t0 = time.perf_counter()
        synapse.start()
        bot_account = synapse.register("brug", PASSWORD, admin=True)
        partner = synapse.register("partner", PASSWORD)
        figures.setup["synapse_start_s"] = time.perf_counter() - t0

        # partnerships, loaded like brug run loads them
        folder = workdir / "fanout"
        t0 = time.perf_counter()
        write_fanout_files(folder / "partnerschappen", count, partner.user_id)
        clock = Clock(slot_at(0))
        bot_obj = Bot(make_runtime(folder, synapse, bot_account, clock), [folder / "partnerschappen"])
        problems = bot_obj.load()
        if problems or len(bot_obj.loaded) != count:
            print(f"the generated partnership files were refused: {problems[:3]}", file=sys.stderr)
            return 2
        pids = sorted(bot_obj.loaded)
        figures.setup["files_and_load_s"] = time.perf_counter() - t0

        # set-up shortcut: one room per partnership with plain nio, registered in brug's store
        t0 = time.perf_counter()
        setup_client = nio_client(synapse, bot_account)
        clients.append(setup_client)
        rooms = await create_rooms(setup_client, pids, args.setup_concurrency)
        for pid in pids:
            bot_obj.rt.store.put_resource(pid, "matrix", "room", "reflectie", rooms[pid])
        figures.setup["rooms_s"] = time.perf_counter() - t0

        # Synapse may keep working for a while after creating many rooms: wait until it is quiet. The
        # warm-up is one untimed brug round (templates, statement caches, Synapse's caches of N rooms); its
        # prompts are what the "brug's content" baseline sends again
        figures.setup["synapse_quiet_s"] = await wait_quiet(synapse.pid, args.quiet_timeout)
        baseline_client = nio_client(synapse, bot_account)
        clients.append(baseline_client)
        warm, report, _ = await brug_round(bot_obj, clock, pids, 0, concurrency, synapse.pid)
        warm.what = "brug (warm-up)"
        figures.setup["warmup_s"] = warm.wall
        report_line(warm, report)
        brug_rounds: list[int] = [0]
        baseline_rounds: list[tuple[str, int]] = []
        contents = brug_contents(bot_obj.rt.store, 0) if args.same_content else None
        variants = [BASELINE, "brug", *([SAME] if args.same_content else [])]
        for r in range(1, args.rounds + 1):  # the order rotates every round, so no variant always goes first
            shift = (r - 1) % len(variants)
            for what in variants[shift:] + variants[:shift]:
                if what == "brug":
                    run_, report, _ = await brug_round(bot_obj, clock, pids, r, concurrency, synapse.pid)
                    figures.runs.append(run_)
                    brug_rounds.append(r)
                    report_line(run_, report)
                else:
                    same = contents if what == SAME else None
                    figures.runs.append(await baseline_round(baseline_client, rooms, r, concurrency, synapse.pid, same))
                    baseline_rounds.append(("same" if same is not None else "baseline", r))
                    report_line(figures.runs[-1])
        if args.profile:
            r = args.rounds + 1
            run_, report, profile_text = await brug_round(bot_obj, clock, pids, r, concurrency, synapse.pid, True)
            run_.what = "brug (profiled)"
            figures.runs.append(run_)
            brug_rounds.append(r)
            report_line(run_, report)

        # exactly once
        t0 = time.perf_counter()
        store_check = check_store(bot_obj.rt.store, pids, brug_rounds)
        sample = (
            pids
            if args.sample <= 0 or args.sample >= count
            else sorted({pids[0], pids[-1], *random.Random(7).sample(pids, args.sample - 2)})
        )
        room_check = await check_rooms(
            setup_client, rooms, store_check["refs"], bot_account.user_id, len(brug_rounds), baseline_rounds, sample
        )
        figures.checks = {
            "store_sent": store_check["sent"],
            "store_expected": count * len(brug_rounds),
            "store_problems": store_check["problems"],
            "rooms_read": room_check["rooms_read"],
            "room_problems": room_check["problems"],
            "check_s": time.perf_counter() - t0,
        }
        with bot_obj.rt.store.engine.connect() as conn:
            from sqlalchemy import text

            sizes = conn.execute(text("SELECT avg(length(content)) FROM outbox WHERE platform = 'matrix'")).scalar()
        figures.checks["avg_prompt_markdown_chars"] = round(float(sizes or 0))

        # memory of brug run
        if not args.skip_rss:
            python = sys.executable
            idle = idle_import_rss(python)
            rss_folder = workdir / "rss"
            rss_files = write_rss_files(rss_folder / "partnerschappen", count, args.seed)
            fresh = synapse.register("brug-rss", PASSWORD)
            config = write_config(rss_folder, synapse, fresh)
            wall, peak, code = brug_apply(python, config, workdir / "apply.log")
            apply_figures = {"apply_s": wall, "apply_peak_mb": peak, "apply_exit": code}
            figures.memory.append(
                brug_run_memory(
                    "fresh bot (in no room)",
                    python,
                    config,
                    workdir / "run-fresh.log",
                    args.rss_seconds,
                    600,
                    processes,
                )
            )
            write_config(rss_folder, synapse, bot_account)  # the same partnerships, the bot of the fan-out
            figures.memory.append(
                brug_run_memory(
                    f"fan-out bot (in {count} rooms)",
                    python,
                    config,
                    workdir / "run-busy.log",
                    args.rss_seconds,
                    600,
                    processes,
                )
            )
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
        for client in clients:
            await client.close()
        if bot_obj is not None:
            await bot_obj.rt.close()
            bot_obj.rt.store.close()
        synapse.stop()

    return print_results(args, figures, rss_files, apply_figures, idle, profile_text)


def report_line(run_: Run, report: TickReport | None = None) -> None:
    extra = ""
    if report is not None:
        extra = (
            f"  (done {len(report.done)}, late {len(report.late)}, failed {len(report.failed)}, "
            f"skipped {len(report.skipped)})"
        )
    print(f"  round {run_.round} {run_.what:<26} {run_.wall:7.2f} s  {run_.rate:6.1f} msg/s{extra}", flush=True)


def print_results(
    args: argparse.Namespace,
    figures: Figures,
    rss_files: str,
    apply_figures: dict[str, float],
    idle: dict[str, float],
    profile_text: str,
) -> int:
    count, concurrency = args.count, args.concurrency
    plain = [r for r in figures.runs if r.what == BASELINE]
    same = [r for r in figures.runs if r.what == SAME]
    ours = [r for r in figures.runs if r.what == "brug"]
    best_base = min(plain, key=lambda r: r.wall)
    best_brug = min(ours, key=lambda r: r.wall)
    best_same = min(same, key=lambda r: r.wall) if same else None
    ratio = best_brug.rate / best_base.rate if best_base.rate else 0.0
    ratio_same = best_brug.rate / best_same.rate if best_same and best_same.rate else None
    by_round = {(r.what, r.round): r for r in figures.runs}
    paired = [b.rate / by_round[(BASELINE, b.round)].rate for b in ours if (BASELINE, b.round) in by_round]
    checks = figures.checks
    once = (
        not checks["store_problems"]
        and not checks["room_problems"]
        and checks["store_sent"] == checks["store_expected"]
    )

    print()
    print(
        f"brug fan-out benchmark: {count} partnerships, concurrency {concurrency}, Python "
        f"{platform.python_version()}, {os.cpu_count()} CPU(s) shared by Synapse and this process"
    )
    print(
        "set-up SHORTCUT (not timed): one 'reflectie' room per partnership created with plain nio and put in "
        "brug's store (no space, no invites), instead of `brug apply`"
    )
    print(
        f"set-up: synapse {figures.setup['synapse_start_s']:.1f} s, files + load "
        f"{figures.setup['files_and_load_s']:.1f} s, {count} rooms {figures.setup['rooms_s']:.1f} s, waiting for "
        f"Synapse to go idle {figures.setup['synapse_quiet_s']:.1f} s, untimed warm-up (a brug round) "
        f"{figures.setup['warmup_s']:.1f} s"
    )
    print()
    print(
        f"{'run':<26}{'round':>6}{'wall s':>9}{'msg/s':>9}{'cpu s':>8}{'ms cpu/msg':>11}{'synapse cpu s':>14}"
        f"{'ms synapse/msg':>15}{'failed':>7}"
    )
    for r in figures.runs:
        print(
            f"{r.what:<26}{r.round:>6}{r.wall:>9.2f}{r.rate:>9.1f}{r.cpu:>8.2f}"
            f"{1000 * r.cpu / max(r.sent, 1):>11.2f}{r.synapse_cpu:>14.2f}"
            f"{1000 * r.synapse_cpu / max(r.sent, 1):>15.1f}{r.failed:>7}"
        )
    print("(cpu = this process: brug, or the nio loop; synapse = the homeserver's CPU meanwhile; 2 cores shared)")
    print()
    print(f"best baseline: {best_base.wall:.2f} s = {best_base.rate:.1f} msg/s (plain nio, {count} short messages)")
    if best_same is not None:
        print(
            f"best baseline with brug's content: {best_same.wall:.2f} s = {best_same.rate:.1f} msg/s (plain nio, the "
            f"same body + HTML brug posted)"
        )
    print(
        f"best brug:     {best_brug.wall:.2f} s = {best_brug.rate:.1f} msg/s (one Scheduler.tick, {count} prompts, "
        f"~{checks['avg_prompt_markdown_chars']} chars of markdown each, also written to the local transcript)"
    )
    print(
        f"ratio brug/baseline throughput (best of each): {ratio:.2f}  goal >= {GOAL_RATIO}: "
        f"{'met' if ratio >= GOAL_RATIO else 'MISSED'}"
    )
    if paired:
        print(
            f"  same round only (brug/baseline per round): {', '.join(f'{x:.2f}' for x in paired)}; "
            f"median {statistics.median(paired):.2f}"
        )
    if ratio_same is not None:
        print(f"  brug / baseline with brug's content: {ratio_same:.2f} (brug's own overhead, message size left out)")
    print(
        f"exactly once: {'yes' if once else 'NO'} — store: {checks['store_sent']}/{checks['store_expected']} "
        f"prompts sent with an event id, {len(checks['store_problems'])} problem(s); rooms read: "
        f"{checks['rooms_read']}, {len(checks['room_problems'])} problem(s)"
    )
    for line in [*checks["store_problems"][:5], *checks["room_problems"][:5]]:
        print(f"  ! {line}")

    if figures.memory:
        print()
        print(
            f"memory of `brug run` holding {count} partnerships on the local chat ({rss_files}); "
            f"brug.toml has a [matrix] section for the local Synapse"
        )
        print(
            f"  brug apply beforehand (so run's start-up reconcile writes nothing): "
            f"{apply_figures['apply_s']:.1f} s, peak {apply_figures['apply_peak_mb']:.0f} MB, "
            f"exit {apply_figures['apply_exit']:.0f}"
        )
        print(
            f"  {'variant':<30}{'settled s':>10}{'VmHWM MB':>10}{'peak RSS MB':>12}{'last RSS MB':>12}"
            f"{'samples':>9}{'exit':>6}"
        )
        for m in figures.memory:
            settled = f"{m.settled_after_s:.1f}" if m.settled_after_s is not None else "-"
            print(
                f"  {m.label:<30}{settled:>10}{m.hwm_mb:>10.1f}{m.window_peak_mb:>12.1f}{m.window_last_mb:>12.1f}"
                f"{m.samples:>9}{m.exit_code if m.exit_code is not None else '-':>6}  {m.note}"
            )
        peak = max(m.hwm_mb for m in figures.memory)
        print(f"  reference: idle `python -c 'import brug.cli'`: VmRSS {idle.get('VmRSS', 0):.1f} MB")
        print(
            f"  goal peak under {GOAL_RSS_MB:.0f} MB: {'met' if peak < GOAL_RSS_MB else 'MISSED'} "
            f"(highest VmHWM {peak:.1f} MB)"
        )

    if profile_text:
        print()
        print("profile of one brug round (pyinstrument):")
        print(profile_text)

    result: dict[str, Any] = {
        "bench": "fanout",
        "count": count,
        "concurrency": concurrency,
        "rounds": args.rounds,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "setup_shortcut": "one nio-created room per partnership registered with store.put_resource",
        "rooms_setup_s": round(figures.setup["rooms_s"], 2),
        "synapse_quiet_s": round(figures.setup["synapse_quiet_s"], 1),
        "warmup_s": round(figures.setup["warmup_s"], 2),
        "baseline_s": [round(r.wall, 3) for r in plain],
        "baseline_same_content_s": [round(r.wall, 3) for r in same],
        "brug_s": [round(r.wall, 3) for r in ours],
        "baseline_best_s": round(best_base.wall, 3),
        "brug_best_s": round(best_brug.wall, 3),
        "baseline_msg_per_s": round(best_base.rate, 1),
        "brug_msg_per_s": round(best_brug.rate, 1),
        "ratio": round(ratio, 3),
        "ratio_goal_met": ratio >= GOAL_RATIO,
        "ratio_paired": [round(x, 3) for x in paired],
        "ratio_paired_median": round(statistics.median(paired), 3) if paired else None,
        "ratio_vs_same_content": round(ratio_same, 3) if ratio_same is not None else None,
        "baseline_same_content_msg_per_s": round(best_same.rate, 1) if best_same else None,
        "brug_cpu_ms_per_msg": round(1000 * best_brug.cpu / max(best_brug.sent, 1), 2),
        "baseline_cpu_ms_per_msg": round(1000 * best_base.cpu / max(best_base.sent, 1), 2),
        "synapse_cpu_ms_per_msg_brug": round(1000 * best_brug.synapse_cpu / max(best_brug.sent, 1), 2),
        "synapse_cpu_ms_per_msg_baseline": round(1000 * best_base.synapse_cpu / max(best_base.sent, 1), 2),
        "brug_median_s": round(statistics.median(r.wall for r in ours), 3),
        "baseline_median_s": round(statistics.median(r.wall for r in plain), 3),
        "exactly_once": once,
        "store_sent": checks["store_sent"],
        "rooms_checked": checks["rooms_read"],
        "check_problems": len(checks["store_problems"]) + len(checks["room_problems"]),
    }
    if figures.memory:
        result.update(
            {
                "rss_files": rss_files.split(" ")[0],
                "apply_s": round(apply_figures["apply_s"], 1),
                "apply_peak_mb": round(apply_figures["apply_peak_mb"], 1),
                "idle_import_rss_mb": round(idle.get("VmRSS", 0.0), 1),
                "run": [
                    {
                        "variant": m.label,
                        "settled_after_s": m.settled_after_s,
                        "vmhwm_mb": round(m.hwm_mb, 1),
                        "window_peak_rss_mb": round(m.window_peak_mb, 1),
                        "window_last_rss_mb": round(m.window_last_mb, 1),
                        "samples": m.samples,
                        "exit": m.exit_code,
                    }
                    for m in figures.memory
                ],
                "rss_goal_met": max(m.hwm_mb for m in figures.memory) < GOAL_RSS_MB,
            }
        )
    print(json.dumps(result))
    return 0 if once else 1


if __name__ == "__main__":
    sys.exit(main())
