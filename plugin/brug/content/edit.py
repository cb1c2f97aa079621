"""Small, careful edits to a partnership file that keep its comments and layout."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

_PHASE = re.compile(r"^(phase:[ \t]*)([^\s#]+)(.*)$", re.MULTILINE)


def set_phase(path: Path, phase: str) -> None:
    """Change the top-level `phase:` value in place (atomically), keeping everything else."""
    text = path.read_text(encoding="utf-8")
    match = _PHASE.search(text)
    if match is None:
        raise ValueError(f"{path}: no top-level 'phase:' line to change")
    quote = '"' if match[2].startswith('"') else "'" if match[2].startswith("'") else ""
    new = text[: match.start(2)] + f"{quote}{phase}{quote}" + text[match.end(2) :]
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".brug-", suffix=".yaml")
    os.chmod(tmp, path.stat().st_mode & 0o777)  # keep who may read and write the file
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
        handle.write(new)
    os.replace(tmp, path)
