"""The barometer on Talk (the local Nextcloud test server): five partners vote in the pulse poll with
their own accounts (one changes its vote, one tries after the round and Talk refuses), the round
closes, brug reads the votes from the poll details, and the document, the radar (shared into the
conversation) and the post appear once, with the right figures; the next agenda carries the item."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from brug.app.bot import Bot, add_nextcloud
from brug.app.jobs import post_agenda, post_reflection, run_barometer
from brug.content.library import load_library
from brug.domain.types import Bouwsteen
from brug.settings import NextcloudSettings
from tests.barometer_world import barometer_partnership
from tests.nextcloud.conftest import PASSWORDS, FakeClock, make_client
from tests.nextcloud_server import NextcloudTestServer
from tests.runtime import local_runtime

PID = "baro-talk"
PROMPT = datetime(2026, 11, 27, 8, tzinfo=UTC)
END = datetime(2027, 1, 4, 8, tzinfo=UTC)
PARTNERS = ["bob", "carol", "dave", "erik", "fenna"]
ORGANISATIONS = [("school", "basisschool", ["bob", "carol"]), ("clb", "clb", ["dave"]), ("ocmw", "ocmw", ["erik", "fenna"])]


def make_bot(nc: NextcloudTestServer, tmp_path: Path, clock: FakeClock) -> Bot:
    async def server_time_sleep(seconds: float) -> None:
        clock.advance(seconds)

    rt = local_runtime(tmp_path, load_library(), lambda: datetime.fromtimestamp(clock(), UTC))
    add_nextcloud(rt, NextcloudSettings(url=nc.base_url, user="alice"), PASSWORDS["alice"], sleep=server_time_sleep, clock=clock)
    bot = Bot(rt, [tmp_path / "partnerschappen"])
    assert bot.load() == []
    return bot


def vote(nc: NextcloudTestServer, user: str, token: str, poll: str, score: int) -> int:
    with make_client(nc, None) as http:
        response = http.post(
            f"/ocs/v2.php/apps/spreed/api/v1/poll/{token}/{poll}",
            params={"format": "json"},
            json={"optionIds": [score - 1]},
            auth=(user, PASSWORDS.get(user, f"{user}-app-password")),
            headers={"OCS-APIRequest": "true"},
        )
    return response.status_code


async def test_five_partners_vote_in_a_talk_poll_and_get_the_barometer_back_once(
    nc: NextcloudTestServer, tmp_path: Path, clock: FakeClock
) -> None:
    for user in ("dave", "erik", "fenna"):
        nc.add_user(user, f"{user}-app-password", user.capitalize())
    clock.now = PROMPT.timestamp()
    ids = {m: ("nextcloud", m) for m in PARTNERS}
    barometer_partnership(
        tmp_path / "partnerschappen", PID, chat="nextcloud", files="nextcloud", ids=ids,
        organisations=ORGANISATIONS, extra="barometer: {full: false}\n",
    )
    bot = make_bot(nc, tmp_path, clock)
    _, errors, _ = await bot.apply()
    assert errors == []
    p = bot.partnerships()[PID]
    await post_reflection(p, PROMPT, bot.rt)
    token = bot.rt.store.resource(PID, "nextcloud", "talk", "").ref  # type: ignore[union-attr]
    room = nc.state.rooms[token]
    assert len(room.polls) == 1
    poll_id = str(next(iter(room.polls)))
    poll = bot.rt.store.barometer_poll("nextcloud", f"poll:{poll_id}")
    assert poll is not None and poll["round_id"] == "2026-2027-1"

    assert vote(nc, "bob", token, poll_id, 5) == 200
    assert vote(nc, "carol", token, poll_id, 4) == 200
    assert vote(nc, "dave", token, poll_id, 2) == 200
    assert vote(nc, "erik", token, poll_id, 4) == 200
    assert vote(nc, "bob", token, poll_id, 3) == 200  # bob changes his mind: Talk keeps the later vote

    clock.now = END.timestamp()
    await run_barometer(p, END, bot.rt)
    assert vote(nc, "fenna", token, poll_id, 1) == 400  # after the round: the poll is closed, Talk refuses
    await run_barometer(p, END, bot.rt)  # again (a retry): nothing twice
    again = make_bot(nc, tmp_path, clock)  # a restarted brug on the same store
    await run_barometer(again.partnerships()[PID], END, again.rt)
    await again.rt.close()

    record = bot.rt.store.barometer_round(PID, "2026-2027-1")
    assert record is not None and record.status == "closed" and record.respondents == 4
    title = bot.rt.library.bouwstenen[Bouwsteen(poll["bouwsteen"])].title("nl")
    document = nc.read_file("alice", f"brug/{PID}/reflectie/barometer.md").decode()
    assert f"| {title} | **3,3** | 0,8 | 4 |" in document  # 3 (bob, changed), 4, 2, 4
    svg = nc.read_file("alice", f"brug/{PID}/reflectie/barometer-2026-2027-1.svg").decode()
    assert svg.startswith("<svg") and "<script" not in svg

    shared = [m for m in room.messages if m.message == "{file}"]
    assert len(shared) == 1 and shared[0].message_parameters["file"]["name"] == "barometer-2026-2027-1.svg"
    posts = [m for m in room.messages if "Barometer 2026–2027" in m.message and m.actor_id == "alice"]
    assert len(posts) == 1 and "4 mensen gaven een score" in posts[0].message and "3,3" in posts[0].message
    assert posts[0].id > shared[0].id  # the picture first, then the text that reads it
    assert room.polls[int(poll_id)].status == 1
    for message in room.messages:  # nothing brug posted names a voter
        if message.actor_id == "alice" and message.message_type == "comment":
            for user in PARTNERS:
                assert user not in message.message.lower().split()

    meeting = p.meeting_times(END, 1)[0]
    await post_agenda(p, meeting, bot.rt)
    day = meeting.astimezone(p.zone).strftime("%Y-%m-%d")
    agenda = nc.read_file("alice", f"brug/{PID}/overleg/{day} agenda en verslag.md").decode()
    assert f"Barometer: {title}" in agenda and "één concrete actie" in agenda
    await bot.rt.close()
