"""Debian commands the tests need, installed on a fresh machine when the tests run as root (as CI does)."""

from __future__ import annotations

import os
import shutil
import subprocess


def debian_command(name: str, package: str) -> str:
    """The path of `name`; when missing, `apt-get install package` first (as root), else a clear failure."""
    found = shutil.which(name)
    if found is None and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-q"], check=True, env=env, capture_output=True)
        subprocess.run(
            ["apt-get", "install", "-y", "--no-install-recommends", package], check=True, env=env, capture_output=True
        )
        found = shutil.which(name)
    if found is None:
        raise AssertionError(f"the tests need `{name}`: apt-get install {package}")
    return found
