"""The test server's OAuth 2.0 authorization-code flow answers like Nextcloud 30–32's oauth2 app
(`LoginRedirectorController`, `OauthApiController`, core's `ClientFlowLoginController`): codes go
only to the registered redirect URI, are single use and hold 10 minutes; a wrong client, secret,
code or grant type gets Nextcloud's 400 and error body; the access token is a Bearer token for an hour."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import astuple
from html import unescape
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.nextcloud.conftest import PASSWORDS, FakeClock
from tests.nextcloud.test_real_nextcloud import ENV, REAL
from tests.nextcloud_server import NextcloudTestServer

REDIRECT = "https://brug.example.org/login/nextcloud/callback"


def hidden(page: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert found, page
    return unescape(found[1])


@pytest.fixture
def browser(versioned_nc: NextcloudTestServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=versioned_nc.base_url, timeout=30, follow_redirects=False) as client:
        yield client


def code_for(nc: NextcloudTestServer, browser: httpx.Client, client_id: str, state: str, user: str = "bob") -> str:
    """The browser's way through Nextcloud: authorize, log in (once wrongly), grant; the code."""
    go = browser.get(
        "/index.php/apps/oauth2/authorize",
        params={"response_type": "code", "client_id": client_id, "state": state, "redirect_uri": "https://evil.example/steal"},
    )
    assert go.status_code == 303
    picker = browser.get(go.headers["location"])
    assert picker.status_code == 200 and "Connect to your account" in picker.text and "brug" in picker.text
    grant_url = unescape(re.search(r'href="([^"]+)">Log in', picker.text)[1])  # type: ignore[index]
    to_login = browser.get(grant_url)
    assert to_login.status_code == 303 and "/index.php/login?" in to_login.headers["location"]
    form = browser.get(to_login.headers["location"])
    fields = {"requesttoken": hidden(form.text, "requesttoken"), "redirect_url": hidden(form.text, "redirect_url")}
    wrong = browser.post("/index.php/login", data={**fields, "user": user, "password": "nope"})
    assert wrong.status_code == 303 and "Wrong login or password." in browser.get(wrong.headers["location"]).text
    assert browser.post("/index.php/login", data={"user": user, "password": PASSWORDS[user]}).status_code == 412  # no requesttoken
    logged_in = browser.post("/index.php/login", data={**fields, "user": user, "password": PASSWORDS[user]})
    assert logged_in.status_code == 303
    grant = browser.get(logged_in.headers["location"])
    assert grant.status_code == 200 and "Grant access" in grant.text and f"({user})" in grant.text
    granted = browser.post(
        "/index.php/login/flow",
        data={name: hidden(grant.text, name) for name in ("requesttoken", "stateToken", "clientIdentifier", "providedRedirectUri")},
    )
    assert granted.status_code == 303
    back = granted.headers["location"]
    assert back.startswith(REDIRECT + "?")  # the registered URI, never the one the request named
    query = parse_qs(urlsplit(back).query)
    assert query["state"] == [state]
    assert re.fullmatch(r"[A-Za-z0-9]{128}", query["code"][0])
    return query["code"][0]


def token(nc: NextcloudTestServer, **fields: str) -> httpx.Response:
    return httpx.post(f"{nc.base_url}/index.php/apps/oauth2/api/v1/token", data=fields, timeout=30)


def whoami(nc: NextcloudTestServer, access_token: str) -> httpx.Response:
    return httpx.get(
        f"{nc.base_url}/ocs/v2.php/cloud/user",
        params={"format": "json"},
        headers={"Authorization": f"Bearer {access_token}", "OCS-APIRequest": "true"},
        timeout=30,
    )


def test_the_authorization_code_flow_gives_a_bearer_token_for_the_user_once(
    versioned_nc: NextcloudTestServer, browser: httpx.Client, clock: FakeClock
) -> None:
    nc = versioned_nc
    nc.state.users["bob"].email = "bob@school.be"
    client_id, secret = nc.add_oauth_client("brug", REDIRECT)
    code = code_for(nc, browser, client_id, "s t&ate/1")
    exchange = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "client_id": client_id}

    assert (r := token(nc, **exchange, client_secret="wrong")).status_code == 400 and r.json() == {"error": "invalid_client"}
    other_id, other_secret = nc.add_oauth_client("other", REDIRECT)
    assert token(nc, **{**exchange, "client_id": other_id}, client_secret=other_secret).json() == {"error": "invalid_client"}
    got = token(nc, **exchange, client_secret=secret)
    assert got.status_code == 200 and got.headers["content-type"].startswith("application/json")
    body = got.json()
    assert list(body) == ["access_token", "token_type", "expires_in", "refresh_token", "user_id"]
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600 and body["user_id"] == "bob"
    assert re.fullmatch(r"[A-Za-z0-9]{72}", body["access_token"])

    again = token(nc, **exchange, client_secret=secret)  # a code works once
    assert again.status_code == 400 and again.json() == {"error": "invalid_request"}
    assert token(nc, **{**exchange, "code": "x" * 128}, client_secret=secret).json() == {"error": "invalid_request"}
    assert token(nc, **{**exchange, "grant_type": "password"}, client_secret=secret).json() == {"error": "invalid_grant"}

    me = whoami(nc, body["access_token"])
    assert me.status_code == 200
    assert me.json()["ocs"]["data"]["id"] == "bob" and me.json()["ocs"]["data"]["email"] == "bob@school.be"
    clock.advance(3600 - 1)
    assert whoami(nc, body["access_token"]).status_code == 200
    clock.advance(2)  # the access token holds an hour
    late = whoami(nc, body["access_token"])
    assert late.status_code == 401


def test_a_code_holds_ten_minutes_and_basic_auth_names_the_client(
    nc: NextcloudTestServer, clock: FakeClock
) -> None:
    client_id, secret = nc.add_oauth_client("brug", REDIRECT)
    with httpx.Client(base_url=nc.base_url, timeout=30) as browser:
        late = code_for(nc, browser, client_id, "one")
    clock.advance(601)
    refused = token(nc, grant_type="authorization_code", code=late, client_id=client_id, client_secret=secret)
    assert refused.status_code == 400 and refused.json() == {"error": "invalid_request"}
    with httpx.Client(base_url=nc.base_url, timeout=30) as browser:
        code = code_for(nc, browser, client_id, "two", user="carol")
    by_basic = httpx.post(
        f"{nc.base_url}/index.php/apps/oauth2/api/v1/token",
        data={"grant_type": "authorization_code", "code": code, "client_id": "ignored", "client_secret": "ignored"},
        auth=(client_id, secret),
        timeout=30,
    )
    assert by_basic.status_code == 200 and by_basic.json()["user_id"] == "carol"


def test_an_unknown_client_or_response_type_is_refused_as_nextcloud_does(nc: NextcloudTestServer) -> None:
    client_id, _ = nc.add_oauth_client("brug", REDIRECT)
    unknown = httpx.get(
        f"{nc.base_url}/index.php/apps/oauth2/authorize",
        params={"response_type": "code", "client_id": "nope", "state": "s"},
        timeout=30,
    )
    assert unknown.status_code == 200 and "Your client is not authorized to connect" in unknown.text
    implicit = httpx.get(
        f"{nc.base_url}/index.php/apps/oauth2/authorize",
        params={"response_type": "token", "client_id": client_id, "state": "a b~"},
        timeout=30,
    )
    assert implicit.status_code == 303
    assert implicit.headers["location"] == f"{REDIRECT}?error=unsupported_response_type&state=a+b%7E"
    forged = httpx.post(
        f"{nc.base_url}/index.php/login/flow",
        data={"stateToken": "guess", "clientIdentifier": client_id, "requesttoken": "x"},
        timeout=30,
    )
    assert forged.status_code == 303 and "/index.php/login?" in forged.headers["location"]  # not logged in


def test_an_oauth2_client_gives_its_token_back(nc: NextcloudTestServer) -> None:
    client_id, secret = nc.add_oauth_client("brug", REDIRECT)
    with httpx.Client(base_url=nc.base_url, timeout=30) as browser:
        code = code_for(nc, browser, client_id, "s")
    access = token(nc, grant_type="authorization_code", code=code, client_id=client_id, client_secret=secret).json()
    bearer = {"Authorization": f"Bearer {access['access_token']}", "OCS-APIRequest": "true"}
    gone = httpx.delete(f"{nc.base_url}/ocs/v2.php/core/apppassword", params={"format": "json"}, headers=bearer, timeout=30)
    assert gone.status_code == 200 and gone.json()["ocs"]["data"] == []
    assert whoami(nc, access["access_token"]).status_code == 401
    basic = httpx.delete(
        f"{nc.base_url}/ocs/v2.php/core/apppassword",
        params={"format": "json"},
        headers={"OCS-APIRequest": "true"},
        auth=("bob", PASSWORDS["bob"]),
        timeout=30,
    )
    assert basic.status_code == 403 and basic.json()["ocs"]["meta"]["message"] == "no app password in use"


def refusals(base_url: str) -> None:
    """What any Nextcloud answers without a registered client: the same here as on a real server."""
    unknown = httpx.get(
        f"{base_url}/index.php/apps/oauth2/authorize",
        params={"response_type": "code", "client_id": "brug-test-no-such-client", "state": "s"},
        timeout=60,
    )
    assert unknown.status_code == 200 and "Your client is not authorized to connect" in unknown.text
    url = f"{base_url}/index.php/apps/oauth2/api/v1/token"
    grant = httpx.post(url, data={"grant_type": "password", "code": "x"}, timeout=60)
    assert grant.status_code == 400 and grant.json() == {"error": "invalid_grant"}
    code = httpx.post(url, data={"grant_type": "authorization_code", "code": "x" * 128, "client_id": "a"}, timeout=60)
    assert code.status_code == 400 and code.json() == {"error": "invalid_request"}


def test_refusals_without_a_client(versioned_nc: NextcloudTestServer) -> None:
    refusals(versioned_nc.base_url)


@pytest.mark.skipif(not all(astuple(REAL)), reason=f"set {', '.join(ENV)} to test a real Nextcloud")
def test_refusals_without_a_client_on_a_real_nextcloud() -> None:
    refusals(REAL.url.rstrip("/"))
