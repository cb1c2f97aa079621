"""The barometer on a real Synapse: five partners vote in a pulse poll with their own Matrix clients
(one changes its vote, one votes with the stable event type, one votes after the round), the round
closes, and the document, the radar (an m.image) and the post appear once, with the right figures;
the late voter is told; the next agenda carries the bouwsteen that needs attention."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from nio import RoomSendResponse

from brug.adapters.local import LocalChat, LocalFiles
from brug.adapters.matrix import MatrixAccount, MatrixChat
from brug.app.bot import Bot
from brug.app.jobs import post_agenda, post_reflection, run_barometer
from brug.app.service import Runtime, content_digest
from brug.content.library import load_library
from brug.content.render import Renderer
from brug.devservers.synapse import LocalSynapse
from brug.domain.types import Bouwsteen
from brug.store import Store
from tests.barometer_world import barometer_partnership
from tests.matrix.world import Partner, room_of, unique

pytestmark = pytest.mark.slow

PID = "baro-matrix"
PROMPT = datetime(2026, 11, 27, 8, tzinfo=UTC)  # the reflection slot (last Friday of November, 09:00)
END = datetime(2027, 1, 4, 8, tzinfo=UTC)  # the second term starts: the first one closes
MEMBERS = ["ann", "bart", "chris", "dina", "emre"]
ORGANISATIONS = [("school", "basisschool", ["ann", "bart"]), ("clb", "clb", ["chris"]), ("ocmw", "ocmw", ["dina", "emre"])]


class Clock:
    def __init__(self) -> None:
        self.now = PROMPT

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def people(synapse: LocalSynapse) -> AsyncIterator[dict[str, Partner]]:
    found = {m: Partner(synapse, synapse.register(unique(m), "pw")) for m in MEMBERS}
    yield found
    for person in found.values():
        await person.close()


def make_bot(synapse: LocalSynapse, account: Any, folder: Path, clock: Clock) -> Bot:
    store = Store.at(folder / "state.db")
    rt = Runtime(
        library=load_library(),
        renderer=Renderer(),
        store=store,
        files=LocalFiles(folder / "werkruimte"),
        chats={"local": LocalChat(folder / "werkruimte", clock)},
        clock=clock,
        content_digest=content_digest(),
    )
    matrix = MatrixChat(MatrixAccount(synapse.base_url, account.user_id, account.device_id, account.access_token), store)
    rt.chats["matrix"] = matrix
    rt.provisioners["matrix"] = matrix
    bot = Bot(rt, [folder / "partnerschappen"])
    assert bot.load() == []
    return bot


async def vote(partner: Partner, room: str, poll: str, answer: str, *, stable: bool = False) -> None:
    if stable:
        event_type, content = "m.poll.response", {"m.selections": [answer]}
    else:
        event_type, content = "org.matrix.msc3381.poll.response", {"org.matrix.msc3381.poll.response": {"answers": [answer]}}
    content["m.relates_to"] = {"rel_type": "m.reference", "event_id": poll}
    response = await partner.client.room_send(room, event_type, content)
    assert isinstance(response, RoomSendResponse), response


async def test_five_partners_vote_in_a_pulse_poll_and_get_the_barometer_back_once(
    synapse: LocalSynapse, people: dict[str, Partner], tmp_path: Path
) -> None:
    clock = Clock()
    ids = {m: ("matrix", people[m].user_id) for m in MEMBERS}
    barometer_partnership(
        tmp_path / "partnerschappen", PID, chat="matrix", ids=ids, organisations=ORGANISATIONS,
        extra="barometer: {full: false}\n",
    )
    bot = make_bot(synapse, synapse.register(unique("brug"), "pw"), tmp_path, clock)
    matrix = bot.rt.chats["matrix"]
    assert isinstance(matrix, MatrixChat)
    _, errors, _ = await bot.apply()
    assert errors == []
    await matrix.sync_once(bot.handle)  # where brug starts listening
    for person in people.values():
        await person.accept_invites()
    p = bot.partnerships()[PID]

    await post_reflection(p, PROMPT, bot.rt)
    room = room_of(bot, PID, "reflectie")
    timeline = await people["ann"].timeline(room)
    polls = [e for e in timeline if e["type"] == "org.matrix.msc3381.poll.start"]
    assert len(polls) == 1
    poll = polls[0]["event_id"]
    assert polls[0]["content"]["org.matrix.msc3381.poll.start"]["kind"] == "org.matrix.msc3381.poll.undisclosed"

    await vote(people["ann"], room, poll, "5")
    await vote(people["bart"], room, poll, "4")
    await vote(people["chris"], room, poll, "2", stable=True)
    await vote(people["dina"], room, poll, "4")
    await vote(people["ann"], room, poll, "3")  # ann changes her mind: the later vote counts
    await matrix.sync_once(bot.handle)
    assert bot.rt.store.respondents(PID, "2026-2027-1") == 4

    clock.now = END
    await run_barometer(p, END, bot.rt)
    await vote(people["emre"], room, poll, "1")  # after the round: ignored, and emre hears so
    await matrix.sync_once(bot.handle)
    await run_barometer(p, END, bot.rt)  # a second run (a retry, a restart) posts nothing again
    again = make_bot(synapse, matrix.account, tmp_path, clock)  # a restarted brug on the same store
    await run_barometer(again.partnerships()[PID], END, again.rt)
    await again.rt.close()

    record = bot.rt.store.barometer_round(PID, "2026-2027-1")
    assert record is not None and record.status == "closed" and record.respondents == 4
    document = (tmp_path / "werkruimte" / PID / "reflectie" / "barometer.md").read_text(encoding="utf-8")
    # the pulse's bouwsteen: 3 (ann, changed), 4, 2, 4 -> mean 3.25, spread 0.83
    block = bot.rt.library.bouwstenen[Bouwsteen(bot.rt.store.barometer_poll("matrix", poll)["bouwsteen"])]  # type: ignore[index]
    assert f"| {block.title('nl')} | **3,3** | 0,8 | 4 |" in document
    assert "school" not in document.split("### Per")[-1] if "### Per" in document else True  # 3 v 1: no split
    assert (tmp_path / "werkruimte" / PID / "reflectie" / "barometer-2026-2027-1.svg").exists()

    timeline = await people["emre"].timeline(room)
    bot_id = matrix.account.user_id
    images = [e for e in timeline if e["sender"] == bot_id and e["content"].get("msgtype") == "m.image"]
    assert len(images) == 1
    assert images[0]["content"]["info"]["mimetype"] in ("image/png", "image/svg+xml")
    assert images[0]["content"]["url"].startswith("mxc://")
    posts = [
        e for e in timeline
        if e["sender"] == bot_id and e["type"] == "m.room.message" and "Barometer 2026–2027" in e["content"].get("body", "")
    ]
    assert len(posts) == 1
    assert "4 mensen gaven een score" in posts[0]["content"]["body"] and "3,3" in posts[0]["content"]["body"]
    ends = [e for e in timeline if e["type"] == "org.matrix.msc3381.poll.end"]
    assert len(ends) == 1 and ends[0]["content"]["m.relates_to"]["event_id"] == poll
    late = [
        e for e in timeline
        if e["sender"] == bot_id and "al afgesloten" in e["content"].get("body", "")
    ]
    assert len(late) == 1 and late[0]["content"]["m.relates_to"]["event_id"] == poll
    for e in timeline:  # no message brug posted names a voter
        if e["sender"] == bot_id and e["type"] == "m.room.message":
            for person in people.values():
                assert person.user_id not in str(e["content"])

    meeting = p.meeting_times(END, 1)[0]
    await post_agenda(p, meeting, bot.rt)
    agenda = next((tmp_path / "werkruimte" / PID / "overleg").glob("*agenda*")).read_text(encoding="utf-8")
    assert f"Barometer: {block.title('nl')}" in agenda
    assert "één concrete actie" in agenda
    await bot.rt.close()
