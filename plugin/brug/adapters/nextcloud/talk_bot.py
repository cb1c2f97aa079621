"""An optional Talk bot webhook: Talk pushes messages to brug instead of brug reading the chat.

An admin installs the bot (`occ talk:bot:install brug <secret> <url> --feature=webhook`), a
moderator enables it in a conversation; `brug run` serves it when `[nextcloud] talk_bot_listen` is
set (see `TalkChat.listen`). Each delivery is signed: `X-Nextcloud-Talk-Signature` = hex HMAC-SHA256(secret,
`X-Nextcloud-Talk-Random` + raw body). brug rejects a wrong signature (401), a replayed random
(409) and a message older than the last one it handled in that conversation (stale, 409), and
answers at once (Talk waits at most 5 s): the command is handled after the answer.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from brug.app.conversation import Incoming
from brug.store import Store

log = logging.getLogger(__name__)

PLATFORM = "nextcloud"
Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def sign(secret: str, random: str, payload: bytes) -> str:
    return hmac.new(secret.encode(), random.encode() + payload, hashlib.sha256).hexdigest()


def verify(secret: str, random: str, payload: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, random, payload), signature.lower())


class TalkBotReceiver:
    """An ASGI app for Talk's bot webhook; `work` handles a message once and answers it in the chat."""

    def __init__(
        self,
        secret: str,
        store: Store,
        work: Callable[[str, str, Incoming], Awaitable[None]],  # (partnership, token, message)
    ) -> None:
        self.secret = secret
        self.store = store
        self.work = work
        self.tasks: set[asyncio.Task[None]] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope.get("headers", [])}
        status, work = self.accept(headers, body)
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b""})
        if work is not None:
            task = asyncio.create_task(work)
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    def accept(self, headers: dict[str, str], body: bytes) -> tuple[int, Awaitable[None] | None]:
        """Check a delivery; returns the HTTP status and, when it is to be handled, the work to do."""
        random = headers.get("x-nextcloud-talk-random", "")
        signature = headers.get("x-nextcloud-talk-signature", "")
        if not random or not signature or not verify(self.secret, random, body, signature):
            log.warning("Talk bot: refused a delivery with a wrong signature")
            return 401, None
        if not self.store.mark_processed(PLATFORM, f"bot-random:{random}"):
            log.warning("Talk bot: refused a replayed delivery")
            return 409, None
        try:
            data = json.loads(body)
        except ValueError:
            return 400, None
        if data.get("type") != "Create":
            return 200, None  # joins, leaves, reactions: nothing to do
        token = str(data.get("target", {}).get("id", ""))
        resource = next((r for r in self.store.resources(PLATFORM, "talk") if r.ref == token), None)
        if resource is None:
            return 200, None  # a conversation of no known partnership
        message_id = str(data.get("object", {}).get("id", ""))
        last = self.store.sync_token(PLATFORM, f"talk:{token}")
        if last is not None and message_id.isdigit() and int(message_id) <= int(last):
            log.info("Talk bot: a stale delivery (message %s) was refused", message_id)
            return 409, None
        try:
            text = json.loads(data["object"]["content"])["message"]
        except (KeyError, TypeError, ValueError):
            return 400, None
        actor = str(data.get("actor", {}).get("id", "")).removeprefix("users/")
        incoming = Incoming(PLATFORM, resource.partnership_id, "algemeen", actor, text, message_id)
        return 200, self.work(resource.partnership_id, token, incoming)


def bot_message_headers(secret: str, message: str) -> dict[str, str]:
    """Headers to post as the bot: HMAC over a fresh random and the message text."""
    random = secrets.token_hex(32)
    return {
        "X-Nextcloud-Talk-Bot-Random": random,
        "X-Nextcloud-Talk-Bot-Signature": sign(secret, random, message.encode()),
    }
