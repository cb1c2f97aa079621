"""Shared fixtures: the real content library, the examples, and a CLI runner in a scratch folder."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from brug.content.library import Library, load_library
from brug.content.render import Renderer
from tests.postgres import PostgresServer

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
SHARED = ROOT.parent / "shared"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In a parallel run (`./run tests`: pytest-xdist, one worker per core) the tests marked `long` are
    handed out first, so that the run does not end with one worker on a test of minutes while the others
    have nothing left to do. Each worker collects, and the workers hand out tests in the order collected
    (`--no-loadscope-reorder`); a run in one process keeps the files' order."""
    if hasattr(config, "workerinput"):  # an xdist worker
        items.sort(key=lambda item: item.get_closest_marker("long") is None)  # stable: files' order otherwise


def pytest_collection_finish(session: pytest.Session) -> None:
    """A worker of `--dist loadgroup` whose tests of an `xdist_group` did not get the group in their id would
    spread the group over the workers without a word (pytest-xdist 3.8 with pytest 9.2): stop instead."""
    if getattr(session.config.option, "loadgroup", False):
        ungrouped = [i.nodeid for i in session.items if i.get_closest_marker("xdist_group") and "@" not in i.nodeid]
        if ungrouped:
            raise SystemExit(  # a worker's UsageError would not show its message
                f"pytest-xdist did not group {ungrouped[0]} (and {len(ungrouped) - 1} more): this pytest and "
                "pytest-xdist do not work together for --dist loadgroup; install the versions pyproject.toml asks for"
            )


@pytest.fixture(scope="session")
def library() -> Library:
    return load_library()


@pytest.fixture(scope="session")
def renderer() -> Renderer:
    return Renderer()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A real PostgreSQL server, started once per session (only when a test asks for it)."""
    server = PostgresServer()
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Where a test's store lives, once per engine: a SQLite file, and a fresh schema on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'brug.db'}"
        return
    server: PostgresServer = request.getfixturevalue("postgres")
    yield server.url()
    server.disconnect_all()  # the test's engines may linger until collected: free their connections


@pytest.fixture
def in_tmp(tmp_path: Path) -> Iterator[Path]:
    """Run in an empty scratch folder (brug reads ./brug.toml)."""
    old = Path.cwd()
    os.chdir(tmp_path)
    try:
        yield tmp_path
    finally:
        os.chdir(old)


class Cli:
    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: str, env: dict[str, str] | None = None, input: str | None = None):  # type: ignore[no-untyped-def]
        from brug.cli import app

        return self.runner.invoke(app, list(args), env=env, input=input, catch_exceptions=False)


@pytest.fixture
def cli() -> Cli:
    return Cli()
