"""One message can no longer silence brug (issue 15), on a real Synapse with its default rate limits.

The scenario: a 40,000-character command is refused kindly and the next command is answered at
once; a reply the homeserver refuses for good (`M_TOO_LARGE`) is apologised for once and never
replayed, also not after a restart; an agenda point stored before the cap no longer keeps the agenda
from being posted; outsiders' answers are not kept; `!pauze` is for coordinators.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import brug.adapters.matrix as matrix_module
from brug.adapters.matrix import MAX_EVENT_BYTES
from brug.app.jobs import post_agenda, post_reflection
from brug.content.library import load_library
from brug.devservers.synapse import LocalSynapse
from brug.ports import PlatformError
from tests.matrix.world import NOW, Partner, World, bot_messages, listening_bot, room_of

pytestmark = pytest.mark.slow


def replies_to(events: list[dict], bot_id: str) -> dict[str, list[str]]:
    """The bot's answers in threads, by the event they answer."""
    out: dict[str, list[str]] = {}
    for e in bot_messages(events, bot_id):
        relates = e["content"].get("m.relates_to", {})
        if relates.get("rel_type") == "m.thread":
            out.setdefault(relates["event_id"], []).append(e["content"]["body"])
    return out


def event_size(event: dict) -> int:
    import json

    return len(json.dumps(event, ensure_ascii=False).encode())


@pytest.mark.long  # Synapse's default rate limits: minutes of waiting
async def test_one_long_command_no_longer_silences_brug(
    synapse_ratelimited: LocalSynapse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "partnerschappen").mkdir()
    hs = synapse_ratelimited
    world = World(hs, hs.register("brugstil", "pw"), tmp_path, load_library())
    an, bert, cas = (Partner(hs, hs.register(name, "pw")) for name in ("stil-an", "stil-bert", "stil-cas"))
    members = [("An", an.user_id, True), ("Bert", bert.user_id, False)]
    bot = await listening_bot(world, "stil", "Stil", members, an)
    await bert.accept_invites()
    matrix, bot_id = world.matrix(bot), world.bot_account.user_id
    overleg, reflectie = room_of(bot, "stil", "overleg"), room_of(bot, "stil", "reflectie")

    # 1. the 40,000-character command is refused kindly; the next command is answered in the same round
    huge = await an.say(overleg, "!agendapunt " + "&" * 40_000)
    status = await bert.say(overleg, "!status")
    assert await matrix.sync_once(bot.handle) == 2
    answers = replies_to(await an.timeline(overleg), bot_id)
    assert "te lang" in answers[huge][0] and "200 tekens" in answers[huge][0] and "40.000" in answers[huge][0]
    assert "Fase" in answers[status][0]
    assert bot.rt.store.open_agenda_items("stil") == []

    # 2. a reply the homeserver refuses for good is recorded, apologised for once, and the message is done
    monkeypatch.setattr(matrix_module, "split_to_fit", lambda markdown, fits, **_: [markdown])  # no fitting
    monkeypatch.setattr(
        bot.conversation, "_help", lambda p, command: "Hulp\n\n" + "\n\n".join(["x" * 1000] * 70)
    )
    too_large = await an.say(overleg, "!hulp")
    assert await matrix.sync_once(bot.handle) == 1
    monkeypatch.undo()
    failures = bot.rt.store.event_failures("stil")
    assert [f["event_id"] for f in failures] == [too_large] and "M_TOO_LARGE" in failures[0]["error"]
    answers = replies_to(await an.timeline(overleg), bot_id)
    assert len(answers[too_large]) == 1 and "Sorry" in answers[too_large][0]
    await bot.rt.close()

    # 3. after a restart nothing is replayed, and the next command is answered
    bot = world.bot()
    matrix = world.matrix(bot)
    assert await matrix.sync_once(bot.handle) == 0
    pause = await bert.say(overleg, "!pauze")  # a member, not a coordinator
    assert await matrix.sync_once(bot.handle) == 1
    answers = replies_to(await an.timeline(overleg), bot_id)
    assert "Alleen een coördinator" in answers[pause][0] and not bot.rt.store.is_paused("stil")
    assert len(answers[too_large]) == 1  # still apologised for once only

    # 4. an agenda point stored before the cap (39,988 characters) no longer stops the next agenda
    bot.rt.store.add_agenda_item("stil", "&" * 39_988, "An", "matrix:$from-before-the-cap")
    p = bot.partnerships()["stil"]
    meeting = p.meeting_times(NOW, 1)[0]
    key = await post_agenda(p, meeting, bot.rt)
    assert bot.rt.store.is_sent("matrix", key)
    agendas = [e for e in bot_messages(await an.timeline(overleg), bot_id) if "Wanneer:" in e["content"]["body"]]
    assert len(agendas) == 1 and event_size(agendas[0]) < MAX_EVENT_BYTES
    assert "&" * 199 + "…" in agendas[0]["content"]["body"] and "&" * 201 not in agendas[0]["content"]["body"]
    posted = bot.rt.store.outbox_entry("matrix", key)["content"]  # type: ignore[index]
    assert "Verslag door" not in posted and "_…_" not in posted  # the agenda only, not the minutes template

    # 5. an outsider's answer in a prompt's thread is refused and not kept; a member's is
    prompt_key = await post_reflection(p, NOW, bot.rt)
    prompt = bot.rt.store.sent_post_by_key("matrix", prompt_key)
    assert prompt is not None
    await an.client.room_invite(reflectie, cas.user_id)
    await cas.accept_invites()
    await cas.say(reflectie, "Ik vind er ook iets van", thread_root=prompt)
    member = await an.say(reflectie, "We luisteren beter naar elkaar", thread_root=prompt)
    assert await matrix.sync_once(bot.handle) == 2
    assert [(a.author, a.text) for a in bot.rt.store.answers("stil")] == [("An", "We luisteren beter naar elkaar")]
    events = await an.timeline(reflectie)
    in_thread = replies_to(events, bot_id)[prompt]  # brug answers in the prompt's thread
    assert len(in_thread) == 1 and "niet bewaard" in in_thread[0]
    thumbs = [e for e in events if e["type"] == "m.reaction" and e["sender"] == bot_id]
    assert [e["content"]["m.relates_to"]["event_id"] for e in thumbs] == [member]  # 👍 for the member only
    for person in (an, bert, cas):
        await person.close()
    await bot.rt.close()


async def test_a_message_over_the_event_limit_arrives_in_parts_and_a_refused_post_is_parked(
    synapse: LocalSynapse, tmp_path: Path
) -> None:
    """The homeserver's own limits, without rate limits: a 100 KB message is split into events that
    fit; a post the homeserver keeps refusing (the bot is not in the room) is parked after five tries."""
    from brug.app.jobs import deliver
    from brug.app.service import PARK_AFTER

    (tmp_path / "partnerschappen").mkdir()
    world = World(synapse, synapse.register("brugdelen", "pw"), tmp_path, load_library())
    an = Partner(synapse, synapse.register("delen-an", "pw"))
    bot = await listening_bot(world, "delen", "Delen", [("An", an.user_id, True)], an)
    matrix, bot_id = world.matrix(bot), world.bot_account.user_id
    overleg = room_of(bot, "delen", "overleg")
    paragraphs = [f"**Punt {n}** " + "tekst & uitleg <b> " * 60 for n in range(90)]  # ~100 KB, ~130 KB as HTML
    first = await matrix.post("delen", "overleg", "delen/lang/1", "agenda", "\n\n".join(paragraphs))
    events = [e for e in bot_messages(await an.timeline(overleg), bot_id) if "Punt" in e["content"]["body"]]
    assert events[0]["event_id"] == first and len(events) >= 3
    assert all(event_size(e) < MAX_EVENT_BYTES for e in events)
    bodies = "\n".join(e["content"]["body"] for e in events)
    assert all(f"Punt {n}**" in bodies for n in range(90)) and f"(1/{len(events)})" in events[0]["content"]["body"]
    # the same key again posts nothing new (each part has its own transaction id)
    assert await matrix.post("delen", "overleg", "delen/lang/1", "agenda", "\n\n".join(paragraphs)) == first
    assert len([e for e in bot_messages(await an.timeline(overleg), bot_id) if "Punt" in e["content"]["body"]]) == len(
        events
    )

    # a room brug is not in: the homeserver refuses every attempt; the fifth parks the post
    elsewhere = await an.client.room_create(name="Niet van brug")
    bot.rt.store.put_resource("delen", "matrix", "room", "elders", elsewhere.room_id)
    p = bot.partnerships()["delen"]
    for attempt in range(1, PARK_AFTER + 1):
        if attempt < PARK_AFTER:
            with pytest.raises(PlatformError, match="M_FORBIDDEN"):
                await deliver(bot.rt, p, "delen/elders/1", "elders", "agenda", "Hallo")
        else:
            await deliver(bot.rt, p, "delen/elders/1", "elders", "agenda", "Hallo")  # parked: no longer raises
    parked = bot.rt.store.parked_posts("delen")
    assert [(r["platform"], r["key"], r["attempts"]) for r in parked] == [("matrix", "delen/elders/1", PARK_AFTER)]
    assert bot.rt.store.is_sent("local", "delen/elders/1")  # the transcript had it at once
    await deliver(bot.rt, p, "delen/elders/1", "elders", "agenda", "Hallo")  # and it is not tried again
    assert bot.rt.store.parked_posts("delen")[0]["attempts"] == PARK_AFTER
    await an.close()
    await bot.rt.close()
