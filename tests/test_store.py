"""The store: versioned migrations, and everything of a partnership forgotten in one call."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect

from brug import store as store_module
from brug.planner import DocumentRecord
from brug.store import SCHEMA_VERSION, Store


def test_a_new_store_is_at_the_latest_schema(tmp_path: Path) -> None:
    s = Store.at(tmp_path / "brug.db")
    assert s.version == SCHEMA_VERSION >= 2
    names = set(inspect(s.engine).get_table_names())
    assert {"partnerships", "documents", "outbox", "resources", "actions", "answers", "sync_tokens"} <= names


def test_an_older_database_is_brought_up_to_date_keeping_its_data(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "brug.db"
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", 1)
    old = Store.at(path)
    assert old.version == 1 and "actions" not in inspect(old.engine).get_table_names()
    old.record_document("p", "local", DocumentRecord("agreement", "a.md", "r" * 64, "f"))
    old.close()
    monkeypatch.undo()
    new = Store.at(path)
    assert new.version == SCHEMA_VERSION
    assert new.documents("p", "local")["agreement"].path == "a.md"
    assert new.add_action("p", "bellen", None, None, "chat:$1") == 1


def test_a_database_from_a_newer_brug_is_refused(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "brug.db"
    Store.at(path).close()
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", 1)
    with pytest.raises(RuntimeError, match="newer brug"):
        Store.at(path)


def test_forget_removes_every_trace(tmp_path: Path) -> None:
    s = Store.at(tmp_path / "brug.db")
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


def test_chat_effects_happen_once_per_origin(tmp_path: Path) -> None:
    s = Store.at(tmp_path / "brug.db")
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


def test_an_older_outbox_gains_the_failure_columns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "brug.db"
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", 7)
    old = Store.at(path)
    old.enqueue("matrix", "p/welcome", "p", "algemeen", "welcome", "hallo")
    with old.engine.begin() as conn:  # the outbox as brug made it before version 8
        conn.exec_driver_sql("ALTER TABLE outbox DROP COLUMN attempts")
        conn.exec_driver_sql("ALTER TABLE outbox DROP COLUMN last_error")
    old.close()
    monkeypatch.undo()
    new = Store.at(path)
    assert new.version == SCHEMA_VERSION
    assert new.record_post_failure("matrix", "p/welcome", "M_TOO_LARGE", park_after=2) == "pending"
    assert new.outbox_entry("matrix", "p/welcome")["attempts"] == 1  # type: ignore[index]


def test_a_post_that_keeps_failing_is_parked_and_no_longer_planned(tmp_path: Path) -> None:
    s = Store.at(tmp_path / "brug.db")
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
