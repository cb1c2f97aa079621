"""brug dies between creating something on Nextcloud and remembering it; it starts again.

For each create step (Team, share, conversation, Deck board, calendar) the run is cut right after
the server made the thing and before brug's store recorded it — the worst moment. brug then starts
again with its state database, or without it (lost), and the server must hold exactly one of each.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from brug.store import Store

from .test_adapter_workspace import folder, library, make_bot, nc, partnership  # noqa: F401


class Crash(BaseException):
    """The process dies (nothing in brug catches a BaseException)."""


STEPS = {  # step -> (store method, matcher of its arguments)
    "team": ("put_resource", lambda args: args[2] == "team"),
    "share": ("put_resource", lambda args: args[2] == "share"),
    "conversation": ("put_resource", lambda args: args[2] == "talk"),
    "board": ("put_resource", lambda args: args[2] == "deck-board"),
    "calendar": ("put_sync_token", lambda args: args[1].startswith("calendar:/")),
    "event": ("put_resource", lambda args: args[2] == "cal-event"),
}


@pytest.fixture
def crash_at(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    armed: dict[str, object] = {}

    def arm(step: str) -> None:
        method, matches = STEPS[step]
        original = getattr(Store, method)

        def dying(self: Store, *args: object, **kwargs: object) -> object:
            if armed.get("on") and matches(args):
                armed["on"] = False
                raise Crash(step)
            return original(self, *args, **kwargs)

        armed["on"] = True
        monkeypatch.setattr(Store, method, dying)

    yield arm


def one_of_each(nc, pid: str) -> None:  # type: ignore[no-untyped-def]
    assert len(nc.state.circles) == 1, "Teams"
    assert [(s.share_type, s.share_with) for s in nc.state.shares.values()] == [
        (7, next(iter(nc.state.circles)))
    ], "shares"
    assert len(nc.state.rooms) == 1, "conversations"
    assert len(nc.state.boards) == 1, "boards"
    calendars = [uri for owner, uri in nc.state.calendars if owner == "alice" and uri != "personal"]
    assert calendars == ["brug-overleggen"], "calendars"
    events = nc.state.calendars[("alice", "brug-overleggen")].objects
    uids = [obj.data.decode().split("UID:", 1)[1].split("\r\n", 1)[0] for obj in events.values()]
    assert len(uids) == len(set(uids)) >= 1, "events"
    room = next(iter(nc.state.rooms.values()))
    comments = [m.message for m in room.messages if m.message_type == "comment"]
    assert len(comments) == len(set(comments)), "posts"


@pytest.mark.parametrize("keep_state", [True, False], ids=["with-state", "state-lost"])
@pytest.mark.parametrize("step", list(STEPS))
async def test_a_crash_after_each_create_leaves_exactly_one(  # type: ignore[no-untyped-def]
    nc, tmp_path: Path, folder, library, clock, crash_at, step: str, keep_state: bool
) -> None:
    partnership(folder, "crash", ["bob", "carol"])
    bot = make_bot(nc, tmp_path, library, clock)
    crash_at(step)
    with pytest.raises(Crash):
        await bot.apply()
    await bot.rt.close()
    if not keep_state:
        for leftover in tmp_path.glob("state.db*"):
            leftover.unlink()
    for _ in range(2):  # the restart, and one more run that must change nothing on the server
        again = make_bot(nc, tmp_path, library, clock)
        _, errors, report = await again.apply()
        assert errors == [], errors
        await again.rt.close()
    one_of_each(nc, "crash")
    assert {m.user_id for m in next(iter(nc.state.circles.values())).members} == {"alice", "bob", "carol"}


async def test_a_post_another_instance_may_have_sent_is_looked_for_in_talk_first(  # type: ignore[no-untyped-def]
    nc, tmp_path: Path, folder, library, clock
) -> None:
    """Two instances share the store. A has read the conversation's messages; B claims a prompt, sends it
    and dies before marking it sent; A takes the partnership over and claims it again. A reads the
    conversation again before sending (what it read earlier is stale), so Talk holds the prompt once."""
    partnership(folder, "twee", ["bob"])
    a = make_bot(nc, tmp_path, library, clock)
    _, errors, _ = await a.apply()  # the welcome: A has read the conversation
    assert errors == []
    b = make_bot(nc, tmp_path, library, clock)
    key, text = "twee/reflection/2026-11-02T09:00Z/q1", "Wat liep er goed deze maand?"
    assert b.rt.store.enqueue("nextcloud", key, "twee", "reflectie", "reflection", text) is None
    await b.rt.chats["nextcloud"].post("twee", "reflectie", key, "reflection", text)  # then B dies
    assert a.rt.store.enqueue("nextcloud", key, "twee", "reflectie", "reflection", text) == "pending"
    first = await a.rt.chats["nextcloud"].post("twee", "reflectie", key, "reflection", text)
    room = next(iter(nc.state.rooms.values()))
    sent = [m for m in room.messages if m.message == text]
    assert len(sent) == 1 and str(sent[0].id) == first
    for bot in (a, b):
        await bot.rt.close()
