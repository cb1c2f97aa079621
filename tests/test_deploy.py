"""deploy/: the container file, the systemd unit and the settings they use.

No container engine runs on the test machines, so the image is not built here. What the image would
do is tested instead: every file the Containerfile copies exists, its settings load, it runs as a user
of its own with a health check on /healthz; and brug is started the way the image starts it — as an
unprivileged user, with every file system read-only except the state volume and a tmpfs /tmp, with
deploy/brug.toml itself — and must answer /healthz and /readyz and write only into the volume. The
systemd unit is checked by `systemd-analyze verify` and scored by `systemd-analyze security`.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from brug.settings import load_settings
from tests.barometer_world import barometer_partnership
from tests.conftest import ROOT
from tests.debian import debian_command
from tests.test_operations import wait_for
from tests.web_world import free_port

DEPLOY = ROOT / "deploy"
NOBODY = 65534


def instructions(text: str) -> list[tuple[str, str]]:
    """The Containerfile's instructions, continuation lines joined: (INSTRUCTION, arguments)."""
    joined = re.sub(r"\\\n", " ", text)
    found = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def test_the_containerfile_copies_what_exists_and_runs_brug_as_its_own_user() -> None:
    steps = instructions((DEPLOY / "Containerfile").read_text(encoding="utf-8"))
    froms = [args for word, args in steps if word == "FROM"]
    assert froms and all("slim" in f and "python" in f for f in froms)  # Debian slim Python
    for word, args in steps:
        if word == "COPY" and not args.startswith("--from"):
            *sources, _ = args.split()
            for source in sources:
                assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
    users = [args for word, args in steps if word == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    health = next(args for word, args in steps if word == "HEALTHCHECK")
    assert "BRUG_HEALTH_URL" in health
    env = " ".join(args for word, args in steps if word == "ENV")
    assert "BRUG_HEALTH_URL=http://127.0.0.1:8080/healthz" in env and "BRUG_LOG_FORMAT=json" in env
    assert "BRUG_CONFIG=/etc/brug/brug.toml" in env and "HOME=/var/lib/brug" in env
    assert ("ENTRYPOINT", '["brug"]') in steps and ("CMD", '["run"]') in steps
    assert ("VOLUME", '["/var/lib/brug"]') in steps
    # what pip installs from the copied tree is the package with its data (pyproject's force-include)
    assert {"plugin", "workflows", "templates", "pyproject.toml"} <= {
        s for word, args in steps if word == "COPY" for s in args.split()[:-1]
    } | {"pyproject.toml"}


def test_the_deploy_settings_keep_everything_brug_writes_in_the_volume() -> None:
    settings = load_settings(DEPLOY / "brug.toml")
    volume = Path("/var/lib/brug")
    assert Path(settings.state).is_relative_to(volume)
    assert settings.workspace.is_relative_to(volume)
    assert all(p.is_relative_to(volume) for p in settings.partnerships)
    assert settings.metrics is not None and settings.metrics.port == 8080  # the HEALTHCHECK's port


def _read_only_script(state: Path, port: int) -> str:
    """Inside a private mount namespace: every file system read-only, then the volume and /tmp writable,
    then brug as an unprivileged user with the deploy settings (the command the image runs)."""
    python = Path(sys.executable)
    environment = {
        "PATH": f"{python.parent}:/usr/bin:/bin",
        "HOME": "/var/lib/brug",
        "TMPDIR": "/tmp",
        "LANG": "C.UTF-8",
        "BRUG_LOG_FORMAT": "json",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONPATH": str(ROOT / "plugin"),
    }
    command = [
        "setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--inh-caps=-all",
        "env", "-i", *[f"{k}={v}" for k, v in environment.items()],
        str(python), "-m", "brug", "--config", str(DEPLOY / "brug.toml"), "run", "--host", "127.0.0.1", "--port", str(port),
    ]
    return "\n".join(
        [
            "set -e",
            *_readable_python(),
            # read-only: the root and every real file system under it (not /proc, /sys, /dev)
            "awk '{print $5}' /proc/self/mountinfo | grep -Ev '^/(proc|sys|dev|mnt/sandboxing)(/|$)' | "
            "while read -r m; do mount -o remount,bind,ro \"$m\" 2>/dev/null || true; done",
            "if touch /brug-can-write 2>/dev/null; then echo 'the root is not read-only' >&2; exit 97; fi",
            f"if touch {shlex.quote(str(ROOT))}/.brug-can-write 2>/dev/null; then echo 'the tree is not read-only' >&2; exit 97; fi",
            # the volume (the image's /var/lib/brug) and a tmpfs /tmp
            "mount -t tmpfs -o mode=0755 tmpfs /var/lib",
            "mkdir /var/lib/brug",
            f"mount --bind {shlex.quote(str(state))} /var/lib/brug",
            "mount -o remount,bind,rw /var/lib/brug",
            "mount -t tmpfs -o mode=1777 tmpfs /tmp",
            "exec " + shlex.join(command),
        ]
    )


def _readable_python() -> list[str]:
    """In an image the interpreter is readable by brug's user. Here it may live in a folder only root can
    enter (/root/.pyenv): inside the namespace, that folder is shown through a fresh, enterable parent."""
    real = Path(sys.executable).resolve()
    closed = next((p for p in reversed(real.parents) if p != Path("/") and not p.stat().st_mode & 0o001), None)
    if closed is None:
        return []
    child = real.relative_to(closed).parts[0]
    inside = shlex.quote(str(closed / child))
    return [  # staged on a tmpfs over /var/lib, which only this namespace sees (another one comes later)
        "mount -t tmpfs tmpfs /var/lib",
        "mkdir /var/lib/keep",
        f"mount --bind {inside} /var/lib/keep",
        f"mount -t tmpfs -o mode=0755 tmpfs {shlex.quote(str(closed))}",
        f"mkdir {inside}",
        f"mount --move /var/lib/keep {inside}",
    ]


@pytest.mark.slow
def test_brug_runs_as_the_image_runs_it_non_root_on_a_read_only_root(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.fail("this test makes a private mount namespace and needs root (as CI runs)")
    state = tmp_path / "volume"
    barometer_partnership(state / "partnerschappen", "alleen-lezen")
    for path in [state, *state.rglob("*")]:
        os.chown(path, NOBODY, NOBODY)
    tmp_path.chmod(0o755)
    port = free_port()
    script = _read_only_script(state, port)
    log = tmp_path / "brug.log"
    with log.open("w") as err:
        process = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", script], stdout=subprocess.DEVNULL, stderr=err
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(
            lambda: process.poll() is None and httpx.get(f"{base}/readyz", timeout=10).status_code == 200
            or process.poll() is not None,
            "/readyz",
        )
        assert process.poll() is None, log.read_text()
        assert httpx.get(f"{base}/healthz", timeout=10).json() == {"status": "ok"}
        assert "brug_leases 1.0" in httpx.get(f"{base}/metrics", timeout=30).text
        wait_for(lambda: (state / "werkruimte" / "alleen-lezen" / "overzicht.md").exists(), "the workspace")
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=120)
    text = log.read_text()
    assert code == 0, text
    assert "Read-only file system" not in text and "Permission denied" not in text, text
    written = {p.relative_to(state).parts[0] for p in state.rglob("*") if p.stat().st_uid == NOBODY}
    assert {"state.db", "werkruimte"} <= written  # the store and the workspaces, in the volume
    assert (state / "state.db").stat().st_uid == NOBODY


def test_the_systemd_unit_verifies_and_is_hardened(tmp_path: Path) -> None:
    analyze = debian_command("systemd-analyze", "systemd")
    text = (DEPLOY / "brug.service").read_text(encoding="utf-8")
    brug = Path(sys.executable).parent / "brug"
    unit = tmp_path / "brug.service"
    unit.write_text(text.replace("/opt/brug/bin/brug", str(brug)), encoding="utf-8")  # where brug is here
    verified = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=120)
    assert verified.returncode == 0 and verified.stderr.strip() == "", verified.stderr
    for option in (
        "DynamicUser=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes", "NoNewPrivileges=yes",
        "CapabilityBoundingSet=\n", "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
        "SystemCallFilter=@system-service", "MemoryDenyWriteExecute=yes", "StateDirectory=brug",
    ):
        assert option in text
    assert "LoadCredential=" in text
    scored = subprocess.run(
        [analyze, "security", "--offline=yes", str(unit)], capture_output=True, text=True, timeout=120
    )
    exposure = re.search(r"Overall exposure level for brug.service: (\d+\.\d+)", scored.stdout)
    assert exposure is not None, scored.stdout + scored.stderr
    assert float(exposure[1]) <= 2.0, scored.stdout  # "OK"; without network access only PrivateNetwork remains
