"""Signals to policy typed in Nextcloud Talk (the local test server): the same commands as in Matrix."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path, PurePosixPath

import pytest

from brug.adapters.nextcloud.talk import TalkChat
from brug.app.jobs import post_agenda
from brug.domain.signals import Status
from tests.nextcloud.conftest import FakeClock, make_client
from tests.nextcloud.test_adapter_workspace import NOW, make_bot, partnership
from tests.nextcloud_server import NextcloudTestServer


@pytest.fixture
def talk_nc(nc: NextcloudTestServer, clock: FakeClock) -> NextcloudTestServer:
    clock.now = NOW.timestamp()  # brug and the server share one clock that moves only when told
    return nc


def send(nc: NextcloudTestServer, user: str, token: str, text: str) -> int:
    with make_client(nc, user) as client:
        sent = client.post(
            f"/ocs/v2.php/apps/spreed/api/v1/chat/{token}", params={"format": "json"}, json={"message": text}
        )
        assert sent.status_code == 201, sent.text
        return int(sent.json()["ocs"]["data"]["id"])


def messages(nc: NextcloudTestServer, user: str, token: str) -> list[dict]:  # type: ignore[type-arg]
    with make_client(nc, user) as client:
        return client.get(
            f"/ocs/v2.php/apps/spreed/api/v1/chat/{token}",
            params={"format": "json", "lookIntoFuture": 0, "limit": 200},
        ).json()["ocs"]["data"]


async def test_signals_typed_in_talk(talk_nc, tmp_path: Path, library, clock) -> None:  # type: ignore[no-untyped-def]
    nc = talk_nc
    (tmp_path / "partnerschappen").mkdir()
    pid = "signalen-talk"
    partnership(tmp_path / "partnerschappen", pid, ["bob", "carol"])
    bot = make_bot(nc, tmp_path, library, clock)
    await bot.apply()
    talk = bot.rt.chats["nextcloud"]
    assert isinstance(talk, TalkChat)
    await talk.sync_once(bot.handle)  # brug starts listening from here
    token = talk.token(pid)

    lines = [
        ("bob", "!signaal Meerdere gezinnen kunnen de schoolreis niet betalen #onderwijskosten #meso"),
        ("carol", "!signaal De bus van lijn 5 vertrekt voor de naschoolse opvang sluit #mobiliteit"),
        ("bob", "!signaal Gezinnen wachten maanden op een eerste gesprek bij het CAW"),
        ("carol", "!signaal Bel mama op 0472 11 22 33, ze vindt geen opvang"),
        ("bob", "!signaal 1 besproken"),
        ("bob", "!signaal 1 doorgegeven aan de schepen van onderwijs"),
        ("carol", "!signaal 2 doorgegeven aan De Lijn"),
        ("carol", "!signaal 2 antwoord De Lijn onderzoekt een latere rit"),
        ("bob", "!signalen"),
    ]
    ids = [send(nc, user, token, text) for user, text in lines]
    assert await talk.sync_once(bot.handle) == len(lines)
    assert await talk.sync_once(bot.handle) == 0  # nothing twice

    answers = {m["parent"]["id"]: m["message"] for m in messages(nc, "bob", token) if m.get("parent")}
    assert "Signaal 1 genoteerd" in answers[ids[0]] and "Onderwijskosten" in answers[ids[0]]
    assert "Signaal 2 genoteerd" in answers[ids[1]]
    assert "Signaal 3 genoteerd" in answers[ids[2]] and "Toegankelijkheid van hulp" in answers[ids[2]]
    refusal = answers[ids[3]]
    assert "Dit bewaar ik niet" in refusal and "een telefoonnummer" in refusal and "0472" not in refusal
    assert "besproken" in answers[ids[4]] and "aan de schepen van onderwijs" in answers[ids[5]]
    assert "antwoord ontvangen" in answers[ids[7]]
    assert "3. Gezinnen wachten" in answers[ids[8]] and "2. De bus" in answers[ids[8]]
    status = {s.number: s.status for s in bot.rt.store.signals(pid)}
    assert status == {1: Status.doorgegeven, 2: Status.antwoord, 3: Status.nieuw}

    # the log in the partnership's Nextcloud folder, brought up to date by the commands
    p = bot.partnerships()[pid]
    files = bot.rt.files_for(p)
    log = await files.read(pid, PurePosixPath("signalen.md"))
    assert log is not None
    assert log.index("## Nieuw (1)") < log.index("## Doorgegeven (1)") < log.index("## Antwoord ontvangen (1)")
    assert "- **Doorgegeven aan:** de schepen van onderwijs op maandag 23 november 2026" in log
    assert "door Lid carol (Organisatie 1)" in log and "0472" not in log

    # the agenda of a meeting seven weeks on, posted in Talk and as a document in Nextcloud
    meeting = p.meeting_times(NOW + timedelta(weeks=7), 1)[0]
    await post_agenda(p, meeting, bot.rt)
    agenda = next(m["message"] for m in messages(nc, "carol", token) if m["message"].startswith("# Overleg"))
    assert agenda.index("Signalen: bespreken en bundelen") < agenda.index("3. Gezinnen wachten maanden")
    assert "Signalen die op antwoord wachten" in agenda and "doorgegeven aan de schepen van onderwijs" in agenda
    day = meeting.astimezone(p.zone).strftime("%Y-%m-%d")
    document = await files.read(pid, PurePosixPath(f"overleg/{day} agenda en verslag.md"))
    assert document is not None and "- [ ] #3 Gezinnen wachten maanden op een eerste gesprek bij het CAW" in document
    await bot.rt.close()
