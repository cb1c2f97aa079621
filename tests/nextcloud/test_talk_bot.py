"""The optional Talk bot webhook: signed, not replayable, not stale, and answered at once."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx

from brug.adapters.nextcloud.talk_bot import TalkBotReceiver, sign, verify
from brug.app.conversation import Incoming
from brug.store import Store

SECRET = "s" * 48


def delivery(token: str, message_id: int, text: str, actor: str = "users/bob") -> bytes:
    return json.dumps(
        {
            "type": "Create",
            "actor": {"type": "Person", "id": actor, "name": "Bob"},
            "object": {
                "type": "Note",
                "id": str(message_id),
                "name": "message",
                "content": json.dumps({"message": text, "parameters": []}),
                "mediaType": "text/markdown",
            },
            "target": {"type": "Collection", "id": token, "name": "Samen"},
        }
    ).encode()


async def test_signed_deliveries_are_handled_once_and_others_refused(tmp_path: Path) -> None:
    store = Store.at(tmp_path / "s.db")
    store.put_resource("p", "nextcloud", "talk", "", "tok123")
    seen: list[Incoming] = []

    async def work(pid: str, token: str, incoming: Incoming) -> None:  # as TalkChat does: handle, then advance
        assert (pid, token) == ("p", "tok123")
        seen.append(incoming)
        store.put_sync_token("nextcloud", f"talk:{token}", incoming.event_id)

    app = TalkBotReceiver(SECRET, store, work)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://brug") as client:
        body = delivery("tok123", 41, "!agendapunt Via de bot")
        ok = await client.post(
            "/",
            content=body,
            headers={"X-Nextcloud-Talk-Random": "r1", "X-Nextcloud-Talk-Signature": sign(SECRET, "r1", body)},
        )
        assert ok.status_code == 200
        await asyncio.gather(*app.tasks)
        assert [i.text for i in seen] == ["!agendapunt Via de bot"] and seen[0].sender == "bob"
        again = await client.post(
            "/",
            content=body,
            headers={"X-Nextcloud-Talk-Random": "r1", "X-Nextcloud-Talk-Signature": sign(SECRET, "r1", body)},
        )
        assert again.status_code == 409  # replayed
        forged = await client.post(
            "/", content=body, headers={"X-Nextcloud-Talk-Random": "r2", "X-Nextcloud-Talk-Signature": "0" * 64}
        )
        assert forged.status_code == 401
        old = delivery("tok123", 40, "!status")
        stale = await client.post(
            "/",
            content=old,
            headers={"X-Nextcloud-Talk-Random": "r3", "X-Nextcloud-Talk-Signature": sign(SECRET, "r3", old)},
        )
        assert stale.status_code == 409  # older than what brug already handled
    assert len(seen) == 1


def test_signature_matches_the_documented_scheme() -> None:
    import hashlib
    import hmac

    body = b'{"type":"Create"}'
    expected = hmac.new(SECRET.encode(), b"abc" + body, hashlib.sha256).hexdigest()
    assert sign(SECRET, "abc", body) == expected and verify(SECRET, "abc", body, expected.upper())


def test_brug_run_serves_the_webhook_only_with_its_secret(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """`talk_bot_listen` in brug.toml plus the secret from the environment: Talk is read via the webhook."""
    import pytest

    from brug.adapters.nextcloud.talk import TalkChat
    from brug.app.bot import build_runtime
    from brug.content.library import load_library
    from brug.content.problems import ProblemsFound
    from brug.settings import load_settings

    (tmp_path / "brug.toml").write_text(
        '[nextcloud]\nurl = "https://cloud.example.be"\nuser = "brug"\ntalk_bot_listen = "127.0.0.1:8099"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("BRUG_NEXTCLOUD__APP_PASSWORD", "app-password")
    settings = load_settings(tmp_path / "brug.toml")
    with pytest.raises(ProblemsFound, match="BRUG_NEXTCLOUD__TALK_BOT_SECRET"):
        build_runtime(settings, load_library(), lambda: __import__("datetime").datetime.now())
    monkeypatch.setenv("BRUG_NEXTCLOUD__TALK_BOT_SECRET", SECRET)
    rt = build_runtime(load_settings(tmp_path / "brug.toml"), load_library(), lambda: __import__("datetime").datetime.now())
    talk = rt.chats["nextcloud"]
    assert isinstance(talk, TalkChat) and talk.webhook == ("127.0.0.1", 8099, SECRET)
    (tmp_path / "brug.toml").write_text(
        f'[nextcloud]\nurl = "https://c.be"\nuser = "brug"\ntalk_bot_secret = "{SECRET}"\n', encoding="utf-8"
    )
    with pytest.raises(ProblemsFound, match="talk_bot_secret"):  # a secret never belongs in brug.toml
        load_settings(tmp_path / "brug.toml")
