"""The embedded default: `brug apply` materialises each partnership into a folder tree, safely."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from tests.conftest import EXAMPLES

NOW = "2026-11-23T10:00:00"


def tree(root: Path) -> dict[str, tuple[int, str]]:
    """Every file with its modification time and content hash."""
    return {
        str(p.relative_to(root)): (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def project(in_tmp: Path) -> Path:
    """A brug installation with the examples."""
    folder = in_tmp / "partnerschappen"
    folder.mkdir()
    for example in EXAMPLES:
        shutil.copy(example, folder / example.name)
    (in_tmp / "brug.toml").write_text('workspace = "werkruimte"\nstate = "staat/brug.db"\n', encoding="utf-8")
    return in_tmp


def run(cli, *args: str):  # type: ignore[no-untyped-def]
    result = cli("--now", NOW, *args)
    assert result.exit_code == 0, result.output + (result.stderr or "")
    return result


def edit_partnership(project: Path, name: str, change) -> None:  # type: ignore[no-untyped-def]
    path = project / "partnerschappen" / name
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def test_apply_builds_the_workspace(cli, project: Path) -> None:  # type: ignore[no-untyped-def]
    result = run(cli, "apply")
    assert f"{len(EXAMPLES)} samenwerking(en)" in result.stdout
    ws = project / "werkruimte" / "cbe-vlierboom"
    assert (ws / "overzicht.md").is_file() and (ws / "samenwerkingsakkoord.md").is_file()
    # the phases reached so far (the example is in phase 2 of 6), each with its guide
    assert sorted(p.name for p in (ws / "fasen").iterdir()) == ["01-vind-elkaar", "02-ja-graag"]
    assert (ws / "fasen" / "02-ja-graag" / "gids.md").is_file()
    assert (ws / "overleg").is_dir() and (ws / "reflectie").is_dir()
    overview = (ws / "overzicht.md").read_text(encoding="utf-8")
    assert "Leren in De Vlierboom" in overview and "Koen De Smet" in overview
    agreement = (ws / "samenwerkingsakkoord.md").read_text(encoding="utf-8")
    for org in ("Centrum voor Basiseducatie Leieland", "De Vlierboom vzw"):
        assert org in agreement
    # the welcome message was "posted" to the general room, for people and for machines
    entries = [json.loads(line) for line in (ws / "chat" / "algemeen.jsonl").read_text().splitlines()]
    assert [e["kind"] for e in entries] == ["welcome"]
    assert "brug" in (ws / "chat" / "algemeen.md").read_text(encoding="utf-8")


def test_plan_changes_nothing_and_lists_what_apply_would_do(cli, project: Path) -> None:  # type: ignore[no-untyped-def]
    result = run(cli, "plan")
    assert not (project / "werkruimte").exists()
    assert "samenwerkingsakkoord.md" in result.stdout and "wijziging(en)" in result.stdout
    assert cli("--now", NOW, "plan", "--detailed-exitcode").exit_code == 2


def test_second_apply_writes_nothing(cli, project: Path) -> None:  # type: ignore[no-untyped-def]
    run(cli, "apply")
    before = tree(project / "werkruimte")
    result = run(cli, "apply")
    assert tree(project / "werkruimte") == before
    assert "0 document(en) geschreven, 0 bericht(en)" in result.stdout
    assert "Niets te doen" in run(cli, "plan").stdout
    assert cli("--now", NOW, "plan", "--detailed-exitcode").exit_code == 0


def test_a_hand_edit_survives_and_a_new_version_goes_beside_it(cli, project: Path) -> None:  # type: ignore[no-untyped-def]
    run(cli, "apply")
    ws = project / "werkruimte" / "cbe-vlierboom"
    agreement = ws / "samenwerkingsakkoord.md"
    edited = agreement.read_text(encoding="utf-8") + "\n## Onze eigen afspraak\n\nWe bellen elkaar elke maandag.\n"
    agreement.write_text(edited, encoding="utf-8")

    run(cli, "apply")  # nothing in the partnership changed: the edit simply stays
    assert agreement.read_text(encoding="utf-8") == edited
    assert not (ws / "samenwerkingsakkoord (nieuwe versie).md").exists()

    edit_partnership(
        project,
        "cbe-armoede.yaml",
        lambda d: d.update(goal="Tegen juni 2027 leren tien deelnemers samen in de vereniging."),
    )
    plan = run(cli, "plan").stdout
    assert "nieuwe versie" in plan and "door iemand aangepast" in plan
    result = run(cli, "apply")
    assert agreement.read_text(encoding="utf-8") == edited
    sibling = ws / "samenwerkingsakkoord (nieuwe versie).md"
    assert "Tegen juni 2027" in sibling.read_text(encoding="utf-8")
    assert "nieuwe versie staat ernaast" in result.stdout
    # the overview nobody touched was simply updated in place
    assert "Tegen juni 2027" in (ws / "overzicht.md").read_text(encoding="utf-8")
    # and after that, all is quiet again
    before = tree(project / "werkruimte")
    run(cli, "apply")
    assert tree(project / "werkruimte") == before


def test_a_file_brug_did_not_write_is_never_overwritten(cli, project: Path) -> None:  # type: ignore[no-untyped-def]
    ws = project / "werkruimte" / "cbe-vlierboom"
    ws.mkdir(parents=True)
    (ws / "samenwerkingsakkoord.md").write_text("Ons eigen akkoord.\n", encoding="utf-8")
    run(cli, "apply")
    assert (ws / "samenwerkingsakkoord.md").read_text(encoding="utf-8") == "Ons eigen akkoord.\n"
    assert (ws / "samenwerkingsakkoord (nieuwe versie).md").is_file()


def test_a_deleted_document_comes_back(cli, project: Path) -> None:  # type: ignore[no-untyped-def]
    run(cli, "apply")
    guide = project / "werkruimte" / "cbe-vlierboom" / "fasen" / "01-vind-elkaar" / "gids.md"
    guide.unlink()
    assert "ontbrak" in run(cli, "plan").stdout
    run(cli, "apply")
    assert guide.is_file()


def test_changing_phase_adds_material_announces_it_and_deletes_nothing(cli, project: Path) -> None:  # type: ignore[no-untyped-def]
    run(cli, "apply")
    ws = project / "werkruimte" / "cbe-vlierboom"
    before = set(tree(ws))
    edit_partnership(project, "cbe-armoede.yaml", lambda d: d.update(phase="draagvlak"))
    run(cli, "apply")
    after = set(tree(ws))
    assert before <= after
    assert "fasen/03-draagvlak/gids.md" in after
    kinds = [json.loads(line)["kind"] for line in (ws / "chat" / "algemeen.jsonl").read_text().splitlines()]
    assert kinds == ["welcome", "phase-change"]
    # going back does not delete the later phase's folder, and announces again
    edit_partnership(project, "cbe-armoede.yaml", lambda d: d.update(phase="ja-graag"))
    run(cli, "apply")
    assert (ws / "fasen" / "03-draagvlak" / "gids.md").is_file()
    kinds = [json.loads(line)["kind"] for line in (ws / "chat" / "algemeen.jsonl").read_text().splitlines()]
    assert kinds == ["welcome", "phase-change", "phase-change"]
    before = tree(project / "werkruimte")
    run(cli, "apply")
    assert tree(project / "werkruimte") == before


def test_status_shows_phase_and_next_meeting(cli, project: Path) -> None:  # type: ignore[no-untyped-def]
    result = run(cli, "status")
    assert "nog nooit" in result.stdout and "2/6" in result.stdout
    assert "akkoord: nog geen versie" in result.stdout
    run(cli, "apply")
    result = run(cli, "status")
    assert "akkoord: ontwerp, versie 1: 2 organisatie(s) moeten nog goedkeuren" in result.stdout
    assert "herziening 2027-06-15" in result.stdout  # the school-welfare example's review date
    assert "donderdag 10 december 2026 om 13:30 CET" in result.stdout  # second Thursday, local, with the zone
    assert "nog nooit" not in result.stdout
    assert re.search(r"laatst toegepast: \w+ \d+ \w+ \d{4} om \d\d:\d\d CES?T", result.stdout), result.stdout


def test_apply_refuses_a_broken_file_and_provisions_nothing(cli, project: Path) -> None:  # type: ignore[no-untyped-def]
    edit_partnership(project, "school-clb-ocmw.yaml", lambda d: d.update(phase="bestaat-niet"))
    result = cli("--now", NOW, "apply")
    assert result.exit_code == 1
    assert "school-clb-ocmw.yaml" in result.stderr and "phase" in result.stderr
    assert not (project / "werkruimte").exists()


def test_english_partnership_gets_english_names(cli, project: Path) -> None:  # type: ignore[no-untyped-def]
    edit_partnership(project, "cbe-armoede.yaml", lambda d: d.update(language="en"))
    run(cli, "apply")
    ws = project / "werkruimte" / "cbe-vlierboom"
    assert (ws / "overview.md").is_file() and (ws / "agreement.md").is_file()
    assert (ws / "phases" / "02-partnering-yes-please" / "guide.md").is_file()
    assert (ws / "phases" / "01-find-each-other" / "introduction-sheet.md").is_file()
    assert not list(ws.rglob("*vind-elkaar*")) and not list(ws.rglob("*kennismakingsfiche*"))
    guide = (ws / "phases" / "02-partnering-yes-please" / "guide.md").read_text(encoding="utf-8")
    assert "!phase next" in guide and "!fase" not in guide


def test_language_in_brug_toml_sets_the_language_of_messages(cli, project: Path) -> None:  # type: ignore[no-untyped-def]
    (project / "brug.toml").write_text('workspace = "werkruimte"\nlanguage = "en"\n', encoding="utf-8")
    edit_partnership(project, "cbe-armoede.yaml", lambda d: d.update(phase="nergens"))
    result = cli("validate")
    assert result.exit_code == 1 and "phase" in result.stderr and "fase" not in result.stderr, result.stderr
    assert "organisations" in result.stdout and "organisaties" not in result.stdout
    # the environment still wins over the file
    result = cli("validate", env={"BRUG_LANGUAGE": "nl"})
    assert "organisaties" in result.stdout


def test_plan_with_matrix_configured_shows_provisioning_without_contacting_it(cli, project: Path) -> None:  # type: ignore[no-untyped-def]
    (project / "brug.toml").write_text(
        'workspace = "werkruimte"\nstate = "staat/brug.db"\n'
        '[matrix]\nhomeserver = "http://127.0.0.1:9"\nuser_id = "@brug:localhost"\n',
        encoding="utf-8",
    )
    result = cli("--now", NOW, "plan", env={"BRUG_MATRIX__ACCESS_TOKEN": "secret-token-value"})
    assert result.exit_code == 0, result.output
    assert "inrichten" in result.stdout and "matrix" in result.stdout
    assert "secret-token-value" not in result.stdout + result.stderr


def test_a_second_brug_on_the_same_data_waits_its_turn(cli, project: Path) -> None:  # type: ignore[no-untyped-def]
    from brug.app.lock import instance_lock

    with instance_lock(project / "staat" / "brug.db"):  # as if 'brug run' were working
        result = cli("--now", NOW, "apply")
    assert result.exit_code == 1 and "andere brug" in result.stderr
    assert not (project / "werkruimte").exists()
    assert cli("--now", NOW, "apply").exit_code == 0  # once it is free, apply goes ahead


def test_an_unusable_state_path_is_a_clear_error(cli, project: Path) -> None:  # type: ignore[no-untyped-def]
    (project / "blokkade").write_text("a file, not a folder")
    (project / "brug.toml").write_text('state = "blokkade/brug.db"\n', encoding="utf-8")
    result = cli("--now", NOW, "apply")
    assert result.exit_code == 1 and "state" in result.stderr and "blokkade" in result.stderr
    assert "Traceback" not in result.stderr


async def test_create_only_works_without_hard_links(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import errno
    import os
    from pathlib import PurePosixPath

    from brug.adapters.local import LocalFiles
    from brug.ports import WriteCondition, WriteConflict

    def no_links(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise OSError(errno.EPERM, "hard links are not supported here")

    monkeypatch.setattr(os, "link", no_links)
    files = LocalFiles(tmp_path)
    await files.write("p", PurePosixPath("a.md"), "eerste\n", WriteCondition(create_only=True))
    assert (tmp_path / "p" / "a.md").read_text() == "eerste\n"
    with pytest.raises(WriteConflict):
        await files.write("p", PurePosixPath("a.md"), "tweede\n", WriteCondition(create_only=True))
    assert (tmp_path / "p" / "a.md").read_text() == "eerste\n"
