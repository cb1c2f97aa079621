"""`brug web --host H --port P` and `brug run` with [web] serve the answer page and /healthz; a wrong
[web] or [mail] section is refused with the field and what is expected."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.barometer_world import barometer_partnership
from tests.web_world import free_port

SECRET = "a-test-secret-of-enough-length"


def setup(folder: Path, port: int, extra: str = "") -> dict[str, str]:
    barometer_partnership(folder / "partnerschappen")
    (folder / "brug.toml").write_text(
        f'[web]\nbase_url = "http://127.0.0.1:{port}"\nport = {port}\n{extra}', encoding="utf-8"
    )
    return {**os.environ, "BRUG_WEB__SECRET": SECRET, "BRUG_LANGUAGE": "en"}


def healthy(url: str, process: subprocess.Popen[str], timeout: float = 90) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(url, timeout=5).json() == {"status": "ok"}:
                return True
        except httpx.HTTPError:
            time.sleep(0.2)
    return False


@pytest.mark.slow
@pytest.mark.parametrize("command", [["web", "--host", "127.0.0.1", "--port", "{port}"], ["run"]])
def test_the_web_page_is_served_by_brug_web_and_by_brug_run(tmp_path: Path, command: list[str]) -> None:
    port = free_port()
    env = setup(tmp_path, port)
    args = [sys.executable, "-m", "brug", *(a.format(port=port) for a in command)]
    process = subprocess.Popen(args, cwd=tmp_path, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert healthy(f"http://127.0.0.1:{port}/healthz", process), process.stderr.read() if process.poll() else ""
        wrong = httpx.get(f"http://127.0.0.1:{port}/a/not-a-token", timeout=10)
        assert wrong.status_code == 404 and "This link does not work" not in wrong.text  # the page speaks Dutch by default
        assert "Deze link werkt niet" in wrong.text
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)


@pytest.mark.parametrize(
    ("extra", "env", "expected"),
    [
        ("", {"BRUG_WEB__SECRET": ""}, "set BRUG_WEB__SECRET or secret_file"),
        ('secret = "in-the-file-is-wrong"\n', {}, "secrets do not belong in brug.toml"),
        ('[mail]\nhost = "smtp.example.org"\nsender = "brug@example.org"\nuser = "brug"\n', {}, "BRUG_MAIL__PASSWORD"),
    ],
)
def test_a_wrong_web_or_mail_section_names_the_field(tmp_path: Path, extra: str, env: dict[str, str], expected: str) -> None:
    port = free_port()
    environment = {**setup(tmp_path, port, extra), **env}
    environment.pop("BRUG_MAIL__PASSWORD", None)
    done = subprocess.run(
        [sys.executable, "-m", "brug", "web"], cwd=tmp_path, env=environment, text=True, capture_output=True, timeout=120
    )
    assert done.returncode != 0
    assert expected in done.stderr + done.stdout
