"""Talk: one conversation per partnership, posts that are never doubled, commands read with few requests.

Talk does not deduplicate by itself: every post carries `referenceId` = sha256 of its outbox key,
and before posting brug looks for that reference among the conversation's recent messages (once per
process and conversation; afterwards it remembers what it posted). Before creating a conversation
brug looks for one it owns with the same name (made by a run that stopped before it could remember).

Commands are read without holding a PHP worker per conversation: one request for the list of brug's
conversations tells which have a message newer than the last one brug handled, and only those are
read (`lookIntoFuture=1`, no waiting). So listening costs one request every few seconds whatever the
number of partnerships. When a Talk bot is configured, Talk pushes messages to brug's webhook and
the list is checked only now and then, to catch a delivery that went missing. The last message id
handled is kept in the store, so a restart neither replays nor misses anything.

The description of a conversation is fitted to what the server allows (`description-length`; 500
characters when the capability is missing, as on Nextcloud 30): the whole overview when it fits,
otherwise a short one with the link to the overview document.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any

from brug.adapters.nextcloud.client import NextcloudClient, NextcloudError
from brug.app.conversation import Incoming, Reply
from brug.app.leases import LeaseLost
from brug.content.fit import split_to_fit
from brug.content.render import markdown_to_plain
from brug.ports import ReconcileReport
from brug.store import Resource, Store
from brug.workspace.chat import ChatWorkspace

log = logging.getLogger(__name__)

PLATFORM = "nextcloud"
SPREED = "apps/spreed/api"
MAX_MESSAGE = 32_000
MAX_NAME = 255
GROUP_CONVERSATION = 2
OWNER = 1
ROOM_SHARE = 10  # files_sharing share type: into a Talk conversation
MAX_MESSAGE_ATTEMPTS = 10  # a message whose answer failed this often (server errors) is given up and apologised for
_LINK = re.compile(r"\[([^\]]+)\]\((https?://[^)\s]+)\)")

Handler = Callable[[Incoming], Awaitable[list[Reply]]]


def reference(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def fit_description(overview: str, limit: int) -> str:
    """The overview as the description when it fits; otherwise its first lines and the overview link."""
    text = markdown_to_plain(overview)
    if len(text) <= limit:
        return text
    links = _LINK.findall(overview)
    tail = f"{links[0][0]}: {links[0][1]}" if links else ""
    head: list[str] = []
    for paragraph in [p.strip() for p in text.split("\n\n") if p.strip()][:2]:  # the name, the phase
        if len("\n\n".join([*head, paragraph, tail])) > limit:
            break
        head.append(paragraph)
    short = "\n\n".join([*head, tail]).strip() if tail else "\n\n".join(head)
    return short if len(short) <= limit else short[: limit - 1] + "…"


class ConversationGone(NextcloudError):
    """The conversation was deleted on the server; brug makes a new one at the next apply."""


class TalkChat:
    platform = PLATFORM

    def __init__(
        self,
        client: NextcloudClient,
        store: Store,
        *,
        poll_interval: float = 5.0,
        webhook: tuple[str, int, str] | None = None,  # (host, port, bot secret)
    ) -> None:
        self.client = client
        self.store = store
        self.poll_interval = poll_interval
        self.webhook = webhook
        self._seen: dict[str, dict[str, str]] = {}  # conversation token -> referenceId -> message id
        self._handling = asyncio.Lock()  # one command at a time, whether it came by webhook or by reading
        self._failing: dict[str, str] = {}  # conversation token -> why reading it fails (said once)
        self._attempts: dict[str, int] = {}  # message -> failed attempts to answer it

    async def close(self) -> None:
        return None  # the shared client is closed by its owner

    # --- provisioning ------------------------------------------------------------------------------------

    def token(self, partnership: str) -> str:
        resource = self.store.resource(partnership, PLATFORM, "talk", "")
        if resource is None:
            raise NextcloudError(f"the Talk conversation of {partnership}", 404, "not provisioned yet: run brug apply")
        return resource.ref

    def _me(self) -> str:
        return self.client.uid or self.client.account.user

    def pending(self, want: ChatWorkspace) -> list[str]:
        pid = want.partnership.id
        todo = []
        conversation = self.store.resource(pid, PLATFORM, "talk", "")
        if conversation is None:
            todo.append("create conversation")
        elif conversation.data != hashlib.sha256(want.overview.encode()).hexdigest():
            todo.append("update description")
        for user in want.members:
            if user != self._me() and self.store.invite_status(pid, PLATFORM, "talk", user) != "invited":
                todo.append(f"add {user}")
        return todo

    async def reconcile(self, want: ChatWorkspace, *, remove_members: bool = False) -> ReconcileReport:
        report = ReconcileReport()
        pid = want.partnership.id
        me = await self.client.identity()
        conversation = self.store.resource(pid, PLATFORM, "talk", "")
        if conversation is None:
            name = want.space_name[:MAX_NAME]
            token = await self._find_conversation(name)
            if token is None:
                data = await self.client.ocs(
                    "POST", f"{SPREED}/v4/room", json={"roomType": GROUP_CONVERSATION, "roomName": name}
                )
                token = data["token"]
                report.created.append("conversation")
                log.info("%s: created Talk conversation %s", pid, token)
            self.store.put_resource(pid, PLATFORM, "talk", "", token)
        else:
            token = conversation.ref
        for user in want.members:
            if user == me or self.store.invite_status(pid, PLATFORM, "talk", user) == "invited":
                continue
            try:
                kind, who = await self.client.account_kind(user)
                if who == me:
                    continue
                source = "users" if kind == "user" else "federated_users"
                await self.client.ocs(
                    "POST", f"{SPREED}/v4/room/{token}/participants", json={"newParticipant": who, "source": source}
                )
                self.store.record_invite(pid, PLATFORM, "talk", user, "invited")
                report.invited.append(user)
            except NextcloudError as err:  # one failing participant must not stop the others
                if err.status == 501:
                    err = NextcloudError(f"inviting {user}", 501, "federation is off on this Nextcloud")
                self.store.record_invite(pid, PLATFORM, "talk", user, "failed", str(err))
                report.failed.append(f"{user}: {err}")
        digest = hashlib.sha256(want.overview.encode()).hexdigest()
        current = self.store.resource(pid, PLATFORM, "talk", "")
        if current is None or current.data != digest:
            description = fit_description(want.overview, await self.client.description_limit())
            await self.client.ocs("PUT", f"{SPREED}/v4/room/{token}/description", json={"description": description})
            self.store.put_resource(pid, PLATFORM, "talk", "", token, digest)
            report.updated.append("description")
        return report

    async def _find_conversation(self, name: str) -> str | None:
        """A group conversation brug owns with this name that no partnership uses yet."""
        taken = {r.ref for r in self.store.resources(PLATFORM, "talk")}
        rooms = await self.client.ocs("GET", f"{SPREED}/v4/room", params={"noStatusUpdate": 1})
        for room in rooms or []:
            if (
                room.get("name") == name
                and room.get("type") in (2, 3)
                and room.get("participantType") == OWNER
                and room.get("token") not in taken
            ):
                return str(room["token"])
        return None

    def _gone(self, resource: Resource) -> None:
        """The conversation was deleted: forget it (and its invites); the next apply makes a new one."""
        log.warning("%s: Talk conversation %s was deleted; brug makes a new one", resource.partnership_id, resource.ref)
        self.store.forget_resource(resource.partnership_id, PLATFORM, "talk", "")
        self.store.forget_room_state(resource.partnership_id, PLATFORM, "talk")
        self._seen.pop(resource.ref, None)

    # --- posting -------------------------------------------------------------------------------------------

    async def _recent_references(self, token: str) -> dict[str, str]:
        if token not in self._seen:
            messages = await self._messages(token, look_into_future=False, limit=200)
            self._seen[token] = {m["referenceId"]: str(m["id"]) for m in messages if m.get("referenceId")}
        return self._seen[token]

    def _claimed_before(self, key: str) -> bool:
        """A pending post claimed before (its instance died, or an attempt failed half-way): another instance
        may have sent it since this process read the conversation, so that reading is stale."""
        post = key.split("#", 1)[0].removesuffix("/intro")  # a later part or a poll's caption: the post's entry
        entry = self.store.outbox_entry(PLATFORM, post)
        return entry is not None and entry["status"] == "pending" and (entry.get("claims") or 0) > 1

    async def _send(self, token: str, key: str, text: str, reply_to: str | None = None) -> str:
        ref = reference(key)
        if self._claimed_before(key):
            self._seen.pop(token, None)  # read the conversation again before looking for the referenceId
        seen = await self._recent_references(token)
        if ref in seen:
            return seen[ref]
        body: dict[str, Any] = {"message": text, "referenceId": ref}
        if reply_to:
            body["replyTo"] = int(reply_to)
        try:
            data = await self.client.ocs("POST", f"{SPREED}/v1/chat/{token}", json=body)
        except NextcloudError as err:
            resource = self.store.resource_by_ref(PLATFORM, token)
            if err.status != 404 or resource is None or resource.kind != "talk":
                raise
            self._gone(resource)
            raise ConversationGone(f"Talk conversation {token}", 404, "was deleted; a new one comes at the next apply")
        seen[ref] = str(data["id"])
        return seen[ref]

    async def _send_fitting(self, token: str, key: str, text: str, reply_to: str | None = None) -> str:
        """Send `text` in as many messages as Talk's limit needs (the shared rule in brug.content.fit)."""
        parts = split_to_fit(text, lambda part: len(part.strip()) <= MAX_MESSAGE)
        refs = [await self._send(token, key if n == 0 else f"{key}#{n + 1}", part.strip(), reply_to)
                for n, part in enumerate(parts)]
        return refs[0]

    async def post(
        self, partnership: str, room: str, key: str, kind: str, markdown: str, *, thread_root: str | None = None
    ) -> str:
        return await self._send_fitting(self.token(partnership), key, markdown.strip(), thread_root)

    async def post_poll(
        self, partnership: str, room: str, key: str, question: str, answers: Sequence[tuple[str, str]], fallback: str
    ) -> str:
        token = self.token(partnership)
        ref = reference(key)
        if self._claimed_before(key):
            self._seen.pop(token, None)
        seen = await self._recent_references(token)
        if ref in seen:
            return seen[ref]
        # Polls carry no referenceId: the caption before them does. When the caption is already there
        # (a retry after a crash), the poll may be too: look for ours right after the caption.
        retry = reference(f"{key}/intro") in seen
        intro = await self._send(token, f"{key}/intro", fallback.strip())
        if retry:
            existing = await self._poll_after(token, int(intro), question[:255])
            if existing is not None:
                seen[ref] = existing
                return existing
        data = await self.client.ocs(
            "POST",
            f"{SPREED}/v1/poll/{token}",
            json={"question": question[:255], "options": [text for _, text in answers], "resultMode": 0, "maxVotes": 1},
        )
        seen[ref] = f"poll:{data['id']}"
        log.info("%s: poll %s posted (after %s)", partnership, data["id"], intro)
        return seen[ref]

    # --- the barometer ------------------------------------------------------------------------------------

    async def close_polls(self, partnership: str, refs: Sequence[str]) -> list[tuple[str, str, str]]:
        """Close brug's polls of a round and read who chose what from the poll details.

        Returns (Nextcloud user id, poll ref, answer id '1'..'5') per vote. Talk itself keeps one vote
        per person (a new vote replaces the old one) and refuses votes once a poll is closed.
        """
        token = self.token(partnership)
        votes: list[tuple[str, str, str]] = []
        for ref in refs:
            if not ref.startswith("poll:"):
                continue
            url = f"{SPREED}/v1/poll/{token}/{ref.removeprefix('poll:')}"
            try:
                poll = await self.client.ocs("DELETE", url)
            except NextcloudError as err:
                if err.status != 400:  # 400: closed already (a retry after a crash); read it as it is
                    raise
                poll = await self.client.ocs("GET", url)
            details = poll.get("details") if isinstance(poll, dict) else None
            for detail in details if isinstance(details, list) else []:
                if detail.get("actorType") == "users" and isinstance(detail.get("optionId"), int):
                    votes.append((str(detail["actorId"]), ref, str(detail["optionId"] + 1)))
        return votes

    async def post_picture(
        self,
        partnership: str,
        room: str,
        key: str,
        caption: str,
        filename: str,
        svg: bytes,
        share_path: str | None = None,
    ) -> str:
        """Share the radar (a file in Nextcloud) into the conversation, then post the text."""
        token = self.token(partnership)
        if share_path is not None:
            ref = reference(f"{key}/file")
            seen = await self._recent_references(token)
            if ref not in seen:
                response = await self.client.http.post(
                    "/ocs/v2.php/apps/files_sharing/api/v1/shares",
                    params={"format": "json"},
                    data={"path": share_path, "shareType": ROOM_SHARE, "shareWith": token, "referenceId": ref},
                )
                if response.status_code != 200:
                    raise NextcloudError(f"sharing {share_path} into {token}", response.status_code, response.text[:200])
                seen[ref] = "shared"
        return await self._send_fitting(token, key, caption.strip())

    async def _poll_after(self, token: str, after: int, question: str) -> str | None:
        for message in await self._messages(token, look_into_future=False, limit=200):
            parameters = message.get("messageParameters")
            poll = parameters.get("object") if isinstance(parameters, dict) else None
            if (
                int(message["id"]) > after
                and isinstance(poll, dict)
                and poll.get("type") == "talk-poll"
                and poll.get("name") == question
                and message.get("actorId") == self._me()
            ):
                return f"poll:{poll['id']}"
        return None

    # --- listening -----------------------------------------------------------------------------------------

    async def _messages(
        self,
        token: str,
        *,
        look_into_future: bool,
        limit: int = 100,
        last_known: int | None = None,
        timeout: int = 0,
    ) -> list[dict[str, Any]]:
        params: dict[str, Any] = {
            "format": "json",
            "lookIntoFuture": int(look_into_future),
            "limit": limit,
            "setReadMarker": 0,
        }
        if last_known is not None:
            params["lastKnownMessageId"] = last_known
        if look_into_future:
            params["timeout"] = timeout
        response = await self.client.http.get(
            f"/ocs/v2.php/{SPREED}/v1/chat/{token}", params=params, timeout=timeout + 30
        )
        if response.status_code == 304:
            return []
        if response.status_code != 200:
            raise NextcloudError(f"reading chat {token}", response.status_code)
        return sorted(response.json()["ocs"]["data"], key=lambda m: m["id"])

    async def sync_once(self, handle: Handler, *, timeout: int = 0) -> int:
        """One round: which conversations have news (one request for all), then read only those.

        One conversation's failure (Talk refuses it, a message brug cannot handle) stops neither the
        others nor the next round: it is logged once, and that conversation is read again next time.
        Only an unreachable server ends the round (it is said once, by the client's reachability).
        Returns how many messages were handled. (`timeout` is accepted for older callers; nothing waits.)
        """
        known = {r.ref: r for r in self.store.resources(PLATFORM, "talk")}
        if not known:
            return 0
        await self.client.identity()
        rooms = await self.client.ocs("GET", f"{SPREED}/v4/room", params={"noStatusUpdate": 1})
        latest = {}
        for room in rooms if isinstance(rooms, list) else []:
            if isinstance(room, dict) and room.get("token"):
                last = room.get("lastMessage")
                latest[str(room["token"])] = _message_id(last.get("id") if isinstance(last, dict) else 0)
        handled = 0
        for token, resource in known.items():
            if token not in latest:  # brug is no longer in it: the conversation was deleted
                self._gone(resource)
                continue
            try:
                handled += await self._catch_up(resource.partnership_id, token, latest[token], handle)
            except LeaseLost:  # another instance reads Talk now: the round ends, its holder reads on
                raise
            except NextcloudError as err:
                if self.client.reachability.down:  # the server, not this conversation: the round ends
                    raise
                self._failed(resource.partnership_id, token, err)
            except Exception as err:  # noqa: BLE001 - one conversation must never stop the others
                self._failed(resource.partnership_id, token, err)
            else:
                self._recovered(resource.partnership_id, token)
        return handled

    def _failed(self, pid: str, token: str, err: Exception) -> None:
        """A conversation could not be read or answered: said once, then at debug level until it works again."""
        why = f"{type(err).__name__}: {err}"
        if token not in self._failing:
            log.warning(
                "%s: Talk conversation %s could not be read (%s); the other conversations go on, "
                "and brug tries this one again in the next round",
                pid, token, why, exc_info=not isinstance(err, NextcloudError),
            )
        else:
            log.debug("%s: Talk conversation %s still fails: %s", pid, token, why)
        self._failing[token] = why

    def _recovered(self, pid: str, token: str) -> None:
        if self._failing.pop(token, None) is not None:
            log.warning("%s: Talk conversation %s is read again", pid, token)

    async def _catch_up(self, pid: str, token: str, newest: int, handle: Handler) -> int:
        account = f"talk:{token}"
        last = self.store.sync_token(PLATFORM, account)
        if last is None:  # the first time: brug starts from now
            self.store.put_sync_token(PLATFORM, account, str(newest), listening=True)
            return 0
        handled = 0
        while newest > int(last):
            messages = await self._messages(token, look_into_future=True, last_known=int(last))
            if not messages:
                break
            handled += await self._process(pid, token, messages, handle)
            now = self.store.sync_token(PLATFORM, account) or last
            if now == last:  # nothing could be moved past: read again next round
                break
            last = now
        return handled

    async def _process(self, pid: str, token: str, messages: list[dict[str, Any]], handle: Handler) -> int:
        handled = 0
        for message in messages:
            number = _message_id(message.get("id")) if isinstance(message, dict) else 0
            if number <= 0:  # nothing brug can answer to or move past; Talk never sends one like it
                log.warning("%s: Talk sent a message without an id in %s; skipped", pid, token)
                continue
            incoming = _incoming(pid, message, self._me())
            if incoming is not None:
                handled += await self.answer(pid, token, incoming, handle)
            self.store.put_sync_token(PLATFORM, f"talk:{token}", str(number), listening=True)
        return handled

    async def answer(self, pid: str, token: str, incoming: Incoming, handle: Handler) -> int:
        """Handle one message once, however it arrived (read, or pushed to the webhook).

        When answering fails because the server is away or busy, the message is read again later (at
        most MAX_MESSAGE_ATTEMPTS times); any other failure is recorded, apologised for once in the
        conversation, and the message counts as handled, so it never holds up the next one.
        """
        event = f"{token}:{incoming.event_id}"
        async with self._handling:
            if not self.store.claim_event(PLATFORM, event):  # with several instances: only while elected
                return 0
            try:
                replies = await handle(incoming)
                self.store.still_listening(PLATFORM)  # stalled while handling and the poller moved: its holder answers
                await self._reply(pid, token, event, incoming, replies)
            except LeaseLost:
                raise
            except Exception as err:  # noqa: BLE001 - one message must never stop brug from listening
                attempts = self._attempts[event] = self._attempts.get(event, 0) + 1
                if _transient(err) and attempts < MAX_MESSAGE_ATTEMPTS:
                    raise
                await self._give_up(pid, token, event, incoming, err, handle)
            self._attempts.pop(event, None)
            self.store.mark_processed(PLATFORM, event)
        return 1

    async def _reply(self, pid: str, token: str, event: str, incoming: Incoming, replies: list[Reply], tag: str = "") -> None:
        for n, reply in enumerate(replies):
            if reply.markdown:
                await self._send_fitting(token, f"{pid}/reply/{event}/{tag}{n}", reply.markdown.strip(), incoming.event_id)

    async def _give_up(
        self, pid: str, token: str, event: str, incoming: Incoming, err: Exception, handle: Handler
    ) -> None:
        """Record the failure and say so once in the conversation; the message then counts as handled."""
        log.error("%s: answering Talk message %s failed for good: %s", pid, event, err, exc_info=not isinstance(err, NextcloudError))
        if not self.store.record_event_failure(PLATFORM, event, pid, f"{type(err).__name__}: {err}"):
            return  # reported before
        try:
            apology = await handle(replace(incoming, failure=f"{type(err).__name__}: {err}"))
            await self._reply(pid, token, event, incoming, apology, tag="failed-")
        except Exception as second:  # noqa: BLE001 - the failure is recorded; the conversation hears of it or not
            log.error("%s: could not report the failure in the conversation either: %s", pid, second)

    async def listen(self, handle: Handler, stop: asyncio.Event) -> None:
        """Read new messages until `stop` is set: every few seconds, or pushed by the Talk bot."""
        interval = self.poll_interval
        server = None
        if self.webhook is not None:
            server = await self._serve_webhook(handle)
            interval = max(interval, 60.0)  # the webhook brings messages; reading only catches a lost one
        try:
            while not stop.is_set():
                try:
                    await self.sync_once(handle)
                except LeaseLost:  # another instance reads Talk now (this one stalled past its lease)
                    raise
                except NextcloudError as err:  # an unreachable server was said once, with its cause
                    log.log(logging.DEBUG if self.client.reachability.down else logging.WARNING,
                            "Talk: %s; trying again shortly", err)
                except Exception:  # noqa: BLE001 - the listener must outlive any one surprise
                    log.exception("Talk: reading the conversations failed; trying again shortly")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=interval)
        finally:
            if server is not None:
                server.should_exit = True
                await server.shutdown()

    async def _serve_webhook(self, handle: Handler) -> Any:
        """Serve Talk's bot webhook on the configured address (uvicorn, in this event loop)."""
        import uvicorn

        from brug.adapters.nextcloud.talk_bot import TalkBotReceiver
        from brug.web.sockets import shared_sockets

        assert self.webhook is not None
        host, port, secret = self.webhook

        async def work(pid: str, token: str, incoming: Incoming) -> None:
            try:
                await self.answer(pid, token, incoming, handle)
                if incoming.event_id.isdigit():
                    last = self.store.sync_token(PLATFORM, f"talk:{token}")
                    if last is None or int(incoming.event_id) > int(last):
                        self.store.put_sync_token(PLATFORM, f"talk:{token}", incoming.event_id, listening=True)
            except LeaseLost:  # pushed to an instance that no longer listens: the holder reads it
                log.info("%s: a Talk message pushed here is left to the instance that reads Talk now", pid)

        app = TalkBotReceiver(secret, self.store, work)
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off", access_log=False)
        config.load()
        server = uvicorn.Server(config)
        server.lifespan = config.lifespan_class(config)
        try:  # uvicorn's own loop is not needed: its listening socket lives in this event loop
            # shared (SO_REUSEPORT): when the listener moves to another instance on this host, the new
            # holder binds while the old one is still closing its webhook
            await server.startup(sockets=shared_sockets(host, port))
        except (SystemExit, OSError):  # the port is another program's
            server.started = False
        if not server.started:
            raise NextcloudError(f"the Talk bot webhook on {host}:{port}", 0, "could not listen there")
        log.info("Talk bot webhook listening on %s:%d", host, port)
        return server


def _message_id(value: Any) -> int:
    """A Talk message id as a number; 0 when it is missing or not a number."""
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _incoming(pid: str, message: dict[str, Any], me: str) -> Incoming | None:
    """A partner's chat message as brug's Incoming; None for system messages, brug's own, and the like."""
    if message.get("messageType") != "comment" or (message.get("actorType") == "users" and message.get("actorId") == me):
        return None
    text = message.get("message")
    parent = message.get("parent")
    parent_id = parent.get("id") if isinstance(parent, dict) else None  # PHP sends [] for "none"
    return Incoming(
        PLATFORM,
        pid,
        "algemeen",
        str(message.get("actorId")),
        text if isinstance(text, str) else "",
        str(message["id"]),
        str(parent_id) if parent_id else None,
    )


def _transient(err: Exception) -> bool:
    """A failure that may pass by itself: the server unreachable, or busy (5xx, 429)."""
    status = getattr(err, "status", None)
    return isinstance(err, NextcloudError) and (status == 0 or status == 429 or (status or 0) >= 500)
