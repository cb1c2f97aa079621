"""`./run demo`: brug's main job on the embedded default, to look at and play with.

1. copies the example partnerships into ./demo (their members get accounts on a local homeserver);
2. starts a throwaway Synapse on this machine (kept in ./demo/synapse between runs);
3. runs `brug apply`: local workspace folders with phase guides and agreement drafts, and for
   every partnership a Matrix space with its rooms, invites, a welcome and a pinned overview;
4. posts the agenda of each partnership's next meeting and a reflection prompt;
5. starts the web page (answer links, the coordinators' portfolio) and prints its address with a
   sign-in link for the demo coordinator and an answer link for one member;
6. prints how to log in and look, and answers chat commands until Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import secrets
import signal
import socket
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from rich.table import Table
from rich.tree import Tree

from brug.app.bot import Bot, build_runtime
from brug.app.jobs import post_agenda, post_reflection
from brug.console import console as plain_console
from brug.console import styled
from brug.content.library import load_library
from brug.devservers.synapse import LocalSynapse, SynapseAdminError
from brug.domain.types import slugify
from brug.settings import load_settings

REPO = Path(__file__).resolve().parents[3]
PASSWORD = "brug-demo"
console = plain_console()


def copy_examples(folder: Path) -> list[str]:
    """Demo copies of the examples whose members have accounts on the local homeserver."""
    target = folder / "partnerschappen"
    target.mkdir(parents=True, exist_ok=True)
    people: list[str] = []
    for example in sorted((REPO / "examples").glob("*.yaml")):
        data = yaml.safe_load(example.read_text(encoding="utf-8"))
        for org in data["organisations"]:
            for member in org["members"]:
                localpart = member.get("id") or slugify(member["name"])
                member["matrix"] = f"@{localpart}:localhost"
                people.append(localpart)
        data["platforms"] = {"chat": ["local", "matrix"], "files": "local"}
        copy = target / example.name
        if not copy.exists():  # keep what someone changed in a demo copy
            header = f"# Demo copy of examples/{example.name}: members have accounts on the local demo homeserver.\n"
            copy.write_text(header + yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return sorted(set(people))


def accounts(synapse: LocalSynapse, folder: Path, people: list[str]) -> dict[str, dict[str, str]]:
    """Register the bot and every member once; remember their logins in demo/accounts.json."""
    path = folder / "accounts.json"
    known: dict[str, dict[str, str]] = json.loads(path.read_text()) if path.exists() else {}
    for localpart, admin in [("brug", True), *((p, False) for p in people)]:
        if localpart in known:
            continue
        try:
            account = synapse.register(localpart, PASSWORD, admin=admin)
        except SynapseAdminError:
            continue  # registered in an earlier run whose accounts.json was removed
        known[localpart] = {
            "user_id": account.user_id,
            "access_token": account.access_token,
            "device_id": account.device_id,
        }
    path.write_text(json.dumps(known, indent=2))
    path.chmod(0o600)
    return known


DEMO_VIEWER = "coordinator@demo.localhost"


def web_port(preferred: int = 8080) -> int:
    """8080 when it is free, else any free port."""
    for port in (preferred, 0):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(s.getsockname()[1])
    raise OSError("no free port")


def coordinating_organisation(folder: Path) -> tuple[str, str]:
    """The organisation in the most example partnerships: the demo's coordinator works there."""
    counts: dict[tuple[str, str], int] = {}
    for path in sorted((folder / "partnerschappen").glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for org in data["organisations"]:
            counts[(org["id"], org["name"])] = counts.get((org["id"], org["name"]), 0) + 1
    return max(counts, key=lambda k: (counts[k], k))


def coordinator_matrix_id(folder: Path, organisation: str) -> str | None:
    """The Matrix id of a member of the coordinating organisation: a second demo viewer, who gets
    the sign-in link as a direct message."""
    for path in sorted((folder / "partnerschappen").glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for org in data["organisations"]:
            if org["id"] == organisation:
                for member in org.get("members", []):
                    if member.get("matrix"):
                        return str(member["matrix"])
    return None


def write_config(folder: Path, synapse: LocalSynapse, bot: dict[str, str], port: int) -> Path:
    token = folder / ".brug" / "bot-token"
    token.parent.mkdir(parents=True, exist_ok=True)
    token.write_text(bot["access_token"])
    token.chmod(0o600)
    secret = folder / ".brug" / "web-secret"
    if not secret.exists():
        secret.write_text(secrets.token_urlsafe(32))
        secret.chmod(0o600)
    organisation, name = coordinating_organisation(folder)
    viewers = [DEMO_VIEWER, *filter(None, [coordinator_matrix_id(folder, organisation)])]
    config = folder / "brug.toml"
    config.write_text(
        "# Written by ./run demo for its throwaway homeserver.\n"
        'partnerships = ["partnerschappen"]\nworkspace = "werkruimte"\nstate = ".brug/state.db"\n\n'
        f'[matrix]\nhomeserver = "{synapse.base_url}"\nuser_id = "{bot["user_id"]}"\n'
        f'device_id = "{bot["device_id"]}"\naccess_token_file = ".brug/bot-token"\n\n'
        f'[web]\nbase_url = "http://127.0.0.1:{port}"\nport = {port}\nsecret_file = ".brug/web-secret"\n\n'
        f'[[web.coordinators]]\norganisation = "{organisation}"\nname = "{name}"\nviewers = {json.dumps(viewers)}\n',
        encoding="utf-8",
    )
    return config


def show_tree(root: Path, limit: int = 30) -> Tree:
    tree = Tree(styled("[bold]{}[/]", root))
    for partnership in sorted(p for p in root.iterdir() if p.is_dir()):
        branch = tree.add(styled("[bold]{}/[/]", partnership.name))
        files = sorted(p for p in partnership.rglob("*") if p.is_file())
        for path in files[:limit]:
            branch.add(str(path.relative_to(partnership)))
    return tree


async def demo(folder: Path, once: bool) -> int:
    people = copy_examples(folder)
    synapse = LocalSynapse(folder / "synapse")
    console.print("» starting a local Matrix homeserver (Synapse) …")
    synapse.start()
    try:
        known = accounts(synapse, folder, people)
        port = web_port()
        config = write_config(folder, synapse, known["brug"], port)
        settings = load_settings(config)
        bot = Bot(build_runtime(settings, load_library(), lambda: datetime.now(UTC)), settings.partnerships)
        problems = bot.load()
        if problems:
            return 1
        console.rule("brug apply")
        plans, errors, report = await bot.apply()
        for line in [*report.chat, *report.failed_invites, *errors]:
            console.print(f"  {line}")
        console.rule("an agenda and a reflection prompt for every partnership")
        now = datetime.now(UTC)
        for p in bot.partnerships().values():
            shown = await past_barometer(p, bot, now)
            if shown:
                console.print(f"  {p.id}: barometer rounds {', '.join(shown)} answered and closed (for the portfolio's radar)")
        answer_link = ""
        for p in bot.partnerships().values():
            nxt = p.meeting_times(now, 1)
            if nxt:
                await post_agenda(p, nxt[0], bot.rt)
                console.print(f"  {p.id}: agenda for {nxt[0].astimezone(p.zone):%Y-%m-%d %H:%M} posted in 'overleg'")
            key = await post_reflection(p, now.replace(second=0, microsecond=0), bot.rt)
            console.print(f"  {p.id}: reflection prompt posted in 'reflectie'")
            if not answer_link:
                answer_link = demo_answer_link(p, bot, key, now)
        console.print(show_tree(settings.workspace))
        table = Table(title="Log in with any Matrix client (e.g. Element) to look around", title_justify="left")
        table.add_column("homeserver")
        table.add_column("user name")
        table.add_column("password")
        for localpart in people[:8]:
            table.add_row(synapse.base_url, localpart, PASSWORD)
        console.print(table)
        if len(people) > 8:
            console.print(
                f"  … and {len(people) - 8} more members, all with password '{PASSWORD}' "
                f"(see {folder / 'accounts.json'})"
            )
        console.print(
            styled(
                "In chat, type [bold]!hulp[/] in a partnership's room. Documents: "
                "[bold]{}[/]. Edit one and run the demo again: your edit stays.",
                settings.workspace,
            )
        )
        web = settings.web
        assert web is not None and bot.rt.links is not None
        console.rule("the web page")
        console.print(
            styled(
                "Web page: [bold]{}[/]\nSign in as the demo coordinator of {} ({}): [bold]{}[/]\n"
                "(the sign-in link holds 20 minutes; run the demo again for a new one)\n"
                "{}"
                "Answer a reflection prompt as a member without a chat account: [bold]{}[/]",
                web.base_url,
                coordinating_organisation(folder)[1],
                DEMO_VIEWER,
                bot.rt.links.signin_url(DEMO_VIEWER),
                matrix_viewer_hint(folder),
                answer_link,
            )
        )
        if once:
            await bot.rt.close()
            return 1 if errors else 0
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        from brug.web.app import create_app, serve, viewers_from

        page = create_app(bot.rt, bot.partnerships, bot.rt.links, viewers=lambda: viewers_from(web.coordinators))
        console.print(
            styled("brug is listening to chat commands and serving the web page. [bold]Ctrl-C[/] stops brug and the homeserver.")
        )
        await asyncio.gather(bot.listen(stop), serve(page, "127.0.0.1", web.port, stop))
        await bot.rt.close()
        return 0
    finally:
        synapse.stop()
        console.print("» homeserver stopped")


def matrix_viewer_hint(folder: Path) -> str:
    """How the coordinator's Matrix account signs in (a line ending in a newline), or nothing."""
    mxid = coordinator_matrix_id(folder, coordinating_organisation(folder)[0])
    if mxid is None:
        return ""
    return f"Or type {mxid} on the sign-in page: brug sends the link to that Matrix account as a direct message.\n"


async def past_barometer(p, bot: Bot, now: datetime) -> list[str]:  # type: ignore[no-untyped-def]
    """The two rounds before the current one, answered by the members (made-up scores, the same on
    every run) and closed as brug closes them: the radar is posted in 'reflectie' and the portfolio
    shows it. A partnership with fewer members than the barometer's minimum gets none."""
    import random

    from brug.app import barometer
    from brug.domain.types import Bouwsteen

    members = [m for _, m in p.members]
    if len(members) < p.barometer.min_respondents or p.barometer.every_prompts is not None:
        return []
    closed = []
    moment = barometer.round_at(p, now).start - timedelta(days=1)
    rounds = []
    for _ in range(2):
        found = barometer.round_at(p, moment)
        rounds.insert(0, found)
        moment = found.start - timedelta(days=1)
    for n, found in enumerate(rounds):
        bot.rt.store.ensure_round(p.id, found.id, found.start, found.end, p.barometer.min_respondents)
        rng = random.Random(f"{p.id}/{found.id}")
        low = rng.choice(list(Bouwsteen))  # one bouwsteen that lags, more in the later round
        for member in members:
            for b in Bouwsteen:
                centre = 3.6 - (0.6 + 0.5 * n if b is low else 0.0)
                score = min(5, max(1, round(rng.gauss(centre, 0.8))))
                barometer.rate(p, bot.rt, member, found.id, b, score, found.start + timedelta(days=7))
        if await barometer.close_round(p, found.id, bot.rt) is not None:
            closed.append(found.id)
    return closed


def demo_answer_link(p, bot: Bot, key: str, now: datetime) -> str:  # type: ignore[no-untyped-def]
    """A personal answer link for the first member of a partnership, as the mail would carry it."""
    from brug.app import barometer
    from brug.app.links import AnswerLink

    round_id = barometer.current_round(p, bot.rt, now) or ""
    record = bot.rt.store.barometer_round(p.id, round_id)
    expires = record.ends if record is not None and record.ends is not None else now + timedelta(days=90)
    member = p.members[0][1]
    return str(bot.rt.links.url(AnswerLink(p.id, member.key, key, round_id, expires)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="./run demo", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--folder", type=Path, default=Path("demo"), help="where the demo lives (default ./demo)")
    parser.add_argument("--once", action="store_true", help="set everything up and stop, without listening")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    return asyncio.run(demo(args.folder.resolve(), args.once))


if __name__ == "__main__":
    sys.exit(main())
