"""Teams (Circles) on the test server, driven by nc-py-api and raw OCS calls."""

from __future__ import annotations

import httpx
import pytest
from nc_py_api import AsyncNextcloud, NextcloudException
from nc_py_api.teams import MemberLevel, MemberType

from tests.nextcloud_server import NextcloudTestServer

from .conftest import PASSWORDS

CIRCLES = "/ocs/v2.php/apps/circles/circles"
JSON = {"format": "json"}


async def test_team_lifecycle_with_nc_py_api(nc: NextcloudTestServer) -> None:
    """Create a team, add a user, a group and an email address, list and remove members."""
    nc.add_group("caw-team", ["carol"])
    api = AsyncNextcloud(nextcloud_url=nc.base_url, nc_auth_user="alice", nc_auth_pass=PASSWORDS["alice"])
    assert await api.teams.available
    team = await api.teams.create("Brug Antwerpen")
    assert team.name == "Brug Antwerpen" and len(team.circle_id) == 31
    assert team.owner is not None and team.owner.user_id == "alice" and team.owner.level == MemberLevel.OWNER
    bob = await api.teams.add_member(team.circle_id, "bob", MemberType.USER)
    assert bob.user_id == "bob" and bob.level == MemberLevel.MEMBER and bob.status == "Member"
    group = await api.teams.add_member(team.circle_id, "caw-team", MemberType.GROUP)
    assert group.user_type == MemberType.GROUP
    mail = await api.teams.add_member(team.circle_id, "juf@school.example.be", MemberType.MAIL)
    assert mail.display_name == "juf@school.example.be"
    members = await api.teams.get_members(team.circle_id)
    assert [m.user_id for m in members] == ["alice", "bob", "caw-team", "juf@school.example.be"]
    assert [c.circle_id for c in await api.teams.get_list()] == [team.circle_id]
    with pytest.raises(NextcloudException):
        await api.teams.add_member(team.circle_id, "bob", MemberType.USER)
    with pytest.raises(NextcloudException) as missing:
        await api.teams.add_member(team.circle_id, "ghost", MemberType.USER)
    assert missing.value.status_code == 404
    await api.teams.remove_member(team.circle_id, bob.member_id)
    assert len(await api.teams.get_members(team.circle_id)) == 3
    details = await api.teams.get_details(team.circle_id)
    assert details.population == 3


def test_members_see_the_team_and_others_do_not(
    nc: NextcloudTestServer, alice: httpx.Client, bob: httpx.Client
) -> None:
    """Group members belong to the team through the group; outsiders get 404."""
    nc.add_group("ocmw", ["bob"])
    team = alice.post(CIRCLES, params={**JSON, "name": "Tandem Leuven"}).json()["ocs"]["data"]
    assert bob.get(f"{CIRCLES}/{team['id']}", params=JSON).status_code == 404
    alice.post(f"{CIRCLES}/{team['id']}/members", params={**JSON, "userId": "ocmw", "type": "2"})
    assert bob.get(f"{CIRCLES}/{team['id']}", params=JSON).status_code == 200
    assert [c["id"] for c in bob.get(CIRCLES, params=JSON).json()["ocs"]["data"]] == [team["id"]]
    refused = bob.post(f"{CIRCLES}/{team['id']}/members", params={**JSON, "userId": "carol", "type": "1"})
    assert refused.status_code == 403
