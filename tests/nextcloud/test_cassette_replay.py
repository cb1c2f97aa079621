"""Replay recorded real Nextcloud traffic (VCR cassettes) against the test server.

For every cassette in ``shared/contracts/nextcloud/cassettes`` the server is seeded with the state
the recording implies (users, groups, files and folders that the recorded answers show existed
before the recording created them), then each recorded request that falls inside the server's
surface is sent again over real HTTP.  The answer must match what a client reads from the
recorded one: status code, OCS ``meta`` status/statuscode and ``data`` keys, DAV hrefs and which
properties were found or missing, Sabre exception classes and messages, and the presence of
ETag / OC-ETag / OC-FileId / WWW-Authenticate headers.
"""

from __future__ import annotations

import base64
import functools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit
from xml.etree import ElementTree

import httpx
import pytest
import yaml

from tests.nextcloud_server import NextcloudTestServer

from .conftest import CONTRACTS_DIR

CASSETTE_DIR = CONTRACTS_DIR / "cassettes"

# Requests the test server does not implement, as (method or "*", path prefix) → reason.
# They are not replayed; every other request of a cassette is.
OUT_OF_SCOPE_REQUESTS: dict[tuple[str, str], str] = {
    ("*", "/ocs/v1.php/apps/integration_openproject/"): "OpenProject's own Nextcloud app (fileinfo/filesinfo)",
    ("*", "/index.php/apps/integration_openproject/"): "OpenProject's own Nextcloud app (direct upload tokens)",
    ("*", "/index.php/apps/oauth2/"): "OAuth2 token refresh",
    ("*", "/ocs/v2.php/apps/dav/api/v1/direct"): "direct download links",
}

# Cassettes in which no request is in scope (checked against OUT_OF_SCOPE_REQUESTS below).
OUT_OF_SCOPE_CASSETTES: dict[str, str] = {
    "download_link_query_not_found.yml": "direct download links",
    "download_link_query_success.yml": "direct download links",
    "download_link_query_unauthorized.yml": "direct download links and OAuth2 refresh",
    "file_info_query_app_disabled.yml": "integration_openproject",
    "file_info_query_not_found.yml": "integration_openproject",
    "file_info_query_success_deleted_file.yml": "integration_openproject",
    "file_info_query_success_file.yml": "integration_openproject",
    "file_info_query_success_folder.yml": "integration_openproject",
    "file_info_query_success_special_characters.yml": "integration_openproject",
    "file_info_query_xml_response.yml": "integration_openproject",
    "files_info_query_app_disabled.yml": "integration_openproject",
    "files_info_query_not_found.yml": "integration_openproject",
    "files_info_query_only_one_not_authorized.yml": "integration_openproject",
    "files_info_query_success.yml": "integration_openproject",
    "files_info_query_unauthorized.yml": "integration_openproject",
    "rename_file_not_found.yml": "integration_openproject",
    "set_permissions_not_found_folder.yml": "integration_openproject",
    "upload_link_not_found.yml": "integration_openproject",
    "upload_link_success.yml": "integration_openproject",
}

# Properties whose value comes from an app the server does not emulate; their found/missing
# status is not compared (the request is still replayed and everything else is compared).
OUT_OF_SCOPE_PROPS: dict[str, str] = {
    "{http://nextcloud.org/ns}acl-list": "groupfolders ACLs (a real server computes them per team folder)",
}

ADMIN = "admin"
PASSWORD = "replay-app-password"
ALL_CASSETTES = sorted(p.name for p in CASSETTE_DIR.glob("*.yml")) if CASSETTE_DIR.is_dir() else []
DAV_FILES = "/remote.php/dav/files/"
_WEBROOT = re.compile(r"^(.*?)(?=/(?:remote\.php|ocs|index\.php)/)")


# --------------------------------------------------------------------------------------------
# Reading cassettes
# --------------------------------------------------------------------------------------------


@dataclass
class Interaction:
    """One recorded request/response pair, with the server's webroot stripped from the path."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: str
    status: int
    response_headers: dict[str, str]
    response_body: str

    @property
    def in_scope(self) -> bool:
        """False when the request matches OUT_OF_SCOPE_REQUESTS."""
        return not any(
            (method in ("*", self.method)) and self.path.startswith(prefix) for method, prefix in OUT_OF_SCOPE_REQUESTS
        )

    @property
    def decoded_path(self) -> str:
        """The path with percent-escapes decoded."""
        return unquote(self.path)


def _first(values: Any) -> str:
    if isinstance(values, list):
        return str(values[0]) if values else ""
    return "" if values is None else str(values)


_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@functools.cache
def load_cassette(name: str) -> list[Interaction]:
    """Parse a VCR cassette into interactions."""
    data = yaml.load((CASSETTE_DIR / name).read_text(encoding="utf-8"), Loader=_YAML_LOADER)
    result = []
    for item in data["http_interactions"]:
        request, response = item["request"], item["response"]
        url = urlsplit(request["uri"])
        path = _WEBROOT.sub("", url.path)
        result.append(
            Interaction(
                method=request["method"].upper(),
                path=path,
                query=url.query,
                headers={k.lower(): _first(v) for k, v in (request.get("headers") or {}).items()},
                body=(request.get("body") or {}).get("string") or "",
                status=int(response["status"]["code"]),
                response_headers={k.lower(): _first(v) for k, v in (response.get("headers") or {}).items()},
                response_body=(response.get("body") or {}).get("string") or "",
            )
        )
    return result


def in_scope_cassettes() -> list[str]:
    """Cassettes with at least one request inside the server's surface."""
    return [name for name in ALL_CASSETTES if any(i.in_scope for i in load_cassette(name))]


# --------------------------------------------------------------------------------------------
# Deriving the state a recording implies
# --------------------------------------------------------------------------------------------


def _dav_target(path: str) -> tuple[str, str] | None:
    """(user, path below the user's root) for a files DAV path, else None."""
    decoded = unquote(path)
    if not decoded.startswith(DAV_FILES):
        return None
    user, _, rest = decoded[len(DAV_FILES) :].partition("/")
    return user, rest.strip("/")


def _looks_like_file(rel: str) -> bool:
    """Heuristic for paths whose type the recording does not show: a suffix means a file."""
    return bool(re.search(r"\.[A-Za-z0-9]{1,5}$", rel.rsplit("/", 1)[-1]))


def _multistatus_hrefs(body: str) -> list[str]:
    try:
        root = ElementTree.fromstring(body.encode("utf-8"))
    except ElementTree.ParseError:
        return []
    return [unquote(el.text or "") for el in root.iter("{DAV:}href")]


@dataclass
class Seed:
    """Users, groups and paths that exist before the recording starts."""

    users: set[str] = field(default_factory=set)
    groups: dict[str, list[str]] = field(default_factory=dict)
    paths: dict[tuple[str, str], bool] = field(default_factory=dict)  # (user, rel) → is_dir
    valid_tokens: dict[str, str] = field(default_factory=dict)  # bearer token → user
    subadmins: set[tuple[str, str]] = field(default_factory=set)  # (user, group)
    basic_user: str = ADMIN  # whose Basic credentials the recording's OCS calls carried


def basic_user_of(interactions: list[Interaction]) -> str:
    """The account behind a recording's Basic credentials: the user of its Basic DAV calls."""
    for item in interactions:
        target = _dav_target(item.path)
        if target and item.headers.get("authorization", "").lower().startswith("basic "):
            return target[0]
    return ADMIN


def acting_user(interaction: Interaction, seed: Seed) -> str:
    """Whose credentials a request carried: the DAV path's user, else the Basic/admin account."""
    target = _dav_target(interaction.path)
    if target:
        return target[0]
    if interaction.headers.get("authorization", "").lower().startswith("basic "):
        return seed.basic_user
    return ADMIN


def derive_seed(interactions: list[Interaction]) -> Seed:
    """Walk the recording in order and collect what had to exist before it."""
    seed = Seed(users={ADMIN}, basic_user=basic_user_of(interactions))
    model: dict[tuple[str, str], bool] = {}
    created_groups: set[str] = set()

    def need(user: str, rel: str, is_dir: bool) -> None:
        seed.users.add(user)
        parts = [p for p in rel.split("/") if p]
        for index in range(1, len(parts) + 1):
            key = (user, "/".join(parts[:index]))
            leaf = index == len(parts)
            if key not in model:
                model[key] = is_dir if leaf else True
                seed.paths[key] = model[key]

    def remove(user: str, rel: str) -> None:
        for key in [k for k in model if k[0] == user and (k[1] == rel or k[1].startswith(rel + "/"))]:
            del model[key]

    for item in interactions:
        if not item.in_scope:
            continue
        auth = item.headers.get("authorization", "")
        if auth.lower().startswith("bearer ") and item.status != 401:
            seed.valid_tokens[auth.split(" ", 1)[1]] = acting_user(item, seed)
        target = _dav_target(item.path)
        if target is not None:
            user, rel = target
            seed.users.add(user)
            parent = rel.rsplit("/", 1)[0] if "/" in rel else ""
            if item.method == "PROPFIND" and item.status == 207:
                for href in _multistatus_hrefs(item.response_body):
                    href_target = _dav_target(href)
                    if href_target:
                        need(href_target[0], href_target[1], href.endswith("/"))
            elif item.method == "MKCOL" and item.status == 201:
                need(user, parent, True)
                model[(user, rel)] = True
            elif item.method == "MKCOL" and item.status == 405:
                need(user, rel, True)
            elif item.method == "PUT" and item.status == 201:
                need(user, parent, True)
                model[(user, rel)] = False
            elif item.method == "PUT" and item.status == 204:
                need(user, rel, False)
            elif item.method in ("DELETE", "PROPPATCH") and item.status in (204, 207):
                need(user, rel, not _looks_like_file(rel))
                if item.method == "DELETE":
                    remove(user, rel)
            elif item.method == "MOVE" and item.status in (201, 204):
                need(user, rel, not _looks_like_file(rel))
                dest = _dav_target(urlsplit(item.headers.get("destination", "")).path)
                is_dir = model[(user, rel)]
                remove(user, rel)
                if dest:
                    model[dest] = is_dir
            continue
        ok = "<statuscode>100</statuscode>" in item.response_body or '"statuscode":100' in item.response_body
        if re.match(r"^/ocs/v[12]\.php/cloud/user$", item.path) and ok:
            root = ElementTree.fromstring(item.response_body.encode())
            uid = root.findtext("data/id") or ADMIN
            for gid in (el.text or "" for el in root.iterfind("data/groups/element")):
                seed.groups.setdefault(gid, [])
                if uid not in seed.groups[gid]:
                    seed.groups[gid].append(uid)
            continue
        match = re.match(
            r"^/ocs/v[12]\.php/cloud/(users/(?P<user>[^/]+)/groups|groups(/(?P<group>[^/?]+))?)$", item.path
        )
        if not match:
            continue
        params = dict(p.split("=", 1) for p in (item.query + "&" + item.body).split("&") if "=" in p)
        gid = unquote(match["group"] or params.get("groupid", "").replace("+", " "))
        if match["user"]:
            uid = unquote(match["user"])
            if "<statuscode>103</statuscode>" not in item.response_body:
                seed.users.add(uid)
        actor = acting_user(item, seed)
        if actor != ADMIN and gid and (ok or "sub-admin" in item.response_body):
            seed.subadmins.add((actor, gid))
        if item.method == "POST" and match.group(1) == "groups" and ok:
            created_groups.add(gid)
        elif ok and gid and gid not in created_groups and gid not in seed.groups:
            members = []
            if item.method == "GET":
                root = ElementTree.fromstring(item.response_body.encode())
                members = [el.text or "" for el in root.iter("element")]
            seed.groups[gid] = members
    return seed


def apply_seed(server: NextcloudTestServer, seed: Seed) -> None:
    """Create the seeded users, groups, tokens, folders and files on the server."""
    for uid in sorted(seed.users):
        server.add_user(uid, PASSWORD, admin=(uid == ADMIN))
    for gid, members in seed.groups.items():
        server.add_group(gid, members)
    for uid, gid in sorted(seed.subadmins):
        server.add_subadmin(uid, gid)
    for token, uid in seed.valid_tokens.items():
        server.add_bearer_token(token, uid)
    for (uid, rel), is_dir in sorted(seed.paths.items()):
        if not rel:
            continue
        if is_dir:
            server.make_folder(uid, rel)
        else:
            server.put_file(uid, rel, b"seeded by the replay test\n")


# --------------------------------------------------------------------------------------------
# Sending a recorded request again
# --------------------------------------------------------------------------------------------

FORWARDED_HEADERS = ("accept", "content-type", "depth", "ocs-apirequest", "overwrite", "if-match", "if-none-match")


def replay(client: httpx.Client, item: Interaction, seed: Seed) -> httpx.Response:
    """Send the recorded request to the test server with the credentials the recording implies."""
    headers = {k: v for k, v in item.headers.items() if k in FORWARDED_HEADERS}
    auth = item.headers.get("authorization", "")
    if auth.lower().startswith("basic "):
        password = PASSWORD if item.status != 401 else "a-wrong-password"
        token = base64.b64encode(f"{acting_user(item, seed)}:{password}".encode()).decode()
        headers["authorization"] = f"Basic {token}"
    elif auth:
        headers["authorization"] = auth
    if "destination" in item.headers:
        headers["destination"] = _WEBROOT.sub("", urlsplit(item.headers["destination"]).path)
    body = item.body.encode("utf-8")
    if item.method == "PUT" and item.body.startswith("#<StringIO"):
        body = b"This is a test file 1234\n"
    url = item.path + ("?" + item.query if item.query else "")
    return client.request(item.method, url, headers=headers, content=body or None)


# --------------------------------------------------------------------------------------------
# Comparing answers
# --------------------------------------------------------------------------------------------


def _ocs_view(body: str, content_type: str) -> dict[str, Any]:
    """meta status/statuscode and the data of an OCS answer (JSON or XML)."""
    if "json" in content_type:
        ocs = json.loads(body)["ocs"]
        return {"status": ocs["meta"]["status"], "statuscode": int(ocs["meta"]["statuscode"]), "data": ocs["data"]}
    root = ElementTree.fromstring(body.encode("utf-8"))
    data_el = root.find("data")
    data: Any = {}
    if data_el is not None and len(data_el):
        data = {
            child.tag: [e.text or "" for e in child.iter("element")]
            if child.find("element") is not None
            else child.text
            for child in data_el
        }
    return {
        "status": root.findtext("meta/status"),
        "statuscode": int(root.findtext("meta/statuscode") or 0),
        "data": data,
    }


def compare_ocs(item: Interaction, response: httpx.Response) -> list[str]:
    """OCS meta and data keys (and exact member lists of the provisioning answers)."""
    problems = []
    recorded_type = item.response_headers.get("content-type", "")
    actual_type = response.headers.get("content-type", "")
    if ("json" in recorded_type) != ("json" in actual_type):
        problems.append(f"content type {actual_type!r} instead of {recorded_type!r}")
        return problems
    recorded = _ocs_view(item.response_body, recorded_type)
    actual = _ocs_view(response.text, actual_type)
    for key in ("status", "statuscode"):
        if recorded[key] != actual[key]:
            problems.append(f"meta {key} {actual[key]!r} instead of {recorded[key]!r}")
    rec_data, act_data = recorded["data"], actual["data"]
    if isinstance(rec_data, dict) and rec_data:
        if not isinstance(act_data, dict):
            problems.append(f"data is {type(act_data).__name__}, recorded an object")
        else:
            missing = sorted(set(rec_data) - set(act_data))
            if missing:
                problems.append(f"data lacks keys {missing}")
            for key, value in rec_data.items():
                if key in ("users", "groups") and isinstance(value, list) and act_data.get(key) != value:
                    problems.append(f"data[{key!r}] is {act_data.get(key)!r}, recorded {value!r}")
    elif not rec_data and act_data:
        problems.append(f"data should be empty, got {act_data!r}")
    return problems


def _dav_view(body: str) -> dict[str, dict[str, str]]:
    """href → {property clark name → 'found' | 'missing'} of a multistatus."""
    root = ElementTree.fromstring(body.encode("utf-8"))
    view: dict[str, dict[str, str]] = {}
    for response in root.findall("{DAV:}response"):
        href = unquote(response.findtext("{DAV:}href") or "")
        props: dict[str, str] = {}
        for propstat in response.findall("{DAV:}propstat"):
            status = propstat.findtext("{DAV:}status") or ""
            state = "found" if " 200 " in status else "missing" if " 404 " in status else status
            for prop in propstat.find("{DAV:}prop") or []:
                if prop.tag not in OUT_OF_SCOPE_PROPS:
                    props[prop.tag] = state
        view[_WEBROOT.sub("", href)] = props
    return view


def compare_dav(item: Interaction, response: httpx.Response) -> list[str]:
    """Multistatus hrefs and per-href property status, or the Sabre error class and message."""
    problems: list[str] = []
    if item.status == 207:
        recorded, actual = _dav_view(item.response_body), _dav_view(response.text)
        if set(recorded) != set(actual):
            problems.append(f"hrefs {sorted(actual)} instead of {sorted(recorded)}")
        for href, props in recorded.items():
            if href in actual and actual[href] != props:
                problems.append(f"{href}: properties {actual[href]} instead of {props}")
    elif item.status >= 400 and item.status != 401 and "<d:error" in item.response_body:
        recorded_root = ElementTree.fromstring(item.response_body.encode("utf-8"))
        try:
            actual_root = ElementTree.fromstring(response.content)
        except ElementTree.ParseError:
            return [f"error body is not XML: {response.text[:200]!r}"]
        for tag in ("{http://sabredav.org/ns}exception", "{http://sabredav.org/ns}message"):
            if recorded_root.findtext(tag) != actual_root.findtext(tag):
                problems.append(f"{tag}: {actual_root.findtext(tag)!r} instead of {recorded_root.findtext(tag)!r}")
    return problems


def compare(item: Interaction, response: httpx.Response) -> list[str]:
    """Everything a client reads from this answer."""
    problems = []
    if response.status_code != item.status:
        problems.append(f"status {response.status_code} instead of {item.status}")
    for header in ("etag", "oc-etag", "oc-fileid", "www-authenticate"):
        if (header in item.response_headers) != (header in response.headers) and item.path.startswith("/remote.php"):
            problems.append(f"header {header} {'missing' if header in item.response_headers else 'unexpected'}")
    if problems:
        return problems
    if item.path.startswith("/ocs/") and item.response_body.strip():
        problems += compare_ocs(item, response)
    elif item.path.startswith("/remote.php/") and item.response_body.strip():
        problems += compare_dav(item, response)
    return problems


# --------------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------------


def test_contracts_present(contracts_dir: Path) -> None:
    """The recordings are there (the suite fails loudly otherwise)."""
    assert ALL_CASSETTES, f"no cassettes found in {CASSETTE_DIR}"


def test_every_cassette_is_replayed_or_named_out_of_scope() -> None:
    """In-scope cassettes exist, and the out-of-scope list is exactly the rest."""
    replayed = set(in_scope_cassettes())
    assert replayed, "no cassette has a request inside the server's surface"
    assert set(ALL_CASSETTES) == replayed | set(OUT_OF_SCOPE_CASSETTES), (
        "cassettes neither replayed nor named out of scope: "
        f"{sorted(set(ALL_CASSETTES) - replayed - set(OUT_OF_SCOPE_CASSETTES))}"
    )
    assert not replayed & set(OUT_OF_SCOPE_CASSETTES), (
        f"named out of scope but they have in-scope requests: {sorted(replayed & set(OUT_OF_SCOPE_CASSETTES))}"
    )


@pytest.mark.parametrize("cassette", in_scope_cassettes())
def test_replay_cassette(cassette: str, nc_server: NextcloudTestServer) -> None:
    """Every in-scope request of the recording gets the answer a real Nextcloud gave."""
    interactions = load_cassette(cassette)
    nc_server.reset()
    seed = derive_seed(interactions)
    apply_seed(nc_server, seed)
    failures = []
    with httpx.Client(base_url=nc_server.base_url, timeout=30) as client:
        for index, item in enumerate(interactions):
            if not item.in_scope:
                continue
            response = replay(client, item, seed)
            for problem in compare(item, response):
                failures.append(f"#{index} {item.method} {item.decoded_path}: {problem}")
    assert not failures, "\n".join(failures)
