"""The store, on SQLite and on a real PostgreSQL: versioned migrations, and everything of a partnership
forgotten in one call."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, inspect
from sqlalchemy.exc import IntegrityError

from brug.planner import DocumentRecord
from brug.store import SCHEMA_VERSION, Store, is_database_url, schema, shown_url
from brug.store.schema import actions


def test_a_new_store_is_at_the_latest_schema(state_url: str) -> None:
    s = Store(state_url)
    assert s.version == SCHEMA_VERSION >= 2
    names = set(inspect(s.engine).get_table_names())
    assert {"partnerships", "documents", "outbox", "resources", "actions", "answers", "sync_tokens"} <= names


def test_an_older_database_is_brought_up_to_date_keeping_its_data(state_url: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(schema, "SCHEMA_VERSION", 1)
    old = Store(state_url)
    assert old.version == 1 and "actions" not in inspect(old.engine).get_table_names()
    old.record_document("p", "local", DocumentRecord("agreement", "a.md", "r" * 64, "f"))
    old.close()
    monkeypatch.undo()
    new = Store(state_url)
    assert new.version == SCHEMA_VERSION
    assert new.documents("p", "local")["agreement"].path == "a.md"
    assert new.add_action("p", "bellen", None, None, "chat:$1") == 1


def test_a_database_from_a_newer_brug_is_refused(state_url: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    Store(state_url).close()
    monkeypatch.setattr(schema, "SCHEMA_VERSION", 1)
    with pytest.raises(RuntimeError, match="newer brug"):
        Store(state_url)


def test_forget_removes_every_trace(state_url: str) -> None:
    s = Store(state_url)
    for pid in ("a", "b"):
        s.record_applied(pid, name=pid, workflow="w", phase="x", phase_changes=0, inputs_hash=None, source=None)
        s.record_document(pid, "local", DocumentRecord("k", "k.md", "r", "f"))
        s.enqueue("local", f"{pid}/welcome", pid, "algemeen", "welcome", "hallo")
        s.put_resource(pid, "matrix", "room", "algemeen", f"!{pid}:x")
        s.record_invite(pid, "matrix", "algemeen", "@u:x", "failed", "boom")
        s.add_agenda_item(pid, "punt", "An", f"matrix:${pid}")
        s.add_action(pid, "actie", "An", None, f"matrix:$a{pid}")
        s.add_answer(pid, f"{pid}/reflection/1", "An", "antwoord", "matrix", f"$r{pid}")
        s.set_paused(pid, True, "An")
    s.forget("a")
    assert s.applied("a") is None and s.documents("a", "local") == {} and s.actions("a") == []
    assert s.resource("a", "matrix", "room", "algemeen") is None and not s.is_paused("a")
    assert s.answers("a") == [] and s.open_agenda_items("a") == [] and s.failed_invites("a", "matrix") == []
    # the other partnership is untouched
    assert s.applied("b") is not None and len(s.actions("b")) == 1 and s.is_paused("b")


def test_chat_effects_happen_once_per_origin(state_url: str) -> None:
    s = Store(state_url)
    assert s.add_action("p", "bellen", None, None, "matrix:$e1") == 1
    assert s.add_action("p", "bellen", None, None, "matrix:$e1") == 1
    assert s.add_action("p", "mailen", None, None, "matrix:$e2") == 2
    first = s.add_agenda_item("p", "punt", "An", "matrix:$e3")
    assert s.add_agenda_item("p", "punt", "An", "matrix:$e3") == first
    assert len(s.open_agenda_items("p")) == 1
    assert s.add_answer("p", "k", "An", "x", "matrix", "$e4") and not s.add_answer("p", "k", "An", "x", "matrix", "$e4")
    assert s.mark_processed("matrix", "$e5") and not s.mark_processed("matrix", "$e5")
    s.record_invite("p", "matrix", "algemeen", "@u:x", "failed", "boom")
    s.record_invite("p", "matrix", "algemeen", "@u:x", "failed", "boom")
    assert s.failed_invites("p", "matrix")[0]["attempts"] == 2


def test_an_older_outbox_gains_the_failure_columns(state_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(schema, "SCHEMA_VERSION", 7)
    old = Store(state_url)
    old.enqueue("matrix", "p/welcome", "p", "algemeen", "welcome", "hallo")
    with old.engine.begin() as conn:  # the outbox as brug made it before version 8
        conn.exec_driver_sql("ALTER TABLE outbox DROP COLUMN attempts")
        conn.exec_driver_sql("ALTER TABLE outbox DROP COLUMN last_error")
    old.close()
    monkeypatch.undo()
    new = Store(state_url)
    assert new.version == SCHEMA_VERSION
    assert new.record_post_failure("matrix", "p/welcome", "M_TOO_LARGE", park_after=2) == "pending"
    assert new.outbox_entry("matrix", "p/welcome")["attempts"] == 1  # type: ignore[index]


def test_a_post_that_keeps_failing_is_parked_and_no_longer_planned(state_url: str) -> None:
    s = Store(state_url)
    s.enqueue("matrix", "p/agenda/1", "p", "overleg", "agenda", "…")
    s.enqueue("matrix", "p/agenda/2", "p", "overleg", "agenda", "…")
    assert [s.record_post_failure("matrix", "p/agenda/1", "boom", park_after=3) for _ in range(3)] == [
        "pending",
        "pending",
        "parked",
    ]
    assert s.enqueue("matrix", "p/agenda/1", "p", "overleg", "agenda", "…") == "parked"
    assert [(r["key"], r["attempts"], r["last_error"]) for r in s.parked_posts("p")] == [("p/agenda/1", 3, "boom")]
    assert s.posted_keys("p", "matrix") == {"p/agenda/1"}  # a parked post is not planned again
    assert [r["key"] for r in s.pending("matrix")] == ["p/agenda/2"]  # and holds nothing back
    assert s.record_event_failure("matrix", "$e", "p", "M_TOO_LARGE") is True
    assert s.record_event_failure("matrix", "$e", "p", "M_TOO_LARGE") is False  # reported once
    s.forget("p")
    assert s.parked_posts("p") == [] and s.event_failures("p") == []


def test_every_migration_runs_on_its_own_over_a_database_with_data(state_url: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Each version in turn, as an upgrade would meet it: SQLite-only SQL in a migration fails here."""
    for version in range(1, SCHEMA_VERSION + 1):
        monkeypatch.setattr(schema, "SCHEMA_VERSION", version)
        s = Store(state_url)
        assert s.version == version
        s.record_document("p", "local", DocumentRecord(f"doc{version}", "a.md", "r", "f"))
        s.close()
    monkeypatch.undo()
    s = Store(state_url)
    assert sorted(s.documents("p", "local")) == sorted(f"doc{v}" for v in range(1, SCHEMA_VERSION + 1))


def test_times_come_back_in_utc_and_long_keys_fit_on_both_engines(state_url: str) -> None:
    s = Store(state_url)
    key = "p/reflection/" + "x" * 400  # longer than the column's declared length: SQLite never minded
    s.enqueue("matrix", key, "p", "reflectie", "reflection", "…")
    entry = s.outbox_entry("matrix", key)
    assert entry is not None and entry["key"] == key
    s.record_applied("p", name="P", workflow="w", phase="x", phase_changes=0, inputs_hash=None, source=None)
    applied = s.applied("p")
    assert applied is not None and applied.applied_at is not None
    moment = applied.applied_at if applied.applied_at.tzinfo else applied.applied_at.replace(tzinfo=UTC)
    assert moment.utcoffset() == timedelta(0) and abs(datetime.now(UTC) - moment) < timedelta(minutes=5)
    assert s.add_answer("p", "k", "An", "antwoord", "matrix", "$1")
    assert [a.text for a in s.answers("p")] == ["antwoord"]


def test_a_state_is_a_sqlite_file_or_a_postgresql_url(tmp_path: Path, postgres) -> None:  # type: ignore[no-untyped-def]
    assert not is_database_url(tmp_path / "state.db") and not is_database_url("staat/brug.db")
    local = Store.open(tmp_path / "nieuw" / "state.db")
    assert local.engine.dialect.name == "sqlite" and (tmp_path / "nieuw" / "state.db").exists()
    remote = Store.open(postgres.url())  # postgresql:// as a user writes it: psycopg 3 underneath
    assert remote.engine.dialect.name == "postgresql" and remote.engine.dialect.driver == "psycopg"
    assert remote.version == SCHEMA_VERSION
    assert shown_url("postgresql://brug:geheim@db.example.org/brug") == "postgresql://brug:***@db.example.org/brug"


def test_the_lookups_by_platform_id_and_the_pending_posts_have_indexes(state_url: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Version 9 (see bench/store_plans.py): an older database gains them, a new one has them at once."""
    monkeypatch.setattr(schema, "SCHEMA_VERSION", 8)
    old = Store(state_url)
    with old.engine.begin() as conn:  # the tables as brug made them before version 9
        for name in ("ix_outbox_pending", "ix_outbox_ref", "ix_resources_ref"):
            conn.exec_driver_sql(f"DROP INDEX {name}")
    old.close()
    monkeypatch.undo()
    s = Store(state_url)
    found = {
        table: {i["name"]: i["column_names"] for i in inspect(s.engine).get_indexes(table)}
        for table in ("outbox", "resources")
    }
    assert found["outbox"]["ix_outbox_pending"] == ["platform", "created_at"]
    assert found["outbox"]["ix_outbox_ref"] == ["platform", "ref"]
    assert found["resources"]["ix_resources_ref"] == ["platform", "ref"]
    s.enqueue("matrix", "p/welcome", "p", "algemeen", "welcome", "hallo")
    s.mark_sent("matrix", "p/welcome", "$ev1")
    assert s.sent_post("matrix", "$ev1")["key"] == "p/welcome"  # type: ignore[index]


def test_numbers_and_origins_are_unique_per_partnership_also_after_an_upgrade(state_url: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Version 11: an older database gains the unique indexes that keep concurrent writers' numbers apart."""
    monkeypatch.setattr(schema, "SCHEMA_VERSION", 10)
    old = Store(state_url)
    with old.engine.begin() as conn:  # the tables as brug made them before version 11
        for table in ("actions", "signals"):
            for column in ("number", "origin"):
                conn.exec_driver_sql(f"DROP INDEX ux_{table}_{column}")
    assert old.add_action("p", "bellen", None, None, "chat:$1") == 1
    old.close()
    monkeypatch.undo()
    s = Store(state_url)
    for table in ("actions", "signals"):
        unique = {i["name"]: i["column_names"] for i in inspect(s.engine).get_indexes(table) if i["unique"]}
        assert unique[f"ux_{table}_number"] == ["partnership_id", "number"]
        assert unique[f"ux_{table}_origin"] == ["partnership_id", "origin"]
    with pytest.raises(IntegrityError), s.engine.begin() as conn:  # a second action 1 of "p" cannot exist
        conn.execute(
            insert(actions).values(
                partnership_id="p", number=1, text="x", done=0, origin="chat:$2", created_at=datetime.now(UTC)
            )
        )
    assert (
        s.add_action("p", "mailen", None, None, "chat:$2") == 2 and s.add_action("q", "x", None, None, "chat:$2") == 1
    )
