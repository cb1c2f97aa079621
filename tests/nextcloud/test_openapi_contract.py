"""Validate the server's OCS answers against Nextcloud's official OpenAPI specs.

The specs (``shared/contracts/nextcloud/openapi``) describe OCS v2 with ``format=json``.  Each
spec is loaded and converted to JSON Schema once per session: OpenAPI 3.0's ``nullable`` becomes
a ``null`` type, and a response is checked against the schema at
``paths[path][method].responses[status].content["application/json"].schema``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from tests.nextcloud_server import NextcloudTestServer

SPEC_FILES = {
    "core": "server-core_openapi.json",
    "provisioning": "server-apps_provisioning_api_openapi.json",
    "sharing": "server-apps_files_sharing_openapi.json",
    "dav": "server-apps_dav_openapi.json",
    "spreed": "spreed-openapi.json",
}
SPREED = "/ocs/v2.php/apps/spreed/api/{apiVersion}"


def to_json_schema(node: Any) -> Any:
    """OpenAPI 3.0 schema objects → JSON Schema 2020-12.

    ``nullable`` becomes a ``null`` alternative; a ``oneOf`` of bare types becomes ``anyOf``; a map
    (``additionalProperties`` only) may also be ``[]``, as PHP writes an empty one.
    """
    if isinstance(node, list):
        return [to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: to_json_schema(value) for key, value in node.items() if key not in ("nullable", "example")}
    alternatives = converted.get("oneOf")
    if isinstance(alternatives, list) and all(set(a) <= {"type", "format"} for a in alternatives):
        # Nextcloud writes "float or int" as oneOf(number, integer); an integer matches both
        # in JSON Schema, so a type-only oneOf means anyOf.
        converted["anyOf"] = converted.pop("oneOf")
    if node.get("type") == "object" and "additionalProperties" in node and not node.get("properties"):
        # a map that is empty is a PHP empty array, which json_encode writes as [] (Poll votes…)
        converted = {"anyOf": [converted, {"type": "array", "maxItems": 0}]}
    if node.get("nullable") is True:
        if "type" in converted and isinstance(converted["type"], str):
            converted["type"] = [converted["type"], "null"]
            if "enum" in converted:
                converted["enum"] = [*converted["enum"], None]
        else:
            converted = {"anyOf": [converted, {"type": "null"}]}
    return converted


class Spec:
    """One converted OpenAPI document with validators for its response schemas."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = to_json_schema(document)

    def validator_for(self, pointer: str) -> jsonschema.protocols.Validator:
        """A validator whose root schema is ``$ref: #<pointer>`` inside this document."""
        schema = dict(self.document)
        schema["$ref"] = "#" + pointer
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        return jsonschema.Draft202012Validator(schema)

    def response_validator(self, path: str, method: str, status: int) -> jsonschema.protocols.Validator:
        """Validator for the JSON body of ``method path`` answering ``status``."""
        operation = self.document["paths"][path][method.lower()]
        assert str(status) in operation["responses"], f"{method} {path} documents no {status} answer"
        escaped = path.replace("~", "~0").replace("/", "~1")
        return self.validator_for(
            f"/paths/{escaped}/{method.lower()}/responses/{status}/content/application~1json/schema"
        )

    def schema_validator(self, name: str) -> jsonschema.protocols.Validator:
        """Validator for ``components/schemas/<name>``."""
        return self.validator_for(f"/components/schemas/{name}")


@pytest.fixture(scope="session")
def specs(contracts_dir: Path) -> dict[str, Spec]:
    """All specs, loaded once per session."""
    loaded = {}
    for key, filename in SPEC_FILES.items():
        path = contracts_dir / "openapi" / filename
        assert path.is_file(), f"missing OpenAPI spec {path}"
        loaded[key] = Spec(json.loads(path.read_text(encoding="utf-8")))
    return loaded


def assert_valid(validator: jsonschema.protocols.Validator, instance: Any) -> None:
    """Fail with every schema violation listed."""
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(
        f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message[:300]}" for e in errors
    )


@pytest.fixture
def check(specs: dict[str, Spec]) -> Callable[..., Any]:
    """``check(response, spec, path, method)``: status must be documented and the body valid."""

    def _check(response: httpx.Response, spec: str, path: str, method: str) -> Any:
        body = response.json()
        assert_valid(specs[spec].response_validator(path, method, response.status_code), body)
        return body["ocs"]["data"]

    return _check


JSON = {"format": "json"}


# --------------------------------------------------------------------------------------------
# Core and provisioning
# --------------------------------------------------------------------------------------------


def test_capabilities_match_core_spec_and_app_capability_schemas(
    nc: NextcloudTestServer, alice: httpx.Client, specs: dict[str, Spec], check: Callable[..., Any]
) -> None:
    """``/cloud/capabilities`` and each app's part of it follow the apps' Capabilities schemas."""
    data = check(
        alice.get("/ocs/v2.php/cloud/capabilities", params=JSON), "core", "/ocs/v2.php/cloud/capabilities", "get"
    )
    caps = data["capabilities"]
    assert_valid(specs["core"].schema_validator("Capabilities"), {"core": caps["core"]})
    assert_valid(specs["core"].schema_validator("PublicCapabilities"), {"bruteforce": caps["bruteforce"]})
    assert_valid(specs["sharing"].schema_validator("Capabilities"), {"files_sharing": caps["files_sharing"]})
    assert_valid(specs["dav"].schema_validator("Capabilities"), {"dav": caps["dav"]})
    assert_valid(specs["spreed"].schema_validator("Capabilities"), caps["spreed"])


def test_capabilities_anonymous_is_allowed(nc: NextcloudTestServer, check: Callable[..., Any]) -> None:
    """Capabilities are a public page (the recordings fetch them without credentials)."""
    response = httpx.get(
        nc.base_url + "/ocs/v2.php/cloud/capabilities", params=JSON, headers={"OCS-APIRequest": "true"}
    )
    assert response.status_code == 200
    check(response, "core", "/ocs/v2.php/cloud/capabilities", "get")


def test_current_user_matches_user_details(alice: httpx.Client, check: Callable[..., Any]) -> None:
    """``/cloud/user`` returns ``UserDetails``."""
    data = check(alice.get("/ocs/v2.php/cloud/user", params=JSON), "provisioning", "/ocs/v2.php/cloud/user", "get")
    assert data["id"] == "alice"
    assert data["displayname"] == "Alice Peeters"
    assert "admin" in data["groups"]


def test_giving_an_app_password_back_matches_core_spec(
    nc: NextcloudTestServer, alice: httpx.Client, check: Callable[..., Any]
) -> None:
    """``DELETE /core/apppassword`` with an OAuth2 Bearer token, and with a login password (403)."""
    nc.add_bearer_token("oauth2-access-token", "alice")
    path = "/ocs/v2.php/core/apppassword"
    gone = httpx.delete(
        nc.base_url + path, params=JSON, headers={"Authorization": "Bearer oauth2-access-token", "OCS-APIRequest": "true"}
    )
    assert gone.status_code == 200 and check(gone, "core", path, "delete") == []
    refused = alice.delete(path, params=JSON)
    assert refused.status_code == 403
    check(refused, "core", path, "delete")


def test_group_members_and_user_groups(nc: NextcloudTestServer, alice: httpx.Client, check: Callable[..., Any]) -> None:
    """Provisioning group answers follow the spec."""
    nc.add_group("partners", ["bob", "carol"])
    data = check(
        alice.get("/ocs/v2.php/cloud/groups/partners", params=JSON),
        "provisioning",
        "/ocs/v2.php/cloud/groups/{groupId}",
        "get",
    )
    assert data["users"] == ["bob", "carol"]
    data = check(
        alice.get("/ocs/v2.php/cloud/users/bob/groups", params=JSON),
        "provisioning",
        "/ocs/v2.php/cloud/users/{userId}/groups",
        "get",
    )
    assert data["groups"] == ["partners"]


# --------------------------------------------------------------------------------------------
# Sharing
# --------------------------------------------------------------------------------------------

SHARES = "/ocs/v2.php/apps/files_sharing/api/v1/shares"


def test_shares_match_sharing_spec(nc: NextcloudTestServer, alice: httpx.Client, check: Callable[..., Any]) -> None:
    """Created, listed, fetched and updated shares of every type brug uses are valid ``Share``s."""
    nc.make_folder("alice", "Partnerschap")
    nc.put_file("alice", "Partnerschap/agenda.md", "# Agenda\n")
    nc.add_group("partners", ["bob"])
    nc.add_federated_server("cloud.example.be")
    team = alice.post("/ocs/v2.php/apps/circles/circles", params={**JSON, "name": "Brug Gent"}).json()["ocs"]["data"]
    created = []
    for share_type, share_with, path in [
        (0, "bob", "/Partnerschap"),
        (1, "partners", "/Partnerschap"),
        (3, None, "/Partnerschap"),
        (4, "partner@example.org", "/Partnerschap/agenda.md"),
        (6, "dirk@cloud.example.be", "/Partnerschap"),
        (7, team["id"], "/Partnerschap"),
    ]:
        params = {**JSON, "path": path, "shareType": str(share_type), "permissions": "1"}
        if share_with:
            params["shareWith"] = share_with
        created.append(check(alice.post(SHARES, params=params), "sharing", SHARES, "post"))
    listed = check(alice.get(SHARES, params=JSON), "sharing", SHARES, "get")
    assert len(listed) == len(created)
    single = alice.get(f"{SHARES}/{created[0]['id']}", params=JSON)
    check(single, "sharing", SHARES + "/{id}", "get")
    updated = alice.put(f"{SHARES}/{created[0]['id']}", params={**JSON, "permissions": "3"})
    check(updated, "sharing", SHARES + "/{id}", "put")


# --------------------------------------------------------------------------------------------
# Talk
# --------------------------------------------------------------------------------------------


def test_talk_rooms_participants_chat_and_polls_match_spreed_spec(
    nc: NextcloudTestServer, alice: httpx.Client, check: Callable[..., Any]
) -> None:
    """Every Talk answer brug relies on is valid per the spreed spec (success and error cases)."""
    nc.add_group("clb", ["carol"])
    room_url = "/ocs/v2.php/apps/spreed/api/v4/room"
    room = check(
        alice.post(room_url, params=JSON, json={"roomType": 2, "roomName": "Brug"}), "spreed", SPREED + "/room", "post"
    )
    check(alice.post(room_url, params=JSON, json={"roomType": 3}), "spreed", SPREED + "/room", "post")
    check(alice.post(room_url, params=JSON, json={"roomType": 1, "invite": "bob"}), "spreed", SPREED + "/room", "post")
    check(alice.get(room_url, params=JSON), "spreed", SPREED + "/room", "get")
    token = room["token"]
    check(alice.get(f"{room_url}/{token}", params=JSON), "spreed", SPREED + "/room/{token}", "get")
    check(alice.get(f"{room_url}/zzzzzzzz", params=JSON), "spreed", SPREED + "/room/{token}", "get")
    participants = f"{room_url}/{token}/participants"
    for new, source in [("bob", "users"), ("clb", "groups"), ("ouder@example.be", "emails"), ("ghost", "users")]:
        check(
            alice.post(participants, params=JSON, json={"newParticipant": new, "source": source}),
            "spreed",
            SPREED + "/room/{token}/participants",
            "post",
        )
    check(alice.get(participants, params=JSON), "spreed", SPREED + "/room/{token}/participants", "get")

    chat = f"/ocs/v2.php/apps/spreed/api/v1/chat/{token}"
    first = check(
        alice.post(chat, params=JSON, json={"message": "Dag @bob", "referenceId": "a" * 64}),
        "spreed",
        SPREED + "/chat/{token}",
        "post",
    )
    check(
        alice.post(chat, params=JSON, json={"message": "Antwoord", "replyTo": first["id"]}),
        "spreed",
        SPREED + "/chat/{token}",
        "post",
    )
    check(alice.post(chat, params=JSON, json={"message": "x" * 32001}), "spreed", SPREED + "/chat/{token}", "post")
    check(alice.post(chat, params=JSON, json={"message": " "}), "spreed", SPREED + "/chat/{token}", "post")
    check(alice.get(chat, params={**JSON, "lookIntoFuture": 0}), "spreed", SPREED + "/chat/{token}", "get")
    check(
        alice.get(chat, params={**JSON, "lookIntoFuture": 1, "timeout": 0}), "spreed", SPREED + "/chat/{token}", "get"
    )

    poll_url = f"/ocs/v2.php/apps/spreed/api/v1/poll/{token}"
    poll = check(
        alice.post(
            poll_url,
            params=JSON,
            json={"question": "Wanneer?", "options": ["ma", "di"], "resultMode": 0, "maxVotes": 1},
        ),
        "spreed",
        SPREED + "/poll/{token}",
        "post",
    )
    check(
        alice.post(poll_url, params=JSON, json={"question": "", "options": [], "resultMode": 0, "maxVotes": 0}),
        "spreed",
        SPREED + "/poll/{token}",
        "post",
    )
    one = f"{poll_url}/{poll['id']}"
    check(alice.get(one, params=JSON), "spreed", SPREED + "/poll/{token}/{pollId}", "get")
    check(alice.post(one, params=JSON, json={"optionIds": [0]}), "spreed", SPREED + "/poll/{token}/{pollId}", "post")
    check(alice.post(one, params=JSON, json={"optionIds": [5]}), "spreed", SPREED + "/poll/{token}/{pollId}", "post")
    check(alice.delete(one, params=JSON), "spreed", SPREED + "/poll/{token}/{pollId}", "delete")
    check(alice.delete(one, params=JSON), "spreed", SPREED + "/poll/{token}/{pollId}", "delete")
    check(alice.get(f"{poll_url}/999", params=JSON), "spreed", SPREED + "/poll/{token}/{pollId}", "get")
