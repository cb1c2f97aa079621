"""Sign-off of the agreement from real Matrix clients, with the documents local or in Nextcloud.

Partners are ordinary nio clients on a real Synapse; brug listens like `brug run`. A partner's edit
is a plain write to the document (a local file, or a WebDAV PUT like Nextcloud Text's save); brug
notices it through the files port (mtime and size, or the ETag) and never writes into it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import httpx
import pytest

from brug.app.bot import Bot, add_nextcloud
from brug.devservers.synapse import LocalSynapse
from brug.settings import NextcloudSettings
from tests.agreement_world import edit, write_partnership
from tests.matrix.world import Partner, World, bot_messages, room_of, unique
from tests.nextcloud_server import NextcloudTestServer

pytestmark = pytest.mark.slow

DOCUMENT = PurePosixPath("samenwerkingsakkoord.md")
STATUS = PurePosixPath("akkoord-status.md")


@pytest.fixture
def nextcloud() -> Iterator[NextcloudTestServer]:
    server = NextcloudTestServer()
    server.start()
    server.add_user("brug", "brug-app-password", "brug", admin=True)
    try:
        yield server
    finally:
        server.stop()


class Partners:
    """The five members as Matrix users, each with their own client."""

    def __init__(self, synapse: LocalSynapse) -> None:
        self.by_key = {
            k: Partner(synapse, synapse.register(unique(k), "pw")) for k in ("hilde", "bart", "annelies", "kris", "wim")
        }

    def ids(self) -> dict[str, str]:
        return {k: p.user_id for k, p in self.by_key.items()}

    def __getitem__(self, key: str) -> Partner:
        return self.by_key[key]

    async def join(self) -> None:
        for partner in self.by_key.values():
            await partner.accept_invites()

    async def close(self) -> None:
        for partner in self.by_key.values():
            await partner.close()


async def ask(bot: Bot, world: World, partner: Partner, room: str, text: str) -> str:
    """A partner types a command; brug handles it; the answer in its thread comes back."""
    event = await partner.say(room, text)
    assert await world.matrix(bot).sync_once(bot.handle) >= 1
    for e in reversed(await partner.timeline(room)):
        relates = e["content"].get("m.relates_to", {})
        if e["sender"] == world.bot_account.user_id and relates.get("event_id") == event:
            return str(e["content"]["body"])
    raise AssertionError(f"no answer to {text!r}")


@pytest.mark.parametrize("files", ["local", "nextcloud"])
async def test_sign_off_bound_to_a_version_from_real_clients(
    files: str, synapse: LocalSynapse, nextcloud: NextcloudTestServer, tmp_path: Path, library
) -> None:  # type: ignore[no-untyped-def]
    pid = unique("akkoord")
    people = Partners(synapse)
    (tmp_path / "partnerschappen").mkdir()
    write_partnership(tmp_path / "partnerschappen", pid, files=files, chat="matrix", ids=people.ids())
    world = World(synapse, synapse.register(unique("brugakkoord"), "pw"), tmp_path, library)
    bot = world.bot()
    if files == "nextcloud":
        add_nextcloud(bot.rt, NextcloudSettings(url=nextcloud.base_url, user="brug"), "brug-app-password")
    space = bot.rt.files_for(bot.partnerships()[pid])

    async def read(path: PurePosixPath) -> str:
        text = await space.read(pid, path)
        assert text is not None
        return text

    async def person_writes(text: str) -> None:
        """A partner saves the document (no If-Match: a person's editor, not brug)."""
        if files == "local":
            (tmp_path / "werkruimte" / pid / DOCUMENT).write_text(text, encoding="utf-8")
        else:
            url = f"{nextcloud.base_url}/remote.php/dav/files/brug/brug/{pid}/{DOCUMENT}"
            response = httpx.put(url, content=text.encode(), auth=("brug", "brug-app-password"), trust_env=False)
            assert response.status_code == 204, response.text

    try:
        _, errors, _ = await bot.apply()
        assert errors == []
        await world.matrix(bot).sync_once(bot.handle)
        await people.join()
        algemeen = room_of(bot, pid, "algemeen")
        assert [v.number for v in bot.rt.store.agreement_versions(pid)] == [1]

        # edit -> version 2
        mine = edit(
            await read(DOCUMENT), "Wat we niet opnemen", "Het OCMW doet geen huisbezoeken op vraag van de school."
        )
        await person_writes(mine)
        await bot.apply()
        versions = bot.rt.store.agreement_versions(pid)
        assert [v.number for v in versions] == [1, 2] and versions[1].sections == ["6. Wat we niet opnemen"]
        assert versions[1].platform == files

        # two organisations approve version 2 from their own clients
        assert "Basisschool De Linde keurt versie 2" in await ask(bot, world, people["hilde"], algemeen, "!akkoord")
        assert "OCMW Ouderzele keurt versie 2" in await ask(bot, world, people["bart"], algemeen, "!akkoord 2")
        # the CLB's member who reports back is told who decides there
        answer = await ask(bot, world, people["annelies"], algemeen, "!akkoord")
        assert "Kris Claes" in answer and "koppelt terug" in answer
        assert "voorgelegd aan CLB Brakelveld" in await ask(
            bot, world, people["annelies"], algemeen, "!akkoord voorgelegd"
        )
        status = await read(STATUS)
        assert "2 van de 3 organisaties" in status and "voorgelegd" in status

        # another edit -> "gewijzigd na ondertekening", announced in chat once
        mine = edit(mine, "Signalen naar het beleid", "Het lokaal bestuur bundelt de signalen elk trimester.")
        await person_writes(mine)
        await bot.apply()
        await bot.apply()
        assert "Gewijzigd na ondertekening" in await read(STATUS)
        said = [
            e["content"]["body"]
            for e in bot_messages(await people["hilde"].timeline(algemeen), world.bot_account.user_id)
        ]
        assert sum("gewijzigd na ondertekening" in body for body in said) == 1

        # a stale approval is refused; then the decision-makers sign version 3 -> complete
        answer = await ask(bot, world, people["hilde"], algemeen, "!akkoord 2")
        assert "Versie 3 is de huidige" in answer
        await ask(bot, world, people["hilde"], algemeen, "!akkoord 3")
        await ask(bot, world, people["bart"], algemeen, "!akkoord")
        answer = await ask(bot, world, people["kris"], algemeen, "!akkoord")
        assert "het akkoord is ondertekend" in answer
        assert "✅ Ondertekend op" in await read(STATUS)
        said = [
            e["content"]["body"]
            for e in bot_messages(await people["kris"].timeline(algemeen), world.bot_account.user_id)
        ]
        assert sum("Het akkoord is ondertekend" in body for body in said) == 1

        # no person's text was overwritten, and nothing was written beside it
        assert await read(DOCUMENT) == mine
        assert not await space.exists(pid, PurePosixPath("samenwerkingsakkoord (nieuwe versie).md"))
        signoffs = bot.rt.store.signoffs(pid)
        assert {(s["organisation"], s["version"]) for s in signoffs if s["kind"] == "signed"} == {
            ("school", 2),
            ("ocmw", 2),
            ("school", 3),
            ("ocmw", 3),
            ("clb", 3),
        }
        assert all(s["sha256"] == bot.rt.store.agreement_versions(pid)[s["version"] - 1].sha256 for s in signoffs)
    finally:
        await bot.rt.close()
        await people.close()


async def test_supporting_members_follow_the_general_room_not_the_reflection_prompts(
    synapse: LocalSynapse, tmp_path: Path, library
) -> None:  # type: ignore[no-untyped-def]
    """Actor types steer rooms (data: the phase model's rooms): omkadering is in the space and the
    general room (overview, announcements), but not invited to the reflection room."""
    pid = unique("actoren")
    doer = Partner(synapse, synapse.register(unique("doener"), "pw"))
    helper = Partner(synapse, synapse.register(unique("omkader"), "pw"))
    (tmp_path / "partnerschappen").mkdir()
    (tmp_path / "partnerschappen" / f"{pid}.yaml").write_text(
        f"id: {pid}\nname: Actoren\nphase: ja-graag\nform: netwerk\nplatforms: {{chat: [matrix], files: local}}\n"
        "organisations:\n  - id: a\n    name: Organisatie A\n    kind: cbe\n    members:\n"
        f'      - {{name: Doener, role: Medewerker, coordinator: true, matrix: "{doer.user_id}"}}\n'
        f'      - {{name: Omkader, role: Schepen, actor: omkadering, mandate: beslissing, matrix: "{helper.user_id}"}}\n',
        encoding="utf-8",
    )
    world = World(synapse, synapse.register(unique("brugactor"), "pw"), tmp_path, library)
    bot = world.bot()
    try:
        _, errors, report = await bot.apply()
        assert errors == [] and report.failed_invites == []
        reflectie = room_of(bot, pid, "reflectie")
        assert reflectie in await doer.accept_invites()
        helper_rooms = await helper.accept_invites()
        assert reflectie not in helper_rooms
        joined = await helper.client.join(reflectie)  # not restricted to the space: cannot walk in either
        assert not hasattr(joined, "room_id") or joined.room_id != reflectie
        assert bot.rt.store.invite_status(pid, "matrix", "reflectie", helper.user_id) is None
        assert bot.rt.store.invite_status(pid, "matrix", "reflectie", doer.user_id) is not None
        _, _, again = await bot.apply()  # nothing pending: the plan agrees with what was done
        assert again.failed_invites == [] and not any("reflectie" in line for line in again.chat)
    finally:
        await bot.rt.close()
        await doer.close()
        await helper.close()
