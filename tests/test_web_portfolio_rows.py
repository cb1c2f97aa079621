"""What each row of the coordinators' portfolio says, over real HTTP: the phase and how long it has
been in it, the last and next meeting, open and overdue actions, the agreement (signed version,
changed since, review due), the last barometer round as a small radar with its trend and a text
alternative (only when the anonymity rules allow), open signals, why it needs attention; every sort
and the filters."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from brug.app.bot import Bot
from brug.content.small_radar import small_radar
from brug.domain.partnership import Partnership
from brug.domain.types import Bouwsteen
from brug.app.links import LinkSigner
from brug.app.service import Runtime
from brug.web.app import create_app, viewers_from
from brug.settings import CoordinatorSettings
from brug.store import Store
from brug.web import portfolio
from brug.web.portfolio import SORTS, figures_of, in_phase_label
from tests.runtime import local_runtime
from tests.test_barometer_flow import Clock
from tests.web_world import free_port, web_server

NOW = datetime(2026, 10, 20, 10, tzinfo=UTC)
SECRET = "a-test-secret-of-enough-length"
VIEWER = "coord@example.org"


def write(folder: Path, pid: str, name: str, phase: str, meetings: str, orgs: list[tuple[str, list[str]]], extra: str = "") -> None:
    people = "".join(
        f"  - id: {org}\n    name: Organisatie {org}\n    kind: {'lokaal-bestuur' if org == 'gemeente' else 'basisschool'}\n    members:\n"
        + "".join(f"      - name: {m.capitalize()} Lid\n        id: {m}\n        role: Medewerker\n" for m in members)
        for org, members in orgs
    )
    text = textwrap.dedent(f"""\
        id: {pid}
        name: {name}
        workflow: samenwerken
        phase: {phase}
        platforms: {{chat: [local], files: local}}
        meetings: {meetings}
        """) + extra + "organisations:\n" + people
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{pid}.yaml").write_text(text, encoding="utf-8")


BIWEEKLY = '{start: "2026-09-08 14:00", rrule: "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU"}'
MINE = [("school", ["ann", "bart"]), ("gemeente", ["gert"])]


def close(rt, pid: str, round_id: str, starts: datetime, respondents: int, cells: dict[str, tuple[int, ...]]) -> None:  # type: ignore[no-untyped-def]
    rt.store.ensure_round(pid, round_id, starts, starts + timedelta(days=60), 3)
    rt.store.close_round(pid, round_id, respondents, {(b, ""): c for b, c in cells.items()})


def every(counts: tuple[int, ...], **other: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
    return {b.value: other.get(b.value, counts) for b in Bouwsteen}


def sign(rt, pid: str, version: int, at: datetime) -> None:  # type: ignore[no-untyped-def]
    for org, member in (("school", "ann"), ("gemeente", "gert")):
        rt.store.add_signoff(
            pid, organisation=org, member=member, member_name=member.capitalize(), kind="signed", version=version,
            sha256=f"{pid}-{version}", origin=f"test:{pid}:{org}:{version}", at=at,
        )


def version(rt, pid: str, number: int, at: datetime) -> None:  # type: ignore[no-untyped-def]
    rt.store.add_agreement_version(
        pid, sha256=f"{pid}-{number}", fingerprint=f"f{number}", platform="local", who="Ann Lid",
        sections=["Doel"], content="tekst", at=at,
    )


@dataclass
class Portfolio:
    web: httpx.Client  # signed in as the gemeente's viewer
    rt: Runtime
    base: str
    session: str  # the session cookie's value, for a browser
    partnerships: Callable[[], Iterable[Partnership]]  # as loaded now


@pytest.fixture
def portfolio_world(tmp_path: Path, library):  # type: ignore[no-untyped-def]
    folder = tmp_path / "partnerschappen"
    # Noord: meets every two weeks; agreement v1 signed, then changed; two good rounds
    write(folder, "noord", "Brede school Noord", "ja-graag", BIWEEKLY, MINE)
    # Armoede: last met in August; one action overdue; review due on 1 November; doel fell to 1,75
    write(folder, "armoede", "Samen tegen armoede", "draagvlak", '{dates: ["2026-08-20 14:00"]}', MINE,
          "agreement: {review: 2026-11-01}\n")
    # Klein: a round with only two respondents (never shown), no agreement yet
    write(folder, "klein", "Klein netwerk", "vind-elkaar", BIWEEKLY, MINE)
    # another organisation's partnership: its figures never show
    write(folder, "elders", "Netwerk elders", "ja-graag", BIWEEKLY, [("school2", ["hanne"]), ("caw", ["ivo"])])
    rt = local_runtime(tmp_path, library, Clock(NOW))
    bot = Bot(rt, [folder])
    assert bot.load() == []

    for pid, phase, since in (("noord", "ja-graag", datetime(2026, 5, 12, 9, tzinfo=UTC)),
                              ("armoede", "draagvlak", datetime(2026, 9, 29, 9, tzinfo=UTC))):
        rt.store.record_applied(pid, name=pid, workflow="samenwerken", phase=phase, phase_changes=0,
                                inputs_hash=None, source=None, at=since)  # klein: never applied
    version(rt, "noord", 1, datetime(2026, 9, 10, tzinfo=UTC))
    sign(rt, "noord", 1, datetime(2026, 9, 15, tzinfo=UTC))
    version(rt, "noord", 2, datetime(2026, 10, 1, 12, tzinfo=UTC))
    close(rt, "noord", "2025-2026-3", datetime(2026, 4, 20, tzinfo=UTC), 4, every((0, 0, 2, 2, 0)))
    close(rt, "noord", "2026-2027-1", datetime(2026, 9, 1, tzinfo=UTC), 4, every((0, 0, 1, 2, 1)))

    version(rt, "armoede", 1, datetime(2026, 3, 1, tzinfo=UTC))
    sign(rt, "armoede", 1, datetime(2026, 3, 5, tzinfo=UTC))
    rt.store.add_action("armoede", "Folder drukken", "gert", "2026-10-01", "chat:$a1")
    rt.store.add_action("armoede", "Zaal boeken", "ann", "2026-12-01", "chat:$a2")
    for n, status in enumerate(("nieuw", "doorgegeven", "afgesloten")):
        number, _ = rt.store.add_signal(
            "armoede", text=f"Patroon {n}", theme="wonen", level=None, raised_by="ann", organisation="school",
            at=NOW, origin=f"test:s{n}",
        )
        if status != "nieuw":
            rt.store.update_signal(
                "armoede", number, {"status": status}, event=status, note=None, by="ann", at=NOW, origin=f"test:s{n}:{status}"
            )
    close(rt, "armoede", "2025-2026-3", datetime(2026, 4, 20, tzinfo=UTC), 4, every((0, 0, 4, 0, 0)))
    # communicatie rated by two only: kept here as a count to show that the page still hides it
    close(rt, "armoede", "2026-2027-1", datetime(2026, 9, 1, tzinfo=UTC), 4,
          every((0, 1, 2, 1, 0), doel=(2, 1, 1, 0, 0), communicatie=(0, 1, 1, 0, 0)))

    close(rt, "klein", "2026-2027-1", datetime(2026, 9, 1, tzinfo=UTC), 2, {})
    close(rt, "elders", "2026-2027-1", datetime(2026, 9, 1, tzinfo=UTC), 4, every((0, 0, 0, 0, 4)))

    port = free_port()
    signer = LinkSigner(SECRET, f"http://127.0.0.1:{port}")
    viewers = viewers_from([CoordinatorSettings(organisation="gemeente", name="Gemeente Proef", viewers=[VIEWER])])
    app = create_app(rt, bot.partnerships, signer, viewers=lambda: viewers)
    session = signer.session(VIEWER)
    with web_server(app, port) as base, httpx.Client(base_url=base, timeout=30, cookies={"brug_session": session}) as web:
        yield Portfolio(web, rt, base, session, lambda: bot.partnerships().values())
    rt.store.close()



def rows_of(html: str) -> dict[str, str]:
    """Each row's HTML by the partnership's name, in the page's order."""
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    rows = re.findall(r"<tr>(.*?)</tr>", body, re.S)
    return {re.search(r'<th scope="row"><a [^>]*>([^<]+)</a>', r).group(1): r for r in rows}  # type: ignore[union-attr]


def cell(row: str, label: str) -> str:
    """A cell's text (tags removed) by its column label."""
    found = re.search(rf'<td data-label="{re.escape(label)}"[^>]*>(.*?)</td>', row, re.S)
    assert found is not None, (label, row)
    return re.sub(r"<title>.*?</title>", "", found.group(1)).replace("<br>", " | ").replace("&#39;", "'")


def text_of(html: str) -> str:
    return re.sub(r"<[^>]+>", "", html)


def test_each_row_says_where_the_partnership_stands(portfolio_world) -> None:  # type: ignore[no-untyped-def]
    web, rt = portfolio_world.web, portfolio_world.rt
    page = web.get("/portfolio", params={"sort": "name"})
    assert page.status_code == 200
    rows = rows_of(page.text)
    assert list(rows) == ["Brede school Noord", "Klein netwerk", "Samen tegen armoede"]  # never 'Netwerk elders'
    assert "3 van 3 samenwerkingen getoond; 3 vragen aandacht" in text_of(page.text)

    noord, armoede, klein = rows["Brede school Noord"], rows["Samen tegen armoede"], rows["Klein netwerk"]
    assert text_of(cell(noord, "Fase")) == "Samenwerken? Ja, graag! · 5 maanden"
    assert text_of(cell(armoede, "Fase")) == "Schep een draagvlak · 3 weken"
    assert text_of(cell(klein, "Fase")) == "Vind elkaar!"  # not applied yet: no date
    assert text_of(cell(noord, "Laatste overleg")) == "06-10-2026" and text_of(cell(noord, "Volgend overleg")) == "20-10-2026"
    assert text_of(cell(armoede, "Laatste overleg")) == "20-08-2026" and text_of(cell(armoede, "Volgend overleg")) == "—"
    assert text_of(cell(armoede, "Acties open (over tijd)")) == "2 (1)" and text_of(cell(noord, "Acties open (over tijd)")) == "0"
    assert text_of(cell(armoede, "Open signalen")) == "2"  # 'afgesloten' is not open

    # the agreement: signed version, changed since, review date
    assert text_of(cell(noord, "Akkoord")) == "gewijzigd na ondertekening (v1) | gewijzigd sinds 01-10-2026 | herziening 15-09-2027"
    assert text_of(cell(armoede, "Akkoord")) == "ondertekend (v1) | herziening 01-11-2026"
    assert text_of(cell(klein, "Akkoord")) == "nog geen"

    # why each needs attention
    flags = {name: re.findall(r'<span class="flag">([^<]+)</span>', row) for name, row in rows.items()}
    assert flags["Samen tegen armoede"] == ["8 weken geen overleg", "acties over tijd", "herziening akkoord nodig", "bouwsteen onder 2,5"]
    assert flags["Brede school Noord"] == ["akkoord niet ondertekend"]
    assert flags["Klein netwerk"] == ["akkoord niet ondertekend"]


def test_the_last_barometer_round_is_a_small_radar_with_its_trend_only_where_it_may_be_shown(portfolio_world) -> None:  # type: ignore[no-untyped-def]
    web, rt = portfolio_world.web, portfolio_world.rt
    page = web.get("/portfolio", params={"sort": "name"})
    rows = rows_of(page.text)
    armoede, klein = rows["Samen tegen armoede"], rows["Klein netwerk"]

    # the radar's text alternative: every mean with its trend arrow; communicatie (two raters) hidden
    title = re.search(r'<svg class="mini-radar"[^>]*role="img"[^>]*><title>([^<]+)</title>', armoede).group(1)  # type: ignore[union-attr]
    assert title.startswith("Barometer 2026–2027, trimester 1: ")
    assert "Gemeenschappelijk doel 1,8 ↓ (−1,3)" in title  # 1,75 after 3,0
    assert "Relatie 3,0 → (0,0)" in title
    assert "Communicatie: te weinig antwoorden" in title and "Communicatie 2" not in title
    visible_text = text_of(cell(armoede, "Barometer"))
    assert "gemiddeld 2,8 ↓" in visible_text  # (4 × 3,0 + 1,75) / 5 and "laagst: Gemeenschappelijk doel 1,8" in visible_text
    # the radar draws five bouwstenen: no closed polygon for this round, only the sides between two shown
    svg = re.search(r'<svg class="mini-radar".*?</svg>', armoede, re.S).group(0)  # type: ignore[union-attr]
    assert svg.count("<polygon") == 1 and svg.count('stroke="#E69F00"') == 1  # the previous round: whole
    assert svg.count("<line") == 4  # this round: D-R, R-B, B-V, V-A (A-C and C-D are missing)
    assert '<use href="#brug-mini-grid-nl"/>' in svg and 'id="brug-mini-grid-nl"' in page.text  # the grid once

    # two respondents: no radar, no figure
    assert "mini-radar" not in klein and text_of(cell(klein, "Barometer")) == "—"
    assert "Netwerk elders" not in page.text and "5,0" not in page.text  # another organisation's round
    for name in ("Ann Lid", "Bart Lid", "Gert Lid", "Hanne Lid", "Ivo Lid"):  # no person's name anywhere
        assert name not in page.text

    detail = web.get("/portfolio/armoede")
    assert detail.status_code == 200
    blocks = dict(re.findall(r'<tr><th scope="row">([^<]+)</th><td[^>]*>([^<]+)</td>', detail.text))
    assert blocks["Gemeenschappelijk doel"] == "1,8" and blocks["Communicatie"] == "te weinig antwoorden"
    assert "↓ −1,3" in detail.text and "herziening 01-11-2026 (nu aan de orde)" in detail.text
    assert web.get("/portfolio/klein/radar.svg").status_code == 404
    radar = web.get("/portfolio/armoede/radar.svg")
    assert radar.status_code == 200 and "te weinig antwoorden" in radar.text  # communicatie on the large one too


@pytest.mark.parametrize("sort", sorted(SORTS))
def test_every_sort_orders_the_rows_and_its_heading_says_so(portfolio_world, sort: str) -> None:  # type: ignore[no-untyped-def]
    web, rt = portfolio_world.web, portfolio_world.rt
    page = web.get("/portfolio", params={"sort": sort, "attention": "1"})
    order = list(rows_of(page.text))
    expected = {
        "attention": ["Samen tegen armoede", "Brede school Noord", "Klein netwerk"],  # 4 reasons, then 1 and 1 by name
        "name": ["Brede school Noord", "Klein netwerk", "Samen tegen armoede"],
        "phase": ["Klein netwerk", "Brede school Noord", "Samen tegen armoede"],  # the phase model's order
        "in_phase": ["Brede school Noord", "Samen tegen armoede", "Klein netwerk"],  # the longest first, none last
        "last": ["Samen tegen armoede", "Brede school Noord", "Klein netwerk"],  # the oldest meeting first
        "next": ["Brede school Noord", "Klein netwerk", "Samen tegen armoede"],  # none planned: last
        "actions": ["Samen tegen armoede", "Brede school Noord", "Klein netwerk"],
        "agreement": ["Klein netwerk", "Brede school Noord", "Samen tegen armoede"],  # none, changed, signed
        "barometer": ["Samen tegen armoede", "Brede school Noord", "Klein netwerk"],  # the lowest bouwsteen first
        "signals": ["Samen tegen armoede", "Brede school Noord", "Klein netwerk"],
    }[sort]
    assert order == expected
    assert f'<option value="{sort}" selected>' in page.text
    heading = re.search(r'<th scope="col" aria-sort="(\w+)">(.*?)</th>', page.text)
    assert heading is not None and heading.group(1) == SORTS[sort][1]
    assert f'<a href="/portfolio?sort={sort}&amp;attention=1">' in heading.group(2)  # the heading keeps the filter


def test_filters_by_phase_and_by_needs_attention(portfolio_world) -> None:  # type: ignore[no-untyped-def]
    web, rt = portfolio_world.web, portfolio_world.rt
    page = web.get("/portfolio", params={"phase": "draagvlak"})
    assert list(rows_of(page.text)) == ["Samen tegen armoede"]
    assert "1 van 3 samenwerkingen getoond" in text_of(page.text)
    options = re.findall(r'<option value="([a-z-]+)"', page.text.split('id="phase"')[1].split("</select>")[0])
    assert options == ["vind-elkaar", "ja-graag", "draagvlak"]  # only the phases they are in, in order
    assert 'href="/portfolio?sort=name&amp;phase=draagvlak"' in page.text
    rt.store.add_signoff(  # noord's version 2 signed by both: noord no longer needs attention
        "noord", organisation="school", member="ann", member_name="Ann", kind="signed", version=2,
        sha256="noord-2", origin="test:noord:v2:school", at=NOW,
    )
    rt.store.add_signoff(
        "noord", organisation="gemeente", member="gert", member_name="Gert", kind="signed", version=2,
        sha256="noord-2", origin="test:noord:v2:gemeente", at=NOW,
    )
    page = web.get("/portfolio", params={"attention": "1", "sort": "name"})
    assert list(rows_of(page.text)) == ["Klein netwerk", "Samen tegen armoede"]
    all_rows = rows_of(web.get("/portfolio", params={"sort": "name"}).text)
    assert text_of(cell(all_rows["Brede school Noord"], "Akkoord")).startswith("ondertekend (v2)")
    assert "in orde" in all_rows["Brede school Noord"]
    empty = web.get("/portfolio", params={"phase": "terugkijken"})
    assert "Geen samenwerkingen met deze keuze." in empty.text


def test_the_english_page_reads_in_english(portfolio_world) -> None:  # type: ignore[no-untyped-def]
    web, rt = portfolio_world.web, portfolio_world.rt
    page = web.get("/portfolio", params={"lang": "en", "sort": "name"})
    rows = rows_of(page.text)
    armoede = rows["Samen tegen armoede"]
    title = re.search(r"<title>([^<]+)</title>", armoede.split('class="mini-radar"')[1]).group(1)  # type: ignore[union-attr]
    assert "Common goal 1.8 ↓ (−1.3)" in title and "Communication: too few answers" in title
    assert 'href="#brug-mini-grid-en"' in armoede and "no meeting for 8 weeks" in armoede
    assert 'href="/portfolio?sort=barometer&amp;lang=en"' in page.text


def test_time_in_a_phase_reads_as_people_say_it() -> None:
    start = datetime(2026, 1, 31, 9, tzinfo=UTC)
    said = {
        timedelta(hours=3): ("0 dagen", "0 days"),
        timedelta(days=1): ("1 dag", "1 day"),
        timedelta(days=13): ("13 dagen", "13 days"),
        timedelta(days=20): ("2 weken", "2 weeks"),
        timedelta(days=60): ("8 weken", "8 weeks"),
        timedelta(days=62): ("2 maanden", "2 months"),
        timedelta(days=160): ("5 maanden", "5 months"),
        timedelta(days=365 + 40): ("1 jaar en 1 maand", "1 year 1 month"),
        timedelta(days=3 * 365 + 1): ("3 jaar", "3 years"),
    }
    for after, (nl, en) in said.items():
        assert in_phase_label(start, start + after, "nl") == nl
        assert in_phase_label(start, start + after, "en") == en


def test_the_small_radar_keeps_the_two_rounds_apart_without_colour() -> None:
    svg = small_radar("nl", (3.0, 3.5, 4.0, 2.0, 2.5, 3.0), (2.0, 2.0, 2.0, 2.0, 2.0, 2.0), "tekst & uitleg")
    current, previous = svg.split('stroke="#E69F00"')[1], svg.split('stroke="#E69F00"')[0]
    assert "stroke-dasharray" in current.split("/>")[0] and "brug-mini-square" in current.split("/>")[0]
    assert "brug-mini-dot" in svg.split('stroke="#0072B2"')[1].split("/>")[0]  # solid, dots
    assert "<title>tekst &amp; uitleg</title>" in previous  # escaped
    assert small_radar("nl", (3.0,) * 6, None, "x").count("<polygon") == 1  # no previous round: one shape


def test_the_figures_are_read_again_after_a_change_and_kept_otherwise(portfolio_world, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    web, rt = portfolio_world.web, portfolio_world.rt
    first = figures_of(rt.store)
    rt.store.enqueue("local", "noord/x", "noord", "algemeen", "welcome", "hallo")  # nothing the portfolio shows
    assert figures_of(rt.store) is first
    rt.store.add_action("noord", "Nieuw", "ann", "2026-10-01", "test:new")  # this process: read again at once
    second = figures_of(rt.store)
    assert second is not first and second.open_actions["noord"] == ["2026-10-01"]
    assert "1 (1)" in cell(rows_of(web.get("/portfolio").text)["Brede school Noord"], "Acties open (over tijd)")
    other = Store(rt.store.url)  # another process on the same database (brug run beside brug web)
    other.add_action("noord", "Nog een", "ann", None, "test:other")
    other.close()
    assert figures_of(rt.store) is second  # not seen yet …
    monkeypatch.setattr(portfolio, "FRESH_SECONDS", 0.0)
    assert len(figures_of(rt.store).open_actions["noord"]) == 2  # … once the figures are FRESH_SECONDS old


def test_after_a_change_only_its_table_is_read_again_and_only_its_row_made_again(portfolio_world) -> None:  # type: ignore[no-untyped-def]
    web, rt = portfolio_world.web, portfolio_world.rt
    before = rows_of(web.get("/portfolio", params={"sort": "name"}).text)
    first = figures_of(rt.store)
    rows = {r.id: r for r in portfolio.portfolio_rows(portfolio_world.partnerships(), rt, "gemeente", NOW, "nl")}
    rt.store.add_action("klein", "Nieuw", "ann", "2026-10-01", "test:klein")
    second = figures_of(rt.store)
    assert second.open_actions is not first.open_actions  # read again …
    assert second.round_totals is first.round_totals and second.signoffs is first.signoffs  # … the rest kept
    again = {r.id: r for r in portfolio.portfolio_rows(portfolio_world.partnerships(), rt, "gemeente", NOW, "nl")}
    assert again["noord"] is rows["noord"] and again["armoede"] is rows["armoede"]  # unchanged: the same rows
    assert again["klein"] is not rows["klein"] and again["klein"].overdue_actions == 1
    after = rows_of(web.get("/portfolio", params={"sort": "name"}).text)
    assert after["Brede school Noord"] == before["Brede school Noord"]
    assert "acties over tijd" in after["Klein netwerk"] and "acties over tijd" not in before["Klein netwerk"]
