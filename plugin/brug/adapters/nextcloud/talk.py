"""Talk: one conversation per partnership, posts that are never doubled, commands by long-polling.

Talk does not deduplicate by itself: every post carries `referenceId` = sha256 of its outbox key,
and before posting brug looks for that reference among the conversation's recent messages (once per
process and conversation; afterwards it remembers what it posted). Commands are read by
long-polling the chat with `lookIntoFuture=1`; the last message id brug handled is kept in its
store, so a restart neither replays nor misses anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from brug.adapters.nextcloud.client import NextcloudClient, NextcloudError
from brug.adapters.nextcloud.sharing import split_member
from brug.content.fit import split_to_fit
from brug.content.render import markdown_to_plain
from brug.conversation import Incoming, Reply
from brug.ports import ReconcileReport
from brug.store import Store
from brug.workspace.chat import ChatWorkspace

log = logging.getLogger(__name__)

PLATFORM = "nextcloud"
SPREED = "apps/spreed/api"
MAX_MESSAGE = 32_000
GROUP_CONVERSATION = 2


def reference(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class TalkChat:
    platform = PLATFORM

    def __init__(self, client: NextcloudClient, store: Store, *, poll_timeout: int = 30) -> None:
        self.client = client
        self.store = store
        self.poll_timeout = poll_timeout
        self._seen: dict[str, dict[str, str]] = {}  # conversation token -> referenceId -> message id

    async def close(self) -> None:
        return None  # the shared client is closed by its owner

    # --- provisioning ------------------------------------------------------------------------------------

    def token(self, partnership: str) -> str:
        resource = self.store.resource(partnership, PLATFORM, "talk", "")
        if resource is None:
            raise NextcloudError(f"the Talk conversation of {partnership}", 404, "not provisioned yet: run brug apply")
        return resource.ref

    def pending(self, want: ChatWorkspace) -> list[str]:
        pid = want.partnership.id
        todo = []
        conversation = self.store.resource(pid, PLATFORM, "talk", "")
        if conversation is None:
            todo.append("create conversation")
        elif conversation.data != hashlib.sha256(want.overview.encode()).hexdigest():
            todo.append("update description")
        for user in want.members:
            if user != self.client.account.user and self.store.invite_status(pid, PLATFORM, "talk", user) != "invited":
                todo.append(f"add {user}")
        return todo

    async def reconcile(self, want: ChatWorkspace, *, remove_members: bool = False) -> ReconcileReport:
        report = ReconcileReport()
        pid = want.partnership.id
        conversation = self.store.resource(pid, PLATFORM, "talk", "")
        if conversation is None:
            data = await self.client.ocs(
                "POST", f"{SPREED}/v4/room", json={"roomType": GROUP_CONVERSATION, "roomName": want.space_name[:255]}
            )
            token = data["token"]
            self.store.put_resource(pid, PLATFORM, "talk", "", token)
            report.created.append("conversation")
            log.info("%s: created Talk conversation %s", pid, token)
        else:
            token = conversation.ref
        for user in want.members:
            if user == self.client.account.user or self.store.invite_status(pid, PLATFORM, "talk", user) == "invited":
                continue
            kind, who = split_member(user, self.client.account.url)
            source = "users" if kind == "user" else "federated_users"
            try:
                await self.client.ocs(
                    "POST", f"{SPREED}/v4/room/{token}/participants", json={"newParticipant": who, "source": source}
                )
                self.store.record_invite(pid, PLATFORM, "talk", user, "invited")
                report.invited.append(user)
            except NextcloudError as err:  # one failing participant must not stop the others
                self.store.record_invite(pid, PLATFORM, "talk", user, "failed", str(err))
                report.failed.append(f"{user}: {err}")
        digest = hashlib.sha256(want.overview.encode()).hexdigest()
        current = self.store.resource(pid, PLATFORM, "talk", "")
        if current is None or current.data != digest:
            description = markdown_to_plain(want.overview)[:2000]
            await self.client.ocs("PUT", f"{SPREED}/v4/room/{token}/description", json={"description": description})
            self.store.put_resource(pid, PLATFORM, "talk", "", token, digest)
            report.updated.append("description")
        return report

    # --- posting -------------------------------------------------------------------------------------------

    async def _recent_references(self, token: str) -> dict[str, str]:
        if token not in self._seen:
            messages = await self._messages(token, look_into_future=False, limit=200)
            self._seen[token] = {m["referenceId"]: str(m["id"]) for m in messages if m.get("referenceId")}
        return self._seen[token]

    async def _send(self, token: str, key: str, text: str, reply_to: str | None = None) -> str:
        ref = reference(key)
        seen = await self._recent_references(token)
        if ref in seen:
            return seen[ref]
        body: dict[str, Any] = {"message": text, "referenceId": ref}
        if reply_to:
            body["replyTo"] = int(reply_to)
        data = await self.client.ocs("POST", f"{SPREED}/v1/chat/{token}", json=body)
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

    async def _poll_after(self, token: str, after: int, question: str) -> str | None:
        for message in await self._messages(token, look_into_future=False, limit=200):
            parameters = message.get("messageParameters")
            poll = parameters.get("object") if isinstance(parameters, dict) else None
            if (
                int(message["id"]) > after
                and isinstance(poll, dict)
                and poll.get("type") == "talk-poll"
                and poll.get("name") == question
                and message.get("actorId") == self.client.account.user
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

    async def sync_once(self, handle: Callable[[Incoming], Awaitable[list[Reply]]], *, timeout: int = 0) -> int:
        """One round over every conversation; returns how many messages were handled."""
        handled = 0
        for resource in self.store.resources(PLATFORM, "talk"):
            messages = await self._news(resource.ref, timeout)
            handled += await self._process(resource.partnership_id, resource.ref, messages, handle)
        return handled

    async def _news(self, token: str, timeout: int) -> list[dict[str, Any]]:
        """Messages after the last one handled (the first time: none, brug starts from now)."""
        account = f"talk:{token}"
        last = self.store.sync_token(PLATFORM, account)
        if last is None:
            latest = await self._messages(token, look_into_future=False, limit=1)
            self.store.put_sync_token(PLATFORM, account, str(latest[-1]["id"] if latest else 0))
            return []
        return await self._messages(token, look_into_future=True, last_known=int(last), timeout=timeout)

    async def _process(
        self, pid: str, token: str, messages: list[dict[str, Any]], handle: Callable[[Incoming], Awaitable[list[Reply]]]
    ) -> int:
        handled = 0
        for message in messages:
            event = f"{token}:{message['id']}"
            ours = message.get("actorType") == "users" and message.get("actorId") == self.client.account.user
            if message.get("messageType") == "comment" and not ours and not self.store.is_processed(PLATFORM, event):
                parent = (message.get("parent") or {}).get("id")
                incoming = Incoming(
                    PLATFORM,
                    pid,
                    "algemeen",
                    str(message.get("actorId")),
                    message.get("message", ""),
                    str(message["id"]),
                    str(parent) if parent else None,
                )
                for n, reply in enumerate(await handle(incoming)):
                    if reply.markdown:
                        await self._send_fitting(
                            token, f"{pid}/reply/{event}/{n}", reply.markdown.strip(), str(message["id"])
                        )
                self.store.mark_processed(PLATFORM, event)
                handled += 1
            self.store.put_sync_token(PLATFORM, f"talk:{token}", str(message["id"]))
        return handled

    async def listen(self, handle: Callable[[Incoming], Awaitable[list[Reply]]], stop: asyncio.Event) -> None:
        """Follow every conversation (new ones as they appear) until `stop` is set."""
        followers: dict[str, asyncio.Task[None]] = {}
        while not stop.is_set():
            for resource in self.store.resources(PLATFORM, "talk"):
                if resource.ref not in followers:
                    followers[resource.ref] = asyncio.create_task(
                        self._follow(resource.partnership_id, resource.ref, handle, stop)
                    )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=30)
        await asyncio.gather(*followers.values())

    async def _follow(
        self, pid: str, token: str, handle: Callable[[Incoming], Awaitable[list[Reply]]], stop: asyncio.Event
    ) -> None:
        """Long-poll one conversation; only the wait is interrupted by `stop`, never a batch in hand."""
        while not stop.is_set():
            waiting = asyncio.create_task(self._news(token, self.poll_timeout))
            stopper = asyncio.create_task(stop.wait())
            done, _ = await asyncio.wait({waiting, stopper}, return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            if waiting not in done:
                waiting.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await waiting
                return
            try:
                await self._process(pid, token, waiting.result(), handle)
            except NextcloudError as err:
                log.warning("Talk %s: %s; trying again shortly", token, err)
                await asyncio.sleep(2)
