"""Leases on a real PostgreSQL: claim, renew, expire, fair share, listener election, the outbox's guard.

Several `brug run` share one PostgreSQL store; each partnership is worked on by one instance at a time
(brug/leases.py). These tests drive `Coordinator`s directly against the PostgreSQL the tests start;
the crash test with real processes and a real Synapse is tests/matrix/test_instances_crash.py.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from brug.app.leases import Coordinator, LeaseLost, listener_name, spread
from brug.app.lock import instance_lock
from brug.store import Store
from tests.conftest import EXAMPLES
from tests.postgres import PostgresServer
from tests.test_workspace_local import NOW

NAMES = [f"p{n:02d}" for n in range(10)]
MATRIX = listener_name("matrix")


@pytest.fixture
def store(postgres: PostgresServer):  # type: ignore[no-untyped-def]
    s = Store(postgres.url())
    yield s
    s.close()
    postgres.disconnect_all()


def owners(store: Store) -> dict[str, str | None]:
    with store.engine.connect() as conn:
        return dict(conn.execute(text("SELECT name, owner FROM leases")).all())  # type: ignore[arg-type]


def coordinator(store: Store, name: str, ttl: float = 30, renew: float = 10) -> Coordinator:
    c = Coordinator(store.engine, ttl=ttl, renew=renew, instance_id=name, host="host-" + name, pid=100)
    c.register()
    return c


def test_two_instances_split_the_partnerships_fairly_and_a_third_gets_its_share(store: Store) -> None:
    a = coordinator(store, "a")
    first = a.tick(NAMES, [MATRIX])
    assert first.gained == NAMES and first.share == 10 and first.live == 1  # alone: everything
    assert first.listeners_gained == [MATRIX] and a.holds(MATRIX)
    b = coordinator(store, "b")
    assert b.tick(NAMES, [MATRIX]).gained == []  # all held by a, and not expired
    # two alive: a keeps ceil(10/2) = 5 and hands back the rest in `spread` order (a hash, not the names')
    handed_back = sorted(sorted(NAMES, key=spread)[5:])
    assert a.tick(NAMES, [MATRIX]).released == handed_back
    assert b.tick(NAMES, [MATRIX]).gained == handed_back
    assert b.held == set(handed_back) and a.held == set(NAMES) - set(handed_back)
    assert not b.holds(MATRIX)  # one listener, on a
    c = coordinator(store, "c")
    for instance in (a, b, c, a, b, c):
        instance.tick(NAMES, [MATRIX])
    sizes = sorted(len(x.held) for x in (a, b, c))
    assert sizes == [2, 4, 4] or sizes == [3, 3, 4], sizes  # ceil(10/3) = 4 at most each, and all held
    assert a.held.isdisjoint(b.held) and b.held.isdisjoint(c.held) and a.held.isdisjoint(c.held)
    assert a.held | b.held | c.held == set(NAMES)
    assert set(owners(store).values()) == {"a", "b", "c"}


def test_a_dead_instances_leases_expire_and_are_taken_over_with_a_log_line(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    a = coordinator(store, "a", ttl=2, renew=0.5)
    b = coordinator(store, "b", ttl=2, renew=0.5)
    a.tick(NAMES, [MATRIX])
    a.tick(NAMES, [MATRIX])  # b is alive: a keeps its share
    b.tick(NAMES, [MATRIX])
    assert len(a.held) == len(b.held) == 5 and a.holds(MATRIX)
    for _ in range(3):  # renewing keeps them past the ttl
        time.sleep(0.8)
        a.tick(NAMES, [MATRIX])
        b.tick(NAMES, [MATRIX])
    assert len(a.held) == len(b.held) == 5
    held_by_a = set(a.held)
    # a dies (no more ticks); its heartbeat and leases run out after the ttl
    time.sleep(1.0)
    b.tick(NAMES, [MATRIX])
    assert len(b.held) == 5, "not expired yet: nothing taken over"
    time.sleep(1.3)
    with caplog.at_level(logging.INFO, logger="brug.app.leases"):
        took = b.tick(NAMES, [MATRIX])
    assert set(took.gained) == held_by_a and took.live == 1 and b.held == set(NAMES)
    assert took.listeners_gained == [MATRIX] and b.holds(MATRIX)
    lines = [r.getMessage() for r in caplog.records]
    assert any(line.startswith("took over 5 partnership(s) from instance a (expired ") for line in lines), lines
    assert "elected to run the Matrix listener" in lines
    assert not a.holds(sorted(held_by_a)[0])  # a's own view ran out too: it would post nothing more
    assert a.tick(NAMES, [MATRIX]).lost == sorted(held_by_a)  # a comes back: it learns it lost them


def test_partnerships_due_together_are_split_evenly_between_two_instances(store: Store) -> None:
    """Ids given out in sequence come due together (a region's prompts at the same hour): each instance's
    share must be a sample across all partnerships, not a range of names, or one instance does all of it."""
    names = [f"school-{i:05d}" for i in range(400)]
    a, b = coordinator(store, "a"), coordinator(store, "b")
    for instance in (a, b, a, b):
        instance.tick(names)
    assert len(a.held) == len(b.held) == 200 and a.held | b.held == set(names)
    for due in (names[:100], names[100:200], names[::4]):  # by name the first two would all be a's
        assert 35 <= len(a.held.intersection(due)) <= 65, len(a.held.intersection(due))


def guarded(store: Store, c: Coordinator, in_one_statement: bool) -> None:
    """The outbox claims posts for `c`: a new post in one statement (as `brug run` does), or in the guard's
    transaction (the path for a post claimed before, and for a lost lease)."""
    store.outbox_guard = (c.id, c.guard)
    store.outbox_lease = c.held_query if in_one_statement else None


@pytest.mark.parametrize("in_one_statement", [True, False], ids=["one-statement", "transaction"])
def test_the_outbox_claims_a_post_only_while_the_lease_is_held(store: Store, in_one_statement: bool) -> None:
    a = coordinator(store, "a")
    b = coordinator(store, "b")
    a.tick(NAMES)
    b.tick(NAMES)
    mine, theirs = sorted(a.held)[0], sorted(b.held)[-1]
    guarded(store, a, in_one_statement)
    assert store.enqueue("matrix", f"{mine}/welcome", mine, "algemeen", "welcome", "Welkom") is None
    entry = store.outbox_entry("matrix", f"{mine}/welcome")
    assert entry is not None and entry["claims"] == 1 and entry["claimed_by"] == "a"
    with pytest.raises(LeaseLost):  # a does not hold it: no claim, no row
        store.enqueue("matrix", f"{theirs}/welcome", theirs, "algemeen", "welcome", "Welkom")
    assert store.outbox_entry("matrix", f"{theirs}/welcome") is None
    # b takes `mine` over after a died: the entry was claimed and not marked sent, so b looks first
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE leases SET expires_at = now() - interval '1 second' WHERE owner = 'a'"))
        conn.execute(text("UPDATE instances SET heartbeat = now() - interval '1 hour' WHERE id = 'a'"))
    b.tick(NAMES)
    assert mine in b.held
    guarded(store, b, in_one_statement)
    assert store.enqueue("matrix", f"{mine}/welcome", mine, "algemeen", "welcome", "Welkom") == "pending"
    entry = store.outbox_entry("matrix", f"{mine}/welcome")
    assert entry is not None and entry["claims"] == 2 and entry["claimed_by"] == "b"
    guarded(store, a, in_one_statement)
    with pytest.raises(LeaseLost):  # a lost it: even a post it had claimed is not its to send now
        store.enqueue("matrix", f"{mine}/welcome", mine, "algemeen", "welcome", "Welkom")


@pytest.mark.parametrize("in_one_statement", [True, False], ids=["one-statement", "transaction"])
def test_a_lease_about_to_expire_claims_no_post(store: Store, in_one_statement: bool) -> None:
    a = coordinator(store, "a", ttl=30, renew=10)
    a.tick(NAMES)
    guarded(store, a, in_one_statement)
    with store.engine.begin() as conn:  # 5 s left: less than the margin a send may take
        conn.execute(text("UPDATE leases SET expires_at = now() + interval '5 seconds'"))
    with pytest.raises(LeaseLost):
        store.enqueue("local", "p00/x", "p00", "algemeen", "welcome", "x")


def test_a_chat_event_is_claimed_and_the_sync_token_stored_only_by_the_elected_listener(store: Store) -> None:
    """The lease check shares the transaction that finds an event unhandled or stores where reading goes
    on: a listener that stalled past its lease neither handles a command nor sets the holder's token back
    (the race itself, with Synapse and Talk: tests/matrix/test_listener_race.py, tests/nextcloud/…)."""
    a = coordinator(store, "a")
    b = coordinator(store, "b")
    assert a.tick([], [MATRIX]).listeners_gained == [MATRIX]
    b.tick([], [MATRIX])
    store.listener_guard = a.guard_listener
    assert store.claim_event("matrix", "$one")  # a listens: unhandled, a handles it
    store.still_listening("matrix")
    store.put_sync_token("matrix", "@brug:x", "s1", listening=True)
    store.mark_processed("matrix", "$one")
    assert not store.claim_event("matrix", "$one")  # handled: never again
    with store.engine.begin() as conn:  # a stalls past its lease; b is elected
        conn.execute(text("UPDATE leases SET expires_at = now() - interval '1 second' WHERE owner = 'a'"))
    assert b.tick([], [MATRIX]).listeners_gained == [MATRIX]
    for attempt in (
        lambda: store.claim_event("matrix", "$two"),
        lambda: store.still_listening("matrix"),
        lambda: store.put_sync_token("matrix", "@brug:x", "s0", listening=True),
    ):
        with pytest.raises(LeaseLost):
            attempt()
    assert store.sync_token("matrix", "@brug:x") == "s1"
    with pytest.raises(LeaseLost):  # Talk has a listener lease of its own, held by nobody here
        store.claim_event("nextcloud", "tok:1")
    store.listener_guard = b.guard_listener
    assert store.claim_event("matrix", "$two")
    store.listener_guard = None  # one instance (SQLite, or no leases): every event is its own
    assert store.claim_event("nextcloud", "tok:1")
    store.put_sync_token("matrix", "@brug:x", "s2", listening=True)
    assert store.sync_token("matrix", "@brug:x") == "s2"


def test_instances_ticking_at_once_never_hold_the_same_partnership(store: Store) -> None:
    names = [f"q{n:03d}" for n in range(60)]
    coordinators = [coordinator(store, f"i{n}") for n in range(3)]
    seen_overlap: list[str] = []

    def run(c: Coordinator) -> None:
        for _ in range(8):
            c.tick(names, [MATRIX])

    threads = [threading.Thread(target=run, args=(c,)) for c in coordinators]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for c in coordinators:  # one more round so that each settles at its share
        c.tick(names, [MATRIX])
    held = [c.held for c in coordinators]
    for i, one in enumerate(held):
        for other in held[i + 1 :]:
            seen_overlap += sorted(one & other)
    assert seen_overlap == []
    assert sorted(len(h) for h in held) == [20, 20, 20]
    assert sum(c.holds(MATRIX) for c in coordinators) == 1


def test_a_clean_stop_hands_everything_back_at_once(store: Store) -> None:
    a = coordinator(store, "a")
    a.tick(NAMES, [MATRIX])
    b = coordinator(store, "b")
    assert a.release_all() == 11
    assert set(owners(store).values()) == {None}
    took = b.tick(NAMES, [MATRIX])  # no waiting for an expiry
    assert took.gained == NAMES and took.listeners_gained == [MATRIX] and took.live == 1


def test_a_command_elsewhere_asks_the_holder_to_apply(store: Store) -> None:
    a = coordinator(store, "a")
    b = coordinator(store, "b")
    a.tick(NAMES)
    held = sorted(a.held)[0]
    b.want_apply(held)
    assert a.tick(NAMES).wanted == [held]
    assert a.tick(NAMES).wanted == []  # once


@pytest.fixture
def project(in_tmp: Path) -> Path:
    folder = in_tmp / "partnerschappen"
    folder.mkdir()
    shutil.copy(EXAMPLES[0], folder / EXAMPLES[0].name)
    return in_tmp


def test_on_sqlite_a_second_run_is_refused_and_told_why(cli, project: Path) -> None:  # type: ignore[no-untyped-def]
    (project / "brug.toml").write_text('workspace = "werkruimte"\nstate = "staat/brug.db"\n', encoding="utf-8")
    with instance_lock(project / "staat" / "brug.db"):
        result = cli("--now", NOW, "run")
    assert result.exit_code == 1
    line = result.stderr.strip()
    assert line.startswith(f"✗ Er draait al een brug (proces {os.getpid()}) met "), line
    assert "maar één 'brug run' tegelijk" in line and "PostgreSQL" in line, line
    shown = cli("status", "--instances")
    assert shown.exit_code == 0 and "(SQLite): daar draait één 'brug run'" in shown.output, shown.output


def test_status_instances_shows_who_holds_what(cli, project: Path, store: Store) -> None:  # type: ignore[no-untyped-def]
    (project / "brug.toml").write_text(f'workspace = "werkruimte"\nstate = "{store.url}"\n', encoding="utf-8")
    a = coordinator(store, "aaaa")
    b = coordinator(store, "bbbb")
    a.tick(NAMES, [MATRIX])
    a.tick(NAMES, [MATRIX])
    b.tick(NAMES, [MATRIX])
    result = cli("status", "--instances", "-v")
    assert result.exit_code == 0, result.output + (result.stderr or "")
    lines = result.output.splitlines()
    assert lines[0].startswith("2 instantie(s) actief (een huur duurt 30 s"), lines
    a_line = next(line for line in lines if line.strip().startswith("aaaa"))
    assert "host-aaaa" in a_line and "proces 100" in a_line and "5 samenwerking(en)" in a_line
    assert "luistert: matrix" in a_line
    assert ", ".join(sorted(a.held)) in result.output
    assert "samenwerkingen: 10 in huur, 0 vrij of verlopen" in result.output
    assert "luisteraar matrix: aaaa (host-aaaa, proces 100)" in result.output


def test_a_renewal_longer_than_half_the_lease_is_refused_with_the_file_and_field(cli, project: Path) -> None:  # type: ignore[no-untyped-def]
    (project / "brug.toml").write_text(
        'workspace = "werkruimte"\n[instances]\nlease_seconds = 10\nrenew_seconds = 8\n', encoding="utf-8"
    )
    result = cli("validate")
    assert result.exit_code == 1
    assert "brug.toml: instances: renew_seconds mag hoogstens de helft van lease_seconds" in result.stderr
