"""Several `brug run` on one host share one web port (SO_REUSEPORT, brug/web/sockets.py).

Two real `brug run` on the PostgreSQL the tests start, both with `[web]` on the same port: both answer
`/healthz` and the sign-in page (the kernel spreads new connections over them; each instance is told
apart by its process start time in `/metrics`), and when one stops the other answers every request.
"""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from brug.web.sockets import shared_sockets

from tests.postgres import PostgresServer
from tests.test_web_cli import setup
from tests.web_world import free_port



def answered_by(base: str) -> str | None:
    """Which process answered this connection: its start time as /metrics gives it (None: none did)."""
    try:
        page = httpx.get(f"{base}/metrics", timeout=10)
    except httpx.HTTPError:
        return None
    found = re.search(r"^process_start_time_seconds (\S+)$", page.text, re.M)
    return found.group(1) if page.status_code == 200 and found else None


@pytest.mark.slow
def test_two_instances_share_one_port_and_the_other_answers_when_one_stops(
    tmp_path: Path, postgres: PostgresServer
) -> None:
    port = free_port()
    env = setup(tmp_path, port)
    config = tmp_path / "brug.toml"
    config.write_text(f'state = "{postgres.url()}"\n' + config.read_text(encoding="utf-8"), encoding="utf-8")
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "brug", "-v", "run"]
    processes: list[subprocess.Popen[bytes]] = []

    def logs() -> str:
        return "\n".join((tmp_path / f"instance-{n}.log").read_text(errors="replace")[-3000:] for n in range(2))

    def wait_for(check, timeout: float = 120):  # type: ignore[no-untyped-def]
        began = time.monotonic()
        while time.monotonic() - began < timeout:
            ended = [n for n, p in enumerate(processes) if p.poll() is not None]
            assert not ended, f"instance {ended} ended (the port refused?)\n{logs()}"
            if found := check():
                return found
            time.sleep(0.2)
        raise AssertionError(f"not within {timeout} s\n{logs()}")

    try:
        for n in range(2):
            with (tmp_path / f"instance-{n}.log").open("ab") as log:
                processes.append(subprocess.Popen(command, cwd=tmp_path, env=env, stdout=log, stderr=log))
            seen: set[str] = set()
            # the second binds the port the first listens on; then connections reach both
            wait_for(lambda: seen.add(answered_by(base) or "") or len(seen - {""}) > n)  # noqa: B023
        assert all(p.poll() is None for p in processes), logs()  # neither refused the port

        both = {answered_by(base) for _ in range(40)}
        assert len(both) == 2 and None not in both, both
        for _ in range(10):
            assert httpx.get(f"{base}/healthz", timeout=10).json() == {"status": "ok"}
            page = httpx.get(f"{base}/login", timeout=10)
            assert page.status_code == 200 and "<form" in page.text

        stopped = processes.pop(0)
        stopped.send_signal(signal.SIGTERM)
        assert stopped.wait(timeout=90) == 0, logs()
        left = {answered_by(base) for _ in range(20)}
        assert len(left) == 1 and None not in left, left  # every connection: the one still running
        for _ in range(10):
            assert httpx.get(f"{base}/healthz", timeout=10).json() == {"status": "ok"}
            assert httpx.get(f"{base}/login", timeout=10).status_code == 200
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=90)
        postgres.disconnect_all()
    assert all(p.returncode == 0 for p in processes), logs()


def test_processes_of_brug_share_a_port_and_another_programs_port_is_refused() -> None:
    port = free_port()
    first, second = shared_sockets("127.0.0.1", port), shared_sockets("127.0.0.1", port)
    try:
        assert [s.getsockname()[1] for s in first + second] == [port, port]
    finally:
        for sock in first + second:
            sock.close()
    with socket.socket() as other:  # a program that does not share its port (no SO_REUSEPORT)
        other.bind(("127.0.0.1", port))
        other.listen()
        with pytest.raises(OSError):
            shared_sockets("127.0.0.1", port)


def test_a_port_another_program_holds_is_refused_naming_the_setting(tmp_path: Path) -> None:
    port = free_port()
    env = setup(tmp_path, port)
    with socket.socket() as other:
        other.bind(("127.0.0.1", port))
        other.listen()
        done = subprocess.run(
            [sys.executable, "-m", "brug", "run"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )
    assert done.returncode == 1, done.stderr
    assert f"brug.toml: web.port: cannot listen on 127.0.0.1:{port}: the address is already in use" in done.stderr
    assert "Traceback" not in done.stderr
