"""brug with its state on a real PostgreSQL: configured by URL, one instance at a time, clear errors."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from brug.app.lock import AlreadyRunning, instance_lock
from brug.store import Store
from brug.store.copy import row_counts
from tests.conftest import EXAMPLES
from tests.postgres import PostgresServer
from tests.test_workspace_local import NOW


@pytest.fixture
def project(in_tmp: Path) -> Path:
    folder = in_tmp / "partnerschappen"
    folder.mkdir()
    for example in EXAMPLES[:2]:
        shutil.copy(example, folder / example.name)
    return in_tmp


def config(project: Path, state: str) -> None:
    (project / "brug.toml").write_text(f'workspace = "werkruimte"\nstate = "{state}"\n', encoding="utf-8")


def test_apply_and_status_keep_brugs_memory_in_postgresql(cli, project: Path, postgres: PostgresServer) -> None:  # type: ignore[no-untyped-def]
    url = postgres.url()
    config(project, url)
    first = cli("--now", NOW, "apply")
    assert first.exit_code == 0, first.output + (first.stderr or "")
    assert not (project / ".brug").exists()  # no SQLite file on the side
    store = Store(url)
    applied = {a.id for a in store.all_applied()}
    assert len(applied) == 2 and all(store.documents(pid, "local") for pid in applied)
    store.close()
    again = cli("--now", NOW, "plan")  # what brug wrote is remembered: nothing left to do
    assert again.exit_code == 0 and "niets te doen" in again.output.lower(), again.output
    status = cli("--now", NOW, "status")
    assert status.exit_code == 0 and all(pid in status.output for pid in applied)


def test_a_second_brug_on_the_same_postgresql_is_refused_with_the_holder(cli, project: Path, postgres) -> None:  # type: ignore[no-untyped-def]
    url = postgres.url()
    config(project, url)
    with instance_lock(url):
        with pytest.raises(AlreadyRunning) as busy, instance_lock(url):
            pass
        assert busy.value.holder == str(os.getpid())
        result = cli("--now", NOW, "apply")
    assert result.exit_code == 1
    line = result.stderr.strip()
    assert line.startswith(f"✗ Er werkt al een andere brug (proces {os.getpid()}) met postgresql://brug@/brug"), line
    other = postgres.url()  # another schema is another state database: its own lock
    with instance_lock(url), instance_lock(other):
        pass
    assert cli("--now", NOW, "apply").exit_code == 0  # released: free again


def test_a_password_in_the_state_url_is_refused_and_brug_state_is_read(cli, project: Path, postgres) -> None:  # type: ignore[no-untyped-def]
    config(project, "postgresql://brug:Zw4rtSchaap@db.example.org/brug")
    result = cli("validate")
    assert result.exit_code != 0
    assert "brug.toml" in result.stderr and "state" in result.stderr and "~/.pgpass" in result.stderr
    assert "Zw4rtSchaap" not in result.stderr
    config(project, "staat/brug.db")
    url = postgres.url()
    result = cli("--now", NOW, "apply", env={"BRUG_STATE": url})  # the environment wins over brug.toml
    assert result.exit_code == 0, result.output + (result.stderr or "")
    assert not (project / "staat").exists() and Store(url).all_applied()


def test_an_unreachable_server_is_named_without_a_traceback(cli, project: Path) -> None:  # type: ignore[no-untyped-def]
    config(project, f"postgresql://brug@/brug?host={project}/geen-server")
    result = cli("--now", NOW, "apply")
    assert result.exit_code == 1
    assert "state" in result.stderr and "kan postgresql://brug@/brug" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_state_is_a_path_or_a_postgresql_url(cli, project: Path) -> None:  # type: ignore[no-untyped-def]
    config(project, "mysql://brug@db/brug")
    result = cli("validate")
    assert result.exit_code != 0 and "postgresql://" in result.stderr, result.stderr


def test_store_copy_moves_a_sqlite_store_into_postgresql(cli, project: Path, postgres) -> None:  # type: ignore[no-untyped-def]
    config(project, "staat/brug.db")
    assert cli("--now", NOW, "apply").exit_code == 0
    sqlite = Store.at(project / "staat" / "brug.db")
    pid = sqlite.all_applied()[0].id
    assert sqlite.add_action(pid, "Lokaal boeken", "An", "2026-12-01", "matrix:$a1") == 1
    sqlite.add_agenda_item(pid, "Ouderavond", "An", "matrix:$a2")
    sqlite.add_answer(pid, f"{pid}/reflection/1", "An", "Het loopt goed", "matrix", "$a3")
    before, applied, documents = row_counts(sqlite), sqlite.all_applied(), sqlite.documents(pid, "local")
    sqlite.close()
    url = postgres.url()

    result = cli("store", "copy", "--to", url)
    assert result.exit_code == 0, result.output + (result.stderr or "")
    assert f"{sum(before.values())} rijen" in result.output and "postgresql://brug@/brug" in result.output

    copy = Store(url)
    assert row_counts(copy) == before and sum(1 for n in before.values() if n) >= 5
    assert [(a.id, a.inputs_hash, a.source) for a in copy.all_applied()] == [
        (a.id, a.inputs_hash, a.source) for a in applied
    ]
    assert copy.documents(pid, "local") == documents
    assert [a.text for a in copy.answers(pid)] == ["Het loopt goed"]
    # numbering and ids go on after the copied rows (the sequences were moved past them)
    assert copy.add_action(pid, "Folder vertalen", None, None, "matrix:$a4") == 2
    assert copy.add_agenda_item(pid, "Nieuw punt", "An", "matrix:$a5") > 1
    copy.close()

    again = cli("store", "copy", "--to", url)  # into a store in use: refused, nothing changed
    assert again.exit_code == 1 and "niet leeg" in again.stderr, again.stderr
    plan = cli("--now", NOW, "plan", env={"BRUG_STATE": url})  # brug on the copy knows what it did
    assert plan.exit_code == 0 and "niets te doen" in plan.output.lower(), plan.output
