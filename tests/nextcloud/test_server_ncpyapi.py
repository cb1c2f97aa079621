"""A real client: nc-py-api's ``AsyncNextcloud`` is satisfied by the test server."""

from __future__ import annotations

import pytest
from nc_py_api import AsyncNextcloud, NextcloudException

from tests.nextcloud_server import NextcloudTestServer

from .conftest import PASSWORDS


def client(nc: NextcloudTestServer, user: str = "alice") -> AsyncNextcloud:
    """An ``AsyncNextcloud`` logged in with the user's app password."""
    return AsyncNextcloud(nextcloud_url=nc.base_url, nc_auth_user=user, nc_auth_pass=PASSWORDS[user])


async def test_capabilities_and_user(nc: NextcloudTestServer) -> None:
    """Capabilities and the current user load through OCS v1 with ``format=json``."""
    api = client(nc)
    capabilities = await api.capabilities
    assert capabilities["files_sharing"]["api_enabled"] is True
    assert "spreed" in capabilities and "circles" in capabilities
    assert (await api.srv_version)["major"] == 32
    assert await api.check_capabilities(["files_sharing.api_enabled", "spreed.features", "circles"]) == []
    assert await api.user == "alice"
    assert ("GET", "/ocs/v1.php/cloud/capabilities", 200) in nc.requests


async def test_files_roundtrip(nc: NextcloudTestServer) -> None:
    """mkdir, makedirs, upload, listdir, download, move, find and delete."""
    api = client(nc)
    folder = await api.files.mkdir("Partnerschap")
    assert folder.is_dir and folder.file_id
    with pytest.raises(NextcloudException) as exists:
        await api.files.mkdir("Partnerschap")
    assert exists.value.status_code == 405
    await api.files.makedirs("Partnerschap/Verslagen/2026", exist_ok=True)
    uploaded = await api.files.upload("Partnerschap/agenda.md", "# Agenda\n\n- welkom\n")
    assert uploaded.etag and uploaded.file_id
    listing = await api.files.listdir("Partnerschap")
    assert sorted(node.name for node in listing) == ["Verslagen", "agenda.md"]
    agenda = next(node for node in listing if node.name == "agenda.md")
    assert agenda.etag == uploaded.etag
    assert agenda.info.size == len("# Agenda\n\n- welkom\n")
    assert agenda.info.mimetype == "text/markdown"
    assert not agenda.lock_info.is_locked
    assert await api.files.download("Partnerschap/agenda.md") == b"# Agenda\n\n- welkom\n"
    moved = await api.files.move("Partnerschap/agenda.md", "Partnerschap/Verslagen/agenda.md")
    assert moved.name == "agenda.md" and moved.info.fileid == agenda.info.fileid
    found = await api.files.by_id(moved.file_id)
    assert found is not None and found.user_path == "Partnerschap/Verslagen/agenda.md"
    await api.files.delete("Partnerschap/Verslagen/agenda.md")
    with pytest.raises(NextcloudException) as gone:
        await api.files.by_path("Partnerschap/Verslagen/agenda.md")
    assert gone.value.status_code == 404


async def test_locked_file_is_reported_and_refuses_upload(nc: NextcloudTestServer) -> None:
    """nc-py-api sees the lock properties and gets 423 on upload."""
    api = client(nc)
    await api.files.upload("doc.md", b"one")
    nc.lock("alice/doc.md")
    node = await api.files.by_path("doc.md")
    assert node is not None and node.lock_info.is_locked
    with pytest.raises(NextcloudException) as locked:
        await api.files.upload("doc.md", b"two")
    assert locked.value.status_code == 423
