"""The wheel carries workflows/ and templates/, and runs from a fresh virtual environment.

The fresh environment is made by Python's own `venv` (without pip in it); the wheel and the
dependencies it declares are installed into it by uv, which resolves them from the package index as
pip does, in seconds: pip took about two minutes here (putting pip itself into the environment, one
download at a time, and compiling every module as it installs).
"""

from __future__ import annotations

import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest
from uv import find_uv_bin

from tests.conftest import EXAMPLES, ROOT


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(ROOT)],
        check=True,
    )
    return next(out.glob("brug-*.whl"))


def test_wheel_carries_workflows_and_templates(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "brug/_data/workflows/phase-models/samenwerken.yaml" in names
    assert "brug/_data/workflows/questions/doel.yaml" in names
    assert "brug/_data/templates/nl/agreement.md.j2" in names
    assert "brug/_data/templates/en/agreement.md.j2" in names
    assert "brug/cli.py" in names


@pytest.mark.slow
def test_installed_wheel_validates_and_applies_an_example(wheel: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    install = [find_uv_bin(), "pip", "install", "--quiet", "--python", str(python), str(wheel)]
    subprocess.run(install, check=True)
    brug = env_dir / "bin" / "brug"
    work = tmp_path / "work"
    work.mkdir()
    result = subprocess.run([str(brug), "validate", str(EXAMPLES[0])], cwd=work, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "✓" in result.stdout
    # it finds its data inside the wheel, not in this checkout
    where = subprocess.run(
        [str(python), "-c", "from brug.content.resources import data_dir; print(data_dir('templates'))"],
        cwd=work,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "site-packages" in where
    assert subprocess.run([str(brug), "init"], cwd=work, capture_output=True, text=True).returncode == 0
    result = subprocess.run([str(brug), "apply"], cwd=work, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert (work / "werkruimte" / "onze-samenwerking" / "samenwerkingsakkoord.md").is_file()
