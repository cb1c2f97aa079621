"""Fixtures that run a real, throwaway Synapse for the Matrix tests.

``synapse`` (rate limits off) starts once per test session; ``synapse_ratelimited`` (Synapse's
default rate limits) only starts when a test asks for it. Synapse comes with brug's test extras;
when it is missing the tests fail with the install hint rather than being skipped.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator

import pytest

from brug.devservers.synapse import INSTALL_HINT, LocalSynapse


def _running_synapse(tmp_path_factory: pytest.TempPathFactory, *, ratelimits: bool) -> Iterator[LocalSynapse]:
    """Start a LocalSynapse in a fresh temporary folder and stop it afterwards."""
    if importlib.util.find_spec("synapse") is None:
        pytest.fail(f"Synapse is not installed; {INSTALL_HINT}")
    name = "synapse-ratelimited" if ratelimits else "synapse"
    server = LocalSynapse(tmp_path_factory.mktemp(name), ratelimits=ratelimits)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def synapse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSynapse]:
    """One homeserver for the whole session, with every rate limit out of reach."""
    yield from _running_synapse(tmp_path_factory, ratelimits=False)


@pytest.fixture(scope="session")
def synapse_ratelimited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSynapse]:
    """A second homeserver that keeps Synapse's default rate limits (started on first use)."""
    yield from _running_synapse(tmp_path_factory, ratelimits=True)
