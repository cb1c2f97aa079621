"""The pacer learns each of the homeserver's limits apart, relaxes again, and survives a restart."""

from __future__ import annotations

import pytest

from brug.adapters.pacing import Pacer


class Time:
    """A clock that only moves when brug sleeps (or the test says so)."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


def pacer(clock: Time, saved: str | None = None, into: list[str] | None = None) -> Pacer:
    return Pacer(saved, into.append if into is not None else None, clock=clock, sleep=clock.sleep)


async def test_nothing_waits_before_the_homeserver_refused_anything() -> None:
    clock = Time()
    p = pacer(clock)
    for _ in range(50):
        assert await p.before(("event",)) == 0
    assert clock.now == 1_000_000.0


async def test_after_a_refusal_requests_wait_for_the_token_and_the_pace_relaxes_when_quiet() -> None:
    clock = Time()
    p = pacer(clock)
    p.limited("event", 4.0)  # Synapse: the message bucket (0.2/s, burst 10) is full
    assert await p.before(("event",)) == pytest.approx(4.4)  # what the server asked, plus a margin
    assert await p.before(("event",)) == pytest.approx(5.0)  # then one per refill interval
    clock.now += 60  # quiet for a minute: the bucket is full again
    waits = [await p.before(("event",)) for _ in range(11)]
    assert waits[:10] == [0] * 10 and waits[10] == pytest.approx(5.0)


async def test_a_refusal_about_one_invitee_holds_back_only_that_persons_invites() -> None:
    clock = Time()
    p = pacer(clock)
    p.limited("invitee:@an:x", 333.0)
    assert p.wait_for(["invitee:@an:x"]) == pytest.approx(366.3)
    assert p.wait_for(["event"]) == 0 and p.wait_for(["invitee:@bert:x"]) == 0
    assert await p.before(("event", "invitee:@bert:x")) == 0  # others go on at once
    assert p.interval("event") == 0  # brug's own pace learned nothing from it


async def test_a_short_first_wait_does_not_teach_a_too_fast_pace() -> None:
    clock = Time()
    p = pacer(clock)
    p.limited("event", 0.3)  # the bucket was nearly refilled when it refused
    assert p.interval("event") == pytest.approx(5.0)  # never faster than Synapse's default once limited


async def test_a_bucket_smaller_than_assumed_is_learned() -> None:
    clock = Time()
    p = pacer(clock)
    p.limited("event", 5.0)
    clock.now += 100  # full again, as far as brug knows (10 at once)
    for _ in range(3):
        await p.before(("event",))
    p.limited("event", 5.0)  # but the server refused the third: it holds 2
    clock.now += 100
    waits = [await p.before(("event",)) for _ in range(3)]
    assert waits[:2] == [0, 0] and waits[2] > 0


async def test_the_state_survives_a_restart_so_the_first_request_waits_for_its_token() -> None:
    clock = Time()
    saved: list[str] = []
    p = pacer(clock, into=saved)
    p.limited("invitee:@an:x", 333.0)
    p.limited("event", 5.0)
    clock.now += 100  # brug restarts 100 s later
    again = pacer(clock, saved[-1], saved)
    assert again.wait_for(["invitee:@an:x"]) == pytest.approx(266.3)
    assert again.wait_for(["event"]) == 0  # that one refilled meanwhile
    clock.now += 2000  # long after: the person's budget is whole again, and forgotten
    again.save()
    assert "invitee:@an:x" not in saved[-1] and "event" in saved[-1]


def test_an_unreadable_state_is_forgotten_not_fatal() -> None:
    assert pacer(Time(), "{not json").buckets == {}


def test_a_long_apply_says_why_it_is_slow_and_who_can_lift_the_limit() -> None:
    import io

    from rich.console import Console
    from rich.progress import Progress

    from brug.cli import ApplyProgress

    screen = Console(file=io.StringIO(), width=200)
    with Progress(console=screen) as bar:
        shown = ApplyProgress(bar, bar.add_task("werkruimtes", total=1))
        shown.step("groot", "matrix: invite 12/60 (space)")
        shown.rate_limited("matrix", 5.0, 240.0, "POST /_synapse/admin/v1/users/@brug:x/override_ratelimit")
        assert "groot · matrix: invite 12/60 (space)" in bar.tasks[0].description and "4 min" in bar.tasks[0].description
        shown.rate_limited("matrix", 5.0, 235.0, "POST /_synapse/admin/v1/users/@brug:x/override_ratelimit")
    printed = screen.file.getvalue()  # type: ignore[attr-defined]
    assert printed.count("override_ratelimit") == 1  # said once, not at every wait
    assert "nog ongeveer 4 min voor groot" in printed or "about 4 min left for groot" in printed


async def test_the_pace_relaxes_after_successes_when_the_limit_was_lifted() -> None:
    clock = Time()
    p = pacer(clock)
    p.limited("event", 5.0)
    for _ in range(30):  # thirty requests at the learned pace, none refused
        await p.before(("event",))
        p.succeeded(("event",))
    assert p.probe_due(("event",))
    assert await p.before(("event",), probe=True) == 0  # tried without waiting ...
    p.succeeded(("event",), probe=True)
    assert p.interval("event") == pytest.approx(5.5 / 2)  # ... it went through: half the interval
    p.limited("event", 5.0)  # had it been refused, the pace is back where the server wants it
    assert p.interval("event") == pytest.approx(5.5) and not p.probe_due(("event",))
    probes = 0
    while "event" in p.buckets:  # the limit is gone: each probe halves the interval until it is forgotten
        for _ in range(30):
            await p.before(("event",))
            p.succeeded(("event",))
        assert p.probe_due(("event",))
        p.succeeded(("event",), probe=True)
        probes += 1
    assert p.interval("event") == 0 and probes == 7  # 5.5 s -> under 0.05 s
