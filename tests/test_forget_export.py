"""brug export writes a partnership's record as Markdown and CSV; brug forget deletes brug's memory of it."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from brug.store import Store
from tests.conftest import EXAMPLES

NOW = "2026-11-23T10:00:00"


@pytest.fixture
def project(in_tmp: Path, cli) -> Path:  # type: ignore[no-untyped-def]
    (in_tmp / "partnerschappen").mkdir()
    for example in EXAMPLES:
        shutil.copy(example, in_tmp / "partnerschappen" / example.name)
    (in_tmp / "brug.toml").write_text('workspace = "werkruimte"\nstate = "staat.db"\n', encoding="utf-8")
    assert cli("--now", NOW, "apply").exit_code == 0
    store = Store.at(in_tmp / "staat.db")
    store.add_action("cbe-vlierboom", "Lokaal boeken, met komma", "Els", "2026-12-01", "local:$1")
    store.add_action("cbe-vlierboom", '=HYPERLINK("http://x","klik")', None, None, "local:$3")
    store.add_answer(
        "cbe-vlierboom", "cbe-vlierboom/reflection/2026-11-23T09:00Z/doel-01", "Marc", "We groeien.", "local", "$2"
    )
    store.close()
    return in_tmp


def test_export_writes_actions_answers_and_agreement_history(cli, project: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("--now", NOW, "export", "cbe-vlierboom", "--to", "uit")
    assert result.exit_code == 0, result.output
    folder = project / "uit" / "cbe-vlierboom"
    rows = list(csv.DictReader((folder / "actions.csv").open(encoding="utf-8")))
    assert rows[1]["text"].startswith("'=HYPERLINK")  # shown as text in a spreadsheet, never run
    rows = rows[:1]
    assert rows == [
        {
            "number": "1",
            "text": "Lokaal boeken, met komma",
            "who": "Els",
            "due": "2026-12-01",
            "done": "no",
            "origin": "local:$1",
        }
    ]
    answers = list(csv.DictReader((folder / "answers.csv").open(encoding="utf-8")))
    assert answers[0]["author"] == "Marc" and answers[0]["answer"] == "We groeien."
    assert answers[0]["question"] and "doel-01" not in answers[0]["question"]  # the question's text
    history = (folder / "agreement-history.md").read_text(encoding="utf-8")
    assert history.count("## Versie ") == 1 and "Centrum voor Basiseducatie Leieland" in history


def test_export_leaves_names_out_when_the_partnership_asks(cli, project: Path) -> None:  # type: ignore[no-untyped-def]
    store = Store.at(project / "staat.db")
    pid = "netwerk-kinderarmoede-brakelveld"  # its file sets reflection.show_names: false
    store.add_answer(pid, f"{pid}/reflection/2026-11-23T09:00Z/doel-01", "Iemand", "Anoniem antwoord.", "local", "$9")
    store.close()
    assert cli("--now", NOW, "export", pid, "--to", "uit").exit_code == 0
    answers = list(csv.DictReader((project / "uit" / pid / "answers.csv").open(encoding="utf-8")))
    assert answers[0]["author"] == "" and answers[0]["answer"] == "Anoniem antwoord."


def test_forget_deletes_everything_but_the_documents(cli, project: Path) -> None:  # type: ignore[no-untyped-def]
    assert cli("forget", "cbe-vlierboom", "--yes").exit_code == 0
    store = Store.at(project / "staat.db")
    assert store.applied("cbe-vlierboom") is None and store.actions("cbe-vlierboom") == []
    assert store.answers("cbe-vlierboom") == [] and store.documents("cbe-vlierboom", "local") == {}
    assert store.applied("speelvogel-welzijn") is not None
    assert (project / "werkruimte" / "cbe-vlierboom" / "samenwerkingsakkoord.md").is_file()
    assert cli("forget", "cbe-vlierboom", "--yes").exit_code == 1  # nothing left to forget


def test_forget_asks_first(cli, project: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("forget", "cbe-vlierboom", input="n\n")
    assert result.exit_code == 1
    assert Store.at(project / "staat.db").applied("cbe-vlierboom") is not None
