"""Fixtures for the Nextcloud test-server suite.

One server runs for the whole session; the ``nc`` fixture wipes its state and gives it a fresh
controllable clock before each test, so tests stay independent and fast. ``nc`` is Nextcloud 32;
``versioned_nc`` is the same server as Nextcloud 30, 31 and 32 in turn (one test run each), for
the tests of brug's adapter, which must work on every supported release.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.nextcloud_server import NextcloudTestServer

CONTRACTS_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "contracts" / "nextcloud"

PASSWORDS = {"alice": "alice-app-password", "bob": "bob-app-password", "carol": "carol-app-password"}
VERSIONS = (30, 31, 32)


class FakeClock:
    """An injectable clock (epoch seconds) that only moves when a test says so."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.now += seconds


@pytest.fixture(scope="session")
def contracts_dir() -> Path:
    """The shared contracts folder; the suite fails loudly when it is missing."""
    if not CONTRACTS_DIR.is_dir():
        pytest.fail(f"Nextcloud contracts folder not found at {CONTRACTS_DIR} (the repo must sit beside shared/)")
    return CONTRACTS_DIR


@pytest.fixture(scope="session")
def nc_server() -> Iterator[NextcloudTestServer]:
    """The running server, shared by the session."""
    server = NextcloudTestServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def clock() -> FakeClock:
    """A fresh fake clock for the test."""
    return FakeClock()


def fresh(server: NextcloudTestServer, clock: FakeClock, version: int = 32) -> NextcloudTestServer:
    """The server with empty state, the clock, and users alice (admin), bob and carol."""
    server.reset(version=version)
    server.clock = clock
    server.add_user("alice", PASSWORDS["alice"], "Alice Peeters", admin=True)
    server.add_user("bob", PASSWORDS["bob"], "Bob Janssens")
    server.add_user("carol", PASSWORDS["carol"], "Carol Maes")
    return server


@pytest.fixture
def nc(nc_server: NextcloudTestServer, clock: FakeClock) -> NextcloudTestServer:
    """Nextcloud 32 with empty state, the test's clock, and users alice (admin), bob and carol."""
    return fresh(nc_server, clock)


@pytest.fixture(params=VERSIONS, ids=[f"nc{v}" for v in VERSIONS])
def versioned_nc(request: pytest.FixtureRequest, nc_server: NextcloudTestServer, clock: FakeClock) -> NextcloudTestServer:
    """As ``nc``, once as each supported release (30, 31, 32)."""
    return fresh(nc_server, clock, request.param)


def make_client(server: NextcloudTestServer, user: str | None = "alice", *, ocs: bool = True) -> httpx.Client:
    """An httpx client for ``user`` (Basic auth with the app password) and the OCS header."""
    headers = {"OCS-APIRequest": "true"} if ocs else {}
    auth = (user, PASSWORDS[user]) if user else None
    return httpx.Client(base_url=server.base_url, auth=auth, headers=headers, timeout=40)


@pytest.fixture
def alice(nc: NextcloudTestServer) -> Iterator[httpx.Client]:
    """A client logged in as alice."""
    with make_client(nc, "alice") as client:
        yield client


@pytest.fixture
def bob(nc: NextcloudTestServer) -> Iterator[httpx.Client]:
    """A client logged in as bob."""
    with make_client(nc, "bob") as client:
        yield client
