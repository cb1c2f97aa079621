"""Talk on the test server: conversations, participants, chat history and long-poll, polls."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
from nc_py_api import AsyncNextcloud
from nc_py_api.talk import ConversationType

from tests.nextcloud_server import NextcloudTestServer

from .conftest import PASSWORDS, make_client

ROOM = "/ocs/v2.php/apps/spreed/api/v4/room"
CHAT = "/ocs/v2.php/apps/spreed/api/v1/chat"
POLL = "/ocs/v2.php/apps/spreed/api/v1/poll"
JSON = {"format": "json"}


def data(response: httpx.Response) -> Any:
    """The OCS data of a JSON answer."""
    return response.json()["ocs"]["data"]


def new_room(client: httpx.Client, name: str = "Brug Gent", room_type: int = 2, **extra: str) -> dict[str, Any]:
    """Create a conversation and return it."""
    response = client.post(ROOM, params=JSON, json={"roomType": room_type, "roomName": name, **extra})
    assert response.status_code == 201, response.text
    return data(response)  # type: ignore[no-any-return]


def send(client: httpx.Client, token: str, message: str, **extra: object) -> httpx.Response:
    """Post a chat message."""
    return client.post(f"{CHAT}/{token}", params=JSON, json={"message": message, **extra})


def comments(messages: list[dict[str, Any]]) -> list[str]:
    """The texts of the non-system messages."""
    return [m["message"] for m in messages if m["messageType"] == "comment"]


def test_create_conversations(nc: NextcloudTestServer, alice: httpx.Client, bob: httpx.Client) -> None:
    """Group and public conversations are created (201); one-to-one is reused (200)."""
    group = new_room(alice, "Partnerschap Gent")
    assert group["type"] == 2 and group["participantType"] == 1 and len(group["token"]) == 8
    public = new_room(alice, "Open overleg", room_type=3)
    assert public["type"] == 3
    assert alice.post(ROOM, params=JSON, json={"roomType": 3}).status_code == 400
    assert alice.post(ROOM, params=JSON, json={"roomType": 5, "roomName": "x"}).status_code == 400
    first = alice.post(ROOM, params=JSON, json={"roomType": 1, "invite": "bob"})
    assert first.status_code == 201 and data(first)["displayName"] == "Bob Janssens"
    again = alice.post(ROOM, params=JSON, json={"roomType": 1, "invite": "bob"})
    assert again.status_code == 200 and data(again)["token"] == data(first)["token"]
    listed = [r["token"] for r in data(alice.get(ROOM, params=JSON))]
    assert listed == [group["token"], public["token"], data(first)["token"]]
    assert [r["token"] for r in data(bob.get(ROOM, params=JSON))] == [data(first)["token"]]
    assert bob.get(f"{ROOM}/{group['token']}", params=JSON).status_code == 404
    assert bob.get(f"{ROOM}/{public['token']}", params=JSON).status_code == 200


def test_participants_from_users_groups_teams_and_emails(nc: NextcloudTestServer, alice: httpx.Client) -> None:
    """Adding users, a group (its members join), a team and an email (the room turns public)."""
    nc.add_group("clb", ["carol"])
    room = new_room(alice)
    token = room["token"]
    url = f"{ROOM}/{token}/participants"
    assert data(alice.post(url, params=JSON, json={"newParticipant": "bob", "source": "users"})) == {}
    alice.post(url, params=JSON, json={"newParticipant": "clb", "source": "groups"})
    team = data(alice.post("/ocs/v2.php/apps/circles/circles", params={**JSON, "name": "Tandem"}))
    assert alice.post(url, params=JSON, json={"newParticipant": team["id"], "source": "circles"}).status_code == 200
    changed = alice.post(url, params=JSON, json={"newParticipant": "ouder@example.be", "source": "emails"})
    assert data(changed) == {"type": 3}
    missing = alice.post(url, params=JSON, json={"newParticipant": "ghost", "source": "users"})
    assert missing.status_code == 404 and data(missing) == {"error": "new-participant"}
    assert alice.post(url, params=JSON, json={"newParticipant": "x", "source": "phones"}).status_code == 400
    people = data(alice.get(url, params=JSON))
    assert [(p["actorType"], p["actorId"]) for p in people][:4] == [
        ("users", "alice"),
        ("users", "bob"),
        ("groups", "clb"),
        ("users", "carol"),
    ]
    assert people[-1]["actorType"] == "emails" and people[-1]["invitedActorId"] == "ouder@example.be"
    with make_client(nc, "bob") as bob:
        assert bob.post(url, params=JSON, json={"newParticipant": "carol"}).status_code == 403


def test_chat_history_and_reply(alice: httpx.Client) -> None:
    """Ids increase; history is newest first with X-Chat-Last-Given; replies carry the parent."""
    token = new_room(alice)["token"]
    ids = [data(send(alice, token, f"bericht {n}", referenceId=f"ref{n}"))["id"] for n in range(5)]
    assert ids == sorted(ids) and len(set(ids)) == 5
    reply = send(alice, token, "antwoord", replyTo=ids[1])
    assert reply.status_code == 201
    assert data(reply)["parent"]["message"] == "bericht 1"
    page = alice.get(f"{CHAT}/{token}", params={**JSON, "lookIntoFuture": 0, "limit": 3})
    assert comments(data(page)) == ["antwoord", "bericht 4", "bericht 3"]
    assert page.headers["X-Chat-Last-Given"] == str(ids[3])
    older = alice.get(f"{CHAT}/{token}", params={**JSON, "lookIntoFuture": 0, "lastKnownMessageId": ids[3]})
    assert comments(data(older)) == ["bericht 2", "bericht 1", "bericht 0"]
    assert data(older)[-1]["systemMessage"] == "conversation_created"
    first_id = data(older)[-1]["id"]
    nothing = alice.get(f"{CHAT}/{token}", params={**JSON, "lookIntoFuture": 0, "lastKnownMessageId": first_id})
    assert nothing.status_code == 304 and nothing.content == b""
    assert [m["referenceId"] for m in data(older) if m["messageType"] == "comment"] == ["ref2", "ref1", "ref0"]


def test_chat_limits_and_errors(alice: httpx.Client) -> None:
    """413 above 32,000 characters, 400 for empty text or a bad reply, 404 for strangers."""
    token = new_room(alice)["token"]
    assert send(alice, token, "x" * 32000).status_code == 201
    too_long = send(alice, token, "x" * 32001)
    assert too_long.status_code == 413 and too_long.json()["ocs"]["meta"]["statuscode"] == 413
    assert send(alice, token, "   ").status_code == 400
    assert send(alice, token, "hoi", replyTo=999999).status_code == 400
    assert send(alice, "zzzzzzzz", "hoi").status_code == 404


def test_long_poll_returns_new_messages_or_304(nc: NextcloudTestServer, alice: httpx.Client) -> None:
    """lookIntoFuture=1 waits for the next message; with nothing new it answers 304 after the timeout."""
    token = new_room(alice)["token"]
    last = data(send(alice, token, "eerste"))["id"]
    started = time.monotonic()
    empty = alice.get(f"{CHAT}/{token}", params={**JSON, "lookIntoFuture": 1, "lastKnownMessageId": last, "timeout": 1})
    assert empty.status_code == 304 and empty.content == b""
    assert 0.9 <= time.monotonic() - started < 5

    def later() -> None:
        time.sleep(0.3)
        with make_client(nc, "alice") as other:
            send(other, token, "tweede")

    thread = threading.Thread(target=later)
    thread.start()
    started = time.monotonic()
    waited = alice.get(
        f"{CHAT}/{token}", params={**JSON, "lookIntoFuture": 1, "lastKnownMessageId": last, "timeout": 10}
    )
    thread.join()
    assert waited.status_code == 200 and comments(data(waited)) == ["tweede"]
    assert time.monotonic() - started < 5
    assert int(waited.headers["X-Chat-Last-Given"]) > last
    ready = alice.get(f"{CHAT}/{token}", params={**JSON, "lookIntoFuture": 1, "lastKnownMessageId": 0, "timeout": 0})
    assert comments(data(ready)) == ["eerste", "tweede"]  # oldest first when looking into the future


def test_polls(nc: NextcloudTestServer, alice: httpx.Client, bob: httpx.Client) -> None:
    """Create, vote (results hidden until voting on public polls), close with details."""
    token = new_room(alice)["token"]
    alice.post(f"{ROOM}/{token}/participants", params=JSON, json={"newParticipant": "bob"})
    created = alice.post(
        f"{POLL}/{token}",
        params=JSON,
        json={"question": "Wanneer vergaderen we?", "options": ["maandag", "dinsdag"], "resultMode": 0, "maxVotes": 1},
    )
    assert created.status_code == 201
    poll = data(created)
    assert poll["status"] == 0 and poll["votedSelf"] == [] and poll["votes"] == []
    seen_by_bob = data(bob.get(f"{POLL}/{token}/{poll['id']}", params=JSON))
    assert seen_by_bob["numVoters"] == 0
    voted = bob.post(f"{POLL}/{token}/{poll['id']}", params=JSON, json={"optionIds": [1]})
    assert voted.status_code == 200 and data(voted)["votes"] == {"option-1": 1} and data(voted)["votedSelf"] == [1]
    too_many = bob.post(f"{POLL}/{token}/{poll['id']}", params=JSON, json={"optionIds": [0, 1]})
    assert too_many.status_code == 400
    assert bob.delete(f"{POLL}/{token}/{poll['id']}", params=JSON).status_code == 403
    closed = alice.delete(f"{POLL}/{token}/{poll['id']}", params=JSON)
    assert closed.status_code == 200 and data(closed)["status"] == 1
    assert data(closed)["details"] == [
        {"actorType": "users", "actorId": "bob", "actorDisplayName": "Bob Janssens", "optionId": 1}
    ]
    assert alice.delete(f"{POLL}/{token}/{poll['id']}", params=JSON).status_code == 400
    assert bob.post(f"{POLL}/{token}/{poll['id']}", params=JSON, json={"optionIds": [0]}).status_code == 400
    history = data(alice.get(f"{CHAT}/{token}", params={**JSON, "lookIntoFuture": 0}))
    assert any(m["messageParameters"].get("object", {}).get("type") == "talk-poll" for m in history)
    assert any(m["systemMessage"] == "poll_closed" for m in history)


async def test_talk_with_nc_py_api(nc: NextcloudTestServer) -> None:
    """nc-py-api creates a conversation, chats, votes and lists conversations."""
    api = AsyncNextcloud(nextcloud_url=nc.base_url, nc_auth_user="alice", nc_auth_pass=PASSWORDS["alice"])
    conversation = await api.talk.create_conversation(ConversationType.GROUP, room_name="Brug Leuven")
    assert conversation.display_name == "Brug Leuven" and conversation.last_message is not None
    message = await api.talk.send_message("Welkom @bob", conversation)
    assert message.message == "Welkom {mention-user1}"
    assert message.message_parameters["mention-user1"]["id"] == "bob"
    history = await api.talk.receive_messages(conversation)
    assert [m.message_type for m in history] == ["comment", "system"]
    poll = await api.talk.create_poll(conversation, "Welke dag?", ["ma", "di"], hidden_results=False, max_votes=1)
    poll = await api.talk.vote_poll([0], poll)
    assert poll.votes == {"option-0": 1}
    conversations = await api.talk.get_user_conversations()
    assert [c.token for c in conversations] == [conversation.token]
    # nc-py-api sends no lastKnownMessageId, so looking into the future starts at the beginning
    future = await api.talk.receive_messages(conversation, look_in_future=True, timeout=0)
    assert [m.message_id for m in future] == sorted(m.message_id for m in future)
