"""The agreement: versions brug sees, sign-off bound to a version, its status document, renewal, forms."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from brug.app.bot import Bot
from brug.app.conversation import Incoming
from brug.app.export import export_partnership
from brug.domain.agreement import (
    Overall,
    Renewal,
    SignRequest,
    Version,
    changed_sections,
    parse_sign_request,
    reminder_due,
    review_date,
)
from brug.domain.partnership import Form, Mandate
from tests.agreement_world import edit, write_partnership
from tests.runtime import local_runtime

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
PID = "drie-partners"


# --- the pure rules ------------------------------------------------------------------------------------


def test_changed_sections_names_the_headings_whose_text_moved() -> None:
    old = "# T\n\nintro\n\n## 1. Doel\n\nA\n\n## 2. Rollen\n\nB\n"
    new = "# T\n\nintro\n\n## 1. Doel\n\nA, en meer\n\n## 2. Rollen\n\nB\n\n## 3. Nieuw\n\nC\n"
    assert changed_sections(old, new) == ("1. Doel", "3. Nieuw")
    assert changed_sections(new, old) == ("1. Doel", "3. Nieuw")  # a removed heading counts too
    assert changed_sections(None, new) == ()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ("", SignRequest()),
        ("3", SignRequest(version=3)),
        ("v3", SignRequest(version=3)),
        ("voorgelegd", SignRequest(presented=True)),
        ("2 voorgelegd", SignRequest(version=2, presented=True)),
        ("drie", None),
        ("1 2", None),
    ],
)
def test_sign_requests_are_read_strictly(args: str, expected: SignRequest | None) -> None:
    assert parse_sign_request(args) == expected


def test_review_dates_per_renewal_rule() -> None:
    signed = date(2026, 10, 5)
    assert review_date(Renewal.yearly, None, signed) == date(2027, 10, 5)
    assert review_date(Renewal.school_year, None, signed) == date(2027, 6, 1)  # the next June
    assert review_date(Renewal.school_year, None, date(2027, 5, 20)) == date(2028, 6, 1)  # signed late: next year
    assert review_date(Renewal.none, None, signed) is None  # an activity is not renewed
    assert review_date(Renewal.yearly, date(2027, 3, 1), signed) == date(2027, 3, 1)  # the file's date wins
    assert review_date(Renewal.yearly, None, None) is None
    assert not reminder_due(date(2027, 6, 1), date(2027, 5, 3))
    assert reminder_due(date(2027, 6, 1), date(2027, 5, 4))  # four weeks before


# --- the whole story on the local workspace -----------------------------------------------------------


@pytest.fixture
def bot(tmp_path: Path, library) -> Bot:  # type: ignore[no-untyped-def]
    folder = tmp_path / "partnerschappen"
    folder.mkdir()
    write_partnership(folder, PID)
    b = Bot(local_runtime(tmp_path, library, lambda: NOW), [folder])
    assert b.load() == []
    return b


events = iter(range(100_000))


async def say(bot: Bot, who: str, text: str) -> str:
    replies = await bot.handle(Incoming("local", PID, "algemeen", who, text, f"$a{next(events)}"))
    assert len(replies) == 1
    return replies[0].markdown


def announcements(workspace: Path) -> list[str]:
    lines = (workspace / "chat" / "algemeen.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["markdown"] for line in lines if json.loads(line)["kind"] == "agreement"]


async def test_versions_and_sign_off_on_the_local_workspace(bot: Bot, tmp_path: Path) -> None:
    ws = tmp_path / "ws" / PID
    document = ws / "samenwerkingsakkoord.md"
    status = ws / "akkoord-status.md"
    await bot.apply()
    assert [v.number for v in bot.rt.store.agreement_versions(PID)] == [1]
    assert "Ontwerp, versie 1" in status.read_text(encoding="utf-8")
    assert "versie 1" in (ws / "overzicht.md").read_text(encoding="utf-8")

    # a partner edits: version 2, with the section they changed
    mine = edit(document.read_text(encoding="utf-8"), "Wat we niet opnemen", "De school neemt geen huisbezoeken op.")
    document.write_text(mine, encoding="utf-8")
    await bot.apply()
    v2 = bot.rt.store.agreement_versions(PID)[-1]
    assert v2.number == 2 and v2.who is None and v2.sections == ["6. Wat we niet opnemen"]

    # two organisations approve version 2; the CLB's member who reports back is redirected to who decides
    assert "OCMW Ouderzele" in await say(bot, "hilde", "!akkoord")
    answer = await say(bot, "bart", "!akkoord 2")
    assert "OCMW Ouderzele keurt versie 2" in answer and "CLB Brakelveld" in answer  # still open
    answer = await say(bot, "annelies", "!akkoord")
    assert "Kris Claes" in answer and "!akkoord voorgelegd" in answer
    assert "voorgelegd aan CLB Brakelveld" in await say(bot, "annelies", "!akkoord voorgelegd")
    text = status.read_text(encoding="utf-8")
    assert "2 van de 3 organisaties" in text and "📨 voorgelegd" in text
    assert "Gemeente Ouderzele | omkaderend" in text  # only kept informed: does not sign
    assert announcements(ws) == []

    # another edit: changed after signing, announced once, earlier sign-offs kept against version 2
    mine = edit(mine, "Signalen naar het beleid", "Signalen gaan elk trimester naar het lokaal overleg.")
    document.write_text(mine, encoding="utf-8")
    await bot.apply()
    await bot.apply()
    text = status.read_text(encoding="utf-8")
    assert "Gewijzigd na ondertekening" in text and "Hilde Maes, versie 2" in text
    said = announcements(ws)
    assert len(said) == 1 and "gewijzigd na ondertekening" in said[0] and "Signalen naar het beleid" in said[0]

    # a stale approval is refused; the current version is approved by all three
    answer = await say(bot, "hilde", "!akkoord 2")
    assert "Versie 3 is de huidige" in answer and "Signalen" in answer
    assert "bestaat" not in answer
    assert "geen versie 9" in await say(bot, "hilde", "!akkoord 9")
    await say(bot, "hilde", "!akkoord 3")
    await say(bot, "bart", "!akkoord")
    assert "al goedgekeurd" not in await say(bot, "kris", "!akkoord 3")
    assert "al goed" in await say(bot, "kris", "!akkoord")
    text = status.read_text(encoding="utf-8")
    assert "✅ Ondertekend op" in text and "versie 3" in text
    assert "✅ Ondertekend op" in (ws / "overzicht.md").read_text(encoding="utf-8")
    said = announcements(ws)
    assert len(said) == 2 and "ondertekend" in said[1]

    # no person's text was ever overwritten, and brug wrote nothing beside it either
    assert document.read_text(encoding="utf-8") == mine
    assert not list(ws.glob("samenwerkingsakkoord (*"))

    # the history survives apply and goes into the export; forget removes it
    await bot.apply()
    assert len(bot.rt.store.agreement_versions(PID)) == 3
    written = await export_partnership(PID, bot.partnerships()[PID], bot.rt, tmp_path / "uit")
    data = json.loads(next(p for p in written if p.suffix == ".json").read_text(encoding="utf-8"))
    assert [v["number"] for v in data["versions"]] == [1, 2, 3]
    assert {(s["organisation"], s["version"], s["kind"]) for s in data["signoffs"]} >= {
        ("school", 2, "signed"),
        ("clb", 2, "presented"),
        ("clb", 3, "signed"),
    }
    assert "Signalen gaan elk trimester" in data["versions"][2]["content"]
    bot.rt.store.forget(PID)
    assert bot.rt.store.agreement_versions(PID) == [] and bot.rt.store.signoffs(PID) == []


async def test_the_same_chat_event_signs_once(bot: Bot) -> None:
    await bot.apply()
    for _ in range(2):
        await bot.handle(Incoming("local", PID, "algemeen", "hilde", "!akkoord", "$same"))
    assert len(bot.rt.store.signoffs(PID)) == 1


async def test_a_document_edited_since_the_last_look_is_signed_as_it_is_now(bot: Bot, tmp_path: Path) -> None:
    await bot.apply()
    document = tmp_path / "ws" / PID / "samenwerkingsakkoord.md"
    document.write_text(edit(document.read_text(encoding="utf-8"), "Doelgroep", "Ook grootouders."), encoding="utf-8")
    answer = await say(bot, "hilde", "!akkoord")  # no apply in between: brug looks before it signs
    assert "versie 2" in answer
    assert bot.rt.store.signoffs(PID)[0]["version"] == 2


async def test_a_review_four_weeks_away_is_on_the_agenda_and_reminded_once(bot: Bot, tmp_path: Path) -> None:
    from brug.app.jobs import post_agenda

    path = next((tmp_path / "partnerschappen").glob("*.yaml"))
    path.write_text(path.read_text(encoding="utf-8") + "agreement: {review: 2027-01-20}\n", encoding="utf-8")
    assert bot.load() == []
    await bot.apply()
    ws = tmp_path / "ws" / PID
    assert announcements(ws) == []  # eight weeks before: nothing yet
    later = NOW + timedelta(weeks=5)
    bot.rt.clock = lambda: later  # type: ignore[method-assign]
    await bot.apply()
    await bot.apply()
    said = announcements(ws)
    assert len(said) == 1 and "herziening" in said[0]
    p = bot.partnerships()[PID]
    meeting = p.meeting_times(later, 1)[0]
    await post_agenda(p, meeting, bot.rt)
    agenda = next((ws / "overleg").glob("*agenda*")).read_text(encoding="utf-8")
    assert "akkoord" in agenda.lower() and "20 januari 2027" in agenda


def test_status_rules_for_a_partnership(library) -> None:  # type: ignore[no-untyped-def]
    import tempfile

    from brug.content.partnerships import load_partnership
    from brug.domain.agreement import SignKind, SignOff, agreement_status

    with tempfile.TemporaryDirectory() as folder:
        p, problems = load_partnership(write_partnership(Path(folder), PID), library)
    assert p is not None, problems
    v = [Version(n, NOW, f"h{n}", None, "local", ()) for n in (1, 2)]

    def signed(org: str, version: int) -> SignOff:
        return SignOff(org, "x", "X", SignKind.signed, version, f"h{version}", NOW)

    assert agreement_status(p, v, []).overall is Overall.draft
    all_on_2 = [signed("school", 2), signed("ocmw", 2), signed("clb", 2)]
    assert agreement_status(p, v, all_on_2).overall is Overall.signed
    assert agreement_status(p, v, all_on_2[:2]).overall is Overall.draft
    v3 = [*v, Version(3, NOW, "h3", None, "local", ("2. Doel",))]
    state = agreement_status(p, v3, all_on_2)
    assert state.overall is Overall.changed and state.signed_version == 2 and state.last_signed == 2
    assert [o.id for o in state.open_organisations] == ["school", "ocmw", "clb"]  # the municipality does not sign


# --- the form chooses the document; documents stay readable at 2 and at 40 organisations ----------------


def render_agreement(library, renderer, p) -> str:  # type: ignore[no-untyped-def]
    from brug.content.agreement import agreement_context
    from brug.content.context import common_context, with_extra

    base = common_context(p, library, NOW, links=[])
    return renderer.render("agreement", p.language, **with_extra(base, **agreement_context(p, library, base, "s.md")))


def sections(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("## ")]


def test_the_ad_hoc_example_gets_a_light_path_and_a_short_activity_agreement(library, renderer) -> None:  # type: ignore[no-untyped-def]
    from brug.content.agreement import renewal_of
    from brug.content.partnerships import load_partnership
    from tests.conftest import ROOT

    p, problems = load_partnership(ROOT / "examples" / "infoavond-schoolkosten.yaml", library)
    assert p is not None, problems
    assert p.workflow == "activiteit" and len(library.phase_models[p.workflow].phases) == 3  # chosen by the form
    assert renewal_of(p, library) is Renewal.none
    text = render_agreement(library, renderer, p)
    assert text.startswith("# Afsprakenblad voor de activiteit")
    assert len(sections(text)) == 6 and len(text.splitlines()) < 100
    assert "RASCI" not in text and "Engagementen per partner" not in text
    assert "donderdag 28 januari 2027" in text  # the day of the activity


def test_the_overleg_example_gets_a_consultation_charter(library, renderer) -> None:  # type: ignore[no-untyped-def]
    from brug.content.partnerships import load_partnership
    from tests.conftest import ROOT

    p, problems = load_partnership(ROOT / "examples" / "overleg-gezinnen-brakelveld.yaml", library)
    assert p is not None, problems
    assert p.workflow == "samenwerken"  # named in the file
    text = render_agreement(library, renderer, p)
    titles = sections(text)
    assert text.startswith("# Overlegcharter") and len(titles) == 10
    assert any("beslissingen terug naar de organisaties" in t for t in titles)
    assert "OCMW Brakelveld, sociale dienst:** koppelt terug" in text
    assert "RASCI" not in text and "Engagementen per partner" not in text
    full = render_agreement(library, renderer, p.model_copy(update={"form": Form.netwerk}))
    assert len(full.splitlines()) > len(text.splitlines()) * 1.4  # the full agreement is clearly longer
    fusie = render_agreement(library, renderer, p.model_copy(update={"form": Form.fusie}))
    assert "Bestuur van de nieuwe organisatie" in fusie and "Bestuur van de nieuwe organisatie" not in full


def big_partnership(library, organisations: int):  # type: ignore[no-untyped-def]
    """'Kinderen Eerst'-like: a social service, a CLB, a CAW, the city, and the rest primary schools."""
    from brug.domain.partnership import Partnership

    others = [
        ("ocmw", "ocmw", "OCMW Gent, dienst kinderarmoede"),
        ("clb", "clb", "CLB Gent"),
        ("caw", "caw", "CAW Oost-Vlaanderen"),
        ("stad", "lokaal-bestuur", "Stad Gent, dienst Onderwijs"),
    ][: max(0, min(4, organisations - 1))]
    orgs = [
        {
            "id": oid,
            "name": name,
            "kind": kind,
            "members": [
                {
                    "name": f"Coördinator {oid}",
                    "role": "Coördinator",
                    "mandate": "beslissing",
                    "coordinator": oid == "ocmw",
                },
                {"name": f"Medewerker {oid}", "role": "Medewerker"},
            ],
        }
        for oid, kind, name in others
    ]
    for i in range(organisations - len(orgs)):
        orgs.append(
            {
                "id": f"school-{i + 1}",
                "name": f"Basisschool nummer {i + 1} van de Brede School Gent-Zuid",
                "kind": "basisschool",
                "members": [
                    {
                        "name": f"Directeur school {i + 1}",
                        "role": "Directeur",
                        "mandate": "beslissing",
                        "actor": "omkadering",
                    },
                    {"name": f"Zorgcoördinator school {i + 1}", "role": "Zorgcoördinator", "contact": True},
                ],
            }
        )
    data = {
        "id": "kinderen-eerst",
        "name": "Kinderen Eerst",
        "phase": "ja-graag",
        "form": "netwerk",
        "organisations": orgs,
    }
    return Partnership.model_validate_json(json.dumps(data))


# The limits this agreement keeps (issue 14): a table's header row at most 100 characters and any line
# outside the annex at most 500 (long prose sentences wrap in every editor; wide tables do not); the
# body before the annex at most 400 lines; a party named at most once per section; in a large
# partnership the grouped organisations only in the annex, once per member. At 2 organisations the
# whole document is under 300 lines.
@pytest.mark.parametrize("organisations", [2, 40])
def test_the_agreement_stays_readable_at_2_and_at_40_organisations(library, renderer, organisations: int) -> None:  # type: ignore[no-untyped-def]
    p = big_partnership(library, organisations)
    text = render_agreement(library, renderer, p)
    body, _, annex = text.partition("## Bijlage")
    lines = body.splitlines()
    headers = [
        line
        for i, line in enumerate(lines)
        if line.startswith("|") and i + 1 < len(lines) and lines[i + 1].startswith("|---")
    ]
    assert headers and max(len(h) for h in headers) <= 100
    assert max(len(line) for line in lines) <= 500
    assert len(lines) <= 400
    for o in p.organisations:  # a party is named at most once per section (plus the members table)
        assert body.count(o.name) <= len(sections(body)) + len(o.members), o.name
    if organisations == 2:
        assert not annex and len(text.splitlines()) < 300
        assert "Basisschool nummer 1" in body
    else:
        assert "Basisscholen (36)" in body  # the 36 schools are one party, listed in the annex
        assert all(o.name not in body for o in p.organisations if o.kind == "basisschool")
        assert all(annex.count(o.name) == len(o.members) for o in p.organisations)
        assert "elke organisatie apart" in body  # each school still approves on its own
    assert "✅" not in text and "☐" not in text  # no ticks in the document: approval lives in the status


def test_an_organisation_that_may_not_decide_is_asked_to_name_someone(library, renderer) -> None:  # type: ignore[no-untyped-def]
    p = big_partnership(library, 2)
    reporting = [m.model_copy(update={"mandate": Mandate.terugkoppeling}) for m in p.organisations[0].members]
    org = p.organisations[0].model_copy(update={"members": reporting})
    p = p.model_copy(update={"organisations": [org, *p.organisations[1:]]})
    text = render_agreement(library, renderer, p)
    assert "OCMW Gent, dienst kinderarmoede | **nog niemand**" in text
    assert "OCMW Gent, dienst kinderarmoede moet nog aanduiden wie namens de organisatie mag beslissen" in text


async def test_an_english_partnership_agrees_in_english(tmp_path: Path, library) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "partnerschappen"
    folder.mkdir()
    path = write_partnership(folder, PID)
    path.write_text(path.read_text(encoding="utf-8").replace("form: netwerk", "form: netwerk\nlanguage: en"), "utf-8")
    bot = Bot(local_runtime(tmp_path, library, lambda: NOW), [folder])
    assert bot.load() == []
    await bot.apply()
    assert "Draft, version 1" in (tmp_path / "ws" / PID / "agreement-status.md").read_text(encoding="utf-8")
    assert "approves version 1" in await say(bot, "hilde", "!agree")
    answer = await say(bot, "annelies", "!agree")
    assert "Kris Claes" in answer and "You report back" in answer
    assert "no version 4" in await say(bot, "hilde", "!agree 4")


async def test_supporting_members_get_no_mailed_reflection_prompt(tmp_path: Path, library) -> None:  # type: ignore[no-untyped-def]
    """Actor types steer who receives which prompts, by mail too (real local SMTP server)."""
    from brug.app.jobs import post_reflection
    from brug.app.links import LinkSigner
    from brug.app.mail import Mailer
    from tests.web_world import SMTP_PASSWORD, smtp_server

    folder = tmp_path / "partnerschappen"
    folder.mkdir()
    (folder / "m.yaml").write_text(
        "id: mail-actoren\nname: Actoren per mail\nphase: ja-graag\nform: netwerk\n"
        'reflection: {start: "2026-09-25 09:00", rrule: "FREQ=MONTHLY;BYDAY=-1FR"}\n'
        "organisations:\n  - id: a\n    name: Organisatie A\n    kind: cbe\n    members:\n"
        "      - {name: Doener, role: Medewerker, email: doener@example.org}\n"
        "      - {name: Omkader, role: Schepen, actor: omkadering, email: omkader@example.org}\n",
        encoding="utf-8",
    )
    slot = datetime(2026, 9, 25, 7, tzinfo=UTC)
    rt = local_runtime(tmp_path, library, lambda: slot)
    bot = Bot(rt, [folder])
    assert bot.load() == []
    with smtp_server(tmp_path) as (inbox, mail_settings):
        rt.mailer = Mailer(mail_settings, SMTP_PASSWORD)
        rt.links = LinkSigner("a-test-secret-of-enough-length", "http://127.0.0.1:9")
        await post_reflection(bot.partnerships()["mail-actoren"], slot, rt)
        assert [r.to[0] for r in inbox.received] == ["doener@example.org"]
    rt.store.close()


async def test_brug_never_rewrites_a_signed_draft_it_puts_its_new_one_beside_it(bot: Bot, tmp_path: Path) -> None:
    await bot.apply()
    ws = tmp_path / "ws" / PID
    signed_text = (ws / "samenwerkingsakkoord.md").read_text(encoding="utf-8")
    assert "keurt versie 1" in await say(bot, "hilde", "!akkoord")  # brug's untouched draft, signed as it is
    path = next((tmp_path / "partnerschappen").glob("*.yaml"))
    path.write_text(path.read_text(encoding="utf-8") + "target_group: Gezinnen met jonge kinderen.\n", "utf-8")
    assert bot.load() == []
    await bot.apply()  # the draft would change, but someone signed it: it stays, the new one goes beside it
    assert (ws / "samenwerkingsakkoord.md").read_text(encoding="utf-8") == signed_text
    beside = (ws / "samenwerkingsakkoord (nieuwe versie).md").read_text(encoding="utf-8")
    assert "Gezinnen met jonge kinderen." in beside
    assert [v.number for v in bot.rt.store.agreement_versions(PID)] == [1]
