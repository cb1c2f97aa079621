"""The README's main command: the demo sets everything up on a fresh folder and stops cleanly."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def demo_once(folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "brug.demo", "--folder", str(folder), "--once"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT / "plugin"), "COLUMNS": "200"},
    )


def test_demo_once_builds_workspaces_and_matrix_rooms(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    result = demo_once(folder)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "Log in with any Matrix client" in out and "brug-demo" in out and "homeserver stopped" in out
    for pid in ("cbe-vlierboom", "speelvogel-welzijn", "netwerk-kinderarmoede-brakelveld"):
        ws = folder / "werkruimte" / pid
        assert (ws / "samenwerkingsakkoord.md").is_file()
        assert list((ws / "overleg").glob("* agenda en verslag.md")), pid
        kinds = [json.loads(line)["kind"] for line in (ws / "chat" / "reflectie.jsonl").read_text().splitlines()]
        assert "reflection" in kinds
    assert "agenda for" in out and "reflection prompt posted" in out
    # a second run reuses the homeserver and changes nothing that was already there
    again = demo_once(folder)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "created" not in again.stdout
