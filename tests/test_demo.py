"""The README's main command: the demo sets everything up on a fresh folder and stops cleanly."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.test_web_cli import healthy

pytestmark = [pytest.mark.slow, pytest.mark.long]


@contextmanager
def preferred_port_taken() -> Iterator[None]:
    """Keep the demo off its preferred port 8080, so a demo or another test run on the same machine
    (which would answer /healthz, with another secret) is never the web page this test talks to."""
    with socket.socket() as holder:
        try:
            holder.bind(("127.0.0.1", 8080))
        except OSError:
            pass  # taken already: the demo picks a free port all the same
        yield


def demo_once(folder: Path) -> subprocess.CompletedProcess[str]:
    with preferred_port_taken():
        return subprocess.run(
            [sys.executable, "-m", "brug.app.demo", "--folder", str(folder), "--once"],
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
    assert "answered and closed (for the portfolio's radar)" in out
    signin = re.search(r"Sign in as the demo coordinator.*?: (http://127\.0\.0\.1:(\d+)/login/\S+)", out)
    answer = re.search(r"as a member without a chat account: (http://\S+/a/\S+)", out)
    assert signin and answer, out
    assert re.search(r"Or type @\S+:localhost on the sign-in page", out), out  # a Matrix viewer too
    assert re.search(r'viewers = \["coordinator@demo.localhost", "@\S+:localhost"\]', (folder / "brug.toml").read_text())
    follow_the_demo_links(folder, signin[1], int(signin[2]), answer[1])
    # a second run reuses the homeserver and changes nothing that was already there
    again = demo_once(folder)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "created" not in again.stdout


def follow_the_demo_links(folder: Path, signin: str, port: int, answer: str) -> None:
    """`brug web` on the demo's brug.toml: the printed sign-in link opens the coordinator's portfolio,
    the printed answer link opens a reflection prompt."""
    import httpx

    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT / "plugin"), "HOME": os.environ.get("HOME", "/tmp")}
    process = subprocess.Popen(
        [sys.executable, "-m", "brug", "web"], cwd=folder, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        assert healthy(f"http://127.0.0.1:{port}/healthz", process), process.stderr.read() if process.poll() else ""
        with httpx.Client(timeout=30, follow_redirects=True) as web:
            portfolio = web.get(signin)
            assert portfolio.status_code == 200 and "/portfolio/" in portfolio.text, portfolio.text[:500]
            assert 'class="mini-radar"' in portfolio.text  # the demo's closed barometer rounds show
            page = web.get(answer)
            assert page.status_code == 200 and 'name="csrf"' in page.text
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
