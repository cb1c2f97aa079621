"""Sharing API of the test server: share types, listing, and the 20-per-10-minutes rate limit."""

from __future__ import annotations

import httpx
import pytest
from nc_py_api import AsyncNextcloud, NextcloudException
from nc_py_api.files import FilePermissions, ShareType

from tests.nextcloud_server import NextcloudTestServer

from .conftest import PASSWORDS, FakeClock

SHARES_V1 = "/ocs/v1.php/apps/files_sharing/api/v1/shares"
SHARES_V2 = "/ocs/v2.php/apps/files_sharing/api/v1/shares"
JSON = {"format": "json"}


def create(client: httpx.Client, **params: object) -> httpx.Response:
    """POST a share with everything in the query string, as nc-py-api does."""
    return client.post(SHARES_V2, params={**JSON, **{k: str(v) for k, v in params.items()}})


@pytest.fixture
def folder(nc: NextcloudTestServer) -> str:
    """A folder of alice's to share."""
    nc.make_folder("alice", "Partnerschap")
    nc.put_file("alice", "Partnerschap/akkoord.md", "# Samenwerkingsakkoord\n")
    return "/Partnerschap"


def test_share_types(nc: NextcloudTestServer, alice: httpx.Client, folder: str) -> None:
    """User, group, link, email, federated and team shares are created with their fields."""
    nc.add_group("partners", ["bob", "carol"])
    user = create(alice, path=folder, shareType=0, shareWith="bob", permissions=1).json()["ocs"]["data"]
    assert user["share_with"] == "bob" and user["share_with_displayname"] == "Bob Janssens"
    assert user["permissions"] == 1 and user["item_type"] == "folder" and user["path"] == folder
    group = create(alice, path=folder, shareType=1, shareWith="partners").json()["ocs"]["data"]
    assert group["permissions"] == 31
    link = create(alice, path=folder, shareType=3, password="s3cret-Pa55").json()["ocs"]["data"]
    assert link["token"] and link["url"].endswith("/index.php/s/" + link["token"])
    assert link["permissions"] == 1
    mail = create(alice, path=folder, shareType=4, shareWith="partner@example.org").json()["ocs"]["data"]
    assert mail["share_with"] == "partner@example.org"
    unreachable = create(alice, path=folder, shareType=6, shareWith="dirk@cloud.example.be")
    assert unreachable.json()["ocs"]["meta"]["statuscode"] == 403  # the remote must answer the notification
    assert "could not find dirk@cloud.example.be" in unreachable.json()["ocs"]["meta"]["message"]
    nc.add_federated_server("cloud.example.be")
    remote = create(alice, path=folder, shareType=6, shareWith="dirk@cloud.example.be").json()["ocs"]["data"]
    assert remote["share_with"] == "dirk@cloud.example.be"
    team = alice.post("/ocs/v2.php/apps/circles/circles", params={**JSON, "name": "Brug Gent"}).json()["ocs"]["data"]
    circle = create(alice, path=folder, shareType=7, shareWith=team["id"]).json()["ocs"]["data"]
    assert circle["share_with_displayname"] == "Brug Gent"
    file_share = create(alice, path="/Partnerschap/akkoord.md", shareType=0, shareWith="carol").json()["ocs"]["data"]
    assert file_share["permissions"] == 19  # files cannot get CREATE or DELETE
    listed = alice.get(SHARES_V2, params=JSON).json()["ocs"]["data"]
    assert [s["share_type"] for s in listed] == [0, 1, 3, 4, 6, 7, 0]


def test_share_errors(alice: httpx.Client, folder: str) -> None:
    """Missing path, unknown user or group, duplicates (v2 mirrors the status, v1 answers 200)."""
    missing = create(alice, path="/Nope", shareType=0, shareWith="bob")
    assert missing.status_code == 404
    assert missing.json()["ocs"]["meta"]["message"] == "Wrong path, file/folder does not exist"
    unknown = create(alice, path=folder, shareType=0, shareWith="nobody")
    assert unknown.status_code == 404
    v1 = alice.post(SHARES_V1, params={**JSON, "path": folder, "shareType": "1", "shareWith": "no-group"})
    assert v1.status_code == 200 and v1.json()["ocs"]["meta"]["statuscode"] == 404
    assert create(alice, path=folder, shareType=0, shareWith="bob").status_code == 200
    assert create(alice, path=folder, shareType=0, shareWith="bob").status_code == 403


def test_shared_with_me_and_delete(
    nc: NextcloudTestServer, alice: httpx.Client, bob: httpx.Client, folder: str
) -> None:
    """The recipient sees the share; the owner can update and delete it."""
    share = create(alice, path=folder, shareType=0, shareWith="bob").json()["ocs"]["data"]
    mine = bob.get(SHARES_V2, params={**JSON, "shared_with_me": "true"}).json()["ocs"]["data"]
    assert [s["id"] for s in mine] == [share["id"]]
    updated = alice.put(f"{SHARES_V2}/{share['id']}", params={**JSON, "permissions": "3", "note": "Lees dit"})
    assert updated.json()["ocs"]["data"]["permissions"] == 3
    assert alice.delete(f"{SHARES_V2}/{share['id']}", params=JSON).status_code == 200
    assert alice.get(f"{SHARES_V2}/{share['id']}", params=JSON).status_code == 404


def test_rate_limit_20_per_10_minutes(
    nc: NextcloudTestServer, alice: httpx.Client, clock: FakeClock, folder: str
) -> None:
    """The 21st share creation within 10 minutes gets 429 (empty body); it recovers later."""
    for index in range(20):
        clock.advance(10)
        nc.make_folder("alice", f"Partnerschap/p{index}")
        assert create(alice, path=f"{folder}/p{index}", shareType=3).status_code == 200
    limited = create(alice, path=folder, shareType=3)
    assert limited.status_code == 429
    assert limited.content == b""
    v1 = alice.post(SHARES_V1, params={"path": folder, "shareType": "3"})
    assert v1.status_code == 429  # one limiter for v1 and v2
    assert nc.count("POST", "/shares", status=429) == 2
    clock.advance(410)  # now +610 s: the first attempt (at +10 s) has expired, freeing one slot
    assert create(alice, path=folder, shareType=3).status_code == 200
    assert create(alice, path=folder, shareType=3).status_code == 429
    clock.advance(600)
    assert create(alice, path=folder, shareType=3).status_code == 200


def test_rate_limit_counts_failed_attempts_and_is_per_user(
    nc: NextcloudTestServer, alice: httpx.Client, bob: httpx.Client, folder: str
) -> None:
    """Refused attempts count too (the limiter runs before the controller); users are separate."""
    for _ in range(20):
        assert create(alice, path="/does-not-exist", shareType=3).status_code == 404
    assert create(alice, path=folder, shareType=3).status_code == 429
    nc.make_folder("bob", "Eigen")
    assert create(bob, path="/Eigen", shareType=3).status_code == 200


async def test_nc_py_api_sharing_and_429(nc: NextcloudTestServer, folder: str) -> None:
    """nc-py-api creates shares through v1 and sees the 429 as ``NextcloudException``."""
    api = AsyncNextcloud(nextcloud_url=nc.base_url, nc_auth_user="alice", nc_auth_pass=PASSWORDS["alice"])
    share = await api.files.sharing.create(
        folder, ShareType.TYPE_USER, FilePermissions.PERMISSION_READ, share_with="bob"
    )
    assert share.share_with == "bob" and share.share_type == ShareType.TYPE_USER
    assert share.path == "Partnerschap"
    link = await api.files.sharing.create(folder, ShareType.TYPE_LINK, password="an-app-Pa55word")
    assert link.url and link.token
    assert [s.share_id for s in await api.files.sharing.get_list()] == [share.share_id, link.share_id]
    for _ in range(18):
        await api.files.sharing.create(folder, ShareType.TYPE_LINK)
    with pytest.raises(NextcloudException) as limited:
        await api.files.sharing.create(folder, ShareType.TYPE_LINK)
    assert limited.value.status_code == 429
