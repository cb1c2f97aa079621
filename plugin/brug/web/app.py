"""The answer page: `GET /a/<token>` shows the prompt, `POST /a/<token>` keeps the answer; the
coordinators' portfolio; and `/healthz`, `/readyz`, `/metrics` (brug.web.health).

Server-rendered HTML (Starlette + Jinja2), no JavaScript. A link that is not ours, that names a
member or partnership brug no longer knows, or whose round closed, gets a friendly page and no data.
Every form carries a CSRF token (a random value in a SameSite=Strict cookie, signed together with the
link into the form); requests are limited per client address and per link.

Answers go where chat answers go: the text into `answers` (one per member and prompt, changeable),
the 1–5 pulse into the barometer as the member's vote (`barometer.rate`: one person, one vote,
whatever the channel — a later vote on the web replaces one from chat, and the other way round).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from brug.app import barometer
from brug.app.commands import MAX_ANSWER
from brug.app.links import SESSION_HOURS, SIGNIN_MINUTES, AnswerLink, LinkSigner, barometer_key
from brug.app.service import Runtime
from brug.content.render import format_date
from brug.domain.partnership import Member, Partnership
from brug.domain.questions import Question
from brug.domain.reflection import pulse_for
from brug.domain.types import Bouwsteen, Language
from brug.settings import NEXTCLOUD_VIEWER
from brug.web.sockets import shared_sockets
from brug.web.health import health_routes
from brug.web.nextcloud_login import CALLBACK, STATE_MINUTES, LoginFailed, NextcloudLogin
from brug.web.pages import page_env, stylesheet
from brug.web.portfolio import (
    REASONS,
    day,
    large_radar,
    organisations_of,
    page_context,
    phase_choices,
    portfolio_row,
    portfolio_rows,
    visible,
)

log = logging.getLogger(__name__)

CSRF_COOKIE = "brug_csrf"
SESSION_COOKIE = "brug_session"
NEXTCLOUD_COOKIE = "brug_nextcloud_login"  # the OAuth2 state and PKCE verifier of a sign-in under way
SIGNIN_SENDS, SIGNIN_SENDS_WINDOW = 5, 15 * 60  # sign-in messages to one viewer: at most 5 per 15 minutes
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # the link is a key: never hand it to another site
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}


class RateLimiter:
    """At most `limit` requests per `window` seconds per key (a sliding window, kept in memory)."""

    def __init__(self, limit: int, window: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._hits: dict[str, deque[float]] = {}

    def allow(self, key: str) -> bool:
        now = self.clock()
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        if len(hits) >= self.limit:
            return False
        hits.append(now)
        if len(self._hits) > 10_000:  # forget idle keys so memory stays bounded
            for idle in [k for k, v in self._hits.items() if not v or v[-1] <= now - self.window]:
                del self._hits[idle]
        return True


@dataclass(frozen=True)
class Viewer:
    """Someone brug.toml lets see the portfolio of one or more organisations."""

    identity: str  # as settings.viewer_identity writes it: ann@school.be, @ann:matrix.example, nextcloud:ann
    organisations: tuple[str, ...]  # the ids of the organisations they see, in brug.toml's order
    names: tuple[str, ...]  # those organisations' names, as the page shows them

    @property
    def kind(self) -> str:
        """How they sign in: 'email' (a mailed link), 'matrix' (a link by direct message) or 'nextcloud'."""
        if self.identity.startswith(NEXTCLOUD_VIEWER):
            return "nextcloud"
        return "matrix" if self.identity.startswith("@") else "email"

    def title(self, language: Language) -> str:
        """The organisations' names for the page: "Gemeente Proef en CLB Noord"."""
        if len(self.names) == 1:
            return self.names[0]
        return f"{', '.join(self.names[:-1])} {'en' if language == 'nl' else 'and'} {self.names[-1]}"


def viewers_from(coordinators: Any) -> dict[str, Viewer]:
    """brug.toml's [[web.coordinators]] as viewers by identity. A viewer named by two organisations
    sees the partnerships of both."""
    seen: dict[str, list[tuple[str, str]]] = {}
    for c in coordinators:
        for identity in c.viewers:
            mine = seen.setdefault(identity, [])
            if c.organisation not in (o for o, _ in mine):
                mine.append((c.organisation, c.name or c.organisation))
    return {
        identity: Viewer(identity, tuple(o for o, _ in orgs), tuple(n for _, n in orgs)) for identity, orgs in seen.items()
    }


@dataclass(frozen=True)
class Found:
    """A link that holds: what the page shows and where the answer goes."""

    link: AnswerLink
    partnership: Partnership
    member: Member
    question: Question | None  # the reflection prompt; None for a barometer round's six pulses
    pulses: list[Question]  # the 1-5 ratings asked: the prompt's bouwsteen, or all six

    @property
    def event_id(self) -> str:
        return f"web:{self.member.key}:{self.link.key}"

    @property
    def is_barometer(self) -> bool:
        return self.question is None


def create_app(
    rt: Runtime,
    partnerships: Callable[[], Mapping[str, Partnership]],
    signer: LinkSigner,
    *,
    per_ip: int = 60,
    per_link: int = 20,
    viewers: Callable[[], dict[str, Viewer]] = dict,
    nextcloud_login: NextcloudLogin | None = None,
) -> Starlette:
    """The web app on a runtime's store; `partnerships` gives the partnerships as loaded now, `viewers`
    the coordinators' viewers by identity as brug.toml names them now; with `nextcloud_login`
    coordinators may also sign in with their Nextcloud account."""
    by_ip = RateLimiter(per_ip)
    by_link = RateLimiter(per_link)
    by_viewer = RateLimiter(SIGNIN_SENDS, SIGNIN_SENDS_WINDOW)  # sign-in messages one viewer gets
    secure = signer.base_url.startswith("https://")
    bank = {q.id: q for q in rt.library.questions}

    def page(name: str, language: Language, status: int = 200, **context: Any) -> HTMLResponse:
        html = page_env(language).get_template(f"{name}.html.j2").render(lang=language, **context)
        return HTMLResponse(html, status_code=status, headers=HEADERS)

    def language_of(request: Request, fallback: Language = "nl") -> Language:
        chosen = request.query_params.get("lang")
        return chosen if chosen in ("nl", "en") else fallback  # type: ignore[return-value]

    def resolve(token: str) -> Found | str:
        """The link, or why it does not hold: 'invalid' or 'expired'."""
        link = signer.read(token)
        if link is None:
            return "invalid"
        p = partnerships().get(link.partnership)
        member = p.member(link.member) if p is not None else None
        if p is None or member is None:
            return "invalid"
        question = bank.get(link.key.rsplit("/", 1)[-1])
        if link.key == barometer_key(p.id, link.round_id):
            question = None
            pulses = [q for b in Bouwsteen if (q := pulse_for(rt.library.questions, b)) is not None]
        elif question is not None and link.key.startswith(f"{p.id}/reflection/"):
            pulse = pulse_for(rt.library.questions, question.bouwsteen)
            asked = p.reflection is not None and p.reflection.pulse and pulse is not None
            pulses = [pulse] if asked and pulse is not None else []
        else:
            return "invalid"
        record = rt.store.barometer_round(p.id, link.round_id)
        if record is None or record.status != "open" or link.expired(rt.clock()):
            return "expired"
        return Found(link, p, member, question, pulses)

    def limited(request: Request, token: str | None) -> bool:
        ip = request.client.host if request.client else "unknown"
        if not by_ip.allow(ip):
            return True
        return token is not None and not by_link.allow(token)

    def problem(kind: str, language: Language) -> HTMLResponse:
        status = {
            "invalid": 404, "expired": 410, "busy": 429, "csrf": 403, "form": 400, "signin": 403,
            "not-viewer": 403, "nextcloud": 502,
        }[kind]
        response = page("problem", language, status, kind=kind)
        if kind == "busy":
            response.headers["Retry-After"] = "60"
        return response

    def own_votes(found: Found) -> dict[str, int]:
        """The member's own ratings in the round (shown only to them, through their own link)."""
        return {
            bouwsteen: score
            for voter, bouwsteen, score, _ in rt.store.open_votes(found.partnership.id, found.link.round_id)
            if voter == found.member.key
        }

    def show(request: Request, token: str, found: Found, *, status: int = 200, error: str | None = None,
             text: str | None = None, scores: dict[str, int] | None = None) -> HTMLResponse:
        p = found.partnership
        language = language_of(request, p.language)
        nonce = request.cookies.get(CSRF_COOKIE) or signer.new_nonce()
        stored = rt.store.answer_text(found.event_id)
        votes = own_votes(found)
        chosen = scores if scores is not None else votes
        response = page(
            "answer",
            language,
            status,
            partnership=p.name,
            member=found.member.name,
            question=found.question.text(language) if found.question is not None else None,
            round_label=barometer.round_label(found.link.round_id, language),
            pulses=[
                {
                    "name": f"score-{q.bouwsteen.value}",
                    "title": rt.library.bouwstenen[q.bouwsteen].title(language),
                    "text": q.text(language),
                    "low": q.scale.low(language) if q.scale else "",
                    "high": q.scale.high(language) if q.scale else "",
                    "score": chosen.get(q.bouwsteen.value),
                }
                for q in found.pulses
            ],
            free_text=not found.is_barometer,
            answer=text if text is not None else (stored or ""),
            answered=stored is not None or any(q.bouwsteen.value in votes for q in found.pulses),
            saved=request.query_params.get("saved") == "1" and error is None,
            error=error,
            max_answer=MAX_ANSWER,
            csrf=signer.csrf_token(nonce, token),
            action=f"/a/{token}" + (f"?lang={language}" if language != p.language else ""),
            other_language="en" if language == "nl" else "nl",
            expires=format_date(found.link.expires.astimezone(p.zone).date(), language),
        )
        response.set_cookie(
            CSRF_COOKIE, nonce, max_age=7 * 86400, path="/", secure=secure, httponly=True, samesite="strict"
        )
        return response

    # --- coordinators: sign in (a link by mail or Matrix, or Nextcloud), then the portfolio ------------------

    def with_csrf(request: Request, name: str, language: Language, status: int = 200, **context: Any) -> HTMLResponse:
        nonce = request.cookies.get(CSRF_COOKIE) or signer.new_nonce()
        response = page(name, language, status, csrf=signer.csrf_token(nonce, name), **context)
        response.set_cookie(
            CSRF_COOKIE, nonce, max_age=7 * 86400, path="/", secure=secure, httponly=True, samesite="strict"
        )
        return response

    def viewer_of(request: Request) -> Viewer | None:
        """The signed-in viewer, as long as brug.toml still names them."""
        identity = signer.read_session(request.cookies.get(SESSION_COOKIE))
        return viewers().get(identity) if identity else None

    async def login_page(request: Request) -> Response:
        if limited(request, None):
            return problem("busy", language_of(request))
        language = language_of(request)
        matrix = direct_messages() is not None
        return with_csrf(request, "login", language, nextcloud=nextcloud_login is not None, matrix=matrix)

    async def login_post(request: Request) -> Response:
        language = language_of(request)
        if limited(request, None):
            return problem("busy", language)
        form = await request.form(max_files=0, max_fields=5, max_part_size=4096)
        if not signer.csrf_ok(request.cookies.get(CSRF_COOKIE), _field(form, "csrf"), "login"):
            return problem("csrf", language)
        typed = _field(form, "email").strip()
        identity = typed if typed.startswith("@") else typed.lower()  # a Matrix id as it is, an address in lower case
        if not by_link.allow(f"login:{identity}"):
            return problem("busy", language)
        viewer = viewers().get(identity)
        # the same page, as fast, whether the address is known or not: it tells no one who may sign in
        response = page("login-sent", language, 200, matrix=direct_messages() is not None)
        if viewer is not None and by_viewer.allow(viewer.identity):
            response.background = BackgroundTask(send_signin, viewer, language)
        elif viewer is not None:  # nobody can flood a coordinator's mailbox or chat with sign-in messages
            log.warning(
                "sign-in links to one viewer are limited to %d per %d minutes", SIGNIN_SENDS, SIGNIN_SENDS_WINDOW // 60
            )
        return response

    def direct_messages() -> Any:
        """brug's Matrix account, when it has one: it sends Matrix-id viewers their sign-in link."""
        matrix = rt.chats.get("matrix")
        return matrix if hasattr(matrix, "send_direct") else None

    async def send_signin(viewer: Viewer, language: Language) -> None:
        """The sign-in link, where the viewer reads it: by mail, or as a direct message on Matrix (a
        Nextcloud viewer signs in through Nextcloud instead). Runs after the page went out."""
        from brug.app.mail import Mail

        text = page_env(language).get_template("signin-mail.txt.j2").render(
            organisation=viewer.title(language), link=signer.signin_url(viewer.identity), minutes=SIGNIN_MINUTES
        )
        matrix = direct_messages()
        try:
            if viewer.kind == "email" and rt.mailer is not None:
                subject = {"nl": "Aanmelden bij brug", "en": "Sign in to brug"}[language]
                await rt.mailer.send(Mail(viewer.identity, subject, text))
            elif viewer.kind == "matrix" and matrix is not None:
                await matrix.send_direct(viewer.identity, text, f"web/sign-in/{secrets.token_hex(12)}")
            else:
                return
            log.info("sent a sign-in link (%s) to a viewer of %s", viewer.kind, ", ".join(viewer.organisations))
        except Exception as err:  # noqa: BLE001 - the page said the same whatever happens here
            log.error("could not send a sign-in link (%s): %s", viewer.kind, err)

    async def login_link(request: Request) -> Response:
        language = language_of(request)
        if limited(request, None):
            return problem("busy", language)
        identity = signer.read_signin(request.path_params["token"])
        viewer = viewers().get(identity) if identity is not None else None
        return session_of(viewer) if viewer is not None else problem("signin", language)

    def session_of(viewer: Viewer) -> Response:
        """Signed in: the session cookie, and on to the portfolio."""
        response = RedirectResponse("/portfolio", status_code=303, headers=HEADERS)
        response.set_cookie(
            SESSION_COOKIE, signer.session(viewer.identity), max_age=SESSION_HOURS * 3600, path="/", secure=secure,
            httponly=True, samesite="lax",
        )
        return response

    async def nextcloud_start(request: Request) -> Response:
        """Off to Nextcloud to log in there; the state and PKCE verifier stay with this browser."""
        language = language_of(request)
        if nextcloud_login is None:
            return problem("invalid", language)
        if limited(request, None):
            return problem("busy", language)
        state, verifier = nextcloud_login.new_state()
        response = RedirectResponse(nextcloud_login.authorize_url(state, verifier), status_code=303, headers=HEADERS)
        response.set_cookie(  # Lax: Nextcloud's redirect back is a top-level navigation, which carries it
            NEXTCLOUD_COOKIE, signer.nextcloud_login(state, verifier, language), max_age=STATE_MINUTES * 60,
            path="/login/nextcloud", secure=secure, httponly=True, samesite="lax",
        )
        return response

    async def nextcloud_callback(request: Request) -> Response:
        """Back from Nextcloud: the state must be this browser's, the code must give a viewer."""
        if nextcloud_login is None:
            return problem("invalid", language_of(request))
        if limited(request, None):
            return problem("busy", language_of(request))
        held = signer.read_nextcloud_login(request.cookies.get(NEXTCLOUD_COOKIE), STATE_MINUTES * 60)
        language: Language = held[2] if held is not None and held[2] in ("nl", "en") else language_of(request)  # type: ignore[assignment]
        state = request.query_params.get("state", "")
        code = request.query_params.get("code", "")
        if held is None or not state or not secrets.compare_digest(state.encode(), held[0].encode()) or not code:
            return forget_login(problem("signin", language))  # another browser's answer, an old one, or a refusal
        try:
            who = await nextcloud_login.user(code, held[1])
        except LoginFailed as err:
            log.warning("a sign-in with Nextcloud failed: %s", err)
            return forget_login(problem("nextcloud", language))
        known = viewers()
        viewer = known.get(f"{NEXTCLOUD_VIEWER}{who.id.lower()}")
        if viewer is None and nextcloud_login.trust_email and who.email is not None:
            by_email = known.get(who.email)
            viewer = by_email if by_email is not None and by_email.kind == "email" else None
        if viewer is None:
            log.info("a Nextcloud account that is no viewer tried to sign in")
            return forget_login(problem("not-viewer", language))
        log.info("a viewer of %s signed in with Nextcloud", ", ".join(viewer.organisations))
        return forget_login(session_of(viewer))

    def forget_login(response: Response) -> Response:
        response.delete_cookie(NEXTCLOUD_COOKIE, path="/login/nextcloud", secure=secure, httponly=True, samesite="lax")
        return response

    async def logout(request: Request) -> Response:
        form = await request.form(max_files=0, max_fields=5, max_part_size=4096)
        if not signer.csrf_ok(request.cookies.get(CSRF_COOKIE), _field(form, "csrf"), "portfolio"):
            return problem("csrf", language_of(request))
        return signed_out(request)

    def signed_out(request: Request) -> Response:
        response = RedirectResponse("/login", status_code=303, headers=HEADERS)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    def signed_in(request: Request) -> Viewer | Response:
        """The viewer behind the request, or where they go instead (busy, or the sign-in page)."""
        if limited(request, None):
            return problem("busy", language_of(request))
        viewer = viewer_of(request)
        return viewer if viewer is not None else signed_out(request)

    async def portfolio_page(request: Request) -> Response:
        language = language_of(request)
        viewer = signed_in(request)
        if not isinstance(viewer, Viewer):
            return viewer
        phase = request.query_params.get("phase") or None
        attention = request.query_params.get("attention") == "1"
        sort = request.query_params.get("sort", "attention")
        mine = visible(partnerships(), viewer.organisations)
        rows = portfolio_rows(mine, rt, viewer.organisations, rt.clock(), language, phase=phase, attention=attention, sort=sort)
        context = page_context(
            rows, len(mine), phase_choices(mine, rt.library, language), language, phase=phase, attention=attention, sort=sort
        )
        return with_csrf(request, "portfolio", language, organisation=viewer.title(language), **context)

    def entitled(request: Request, viewer: Viewer) -> Partnership | None:
        """The partnership the path names, when the viewer's organisation takes part in it."""
        p = partnerships().get(request.path_params["pid"])
        return p if p is not None and not organisations_of(p).isdisjoint(viewer.organisations) else None

    async def radar(request: Request) -> Response:
        """The last published barometer round as a radar (against the one before), for the viewer's own."""
        viewer = signed_in(request)
        if not isinstance(viewer, Viewer):
            return viewer
        p = entitled(request, viewer)
        svg = large_radar(p, rt.store.portfolio_figures([p.id])) if p is not None else None
        if p is None or svg is None:
            return problem("invalid", language_of(request))
        return Response(svg, media_type="image/svg+xml", headers={**HEADERS, "Cache-Control": "private, no-store"})

    async def partnership_page(request: Request) -> Response:
        language = language_of(request)
        viewer = signed_in(request)
        if not isinstance(viewer, Viewer):
            return viewer
        p = entitled(request, viewer)
        if p is None:
            return problem("invalid", language)  # another organisation's partnership looks like no partnership
        row = portfolio_row(p, rt, rt.clock(), language)
        return page(
            "partnership",
            language,
            organisation=viewer.title(language),
            row=row,
            reasons=REASONS[language],
            organisations=[o.name for o in p.organisations],
            day=day,
        )

    def opened(request: Request) -> tuple[str, Found | Response]:
        """The request's link and what it opens, or the friendly page that says why not."""
        token = request.path_params["token"]
        if limited(request, token):
            return token, problem("busy", language_of(request))
        found = resolve(token)
        return token, problem(found, language_of(request)) if isinstance(found, str) else found

    async def answer_page(request: Request) -> Response:
        token, found = opened(request)
        return show(request, token, found) if isinstance(found, Found) else found

    async def answer_post(request: Request) -> Response:
        token, found = opened(request)
        if not isinstance(found, Found):
            return found
        language = language_of(request, found.partnership.language)
        form = await request.form(max_files=0, max_fields=20, max_part_size=64 * 1024)
        if not signer.csrf_ok(request.cookies.get(CSRF_COOKIE), _field(form, "csrf"), token):
            return problem("csrf", language)
        text = _field(form, "answer").strip() if not found.is_barometer else ""
        scores: dict[str, int] = {}
        for q in found.pulses:
            raw = _field(form, f"score-{q.bouwsteen.value}")
            if raw and raw not in {"1", "2", "3", "4", "5"}:
                return show(request, token, found, status=400, error="score", text=text)
            if raw:
                scores[q.bouwsteen.value] = int(raw)
        if len(text) > MAX_ANSWER:
            return show(request, token, found, status=400, error="long", text=text, scores=scores)
        if not text and not scores and found.pulses:
            return show(request, token, found, status=400, error="empty", text=text)
        p, member = found.partnership, found.member
        for q in found.pulses:
            if q.bouwsteen.value in scores:
                score = scores[q.bouwsteen.value]
                outcome = barometer.rate(p, rt, member, found.link.round_id, q.bouwsteen, score, rt.clock())
                if outcome.status == "closed":
                    return problem("expired", language)
        if not found.is_barometer:
            await asyncio.to_thread(
                rt.store.put_answer, p.id, found.link.key, member.name, text, "web", found.event_id
            )
        log.info("%s: an answer by link to %s", p.id, found.link.key)
        lang = f"&lang={language}" if language != p.language else ""
        return RedirectResponse(f"/a/{token}?saved=1{lang}", status_code=303, headers=HEADERS)

    async def css(request: Request) -> Response:
        return Response(stylesheet(), media_type="text/css", headers={"Cache-Control": "public, max-age=3600"})

    async def not_found(request: Request, exc: Exception) -> Response:
        return problem("invalid", language_of(request))

    return Starlette(
        routes=[
            *health_routes(rt),  # /healthz, /readyz, /metrics
            Route("/brug.css", css),
            Route("/a/{token}", answer_page, methods=["GET"]),
            Route("/a/{token}", answer_post, methods=["POST"]),
            Route("/login", login_page, methods=["GET"]),
            Route("/login", login_post, methods=["POST"]),
            Route("/login/nextcloud", nextcloud_start, methods=["GET"]),
            Route(CALLBACK, nextcloud_callback, methods=["GET"]),
            Route("/login/{token}", login_link, methods=["GET"]),
            Route("/logout", logout, methods=["POST"]),
            Route("/portfolio", portfolio_page, methods=["GET"]),
            Route("/portfolio/{pid}", partnership_page, methods=["GET"]),
            Route("/portfolio/{pid}/radar.svg", radar, methods=["GET"]),
        ],
        exception_handlers={404: not_found},
    )


def _field(form: Any, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


async def serve(
    app: Starlette, host: str, port: int, stop: asyncio.Event, sockets: list[socket.socket] | None = None
) -> None:
    """Serve until `stop` is set (for `brug run`, `brug web` and the demo), on `sockets` when the caller
    bound them already (`brug run` does, to refuse a taken port before it starts). The port is bound
    with SO_REUSEPORT (brug.web.sockets): several instances on one host share it, and the kernel
    spreads the connections over them."""
    import uvicorn

    if sockets is None:
        try:
            sockets = shared_sockets(host, port)
        except OSError as err:  # as uvicorn did: the reason, and the process ends
            log.error("cannot listen on %s:%d: %s", host, port, err.strerror or err)
            raise SystemExit(1) from None
    # log_config=None: uvicorn's lines go through brug's own logging (and its JSON format when asked)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off", log_config=None)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=sockets))
    log.info("the web page listens on http://%s:%d", host, port)
    await asyncio.wait([task, asyncio.create_task(stop.wait())], return_when=asyncio.FIRST_COMPLETED)
    server.should_exit = True
    await task
