"""Signing in to the portfolio with Nextcloud: the authorization-code flow of Nextcloud's `oauth2` app.

1. `/login/nextcloud` sends the browser to `<Nextcloud>/index.php/apps/oauth2/authorize` with brug's
   client id, a random `state` and a PKCE challenge; the state and the PKCE verifier go into a
   signed cookie of that browser that holds 10 minutes (so the answer can only finish the sign-in
   the same browser started: no login CSRF).
2. The person logs in to Nextcloud and grants access; Nextcloud sends the browser back to the
   redirect URI registered for the client (`<base_url>/login/nextcloud/callback`) with `code` and
   `state`.
3. brug exchanges the code (single use, 10 minutes) at `/index.php/apps/oauth2/api/v1/token`
   with its client secret, asks `/ocs/v2.php/cloud/user` with the access token who it is, and gives
   the token back (`DELETE /ocs/v2.php/core/apppassword`): it needs nothing more.

Nextcloud 30–32 ignore the PKCE parameters; later releases check them (only S256), so brug always
sends them. The viewer is the Nextcloud user id (`nextcloud:ann` in brug.toml). The e-mail address
a Nextcloud account reports counts only when `trust_email` is on: Nextcloud lets people type their
own address in their settings without verifying it.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
from dataclasses import dataclass
from urllib.parse import urlencode

import httpx

from brug.content.problems import Problem, ProblemsFound
from brug.domain.types import Language
from brug.settings import CONFIG_NAME, SecretUnreadable, Settings

log = logging.getLogger(__name__)

CALLBACK = "/login/nextcloud/callback"
STATE_MINUTES = 10  # as long as Nextcloud's code holds


class LoginFailed(Exception):
    """Nextcloud did not confirm who signed in (refused code, wrong client, unreachable)."""


@dataclass(frozen=True)
class NextcloudUser:
    id: str
    email: str | None


@dataclass(frozen=True)
class NextcloudLogin:
    """brug as an OAuth2 client of one Nextcloud."""

    url: str  # the Nextcloud's base URL, without a trailing slash
    client_id: str
    client_secret: str
    redirect_uri: str  # <base_url>/login/nextcloud/callback, as registered in Nextcloud
    trust_email: bool = False
    timeout: float = 30

    @staticmethod
    def new_state() -> tuple[str, str]:
        """A fresh `state` and PKCE verifier (43 characters of RFC 7636's alphabet each)."""
        return secrets.token_urlsafe(32), secrets.token_urlsafe(32)

    def authorize_url(self, state: str, verifier: str) -> str:
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.client_id,
                "redirect_uri": self.redirect_uri,
                "state": state,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
        )
        return f"{self.url}/index.php/apps/oauth2/authorize?{query}"

    async def user(self, code: str, verifier: str) -> NextcloudUser:
        """Who the code stands for; LoginFailed when Nextcloud does not say."""
        try:
            async with httpx.AsyncClient(timeout=self.timeout, follow_redirects=False) as http:
                token = await http.post(
                    f"{self.url}/index.php/apps/oauth2/api/v1/token",
                    data={
                        "grant_type": "authorization_code",
                        "code": code,
                        "redirect_uri": self.redirect_uri,
                        "client_id": self.client_id,
                        "client_secret": self.client_secret,
                        "code_verifier": verifier,
                    },
                )
                access = _access_token(token)
                bearer = {"Authorization": f"Bearer {access}", "OCS-APIRequest": "true", "Accept": "application/json"}
                me = await http.get(f"{self.url}/ocs/v2.php/cloud/user", params={"format": "json"}, headers=bearer)
                await _give_back(http, f"{self.url}/ocs/v2.php/core/apppassword", bearer)
        except httpx.HTTPError as err:
            raise LoginFailed(f"Nextcloud did not answer: {err.__class__.__name__}") from None
        return _user_of(me)


async def _give_back(http: httpx.AsyncClient, url: str, headers: dict[str, str]) -> None:
    """Revoke the token once brug knows who signed in: it needs nothing else from their account, and
    Nextcloud would otherwise list a device for every sign-in in the person's security settings."""
    try:
        answer = await http.delete(url, headers=headers)
    except httpx.HTTPError as err:
        log.info("could not give the Nextcloud token back: %s", err.__class__.__name__)
        return
    if answer.status_code != 200:
        log.info("could not give the Nextcloud token back: HTTP %s", answer.status_code)


def _access_token(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code != 200 or not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
        error = body.get("error") if isinstance(body, dict) else None
        # invalid_client means brug's client id or secret is wrong: the administrator must know
        level = logging.ERROR if error == "invalid_client" else logging.INFO
        log.log(level, "Nextcloud refused the sign-in code: HTTP %s %s", response.status_code, error or "")
        raise LoginFailed(f"token: HTTP {response.status_code} {error or ''}".strip())
    return str(body["access_token"])


def _user_of(response: httpx.Response) -> NextcloudUser:
    try:
        data = response.json()["ocs"]["data"]
        uid = data["id"]
    except (ValueError, KeyError, TypeError):
        raise LoginFailed(f"cloud/user: HTTP {response.status_code}") from None
    if response.status_code != 200 or not isinstance(uid, str) or not uid:
        raise LoginFailed(f"cloud/user: HTTP {response.status_code}")
    email = data.get("email")
    return NextcloudUser(uid, email.strip().lower() if isinstance(email, str) and email.strip() else None)


def nextcloud_login_from(settings: Settings, language: Language = "nl") -> NextcloudLogin | None:
    """`[web.nextcloud_login]` as a client, or None when it is not there; a clear problem when a part
    is missing (the Nextcloud's address, the client secret)."""
    web = settings.web
    login = web.nextcloud_login if web is not None else None
    if web is None or login is None:
        return None
    url = login.url or (settings.nextcloud.url if settings.nextcloud is not None else None)
    if url is None:
        text = (
            "zet url, of het adres van de Nextcloud in [nextcloud] url"
            if language == "nl"
            else "set url, or the Nextcloud's address in [nextcloud] url"
        )
        raise ProblemsFound([Problem(CONFIG_NAME, ("web", "nextcloud_login", "url"), text)])
    try:
        secret = login.secret()
    except SecretUnreadable as err:
        text = f"kan het geheim niet lezen: {err}" if language == "nl" else f"cannot read the secret: {err}"
        raise ProblemsFound([Problem(CONFIG_NAME, ("web", "nextcloud_login", "client_secret_file"), text)]) from None
    if not secret:
        variable = "BRUG_WEB__NEXTCLOUD_LOGIN__CLIENT_SECRET"
        text = f"zet {variable} of client_secret_file" if language == "nl" else f"set {variable} or client_secret_file"
        raise ProblemsFound([Problem(CONFIG_NAME, ("web", "nextcloud_login", "client_secret"), text)])
    return NextcloudLogin(
        url=url.rstrip("/"),
        client_id=login.client_id,
        client_secret=secret,
        redirect_uri=web.base_url.rstrip("/") + CALLBACK,
        trust_email=login.trust_email,
    )
