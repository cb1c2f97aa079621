"""WebDAV semantics of the test server: ETags, conditional writes, locks, MKCOL, MOVE, auth."""

from __future__ import annotations

from xml.etree import ElementTree

import httpx

from tests.nextcloud_server import NextcloudTestServer

DAV = "/remote.php/dav/files/alice"
PROPFIND_BODY = (
    '<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns" '
    'xmlns:nc="http://nextcloud.org/ns"><d:prop><d:getetag/><d:getlastmodified/><d:getcontentlength/>'
    "<d:getcontenttype/><d:resourcetype/><oc:fileid/><oc:permissions/><oc:size/><nc:acl-list/></d:prop></d:propfind>"
)


def propfind(client: httpx.Client, path: str, depth: str = "1") -> dict[str, dict[str, str | None]]:
    """href → {prop local name: text} for the 200 propstats; 404 props are listed with None."""
    response = client.request("PROPFIND", path, headers={"Depth": depth}, content=PROPFIND_BODY)
    assert response.status_code == 207, response.text
    result: dict[str, dict[str, str | None]] = {}
    for item in ElementTree.fromstring(response.content).findall("{DAV:}response"):
        props: dict[str, str | None] = {}
        for propstat in item.findall("{DAV:}propstat"):
            ok = "200" in (propstat.findtext("{DAV:}status") or "")
            for prop in propstat.find("{DAV:}prop") or []:
                local = prop.tag.split("}")[1]
                props[local] = ("".join(prop.itertext()) or ("collection" if len(prop) else "")) if ok else None
        result[item.findtext("{DAV:}href") or ""] = props
    return result


def test_put_creates_then_overwrites_with_changing_etags(alice: httpx.Client) -> None:
    """PUT answers 201 then 204, with ETag and OC-ETag that change with the content."""
    first = alice.put(f"{DAV}/agenda.md", content=b"# Agenda\n")
    assert first.status_code == 201
    assert first.headers["ETag"] == first.headers["OC-ETag"]
    assert first.headers["ETag"].startswith('"') and first.headers["ETag"].endswith('"')
    assert first.headers["OC-FileId"][:8].isdigit() and first.headers["OC-FileId"][8:10] == "oc"
    second = alice.put(f"{DAV}/agenda.md", content=b"# Agenda v2\n")
    assert second.status_code == 204
    assert second.headers["ETag"] != first.headers["ETag"]
    got = alice.get(f"{DAV}/agenda.md")
    assert got.status_code == 200 and got.content == b"# Agenda v2\n"
    assert got.headers["ETag"] == second.headers["ETag"]
    props = propfind(alice, f"{DAV}/agenda.md", "0")
    assert props[f"{DAV}/agenda.md"]["getetag"] == second.headers["ETag"]


def test_folder_etag_propagates(alice: httpx.Client) -> None:
    """Writing a file changes the ETag of every parent folder."""
    assert alice.request("MKCOL", f"{DAV}/Partnerschap").status_code == 201
    before = propfind(alice, f"{DAV}/", "0")[f"{DAV}/"]["getetag"]
    alice.put(f"{DAV}/Partnerschap/fase-1.md", content=b"x")
    after = propfind(alice, f"{DAV}/", "0")[f"{DAV}/"]["getetag"]
    assert before != after


def test_if_none_match_star_creates_only(alice: httpx.Client) -> None:
    """``If-None-Match: *`` writes a new file and refuses to overwrite an existing one (412)."""
    created = alice.put(f"{DAV}/akkoord.md", content=b"draft", headers={"If-None-Match": "*"})
    assert created.status_code == 201
    refused = alice.put(f"{DAV}/akkoord.md", content=b"other", headers={"If-None-Match": "*"})
    assert refused.status_code == 412
    assert b"Sabre\\DAV\\Exception\\PreconditionFailed" in refused.content
    assert alice.get(f"{DAV}/akkoord.md").content == b"draft"


def test_if_match_detects_a_concurrent_edit(nc: NextcloudTestServer, alice: httpx.Client) -> None:
    """A person editing in Nextcloud Text changes the ETag, so ``If-Match`` with the old one fails."""
    etag = alice.put(f"{DAV}/notes.md", content=b"v1").headers["OC-ETag"]
    new_etag = nc.edit_as_person("alice", "notes.md", "v1 plus a human edit")
    assert new_etag != etag
    stale = alice.put(f"{DAV}/notes.md", content=b"v2 by the bot", headers={"If-Match": etag})
    assert stale.status_code == 412
    assert alice.get(f"{DAV}/notes.md").content == b"v1 plus a human edit"
    fresh = alice.put(f"{DAV}/notes.md", content=b"v2 by the bot", headers={"If-Match": new_etag})
    assert fresh.status_code == 204
    missing = alice.put(f"{DAV}/nothing-here.md", content=b"x", headers={"If-Match": '"abc"'})
    assert missing.status_code == 412


def test_get_with_if_none_match_answers_304(alice: httpx.Client) -> None:
    """A GET with the current ETag is Not Modified."""
    etag = alice.put(f"{DAV}/a.txt", content=b"abc").headers["ETag"]
    assert alice.get(f"{DAV}/a.txt", headers={"If-None-Match": etag}).status_code == 304


def test_locked_file_answers_423_until_unlocked(nc: NextcloudTestServer, alice: httpx.Client) -> None:
    """The ``lock`` hook makes writes, moves and deletes fail with 423 Locked."""
    alice.put(f"{DAV}/locked.md", content=b"one")
    nc.lock("locked.md", user="alice")
    assert alice.put(f"{DAV}/locked.md", content=b"two").status_code == 423
    assert alice.delete(f"{DAV}/locked.md").status_code == 423
    moved = alice.request("MOVE", f"{DAV}/locked.md", headers={"Destination": f"{nc.base_url}{DAV}/elsewhere.md"})
    assert moved.status_code == 423
    assert alice.get(f"{DAV}/locked.md").content == b"one"
    props = propfind(alice, f"{DAV}/locked.md", "0")
    assert props  # still readable
    nc.unlock("alice/locked.md")
    assert alice.put(f"{DAV}/locked.md", content=b"two").status_code == 204


def test_mkcol_conflicts(alice: httpx.Client) -> None:
    """MKCOL: 201, 405 when it exists, 409 when the parent is missing."""
    assert alice.request("MKCOL", f"{DAV}/Map").status_code == 201
    exists = alice.request("MKCOL", f"{DAV}/Map")
    assert exists.status_code == 405
    assert b"The resource you tried to create already exists" in exists.content
    orphan = alice.request("MKCOL", f"{DAV}/Missing/Child")
    assert orphan.status_code == 409
    assert b"Parent node does not exist" in orphan.content


def test_put_into_missing_folder_is_404(alice: httpx.Client) -> None:
    """As recorded: a PUT below a missing folder is NotFound, naming the first missing part."""
    response = alice.put(f"{DAV}/non-existing-folder/test-file.txt", content=b"x")
    assert response.status_code == 404
    assert b"File with name //non-existing-folder could not be located" in response.content


def test_propfind_depths_and_props(alice: httpx.Client) -> None:
    """Depth 0 lists the folder, Depth 1 its children; folders have no content type/length."""
    alice.request("MKCOL", f"{DAV}/Docs")
    alice.put(f"{DAV}/Docs/a.md", content=b"hello")
    alice.request("MKCOL", f"{DAV}/Docs/Sub")
    alice.put(f"{DAV}/Docs/Sub/b.md", content=b"hi")
    assert list(propfind(alice, f"{DAV}/Docs", "0")) == [f"{DAV}/Docs/"]
    one = propfind(alice, f"{DAV}/Docs", "1")
    assert list(one) == [f"{DAV}/Docs/", f"{DAV}/Docs/Sub/", f"{DAV}/Docs/a.md"]
    assert one[f"{DAV}/Docs/a.md"]["getcontenttype"] == "text/markdown"
    assert one[f"{DAV}/Docs/a.md"]["getcontentlength"] == "5"
    assert one[f"{DAV}/Docs/a.md"]["permissions"] == "RGDNVW"
    assert one[f"{DAV}/Docs/"]["getcontenttype"] is None
    assert one[f"{DAV}/Docs/"]["resourcetype"] == "collection"
    assert one[f"{DAV}/Docs/"]["size"] == "7"
    assert one[f"{DAV}/Docs/"]["acl-list"] is None  # no groupfolders here
    infinity = propfind(alice, f"{DAV}/Docs", "infinity")
    assert f"{DAV}/Docs/Sub/b.md" in infinity
    assert alice.request("PROPFIND", f"{DAV}/Nope", headers={"Depth": "0"}).status_code == 404


def test_move_and_delete(nc: NextcloudTestServer, alice: httpx.Client) -> None:
    """MOVE 201/204 and 412 without overwrite; DELETE 204 then 404."""
    alice.put(f"{DAV}/a.md", content=b"a")
    alice.put(f"{DAV}/b.md", content=b"b")
    moved = alice.request("MOVE", f"{DAV}/a.md", headers={"Destination": f"{nc.base_url}{DAV}/c.md"})
    assert moved.status_code == 201 and "OC-FileId" in moved.headers
    refused = alice.request("MOVE", f"{DAV}/c.md", headers={"Destination": f"{DAV}/b.md", "Overwrite": "F"})
    assert refused.status_code == 412
    replaced = alice.request("MOVE", f"{DAV}/c.md", headers={"Destination": f"{DAV}/b.md"})
    assert replaced.status_code == 204
    assert alice.get(f"{DAV}/b.md").content == b"a"
    assert alice.request("MOVE", f"{DAV}/nope.md", headers={"Destination": f"{DAV}/x.md"}).status_code == 404
    no_parent = alice.request("MOVE", f"{DAV}/b.md", headers={"Destination": f"{DAV}/Missing/x.md"})
    assert no_parent.status_code == 409
    assert alice.delete(f"{DAV}/b.md").status_code == 204
    assert alice.delete(f"{DAV}/b.md").status_code == 404


def test_auth_is_required(nc: NextcloudTestServer) -> None:
    """Wrong or missing credentials: DAV 401 with a Basic challenge, OCS 401 with statuscode 997."""
    dav = httpx.request("PROPFIND", nc.base_url + DAV, auth=("alice", "wrong"))
    assert dav.status_code == 401
    assert dav.headers["WWW-Authenticate"] == 'Basic realm="Nextcloud", charset="UTF-8"'
    ocs = httpx.get(nc.base_url + "/ocs/v1.php/cloud/user", headers={"OCS-APIRequest": "true"})
    assert ocs.status_code == 401
    assert "<statuscode>997</statuscode>" in ocs.text
    other = httpx.request("PROPFIND", nc.base_url + "/remote.php/dav/files/bob/", auth=("alice", "alice-app-password"))
    assert other.status_code == 404


def test_ocs_envelope_versions_and_formats(alice: httpx.Client) -> None:
    """v1 answers statuscode 100 in XML by default; v2 mirrors HTTP; JSON via format or Accept."""
    v1 = alice.get("/ocs/v1.php/cloud/user")
    assert v1.headers["content-type"].startswith("application/xml")
    assert "<statuscode>100</statuscode>" in v1.text and "<totalitems></totalitems>" in v1.text
    v2 = alice.get("/ocs/v2.php/cloud/user", headers={"Accept": "application/json"})
    meta = v2.json()["ocs"]["meta"]
    assert meta == {"status": "ok", "statuscode": 200, "message": "OK"}
    missing = alice.get("/ocs/v2.php/cloud/groups/nobody", params={"format": "json"})
    assert missing.status_code == 404 and missing.json()["ocs"]["meta"]["statuscode"] == 404
    missing_v1 = alice.get("/ocs/v1.php/cloud/groups/nobody", params={"format": "json"})
    assert missing_v1.status_code == 200 and missing_v1.json()["ocs"]["meta"]["statuscode"] == 404


def test_ocs_needs_the_api_request_header(nc: NextcloudTestServer) -> None:
    """Without ``OCS-APIRequest: true`` Nextcloud's CSRF check refuses (capabilities excepted)."""
    auth = ("alice", "alice-app-password")
    refused = httpx.get(nc.base_url + "/ocs/v2.php/cloud/user", auth=auth)
    assert refused.status_code == 412
    assert refused.json() == {"message": "CSRF check failed"}
    assert httpx.get(nc.base_url + "/ocs/v2.php/cloud/capabilities", auth=auth).status_code == 200


def test_request_log_counts_calls(nc: NextcloudTestServer, alice: httpx.Client) -> None:
    """Every request is logged as (method, path, status)."""
    alice.put(f"{DAV}/x.md", content=b"1")
    alice.put(f"{DAV}/x.md", content=b"2", headers={"If-None-Match": "*"})
    assert ("PUT", f"{DAV}/x.md", 201) in nc.requests
    assert nc.count("PUT", "/x.md") == 2
    assert nc.count("PUT", status=412) == 1
