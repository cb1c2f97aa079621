"""Nextcloud's OAuth 2.0 authorization-code flow: the ``oauth2`` app and core's login flow pages.

Read from the server's sources (``apps/oauth2/lib/Controller/LoginRedirectorController.php``,
``OauthApiController.php`` and ``core/Controller/ClientFlowLoginController.php``):

- ``GET /index.php/apps/oauth2/authorize?client_id&state&response_type=code``: an unknown client
  gets a guest page (HTTP 200) saying it is not authorized; another ``response_type`` is sent back
  to the client's *registered* redirect URI with ``error=unsupported_response_type``; otherwise the
  ``state`` goes into the browser's session and a 303 leads to the login flow's pages. The
  ``redirect_uri`` a client passes is ignored (only legacy ownCloud clients may choose theirs):
  the code always goes to the URI registered with ``occ oauth2:add-client``.
- ``/index.php/login/flow`` (connect), the login page, ``/index.php/login/flow/grant`` (grant
  access, logged in, the state token of the session), then ``POST /index.php/login/flow`` makes an
  app password, keeps a code (128 letters and digits) for it and answers 303 to
  ``<redirect URI>?state=<state>&code=<code>``.
- ``POST /index.php/apps/oauth2/api/v1/token``: ``grant_type`` other than ``authorization_code``
  or ``refresh_token`` → 400 ``{"error":"invalid_grant"}``; an unknown code, a code already
  exchanged or one older than 10 minutes → 400 ``{"error":"invalid_request"}``; a client id or
  secret (form fields, or HTTP Basic, which wins) that does not match the code's client → 400
  ``{"error":"invalid_client"}``. Success: ``access_token`` (72 characters, valid 3600 s as a
  Bearer token), ``token_type`` ``Bearer``, ``expires_in`` 3600, ``refresh_token`` (the new
  code) and ``user_id``.

PKCE (``code_challenge``/``code_verifier``) came to the oauth2 app after Nextcloud 32 (server pull
request 59930); Nextcloud 30–32 ignore both parameters, and so does this server.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import html
import secrets
import string
from dataclasses import dataclass, field
from urllib.parse import quote_plus, urlencode

from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from .common import Ctx, OCSError, ocs_response
from .routing import Route
from .state import ServerState, random_token

CODE_EXPIRES_AFTER = 10 * 60  # OauthApiController::AUTHORIZATION_CODE_EXPIRES_AFTER
TOKEN_EXPIRES_IN = 3600
ALNUM = string.ascii_letters + string.digits
NOT_AUTHORIZED = "Your client is not authorized to connect. Please inform the administrator of your client."
STATE_MISMATCH = "State token does not match"
WRONG_LOGIN = "Wrong login or password."
_INDEX = r"^(?:/index\.php)?"


@dataclass
class OAuthClient:
    """A client registered by an admin (``occ oauth2:add-client <name> <redirect URI>``)."""

    id: int
    name: str
    redirect_uri: str
    identifier: str  # the client_id
    secret_hash: str  # Nextcloud keeps an HMAC of the secret; a hash serves the same purpose here


@dataclass
class OAuthGrant:
    """``oc_oauth2_access_tokens``: a code until it is exchanged, then the refresh token."""

    client: int
    uid: str
    hashed_code: str
    code_created_at: int
    app_token: str
    token_count: int = 0


@dataclass
class BrowserSession:
    """What Nextcloud keeps in a browser's PHP session during the flow."""

    requesttoken: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    uid: str | None = None
    oauth_state: str | None = None
    flow_state_token: str | None = None  # ClientFlowLoginController::STATE_NAME


@dataclass
class OAuthState:
    """The oauth2 app's part of the server state."""

    clients: dict[str, OAuthClient] = field(default_factory=dict)  # by identifier
    grants: list[OAuthGrant] = field(default_factory=list)
    sessions: dict[str, BrowserSession] = field(default_factory=dict)  # by session cookie value


def oauth(state: ServerState) -> OAuthState:
    """The oauth2 app's state (created with the server state)."""
    found = getattr(state, "oauth", None)
    if found is None:
        found = OAuthState()
        state.oauth = found  # type: ignore[attr-defined]
    return found


def add_client(state: ServerState, name: str, redirect_uri: str) -> tuple[str, str]:
    """``occ oauth2:add-client``: the new client's id and secret (64 letters and digits each)."""
    with state.lock:
        apps = oauth(state)
        identifier, secret = random_token(64, ALNUM), random_token(64, ALNUM)
        apps.clients[identifier] = OAuthClient(len(apps.clients) + 1, name, redirect_uri, identifier, _hash(secret))
        return identifier, secret


def _hash(value: str) -> str:
    return hashlib.sha512(value.encode()).hexdigest()


# --------------------------------------------------------------------------------------------
# The browser's session and Nextcloud's guest pages
# --------------------------------------------------------------------------------------------


def _cookie(ctx: Ctx) -> str:
    return ctx.state.instance_id


def _session(ctx: Ctx) -> tuple[str, BrowserSession]:
    apps = oauth(ctx.state)
    key = ctx.request.cookies.get(_cookie(ctx), "")
    if key not in apps.sessions:
        key = random_token(26)
        apps.sessions[key] = BrowserSession()
    return key, apps.sessions[key]


def _with_session(response: Response, ctx: Ctx, key: str) -> Response:
    response.set_cookie(_cookie(ctx), key, path="/", httponly=True, samesite="lax")
    return response


def _guest(title: str, body: str, status: int = 200) -> HTMLResponse:
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1.0">'
        f"<title>{html.escape(title)} - Nextcloud</title></head>"
        f'<body id="body-login"><main class="guest-box">{body}</main></body></html>'
    )
    headers = {
        "Content-Security-Policy": "default-src 'none';base-uri 'none';manifest-src 'self';frame-ancestors 'none'",
        "X-Frame-Options": "SAMEORIGIN",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-cache, no-store, must-revalidate",
    }
    return HTMLResponse(page, status_code=status, headers=headers)


def _urlencode(value: str) -> str:
    """PHP's urlencode: a space becomes '+', everything but letters, digits and -_. is %-encoded."""
    return quote_plus(value, safe="").replace("~", "%7E")


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)  # the AppFramework's RedirectResponse is a 303


def _absolute(ctx: Ctx, path: str) -> str:
    return f"{ctx.server.base_url}{path}"


# --------------------------------------------------------------------------------------------
# GET /apps/oauth2/authorize (LoginRedirectorController::authorize)
# --------------------------------------------------------------------------------------------


async def authorize(ctx: Ctx) -> Response:
    state_param = str(ctx.param("state", "") or "")
    with ctx.state.lock:
        client = oauth(ctx.state).clients.get(str(ctx.param("client_id", "") or ""))
        if client is None:
            return _guest("Error", f"<h2>{html.escape(NOT_AUTHORIZED)}</h2>")
        if ctx.param("response_type") != "code":
            return _redirect(f"{client.redirect_uri}?error=unsupported_response_type&state={_urlencode(state_param)}")
        key, session = _session(ctx)
        session.oauth_state = state_param
        target = _absolute(
            ctx, "/index.php/login/flow?" + urlencode({"clientIdentifier": client.identifier, "providedRedirectUri": ""})
        )
        return _with_session(_redirect(target), ctx, key)


# --------------------------------------------------------------------------------------------
# The login flow (ClientFlowLoginController) and the login page
# --------------------------------------------------------------------------------------------


async def show_auth_picker(ctx: Ctx) -> Response:
    """``GET /login/flow``: "Connect to your account", with a button that leads to the login."""
    with ctx.state.lock:
        client = oauth(ctx.state).clients.get(str(ctx.param("clientIdentifier", "") or ""))
        if client is None and ctx.header("ocs-apirequest") != "true":
            return _guest("Error", "<h2>Access Forbidden</h2><p>Invalid request</p>")
        key, session = _session(ctx)
        session.flow_state_token = random_token(64, ALNUM)
        grant = "/index.php/login/flow/grant?" + urlencode(
            {"stateToken": session.flow_state_token, "clientIdentifier": client.identifier if client else "", "direct": 0}
        )
        name = html.escape(client.name if client else ctx.header("user-agent", "unknown"))
        body = (
            "<h2>Connect to your account</h2>"
            f"<p>Please log in before granting {name} access to your Nextcloud account.</p>"
            f'<a id="login-flow-login" class="button primary" href="{html.escape(grant)}">Log in</a>'
        )
        return _with_session(_guest("Login", body), ctx, key)


async def login_page(ctx: Ctx) -> Response:
    """``GET /login``: the login form, with the message of a failed attempt."""
    with ctx.state.lock:
        key, session = _session(ctx)
        redirect_url = str(ctx.param("redirect_url", "") or "")
        error = f'<p class="warning" role="alert">{html.escape(WRONG_LOGIN)}</p>' if ctx.param("error") else ""
        body = (
            "<h2>Log in to Nextcloud</h2>"
            f"{error}"
            '<form method="post" name="login" action="/index.php/login">'
            f'<input type="hidden" name="requesttoken" value="{html.escape(session.requesttoken)}">'
            f'<input type="hidden" name="redirect_url" value="{html.escape(redirect_url)}">'
            '<label for="user">Account name or email</label>'
            f'<input type="text" name="user" id="user" autocomplete="username" value="{html.escape(str(ctx.param("user", "") or ""))}">'
            '<label for="password">Password</label>'
            '<input type="password" name="password" id="password" autocomplete="current-password">'
            '<button type="submit" id="submit-form">Log in</button>'
            "</form>"
        )
        return _with_session(_guest("Login", body), ctx, key)


async def login(ctx: Ctx) -> Response:
    """``POST /login``: a wrong login or password goes back to the form; the right one follows
    ``redirect_url`` (only a path on this server)."""
    with ctx.state.lock:
        key, session = _session(ctx)
        if not secrets.compare_digest(str(ctx.param("requesttoken", "") or ""), session.requesttoken):
            return JSONResponse({"message": "CSRF check failed"}, status_code=412)
        login_name = str(ctx.param("user", "") or "")
        user = ctx.state.users.get(ctx.state.logins.get(login_name, login_name))
        redirect_url = str(ctx.param("redirect_url", "") or "")
        if user is None or str(ctx.param("password", "")) not in user.passwords:
            back = "/index.php/login?" + urlencode({"redirect_url": redirect_url, "user": login_name, "error": 1})
            return _with_session(_redirect(_absolute(ctx, back)), ctx, key)
        session.uid = user.uid
        user.last_login = ctx.state.now()
        local = redirect_url if redirect_url.startswith("/") and not redirect_url.startswith("//") else "/index.php/apps/files/"
        return _with_session(_redirect(_absolute(ctx, local)), ctx, key)


def _needs_login(ctx: Ctx, key: str) -> Response:
    path = ctx.request.url.path + (f"?{ctx.request.url.query}" if ctx.request.url.query else "")
    return _with_session(_redirect(_absolute(ctx, "/index.php/login?" + urlencode({"redirect_url": path}))), ctx, key)


async def grant_page(ctx: Ctx) -> Response:
    """``GET /login/flow/grant``: logged in, the session's state token: "Grant access"."""
    with ctx.state.lock:
        key, session = _session(ctx)
        if session.uid is None:
            return _needs_login(ctx, key)
        token = str(ctx.param("stateToken", "") or "")
        if session.flow_state_token is None or not secrets.compare_digest(session.flow_state_token, token):
            return _with_session(_guest("Error", f"<h2>{STATE_MISMATCH}</h2>", 403), ctx, key)
        client = oauth(ctx.state).clients.get(str(ctx.param("clientIdentifier", "") or ""))
        user = ctx.state.users[session.uid]
        name = html.escape(client.name if client else "unknown")
        body = (
            "<h2>Account access</h2>"
            f"<p>Currently logged in as {html.escape(user.display_name)} ({html.escape(user.uid)}).</p>"
            f"<p>You are about to grant {name} access to your Nextcloud account.</p>"
            '<form method="post" action="/index.php/login/flow">'
            f'<input type="hidden" name="requesttoken" value="{html.escape(session.requesttoken)}">'
            f'<input type="hidden" name="stateToken" value="{html.escape(token)}">'
            f'<input type="hidden" name="clientIdentifier" value="{html.escape(client.identifier if client else "")}">'
            '<input type="hidden" name="providedRedirectUri" value="">'
            '<button type="submit" id="submit-wrapper">Grant access</button>'
            "</form>"
        )
        return _with_session(_guest("Login", body), ctx, key)


async def generate_app_password(ctx: Ctx) -> Response:
    """``POST /login/flow``: an app password for the client, and the code that stands for it."""
    with ctx.state.lock:
        key, session = _session(ctx)
        if session.uid is None:
            return _needs_login(ctx, key)
        if not secrets.compare_digest(str(ctx.param("requesttoken", "") or ""), session.requesttoken):
            return JSONResponse({"message": "CSRF check failed"}, status_code=412)
        token = str(ctx.param("stateToken", "") or "")
        expected, session.flow_state_token = session.flow_state_token, None
        if expected is None or not secrets.compare_digest(expected, token):
            return _with_session(_guest("Error", f"<h2>{STATE_MISMATCH}</h2>", 403), ctx, key)
        client = oauth(ctx.state).clients.get(str(ctx.param("clientIdentifier", "") or ""))
        if client is None:  # the desktop clients' flow (nc://login/…) is not emulated
            return Response(status_code=403)
        code = random_token(128, ALNUM)
        app_token = random_token(72, ALNUM)
        oauth(ctx.state).grants.append(
            OAuthGrant(client.id, session.uid, _hash(code), ctx.state.now(), app_token)
        )
        uri, _, fragment = client.redirect_uri.partition("#")
        uri += "&" if "?" in uri else "?"
        uri += f"state={_urlencode(session.oauth_state or '')}&code={_urlencode(code)}"
        session.oauth_state = None
        return _with_session(_redirect(uri + (f"#{fragment}" if fragment else "")), ctx, key)


# --------------------------------------------------------------------------------------------
# POST /apps/oauth2/api/v1/token (OauthApiController::getToken)
# --------------------------------------------------------------------------------------------


def _error(kind: str) -> JSONResponse:
    return JSONResponse({"error": kind}, status_code=400)


async def get_token(ctx: Ctx) -> Response:
    grant_type = ctx.param("grant_type")
    if grant_type not in ("authorization_code", "refresh_token"):
        return _error("invalid_grant")
    code = ctx.param("refresh_token") if grant_type == "refresh_token" else ctx.param("code")
    with ctx.state.lock:
        apps = oauth(ctx.state)
        hashed = _hash(str(code or ""))
        grant = next((g for g in apps.grants if secrets.compare_digest(g.hashed_code, hashed)), None)
        if grant is None:
            return _error("invalid_request")
        now = ctx.state.now()
        if grant_type == "authorization_code":
            if grant.token_count > 0:
                return _error("invalid_request")
            if grant.code_created_at < now - CODE_EXPIRES_AFTER:
                apps.grants.remove(grant)  # "we know this token is not useful anymore"
                return _error("invalid_request")
        client = next((c for c in apps.clients.values() if c.id == grant.client), None)
        if client is None:
            return _error("invalid_request")
        client_id, client_secret = ctx.param("client_id"), ctx.param("client_secret")
        basic = _basic(ctx)
        if basic is not None:
            client_id, client_secret = basic
        if client.identifier != client_id or not secrets.compare_digest(client.secret_hash, _hash(str(client_secret or ""))):
            return _error("invalid_client")
        ctx.state.bearer_tokens.pop(grant.app_token, None)  # the app password is rotated
        ctx.state.bearer_expires.pop(grant.app_token, None)
        new_token, new_code = random_token(72, ALNUM), random_token(128, ALNUM)
        grant.app_token, grant.hashed_code = new_token, _hash(new_code)
        if grant_type == "authorization_code":
            grant.token_count = 1
        ctx.state.bearer_tokens[new_token] = grant.uid
        ctx.state.bearer_expires[new_token] = now + TOKEN_EXPIRES_IN
        return JSONResponse(
            {
                "access_token": new_token,
                "token_type": "Bearer",
                "expires_in": TOKEN_EXPIRES_IN,
                "refresh_token": new_code,
                "user_id": grant.uid,
            }
        )


def _basic(ctx: Ctx) -> tuple[str, str] | None:
    scheme, _, value = ctx.header("authorization").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


async def delete_app_password(ctx: Ctx) -> Response:
    """``DELETE /ocs/v2.php/core/apppassword`` (core's AppPasswordController): the app password the
    request logged in with is revoked. A Bearer token is one (an OAuth2 client gives its token back
    this way); the test server's Basic passwords count as login passwords: "no app password in use"."""
    ctx.require_user()
    ctx.require_ocs_header()
    scheme, _, token = ctx.header("authorization").partition(" ")
    with ctx.state.lock:
        if scheme.lower() != "bearer" or ctx.state.bearer_tokens.pop(token.strip(), None) is None:
            raise OCSError(403, "no app password in use")
        ctx.state.bearer_expires.pop(token.strip(), None)
        return ocs_response(ctx.request, [])


ROUTES: list[Route] = [
    Route(("GET",), _INDEX + r"/apps/oauth2/authorize$", authorize),
    Route(("POST",), _INDEX + r"/apps/oauth2/api/v1/token$", get_token),
    Route(("GET",), _INDEX + r"/login/flow$", show_auth_picker),
    Route(("POST",), _INDEX + r"/login/flow$", generate_app_password),
    Route(("GET",), _INDEX + r"/login/flow/grant$", grant_page),
    Route(("GET",), _INDEX + r"/login$", login_page),
    Route(("POST",), _INDEX + r"/login$", login),
    Route(("DELETE",), r"^/ocs/v[12]\.php/core/apppassword$", delete_app_password),
]
