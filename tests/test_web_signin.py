"""Who may sign in to the coordinators' portfolio, and as whom: viewers named by e-mail address,
Matrix id or Nextcloud user in brug.toml (a wrong one names the file, the field and what is
expected), a viewer of two organisations sees the partnerships of both, and one taken out of
brug.toml loses an open session at the next request."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import pytest

from brug.content.problems import ProblemsFound
from brug.settings import CoordinatorSettings, load_settings
from brug.web.app import create_app, viewers_from
from brug.web.nextcloud_login import CALLBACK, NextcloudLogin, nextcloud_login_from
from tests.nextcloud.test_server_oauth2 import hidden
from tests.nextcloud_server import NextcloudTestServer
from tests.test_web_answer import csrf_of
from tests.test_web_portfolio import portfolio, portfolio_world  # noqa: F401  (two organisations' partnerships, SMTP, the web app)
from tests.web_world import free_port


def test_viewers_are_e_mail_addresses_matrix_ids_or_nextcloud_users(tmp_path: Path) -> None:
    (tmp_path / "brug.toml").write_text(
        '[web]\nbase_url = "https://brug.example.org"\n'
        '[[web.coordinators]]\norganisation = "gemeente"\n'
        'viewers = ["Ann@School.be", "@ann:matrix.example", "nextcloud:Ann Peeters"]\n',
        encoding="utf-8",
    )
    settings = load_settings(tmp_path / "brug.toml", "en")
    assert settings.web is not None
    assert settings.web.coordinators[0].viewers == ["ann@school.be", "@ann:matrix.example", "nextcloud:ann peeters"]
    kinds = {v.identity: v.kind for v in viewers_from(settings.web.coordinators).values()}
    assert kinds == {"ann@school.be": "email", "@ann:matrix.example": "matrix", "nextcloud:ann peeters": "nextcloud"}


@pytest.mark.parametrize("wrong", ["ann", "ann:matrix.example", "@Ann Peeters:matrix", "nextcloud:", "nextcloud:a/b", "ann@school"])
@pytest.mark.parametrize("language", ["nl", "en"])
def test_a_wrong_viewer_names_the_file_the_field_and_the_three_forms(tmp_path: Path, wrong: str, language: str) -> None:
    (tmp_path / "brug.toml").write_text(
        '[web]\nbase_url = "https://brug.example.org"\n'
        f'[[web.coordinators]]\norganisation = "gemeente"\nviewers = ["ann@school.be", "{wrong}"]\n',
        encoding="utf-8",
    )
    with pytest.raises(ProblemsFound) as found:
        load_settings(tmp_path / "brug.toml", language)  # type: ignore[arg-type]
    [problem] = found.value.problems
    assert problem.file.endswith("brug.toml") and problem.loc == ("web", "coordinators", 0, "viewers", 1)
    text = str(problem)
    assert "@ann:matrix.example" in text and "nextcloud:ann" in text and repr(wrong) in text
    assert ("verwacht een e-mailadres" if language == "nl" else "expected an e-mail address") in text


def sign_in_by_mail(web: httpx.Client, inbox, base: str, address: str) -> None:  # type: ignore[no-untyped-def]
    form = web.get("/login")
    before = len(inbox.received)
    assert web.post("/login", data={"email": address, "csrf": csrf_of(form.text)}).status_code == 200
    inbox.wait(before + 1)
    assert len(inbox.received) == before + 1
    link = inbox.received[-1].body.split(f"{base}/login/")[1].split()[0]
    assert web.get(f"/login/{link}").headers["location"] == "/portfolio"


def test_a_viewer_of_two_organisations_sees_the_partnerships_of_both(portfolio) -> None:  # noqa: F811  # type: ignore[no-untyped-def]
    base, inbox, config, rt = portfolio
    config["viewers"] = viewers_from(
        [
            CoordinatorSettings(organisation="gemeente", name="Gemeente Proef", viewers=["coord@example.org"]),
            CoordinatorSettings(organisation="caw", name="CAW Proef", viewers=["Coord@example.org", "ivo@example.org"]),
        ]
    )
    with httpx.Client(base_url=base, timeout=30) as web:
        sign_in_by_mail(web, inbox, base, "coord@example.org")
        page = web.get("/portfolio")
        assert "Gemeente Proef en CAW Proef" in page.text
        assert "3 van 3 samenwerkingen" in page.text
        for pid in ("brede-school", "kinderarmoede", "andere-stad"):
            assert web.get(f"/portfolio/{pid}").status_code == 200
        assert web.get("/portfolio/andere-stad/radar.svg").status_code == 200  # the caw's published round

        # the caw drops them: the open session sees the gemeente's partnerships only, at once
        config["viewers"] = viewers_from(
            [
                CoordinatorSettings(organisation="gemeente", name="Gemeente Proef", viewers=["coord@example.org"]),
                CoordinatorSettings(organisation="caw", name="CAW Proef", viewers=["ivo@example.org"]),
            ]
        )
        page = web.get("/portfolio")
        assert "2 van 2 samenwerkingen" in page.text and "Netwerk andere stad" not in page.text
        assert web.get("/portfolio/andere-stad").status_code == 404

    with httpx.Client(base_url=base, timeout=30) as other:  # the caw's own viewer sees the caw's one
        sign_in_by_mail(other, inbox, base, "ivo@example.org")
        page = other.get("/portfolio")
        assert "1 van 1 samenwerkingen" in page.text and "Netwerk andere stad" in page.text
        assert other.get("/portfolio/kinderarmoede").status_code == 404


# --- signing in with Nextcloud (the test server's oauth2 app, answering like Nextcloud 30–32) ---------------


@pytest.fixture
def nextcloud() -> Iterator[NextcloudTestServer]:
    with NextcloudTestServer() as nc:
        nc.add_user("ann", "ann-password", "Ann Peeters", email="ann@school.be")
        nc.add_user("bob", "bob-password", "Bob Janssens", email="coord@example.org")  # an address he typed himself
        yield nc


def nextcloud_world(tmp_path: Path, library, nc: NextcloudTestServer, *, trust_email: bool = False, secret: str | None = None):  # type: ignore[no-untyped-def]
    port = free_port()
    client_id, client_secret = nc.add_oauth_client("brug", f"http://127.0.0.1:{port}{CALLBACK}")
    login = NextcloudLogin(
        nc.base_url, client_id, secret or client_secret, f"http://127.0.0.1:{port}{CALLBACK}", trust_email=trust_email
    )
    return portfolio_world(tmp_path, library, port, nextcloud_login=login)


def through_nextcloud(web: httpx.Client, base: str, user: str, password: str) -> httpx.Response:
    """A browser's way: brug → Nextcloud's authorize, connect, log in, grant → back to brug's callback."""
    start = web.get(f"{base}/login/nextcloud")
    assert start.status_code == 303
    cookie = start.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/login/nextcloud" in cookie
    query = parse_qs(urlsplit(start.headers["location"]).query)
    assert query["response_type"] == ["code"] and query["code_challenge_method"] == ["S256"]
    assert query["redirect_uri"] == [f"{base}{CALLBACK}"] and len(query["state"][0]) >= 43
    picker = web.get(web.get(start.headers["location"]).headers["location"])
    grant = web.get(urljoin(str(picker.url), unescape(re.search(r'href="([^"]+)">Log in', picker.text)[1])))  # type: ignore[index]
    assert grant.status_code == 303  # not logged in to Nextcloud yet: its login page first
    nc = urljoin(str(picker.url), "/")[:-1]
    login = web.get(grant.headers["location"])
    fields = {name: hidden(login.text, name) for name in ("requesttoken", "redirect_url")}
    granted_page = web.get(web.post(f"{nc}/index.php/login", data={**fields, "user": user, "password": password}).headers["location"])
    names = ("requesttoken", "stateToken", "clientIdentifier", "providedRedirectUri")
    back = web.post(f"{nc}/index.php/login/flow", data={n: hidden(granted_page.text, n) for n in names})
    assert back.status_code == 303 and back.headers["location"].startswith(f"{base}{CALLBACK}?state=")
    return web.get(back.headers["location"])


def test_a_coordinator_signs_in_with_nextcloud_and_sees_exactly_their_partnerships(tmp_path: Path, library, nextcloud) -> None:  # type: ignore[no-untyped-def]
    with nextcloud_world(tmp_path, library, nextcloud) as (base, inbox, config, rt):
        config["viewers"] = viewers_from(
            [CoordinatorSettings(organisation="gemeente", name="Gemeente Proef", viewers=["nextcloud:Ann", "coord@example.org"])]
        )
        with httpx.Client(timeout=30) as web:
            assert "Aanmelden met Nextcloud" in web.get(f"{base}/login").text
            callback = through_nextcloud(web, base, "ann", "ann-password")
            assert callback.status_code == 303 and callback.headers["location"] == "/portfolio"
            assert "brug_nextcloud_login=" in callback.headers["set-cookie"]  # the state is used up
            assert nextcloud.state.bearer_tokens == {}  # brug gave Nextcloud's token back at once
            page = web.get(f"{base}/portfolio")
            assert page.status_code == 200 and "2 van 2 samenwerkingen" in page.text
            assert "Brede school Noord" in page.text and "Netwerk andere stad" not in page.text
            assert web.get(f"{base}/portfolio/andere-stad").status_code == 404
            assert "Ann Peeters" not in page.text  # nobody's name, not even one's own

            # the same answer again: the state cookie is gone and Nextcloud's code was single use
            again = web.get(str(callback.request.url))
            assert again.status_code == 403 and "aanmeldlink werkt niet meer" in again.text

            # taken out of brug.toml: the open session is refused at the next request
            config["viewers"] = viewers_from([CoordinatorSettings(organisation="gemeente", viewers=["coord@example.org"])])
            assert web.get(f"{base}/portfolio").headers["location"] == "/login"
        assert inbox.received == []  # no mail was needed

        # bob's Nextcloud account reports coord@example.org, but Nextcloud never checked that address
        with httpx.Client(timeout=30) as web:
            refused = through_nextcloud(web, base, "bob", "bob-password")
            assert refused.status_code == 403 and "Dit Nextcloud-account heeft geen overzicht" in refused.text
            assert web.get(f"{base}/portfolio").headers["location"] == "/login"

        # a callback this browser did not start (login CSRF): refused before Nextcloud is asked
        with httpx.Client(timeout=30) as web:
            asked = nextcloud.count("POST", "/apps/oauth2/api/v1/token")
            forged = web.get(f"{base}{CALLBACK}", params={"state": "x" * 43, "code": "y" * 128})
            assert forged.status_code == 403 and nextcloud.count("POST", "/apps/oauth2/api/v1/token") == asked


def test_trust_email_lets_in_the_address_nextcloud_reports(tmp_path: Path, library, nextcloud) -> None:  # type: ignore[no-untyped-def]
    with nextcloud_world(tmp_path, library, nextcloud, trust_email=True) as (base, inbox, config, rt):
        with httpx.Client(timeout=30) as web:
            assert through_nextcloud(web, base, "bob", "bob-password").headers["location"] == "/portfolio"
            assert "2 van 2 samenwerkingen" in web.get(f"{base}/portfolio").text


def test_a_wrong_client_secret_gets_a_kind_page_and_a_log_line(tmp_path: Path, library, nextcloud, caplog) -> None:  # type: ignore[no-untyped-def]
    config_viewers = viewers_from([CoordinatorSettings(organisation="gemeente", viewers=["nextcloud:ann"])])
    with nextcloud_world(tmp_path, library, nextcloud, secret="not-the-secret") as (base, inbox, config, rt):
        config["viewers"] = config_viewers
        with httpx.Client(timeout=30) as web, caplog.at_level(logging.ERROR, logger="brug.web.nextcloud_login"):
            failed = through_nextcloud(web, base, "ann", "ann-password")
            assert failed.status_code == 502 and "Nextcloud gaf geen antwoord" in failed.text
            assert "invalid_client" in caplog.text
            assert web.get(f"{base}/portfolio").headers["location"] == "/login"


def test_nextcloud_login_settings_take_the_nextcloud_url_and_keep_the_secret_out_of_brug_toml(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    toml = tmp_path / "brug.toml"
    base = '[web]\nbase_url = "https://brug.example.org/"\n[nextcloud]\nurl = "https://cloud.example.org"\nuser = "brug"\n'
    toml.write_text(base + '[web.nextcloud_login]\nclient_id = "abc"\nclient_secret = "in-the-file"\n', encoding="utf-8")
    with pytest.raises(ProblemsFound) as found:
        load_settings(toml, "en")
    assert "BRUG_WEB__NEXTCLOUD_LOGIN__CLIENT_SECRET" in str(found.value)
    assert found.value.problems[0].loc == ("web", "nextcloud_login", "client_secret")

    toml.write_text(base + '[web.nextcloud_login]\nclient_id = "abc"\n', encoding="utf-8")
    with pytest.raises(ProblemsFound) as found:
        nextcloud_login_from(load_settings(toml, "en"), "en")
    assert "set BRUG_WEB__NEXTCLOUD_LOGIN__CLIENT_SECRET or client_secret_file" in str(found.value)

    monkeypatch.setenv("BRUG_WEB__NEXTCLOUD_LOGIN__CLIENT_SECRET", "from-the-environment")
    login = nextcloud_login_from(load_settings(toml, "en"), "en")
    assert login is not None and login.url == "https://cloud.example.org" and login.client_secret == "from-the-environment"
    assert login.redirect_uri == "https://brug.example.org/login/nextcloud/callback" and not login.trust_email

    toml.write_text('[web]\nbase_url = "https://brug.example.org"\n[web.nextcloud_login]\nclient_id = "abc"\n', encoding="utf-8")
    with pytest.raises(ProblemsFound) as found:
        nextcloud_login_from(load_settings(toml, "en"), "en")
    assert found.value.problems[0].loc == ("web", "nextcloud_login", "url")


def test_sign_in_mails_to_one_viewer_are_limited_and_the_page_stays_the_same(portfolio, caplog) -> None:  # noqa: F811  # type: ignore[no-untyped-def]
    base, inbox, config, rt = portfolio
    with httpx.Client(base_url=base, timeout=30) as web, caplog.at_level(logging.WARNING, logger="brug.web.app"):
        form = web.get("/login")
        pages = [web.post("/login", data={"email": "coord@example.org", "csrf": csrf_of(form.text)}) for _ in range(7)]
        unknown = web.post("/login", data={"email": "nobody@example.org", "csrf": csrf_of(form.text)})
        assert {p.status_code for p in [*pages, unknown]} == {200}
        assert len({p.text for p in [*pages, unknown]}) == 1  # known or not, limited or not: the same page
        inbox.wait(5)
        assert [r.to for r in inbox.received] == [["coord@example.org"]] * 5
        assert "limited to 5 per 15 minutes" in caplog.text


@pytest.mark.parametrize("base_url", ["https://brug.example.org", "http://127.0.0.1:8080"])
async def test_cookies_are_secure_whenever_base_url_is_https(tmp_path: Path, library, base_url: str) -> None:  # type: ignore[no-untyped-def]
    """Behind a TLS proxy brug itself may be reached over plain HTTP: `base_url` decides."""
    from brug.app.links import LinkSigner
    from tests.test_web_portfolio import SECRET, three_partnerships

    bot = three_partnerships(tmp_path, library)
    signer = LinkSigner(SECRET, base_url)
    viewers = viewers_from([CoordinatorSettings(organisation="gemeente", viewers=["coord@example.org"])])
    login = NextcloudLogin("https://cloud.example.org", "id", "secret", base_url + CALLBACK)
    app = create_app(bot.rt, bot.partnerships, signer, viewers=lambda: viewers, nextcloud_login=login)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8080") as web:  # as the proxy sends on
        link = signer.signin_url("coord@example.org").removeprefix(base_url)
        cookies = [(await web.get(path)).headers["set-cookie"] for path in ("/login", link, "/login/nextcloud")]
    assert [c.split("=")[0] for c in cookies] == ["brug_csrf", "brug_session", "brug_nextcloud_login"]
    assert all(("; secure" in c.lower()) == base_url.startswith("https://") for c in cookies)
    assert all("httponly" in c.lower() for c in cookies)
    bot.rt.store.close()


async def test_signing_in_with_nextcloud_is_rate_limited_per_client_address(tmp_path: Path, library) -> None:  # type: ignore[no-untyped-def]
    from brug.app.links import LinkSigner
    from tests.test_web_portfolio import SECRET, three_partnerships

    bot = three_partnerships(tmp_path, library)
    base = "https://brug.example.org"
    login = NextcloudLogin("https://cloud.example.org", "id", "secret", base + CALLBACK)
    app = create_app(bot.rt, bot.partnerships, LinkSigner(SECRET, base), per_ip=3, nextcloud_login=login)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url=base) as web:
        answers = [(await web.get(path)).status_code for path in ["/login/nextcloud"] * 2 + [CALLBACK] * 2]
    assert answers == [303, 303, 403, 429]  # a callback without this browser's state is refused, then all waits
    bot.rt.store.close()
