"""Benchmark: what one partnership's Matrix workspace costs, in requests, events and time.

Run from the repository root:

    PYTHONPATH=plugin python bench/provision.py [--members 60] [--default-limits] [--partnerships 1]

What it does:

1. starts a throwaway Synapse in a temporary folder, with its rate limits out of reach, or with
   Synapse's default limits (`--default-limits`: 0.2 events/s after a burst of 10, room creation
   0.016/s, 5 invites per invitee);
2. registers a bot and N members (admin API, not rate-limited) and writes P partnership files of N
   members each, one organisation per member, the first member a coordinator; with P > 1 every
   partnership has the same members (one person in several partnerships);
3. runs one `Bot.apply()` (what `brug apply` does) and counts every HTTP request brug's Matrix client
   sends, and among them the ones that create an event (room creation, state, invites, messages);
   the 429 answers are counted too;
4. compares the events with the minimum a workspace needs: per partnership R rooms (the space and its
   rooms, each one `createRoom` carrying its name, topic, tag, join rule, alias and power levels),
   R - 1 `m.space.child` events, one invite per member, the welcome, the overview and its pin: M + 2R + 2.
   The goal is events <= 1.1 x the minimum;
5. checks the result: every member has exactly the invites brug means to send (one per partnership
   when the rooms admit the space's members, one per room otherwise), and nothing is left pending.

Timings are reported, never asserted. Exit code: 0 when the run finished, 1 when the check of step 5
failed, 2 when it could not run. The last line of output is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
try:
    import brug  # noqa: F401
except ImportError:  # run without PYTHONPATH: use the package next to this script
    sys.path.insert(0, str(ROOT / "plugin"))
sys.path.append(str(ROOT))  # for the partnership files the Matrix tests write too

from nio import AsyncClient, SyncResponse
from tests.matrix.world import partnership_file

from brug.adapters.local import LocalChat, LocalFiles
from brug.adapters.matrix import MatrixAccount, MatrixChat
from brug.app.bot import Bot
from brug.app.service import Runtime, content_digest
from brug.content.library import load_library
from brug.content.render import Renderer
from brug.devservers.synapse import Account, LocalSynapse
from brug.store import Store

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
PASSWORD = "bench-provision"
GOAL = 1.1
ROOMS = 4  # the space and the rooms of the 'samenwerken' model: algemeen, overleg, reflectie


WRITES = ("/createRoom", "/send/", "/state/", "/invite", "/kick", "/join")


def count_requests(client: AsyncClient, counts: Counter[str]) -> None:
    """Count each request the client sends (and its 429 answers), by what it does."""
    send = client.send

    async def counted(method: str, path: str, *args: Any, **kwargs: Any) -> Any:
        plain = path.split("?", 1)[0]
        what = next((w.strip("/") for w in WRITES if w in plain), None) if method in ("POST", "PUT") else None
        counts["requests"] += 1
        counts[f"{method} {what or 'read'}"] += 1
        if what is not None:
            counts["events"] += 1
        response = await send(method, path, *args, **kwargs)
        if response.status == 429:
            counts["429"] += 1
        return response

    client.send = counted  # type: ignore[method-assign]


async def invites_of(synapse: LocalSynapse, account: Account) -> int:
    client = AsyncClient(synapse.base_url, account.user_id, device_id=account.device_id)
    client.restore_login(account.user_id, account.device_id, account.access_token)
    try:
        response = await client.sync(timeout=0)
        assert isinstance(response, SyncResponse), response
        return len(response.rooms.invite)
    finally:
        await client.close()


async def run(args: argparse.Namespace, workdir: Path) -> int:
    synapse = LocalSynapse(workdir / "synapse", ratelimits=args.default_limits)
    synapse.start()
    try:
        bot_account = synapse.register("brugbench", PASSWORD)
        members = [synapse.register(f"lid{i}", PASSWORD) for i in range(args.members)]
        folder = workdir / "partnerschappen"
        folder.mkdir()
        pids = [f"groot-{n}" for n in range(args.partnerships)]
        for pid in pids:
            people = [(f"Lid {i}", m.user_id, i == 0) for i, m in enumerate(members)]
            partnership_file(folder, pid, f"Partnerschap {pid}", people)
        store = Store.at(workdir / "state.db")
        rt = Runtime(
            library=load_library(),
            renderer=Renderer(),
            store=store,
            files=LocalFiles(workdir / "werkruimte"),
            chats={"local": LocalChat(workdir / "werkruimte", lambda: NOW)},
            clock=lambda: NOW,
            content_digest=content_digest(),
        )
        account = MatrixAccount(synapse.base_url, bot_account.user_id, bot_account.device_id, bot_account.access_token)
        matrix = MatrixChat(account, store)
        rt.chats["matrix"] = rt.provisioners["matrix"] = matrix
        counts: Counter[str] = Counter()
        count_requests(matrix.client, counts)
        bot = Bot(rt, [folder])
        assert bot.load() == []
        print(
            f"provisioning {len(pids)} partnership(s) of {args.members} members "
            f"({'default rate limits' if args.default_limits else 'no rate limits'}) ...",
            flush=True,
        )
        started = time.perf_counter()
        _, errors, report = await bot.apply()
        wall = time.perf_counter() - started
        await rt.close()

        space_only = any('"restricted"' in r.data for r in store.resources("matrix", "room"))
        per_member = len(pids) * (1 if space_only else ROOMS)
        minimum = len(pids) * (args.members + 2 * ROOMS + 2)
        sample = members if args.members <= 60 else members[:: max(1, args.members // 60)]
        received = [await invites_of(synapse, m) for m in sample]
        ok = (
            not errors
            and not report.failed_invites
            and all(n == per_member for n in received)
            and not store.pending("matrix")
        )
        figures = {
            "bench": "provision",
            "members": args.members,
            "partnerships": len(pids),
            "default_limits": args.default_limits,
            "space_invites": space_only,
            "wall_s": round(wall, 1),
            "requests": counts["requests"],
            "events": counts["events"],
            "minimum_events": minimum,
            "events_ratio": round(counts["events"] / minimum, 3),
            "goal_ratio": GOAL,
            "responses_429": counts["429"],
            "by_kind": dict(sorted((k, v) for k, v in counts.items() if " " in k)),
            "invites_per_member": sorted(set(received)),
            "expected_invites_per_member": per_member,
            "errors": errors,
            "failed_invites": len(report.failed_invites),
            "check": "ok" if ok else "FAILED",
            "python": platform.python_version(),
        }
        print(f"time: {wall:.1f} s ({wall / 60:.1f} min)")
        print(
            f"requests: {counts['requests']}, of which events: {counts['events']} "
            f"(minimum {minimum}: {figures['events_ratio']}x, goal <= {GOAL}x), 429 answers: {counts['429']}"
        )
        for kind, n in figures["by_kind"].items():
            print(f"  {kind:<22} {n}")
        print(f"invites per member: {sorted(set(received))} (expected {per_member}); check: {figures['check']}")
        print(json.dumps(figures))
        return 0 if ok else 1
    finally:
        synapse.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=60, help="members per partnership (default 60)")
    parser.add_argument("--partnerships", type=int, default=1, help="partnerships with the same members (default 1)")
    parser.add_argument("--default-limits", action="store_true", help="keep Synapse's default rate limits")
    parser.add_argument("--workdir", type=Path, help="keep the files here (default: a temporary folder)")
    args = parser.parse_args(argv)
    try:
        if args.workdir is not None:
            args.workdir.mkdir(parents=True, exist_ok=False)
            return asyncio.run(run(args, args.workdir))
        with tempfile.TemporaryDirectory(prefix="brug-provision-") as folder:
            return asyncio.run(run(args, Path(folder)))
    except (OSError, RuntimeError) as err:
        print(f"could not run: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
