"""``NextcloudTestServer``: the app on a real loopback port, served by uvicorn in a thread."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from types import TracebackType
from dataclasses import dataclass
from typing import Any, Self

import uvicorn

from .app import NextcloudApp
from .state import Bot, Clock, Node, ServerState, User
from .versions import RELEASES, Release


def _listening_socket(host: str, port: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # accepted sockets inherit it
    sock.bind((host, port))
    return sock


@dataclass
class Fault:
    """A request the server answers with an error instead of serving it (see :meth:`NextcloudTestServer.fail`)."""

    method: str
    path_contains: str
    status: int  # 403, 404, 500, …: rendered as Nextcloud renders that error in the request's API area
    times: int | None = None  # None: until cleared


@contextlib.contextmanager
def serve_asgi(app: Any, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve any ASGI app on a free loopback port (e.g. a bot's webhook receiver); yields its base URL."""
    sock = _listening_socket(host)
    config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False, timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the ASGI app did not start")
        time.sleep(0.01)
    try:
        yield f"http://{host}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


class NextcloudTestServer:
    """A small Nextcloud look-alike for tests.

    >>> with NextcloudTestServer() as nc:          # doctest: +SKIP
    ...     nc.add_user("alice", "app-password")
    ...     httpx.get(nc.base_url + "/ocs/v2.php/cloud/user", auth=("alice", "app-password"), ...)

    ``clock`` (epoch seconds) drives timestamps and the rate limits (shares, calendars), so a test
    can move time forward.  ``requests`` records every call as ``(method, path, status)``.

    Like a real installation it can be Nextcloud 30, 31 or 32 (``version``: capabilities and limits
    differ), with federation off (the default of a fresh install) or on, and with or without the
    ``files_lock`` app (without it nobody holds a lock on a file being edited; only Nextcloud's own
    short transactional locks answer 423, see :meth:`busy`).
    """

    def __init__(
        self,
        clock: Clock | None = None,
        host: str = "127.0.0.1",
        *,
        version: int = 32,
        federation: bool = False,
        files_lock: bool = True,
    ) -> None:
        self.clock: Clock = clock or time.time
        self.host = host
        self.port = 0
        self.release: Release = RELEASES[version]
        self.federation = federation
        self.files_lock = files_lock
        self.state = ServerState(lambda: self.clock())
        self.requests: list[tuple[str, str, int]] = []
        self._requests_lock = threading.Lock()
        self.long_polls = 0  # long-polls waiting right now
        self.most_long_polls = 0  # the most that ever waited at once (PHP-FPM has 5 workers by default)
        self.deliveries: set[asyncio.Task[None]] = set()  # bot webhooks being posted
        self.disabled_apps: set[str] = set()  # e.g. "circles": its API answers 404 as a disabled app's does
        self.faults: list[Fault] = []  # errors to answer instead of serving (see fail())
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.stopping = threading.Event()

    # ---- lifecycle -------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` (valid once started)."""
        return f"http://{self.host}:{self.port}"

    def start(self, *, same_port: bool = False) -> Self:
        """Bind a free port (or the one it had: a server back after an outage) and serve in a
        background thread; returns when ready."""
        if self._thread is not None:
            return self
        sock = _listening_socket(self.host, self.port if same_port else 0)
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            NextcloudApp(self),
            log_level="warning",
            lifespan="off",
            access_log=False,
            timeout_graceful_shutdown=2,
            server_header=False,
        )
        self._server = uvicorn.Server(config)
        self.stopping.clear()
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the Nextcloud test server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread to end."""
        if self._server is None or self._thread is None:
            return
        self.stopping.set()
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._server = None
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def reset(self, *, version: int = 32, federation: bool = False, files_lock: bool = True) -> None:
        """Forget all users and data (the port stays) and become the given installation."""
        with self.state.lock:
            self.state = ServerState(lambda: self.clock())
        self.release = RELEASES[version]
        self.federation = federation
        self.files_lock = files_lock
        self.long_polls = self.most_long_polls = 0
        self.disabled_apps = set()
        self.faults = []
        with self._requests_lock:
            self.requests.clear()

    def fail(self, method: str, path_contains: str, status: int, *, times: int | None = None) -> Fault:
        """Answer requests whose path contains `path_contains` with `status`, the way Nextcloud answers
        that error there (an OCS envelope on /ocs/: 404 "not found", 403 "forbidden", 500 for an
        exception on the server), `times` times or until the fault is removed from :attr:`faults`."""
        fault = Fault(method.upper(), path_contains, status, times)
        self.faults.append(fault)
        return fault

    def take_fault(self, method: str, path: str) -> Fault | None:
        """The fault that answers this request, if any (counting it down)."""
        for fault in list(self.faults):
            if fault.method in (method, "*") and fault.path_contains in path:
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
                return fault
        return None

    @property
    def version(self) -> int:
        """The emulated major release (30, 31 or 32)."""
        return self.release.major

    # ---- request log -----------------------------------------------------------------------

    def log_request(self, method: str, path: str, status: int) -> None:
        """Called by the app for every request."""
        with self._requests_lock:
            self.requests.append((method, path, status))

    def count(self, method: str | None = None, path_contains: str = "", status: int | None = None) -> int:
        """How many logged requests match all the given filters."""
        with self._requests_lock:
            return sum(
                1
                for m, p, s in self.requests
                if (method is None or m == method) and path_contains in p and (status is None or s == status)
            )

    # ---- seeding and test hooks ------------------------------------------------------------

    def add_user(
        self,
        uid: str,
        password: str,
        display_name: str | None = None,
        *,
        admin: bool = False,
        login: str | None = None,
        email: str | None = None,
    ) -> User:
        """Create a user whose ``password`` works as app password for Basic auth.

        ``login`` is the name the user logs in with when it differs from the user id (LDAP, SSO):
        Basic auth then takes the login name, while WebDAV paths and every API show the id.
        """
        user = self.state.add_user(uid, password, display_name, admin=admin)
        with self.state.lock:
            if login is not None and login != uid:
                self.state.logins[login] = uid
            if email is not None:
                user.email = email
        return user

    def add_federated_server(self, host: str) -> None:
        """A remote Nextcloud this one can reach: federated shares to ``user@host`` then succeed."""
        with self.state.lock:
            self.state.federated_servers.add(host)

    def install_bot(self, name: str, secret: str, url: str, *, features: int = 3) -> Bot:
        """``occ talk:bot:install``: ``features`` 1 webhook, 2 response, 4 event, 8 reaction."""
        with self.state.lock:
            return self.state.install_bot(name, secret, url, features)

    def enable_bot(self, bot_id: int, token: str) -> None:
        """``occ talk:bot:setup`` for one conversation."""
        with self.state.lock:
            self.state.rooms[token].bots.add(bot_id)

    def add_bearer_token(self, token: str, uid: str) -> None:
        """Accept ``Authorization: Bearer <token>`` as ``uid`` (like an OAuth2/OIDC token)."""
        with self.state.lock:
            self.state.bearer_tokens[token] = uid

    def add_oauth_client(self, name: str, redirect_uri: str) -> tuple[str, str]:
        """``occ oauth2:add-client <name> <redirect URI>``: the client id and secret."""
        from .oauth2 import add_client

        return add_client(self.state, name, redirect_uri)

    def add_group(self, gid: str, members: list[str] | tuple[str, ...] = ()) -> None:
        """Create a group (if needed) and add ``members``."""
        with self.state.lock:
            group = self.state.groups.setdefault(gid, [])
            for uid in members:
                if uid not in group:
                    group.append(uid)

    def add_subadmin(self, uid: str, gid: str) -> None:
        """Make ``uid`` a group administrator (sub-admin) of ``gid``."""
        with self.state.lock:
            self.state.groups.setdefault(gid, [])
            self.state.subadmins.setdefault(uid, set()).add(gid)

    def _split(self, path: str, user: str | None) -> tuple[str, str]:
        if user is not None:
            return user, path.strip("/")
        first, _, rest = path.strip("/").partition("/")
        return first, rest

    def put_file(self, user: str, path: str, content: bytes | str) -> Node:
        """Seed a file (parent folders are created)."""
        data = content.encode() if isinstance(content, str) else content
        node = self.state.ensure_path(user, path, is_dir=False, content=data)
        with self.state.lock:
            if node.content != data:
                node.content = data
                self.state.touch(node)
        return node

    def make_folder(self, user: str, path: str) -> Node:
        """Seed a folder (parents included)."""
        return self.state.ensure_path(user, path, is_dir=True)

    def node(self, user: str, path: str) -> Node | None:
        """The node at ``path`` in ``user``'s files, or None."""
        with self.state.lock:
            return self.state.resolve(user, [p for p in path.strip("/").split("/") if p])

    def read_file(self, user: str, path: str) -> bytes:
        """Current content of a file (KeyError when missing)."""
        node = self.node(user, path)
        if node is None or node.is_dir:
            raise KeyError(path)
        return node.content

    def etag(self, user: str, path: str) -> str:
        """Current ETag of a node, quoted as in HTTP headers."""
        node = self.node(user, path)
        if node is None:
            raise KeyError(path)
        return f'"{node.etag}"'

    def busy(self, path: str, user: str | None = None, *, times: int = 1) -> None:
        """Nextcloud's own transactional lock: the next ``times`` writes of the file answer 423.

        Exists with or without ``files_lock`` (a scan or another upload holds the file briefly).
        """
        uid, rel = self._split(path, user)
        node = self.node(uid, rel)
        if node is None:
            raise KeyError(path)
        with self.state.lock:
            node.busy = times

    def lock(self, path: str, user: str | None = None, *, owner: str = "locker") -> None:
        """Lock a file (the ``files_lock`` app) so writes answer 423 until :meth:`unlock`.

        ``path`` is relative to ``user``'s files; without ``user`` it starts with the user id
        (``"alice/Docs/agenda.md"``).  ``owner`` is the lock holder (another person by default,
        so every client gets 423; pass the user's own id to let that user keep writing).
        """
        if not self.files_lock:
            raise RuntimeError("this server runs without the files_lock app: nobody can lock a file")
        uid, rel = self._split(path, user)
        node = self.node(uid, rel)
        if node is None:
            raise KeyError(path)
        with self.state.lock:
            node.lock_owner = owner
            node.lock_time = self.state.now()

    def unlock(self, path: str, user: str | None = None) -> None:
        """Release a lock taken with :meth:`lock`."""
        uid, rel = self._split(path, user)
        node = self.node(uid, rel)
        if node is None:
            raise KeyError(path)
        with self.state.lock:
            node.lock_owner = None
            node.lock_time = 0

    def edit_as_person(self, user: str, path: str, content: bytes | str) -> str:
        """Change a file as a person editing it in Nextcloud Text would: new content and ETag.

        Returns the new (quoted) ETag.
        """
        data = content.encode() if isinstance(content, str) else content
        node = self.node(user, path)
        if node is None or node.is_dir:
            raise KeyError(path)
        with self.state.lock:
            node.content = data
            self.state.touch(node)
            return f'"{node.etag}"'
