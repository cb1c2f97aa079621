"""The backup and restore commands of docs/operations.md, run on a real SQLite file (while a store has
it open) and on a real PostgreSQL: what brug remembered is there again after the restore."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

from brug.store import Store
from tests.debian import debian_command
from tests.postgres import PostgresServer

WHEN = datetime(2026, 9, 25, 7, 0, tzinfo=UTC)


def remember(store: Store) -> None:
    """Something of everything that matters: a sent post, a pending one, a schedule mark."""
    store.enqueue("matrix", "back/reflection/1", "back", "reflectie", "reflection", "Hoe gaat het?")
    store.mark_sent("matrix", "back/reflection/1", "$event")
    store.enqueue("matrix", "back/agenda/2", "back", "overleg", "agenda", "Agenda")
    store.set_schedule_mark("back", "reflection", WHEN)


def remembered(store: Store) -> bool:
    return (
        store.outbox_entry("matrix", "back/reflection/1") is not None
        and [p["key"] for p in store.pending("matrix")] == ["back/agenda/2"]
        and store.schedule_mark("back", "reflection") == WHEN
    )


def test_a_sqlite_store_backed_up_while_open_restores_whole(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    store = Store.at(state)
    remember(store)
    backup = tmp_path / "backup" / "brug-2026-09-25.db"
    backup.parent.mkdir()
    subprocess.run([debian_command("sqlite3", "sqlite3"), str(state), f".backup '{backup}'"], check=True, timeout=60)  # brug still has it open
    store.enqueue("matrix", "back/after-the-backup", "back", "overleg", "agenda", "Later")
    store.close()

    for leftover in (state, state.with_name("state.db-wal"), state.with_name("state.db-shm")):
        leftover.unlink(missing_ok=True)  # the disk is lost
    shutil.copy(backup, state)
    restored = Store.at(state)
    try:
        assert remembered(restored)
        assert restored.outbox_entry("matrix", "back/after-the-backup") is None
    finally:
        restored.close()


def test_a_postgresql_store_dumped_and_restored_with_pg_dump_and_pg_restore(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    url = postgres.url()
    store = Store(url)
    remember(store)
    store.close()
    query = parse_qs(urlparse(url).query)
    schema = unquote(query["options"][0]).removeprefix("-csearch_path=")
    connection = f"host={query['host'][0]} dbname={postgres.database} user=brug"
    dump = tmp_path / "brug.dump"
    subprocess.run(
        [postgres.bin / "pg_dump", "--format=custom", f"--schema={schema}", f"--file={dump}", connection],
        check=True, timeout=120, capture_output=True,
    )

    wrecked = Store(url)  # something goes badly wrong after the backup
    with wrecked.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM outbox")
    wrecked.close()
    subprocess.run(
        [postgres.bin / "pg_restore", "--clean", "--if-exists", f"--dbname={connection}", dump],
        check=True, timeout=120, capture_output=True,
    )
    restored = Store(url)
    try:
        assert remembered(restored)
    finally:
        restored.close()
