"""The coordinators' portfolio: sign in by a link from a real mail, see exactly the partnerships of
one's own organisation; another organisation's partnership, a guessed id, a forged session and a
viewer removed from brug.toml get nothing."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from brug.app.bot import Bot
from brug.app.links import LinkSigner
from brug.app.mail import Mailer
from brug.domain.types import Bouwsteen
from brug.settings import CoordinatorSettings
from brug.web.app import create_app, viewers_from
from tests.barometer_world import barometer_partnership
from tests.runtime import local_runtime
from tests.test_barometer_flow import Clock
from tests.test_web_answer import csrf_of
from tests.web_world import SMTP_PASSWORD, free_port, smtp_server, web_server

NOW = datetime(2026, 10, 20, 10, tzinfo=UTC)
SECRET = "a-test-secret-of-enough-length"
GEMEENTE = [("school", "basisschool", ["ann", "bart"]), ("gemeente", "lokaal-bestuur", ["gert"])]
ANDERE = [("school2", "basisschool", ["hanne"]), ("caw", "caw", ["ivo"])]


def partnership(folder: Path, pid: str, name: str, organisations) -> None:  # type: ignore[no-untyped-def]
    path = barometer_partnership(folder, pid, organisations=organisations)
    path.write_text(path.read_text(encoding="utf-8").replace("name: Barometer proef", f"name: {name}"), encoding="utf-8")


def three_partnerships(tmp_path: Path, library) -> Bot:  # type: ignore[no-untyped-def]
    """Two partnerships of the gemeente and one of other organisations, loaded on a local runtime."""
    folder = tmp_path / "partnerschappen"
    partnership(folder, "brede-school", "Brede school Noord", GEMEENTE)
    partnership(folder, "kinderarmoede", "Samen tegen kinderarmoede", GEMEENTE)
    partnership(folder, "andere-stad", "Netwerk andere stad", ANDERE)
    bot = Bot(local_runtime(tmp_path, library, Clock(NOW)), [folder])
    assert bot.load() == []
    return bot


@contextmanager
def portfolio_world(tmp_path: Path, library, port: int | None = None, **app_options):  # type: ignore[no-untyped-def]
    """Three partnerships of two organisations, a real SMTP server and the web app on loopback;
    `app_options` go to create_app (e.g. nextcloud_login)."""
    bot = three_partnerships(tmp_path, library)
    rt = bot.rt
    rt.store.add_action("kinderarmoede", "Folder drukken", "gert", "2026-10-01", "chat:$a1")
    rt.store.add_action("brede-school", "Zaal boeken", "ann", "2026-12-01", "chat:$a2")
    for pid in ("kinderarmoede", "andere-stad"):  # a closed barometer round that may be shown
        rt.store.ensure_round(pid, "2026-2027-1", datetime(2026, 9, 1, tzinfo=UTC), NOW, 3)
        cells = {(b.value, ""): (0, 1, 2, 1, 0) if b.value != "doel" else (2, 1, 1, 0, 0) for b in Bouwsteen}
        rt.store.close_round(pid, "2026-2027-1", 4, cells)
    port = port or free_port()
    config = {"viewers": viewers_from([CoordinatorSettings(organisation="gemeente", name="Gemeente Proef", viewers=["Coord@Example.org"])])}
    with smtp_server(tmp_path) as (inbox, mail_settings):
        rt.mailer = Mailer(mail_settings, SMTP_PASSWORD)
        rt.links = LinkSigner(SECRET, f"http://127.0.0.1:{port}")
        app = create_app(rt, bot.partnerships, rt.links, viewers=lambda: config["viewers"], **app_options)
        with web_server(app, port) as base:
            yield base, inbox, config, rt
    rt.store.close()


@pytest.fixture
def portfolio(tmp_path: Path, library):  # type: ignore[no-untyped-def]
    with portfolio_world(tmp_path, library) as world:
        yield world


def test_a_coordinator_signs_in_by_mail_and_sees_exactly_the_partnerships_of_their_organisation(portfolio) -> None:  # type: ignore[no-untyped-def]
    base, inbox, config, rt = portfolio
    with httpx.Client(base_url=base, timeout=30) as web:
        assert web.get("/portfolio").headers["location"] == "/login"
        form = web.get("/login")
        assert web.post("/login", data={"email": "nobody@example.org", "csrf": csrf_of(form.text)}).status_code == 200
        assert web.post("/login", data={"email": "coord@example.org"}).status_code == 403  # no CSRF token
        sent = web.post("/login", data={"email": "coord@example.org", "csrf": csrf_of(form.text)})
        assert "Kijk je mail na" in sent.text
        inbox.wait(1)  # the mail goes out after the page (as fast for any address)
        assert [r.to for r in inbox.received] == [["coord@example.org"]]  # the unknown address got nothing
        link = inbox.received[0].body.split(f"{base}/login/")[1].split()[0]

        signed_in = web.get(f"/login/{link}")
        assert signed_in.status_code == 303 and signed_in.headers["location"] == "/portfolio"
        cookie = signed_in.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie
        page = web.get("/portfolio")
        assert page.status_code == 200
        assert "Brede school Noord" in page.text and "Samen tegen kinderarmoede" in page.text
        assert "Netwerk andere stad" not in page.text
        assert "2 van 2 samenwerkingen" in page.text
        assert "acties over tijd" in page.text  # the overdue action of kinderarmoede
        assert "Ann Test" not in page.text and "Gert Test" not in page.text  # no person's name

        only = web.get("/portfolio", params={"attention": "1", "sort": "name", "phase": "nope"})
        assert "0 van 2 samenwerkingen" in only.text
        detail = web.get("/portfolio/kinderarmoede")
        assert detail.status_code == 200 and "1 open, 1 over tijd" in detail.text
        assert "2026–2027, trimester 1" in detail.text and "bouwsteen onder 2,5" in detail.text  # doel: 1,75
        radar = web.get("/portfolio/kinderarmoede/radar.svg")
        assert radar.status_code == 200 and radar.headers["content-type"].startswith("image/svg+xml")
        assert radar.text.lstrip().startswith("<svg") or "<svg" in radar.text[:200]
        assert web.get("/portfolio/andere-stad/radar.svg").status_code == 404  # its round exists, but not for us
        assert web.get("/portfolio/brede-school/radar.svg").status_code == 404  # no round shown yet

        # another organisation's partnership and a guessed id look the same: no such page
        for other in ("andere-stad", "bestaat-niet"):
            refused = web.get(f"/portfolio/{other}")
            assert refused.status_code == 404 and "Netwerk andere stad" not in refused.text

        # a forged session cookie, then a viewer removed from brug.toml: signed out
        forged = httpx.get(f"{base}/portfolio", cookies={"brug_session": "eyJhIjoiYiJ9.forged"}, timeout=30)
        assert forged.status_code == 303 and forged.headers["location"] == "/login"
        config["viewers"] = {}
        gone = web.get("/portfolio")
        assert gone.status_code == 303 and gone.headers["location"] == "/login"
        assert web.get("/portfolio/kinderarmoede").status_code == 303
        assert web.get(f"/login/{link}").status_code == 403  # the mailed link no longer signs them in
