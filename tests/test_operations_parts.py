"""The parts of operations one at a time: JSON log lines and what they never show, secrets read from
files (as containers and systemd hand them over), metric labels without partner data, rate-limit waits
counted where the pacer waits, and `brug run` serving /healthz, /readyz and /metrics without [web]."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from brug import logs, metrics
from brug.adapters.pacing import Pacer
from brug.settings import SecretUnreadable, load_settings
from tests.barometer_world import barometer_partnership
from tests.conftest import ROOT
from tests.test_operations import wait_for
from tests.test_pacing import Time
from tests.web_world import free_port


def json_line(message: str, *args: object, exc: bool = False, **extra: object) -> dict[str, object]:
    record = logging.LogRecord("brug.jobs", logging.INFO, __file__, 1, message, args, None)
    if exc:
        try:
            raise RuntimeError(f"boom with {args[0] if args else ''}")
        except RuntimeError:
            record.exc_info = sys.exc_info()
    for name, value in extra.items():
        setattr(record, name, value)
    line = logs.JsonFormatter().format(record)
    assert "\n" not in line  # one event, one line
    parsed = json.loads(line)
    assert isinstance(parsed, dict)
    return parsed


def test_a_json_line_has_time_level_logger_message_and_the_fields_given() -> None:
    line = json_line(
        "%s: posted %s", "speelvogel", "agenda",
        **logs.fields("speelvogel", "matrix", "agenda", "speelvogel/agenda/2026-09-08", "sent"),
    )
    assert line["level"] == "info" and line["logger"] == "brug.jobs"
    assert line["message"] == "speelvogel: posted agenda"
    assert line["time"].endswith("+00:00")  # type: ignore[union-attr]
    assert {k: line[k] for k in ("partnership", "platform", "kind", "key", "outcome")} == {
        "partnership": "speelvogel",
        "platform": "matrix",
        "kind": "agenda",
        "key": "speelvogel/agenda/2026-09-08",
        "outcome": "sent",
    }
    assert "exception" not in line and "seconds" not in line  # only the fields given


def test_no_secret_survives_in_a_line_or_its_traceback() -> None:
    token = "syt_YnJ1Zw_secretsecret_1a2b3c"
    logs.register_secret(token)
    logs.register_secret("abc")  # too short to mask safely: ordinary words stay readable
    line = json_line(
        "request with %s to https://hs.example/_matrix?access_token=%s and postgresql://brug:pw0rd99@db/brug; "
        "link https://brug.example.org/a/eyJwIjoic3BlZWx2b2dlbCJ9.Zx7Yq2kA_abcdefgh and Bearer %s; abc",
        token, "other-token-value", token, exc=True,
    )
    text = json.dumps(line)
    for secret in (token, "other-token-value", "pw0rd99", "eyJwIjoic3BlZWx2b2dlbCJ9"):
        assert secret not in text
    assert "boom with ***" in str(line["exception"])
    assert str(line["message"]).endswith("; abc")


def test_the_text_format_is_redacted_too(capsys: pytest.CaptureFixture[str]) -> None:
    from rich.console import Console

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    os.environ.pop("BRUG_LOG_FORMAT", None)
    try:
        logs.configure(1, Console(stderr=True, width=200))
        logs.register_secret("a-web-signing-secret")
        logging.getLogger("brug.test").warning("the secret is %s", "a-web-signing-secret")
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    err = capsys.readouterr().err
    assert "the secret is ***" in err and "a-web-signing-secret" not in err


@pytest.mark.parametrize(
    ("section", "variable", "read"),
    [
        ('[matrix]\nhomeserver = "https://hs"\nuser_id = "@brug:hs"\n', "BRUG_MATRIX__ACCESS_TOKEN_FILE", lambda s: s.matrix.token()),
        ('[nextcloud]\nurl = "https://nc"\nuser = "brug"\n', "BRUG_NEXTCLOUD__APP_PASSWORD_FILE", lambda s: s.nextcloud.password()),
        ('[nextcloud]\nurl = "https://nc"\nuser = "brug"\n', "BRUG_NEXTCLOUD__TALK_BOT_SECRET_FILE", lambda s: s.nextcloud.bot_secret()),
        ('[web]\nbase_url = "https://brug.example.org"\n', "BRUG_WEB__SECRET_FILE", lambda s: s.web.signing_secret()),
        ('[mail]\nhost = "smtp"\nsender = "brug@x.org"\nuser = "brug"\n', "BRUG_MAIL__PASSWORD_FILE", lambda s: s.mail.secret()),
    ],
)
def test_every_secret_can_come_from_a_file_named_in_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, section: str, variable: str, read  # type: ignore[no-untyped-def]
) -> None:
    (tmp_path / "brug.toml").write_text(section, encoding="utf-8")
    secret = tmp_path / "run-secrets" / "value"
    secret.parent.mkdir()
    secret.write_text(f"from-a-file-{variable.lower()}\n", encoding="utf-8")  # the newline a secret file ends with
    monkeypatch.setenv(variable, str(secret))
    settings = load_settings(tmp_path / "brug.toml")
    assert read(settings) == f"from-a-file-{variable.lower()}"
    assert logs.redact(f"x from-a-file-{variable.lower()} y") == "x *** y"  # registered when read
    secret.unlink()
    with pytest.raises(SecretUnreadable, match="No such file"):
        read(load_settings(tmp_path / "brug.toml"))


def test_a_label_never_carries_free_text() -> None:
    assert metrics.label("reflection") == "reflection"
    assert metrics.label("Jan Peeters") == "other"
    assert metrics.label("speelvogel-welzijn/reflection/2026") == "other"
    before = metrics.PLATFORM_ERRORS.labels("nextcloud", "other")._value.get()
    metrics.platform_error("nextcloud", "<html>Gateway</html>")
    assert metrics.PLATFORM_ERRORS.labels("nextcloud", "other")._value.get() == before + 1


async def test_a_wait_for_a_rate_limit_is_counted_with_its_seconds() -> None:
    clock = Time()
    pacer = Pacer(clock=clock, sleep=clock.sleep, platform="matrix")
    waits = metrics.RATE_LIMIT_WAITS.labels("matrix")._value.get()
    seconds = metrics.RATE_LIMIT_SECONDS.labels("matrix")._value.get()
    pacer.limited("event", 4.0)
    waited = await pacer.before(("event",))
    assert waited > 4
    assert metrics.RATE_LIMIT_WAITS.labels("matrix")._value.get() == waits + 1
    assert metrics.RATE_LIMIT_SECONDS.labels("matrix")._value.get() == pytest.approx(seconds + waited)


@pytest.mark.slow
@pytest.mark.parametrize("how", ["--port", "[metrics]"])
def test_brug_run_without_web_serves_health_and_metrics_only(tmp_path: Path, how: str) -> None:
    port = free_port()
    barometer_partnership(tmp_path / "partnerschappen")
    (tmp_path / "brug.toml").write_text(
        f"[metrics]\nhost = \"127.0.0.1\"\nport = {port}\n" if how == "[metrics]" else "", encoding="utf-8"
    )
    command = [sys.executable, "-m", "brug", "run"] + (["--port", str(port)] if how == "--port" else [])
    env = {**os.environ, "PYTHONPATH": str(ROOT / "plugin"), "BRUG_LOG_FORMAT": "json"}
    process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: httpx.get(f"{base}/healthz", timeout=5).status_code == 200, "/healthz")
        assert httpx.get(f"{base}/readyz", timeout=30).json() == {"status": "ready"}
        page = httpx.get(f"{base}/metrics", timeout=30)
        names = {f.name for f in text_string_to_metric_families(page.text)}
        assert {"brug_posts", "brug_outbox_posts", "brug_leases", "brug_reconcile_duration_seconds"} <= names
        assert httpx.get(f"{base}/a/anything", timeout=10).status_code == 404  # no answer page without [web]
        assert httpx.get(f"{base}/portfolio", timeout=10).status_code == 404
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=120) == 0
    for line in (process.stderr.read() if process.stderr else "").splitlines():
        json.loads(line)


def test_the_outbox_depth_counts_pending_and_parked_posts_per_platform_over_their_indexes(state_url: str) -> None:
    from sqlalchemy import inspect

    from brug.store import Store

    store = Store(state_url)
    try:
        for n in range(3):
            store.enqueue("matrix", f"p/reflection/{n}", "p", "reflectie", "reflection", "?")
        store.enqueue("local", "p/agenda/1", "p", "overleg", "agenda", "Agenda")
        store.mark_sent("local", "p/agenda/1", "ref")
        for _ in range(5):
            store.record_post_failure("matrix", "p/reflection/0", "refused", park_after=5)
        assert store.outbox_depth() == {("matrix", "pending"): 2, ("matrix", "parked"): 1}
        indexes = {i["name"] for i in inspect(store.engine).get_indexes("outbox")}
        assert {"ix_outbox_pending", "ix_outbox_parked"} <= indexes
    finally:
        store.close()
