"""`./run demo`: brug's main job on the embedded default, to look at and play with.

It copies the example partnerships into ./demo, runs `brug apply` on them (local workspace folders
with phase guides, agreement drafts and chat transcripts) and shows where to look.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from rich.console import Console
from rich.tree import Tree

from brug.cli import app

REPO = Path(__file__).resolve().parents[2]
console = Console(highlight=False)


def prepare(folder: Path) -> Path:
    partnerships = folder / "partnerschappen"
    partnerships.mkdir(parents=True, exist_ok=True)
    for example in sorted((REPO / "examples").glob("*.yaml")):
        target = partnerships / example.name
        if not target.exists():
            shutil.copy(example, target)
    config = folder / "brug.toml"
    if not config.exists():
        config.write_text(
            'partnerships = ["partnerschappen"]\nworkspace = "werkruimte"\nstate = ".brug/state.db"\n', encoding="utf-8"
        )
    return config


def show_tree(root: Path, limit: int = 40) -> Tree:
    tree = Tree(f"[bold]{root}[/]")
    shown = 0
    for partnership in sorted(p for p in root.iterdir() if p.is_dir()):
        branch = tree.add(f"[bold]{partnership.name}/[/]")
        for path in sorted(partnership.rglob("*")):
            if path.is_file() and shown < limit:
                branch.add(str(path.relative_to(partnership)))
                shown += 1
    return tree


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="./run demo", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--folder", type=Path, default=Path("demo"), help="where the demo lives (default ./demo)")
    args = parser.parse_args(argv)
    config = prepare(args.folder)
    console.rule("brug demo: de lokale werkruimte")
    try:
        app(["--config", str(config), "apply"], standalone_mode=False)
    except SystemExit as stop:
        if stop.code:
            return int(stop.code)
    workspace = args.folder / "werkruimte"
    console.print(show_tree(workspace))
    console.print(
        f"\nKijk gerust rond in [bold]{workspace}[/]: open een overzicht.md, een fasegids of het "
        "samenwerkingsakkoord, pas er iets aan en voer de demo opnieuw uit: wat je aanpaste, blijft staan.\n"
        f"Zelf verder: [bold].venv/bin/brug --config {config} status[/] of [bold]… plan[/]."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
