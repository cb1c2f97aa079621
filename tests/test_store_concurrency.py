"""The store's writes under real concurrency: several writers on one real PostgreSQL at the same time.

Each writer has a `Store` of its own (its own engine and connections), as a separate `brug run`
process would, and all start together at a barrier. What must hold is what several instances on one
database need: a post enqueued once, an event handled once, distinct numbers, no lost counts, and no
writer ever failing because another one got there first.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest
from sqlalchemy import func, select

from brug.store import Store
from brug.store.schema import actions, invites, outbox, signals
from tests.postgres import PostgresServer

WRITERS = 6
T = TypeVar("T")


@pytest.fixture
def stores(postgres: PostgresServer) -> Iterator[list[Store]]:
    """One store per writer, all on the same fresh PostgreSQL schema."""
    url = postgres.url()
    made = [Store(url) for _ in range(WRITERS)]
    yield made
    for store in made:
        store.close()
    postgres.disconnect_all()


def together(stores: list[Store], work: Callable[[int, Store], T]) -> list[T]:
    """Run `work(i, store)` in one thread per store, released at once; every result, or the first error."""
    barrier = threading.Barrier(len(stores))
    results: list[Any] = [None] * len(stores)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work(i, stores[i])
        except BaseException as error:  # reported below: a writer must never fail because another got there first
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(stores))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "a writer hangs"
    assert not errors, f"{len(errors)} writers failed, the first: {errors[0]!r}"
    return results


def count(store: Store, table: Any, *where: Any) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


KEYS = [f"reflectie:p:2026-12-0{d}" for d in range(1, 10)] * 3  # every writer enqueues each key three times


def test_writers_enqueueing_the_same_keys_make_one_row_each_and_the_others_learn_it(stores: list[Store]) -> None:
    def enqueue_all(_: int, store: Store) -> list[str | None]:
        return [store.enqueue("matrix", key, "p", "algemeen", "reflection", f"vraag {key}") for key in KEYS]

    statuses = together(stores, enqueue_all)

    made = Counter(
        key for per_writer in statuses for key, status in zip(KEYS, per_writer, strict=True) if status is None
    )
    assert made == Counter(set(KEYS))  # each key made by exactly one call of one writer
    assert {s for per_writer in statuses for s in per_writer} == {None, "pending"}  # the others were told
    assert count(stores[0], outbox) == len(set(KEYS))
    assert [p["key"] for p in stores[0].pending("matrix")] and len(stores[0].pending("matrix")) == len(set(KEYS))


def test_writers_marking_the_same_events_see_each_handled_once(stores: list[Store]) -> None:
    events = [f"$event{i}" for i in range(40)]

    firsts = together(stores, lambda _, store: [store.mark_processed("matrix", e) for e in events])
    failures = together(
        stores, lambda i, store: [store.record_event_failure("matrix", e, "p", f"fout {i}") for e in events]
    )

    for results in (firsts, failures):
        assert [sum(per_writer[n] for per_writer in results) for n in range(len(events))] == [1] * len(events)
    assert len(stores[0].event_failures("p")) == len(events)


def test_actions_added_at_once_get_distinct_numbers_and_one_origin_counts_once(stores: list[Store]) -> None:
    per_writer = 8

    def add(i: int, store: Store) -> list[int]:
        numbers = [store.add_action("p", f"taak {i}.{n}", None, None, f"matrix:$w{i}n{n}") for n in range(per_writer)]
        numbers.append(store.add_action("p", "dezelfde taak", None, None, "matrix:$shared"))  # one origin, all writers
        return numbers

    results = together(stores, add)

    own = [n for numbers in results for n in numbers[:-1]]
    shared = {numbers[-1] for numbers in results}
    assert len(shared) == 1  # every writer got the number of the one row the shared origin made
    assert sorted(own + list(shared)) == list(range(1, WRITERS * per_writer + 2))  # 1, 2, … with no gap or twin
    assert count(stores[0], actions, actions.c.partnership_id == "p") == WRITERS * per_writer + 1
    assert [a.number for a in stores[0].actions("p")] == list(range(1, WRITERS * per_writer + 2))


def test_signals_raised_at_once_get_distinct_numbers(stores: list[Store]) -> None:
    at = datetime(2026, 12, 7, 10, tzinfo=UTC)

    def raise_signals(i: int, store: Store) -> list[tuple[int, bool]]:
        made = [
            store.add_signal(
                "p",
                text=f"signaal {i}.{n}",
                theme="wonen",
                level=None,
                raised_by="Els",
                organisation=None,
                at=at,
                origin=f"matrix:$s{i}n{n}",
            )
            for n in range(5)
        ]
        made.append(
            store.add_signal(
                "p",
                text="hetzelfde",
                theme="wonen",
                level=None,
                raised_by="Els",
                organisation=None,
                at=at,
                origin="matrix:$same",
            )
        )
        return made

    results = together(stores, raise_signals)

    assert sum(new for made in results for _, new in made) == WRITERS * 5 + 1
    numbers = sorted({n for made in results for n, _ in made})
    assert numbers == list(range(1, WRITERS * 5 + 2))
    assert count(stores[0], signals, signals.c.partnership_id == "p") == WRITERS * 5 + 1
    assert all(len(s.events) == 1 for s in stores[0].signals("p"))  # each raised once, with one step


def test_agreement_versions_recorded_at_once_are_numbered_one_by_one(stores: list[Store]) -> None:
    at = datetime(2026, 12, 7, 10, tzinfo=UTC)

    def add(i: int, store: Store) -> list[int]:
        return [
            store.add_agreement_version(
                "p",
                sha256=f"{i}{n}".ljust(64, "0"),
                fingerprint="f",
                platform="local",
                who=None,
                sections=[],
                content=f"versie {i}.{n}",
                at=at,
            )
            for n in range(4)
        ]

    numbers = sorted(n for made in together(stores, add) for n in made)
    assert numbers == list(range(1, WRITERS * 4 + 1))


def test_upserts_at_once_keep_one_row_and_count_every_update(stores: list[Store]) -> None:
    rounds = 10

    def write(i: int, store: Store) -> None:
        for n in range(rounds):
            store.put_resource("p", "matrix", "room", "algemeen", f"!room{i}.{n}:example.org")
            store.record_invite("p", "matrix", "!room:example.org", "@els:example.org", "invited")
            store.put_sync_token("matrix", "@brug:example.org", f"s{i}.{n}")
            store.set_paused("p", True, by=f"writer {i}")

    together(stores, write)

    assert len(stores[0].resources("matrix", "room", "p")) == 1
    with stores[0].engine.connect() as conn:
        attempts = conn.execute(select(invites.c.attempts)).scalars().all()
    assert attempts == [WRITERS * rounds]  # the first call made it (1), every later call added one
    assert stores[0].sync_token("matrix", "@brug:example.org") is not None and stores[0].is_paused("p")


def test_failures_counted_at_once_are_all_counted(stores: list[Store]) -> None:
    stores[0].enqueue("matrix", "agenda:p:1", "p", "algemeen", "agenda", "agenda")

    together(
        stores,
        lambda i, store: [
            store.record_post_failure("matrix", "agenda:p:1", f"fout {i}", park_after=99) for _ in range(5)
        ],
    )

    assert stores[0].outbox_entry("matrix", "agenda:p:1")["attempts"] == WRITERS * 5


def test_answers_agenda_items_sign_offs_and_rounds_once_per_origin(stores: list[Store]) -> None:
    at = datetime(2026, 12, 7, 10, tzinfo=UTC)

    def write(i: int, store: Store) -> tuple[bool, int, bool, str, str]:
        answered = store.add_answer("p", "reflectie:p:1", "Els", "goed", "matrix", "$answer")
        item = store.add_agenda_item("p", "budget", "Els", "matrix:$item")
        signed = store.add_signoff(
            "p",
            organisation="school",
            member="els",
            member_name="Els",
            kind="signed",
            version=1,
            sha256="0" * 64,
            origin="matrix:$sign",
            at=at,
        )
        store.ensure_round("p", "2026-t1", at, None, 3)
        vote = store.record_vote("p", "2026-t1", "communicatie", "els", 3 + i % 2, "school", at)
        web = store.put_answer("p", "reflectie:p:2", "Els", f"via de link {i}", "web", "link:els:2")
        return answered, item, signed, vote, web

    results = together(stores, write)

    assert sum(r[0] for r in results) == 1 and sum(r[2] for r in results) == 1
    assert len({r[1] for r in results}) == 1 and len(stores[0].open_agenda_items("p")) == 1
    assert sorted(r[3] for r in results).count("new") == 1  # one vote made, the others replaced it
    assert sorted(r[4] for r in results).count("new") == 1  # one answer made, the others replaced it or were the same
    assert len(stores[0].answers("p")) == 2 and len(stores[0].signoffs("p")) == 1
    assert len(stores[0].barometer_rounds("p")) == 1 and len(stores[0].open_votes("p", "2026-t1")) == 1


def test_a_round_closing_while_votes_come_in_keeps_no_vote_behind(stores: list[Store]) -> None:
    at = datetime(2026, 12, 7, 10, tzinfo=UTC)
    stores[0].ensure_round("p", "2026-t1", at, None, 3)

    def write(i: int, store: Store) -> list[str] | bool:
        if i == 0:
            return store.close_round("p", "2026-t1", 3, {})
        return [store.record_vote("p", "2026-t1", "communicatie", f"lid{i}.{n}", 4, "school", at) for n in range(20)]

    results = together(stores, write)

    assert results[0] is True
    assert stores[0].open_votes("p", "2026-t1") == []  # what came in before the close was forgotten with it
    assert all(status in ("new", "closed") for votes in results[1:] for status in votes)
    closers = together(stores, lambda _, store: store.close_round("p", "2026-t1", 3, {}))
    assert closers == [False] * WRITERS
