"""In-memory state of the test Nextcloud: users, groups, files and the apps' data.

Everything lives in one :class:`ServerState` guarded by a re-entrant lock, because the HTTP
handlers run on uvicorn's thread while tests seed and inspect state from the test thread.
"""

from __future__ import annotations

import hashlib
import itertools
import secrets
import string
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

Clock = Callable[[], float]

_ALNUM_LOWER = string.ascii_lowercase + string.digits


def random_token(length: int, alphabet: str = _ALNUM_LOWER) -> str:
    """Return a random string of ``length`` characters drawn from ``alphabet``."""
    return "".join(secrets.choice(alphabet) for _ in range(length))


# --------------------------------------------------------------------------------------------
# Users and groups
# --------------------------------------------------------------------------------------------


@dataclass
class User:
    """A Nextcloud account; ``passwords`` holds the login password and any app passwords."""

    uid: str
    display_name: str
    passwords: set[str] = field(default_factory=set)
    email: str | None = None
    language: str = "en"
    last_login: int = 0
    is_admin: bool = False


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------


@dataclass
class DeadProperty:
    """A WebDAV property stored by PROPPATCH: its clark name and serialised inner XML."""

    clark: str
    inner_xml: str


@dataclass
class Node:
    """A file or folder in a user's tree."""

    name: str
    is_dir: bool
    fileid: int
    owner: str
    etag: str
    mtime: int
    content: bytes = b""
    content_type: str = ""
    parent: Node | None = None
    children: dict[str, Node] = field(default_factory=dict)
    dead_props: dict[str, DeadProperty] = field(default_factory=dict)
    favorite: bool = False
    lock_owner: str | None = None
    lock_time: int = 0
    busy: int = 0  # writes still refused by a transactional lock (423)
    upload_time: int = 0

    @property
    def size(self) -> int:
        """Bytes of a file, or the recursive sum for a folder (as Nextcloud's ``oc:size``)."""
        if not self.is_dir:
            return len(self.content)
        return sum(child.size for child in self.children.values())

    def rel_path(self) -> str:
        """Path below the user's root, without a leading slash ('' for the root)."""
        parts: list[str] = []
        node: Node | None = self
        while node is not None and node.parent is not None:
            parts.append(node.name)
            node = node.parent
        return "/".join(reversed(parts))

    def walk(self) -> Iterator[Node]:
        """This node, then every descendant depth-first in name order."""
        yield self
        for name in sorted(self.children):
            yield from self.children[name].walk()


MIME_BY_SUFFIX: dict[str, str] = {
    ".md": "text/markdown",
    ".txt": "text/plain",
    ".ics": "text/calendar",
    ".pdf": "application/pdf",
    ".json": "application/json",
    ".yml": "application/x-yaml",
    ".yaml": "application/x-yaml",
    ".html": "text/html",
    ".csv": "text/csv",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".gz": "application/gzip",
    ".zip": "application/zip",
    ".odt": "application/vnd.oasis.opendocument.text",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}


def guess_mime(name: str) -> str:
    """Nextcloud derives the MIME type from the file name; unknown suffixes are octet-stream."""
    lower = name.lower()
    for suffix, mime in MIME_BY_SUFFIX.items():
        if lower.endswith(suffix):
            return mime
    return "application/octet-stream"


# --------------------------------------------------------------------------------------------
# Sharing, Teams, Talk, Deck, Calendar
# --------------------------------------------------------------------------------------------


@dataclass
class Share:
    """A files_sharing share."""

    id: int
    share_type: int
    owner: str
    node: Node
    share_with: str | None
    share_with_displayname: str | None
    permissions: int
    stime: int
    token: str | None = None
    password: str | None = None
    expiration: str | None = None
    note: str = ""
    label: str = ""
    hide_download: int = 0
    send_password_by_talk: bool = False


@dataclass
class CircleMember:
    """A member of a Team (circle)."""

    id: str
    circle_id: str
    single_id: str
    user_id: str
    user_type: int
    display_name: str
    level: int
    status: str
    joined: int


@dataclass
class Circle:
    """A Team (Circles app)."""

    id: str
    name: str
    owner: str
    config: int
    creation: int
    description: str = ""
    members: list[CircleMember] = field(default_factory=list)
    display_name: str = ""  # the name, made unique with " (2)", " (3)"…


@dataclass
class Attendee:
    """A participant of a Talk conversation."""

    attendee_id: int
    actor_type: str
    actor_id: str
    display_name: str
    participant_type: int
    invited_actor_id: str | None = None
    last_read_message: int = 0
    favorite: bool = False


@dataclass
class ChatMessage:
    """A chat message (comment or system message) in a Talk conversation."""

    id: int
    token: str
    actor_type: str
    actor_id: str
    actor_display_name: str
    timestamp: int
    message: str
    message_type: str = "comment"
    system_message: str = ""
    message_parameters: dict[str, Any] = field(default_factory=dict)
    reference_id: str = ""
    parent_id: int | None = None
    silent: bool = False


@dataclass
class Poll:
    """A Talk poll."""

    id: int
    token: str
    question: str
    options: list[str]
    result_mode: int
    max_votes: int
    actor_type: str
    actor_id: str
    actor_display_name: str
    status: int = 0
    votes: dict[str, list[int]] = field(default_factory=dict)


@dataclass
class Bot:
    """A Talk bot installed by an admin (``occ talk:bot:install``)."""

    id: int
    name: str
    secret: str
    url: str
    features: int  # 1 webhook, 2 response, 4 event, 8 reaction


@dataclass
class Room:
    """A Talk conversation."""

    id: int
    token: str
    type: int
    name: str
    created: int
    description: str = ""
    read_only: int = 0
    last_activity: int = 0
    attendees: list[Attendee] = field(default_factory=list)
    messages: list[ChatMessage] = field(default_factory=list)
    polls: dict[int, Poll] = field(default_factory=dict)
    bots: set[int] = field(default_factory=set)


@dataclass
class DeckAcl:
    """An access rule on a Deck board."""

    id: int
    board_id: int
    type: int
    participant: str
    permission_edit: bool
    permission_share: bool
    permission_manage: bool


@dataclass
class DeckCard:
    """A Deck card."""

    id: int
    stack_id: int
    title: str
    owner: str
    order: int
    created_at: int
    last_modified: int
    type: str = "plain"
    description: str = ""
    duedate: str | None = None
    archived: bool = False
    done: str | None = None
    deleted_at: int = 0
    etag: str = ""


@dataclass
class DeckStack:
    """A Deck stack (column)."""

    id: int
    board_id: int
    title: str
    order: int
    last_modified: int
    deleted_at: int = 0
    etag: str = ""


@dataclass
class DeckBoard:
    """A Deck board."""

    id: int
    title: str
    owner: str
    color: str
    last_modified: int
    archived: bool = False
    deleted_at: int = 0
    labels: list[dict[str, Any]] = field(default_factory=list)
    acl: list[DeckAcl] = field(default_factory=list)
    etag: str = ""


@dataclass
class CalendarObject:
    """One ``.ics`` resource in a calendar."""

    name: str
    data: bytes
    etag: str
    last_modified: int


@dataclass
class Calendar:
    """A CalDAV calendar collection."""

    owner: str
    uri: str
    display_name: str
    ctag: int
    objects: dict[str, CalendarObject] = field(default_factory=dict)
    components: tuple[str, ...] = ("VEVENT",)


# --------------------------------------------------------------------------------------------
# The whole server state
# --------------------------------------------------------------------------------------------


class ServerState:
    """Everything the test server knows, plus id counters and the injected clock."""

    def __init__(self, clock: Clock) -> None:
        self.lock = threading.RLock()
        self.clock = clock
        self.instance_id = "oc" + random_token(10)
        self.users: dict[str, User] = {}
        self.groups: dict[str, list[str]] = {"admin": []}
        self.subadmins: dict[str, set[str]] = {}
        self.bearer_tokens: dict[str, str] = {}
        self.bearer_expires: dict[str, int] = {}  # an OAuth2 access token holds an hour
        self.roots: dict[str, Node] = {}
        self.nodes_by_id: dict[int, Node] = {}
        self._fileids = itertools.count(100)
        self._etag_seq = itertools.count(1)
        self.shares: dict[int, Share] = {}
        self._share_ids = itertools.count(1)
        self.share_attempts: dict[str, list[float]] = {}
        self.circles: dict[str, Circle] = {}
        self.rooms: dict[str, Room] = {}
        self._room_ids = itertools.count(1)
        self._attendee_ids = itertools.count(1)
        self._message_ids = itertools.count(1)
        self._poll_ids = itertools.count(1)
        self.boards: dict[int, DeckBoard] = {}
        self.stacks: dict[int, DeckStack] = {}
        self.cards: dict[int, DeckCard] = {}
        self._deck_ids = itertools.count(1)
        self._deck_label_ids = itertools.count(1)
        self.calendars: dict[tuple[str, str], Calendar] = {}
        self.calendar_creations: dict[str, list[float]] = {}
        self._ctags = itertools.count(1)
        self.logins: dict[str, str] = {}  # login name -> user id, where they differ
        self.federated_servers: set[str] = set()
        self.bots: dict[int, Bot] = {}
        self._bot_ids = itertools.count(1)

    # ---- time and ids ----------------------------------------------------------------------

    def now(self) -> int:
        """Current time from the injected clock, in whole seconds."""
        return int(self.clock())

    def new_etag(self) -> str:
        """A fresh 32-hex ETag value (unquoted), like Nextcloud's file ETags."""
        seed = f"{next(self._etag_seq)}:{secrets.token_hex(8)}"
        return hashlib.md5(seed.encode(), usedforsecurity=False).hexdigest()

    def next_fileid(self) -> int:
        """Next file id (global across users, as in oc_filecache)."""
        return next(self._fileids)

    def next_share_id(self) -> int:
        """Next share id."""
        return next(self._share_ids)

    def next_room_id(self) -> int:
        """Next conversation id."""
        return next(self._room_ids)

    def next_attendee_id(self) -> int:
        """Next attendee id (global, like Talk's attendee table)."""
        return next(self._attendee_ids)

    def next_message_id(self) -> int:
        """Next chat message id: global and strictly increasing, like the comments table."""
        return next(self._message_ids)

    def next_poll_id(self) -> int:
        """Next poll id."""
        return next(self._poll_ids)

    def next_deck_id(self) -> int:
        """Next Deck entity id."""
        return next(self._deck_ids)

    def next_label_id(self) -> int:
        """Next Deck label id."""
        return next(self._deck_label_ids)

    def next_ctag(self) -> int:
        """Next calendar sync token."""
        return next(self._ctags)

    def oc_id(self, fileid: int) -> str:
        """The ``oc:id`` / ``OC-FileId`` form: zero-padded file id plus the instance id."""
        return f"{fileid:08d}{self.instance_id}"

    def install_bot(self, name: str, secret: str, url: str, features: int) -> Bot:
        """Register a bot; ids count up like Talk's ``talk_bots_server`` table."""
        if not 40 <= len(secret) <= 128:
            raise ValueError("The secret must be between 40 and 128 characters long")
        bot = Bot(next(self._bot_ids), name, secret, url, features)
        self.bots[bot.id] = bot
        return bot

    # ---- users -----------------------------------------------------------------------------

    def add_user(self, uid: str, password: str, display_name: str | None = None, *, admin: bool = False) -> User:
        """Create (or update) a user with a home folder; returns the user."""
        with self.lock:
            user = self.users.get(uid)
            if user is None:
                user = User(uid=uid, display_name=display_name or uid)
                self.users[uid] = user
                root = Node(
                    name="",
                    is_dir=True,
                    fileid=self.next_fileid(),
                    owner=uid,
                    etag=self.new_etag(),
                    mtime=self.now(),
                )
                self.roots[uid] = root
                self.nodes_by_id[root.fileid] = root
            user.passwords.add(password)
            if display_name:
                user.display_name = display_name
            if admin:
                user.is_admin = True
                if uid not in self.groups["admin"]:
                    self.groups["admin"].append(uid)
            return user

    def display_name(self, uid: str) -> str:
        """Display name of a user, or the id itself when unknown."""
        user = self.users.get(uid)
        return user.display_name if user else uid

    def groups_of(self, uid: str) -> list[str]:
        """Groups the user belongs to, in creation order."""
        return [gid for gid, members in self.groups.items() if uid in members]

    def is_subadmin_of(self, uid: str, gid: str) -> bool:
        """True when the user is a group administrator (sub-admin) of ``gid``."""
        return gid in self.subadmins.get(uid, set())

    def is_admin(self, uid: str) -> bool:
        """True when the user is in the ``admin`` group."""
        return uid in self.groups.get("admin", [])

    # ---- files -----------------------------------------------------------------------------

    def resolve(self, uid: str, parts: list[str]) -> Node | None:
        """The node at ``parts`` below the user's root, or None."""
        node = self.roots.get(uid)
        for part in parts:
            if node is None or not node.is_dir:
                return None
            node = node.children.get(part)
        return node

    def touch(self, node: Node) -> None:
        """Give ``node`` and all its ancestors a new ETag and mtime (ETag propagation)."""
        now = self.now()
        current: Node | None = node
        while current is not None:
            current.etag = self.new_etag()
            current.mtime = now
            current = current.parent

    def create_node(self, parent: Node, name: str, *, is_dir: bool, content: bytes = b"") -> Node:
        """Create a child of ``parent`` and propagate the change upwards."""
        node = Node(
            name=name,
            is_dir=is_dir,
            fileid=self.next_fileid(),
            owner=parent.owner,
            etag=self.new_etag(),
            mtime=self.now(),
            content=content,
            content_type="" if is_dir else guess_mime(name),
            parent=parent,
            upload_time=self.now(),
        )
        parent.children[name] = node
        self.nodes_by_id[node.fileid] = node
        self.touch(parent)
        return node

    def detach(self, node: Node) -> None:
        """Remove ``node`` from its parent (and the id index), propagating the change."""
        parent = node.parent
        if parent is None:
            return
        del parent.children[node.name]
        for gone in node.walk():
            self.nodes_by_id.pop(gone.fileid, None)
            for share_id in [sid for sid, share in self.shares.items() if share.node is gone]:
                del self.shares[share_id]
        node.parent = None
        self.touch(parent)

    def ensure_path(self, uid: str, rel_path: str, *, is_dir: bool, content: bytes = b"") -> Node:
        """Create ``rel_path`` (and missing parent folders) for seeding; returns the node."""
        with self.lock:
            parts = [p for p in rel_path.strip("/").split("/") if p]
            node = self.roots[uid]
            for index, part in enumerate(parts):
                last = index == len(parts) - 1
                child = node.children.get(part)
                if child is None:
                    child = self.create_node(node, part, is_dir=(is_dir or not last), content=content if last else b"")
                node = child
            return node
