"""``NextcloudTestServer``: the app on a real loopback port, served by uvicorn in a thread."""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from typing import Self

import uvicorn

from .app import NextcloudApp
from .state import Clock, Node, ServerState, User


class NextcloudTestServer:
    """A small Nextcloud look-alike for tests.

    >>> with NextcloudTestServer() as nc:          # doctest: +SKIP
    ...     nc.add_user("alice", "app-password")
    ...     httpx.get(nc.base_url + "/ocs/v2.php/cloud/user", auth=("alice", "app-password"), ...)

    ``clock`` (epoch seconds) drives timestamps and the share-creation rate limit, so a test can
    move time forward.  ``requests`` records every call as ``(method, path, status)``.
    """

    def __init__(self, clock: Clock | None = None, host: str = "127.0.0.1") -> None:
        self.clock: Clock = clock or time.time
        self.host = host
        self.port = 0
        self.state = ServerState(lambda: self.clock())
        self.requests: list[tuple[str, str, int]] = []
        self._requests_lock = threading.Lock()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.stopping = threading.Event()

    # ---- lifecycle -------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` (valid once started)."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> Self:
        """Bind a free port and serve in a background thread; returns when ready."""
        if self._thread is not None:
            return self
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # accepted sockets inherit it
        sock.bind((self.host, 0))
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

    def reset(self) -> None:
        """Forget all users and data (the port stays), e.g. between replayed recordings."""
        with self.state.lock:
            self.state = ServerState(lambda: self.clock())
        with self._requests_lock:
            self.requests.clear()

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

    def add_user(self, uid: str, password: str, display_name: str | None = None, *, admin: bool = False) -> User:
        """Create a user whose ``password`` works as app password for Basic auth."""
        return self.state.add_user(uid, password, display_name, admin=admin)

    def add_bearer_token(self, token: str, uid: str) -> None:
        """Accept ``Authorization: Bearer <token>`` as ``uid`` (like an OAuth2/OIDC token)."""
        with self.state.lock:
            self.state.bearer_tokens[token] = uid

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

    def lock(self, path: str, user: str | None = None, *, owner: str = "locker") -> None:
        """Lock a file so writes answer 423 until :meth:`unlock`.

        ``path`` is relative to ``user``'s files; without ``user`` it starts with the user id
        (``"alice/Docs/agenda.md"``).  ``owner`` is the lock holder (another person by default,
        so every client gets 423; pass the user's own id to let that user keep writing).
        """
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
