"""A throwaway Synapse homeserver on loopback, for the test suite and the demo.

``LocalSynapse`` writes its own ``homeserver.yaml`` (SQLite, no federation listener, no
presence, no URL previews, never contacts matrix.org), starts Synapse as a child process in
its own process group and waits until it answers.  Users are created through the
shared-secret admin API, which takes about 20 ms per user.

Typical use::

    with LocalSynapse(tmp_path) as hs:
        alice = hs.register("alice", "secret")
        client = AsyncClient(hs.base_url, alice.user_id)

Synapse itself comes with brug's ``demo`` extra (``pip install 'brug[demo]'``).
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import hmac
import importlib.util
import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx
import yaml

logger = logging.getLogger(__name__)

INSTALL_HINT = "install brug's demo extra: pip install 'brug[demo]'"
"""What to tell someone whose Python cannot import Synapse."""

_STOP_GRACE_SECONDS = 10.0
_POLL_INTERVAL_SECONDS = 0.05
_LOG_TAIL_LINES = 30
_MARKER_KEY = "be.brug.devserver"
"""Key in ``/.well-known/matrix/client`` that tells our server apart from any other."""

_NEVER_LIMIT: dict[str, int] = {"per_second": 10_000, "burst_count": 100_000}
"""A rate that no test or demo reaches.  ``per_second: 0`` would *not* switch a limiter
off: an empty drain rate means the bucket never empties once the burst is used."""

_RATELIMIT_KEYS: tuple[str, ...] = (
    "rc_message",
    "rc_registration",
    "rc_registration_token_validity",
    "rc_login.address",
    "rc_login.account",
    "rc_login.failed_attempts",
    "rc_admin_redaction",
    "rc_joins.local",
    "rc_joins.remote",
    "rc_joins_per_room",
    "rc_key_requests",
    "rc_3pid_validation",
    "rc_invites.per_room",
    "rc_invites.per_user",
    "rc_invites.per_issuer",
    "rc_third_party_invite",
    "rc_media_create",
    "rc_presence.per_user",
    "rc_delayed_event_mgmt",
    "rc_room_creation",
    "rc_reports",
    "rc_user_directory",
    "rc_profile",
)
"""Every ``rc_*`` limiter of Synapse 1.163 (see ``synapse/config/ratelimiting.py``);
dotted names are nested sections."""


@dataclass(frozen=True)
class Account:
    """A user created on the local homeserver, already logged in once."""

    user_id: str
    access_token: str
    device_id: str
    password: str


class SynapseNotInstalledError(RuntimeError):
    """The chosen Python cannot import Synapse."""


class SynapseStartError(RuntimeError):
    """Synapse did not come up; the message ends with the last lines of its logs."""

    def __init__(self, message: str, *, address_in_use: bool = False) -> None:
        super().__init__(message)
        self.address_in_use = address_in_use


class SynapseAdminError(RuntimeError):
    """An admin API call was refused; carries the Matrix error code and text."""

    def __init__(self, action: str, status_code: int, errcode: str, error: str) -> None:
        super().__init__(f"{action} failed: HTTP {status_code} {errcode}: {error}")
        self.status_code = status_code
        self.errcode = errcode
        self.error = error


class LocalSynapse:
    """A throwaway Synapse on loopback with SQLite, for tests and the demo."""

    def __init__(
        self,
        workdir: Path,
        *,
        port: int | None = None,
        ratelimits: bool = False,
        server_name: str = "localhost",
        python: str = sys.executable,
    ) -> None:
        """Prepare (but do not start) a homeserver that keeps all its files in ``workdir``.

        ``port=None`` picks a free loopback port.  ``ratelimits=False`` raises every
        limiter so high that it never triggers; ``True`` keeps Synapse's defaults.
        ``python`` is the interpreter that runs Synapse.
        """
        self.workdir = Path(workdir).resolve()
        self.server_name = server_name
        self.ratelimits = ratelimits
        self.python = python
        self._fixed_port = port
        self._port = port if port is not None else _free_port()
        self._process: subprocess.Popen[bytes] | None = None
        self._instance = ""
        self._log_offsets: dict[Path, int] = {}

    # -- public properties -------------------------------------------------------

    @property
    def port(self) -> int:
        """The loopback port of the client listener."""
        return self._port

    @property
    def base_url(self) -> str:
        """Homeserver URL for clients, e.g. ``http://127.0.0.1:8008``."""
        return f"http://127.0.0.1:{self._port}"

    @property
    def running(self) -> bool:
        """True while the Synapse process we started is alive."""
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """Process id of the running Synapse, if any."""
        return self._process.pid if self.running and self._process else None

    @property
    def log_path(self) -> Path:
        """Synapse's own log file (INFO and up)."""
        return self.workdir / "homeserver.log"

    @property
    def console_path(self) -> Path:
        """Whatever Synapse writes to stdout/stderr (start-up errors land here)."""
        return self.workdir / "console.log"

    @property
    def config_path(self) -> Path:
        """The generated ``homeserver.yaml``."""
        return self.workdir / "homeserver.yaml"

    # -- lifecycle -----------------------------------------------------------------

    def start(self, timeout: float = 60.0) -> None:
        """Write the config, start Synapse and wait until it answers as *this* server.

        Raises ``SynapseNotInstalledError`` when ``python`` lacks Synapse and
        ``SynapseStartError`` (a ``RuntimeError``) with the log tail on any other failure.
        When the port was picked automatically and turns out to be taken, a new port is
        tried (at most three times).
        """
        if self.running:
            return
        self._check_synapse_importable()
        self.workdir.mkdir(parents=True, exist_ok=True)
        attempts = 1 if self._fixed_port is not None else 3
        for attempt in range(1, attempts + 1):
            try:
                self._start_once(timeout)
                return
            except SynapseStartError as exc:
                if not exc.address_in_use or attempt == attempts:
                    raise
                logger.info("port %d was taken, trying another one", self._port)
                self._port = _free_port()

    def stop(self) -> None:
        """Stop Synapse: SIGTERM, then SIGKILL after 10 s.  Safe to call more than once."""
        process, self._process = self._process, None
        if process is None:
            return
        atexit.unregister(self.stop)
        _terminate(process, _STOP_GRACE_SECONDS)
        logger.info("Synapse on port %d stopped", self._port)

    def __enter__(self) -> LocalSynapse:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- admin API -------------------------------------------------------------------

    def register(self, localpart: str, password: str, *, admin: bool = False) -> Account:
        """Create a user through the shared-secret admin API and return its login."""
        self._require_running()
        url = f"{self.base_url}/_synapse/admin/v1/register"
        action = f"registering {localpart!r}"
        with _loopback_client(30.0) as http:
            nonce = _json_or_raise(http.get(url), action)["nonce"]
            mac = _registration_mac(self._secrets()["registration"], nonce, localpart, password, admin)
            body = {
                "nonce": nonce,
                "username": localpart,
                "password": password,
                "admin": admin,
                "mac": mac,
            }
            reply = _json_or_raise(http.post(url, json=body), action)
        logger.debug("registered %s", reply["user_id"])
        return Account(
            user_id=reply["user_id"],
            access_token=reply["access_token"],
            device_id=reply["device_id"],
            password=password,
        )

    def override_ratelimit(
        self,
        admin_token: str,
        user_id: str,
        *,
        messages_per_second: int = 0,
        burst_count: int = 0,
    ) -> None:
        """Set a per-user rate limit through the admin API (needs an admin's token).

        With the defaults (0, 0) the user is no longer rate-limited at all.  Non-zero
        values replace Synapse's message limit for that user only.
        """
        self._require_running()
        url = f"{self.base_url}/_synapse/admin/v1/users/{quote(user_id, safe='')}/override_ratelimit"
        body = {"messages_per_second": messages_per_second, "burst_count": burst_count}
        headers = {"Authorization": f"Bearer {admin_token}"}
        with _loopback_client(30.0) as http:
            _json_or_raise(http.post(url, json=body, headers=headers), f"override_ratelimit for {user_id}")

    # -- start-up internals ------------------------------------------------------------

    def _start_once(self, timeout: float) -> None:
        """One attempt: config, spawn, wait; kills the child again if anything fails."""
        self._instance = secrets.token_hex(8)
        self._write_config()
        self._remember_log_offsets()
        self._process = self._spawn()
        atexit.register(self.stop)
        started = time.monotonic()
        try:
            self._wait_until_ready(timeout)
        except BaseException:
            self.stop()
            raise
        logger.info(
            "Synapse ready at %s after %.1f s (pid %d)",
            self.base_url,
            time.monotonic() - started,
            self._process.pid,
        )

    def _check_synapse_importable(self) -> None:
        """Fail early with an install hint when our own interpreter lacks Synapse."""
        if self.python == sys.executable and importlib.util.find_spec("synapse") is None:
            raise SynapseNotInstalledError(f"Synapse is not installed for {self.python}; {INSTALL_HINT}")

    def _spawn(self) -> subprocess.Popen[bytes]:
        """Start Synapse in its own session so a Ctrl-C in the terminal only reaches us."""
        command = [self.python, "-m", "synapse.app.homeserver", "-c", str(self.config_path)]
        logger.debug("starting %s", command)
        with open(self.console_path, "ab") as console:
            return subprocess.Popen(
                command,
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _wait_until_ready(self, timeout: float) -> None:
        """Poll ``/health`` until this very process answers, it exits, or time runs out."""
        assert self._process is not None
        deadline = time.monotonic() + timeout
        with _loopback_client(2.0) as http:
            while time.monotonic() < deadline:
                code = self._process.poll()
                if code is not None:
                    raise self._start_error(f"Synapse exited with code {code} during start-up")
                if self._answers_as_us(http):
                    return
                time.sleep(_POLL_INTERVAL_SECONDS)
        raise self._start_error(f"Synapse did not become ready within {timeout:.0f} s")

    def _answers_as_us(self, http: httpx.Client) -> bool:
        """True when ``/health`` is OK *and* the server is ours, not another one on that port."""
        try:
            if http.get(f"{self.base_url}/health").status_code != 200:
                return False
            well_known = http.get(f"{self.base_url}/.well-known/matrix/client").json()
            return bool(well_known.get(_MARKER_KEY, {}).get("instance") == self._instance)
        except (httpx.HTTPError, ValueError, AttributeError):
            return False

    def _start_error(self, headline: str) -> RuntimeError:
        """Build the exception for a failed start, with the tail of both logs."""
        console = self._new_log_lines(self.console_path)
        log = self._new_log_lines(self.log_path)
        if "No module named" in console and "synapse" in console:
            return SynapseNotInstalledError(f"{self.python} cannot run Synapse; {INSTALL_HINT}\n{console}")
        address_in_use = "Address already in use" in log + console
        if address_in_use:
            headline += f"; port {self._port} is already in use"
        # Synapse writes start-up errors to both files; the console only matters when the
        # log stayed empty (for instance a config error before logging was set up).
        source, tail = (self.log_path, log) if log else (self.console_path, console)
        message = (
            f"{headline} (workdir {self.workdir}).\n--- last lines of {source} ---\n{tail or '(nothing was logged)'}"
        )
        return SynapseStartError(message, address_in_use=address_in_use)

    def _remember_log_offsets(self) -> None:
        """Note where the logs end now, so a start error shows only this run's lines."""
        self._log_offsets = {p: p.stat().st_size if p.exists() else 0 for p in (self.log_path, self.console_path)}

    def _new_log_lines(self, path: Path) -> str:
        """The last lines ``path`` got since the current start began."""
        if not path.exists():
            return ""
        with open(path, "rb") as handle:
            handle.seek(self._log_offsets.get(path, 0))
            text = handle.read().decode("utf-8", errors="replace")
        return "\n".join(deque(text.splitlines(), maxlen=_LOG_TAIL_LINES))

    def _require_running(self) -> None:
        if not self.running:
            raise RuntimeError("this LocalSynapse is not running; call start() first")

    # -- configuration -------------------------------------------------------------------

    def _write_config(self) -> None:
        """Write ``homeserver.yaml`` and its logging config into the workdir."""
        log_config = self.workdir / "log_config.yaml"
        log_config.write_text(yaml.safe_dump(_log_config(self.log_path)), encoding="utf-8")
        config = self._homeserver_config(log_config)
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")

    def _homeserver_config(self, log_config: Path) -> dict[str, Any]:
        """The whole homeserver config as a dict."""
        keys = self._secrets()
        config: dict[str, Any] = {
            "server_name": self.server_name,
            "pid_file": str(self.workdir / "homeserver.pid"),
            "log_config": str(log_config),
            "database": {"name": "sqlite3", "args": {"database": str(self.workdir / "homeserver.db")}},
            "media_store_path": str(self.workdir / "media"),
            "signing_key_path": str(self.workdir / "signing.key"),
            "registration_shared_secret": keys["registration"],
            "macaroon_secret_key": keys["macaroon"],
            "form_secret": keys["form"],
            "report_stats": False,
            "enable_metrics": False,
            "listeners": [_client_listener(self._port)],
            "public_baseurl": f"{self.base_url}/",
            "extra_well_known_client_content": {_MARKER_KEY: {"instance": self._instance}},
            "trusted_key_servers": [],
            "suppress_key_server_warning": True,
            "enable_registration": False,
            "bcrypt_rounds": 4,
            "url_preview_enabled": False,
            "presence": {"enabled": False},
        }
        if not self.ratelimits:
            config.update(_unlimited_ratelimits())
        return config

    def _secrets(self) -> dict[str, str]:
        """Secrets for this workdir: made once, kept so a restarted server stays the same."""
        path = self.workdir / "secrets.json"
        if path.exists():
            return dict(json.loads(path.read_text(encoding="utf-8")))
        keys = {name: secrets.token_urlsafe(32) for name in ("registration", "macaroon", "form")}
        self.workdir.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(keys), encoding="utf-8")
        path.chmod(0o600)
        return keys


# -- helpers -----------------------------------------------------------------------------


def _free_port() -> int:
    """A loopback TCP port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _loopback_client(timeout: float) -> httpx.Client:
    """An HTTP client for our loopback server that ignores any proxy set in the environment."""
    return httpx.Client(timeout=timeout, trust_env=False)


def _client_listener(port: int) -> dict[str, Any]:
    """A plain-HTTP client(+admin) listener on loopback; no federation."""
    return {
        "port": port,
        "bind_addresses": ["127.0.0.1"],
        "type": "http",
        "tls": False,
        "x_forwarded": False,
        "resources": [{"names": ["client"], "compress": False}],
    }


def _unlimited_ratelimits() -> dict[str, Any]:
    """Config sections that raise every ``rc_*`` limiter beyond reach."""
    sections: dict[str, Any] = {}
    for key in _RATELIMIT_KEYS:
        *parents, leaf = key.split(".")
        node = sections
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = dict(_NEVER_LIMIT)
    return sections


def _log_config(log_path: Path) -> dict[str, Any]:
    """Python logging config for Synapse: INFO to a file, noisy loggers at WARNING."""
    return {
        "version": 1,
        "formatters": {
            "precise": {"format": "%(asctime)s - %(name)s - %(lineno)d - %(levelname)s - %(request)s - %(message)s"}
        },
        "handlers": {
            "file": {
                "class": "logging.FileHandler",
                "formatter": "precise",
                "filename": str(log_path),
                "encoding": "utf8",
            }
        },
        "loggers": {
            "synapse.storage.SQL": {"level": "WARNING"},
            "synapse.access.http": {"level": "WARNING"},
        },
        "root": {"level": "INFO", "handlers": ["file"]},
        "disable_existing_loggers": False,
    }


def _registration_mac(secret: str, nonce: str, localpart: str, password: str, admin: bool) -> str:
    """HMAC-SHA1 that the shared-secret registration API expects."""
    mac = hmac.new(secret.encode("utf-8"), digestmod=hashlib.sha1)
    for part in (nonce, localpart, password):
        mac.update(part.encode("utf-8"))
        mac.update(b"\x00")
    mac.update(b"admin" if admin else b"notadmin")
    return mac.hexdigest()


def _json_or_raise(response: httpx.Response, action: str) -> dict[str, Any]:
    """The JSON body of a successful reply, or ``SynapseAdminError`` with the Matrix error."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.is_success:
        return dict(body)
    raise SynapseAdminError(
        action,
        response.status_code,
        str(body.get("errcode", "")),
        str(body.get("error", response.text[:200])),
    )


def _terminate(process: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM the process group, wait up to ``grace`` seconds, then SIGKILL it."""
    if process.poll() is not None:
        return
    _signal_group(process, signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        logger.warning("Synapse (pid %d) ignored SIGTERM for %.0f s; killing it", process.pid, grace)
        _signal_group(process, signal.SIGKILL)
        process.wait()


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    """Signal the process group we created with ``start_new_session``."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
