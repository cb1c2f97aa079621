"""brug's Deck board and meeting calendar on the local Nextcloud test server.

Each reconcile uses a fresh adapter on the same store, as separate runs of brug would. Idempotency is
checked on the server's request log: a repeated run must not create anything.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from brug.adapters.nextcloud.calendar import NextcloudCalendar, escape_text, fold
from brug.adapters.nextcloud.client import NextcloudAccount, NextcloudClient
from brug.adapters.nextcloud.deck import NextcloudDeck
from brug.content.library import load_library
from brug.domain.agenda import OpenAction
from brug.domain.partnership import Partnership
from brug.domain.workflow import PhaseModel
from brug.store import Store
from tests.nextcloud_server import NextcloudTestServer

from .conftest import PASSWORDS

DECK = "/index.php/apps/deck/api/v1.0"
CIRCLES = "/ocs/v2.php/apps/circles/circles"
CALENDARS = "/remote.php/dav/calendars/alice"
BRUSSELS = ZoneInfo("Europe/Brussels")
NOW = datetime(2026, 10, 1, 8, 0, tzinfo=UTC)
LINK = "https://cloud.example.be/apps/files/?dir=/Samenwerking/Overleggen"


# --- fixtures and helpers ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def model() -> PhaseModel:
    return load_library().phase_models["samenwerken"]


@pytest.fixture
def nc(versioned_nc: NextcloudTestServer) -> NextcloudTestServer:
    """Every test here runs against Nextcloud 30, 31 and 32."""
    return versioned_nc


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store.at(tmp_path / "brug.db")


@pytest.fixture
async def client(nc: NextcloudTestServer) -> AsyncIterator[NextcloudClient]:
    c = NextcloudClient(NextcloudAccount(nc.base_url, "alice", PASSWORDS["alice"]))
    yield c
    await c.close()


def partnership(**changes: Any) -> Partnership:
    data: dict[str, Any] = {
        "id": "gent-samen",
        "name": "Gent samen",
        "phase": "vind-elkaar",
        "organisations": [
            {
                "id": "school",
                "name": "Basisschool De Brug",
                "kind": "basisschool",
                "members": [{"name": "An", "role": "Directie"}],
            },
            {"id": "clb", "name": "CLB Gent", "kind": "clb", "members": [{"name": "Bert", "role": "Medewerker"}]},
        ],
        "meetings": {"start": "2026-10-20 14:00", "rrule": "FREQ=MONTHLY;BYDAY=+3TU", "duration_minutes": 90},
    }
    data.update(changes)
    return Partnership.model_validate_json(json.dumps(data))


def create_team(nc: NextcloudTestServer, name: str = "Gent samen") -> str:
    with httpx.Client(
        base_url=nc.base_url, auth=("alice", PASSWORDS["alice"]), headers={"OCS-APIRequest": "true"}
    ) as h:
        response = h.post(CIRCLES, params={"format": "json", "name": name})
        assert response.status_code == 200, response.text
        return str(response.json()["ocs"]["data"]["id"])


async def deck_run(
    client: NextcloudClient,
    store: Store,
    p: Partnership,
    model: PhaseModel,
    team: str | None,
    actions: list[OpenAction],
) -> list[str]:
    return await NextcloudDeck(client, store).reconcile(p, model, team, actions)


async def board_of(client: NextcloudClient, store: Store, pid: str) -> dict[str, Any]:
    resource = store.resource(pid, "nextcloud", "deck-board", "")
    assert resource is not None
    board = await client.json("GET", f"{DECK}/boards/{resource.ref}")
    board["stacks"] = await client.json("GET", f"{DECK}/boards/{resource.ref}/stacks")
    return board


def titles(board: dict[str, Any]) -> list[tuple[str, list[str]]]:
    return [(s["title"], [c["title"] for c in s["cards"]]) for s in board["stacks"]]


def creations(nc: NextcloudTestServer) -> int:
    return nc.count("POST") + nc.count("PUT") + nc.count("MKCALENDAR") + nc.count("DELETE")


# --- Deck --------------------------------------------------------------------------------------------------


async def test_board_stacks_and_cards_are_made_once_and_shared_once(
    nc: NextcloudTestServer, client: NextcloudClient, store: Store, model: PhaseModel
) -> None:
    team = create_team(nc)
    p = partnership(phase="ja-graag")
    first = await deck_run(client, store, p, model, team, [])
    after_first = nc.count("POST", DECK)
    # 1 board + 1 share + 2 phase stacks + the actions stack + the checklist cards of phase 2
    assert after_first == 5 + len(model.phase("ja-graag").checklist)
    for _ in range(2):
        before = len(nc.requests)
        assert await deck_run(client, store, p, model, team, []) == []
        assert nc.count("POST", DECK) == after_first
        assert len(nc.requests) == before  # everything is known from the store: not even a read
    assert any("board 'Gent samen' created" in line for line in first)
    assert any("shared with team" in line for line in first)

    board = await board_of(client, store, p.id)
    assert board["title"] == "Gent samen" and board["color"] == "0082c9"
    assert titles(board) == [
        ("1. Vind elkaar!", []),
        ("2. Samenwerken? Ja, graag!", [c.text.nl for c in model.phase("ja-graag").checklist]),
        ("Acties", []),
    ]
    card = board["stacks"][1]["cards"][0]
    assert "fasegids" in card["description"] and "fase 2" in card["description"]
    [acl] = board["acl"]
    assert (acl["type"], acl["participant"]["uid"]) == (7, team)
    assert (acl["permissionEdit"], acl["permissionShare"], acl["permissionManage"]) == (True, False, False)


async def test_a_phase_change_adds_a_stack_and_keeps_what_people_changed(
    nc: NextcloudTestServer, client: NextcloudClient, store: Store, model: PhaseModel
) -> None:
    p = partnership(phase="vind-elkaar")
    await deck_run(client, store, p, model, None, [])
    board = await board_of(client, store, p.id)
    first_stack = board["stacks"][0]
    assert [c["title"] for c in first_stack["cards"]] == [c.text.nl for c in model.phase("vind-elkaar").checklist]

    # a partner renames one card and archives another
    renamed, archived = first_stack["cards"][0], first_stack["cards"][1]
    base = f"{DECK}/boards/{board['id']}/stacks/{first_stack['id']}/cards"
    await client.json(
        "PUT", f"{base}/{renamed['id']}", {"title": "Onze eigen lijst", "type": "plain", "owner": "alice"}
    )
    await client.json("PUT", f"{base}/{archived['id']}/archive")
    writes = nc.count("PUT") + nc.count("DELETE")

    moved = p.model_copy(update={"phase": "ja-graag"})
    lines = await deck_run(client, store, moved, model, None, [])
    assert nc.count("PUT") + nc.count("DELETE") == writes  # brug changed nothing that was there
    assert any("phase 2" in line for line in lines)
    board = await board_of(client, store, p.id)
    expected_first = [c.text.nl for c in model.phase("vind-elkaar").checklist]
    expected_first[0] = "Onze eigen lijst"
    del expected_first[1]
    assert titles(board) == [
        ("1. Vind elkaar!", expected_first),
        ("2. Samenwerken? Ja, graag!", [c.text.nl for c in model.phase("ja-graag").checklist]),
        ("Acties", []),
    ]
    posts = nc.count("POST")
    await deck_run(client, store, moved, model, None, [])
    assert nc.count("POST") == posts


async def test_action_cards_have_their_due_date_at_five_in_the_afternoon(
    nc: NextcloudTestServer, client: NextcloudClient, store: Store, model: PhaseModel
) -> None:
    actions = [
        OpenAction(1, "Uitnodiging opstellen", "An", date(2026, 10, 1)),  # summer time: 17:00 is 15:00 UTC
        OpenAction(2, "Zaal, koffie; en taart", None, None),
        OpenAction(3, "Evaluatie plannen", "Bert", date(2026, 12, 1)),  # winter time: 16:00 UTC
    ]
    p = partnership()
    await deck_run(client, store, p, model, None, actions[:2])
    posts = nc.count("POST")
    lines = await deck_run(client, store, p, model, None, actions)
    assert nc.count("POST") == posts + 1 and lines == ["Deck: 1 action card(s) created"]
    await deck_run(client, store, p, model, None, actions)
    assert nc.count("POST") == posts + 1

    board = await board_of(client, store, p.id)
    cards = {c["title"]: c for c in board["stacks"][-1]["cards"]}
    assert board["stacks"][-1]["title"] == "Acties"
    assert list(cards) == ["Uitnodiging opstellen", "Zaal, koffie; en taart", "Evaluatie plannen"]
    assert cards["Uitnodiging opstellen"]["duedate"] == "2026-10-01T15:00:00+00:00"
    assert cards["Evaluatie plannen"]["duedate"] == "2026-12-01T16:00:00+00:00"
    assert cards["Zaal, koffie; en taart"]["duedate"] is None
    assert "An" in cards["Uitnodiging opstellen"]["description"]
    assert "!klaar 2" in cards["Zaal, koffie; en taart"]["description"]


async def test_english_titles_and_a_lost_store_adopts_instead_of_doubling(
    nc: NextcloudTestServer, client: NextcloudClient, tmp_path: Path, model: PhaseModel
) -> None:
    team = create_team(nc, "Ghent together")
    p = partnership(language="en", name="Ghent together", phase="ja-graag")
    actions = [OpenAction(1, "Book a room", "An", None)]
    await deck_run(client, Store.at(tmp_path / "one.db"), p, model, team, actions)
    posts = nc.count("POST")
    # the run stopped before it could remember anything: a new store finds it all on the board
    fresh = Store.at(tmp_path / "two.db")
    assert await deck_run(client, fresh, p, model, team, actions) == []
    assert nc.count("POST") == posts
    board = await board_of(client, fresh, p.id)
    assert [s["title"] for s in board["stacks"]] == ["1. Find each other!", "2. Partnering? Yes, please!", "Actions"]
    assert board["stacks"][2]["cards"][0]["title"] == "Book a room" and len(board["acl"]) == 1
    assert "phase guide" in board["stacks"][1]["cards"][0]["description"]


async def test_a_deleted_list_gets_no_new_cards_and_no_error(
    nc: NextcloudTestServer, client: NextcloudClient, store: Store, model: PhaseModel
) -> None:
    p = partnership()
    await deck_run(client, store, p, model, None, [])
    board = await board_of(client, store, p.id)
    actions_stack = board["stacks"][-1]
    await client.json("DELETE", f"{DECK}/boards/{board['id']}/stacks/{actions_stack['id']}")
    posts = nc.count("POST")
    lines = await deck_run(client, store, p, model, None, [OpenAction(1, "Iets", None, None)])
    assert nc.count("POST") == posts
    assert any("no longer on the board" in line for line in lines)


# --- Calendar ----------------------------------------------------------------------------------------------


async def cal_run(client: NextcloudClient, store: Store, p: Partnership, now: datetime = NOW) -> list[str]:
    return await NextcloudCalendar(client, store).reconcile(p, now, LINK)


def unfold(ics: str) -> list[str]:
    assert "\n" not in ics.replace("\r\n", ""), "lines end in CRLF"
    return ics.replace("\r\n ", "").replace("\r\n\t", "").split("\r\n")


def unescape(value: str) -> str:
    return re.sub(r"\\([\\;,nN])", lambda m: "\n" if m.group(1) in "nN" else m.group(1), value)


def event_props(ics: str) -> dict[str, tuple[str, str]]:
    """The VEVENT's properties: name -> (parameters, raw value)."""
    lines = unfold(ics)
    body = lines[lines.index("BEGIN:VEVENT") + 1 : lines.index("END:VEVENT")]
    props = {}
    for line in body:
        head, value = line.split(":", 1)
        name, _, params = head.partition(";")
        props[name] = (params, value)
    return props


def utc_via_vtimezone(ics: str, local: str) -> datetime:
    """Resolve a local time with the object's own VTIMEZONE (not with Python's zone data)."""
    lines = unfold(ics)
    moment = datetime.strptime(local, "%Y%m%dT%H%M%S")
    onsets: list[tuple[datetime, str]] = []
    block: dict[str, str] = {}
    for line in lines[lines.index("BEGIN:VTIMEZONE") : lines.index("END:VTIMEZONE")]:
        if line in ("BEGIN:STANDARD", "BEGIN:DAYLIGHT"):
            block = {}
        elif line in ("END:STANDARD", "END:DAYLIGHT"):
            onsets.append((datetime.strptime(block["DTSTART"], "%Y%m%dT%H%M%S"), block["TZOFFSETTO"]))
        elif ":" in line:
            key, value = line.split(":", 1)
            block[key] = value
    offset = max((o for o in onsets if o[0] <= moment), key=lambda o: o[0])[1]
    sign = 1 if offset[0] == "+" else -1
    delta = timedelta(hours=int(offset[1:3]), minutes=int(offset[3:5]))
    return (moment - sign * delta).replace(tzinfo=UTC)


def objects(nc: NextcloudTestServer, pid: str) -> dict[str, str]:
    cal = nc.state.calendars[("alice", "brug-overleggen")]  # one calendar holds every partnership's meetings
    return {name: obj.data.decode() for name, obj in sorted(cal.objects.items()) if name.startswith(f"brug-{pid}-")}


async def test_calendar_and_events_are_made_once_with_local_times_across_dst(
    nc: NextcloudTestServer, client: NextcloudClient, store: Store
) -> None:
    p = partnership()
    lines = await cal_run(client, store, p)
    assert lines == ["Calendar 'Overleggen (brug)' created", "Calendar: 4 meeting(s) added"]
    for _ in range(2):
        before = len(nc.requests)
        assert await cal_run(client, store, p) == []
        assert len(nc.requests) == before
    assert nc.count("MKCALENDAR") == 1 and nc.count("PUT", "/calendars/") == 4
    assert nc.state.calendars[("alice", "brug-overleggen")].display_name == "Overleggen (brug)"

    found = objects(nc, p.id)
    # third Tuesdays at 14:00 in Brussels: 12:00 UTC in October (summer time), 13:00 UTC after
    assert list(found) == [
        "brug-gent-samen-20261020T120000Z.ics",
        "brug-gent-samen-20261117T130000Z.ics",
        "brug-gent-samen-20261215T130000Z.ics",
        "brug-gent-samen-20270119T130000Z.ics",
    ]
    october, november = found["brug-gent-samen-20261020T120000Z.ics"], found["brug-gent-samen-20261117T130000Z.ics"]
    for ics, day, utc_hour in ((october, "20261020", 12), (november, "20261117", 13)):
        props = event_props(ics)
        assert props["UID"][1] == f"brug-gent-samen-{day}T{utc_hour}0000Z@brug"
        assert props["DTSTART"] == ("TZID=Europe/Brussels", f"{day}T140000")
        assert props["DTEND"] == ("TZID=Europe/Brussels", f"{day}T153000")
        start = utc_via_vtimezone(ics, props["DTSTART"][1])
        assert start == datetime(int(day[:4]), int(day[4:6]), int(day[6:]), utc_hour, tzinfo=UTC)
        assert start == datetime.strptime(props["DTSTART"][1], "%Y%m%dT%H%M%S").replace(tzinfo=BRUSSELS)
        assert unescape(props["SUMMARY"][1]) == "Overleg: Gent samen"
        assert props["URL"][1] == LINK and LINK in unescape(props["DESCRIPTION"][1])
        assert "LOCATION" not in props
    oct_utc = utc_via_vtimezone(october, "20261020T140000")
    nov_utc = utc_via_vtimezone(november, "20261117T140000")
    assert (oct_utc.hour, nov_utc.hour) == (12, 13)

    # time passes: the next run adds the meeting that came within the horizon, and nothing else
    later = await cal_run(client, store, p, NOW + timedelta(days=30))
    assert later == ["Calendar: 1 meeting(s) added"] and nc.count("PUT", "/calendars/") == 5


async def test_an_event_edited_by_a_person_is_never_overwritten(
    nc: NextcloudTestServer, client: NextcloudClient, store: Store, tmp_path: Path
) -> None:
    p = partnership()
    await cal_run(client, store, p)
    name = "brug-gent-samen-20261117T130000Z.ics"
    href = f"{CALENDARS}/brug-overleggen/{name}"
    mine = objects(nc, p.id)[name].replace("SUMMARY:Overleg: Gent samen", "SUMMARY:Overleg (verplaatst naar 15u)")
    edited = await client.http.put(href, content=mine.encode(), headers={"Content-Type": "text/calendar"})
    assert edited.status_code == 204

    # brug now wants a location on every meeting: the unedited ones get it, the edited one does not
    moved = partnership(
        meetings={"start": "2026-10-20 14:00", "rrule": "FREQ=MONTHLY;BYDAY=+3TU", "location": "Zaal 2"}
    )
    lines = await cal_run(client, store, moved)
    assert "Calendar: 3 meeting(s) updated" in lines
    assert any("2026-11-17 14:00 was changed" in line for line in lines)
    after = objects(nc, p.id)
    assert after[name] == mine
    assert all("LOCATION:Zaal 2" in ics for n, ics in after.items() if n != name)
    assert "SEQUENCE:1" in after["brug-gent-samen-20261020T120000Z.ics"]
    puts = nc.count("PUT")
    assert await cal_run(client, store, moved) == [] and nc.count("PUT") == puts

    # a brug that lost its memory creates only with If-None-Match: * and so changes nothing either
    fresh = Store.at(tmp_path / "fresh.db")
    assert await cal_run(client, fresh, moved) == []
    assert nc.count("PUT", "/calendars/", 412) == 1 + 4  # the edited event, then all four as 'already there'
    assert objects(nc, p.id)[name] == mine


async def test_meetings_off_the_schedule_are_removed_unless_edited(
    nc: NextcloudTestServer, client: NextcloudClient, store: Store
) -> None:
    p = partnership()
    await cal_run(client, store, p)
    edited_name = "brug-gent-samen-20261215T130000Z.ics"
    href = f"{CALENDARS}/brug-overleggen/{edited_name}"
    mine = objects(nc, p.id)[edited_name].replace("STATUS:CONFIRMED", "STATUS:TENTATIVE")
    assert (await client.http.put(href, content=mine.encode())).status_code == 204

    thursdays = partnership(meetings={"start": "2026-10-08 10:00", "rrule": "FREQ=MONTHLY;BYDAY=+2TH"})
    lines = await cal_run(client, store, thursdays)
    assert "Calendar: 3 meeting(s) no longer on the schedule removed" in lines
    assert any("edited; brug keeps it" in line for line in lines)
    # second Thursdays at 10:00 in Brussels, plus the edited meeting of the old schedule
    assert list(objects(nc, p.id)) == [
        "brug-gent-samen-20261008T080000Z.ics",
        "brug-gent-samen-20261112T090000Z.ics",
        "brug-gent-samen-20261210T090000Z.ics",
        edited_name,
        "brug-gent-samen-20270114T090000Z.ics",
    ]
    deletes = nc.count("DELETE")
    assert await cal_run(client, store, thursdays) == [] and nc.count("DELETE") == deletes


async def test_text_is_escaped_and_folded_and_comes_back_the_same(
    nc: NextcloudTestServer, client: NextcloudClient, store: Store
) -> None:
    name = "Brugge, Oostende; samen — één werking voor kinderen en gezinnen in de hele regio"
    location = "Zaal 3; gebouw B, 2de verdieping\\achteraan"
    p = partnership(
        id="kust",
        name=name,
        language="en",
        meetings={"dates": ["2026-10-15 09:30"], "location": location, "duration_minutes": 120},
    )
    link = "https://cloud.example.be/apps/files/?dir=/Brugge, Oostende; samen/Overleggen&fileid=12345678901234567890"
    await NextcloudCalendar(client, store).reconcile(p, NOW, link)
    [ics] = objects(nc, "kust").values()
    for physical in ics.split("\r\n"):
        assert len(physical.encode("utf-8")) <= 75, physical
    props = event_props(ics)
    assert unescape(props["SUMMARY"][1]) == f"Meeting: {name}"
    assert unescape(props["LOCATION"][1]) == location
    description = unescape(props["DESCRIPTION"][1])
    assert description.splitlines()[0] == f"Meeting of {name}." and description.endswith("\n" + link)
    assert props["URL"][1] == link.replace(" ", "%20")
    assert props["DTSTART"] == ("TZID=Europe/Brussels", "20261015T093000")
    assert props["DTEND"] == ("TZID=Europe/Brussels", "20261015T113000")
    assert nc.state.calendars[("alice", "brug-overleggen")].display_name == "Meetings (brug)"


def test_escape_and_fold_rules() -> None:
    assert escape_text("a,b;c\\d\r\ne\nf") == "a\\,b\\;c\\\\d\\ne\\nf"
    line = "DESCRIPTION:" + escape_text("é" * 100)
    folded = fold(line)
    assert [len(part.encode()) <= 75 for part in folded.split("\r\n")] == [True] * len(folded.split("\r\n"))
    assert folded.replace("\r\n ", "") == line
    assert fold("SUMMARY:short") == "SUMMARY:short"


async def test_sharing_with_a_team_that_is_not_there_is_tried_again_later(
    nc: NextcloudTestServer, client: NextcloudClient, store: Store, model: PhaseModel
) -> None:
    p = partnership()
    lines = await deck_run(client, store, p, model, "geen-team", [])
    assert any("could not share the board with team geen-team" in line for line in lines)
    assert any("board 'Gent samen' created" in line for line in lines)
    again = await deck_run(client, store, p, model, "geen-team", [])
    assert len(again) == 1 and "could not share" in again[0]
    team = create_team(nc)
    assert await deck_run(client, store, p, model, team, []) == [f"Deck: board shared with team {team}"]
    assert await deck_run(client, store, p, model, team, []) == []
    assert [a["participant"]["uid"] for a in (await board_of(client, store, p.id))["acl"]] == [team]
