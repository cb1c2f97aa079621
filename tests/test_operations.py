"""Operations, as a supervisor, a load balancer, Prometheus and a log collector see `brug run`.

One real `brug run` (a subprocess, JSON logs, secrets from files) on its own real PostgreSQL and a real
Synapse, asked over real HTTP:
- /healthz 200; /readyz 200, then 503 naming the store while PostgreSQL is stopped (and 200 once it is
  back), then 503 naming Matrix while the homeserver is down;
- /metrics parses with prometheus_client's own parser; the counters move after real posts (the local
  chat and Matrix), a real failure (a prompt for Matrix while the homeserver is down), skipped slots;
- every log line is one JSON object with its fields, and neither a secret nor a person's answer appears.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from brug.devservers.synapse import Account, LocalSynapse
from brug.app.scheduler import AGENDA, REFLECTION
from brug.store import Store
from tests.barometer_world import barometer_partnership
from tests.conftest import ROOT
from tests.matrix.world import Partner
from tests.postgres import PostgresServer
from tests.web_world import free_port

pytestmark = pytest.mark.slow

WEB_SECRET = "ops-web-signing-secret-0123456789"
ANSWER = "Ons geheim antwoord: de samenwerking met de school loopt stroef 7781"
SEPTEMBER_PROMPT = datetime(2026, 9, 25, 7, 0, tzinfo=UTC)  # the last Friday, 09:00 in Brussels
OCTOBER_PROMPT = datetime(2026, 10, 30, 8, 0, tzinfo=UTC)


def metrics_of(base: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of /metrics, parsed by prometheus_client's parser: (name, labels) -> value."""
    response = httpx.get(f"{base}/metrics", timeout=30)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def wait_for(check: Callable[[], Any], what: str, timeout: float = 120) -> Any:
    """Poll until `check` gives something truthy (generous: the machine is shared)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            found = check()
        except httpx.HTTPError:
            found = None
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError(f"waited {timeout:.0f} s for {what}")


def ready(base: str) -> httpx.Response:
    return httpx.get(f"{base}/readyz", timeout=30)


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL of this test's own: it is stopped in the middle, which the shared one must not be."""
    server = PostgresServer().start()
    try:
        yield server
    finally:
        server.stop()


class Run:
    """`brug run` as a service manager starts it: JSON logs on stderr, secrets from files."""

    def __init__(self, folder: Path, env: dict[str, str], now: datetime) -> None:
        self.log = folder / f"brug-{now:%m%d}.log"
        command = [sys.executable, "-m", "brug", "--config", str(folder / "brug.toml"), "run"]
        env = {**env, "BRUG_NOW": now.isoformat()}
        self.process = subprocess.Popen(
            command, env=env, cwd=folder, stdout=subprocess.DEVNULL, stderr=self.log.open("w"), text=True
        )

    def lines(self) -> list[str]:
        return self.log.read_text(encoding="utf-8").splitlines()

    def logged(self, text: str) -> bool:
        return any(text in line for line in self.lines())

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            assert self.process.wait(timeout=120) == 0, "\n".join(self.lines()[-30:])


def project(folder: Path, state: str, synapse: LocalSynapse, port: int) -> tuple[dict[str, str], str, Account]:
    """Two partnerships (one on the local chat, one on Matrix) and a brug.toml; the environment of the
    service, the bot's access token and the partner's Matrix id."""
    bot = synapse.register("brugops", "pw")
    partner = synapse.register("annops", "pw")
    barometer_partnership(folder / "partnerschappen", "lokaal-ops", chat="local")
    barometer_partnership(
        folder / "partnerschappen", "matrix-ops", chat="matrix", ids={"ann": ("matrix", partner.user_id)}
    )
    secrets = folder / "secrets"
    secrets.mkdir()
    (secrets / "matrix-token").write_text(bot.access_token + "\n")
    (secrets / "web-secret").write_text(WEB_SECRET + "\n")
    (folder / "brug.toml").write_text(
        'partnerships = ["partnerschappen"]\nworkspace = "werkruimte"\n'
        f'[web]\nbase_url = "http://127.0.0.1:{port}"\nport = {port}\n'
        f'[matrix]\nhomeserver = "{synapse.base_url}"\nuser_id = "{bot.user_id}"\ndevice_id = "{bot.device_id}"\n',
        encoding="utf-8",
    )
    env = {
        **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")},
        "PYTHONPATH": str(ROOT / "plugin"),
        "BRUG_STATE": state,
        "BRUG_LOG_FORMAT": "json",
        # secrets from files, as a container or systemd hands them over
        "BRUG_MATRIX__ACCESS_TOKEN_FILE": str(secrets / "matrix-token"),
        "BRUG_WEB__SECRET_FILE": str(secrets / "web-secret"),
    }
    return env, bot.access_token, partner


@pytest.mark.long
def test_health_readiness_metrics_and_json_logs_of_a_running_brug(
    tmp_path: Path, own_postgres: PostgresServer
) -> None:
    synapse = LocalSynapse(tmp_path / "synapse")
    synapse.start()
    try:
        _scenario(tmp_path, own_postgres, synapse)
    finally:
        synapse.stop()


def _scenario(tmp_path: Path, pg: PostgresServer, synapse: LocalSynapse) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    state = pg.url()
    env, token, partner = project(tmp_path, state, synapse, port)
    store = Store(state)
    for pid in ("lokaal-ops", "matrix-ops"):  # the schedule starts before September's prompt
        store.set_schedule_mark(pid, REFLECTION, datetime(2026, 9, 24, tzinfo=UTC))
        store.set_schedule_mark(pid, AGENDA, datetime(2026, 9, 24, tzinfo=UTC))
    store.close()

    # --- September: everything up; the prompts go out on both chats --------------------------------
    run = Run(tmp_path, env, SEPTEMBER_PROMPT.replace(minute=5))
    try:
        wait_for(lambda: httpx.get(f"{base}/healthz", timeout=5).json() == {"status": "ok"}, "/healthz")
        samples = wait_for(
            lambda: (m := metrics_of(base))
            and value(m, "brug_slots_total", kind="reflection", outcome="on_time") == 2
            and m,
            "the two reflection prompts",
        )
        # lokaal-ops on the local chat; matrix-ops on Matrix and in its local transcript
        assert value(samples, "brug_posts_total", kind="reflection", outcome="sent") == 3
        assert value(samples, "brug_leases") == 2  # on PostgreSQL: the two partnerships this instance leases
        assert value(samples, "brug_reconcile_duration_seconds_count") >= 1
        assert value(samples, "brug_outbox_posts", platform="matrix", status="pending") == 0
        assert value(samples, "process_resident_memory_bytes") > 0
        assert all("partnership" not in dict(labels) for _, labels in samples)  # no partner data in labels
        response = ready(base)
        assert response.status_code == 200 and response.json() == {"status": "ready"}

        # a partner answers the prompt in its thread: collected, and never logged
        asyncio.run(_answer_the_prompt(synapse, partner, state))
        wait_for(lambda: run.logged("collected an answer"), "the answer to be collected")

        # the database goes down: not ready, naming the store; alive all the same; ready when it is back
        pg.halt()
        try:
            response = wait_for(lambda: (r := ready(base)).status_code == 503 and r, "503 without the store")
            assert any(reason.startswith("store:") for reason in response.json()["reasons"]), response.json()
            assert httpx.get(f"{base}/healthz", timeout=10).status_code == 200
        finally:
            pg.resume()
        wait_for(lambda: ready(base).status_code == 200, "ready again after the store is back")

        # the homeserver goes down: not ready, naming Matrix; the failed requests are counted
        synapse.stop()
        response = wait_for(lambda: (r := ready(base)).status_code == 503 and r, "503 without Matrix", timeout=150)
        assert any(r.startswith("matrix: unreachable") for r in response.json()["reasons"]), response.json()
        samples = metrics_of(base)
        assert value(samples, "brug_platform_errors_total", platform="matrix", status="unreachable") >= 1
    finally:
        run.stop()

    # --- October, the homeserver still down: the local prompt goes out, Matrix's fails and waits ----
    run = Run(tmp_path, env, OCTOBER_PROMPT.replace(minute=5))
    try:
        samples = wait_for(
            lambda: (m := metrics_of(base))
            and value(m, "brug_posts_total", kind="reflection", outcome="failed") >= 1
            and value(m, "brug_posts_total", kind="reflection", outcome="sent") >= 1
            and m,
            "October's prompts: one sent, one failed",
        )
        assert value(samples, "brug_outbox_posts", platform="matrix", status="pending") >= 1
        assert value(samples, "brug_outbox_posts", platform="local", status="pending") == 0
        # the agendas of the meetings in October were missed by more than the grace period
        assert value(samples, "brug_slots_total", kind="agenda", outcome="skipped") >= 2
        assert ready(base).status_code == 503
    finally:
        run.stop()

    _check_json_logs([*run.lines(), *(tmp_path / f"brug-{SEPTEMBER_PROMPT:%m%d}.log").read_text().splitlines()], token)


async def _answer_the_prompt(synapse: LocalSynapse, account: Account, state: str) -> None:
    """The partner joins and answers September's prompt in its thread, as in Element."""
    store = Store(state)
    try:
        rooms = {r.key: r.ref for r in store.resources("matrix", "room", "matrix-ops")}
    finally:
        store.close()
    partner = Partner(synapse, account)
    try:
        await partner.accept_invites()
        timeline = await partner.timeline(rooms["reflectie"])
        prompt = next(e for e in timeline if "/reflection/" in str(e["content"].get("be.brug.key", "")))
        await partner.say(rooms["reflectie"], ANSWER, thread_root=prompt["event_id"])
    finally:
        await partner.close()


def _check_json_logs(lines: list[str], token: str) -> None:
    assert lines, "brug logged nothing"
    records = []
    for line in lines:
        record = json.loads(line)  # every line is one JSON object
        assert {"time", "level", "logger", "message"} <= record.keys(), record
        datetime.fromisoformat(record["time"])
        records.append(record)
    posted = [r for r in records if r.get("outcome") == "sent" and r.get("kind") == "reflection"]
    assert posted and all({"partnership", "platform", "kind", "key"} <= r.keys() for r in posted), posted
    assert {r["platform"] for r in posted} >= {"local", "matrix"}
    down = [r for r in records if r.get("outcome") == "unreachable"]
    assert down and all(r["platform"] == "matrix" for r in down)
    skipped = [r for r in records if r.get("outcome") == "skipped"]
    assert skipped and all(r["kind"] == "agenda" and r["partnership"] for r in skipped)
    text = "\n".join(lines)
    for secret in (token, WEB_SECRET, ANSWER, ANSWER[:30]):
        assert secret not in text
