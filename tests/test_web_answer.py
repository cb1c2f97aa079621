"""Answer by link, end to end with real parts: the reflection prompt goes out through the outbox to a
real SMTP server (STARTTLS + login, aiosmtpd), the test follows the link from the received mail to the
page served by uvicorn, answers, changes the answer, and finds the link closed with its round."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from brug.app import barometer
from brug.app.bot import Bot
from brug.app.conversation import Incoming
from brug.app.jobs import post_reflection, run_barometer
from brug.app.links import LinkSigner
from brug.app.mail import Mailer
from brug.ports import PlatformError
from brug.web.app import create_app
from tests.barometer_world import barometer_partnership
from tests.runtime import local_runtime
from tests.test_barometer_flow import Clock
from tests.web_world import SMTP_PASSWORD, free_port, smtp_server, web_server

PID = "barometer-test"
SLOT = datetime(2026, 9, 25, 7, tzinfo=UTC)  # the first prompt: the last Friday of September, 09:00 Brussels
SECRET = "a-test-secret-of-enough-length"
MAILED = {"ann": ("email", "ann@example.org"), "bart": ("email", "bart@example.org")}


@pytest.fixture
def world(tmp_path: Path, library):  # type: ignore[no-untyped-def]
    clock = Clock(SLOT)
    barometer_partnership(tmp_path / "partnerschappen", ids=MAILED, extra="barometer: {full: false}\n")
    rt = local_runtime(tmp_path, library, clock)
    bot = Bot(rt, [tmp_path / "partnerschappen"])
    assert bot.load() == []
    port = free_port()
    with smtp_server(tmp_path) as (inbox, mail_settings):
        rt.mailer = Mailer(mail_settings, SMTP_PASSWORD)
        rt.links = LinkSigner(SECRET, f"http://127.0.0.1:{port}")
        yield bot, clock, inbox, port
    rt.store.close()


def csrf_of(html: str) -> str:
    start = html.index('name="csrf" value="') + len('name="csrf" value="')
    return html[start : html.index('"', start)]


async def test_a_member_answers_by_the_mailed_link_changes_it_and_the_link_closes_with_the_round(world) -> None:  # type: ignore[no-untyped-def]
    bot, clock, inbox, port = world
    rt = bot.rt
    p = bot.partnerships()[PID]
    key = await post_reflection(p, SLOT, rt)
    await post_reflection(p, SLOT, rt)  # the job runs twice for the same slot: still one mail each
    assert sorted(r.to[0] for r in inbox.received) == ["ann@example.org", "bart@example.org"]
    mail = inbox.to("ann@example.org")[0]
    assert mail.tls and mail.user == "brug"  # STARTTLS first, then the login
    assert mail.message["Subject"] == "Reflectievraag voor Barometer proef"
    question = next(q for q in rt.library.questions if q.id == key.rsplit("/", 1)[-1])
    field = f"score-{question.bouwsteen.value}"
    assert question.text("nl") in mail.body
    link = mail.link
    assert link.startswith(f"http://127.0.0.1:{port}/a/")
    assert rt.store.is_sent("email", f"{key}/mail/ann")

    app = create_app(rt, bot.partnerships, rt.links)
    with web_server(app, port) as base, httpx.Client(base_url=base, timeout=30) as web:
        assert web.get("/healthz").json() == {"status": "ok"}
        page = web.get(link)
        assert page.status_code == 200
        assert question.text("nl") in page.text and "Ann Test" in page.text
        assert page.headers["referrer-policy"] == "no-referrer"
        token = link.rsplit("/", 1)[-1]

        # a form without its CSRF token, or posted from another browser (no cookie), keeps nothing
        refused = web.post(link, data={field: "2", "answer": "zonder token"})
        assert refused.status_code == 403
        stranger = httpx.post(link, data={field: "2", "csrf": csrf_of(page.text)}, timeout=30)
        assert stranger.status_code == 403
        assert rt.store.answers(PID) == [] and rt.store.open_votes(PID, round_id(rt)) == []

        saved = web.post(link, data={field: "2", "answer": "We zochten lang naar een datum.", "csrf": csrf_of(page.text)})
        assert saved.status_code == 303 and saved.headers["location"] == f"/a/{token}?saved=1"
        again = web.get(saved.headers["location"])
        assert "je antwoord is bewaard" in again.text
        assert 'value="2" checked' in again.text and "We zochten lang naar een datum." in again.text

        # the same link again: the answer and the vote change, they are not added
        web.post(link, data={field: "4", "answer": "Intussen vlot het.", "csrf": csrf_of(again.text)})
        answers = rt.store.answers(PID)
        assert [(a.prompt_key, a.author, a.text) for a in answers] == [(key, "Ann Test", "Intussen vlot het.")]
        votes = rt.store.open_votes(PID, round_id(rt))
        assert [(v[0], v[2]) for v in votes] == [("ann", 4)]

        # one person, one vote, whatever the channel: a !score in chat replaces the web vote
        block = question.bouwsteen.value
        await bot.handle(Incoming("local", PID, "reflectie", "ann", f"!score {block} 5", "$chat-1"))
        assert [(v[0], v[2]) for v in rt.store.open_votes(PID, round_id(rt)) if v[1] == block] == [("ann", 5)]
        assert rt.store.respondents(PID, round_id(rt)) == 1

        # a tampered link or a made-up one: a friendly page, nothing of the partnership
        for wrong in (link[:-3] + ("AAA" if not link.endswith("AAA") else "BBB"), f"{base}/a/nonsense", f"{base}/a/"):
            answer = web.get(wrong)
            assert answer.status_code == 404
            assert "Deze link werkt niet" in answer.text
            assert "Ann" not in answer.text and question.text("nl") not in answer.text

        # the round closes: the link no longer opens the form, nor takes an answer
        await barometer.close_round(p, round_id(rt), rt)
        closed = web.get(link)
        assert closed.status_code == 410 and "afgesloten" in closed.text
        assert question.text("nl") not in closed.text and "Ann" not in closed.text
        late = web.post(link, data={field: "1", "csrf": csrf_of(again.text)})
        assert late.status_code == 410
        assert rt.store.answers(PID)[0].text == "Intussen vlot het."


def round_id(rt) -> str:  # type: ignore[no-untyped-def]
    return rt.store.barometer_rounds(PID)[-1].round_id


async def test_links_are_rate_limited_per_link_and_english_on_request(world) -> None:  # type: ignore[no-untyped-def]
    bot, clock, inbox, port = world
    p = bot.partnerships()[PID]
    await post_reflection(p, SLOT, bot.rt)
    link = inbox.to("bart@example.org")[0].link
    app = create_app(bot.rt, bot.partnerships, bot.rt.links, per_ip=100, per_link=3)
    with web_server(app, port) as base, httpx.Client(base_url=base, timeout=30) as web:
        english = web.get(link + "?lang=en")
        assert english.status_code == 200 and "Save answer" in english.text and 'lang="en"' in english.text
        assert [web.get(link).status_code for _ in range(3)] == [200, 200, 429]
        assert "Even geduld" in web.get(link).text


async def test_a_link_past_its_round_end_or_for_a_member_who_left_gets_no_data(world, tmp_path) -> None:  # type: ignore[no-untyped-def]
    bot, clock, inbox, port = world
    p = bot.partnerships()[PID]
    await post_reflection(p, SLOT, bot.rt)
    ann, bart = inbox.to("ann@example.org")[0].link, inbox.to("bart@example.org")[0].link
    # bart leaves the partnership: his link stops working
    source = tmp_path / "partnerschappen" / f"{PID}.yaml"
    source.write_text(source.read_text(encoding="utf-8").replace("      - name: Bart Test\n        id: bart\n", "      - name: Bert Ander\n        id: bert\n"), encoding="utf-8")
    assert bot.load() == []
    app = create_app(bot.rt, bot.partnerships, bot.rt.links)
    with web_server(app, port) as base, httpx.Client(base_url=base, timeout=30) as web:
        assert web.get(bart).status_code == 404
        assert web.get(ann).status_code == 200
        clock.now = datetime(2027, 1, 10, tzinfo=UTC)  # after the end of the first term
        expired = web.get(ann)
        assert expired.status_code == 410 and "Ann" not in expired.text


async def test_a_barometer_round_is_mailed_once_and_its_six_bouwstenen_count_as_the_members_votes(world, tmp_path) -> None:  # type: ignore[no-untyped-def]
    bot, clock, inbox, port = world
    source = tmp_path / "partnerschappen" / f"{PID}.yaml"
    source.write_text(source.read_text(encoding="utf-8").replace("barometer: {full: false}", "barometer: {full: true}"), encoding="utf-8")
    assert bot.load() == []
    p, rt = bot.partnerships()[PID], bot.rt
    await run_barometer(p, SLOT, rt)
    await run_barometer(p, SLOT, rt)  # the round's start handled twice: still one mail each
    assert sorted(r.to[0] for r in inbox.received) == ["ann@example.org", "bart@example.org"]
    mail = inbox.to("bart@example.org")[0]
    assert mail.message["Subject"] == "Barometer voor Barometer proef" and "zes bouwstenen" in mail.body
    with web_server(create_app(rt, bot.partnerships, rt.links), port) as base, httpx.Client(base_url=base, timeout=30) as web:
        page = web.get(mail.link)
        assert page.status_code == 200 and page.text.count("<fieldset>") == 6
        assert 'name="answer"' not in page.text  # the six ratings only
        chosen = {"score-doel": "2", "score-communicatie": "4", "score-vertrouwen": "5"}
        saved = web.post(mail.link, data={**chosen, "csrf": csrf_of(page.text)})
        assert saved.status_code == 303
        votes = {(v[0], v[1]): v[2] for v in rt.store.open_votes(PID, round_id(rt))}
        assert votes == {("bart", "doel"): 2, ("bart", "communicatie"): 4, ("bart", "vertrouwen"): 5}
        again = web.get(saved.headers["location"])
        assert 'id="score-doel-2" value="2" checked' in again.text
        assert rt.store.answers(PID) == []


async def test_a_refused_mail_is_tried_again_on_the_next_run_not_lost_and_not_doubled(world) -> None:  # type: ignore[no-untyped-def]
    bot, clock, inbox, port = world
    rt = bot.rt
    p = bot.partnerships()[PID]
    inbox.refuse = {"ann@example.org"}  # the server refuses one mailbox for now
    with pytest.raises(PlatformError):
        await post_reflection(p, SLOT, rt)
    assert [r.to[0] for r in inbox.received] == ["bart@example.org"]
    key = rt.store.post_keys(PID, "reflection")[0]
    entry = rt.store.outbox_entry("email", f"{key}/mail/ann")
    assert entry is not None and entry["status"] == "pending" and "refused" in entry["last_error"]
    inbox.refuse = set()  # the mailbox is back: the next run sends ann's mail, and bart's not again
    await post_reflection(p, SLOT, rt)
    await post_reflection(p, SLOT, rt)
    assert sorted(r.to[0] for r in inbox.received) == ["ann@example.org", "bart@example.org"]


async def test_a_mail_sent_again_after_a_crash_carries_the_same_message_id(world, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """brug dies after the SMTP server took the mail but before marking it sent: the next run sends it
    again (SMTP cannot be asked), as the same message: one Message-ID, which mail systems show once."""
    bot, clock, inbox, port = world
    rt = bot.rt
    p = bot.partnerships()[PID]
    mark_sent = rt.store.mark_sent

    def crash(platform: str, key: str, ref: str) -> None:
        if platform == "email":
            raise KeyboardInterrupt("killed between the server's 250 and the outbox")
        mark_sent(platform, key, ref)

    monkeypatch.setattr(rt.store, "mark_sent", crash)
    with pytest.raises(KeyboardInterrupt):
        await post_reflection(p, SLOT, rt)
    monkeypatch.setattr(rt.store, "mark_sent", mark_sent)
    await post_reflection(p, SLOT, rt)
    await post_reflection(p, SLOT, rt)
    to_ann = inbox.to("ann@example.org")
    assert len(to_ann) == 2  # at least once: the one in flight went again
    ids = {mail.message["Message-ID"] for mail in to_ann}
    assert len(ids) == 1 and next(iter(ids)).startswith("<brug.")
    assert len(inbox.to("bart@example.org")) == 1  # the next member's mail was never sent twice
    other = inbox.to("bart@example.org")[0].message["Message-ID"]
    assert other not in ids
