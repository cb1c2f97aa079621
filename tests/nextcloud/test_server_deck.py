"""Deck on the test server: boards, ACL, stacks, cards with due dates, ETags, permissions."""

from __future__ import annotations

import httpx

from tests.nextcloud_server import NextcloudTestServer

from .conftest import make_client

API = "/index.php/apps/deck/api/v1.0"


def post(client: httpx.Client, path: str, body: dict) -> httpx.Response:
    """POST JSON to the Deck API."""
    return client.post(API + path, json=body)


def test_board_stack_card_flow(nc: NextcloudTestServer, alice: httpx.Client) -> None:
    """Create a board (with its default labels), stacks and a card with a due date; update it."""
    board = post(alice, "/boards", {"title": "Partnerschap Gent", "color": "0082c9"}).json()
    assert board["owner"]["uid"] == "alice" and [label["title"] for label in board["labels"]] == [
        "Finished",
        "To review",
        "Action needed",
        "Later",
    ]
    assert board["permissions"] == dict.fromkeys(
        ["PERMISSION_READ", "PERMISSION_EDIT", "PERMISSION_MANAGE", "PERMISSION_SHARE"], True
    )
    todo = post(alice, f"/boards/{board['id']}/stacks", {"title": "Te doen", "order": 1}).json()
    done = post(alice, f"/boards/{board['id']}/stacks", {"title": "Klaar", "order": 2}).json()
    card = post(
        alice,
        f"/boards/{board['id']}/stacks/{todo['id']}/cards",
        {
            "title": "Samenwerkingsakkoord nalezen",
            "type": "plain",
            "order": 0,
            "description": "Lees **fase 2** na",
            "duedate": "2026-02-01T10:00:00+01:00",
        },
    ).json()
    assert card["duedate"] == "2026-02-01T09:00:00+00:00" and card["owner"] == "alice"
    assert card["description"] == "Lees **fase 2** na" and card["overdue"] == 0
    url = f"{API}/boards/{board['id']}/stacks/{todo['id']}/cards/{card['id']}"
    updated = alice.put(
        url, json={"title": card["title"], "type": "plain", "owner": "alice", "duedate": None, "stackId": done["id"]}
    )
    assert updated.status_code == 200 and updated.json()["duedate"] is None
    stacks = alice.get(f"{API}/boards/{board['id']}/stacks").json()
    assert [(s["title"], [c["title"] for c in s["cards"]]) for s in stacks] == [
        ("Te doen", []),
        ("Klaar", ["Samenwerkingsakkoord nalezen"]),
    ]
    moved = f"{API}/boards/{board['id']}/stacks/{done['id']}/cards/{card['id']}"
    assert alice.put(moved + "/archive").json()["archived"] is True
    assert alice.get(f"{API}/boards/{board['id']}/stacks").json()[1]["cards"] == []
    assert alice.delete(moved).json()["deletedAt"] > 0
    assert alice.get(moved).status_code == 404


def test_validation_errors(alice: httpx.Client) -> None:
    """Missing or too long titles give 400 with Deck's error body."""
    missing = post(alice, "/boards", {"color": "ff0000"})
    assert missing.status_code == 400 and missing.json() == {"status": 400, "message": "title must be provided"}
    assert post(alice, "/boards", {"title": "x" * 101, "color": "ff0000"}).status_code == 400
    board = post(alice, "/boards", {"title": "B", "color": "ff0000"}).json()
    stack = post(alice, f"/boards/{board['id']}/stacks", {"title": "S", "order": 0}).json()
    cards = f"/boards/{board['id']}/stacks/{stack['id']}/cards"
    assert post(alice, cards, {"title": "x" * 256, "type": "plain", "order": 0}).status_code == 400
    assert post(alice, cards, {"title": "ok", "type": "plain", "order": 0, "duedate": "morgen"}).status_code == 400
    card = post(alice, cards, {"title": "ok", "type": "plain", "order": 0}).json()
    no_owner = alice.put(f"{API}{cards}/{card['id']}", json={"title": "ok", "type": "plain"})
    assert no_owner.status_code == 400 and no_owner.json()["message"] == "owner must be provided"


def test_acl_and_permissions(nc: NextcloudTestServer, alice: httpx.Client) -> None:
    """Without access 403; a user ACL gives read; a group ACL with edit lets members add cards."""
    nc.add_group("caw", ["carol"])
    board = post(alice, "/boards", {"title": "Gedeeld", "color": "00ff00"}).json()
    stack = post(alice, f"/boards/{board['id']}/stacks", {"title": "S", "order": 0}).json()
    with make_client(nc, "bob") as bob, make_client(nc, "carol") as carol:
        assert bob.get(f"{API}/boards/{board['id']}").status_code == 403
        assert bob.get(f"{API}/boards").json() == []
        acl = post(
            alice,
            f"/boards/{board['id']}/acl",
            {
                "type": 0,
                "participant": "bob",
                "permissionEdit": False,
                "permissionShare": False,
                "permissionManage": False,
            },
        ).json()
        assert acl["participant"]["uid"] == "bob" and acl["type"] == 0 and acl["boardId"] == board["id"]
        seen = bob.get(f"{API}/boards/{board['id']}").json()
        assert seen["permissions"]["PERMISSION_READ"] and not seen["permissions"]["PERMISSION_EDIT"]
        cards = f"/boards/{board['id']}/stacks/{stack['id']}/cards"
        assert post(bob, cards, {"title": "nee", "type": "plain", "order": 0}).status_code == 403
        post(
            alice,
            f"/boards/{board['id']}/acl",
            {
                "type": 1,
                "participant": "caw",
                "permissionEdit": True,
                "permissionShare": False,
                "permissionManage": False,
            },
        )
        assert post(carol, cards, {"title": "ja", "type": "plain", "order": 0}).status_code == 200
        assert alice.put(f"{API}/boards/{board['id']}/acl/{acl['id']}", json={"permissionEdit": True}).json()[
            "permissionEdit"
        ]
        assert post(bob, cards, {"title": "nu wel", "type": "plain", "order": 1}).status_code == 200
        assert post(alice, f"/boards/{board['id']}/acl", {"type": 0, "participant": "ghost"}).status_code == 400


def test_etags_and_not_modified(alice: httpx.Client) -> None:
    """GET answers carry an ETag; a card change changes the board's; If-None-Match gives 304."""
    board = post(alice, "/boards", {"title": "E", "color": "000000"}).json()
    first = alice.get(f"{API}/boards/{board['id']}")
    etag = first.headers["ETag"]
    assert first.json()["ETag"] == etag.strip('"')
    assert alice.get(f"{API}/boards/{board['id']}", headers={"If-None-Match": etag}).status_code == 304
    stack = post(alice, f"/boards/{board['id']}/stacks", {"title": "S", "order": 0}).json()
    post(alice, f"/boards/{board['id']}/stacks/{stack['id']}/cards", {"title": "c", "type": "plain", "order": 0})
    assert alice.get(f"{API}/boards/{board['id']}", headers={"If-None-Match": etag}).status_code == 200


def test_deck_needs_login(nc: NextcloudTestServer) -> None:
    """Wrong credentials: 401 with Nextcloud's JSON message."""
    response = httpx.get(nc.base_url + API + "/boards", auth=("alice", "nope"))
    assert response.status_code == 401 and response.json() == {"message": "Current user is not logged in"}
