"""Matrix: a space per partnership with its rooms, posts that are never doubled, and a listener.

Facts this adapter is built on (measured on Synapse 1.163, see shared/platforms/matrix.md):
- rooms are created first and members invited one by one afterwards, so one unreachable server
  leaves no orphan room and does not stop the other invites;
- every room carries a `be.brug.partnership` state event, so brug finds its rooms again even when
  its own store is lost;
- a post's transaction id is derived from its outbox key, and the device id never changes, so the
  homeserver returns the first event for a retried post instead of sending it twice;
- in room version 12 the creator has unlimited power and must not appear in the power levels;
- the sync token and the ids of handled events are kept in brug's store, so a restart neither
  replays old commands nor misses new ones (a `limited` timeline is backfilled); with several
  instances, an event is claimed, and the token stored, only while this instance holds the listener's
  lease (checked in the same transaction), and once more before the answer goes out, so a listener
  that stalled past its lease answers nothing the new holder answers (tests/matrix/test_listener_race.py);
- Synapse refuses an event whose JSON exceeds 64 KiB (`M_TOO_LARGE`): every message is measured
  before it is sent and split into parts that fit (`brug.content.fit`);
- a chat message whose handling fails for good is recorded, answered once with an apology and marked
  handled, so one message can never stop brug from listening.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import json
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any
from urllib.parse import quote

import httpx
from nio import (
    AsyncClient,
    AsyncClientConfig,
    ErrorResponse,
    MessageDirection,
    RoomCreateResponse,
    RoomGetStateEventResponse,
    RoomMemberEvent,
    RoomMessagesResponse,
    RoomMessageText,
    RoomPreset,
    RoomSendResponse,
    SyncResponse,
    UploadResponse,
)

from brug import metrics
from brug.adapters.pacing import Pacer
from brug.adapters.reachability import Reachability
from brug.app.conversation import Incoming, Reply
from brug.app.leases import LeaseLost
from brug.content.fit import split_to_fit
from brug.content.render import markdown_to_html, markdown_to_plain
from brug.ports import NETWORK_ERRORS, PlatformError, ProgressRelay, ReconcileReport, Unreachable
from brug.store import Store
from brug.workspace.chat import ChatWorkspace

log = logging.getLogger(__name__)

PLATFORM = "matrix"
KEY_FIELD = "be.brug.key"  # the outbox key, carried in every event brug sends so a very late retry finds it
TXN_MEMORY = timedelta(hours=20)  # Synapse keeps transaction ids ~24 h; be safely inside that
# A refused invite that asks for a longer wait than this is about the invitee's own invite budget
# (Synapse: 5, then one per ~333 s), not brug's pace: that invite waits for the next reconcile.
INVITEE_LIMIT_AFTER = 30.0
CREATION_LIMIT_AFTER = 20.0  # likewise for room creation (0.016/s) against the event rate (0.2/s)
TAG = "be.brug.partnership"
SPACE = "space"
MODERATOR = 50
RESTRICTED = "restricted"  # a room's join rule that admits the members of its space
ARRIVED = ("invited", "joined")  # invite states that need no (new) invite
MAX_EVENT_BYTES = 65_536  # Synapse's limit on an event's full JSON
ENVELOPE_BYTES = 4_096  # what the homeserver adds around the content: ids, hashes, signatures, auth and prev events
TRANSIENT = ("?", "M_LIMIT_EXCEEDED", "M_UNKNOWN")  # error codes worth trying again
MAX_EVENT_ATTEMPTS = 10  # a message whose replies failed this often in a row is given up (and apologised for)
FIRST_SYNC_FILTER = {
    "room": {"timeline": {"limit": 1}, "state": {"lazy_load_members": True}},
    "presence": {"types": []},
    "account_data": {"types": []},
}
SYNC_FILTER = {
    "room": {"timeline": {"limit": 50}, "state": {"lazy_load_members": True}},
    "presence": {"types": []},
    "account_data": {"types": []},
}


class MatrixError(PlatformError):
    def __init__(self, what: str, response: Any) -> None:
        code = getattr(response, "status_code", None) or "?"
        message = getattr(response, "message", None) or str(response)
        super().__init__(f"{what}: {code} {message}")
        self.code = code
        self.message = message


def transaction_id(key: str) -> str:
    """The same outbox key always gives the same Matrix transaction id."""
    return "brug-" + hashlib.sha256(key.encode()).hexdigest()[:40]


def message_content(markdown: str, thread_root: str | None = None, msgtype: str = "m.text") -> dict[str, Any]:
    content: dict[str, Any] = {
        "msgtype": msgtype,
        "body": markdown_to_plain(markdown),
        "format": "org.matrix.custom.html",
        "formatted_body": markdown_to_html(markdown),
    }
    if thread_root is not None:
        content["m.relates_to"] = {
            "rel_type": "m.thread",
            "event_id": thread_root,
            "is_falling_back": True,
            "m.in_reply_to": {"event_id": thread_root},
        }
    return content


def content_fits(content: dict[str, Any]) -> bool:
    """Whether an event with this content stays within the homeserver's event size limit."""
    size = len(json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode())
    return size + ENVELOPE_BYTES <= MAX_EVENT_BYTES


def fitting_messages(
    markdown: str, thread_root: str | None = None, msgtype: str = "m.text", extra: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """The contents of the one or more events that carry `markdown`, each within the size limit."""
    extra = extra or {}
    parts = split_to_fit(markdown, lambda part: content_fits({**message_content(part, thread_root, msgtype), **extra}))
    return [{**message_content(part, thread_root, msgtype), **extra} for part in parts]


def part_key(key: str, n: int) -> str:
    """The first part of a message keeps the post's key; the next ones get their own."""
    return key if n == 0 else f"{key}#{n + 1}"


def poll_content(question: str, answers: Sequence[tuple[str, str]], fallback: str) -> dict[str, Any]:
    """An MSC3381 poll as Element sends it (stable m.poll.* needs room versions no stable version has)."""
    return {
        "org.matrix.msc3381.poll.start": {
            # results show only when the poll ends: nobody votes under the influence of the others
            "kind": "org.matrix.msc3381.poll.undisclosed",
            "max_selections": 1,
            "question": {"org.matrix.msc1767.text": question},
            "answers": [{"id": a, "org.matrix.msc1767.text": text} for a, text in answers],
        },
        "org.matrix.msc1767.text": fallback,
        "body": fallback,
    }


@dataclass(frozen=True)
class MatrixAccount:
    homeserver: str
    user_id: str
    device_id: str
    access_token: str

    @property
    def server_name(self) -> str:
        return self.user_id.split(":", 1)[1]


class MatrixChat:
    """The Matrix adapter: provisioning (`reconcile`), posting (`post`) and listening (`listen`)."""

    platform = PLATFORM

    def __init__(
        self,
        account: MatrixAccount,
        store: Store,
        *,
        request_timeout: float = 30.0,
        invite_every_room: bool = False,
        progress: ProgressRelay | None = None,
    ) -> None:
        self.account = account
        self.store = store
        # 429s come back to brug (max_limit_exceeded=0), which paces itself: see Pacer
        # one quick retry of a failed connection; then the caller's own retry (the outbox, the next tick)
        config = AsyncClientConfig(
            request_timeout=request_timeout, max_timeouts=1, store_sync_tokens=False, max_limit_exceeded=0
        )
        self.client = AsyncClient(account.homeserver, account.user_id, device_id=account.device_id, config=config)
        self.client.restore_login(account.user_id, account.device_id, account.access_token)
        self.progress = progress or ProgressRelay()
        self._left = 0  # events the reconcile in hand still expects to send (for the time left)
        self.reachability = Reachability(
            f"Matrix homeserver {account.homeserver}", self._waiting_posts, platform=PLATFORM
        )
        self._watch_connection()
        self.pacer = Pacer(
            store.pacing(PLATFORM, account.user_id), partial(store.put_pacing, PLATFORM, account.user_id),
            platform=PLATFORM,
        )
        self.pacer.on_wait = self._slowed_down
        self._versions: dict[str, Any] | None = None  # the homeserver's room versions (capabilities)
        self.invite_every_room = invite_every_room
        self._discovered: dict[tuple[str, str], str] | None = None
        self._attempts: dict[str, int] = {}  # event id -> failed attempts at answering it, in this process

    async def close(self) -> None:
        await self.client.close()

    def _slowed_down(self, gate: str, wait: float) -> None:
        """The pacer waits for a token: say how long the rest will take, and who can lift the limit."""
        left = wait + max(0, self._left - 1) * self.pacer.interval("event") if gate == "event" else None
        hint = f"POST /_synapse/admin/v1/users/{self.account.user_id}/override_ratelimit"
        self.progress.rate_limited(PLATFORM, wait, left, hint)

    def _waiting_posts(self) -> int:
        return len(self.store.pending(PLATFORM))

    def _watch_connection(self) -> None:
        """Every request tells whether the homeserver answers (see adapters/reachability.py)."""
        send = self.client.send

        async def watched(*args: Any, **kwargs: Any) -> Any:
            try:
                response = await send(*args, **kwargs)
            except NETWORK_ERRORS as err:
                metrics.platform_error(PLATFORM, "unreachable")
                self.reachability.failed(err)
                raise
            self.reachability.answered()
            if getattr(response, "status", 200) >= 400:
                metrics.platform_error(PLATFORM, response.status)
            return response

        self.client.send = watched  # type: ignore[method-assign]

    async def _paced(
        self,
        kind: str,
        call: Callable[[], Awaitable[Any]],
        *,
        invitee: str | None = None,
        give_up_after: float = 900.0,
    ) -> Any:
        """Run a request that creates an event, waiting out rate limits (unless the wait is absurd).

        `kind` is "create", "invite" (of `invitee`) or "event". A refusal is put down to the limit it
        was about (see adapters/pacing.py); one about the invitee's own budget is returned at once:
        waiting for it would hold up everything else.
        """
        gates = {"create": ("event", "create"), "invite": ("event", f"invitee:{invitee}")}.get(kind, ("event",))
        while True:
            probe = kind != "invite" and self.pacer.probe_due(gates)  # a refused invite costs the invitee
            await self.pacer.before(gates, probe=probe)
            try:
                response = await call()
            except NETWORK_ERRORS as err:  # said once by self.reachability; the caller tries again later
                raise Unreachable(f"the Matrix homeserver is unreachable: {self.reachability.last_cause}") from err
            if not (isinstance(response, ErrorResponse) and response.status_code == "M_LIMIT_EXCEEDED"):
                self.pacer.succeeded(gates, probe=probe)
                self._left = max(0, self._left - 1)
                return response
            retry_after = (getattr(response, "retry_after_ms", None) or 5000) / 1000
            gate = "event"
            if kind == "create" and retry_after > CREATION_LIMIT_AFTER:
                gate = "create"
            elif kind == "invite" and retry_after > INVITEE_LIMIT_AFTER:
                gate = f"invitee:{invitee}"
            self.pacer.limited(gate, retry_after)
            if gate.startswith("invitee:"):
                return response
            log.info("rate-limited (%s, %s limit): waiting %.1f s as the homeserver asks", kind, gate, retry_after)
            if retry_after > give_up_after:
                return response

    # --- provisioning --------------------------------------------------------------------------------

    async def reconcile(self, want: ChatWorkspace, *, remove_members: bool = False) -> ReconcileReport:
        """Make the space and rooms exist and look as wanted; invite who is missing. Idempotent."""
        report = ReconcileReport()
        pid = want.partnership.id
        self._left = expected_events(self.pending(want))
        if self.store.resource(pid, PLATFORM, "room", SPACE) is None:  # a new space: everyone is invited
            self._left += len(set(want.members) - {self.account.user_id})
        space = await self._ensure_room(want, SPACE, want.space_name, want.space_topic, None, report)
        for order, room in enumerate(want.rooms):
            room_id = await self._ensure_room(want, room.key, room.name, room.topic, space, report)
            await self._put_state_once(
                pid,
                space,
                "m.space.child",
                room_id,
                {"via": [self.account.server_name], "suggested": True, "order": f"{order:02d}"},
            )
        for key, members in _room_members(want):
            room_id = self._ref(pid, key)
            await self._ensure_power(pid, key, room_id, members)
            if self._invites_to(pid, key):
                await self._invite_missing(pid, key, room_id, members, report)
            await self._remove_others(pid, key, room_id, members, remove_members, report)
        await self._pin_overview(want, report)
        return report

    def pending(self, want: ChatWorkspace) -> list[str]:
        """What reconcile would still do, judged from brug's store only (no requests): for `plan`."""
        pid = want.partnership.id
        todo: list[str] = []
        members_of = dict(_room_members(want))
        for key, name, topic in [
            (SPACE, want.space_name, want.space_topic),
            *[(r.key, r.name, r.topic) for r in want.rooms],
        ]:
            resource = self.store.resource(pid, PLATFORM, "room", key)
            if resource is None:
                todo.append(f"create {key}")
                continue
            data = json.loads(resource.data or "{}")
            if data.get("topic") != topic or data.get("name") != name or "alias" not in data or "join" not in data:
                todo.append(f"update {key}")
            if not self._invites_to(pid, key):
                continue
            for user in members_of[key]:
                if user != self.account.user_id and self.store.invite_status(pid, PLATFORM, key, user) not in ARRIVED:
                    todo.append(f"invite {user} to {key}")
        pin = self.store.resource(pid, PLATFORM, "pin", "algemeen")
        if pin is None or pin.data != _sha(want.overview):
            todo.append("pin overview")
        return todo

    def _invites_to(self, pid: str, key: str) -> bool:
        """Whether members are invited to this room: not when it admits the members of the space."""
        resource = self.store.resource(pid, PLATFORM, "room", key)
        return resource is None or json.loads(resource.data or "{}").get("join") != RESTRICTED

    async def _ensure_room(
        self, want: ChatWorkspace, key: str, name: str, topic: str, space: str | None, report: ReconcileReport
    ) -> str:
        pid = want.partnership.id
        resource = self.store.resource(pid, PLATFORM, "room", key)
        room_id = resource.ref if resource and await self._is_ours(resource.ref, pid, key) else None
        if room_id is None:
            room_id = (await self._discover()).get((pid, key))
        if room_id is None:
            room_id, settled = await self._create_room(want, key, name, topic, space)
            self.store.forget_room_state(pid, PLATFORM, key)  # a new room: nobody is invited to it yet
            report.created.append(key)
            log.info("%s: created Matrix %s %s (%s)", pid, "space" if key == SPACE else "room", room_id, settled)
            self.store.put_resource(
                pid, PLATFORM, "room", key, room_id, json.dumps({"name": name, "topic": topic, **settled})
            )
            return room_id
        data = json.loads(resource.data) if resource and resource.ref == room_id and resource.data else {}
        if data.get("topic") != topic:
            await self._state(room_id, "m.room.topic", {"topic": topic})
            report.updated.append(f"{key}: topic")
        if data.get("name") != name:
            await self._state(room_id, "m.room.name", {"name": name})
        # rooms made by an earlier brug: give them an alias, and let the space's members in
        settled = {
            "alias": data.get("alias") or await self._give_alias(pid, key, room_id),
            "join": data.get("join") or await self._admit_space(room_id, space if _for_everyone(want, key) else None),
        }
        self.store.put_resource(
            pid, PLATFORM, "room", key, room_id, json.dumps({"name": name, "topic": topic, **settled})
        )
        return room_id

    async def _create_room(
        self, want: ChatWorkspace, key: str, name: str, topic: str, space: str | None
    ) -> tuple[str, dict[str, str]]:
        """A new room (or the space) with everything in one request: tag, parent, join rule, alias."""
        pid = want.partnership.id
        version = await self._restricted_version()
        join = (
            RESTRICTED
            if space is not None and version is not None and not self.invite_every_room and _for_everyone(want, key)
            else "invite"  # also a room for some actor types only: its members are invited one by one
        )
        initial_state: list[dict[str, Any]] = [
            {"type": TAG, "state_key": "", "content": {"partnership": pid, "room": key}},
            # members who join later (through the space) see what was posted before: the welcome, the pin
            {"type": "m.room.history_visibility", "state_key": "", "content": {"history_visibility": "shared"}},
        ]
        if space is not None:
            initial_state.append(
                {
                    "type": "m.space.parent",
                    "state_key": space,
                    "content": {"via": [self.account.server_name], "canonical": True},
                }
            )
        if join == RESTRICTED:
            initial_state.append({"type": "m.room.join_rules", "state_key": "", "content": restricted_to(space)})
        users = await self._power_users(want.members)
        for alias in alias_candidates(pid, key):
            response = await self._paced(
                "create",
                partial(
                    self.client.room_create,
                    alias=alias,
                    name=name,
                    topic=topic,
                    room_version=version if join == RESTRICTED and version != self._default_version else None,
                    preset=RoomPreset.private_chat,
                    initial_state=initial_state,
                    power_level_override={"users": users},
                    space=key == SPACE,
                ),
            )
            if not (isinstance(response, ErrorResponse) and response.status_code == "M_ROOM_IN_USE"):
                break  # an alias someone else holds: try the next one (the last is no alias at all)
        if not isinstance(response, RoomCreateResponse):
            raise MatrixError(f"creating {key} for {pid}", response)
        if self._discovered is not None:
            self._discovered[(pid, key)] = response.room_id
        settled = {"join": join, "alias": f"#{alias}:{self.account.server_name}" if alias else ""}
        return response.room_id, settled

    async def _give_alias(self, pid: str, key: str, room_id: str) -> str:
        """A canonical alias for a room that has none (clients that cannot use version-12 room ids)."""
        for name in alias_candidates(pid, key):
            if name is None:
                return ""
            alias = f"#{name}:{self.account.server_name}"
            made = await self.client.room_put_alias(alias, room_id)
            if isinstance(made, ErrorResponse):
                found = await self.client.room_resolve_alias(alias)
                if getattr(found, "room_id", None) != room_id:
                    continue  # someone else's alias
            await self._state(room_id, "m.room.canonical_alias", {"alias": alias})
            return alias
        return ""

    async def _admit_space(self, room_id: str, space: str | None) -> str:
        """Let the members of the space into a room made before brug did so (when its version can)."""
        if space is None or self.invite_every_room:
            return "invite"
        created = await self.client.room_get_state_event(room_id, "m.room.create", "")
        version = created.content.get("room_version", "1") if isinstance(created, RoomGetStateEventResponse) else "1"
        if not supports_restricted(version):
            return "invite"
        await self._state(room_id, "m.room.join_rules", restricted_to(space))
        return RESTRICTED

    async def _power_users(self, members: dict[str, bool]) -> dict[str, int]:
        users = {
            user: MODERATOR for user, coordinator in members.items() if coordinator and user != self.account.user_id
        }
        if not await self._creator_has_unlimited_power():
            users[self.account.user_id] = 100  # before room version 12 the creator is an ordinary admin
        return users

    async def _room_versions(self) -> dict[str, Any]:
        if self._versions is None:
            async with httpx.AsyncClient(base_url=self.account.homeserver, timeout=10, trust_env=False) as http:
                answer = await http.get(
                    "/_matrix/client/v3/capabilities",
                    headers={"Authorization": f"Bearer {self.account.access_token}"},
                )
            versions = answer.json().get("capabilities", {}).get("m.room_versions", {}) if answer.is_success else {}
            self._versions = versions if isinstance(versions, dict) else {}
        return self._versions

    @property
    def _default_version(self) -> str:
        return str((self._versions or {}).get("default", "10"))

    async def _creator_has_unlimited_power(self) -> bool:
        await self._room_versions()
        try:
            return int(self._default_version) >= 12
        except ValueError:
            return False

    async def _restricted_version(self) -> str | None:
        """The room version for rooms that admit a space's members (8+): the default when it can."""
        versions = await self._room_versions()
        if supports_restricted(self._default_version):
            return self._default_version
        stable = [v for v, state in (versions.get("available") or {}).items() if state == "stable"]
        able = sorted((v for v in stable if supports_restricted(v)), key=lambda v: int(v))
        return able[-1] if able else None

    async def _is_ours(self, room_id: str, pid: str, key: str) -> bool:
        """Whether the room still carries our tag. Only 'not found' or 'forbidden' mean no: any other
        failure is an error, so a passing outage never makes brug build a second room."""
        response = await self.client.room_get_state_event(room_id, TAG, "")
        if isinstance(response, RoomGetStateEventResponse):
            return response.content.get("partnership") == pid and response.content.get("room") == key
        if getattr(response, "status_code", None) in ("M_NOT_FOUND", "M_FORBIDDEN"):
            return False
        raise MatrixError(f"checking room {room_id}", response)

    async def _discover(self) -> dict[tuple[str, str], str]:
        """Every room brug is in, by its tag: how brug finds its rooms when its store lost them."""
        if self._discovered is None:
            found: dict[tuple[str, str], str] = {}
            joined = await self.client.joined_rooms()
            if isinstance(joined, ErrorResponse):
                raise MatrixError("listing joined rooms", joined)
            for room_id in joined.rooms:
                tag = await self.client.room_get_state_event(room_id, TAG, "")
                if isinstance(tag, RoomGetStateEventResponse) and "partnership" in tag.content:
                    found[(tag.content["partnership"], tag.content.get("room", ""))] = room_id
            self._discovered = found
        return self._discovered

    def _ref(self, pid: str, key: str) -> str:
        resource = self.store.resource(pid, PLATFORM, "room", key)
        if resource is None:
            raise MatrixError(f"room {key} of {pid}", "not provisioned yet: run brug apply first")
        return resource.ref

    async def _state(self, room_id: str, event_type: str, content: dict[str, Any], state_key: str = "") -> None:
        response = await self._paced(
            "event", lambda: self.client.room_put_state(room_id, event_type, content, state_key=state_key)
        )
        if isinstance(response, ErrorResponse):
            raise MatrixError(f"setting {event_type} in {room_id}", response)

    async def _put_state_once(self, pid: str, room_id: str, event_type: str, state_key: str, content: dict) -> None:
        mark = f"{event_type}/{state_key}"
        if self.store.resource(pid, PLATFORM, "state", mark) is None:
            await self._state(room_id, event_type, content, state_key)
            self.store.put_resource(pid, PLATFORM, "state", mark, room_id)

    async def _ensure_power(self, pid: str, key: str, room_id: str, members: dict[str, bool]) -> None:
        coordinators = sorted(u for u, c in members.items() if c and u != self.account.user_id)
        mark = self.store.resource(pid, PLATFORM, "power", key)
        if mark is not None and mark.data == json.dumps(coordinators):
            return
        current = await self.client.room_get_state_event(room_id, "m.room.power_levels", "")
        if not isinstance(current, RoomGetStateEventResponse):
            raise MatrixError(f"reading power levels of {room_id}", current)
        content = dict(current.content)
        users = dict(content.get("users", {}))
        changed = False
        for user in coordinators:
            if users.get(user, 0) < MODERATOR:
                users[user] = MODERATOR
                changed = True
        if changed:
            content["users"] = users
            await self._state(room_id, "m.room.power_levels", content)
        self.store.put_resource(pid, PLATFORM, "power", key, room_id, json.dumps(coordinators))

    async def _invite_missing(
        self, pid: str, key: str, room_id: str, members: dict[str, bool], report: ReconcileReport
    ) -> None:
        arrived = {u for u in members if self.store.invite_status(pid, PLATFORM, key, u) in ARRIVED}
        todo = [u for u in members if u != self.account.user_id and u not in arrived]
        for n, user in enumerate(todo, 1):
            self.progress.step(pid, f"{PLATFORM}: invite {n}/{len(todo)} ({key})")
            held = self.pacer.wait_for([f"invitee:{user}"])
            if held > 0:  # asking now would only spend another of this person's invite tokens
                self._invite_waits(pid, key, user, held, report)
                continue
            try:
                response = await self._paced("invite", partial(self.client.room_invite, room_id, user), invitee=user)
            except Unreachable as err:  # a slow remote server must not stop the others; a dead own one does
                if self.reachability.down:
                    raise
                response = err
            if isinstance(response, ErrorResponse) and response.status_code == "M_LIMIT_EXCEEDED":
                self._invite_waits(pid, key, user, self.pacer.wait_for([f"invitee:{user}"]), report)
            elif isinstance(response, ErrorResponse) and "already" not in str(response.message or "").lower():
                self.store.record_invite(pid, PLATFORM, key, user, "failed", str(response.message))
                report.failed.append(f"{user} ({key}): {response.message}")
                log.warning("%s: could not invite %s to %s: %s (retried next time)", pid, user, key, response.message)
            elif isinstance(response, Exception):
                self.store.record_invite(pid, PLATFORM, key, user, "failed", str(response))
                report.failed.append(f"{user} ({key}): {response}")
                log.warning("%s: could not invite %s to %s: %s (retried next time)", pid, user, key, response)
            else:
                self.store.record_invite(pid, PLATFORM, key, user, "invited")
                report.invited.append(f"{user} ({key})")

    def _invite_waits(self, pid: str, key: str, user: str, seconds: float, report: ReconcileReport) -> None:
        """The homeserver takes no more invites for this person for now: the next reconcile tries again."""
        after = (datetime.now().astimezone() + timedelta(seconds=seconds)).strftime("%H:%M")
        reason = f"the homeserver takes no more invites for this person until about {after}"
        self.store.record_invite(pid, PLATFORM, key, user, "failed", reason)
        report.failed.append(f"{user} ({key}): {reason}")
        log.info("%s: invite of %s to %s waits: %s", pid, user, key, reason)

    async def _remove_others(
        self,
        pid: str,
        key: str,
        room_id: str,
        members: dict[str, bool],
        remove: bool,
        report: ReconcileReport,
    ) -> None:
        joined = await self.client.joined_members(room_id)
        present = [m.user_id for m in getattr(joined, "members", [])]
        for user in present:
            if user == self.account.user_id or user in members:
                continue
            if remove:
                kick = partial(self.client.room_kick, room_id, user, reason="no longer in the partnership file")
                await self._paced("event", kick)
                report.kicked.append(f"{user} ({key})")
                log.info("%s: removed %s from %s", pid, user, key)
            elif f"{user}" not in report.not_removed:
                report.not_removed.append(user)

    async def _pin_overview(self, want: ChatWorkspace, report: ReconcileReport) -> None:
        """Post the overview once and pin it; later changes edit that same message."""
        pid = want.partnership.id
        room_id = self._ref(pid, "algemeen")
        digest = _sha(want.overview)
        pin = self.store.resource(pid, PLATFORM, "pin", "algemeen")
        if pin is not None and pin.data == digest:
            return
        if pin is None:
            event_id = await self._send(room_id, "m.room.message", message_content(want.overview), f"{pid}/overview")
            await self._state(room_id, "m.room.pinned_events", {"pinned": [event_id]})
        else:
            event_id = pin.ref
            edit = message_content(want.overview)
            content = {
                **message_content("* " + want.overview),
                "m.new_content": edit,
                "m.relates_to": {"rel_type": "m.replace", "event_id": event_id},
            }
            await self._send(room_id, "m.room.message", content, f"{pid}/overview/{digest[:16]}")
        self.store.put_resource(pid, PLATFORM, "pin", "algemeen", event_id, digest)
        report.updated.append("overview")

    # --- posting ---------------------------------------------------------------------------------------

    async def _send(self, room_id: str, event_type: str, content: dict[str, Any], key: str) -> str:
        """Send an event once per key: it carries the key, and a post that may have gone out already (claimed
        before, by an instance that died or an attempt that failed, or pending for longer than the
        homeserver remembers transaction ids) is looked for in the room before it is sent again."""
        if self._may_have_gone_out(key):
            found = await self._find_posted(room_id, key)
            if found is not None:
                return found
        content = {**content, KEY_FIELD: key}
        response = await self._paced(
            "event", lambda: self.client.room_send(room_id, event_type, content, tx_id=transaction_id(key))
        )
        if not isinstance(response, RoomSendResponse):
            raise MatrixError(f"posting {key}", response)
        return response.event_id

    async def post(
        self, partnership: str, room: str, key: str, kind: str, markdown: str, *, thread_root: str | None = None
    ) -> str:
        """Post once per key (a retried key returns the first message's id); a message too large for
        one event goes out in parts, each with its own key, and the first part's id is returned."""
        room_id = self._ref(partnership, room)
        parts = fitting_messages(markdown, thread_root, extra={KEY_FIELD: key})
        refs = [await self._send(room_id, "m.room.message", c, part_key(key, n)) for n, c in enumerate(parts)]
        return refs[0]

    def _may_have_gone_out(self, key: str) -> bool:
        """A pending post claimed before (by an instance that died, or an attempt that failed half-way), or
        pending for longer than the homeserver remembers transaction ids: look for it before sending."""
        post, _, part = key.rpartition("#")  # a later part of a long post is pending as long as the post
        entry = self.store.outbox_entry(PLATFORM, post if post and part.isdigit() else key)
        if entry is None or entry["status"] != "pending":
            return False
        if (entry.get("claims") or 0) > 1:
            return True
        created = entry["created_at"]
        created = created if created.tzinfo else created.replace(tzinfo=UTC)
        return datetime.now(UTC) - created > TXN_MEMORY

    async def _find_posted(self, room_id: str, key: str, pages: int = 5) -> str | None:
        """Look back through the room for a message brug posted with this key."""
        start = None
        for _ in range(pages):
            page = await self.client.room_messages(room_id, start=start, direction=MessageDirection.back, limit=100)
            if not isinstance(page, RoomMessagesResponse) or not page.chunk:
                return None
            for event in page.chunk:
                if event.sender == self.account.user_id and event.source.get("content", {}).get(KEY_FIELD) == key:
                    return event.event_id
            start = page.end
        return None

    async def post_poll(
        self, partnership: str, room: str, key: str, question: str, answers: Sequence[tuple[str, str]], fallback: str
    ) -> str:
        content = poll_content(question, answers, fallback)
        return await self._send(self._ref(partnership, room), "org.matrix.msc3381.poll.start", content, key)

    async def react(self, room_id: str, event_id: str, emoji: str, key: str) -> str:
        content = {"m.relates_to": {"rel_type": "m.annotation", "event_id": event_id, "key": emoji}}
        return await self._send(room_id, "m.reaction", content, key)

    # --- listening -------------------------------------------------------------------------------------

    async def listen(
        self,
        handle: Callable[[Incoming], Awaitable[list[Reply]]],
        stop: asyncio.Event,
        *,
        timeout_ms: int = 30_000,
    ) -> None:
        """Sync until `stop` is set. Only the wait for news is interrupted, never the handling of a batch."""
        pause = 1.0  # after a failure, waits double up to 30 s
        while not stop.is_set():
            token = self.store.sync_token(PLATFORM, self.account.user_id)
            waiting = asyncio.create_task(self._sync(token, timeout_ms))
            stopper = asyncio.create_task(stop.wait())
            done, _ = await asyncio.wait({waiting, stopper}, return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            if waiting not in done:
                waiting.cancel()
                break
            try:
                await self._process(waiting.result(), token, handle)
            except (PlatformError, *NETWORK_ERRORS) as err:
                pause = min(pause * 2, 30.0)
                if self.reachability.down:  # said once already, with its cause
                    log.debug("Matrix sync failed: %s; trying again in %.0f s", err, pause)
                else:
                    log.warning("Matrix sync failed: %s; trying again in %.0f s", err, pause)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=pause)
            else:
                pause = 1.0

    async def sync_once(self, handle: Callable[[Incoming], Awaitable[list[Reply]]], *, timeout_ms: int = 0) -> int:
        """One sync round: accept or refuse invites, handle new messages, then store the token."""
        token = self.store.sync_token(PLATFORM, self.account.user_id)
        return await self._process(await self._sync(token, timeout_ms), token, handle)

    async def _sync(self, token: str | None, timeout_ms: int) -> SyncResponse:
        response = await self.client.sync(
            timeout=timeout_ms if token else 0,
            since=token,
            sync_filter=SYNC_FILTER if token else FIRST_SYNC_FILTER,  # the very first sync replays nothing
            full_state=False,
        )
        if not isinstance(response, SyncResponse):
            raise MatrixError("sync", response)
        return response

    async def _process(
        self, response: SyncResponse, token: str | None, handle: Callable[[Incoming], Awaitable[list[Reply]]]
    ) -> int:
        handled = 0
        for room_id in response.rooms.invite:
            await self._answer_invite(room_id)
        if token is not None:  # on the very first sync, history is not replayed
            for room_id, room in response.rooms.join.items():
                resource = self.store.resource_by_ref(PLATFORM, room_id)
                if resource is None or resource.kind != "room":
                    continue
                events = list(room.timeline.events)
                if room.timeline.limited:
                    events = await self._backfill(room_id, room.timeline.prev_batch) + events
                for event in events:
                    if isinstance(event, RoomMemberEvent) and event.membership == "join":
                        self._arrived(resource.partnership_id, resource.key, event.state_key)
                    if isinstance(event, RoomMessageText) and event.sender != self.account.user_id:
                        handled += await self._handle_event(
                            resource.partnership_id, resource.key, room_id, event, handle
                        )
                    elif getattr(event, "type", None) in POLL_RESPONSES and event.sender != self.account.user_id:
                        handled += await self._handle_vote(resource.partnership_id, resource.key, room_id, event, handle)
        self.store.put_sync_token(PLATFORM, self.account.user_id, response.next_batch, listening=True)
        return handled

    def _arrived(self, pid: str, key: str, user: str) -> None:
        """Someone joined one of our rooms, invited or through the space: they need no invite to it."""
        if user != self.account.user_id and self.store.invite_status(pid, PLATFORM, key, user) != "joined":
            self.store.record_invite(pid, PLATFORM, key, user, "joined")

    async def _answer_invite(self, room_id: str) -> None:
        if self.store.resource_by_ref(PLATFORM, room_id) is not None:
            await self.client.join(room_id)
            log.info("joined %s (a room of a known partnership)", room_id)
        else:
            await self.client.room_leave(room_id)
            log.info("declined an invite to %s: not a room of a known partnership", room_id)

    async def _backfill(self, room_id: str, prev_batch: str | None, pages: int = 20) -> list[Any]:
        """Messages a `limited` sync left out, back to the first one already handled."""
        older: list[Any] = []
        start = prev_batch
        for _ in range(pages):
            if start is None:
                break
            page = await self.client.room_messages(room_id, start=start, direction=MessageDirection.back, limit=50)
            if not isinstance(page, RoomMessagesResponse) or not page.chunk:
                break
            reached_known = False
            for event in page.chunk:  # newest first
                if self.store.is_processed(PLATFORM, event.event_id):
                    reached_known = True
                    break
                older.append(event)
            if reached_known or page.end is None:
                break
            start = page.end
        return list(reversed(older))

    async def _handle_event(
        self,
        pid: str,
        room_key: str,
        room_id: str,
        event: RoomMessageText,
        handle: Callable[[Incoming], Awaitable[list[Reply]]],
    ) -> int:
        if not self.store.claim_event(PLATFORM, event.event_id):  # with several instances: while elected
            return 0
        relates = event.source.get("content", {}).get("m.relates_to", {}) or {}
        thread_root = relates.get("event_id") if relates.get("rel_type") == "m.thread" else None
        incoming = Incoming(PLATFORM, pid, room_key, event.sender, event.body, event.event_id, thread_root)
        try:
            replies = await handle(incoming)
            self.store.still_listening(PLATFORM)  # stalled while handling and the listener moved: its holder answers
            await self._answer(room_id, pid, event.event_id, thread_root, replies)
        except LeaseLost:
            raise
        except Exception as err:  # noqa: BLE001 - one message must never stop brug from listening
            attempts = self._attempts[event.event_id] = self._attempts.get(event.event_id, 0) + 1
            if _transient(err) and attempts < MAX_EVENT_ATTEMPTS:
                raise  # the homeserver is busy or away: the batch is tried again shortly
            await self._give_up(incoming, room_id, thread_root, err, handle)
        self._attempts.pop(event.event_id, None)
        self.store.mark_processed(PLATFORM, event.event_id)
        return 1

    async def _answer(
        self, room_id: str, pid: str, event_id: str, thread_root: str | None, replies: list[Reply], tag: str = ""
    ) -> None:
        for n, reply in enumerate(replies):
            key = f"{pid}/reply/{event_id}/{tag}{n}"
            if reply.reaction:
                await self.react(room_id, reply.thread_root, reply.reaction, key)
                continue
            root = thread_root or reply.thread_root
            for i, content in enumerate(fitting_messages(reply.markdown, root, "m.notice")):
                await self._send(room_id, "m.room.message", content, part_key(key, i))
            if reply.hide:  # e.g. `!score doel 2`: the rating must not stay readable in the room
                await self._paced("event", partial(self.client.room_redact, room_id, event_id, reason="brug"))

    async def _give_up(
        self,
        incoming: Incoming,
        room_id: str,
        thread_root: str | None,
        err: Exception,
        handle: Callable[[Incoming], Awaitable[list[Reply]]],
    ) -> None:
        """Record the failure and say so once in the room; the message then counts as handled."""
        pid, event_id = incoming.partnership, incoming.event_id
        log.error("%s: answering %s failed for good: %s", pid, event_id, err)
        if not self.store.record_event_failure(PLATFORM, event_id, pid, f"{type(err).__name__}: {err}"):
            return  # reported before (a delivery after a restart)
        try:
            apology = await handle(replace(incoming, failure=f"{type(err).__name__}: {err}"))
            await self._answer(room_id, pid, event_id, thread_root, apology, tag="failed-")
        except Exception as second:  # noqa: BLE001 - the failure is recorded; the room hears of it or not
            log.error("%s: could not report the failure in the room either: %s", pid, second)

    async def _handle_vote(
        self, pid: str, room_key: str, room_id: str, event: Any, handle: Callable[[Incoming], Awaitable[list[Reply]]]
    ) -> int:
        """A poll response (MSC3381 unstable or stable): handed on as a vote, answered only when refused."""
        if not self.store.claim_event(PLATFORM, event.event_id):
            return 0
        poll, answers = poll_response(event.source.get("content", {}))
        if poll is not None:
            at = datetime.fromtimestamp(event.source.get("origin_server_ts", 0) / 1000, UTC)
            incoming = Incoming(
                PLATFORM, pid, room_key, event.sender, "", event.event_id, poll=poll, answers=answers, at=at
            )
            replies = await handle(incoming)
            self.store.still_listening(PLATFORM)
            await self._answer(room_id, pid, event.event_id, None, replies)
        self.store.mark_processed(PLATFORM, event.event_id)
        return 1

    # --- the barometer ---------------------------------------------------------------------------------

    async def close_polls(self, partnership: str, refs: Sequence[str]) -> list[tuple[str, str, str]]:
        """End brug's polls of a round (clients then show them closed). Votes came in while listening."""
        room_id = self._ref(partnership, "reflectie")
        for ref in refs:
            content = {
                "m.relates_to": {"rel_type": "m.reference", "event_id": ref},
                "org.matrix.msc3381.poll.end": {},
                "org.matrix.msc1767.text": "—",
                "body": "—",
            }
            await self._send(room_id, "org.matrix.msc3381.poll.end", content, f"{partnership}/poll-end/{ref}")
        return []

    async def post_picture(
        self,
        partnership: str,
        room: str,
        key: str,
        caption: str,
        filename: str,
        svg: bytes,
        share_path: str | None = None,  # where the file lives in Nextcloud (not needed here)
    ) -> str:
        """The barometer's radar as an m.image (PNG when cairosvg can draw it, else the SVG), then the text."""
        room_id = self._ref(partnership, room)
        data, mimetype, name = svg, "image/svg+xml", filename
        width, height = svg_size(svg)
        try:
            import cairosvg

            data = cairosvg.svg2png(bytestring=svg)
            mimetype, name = "image/png", filename.rsplit(".", 1)[0] + ".png"
        except (ImportError, OSError):  # no cairo on this machine: clients that show SVG still can
            pass
        uploaded, _ = await self.client.upload(
            io.BytesIO(data), content_type=mimetype, filename=name, filesize=len(data)
        )
        if not isinstance(uploaded, UploadResponse):
            raise MatrixError(f"uploading {name}", uploaded)
        image = {
            "msgtype": "m.image",
            "body": name,
            "url": uploaded.content_uri,
            "info": {"mimetype": mimetype, "size": len(data), "w": width, "h": height},
            KEY_FIELD: f"{key}/image",
        }
        await self._send(room_id, "m.room.message", image, f"{key}/image")
        return await self.post(partnership, room, key, "barometer", caption)


    # --- direct messages (a coordinator's sign-in link) ------------------------------------------------

    async def send_direct(self, user_id: str, markdown: str, key: str) -> str:
        """A message to one person, in brug's direct room with them: made (with an invite) the first
        time and remembered in brug's `m.direct` account data, as clients keep their direct rooms.
        Sent once per key; returns the event id."""
        room_id = await self._direct_room(user_id)
        return await self._send(room_id, "m.room.message", message_content(markdown), key)

    async def _direct_room(self, user_id: str) -> str:
        direct = await self._direct_rooms()
        for room_id in reversed(direct.get(user_id, [])):
            member = await self.client.room_get_state_event(room_id, "m.room.member", user_id)
            if isinstance(member, RoomGetStateEventResponse) and member.content.get("membership") in ("invite", "join"):
                return room_id  # brug is still in it (else the homeserver refuses to read its state) and so are they
        response = await self._paced(
            "create",
            partial(
                self.client.room_create,
                is_direct=True,
                invite=[user_id],
                preset=RoomPreset.trusted_private_chat,
                initial_state=[
                    {"type": "m.room.history_visibility", "state_key": "", "content": {"history_visibility": "shared"}}
                ],
            ),
        )
        if not isinstance(response, RoomCreateResponse):
            raise MatrixError(f"a direct room with {user_id}", response)
        direct[user_id] = [*direct.get(user_id, [])[-4:], response.room_id]
        await self._account_data("PUT", "m.direct", direct)
        log.info("made a direct room %s for sign-in messages", response.room_id)
        return response.room_id

    async def _direct_rooms(self) -> dict[str, list[str]]:
        found = await self._account_data("GET", "m.direct")
        return {
            user: [r for r in rooms if isinstance(r, str)]
            for user, rooms in (found or {}).items()
            if isinstance(user, str) and isinstance(rooms, list)
        }

    async def _account_data(self, method: str, kind: str, content: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """brug's own global account data of one kind (GET: None when there is none yet)."""
        path = f"/_matrix/client/v3/user/{quote(self.account.user_id, safe='')}/account_data/{kind}"
        try:
            async with httpx.AsyncClient(base_url=self.account.homeserver, timeout=30, trust_env=False) as http:
                answer = await http.request(
                    method, path, json=content, headers={"Authorization": f"Bearer {self.account.access_token}"}
                )
        except httpx.HTTPError as err:
            raise Unreachable(f"the Matrix homeserver is unreachable: {err.__class__.__name__}") from err
        if method == "GET" and answer.status_code == 404:
            return None
        if not answer.is_success:
            raise PlatformError(f"account data {kind}: HTTP {answer.status_code} {answer.text[:200]}")
        data = answer.json()
        return data if isinstance(data, dict) else None


def _transient(err: Exception) -> bool:
    """A failure that may pass: the network, a rate limit, a server error without a Matrix error code."""
    if isinstance(err, MatrixError):
        return str(err.code) in TRANSIENT or str(err.code).isdigit() and int(str(err.code)) >= 500
    return isinstance(err, (OSError, TimeoutError)) or type(err).__module__.startswith("aiohttp")


POLL_RESPONSES = ("org.matrix.msc3381.poll.response", "m.poll.response")


def poll_response(content: dict[str, Any]) -> tuple[str | None, tuple[str, ...]]:
    """(the poll's event id, the chosen answer ids) of an unstable or stable poll response."""
    relates = content.get("m.relates_to") or {}
    if relates.get("rel_type") != "m.reference" or not isinstance(relates.get("event_id"), str):
        return None, ()
    unstable = content.get("org.matrix.msc3381.poll.response")
    answers = unstable.get("answers") if isinstance(unstable, dict) else content.get("m.selections")
    if not isinstance(answers, list):
        return relates["event_id"], ()
    return relates["event_id"], tuple(str(a) for a in answers if isinstance(a, str | int))[:5]


def svg_size(svg: bytes) -> tuple[int, int]:
    head = svg[:400].decode("utf-8", "replace")
    found = re.search(r'width="(\d+)" height="(\d+)"', head)
    return (int(found.group(1)), int(found.group(2))) if found else (0, 0)


def expected_events(pending: list[str]) -> int:
    """About how many events reconciling `pending` sends: a room is created and added to the space,
    an update is a state event or two, an invite one, the overview a message and its pin."""
    cost = {"create": 2, "update": 1, "invite": 1, "pin": 2}
    return sum(cost.get(item.split(" ", 1)[0], 1) for item in pending)


def supports_restricted(version: str) -> bool:
    """Room versions 8 and later know the `restricted` join rule (stable versions are numbers)."""
    return version.isdigit() and int(version) >= 8


def restricted_to(space: str) -> dict[str, Any]:
    return {"join_rule": RESTRICTED, "allow": [{"type": "m.room_membership", "room_id": space}]}


def alias_candidates(pid: str, key: str) -> list[str | None]:
    """Alias names for a room, the plainest first; None (no alias) when all are taken."""
    base = re.sub(r"[^a-z0-9._=+-]+", "-", (pid if key == SPACE else f"{pid}-{key}").lower()).strip("-") or "brug"
    return [base, *[f"{base}-{n}" for n in range(2, 5)], None]


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _room_members(want: ChatWorkspace) -> list[tuple[str, dict[str, bool]]]:
    """Who belongs in the space (everyone) and in each room (the room's actor types, see RoomPlan)."""
    return [(SPACE, want.members), *[(r.key, want.members if r.members is None else r.members) for r in want.rooms]]


def _for_everyone(want: ChatWorkspace, key: str) -> bool:
    """A room every member of the space belongs in (so it may admit the space's members)."""
    return all(r.members is None for r in want.rooms if r.key == key)
