"""Talk (spreed) OCS API: conversations, participants, chat with long polling, and polls.

Shapes follow the spreed OpenAPI spec (``Room``, ``Participant``, ``ChatMessageWithParent``,
``Poll``).  Behaviour follows the Talk docs: message ids grow globally; history
(``lookIntoFuture=0``) is newest first and ``X-Chat-Last-Given`` is the oldest id given;
``lookIntoFuture=1`` waits up to ``timeout`` seconds and answers ``304`` with an empty body
when nothing new arrived.  Conversations get the system messages Talk writes (created,
user_added...), so clients must skip ``messageType == "system"`` as with a real server.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import secrets
import time
from typing import Any

import httpx
from starlette.responses import Response

from .common import Ctx, OCSError, ocs_response
from .routing import Route
from .state import Attendee, Bot, ChatMessage, Poll, Room, ServerState, Share, random_token
from .teams import circle_user_ids

ONE_TO_ONE, GROUP, PUBLIC = 1, 2, 3
OWNER, MODERATOR, USER, GUEST = 1, 2, 3, 4
MAX_MESSAGE_LENGTH = 32000
MAX_TIMEOUT = 30
MAX_NAME_LENGTH = 255
MAX_REFERENCE_ID = 64  # longer ids are stored cut (chat-3/reference-id.feature:27-36)
BOT_WEBHOOK, BOT_RESPONSE = 1, 2
PERMISSIONS_MODERATOR = 254
PERMISSIONS_USER = 246
_MENTION = re.compile(r'@"([^"]+)"|@([A-Za-z0-9_.\-@]+)')


# --------------------------------------------------------------------------------------------
# Lookups and serialisation
# --------------------------------------------------------------------------------------------


def attendee_for(room: Room, uid: str) -> Attendee | None:
    """The ``users`` attendee of ``uid`` in ``room``."""
    return next((a for a in room.attendees if a.actor_type == "users" and a.actor_id == uid), None)


def _room_or_404(ctx: Ctx, uid: str, *, allow_public: bool = False) -> tuple[Room, Attendee | None]:
    room = ctx.state.rooms.get(ctx.match["token"])
    attendee = attendee_for(room, uid) if room else None
    if room is None or (attendee is None and not (allow_public and room.type == PUBLIC)):
        raise OCSError(404, "", {"error": "room"} if not allow_public else [])
    return room, attendee


def is_moderator(attendee: Attendee | None) -> bool:
    """Owners and moderators."""
    return attendee is not None and attendee.participant_type in (OWNER, MODERATOR)


def actor_parameter(state: ServerState, uid: str) -> dict[str, Any]:
    """The rich-object parameter of a user."""
    return {"type": "user", "id": uid, "name": state.display_name(uid), "mention-id": uid}


def format_message(state: ServerState, message: ChatMessage, *, with_parent: bool = True) -> dict[str, Any]:
    """``ChatMessageWithParent``."""
    data: dict[str, Any] = {
        "id": message.id,
        "token": message.token,
        "actorType": message.actor_type,
        "actorId": message.actor_id,
        "actorDisplayName": message.actor_display_name,
        "timestamp": message.timestamp,
        "message": message.message,
        "messageParameters": message.message_parameters or {},
        "systemMessage": message.system_message,
        "messageType": message.message_type,
        "isReplyable": message.message_type == "comment",
        "referenceId": message.reference_id,
        "reactions": {},
        "expirationTimestamp": 0,
        "markdown": message.message_type == "comment",
    }
    if message.silent:
        data["silent"] = True
    if with_parent and message.parent_id is not None:
        room = state.rooms.get(message.token)
        parent = next((m for m in room.messages if m.id == message.parent_id), None) if room else None
        data["parent"] = (
            format_message(state, parent, with_parent=False) if parent else {"id": message.parent_id, "deleted": True}
        )
    return data


def _display_name(state: ServerState, room: Room, viewer: str) -> str:
    if room.type == ONE_TO_ONE:
        other = next((a for a in room.attendees if a.actor_type == "users" and a.actor_id != viewer), None)
        return other.display_name if other else room.name
    return room.name


def format_room(state: ServerState, room: Room, uid: str) -> dict[str, Any]:
    """``Room`` as seen by ``uid`` (also for a non-participant of a public conversation)."""
    attendee = attendee_for(room, uid)
    last_read = attendee.last_read_message if attendee else 0
    moderator = is_moderator(attendee)
    comments = [m for m in room.messages if m.message_type == "comment"]
    unread = [m for m in comments if m.id > last_read and not (m.actor_type == "users" and m.actor_id == uid)]
    readers = [a.last_read_message for a in room.attendees if a.actor_type == "users"]
    data: dict[str, Any] = {
        "id": room.id,
        "token": room.token,
        "type": room.type,
        "name": room.name,
        "displayName": _display_name(state, room, uid),
        "description": room.description,
        "objectType": "",
        "objectId": "",
        "actorType": "users" if attendee else "",
        "actorId": uid if attendee else "",
        "attendeeId": attendee.attendee_id if attendee else 0,
        "participantType": attendee.participant_type if attendee else 0,
        "participantFlags": 0,
        "attendeePermissions": 0,
        "attendeePin": "",
        "permissions": (PERMISSIONS_MODERATOR if moderator else PERMISSIONS_USER) if attendee else 0,
        "callPermissions": 0,
        "defaultPermissions": 0,
        "readOnly": room.read_only,
        "listable": 0,
        "hasPassword": False,
        "hasCall": False,
        "callFlag": 0,
        "callStartTime": 0,
        "callRecording": 0,
        "canStartCall": attendee is not None,
        "canLeaveConversation": attendee is not None,
        "canDeleteConversation": moderator and room.type != ONE_TO_ONE,
        "canEnableSIP": False,
        "sipEnabled": 0,
        "lastActivity": room.last_activity,
        "lastReadMessage": last_read,
        "lastCommonReadMessage": min(readers) if readers else 0,
        "unreadMessages": len(unread),
        "unreadMention": any(
            key.startswith("mention-") and value.get("id") == uid
            for m in unread
            for key, value in m.message_parameters.items()
        ),
        "unreadMentionDirect": False,
        "isFavorite": bool(attendee and attendee.favorite),
        "notificationLevel": 1 if room.type == ONE_TO_ONE else 2,
        "notificationCalls": 1,
        "lobbyState": 0,
        "lobbyTimer": 0,
        "lastPing": 0,
        "sessionId": "0",
        "messageExpiration": 0,
        "avatarVersion": room.token[:8],
        "isCustomAvatar": False,
        "breakoutRoomMode": 0,
        "breakoutRoomStatus": 0,
        "recordingConsent": 0,
        "mentionPermissions": 0,
        "liveTranscriptionLanguageId": "",
        "isArchived": False,
        "isImportant": False,
        "isSensitive": False,
        "tagIds": [],
        "lastPinnedId": 0,
        "hiddenPinnedId": 0,
        "hasScheduledMessages": 0,
        "attributes": 0,
    }
    if room.messages:
        data["lastMessage"] = format_message(state, room.messages[-1], with_parent=False)
    return data


def format_participant(room: Room, attendee: Attendee) -> dict[str, Any]:
    """``Participant``."""
    data: dict[str, Any] = {
        "roomToken": room.token,
        "attendeeId": attendee.attendee_id,
        "actorType": attendee.actor_type,
        "actorId": attendee.actor_id,
        "displayName": attendee.display_name,
        "participantType": attendee.participant_type,
        "lastPing": 0,
        "inCall": 0,
        "permissions": PERMISSIONS_MODERATOR if attendee.participant_type in (OWNER, MODERATOR) else PERMISSIONS_USER,
        "attendeePermissions": 0,
        "attendeePin": "",
        "sessionIds": [],
    }
    if attendee.invited_actor_id:
        data["invitedActorId"] = attendee.invited_actor_id
    return data


# --------------------------------------------------------------------------------------------
# Writing to rooms
# --------------------------------------------------------------------------------------------


def add_message(
    state: ServerState,
    room: Room,
    uid: str,
    text: str,
    *,
    message_type: str = "comment",
    system_message: str = "",
    parameters: dict[str, Any] | None = None,
    reference_id: str = "",
    parent_id: int | None = None,
    silent: bool = False,
) -> ChatMessage:
    """Append a message with the next global id."""
    message = ChatMessage(
        id=state.next_message_id(),
        token=room.token,
        actor_type="users",
        actor_id=uid,
        actor_display_name=state.display_name(uid),
        timestamp=state.now(),
        message=text,
        message_type=message_type,
        system_message=system_message,
        message_parameters=parameters or {},
        reference_id=reference_id,
        parent_id=parent_id,
        silent=silent,
    )
    room.messages.append(message)
    room.last_activity = message.timestamp
    return message


def system_message(state: ServerState, room: Room, uid: str, kind: str, text: str, **extra: dict[str, Any]) -> None:
    """A ``messageType: system`` entry such as ``conversation_created`` or ``user_added``."""
    add_message(
        state,
        room,
        uid,
        text,
        message_type="system",
        system_message=kind,
        parameters={"actor": actor_parameter(state, uid), **extra},
    )


def add_attendee(
    state: ServerState,
    room: Room,
    actor_type: str,
    actor_id: str,
    display_name: str,
    participant_type: int = USER,
    invited: str | None = None,
) -> Attendee | None:
    """Add an attendee unless already present; returns the new attendee (or None)."""
    if any(a.actor_type == actor_type and a.actor_id == actor_id for a in room.attendees):
        return None
    attendee = Attendee(
        attendee_id=state.next_attendee_id(),
        actor_type=actor_type,
        actor_id=actor_id,
        display_name=display_name,
        participant_type=participant_type,
        invited_actor_id=invited,
        last_read_message=room.messages[-1].id if room.messages else 0,
    )
    room.attendees.append(attendee)
    return attendee


def add_participant(
    state: ServerState, room: Room, actor: str, source: str, new: str, *, federation: bool = False
) -> None:
    """Resolve ``newParticipant`` for ``source`` and add it, with the system messages Talk writes.

    Federated users need federation, which a fresh installation has off: Talk answers 501.
    """
    if source == "users":
        if new not in state.users:
            raise OCSError(404, "", {"error": "new-participant"})
        if add_attendee(state, room, "users", new, state.display_name(new)):
            system_message(state, room, actor, "user_added", "{actor} added {user}", user=actor_parameter(state, new))
    elif source == "groups":
        if new not in state.groups:
            raise OCSError(404, "", {"error": "new-participant"})
        add_attendee(state, room, "groups", new, new)
        for uid in state.groups[new]:
            if add_attendee(state, room, "users", uid, state.display_name(uid)):
                system_message(
                    state, room, actor, "user_added", "{actor} added {user}", user=actor_parameter(state, uid)
                )
    elif source in ("circles", "teams"):
        circle = state.circles.get(new)
        if circle is None:
            raise OCSError(404, "", {"error": "new-participant"})
        add_attendee(state, room, "circles", new, circle.name)
        for uid in sorted(circle_user_ids(state, circle)):
            if add_attendee(state, room, "users", uid, state.display_name(uid)):
                system_message(
                    state, room, actor, "user_added", "{actor} added {user}", user=actor_parameter(state, uid)
                )
    elif source == "emails":
        if not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", new):
            raise OCSError(400, "", {"error": "new-participant"})
        if room.type == GROUP:  # guests need a link, so Talk turns the conversation public
            room.type = PUBLIC
        actor_id = random_token(64, "0123456789abcdef")
        if not any(a.actor_type == "emails" and a.invited_actor_id == new for a in room.attendees):
            add_attendee(state, room, "emails", actor_id, new, GUEST, invited=new)
            system_message(
                state,
                room,
                actor,
                "guest_added",
                "{actor} invited {guest}",
                guest={"type": "email", "id": actor_id, "name": new},
            )
    elif source == "federated_users":
        if not federation:
            raise OCSError(501, "", {"error": "federation"})
        if not re.match(r"^[^@\s]+@[^@\s]+$", new):
            raise OCSError(400, "", {"error": "cloud-id"})
        if add_attendee(state, room, "federated_users", new, new, invited=new):
            system_message(
                state,
                room,
                actor,
                "federated_user_added",
                "{actor} invited {federated_user}",
                federated_user={
                    "type": "user",
                    "id": new.rsplit("@", 1)[0],
                    "name": new,
                    "server": new.rsplit("@", 1)[1],
                },
            )
    else:
        raise OCSError(400, "", {"error": "source"})


def parse_mentions(state: ServerState, text: str) -> tuple[str, dict[str, Any]]:
    """Turn ``@uid`` / ``@"uid"`` of known users into ``{mention-userN}`` rich parameters."""
    parameters: dict[str, Any] = {}

    def replace(match: re.Match[str]) -> str:
        uid = match.group(1) or match.group(2)
        if uid not in state.users:
            return match.group(0)
        key = next((k for k, v in parameters.items() if v["id"] == uid), None)
        if key is None:
            key = f"mention-user{len(parameters) + 1}"
            parameters[key] = {"type": "user", "id": uid, "name": state.display_name(uid), "mention-id": uid}
        return "{" + key + "}"

    return _MENTION.sub(replace, text), parameters


def post_file_share_message(state: ServerState, uid: str, share: Share, reference_id: str) -> None:
    """The ``{file}`` chat message Talk posts when a file is shared into a conversation."""
    room = state.rooms[share.share_with or ""]
    node = share.node
    add_message(
        state,
        room,
        uid,
        "{file}",
        reference_id=reference_id[:64],
        parameters={
            "actor": actor_parameter(state, uid),
            "file": {
                "type": "file",
                "id": str(node.fileid),
                "name": node.name,
                "size": str(node.size),
                "path": node.rel_path(),
                "link": f"/index.php/f/{node.fileid}",
                "mimetype": "httpd/unix-directory" if node.is_dir else node.content_type,
                "preview-available": "no",
                "mtime": str(node.mtime),
            },
        },
    )


# --------------------------------------------------------------------------------------------
# Conversations and participants
# --------------------------------------------------------------------------------------------


async def list_rooms(ctx: Ctx) -> Response:
    """``GET api/v4/room``: the user's conversations."""
    uid = ctx.require_user()
    ctx.require_ocs_header()
    with ctx.state.lock:
        rooms = [r for r in ctx.state.rooms.values() if attendee_for(r, uid)]
        return ocs_response(
            ctx.request,
            [format_room(ctx.state, r, uid) for r in rooms],
            headers={"X-Nextcloud-Talk-Hash": "0a1b2c3d4e5f", "X-Nextcloud-Talk-Modified-Before": str(ctx.state.now())},
        )


async def create_room(ctx: Ctx) -> Response:
    """``POST api/v4/room``: roomType 1 (with invite), 2 or 3; 201 created, 200 existing one-to-one."""
    uid = ctx.require_user()
    ctx.require_ocs_header()
    state = ctx.state
    room_type = ctx.int_param("roomType", 0)
    invite = str(ctx.param("invite", "") or "")
    source = str(ctx.param("source", "") or "")
    name = str(ctx.param("roomName", "") or "").strip()
    with state.lock:
        if room_type == ONE_TO_ONE:
            if invite not in state.users or invite == uid:
                raise OCSError(404, "", {"error": "invite"})
            for room in state.rooms.values():
                if room.type == ONE_TO_ONE and {a.actor_id for a in room.attendees} == {uid, invite}:
                    return ocs_response(ctx.request, format_room(state, room, uid), 200)
            name = invite
        elif room_type in (GROUP, PUBLIC):
            if invite and source == "groups" and invite in state.groups:
                name = name or invite
            elif invite and source == "circles" and invite in state.circles:
                name = name or state.circles[invite].name
            elif invite:
                raise OCSError(404, "", {"error": "invite"})
            if not name or len(name) > MAX_NAME_LENGTH:
                raise OCSError(400, "", {"error": "name"})
        else:
            raise OCSError(400, "", {"error": "type"})
        description = str(ctx.param("description", "") or "")
        if len(description) > ctx.server.release.description_length:
            raise OCSError(400, "", {"error": "description"})
        token = random_token(8)
        while token in state.rooms:
            token = random_token(8)
        room = Room(
            id=state.next_room_id(),
            token=token,
            type=room_type,
            name=name,
            created=state.now(),
            description=description,
        )
        state.rooms[token] = room
        add_attendee(state, room, "users", uid, state.display_name(uid), OWNER)
        system_message(state, room, uid, "conversation_created", "{actor} created the conversation")
        if room_type == ONE_TO_ONE:
            add_attendee(state, room, "users", invite, state.display_name(invite), OWNER)
        elif invite:
            add_participant(state, room, uid, source, invite, federation=ctx.server.federation)
        return ocs_response(ctx.request, format_room(state, room, uid), 201)


async def get_room(ctx: Ctx) -> Response:
    """``GET api/v4/room/{token}``."""
    uid = ctx.require_user()
    ctx.require_ocs_header()
    with ctx.state.lock:
        room, _ = _room_or_404(ctx, uid, allow_public=True)
        return ocs_response(
            ctx.request, format_room(ctx.state, room, uid), headers={"X-Nextcloud-Talk-Hash": "0a1b2c3d4e5f"}
        )


async def rename_room(ctx: Ctx) -> Response:
    """``PUT api/v4/room/{token}`` with ``roomName`` (moderators)."""
    uid = ctx.require_user()
    ctx.require_ocs_header()
    with ctx.state.lock:
        room, attendee = _room_or_404(ctx, uid)
        if not is_moderator(attendee):
            raise OCSError(403)
        name = str(ctx.param("roomName", "") or "").strip()
        if not name or len(name) > MAX_NAME_LENGTH or room.type == ONE_TO_ONE:
            raise OCSError(400, "", {"error": "name"})
        room.name = name
        system_message(ctx.state, room, uid, "conversation_renamed", "{actor} renamed the conversation")
        return ocs_response(ctx.request, [])


async def set_description(ctx: Ctx) -> Response:
    """``PUT api/v4/room/{token}/description``."""
    uid = ctx.require_user()
    ctx.require_ocs_header()
    with ctx.state.lock:
        room, attendee = _room_or_404(ctx, uid)
        if not is_moderator(attendee):
            raise OCSError(403)
        if room.type == ONE_TO_ONE:
            raise OCSError(400, "", {"error": "type"})
        description = str(ctx.param("description", "") or "")
        if len(description) > ctx.server.release.description_length:  # characters, not bytes
            raise OCSError(400, "", {"error": "description"})
        room.description = description
        system_message(ctx.state, room, uid, "description_set", "{actor} set the description")
        return ocs_response(ctx.request, [])


async def delete_room(ctx: Ctx) -> Response:
    """``DELETE api/v4/room/{token}`` (moderators)."""
    uid = ctx.require_user()
    ctx.require_ocs_header()
    with ctx.state.lock:
        room, attendee = _room_or_404(ctx, uid)
        if not is_moderator(attendee) or room.type == ONE_TO_ONE:
            raise OCSError(403)
        del ctx.state.rooms[room.token]
        return ocs_response(ctx.request, [])


async def set_favorite(ctx: Ctx) -> Response:
    """``POST|DELETE api/v4/room/{token}/favorite``."""
    uid = ctx.require_user()
    ctx.require_ocs_header()
    with ctx.state.lock:
        _, attendee = _room_or_404(ctx, uid)
        assert attendee is not None
        attendee.favorite = ctx.method == "POST"
        return ocs_response(ctx.request, [])


async def set_read_only(ctx: Ctx) -> Response:
    """``PUT api/v4/room/{token}/read-only`` with ``state`` 0/1."""
    uid = ctx.require_user()
    ctx.require_ocs_header()
    with ctx.state.lock:
        room, attendee = _room_or_404(ctx, uid)
        if not is_moderator(attendee):
            raise OCSError(403)
        room.read_only = 1 if ctx.int_param("state", 0) else 0
        system_message(
            ctx.state,
            room,
            uid,
            "read_only" if room.read_only else "read_only_off",
            "{actor} locked the conversation" if room.read_only else "{actor} unlocked the conversation",
        )
        return ocs_response(ctx.request, [])


async def set_public(ctx: Ctx) -> Response:
    """``POST|DELETE api/v4/room/{token}/public``: allow or disallow guests."""
    uid = ctx.require_user()
    ctx.require_ocs_header()
    with ctx.state.lock:
        room, attendee = _room_or_404(ctx, uid)
        if not is_moderator(attendee) or room.type == ONE_TO_ONE:
            raise OCSError(400 if room.type == ONE_TO_ONE else 403)
        room.type = PUBLIC if ctx.method == "POST" else GROUP
        return ocs_response(ctx.request, [])


async def list_participants(ctx: Ctx) -> Response:
    """``GET api/v4/room/{token}/participants``."""
    uid = ctx.require_user()
    ctx.require_ocs_header()
    with ctx.state.lock:
        room, _ = _room_or_404(ctx, uid)
        return ocs_response(
            ctx.request,
            [format_participant(room, a) for a in room.attendees],
            headers={"X-Nextcloud-Has-User-Statuses": "false"},
        )


async def post_participant(ctx: Ctx) -> Response:
    """``POST api/v4/room/{token}/participants`` with ``newParticipant`` and ``source``."""
    uid = ctx.require_user()
    ctx.require_ocs_header()
    with ctx.state.lock:
        room, attendee = _room_or_404(ctx, uid)
        if not is_moderator(attendee):
            raise OCSError(403)
        if room.type == ONE_TO_ONE:
            raise OCSError(400, "", {"error": "room-type"})
        new = str(ctx.param("newParticipant", "") or "").strip()
        if not new:
            raise OCSError(400, "", {"error": "new-participant"})
        before = room.type
        source = str(ctx.param("source", "users") or "users")
        add_participant(ctx.state, room, uid, source, new, federation=ctx.server.federation)
        return ocs_response(ctx.request, {"type": room.type} if room.type != before else {})


async def leave_room(ctx: Ctx) -> Response:
    """``DELETE api/v4/room/{token}/participants/self``."""
    uid = ctx.require_user()
    ctx.require_ocs_header()
    with ctx.state.lock:
        room, attendee = _room_or_404(ctx, uid)
        assert attendee is not None
        moderators = [a for a in room.attendees if is_moderator(a) and a.actor_type == "users"]
        if room.type != ONE_TO_ONE and moderators == [attendee] and len(room.attendees) > 1:
            raise OCSError(400, "", {"error": "last-moderator"})
        room.attendees.remove(attendee)
        system_message(ctx.state, room, uid, "user_removed", "{actor} left the conversation")
        return ocs_response(ctx.request, [])


async def remove_attendee(ctx: Ctx) -> Response:
    """``DELETE api/v4/room/{token}/attendees`` with ``attendeeId`` (moderators)."""
    uid = ctx.require_user()
    ctx.require_ocs_header()
    with ctx.state.lock:
        room, attendee = _room_or_404(ctx, uid)
        if not is_moderator(attendee):
            raise OCSError(403)
        target = next((a for a in room.attendees if a.attendee_id == ctx.int_param("attendeeId", -1)), None)
        if target is None:
            raise OCSError(404)
        room.attendees.remove(target)
        return ocs_response(ctx.request, [])


# --------------------------------------------------------------------------------------------
# Chat
# --------------------------------------------------------------------------------------------


def checked_message(ctx: Ctx, room: Room, text: str) -> int | None:
    """What Talk checks of any new message: not empty (400), at most 32,000 characters (413), and a
    ``replyTo`` that is a comment of this conversation (400). Returns the parent's id."""
    if not text.strip():
        raise OCSError(400, "", {"error": "message"})
    if len(text) > MAX_MESSAGE_LENGTH:
        raise OCSError(413, "", {"error": "message"})
    reply_to = ctx.int_param("replyTo", 0)
    if not reply_to:
        return None
    parent = next((m for m in room.messages if m.id == reply_to), None)
    if parent is None or parent.message_type != "comment":
        raise OCSError(400, "", {"error": "reply-to"})
    return parent.id


async def send_message(ctx: Ctx) -> Response:
    """``POST api/v1/chat/{token}``: message, replyTo, referenceId, silent; 201 with the message."""
    uid = ctx.require_user()
    ctx.require_ocs_header()
    state = ctx.state
    with state.lock:
        room, attendee = _room_or_404(ctx, uid)
        if room.read_only:
            raise OCSError(403, "", {"error": "read-only"})
        text = str(ctx.param("message", "") or "")
        parent_id = checked_message(ctx, room, text)
        reference_id = str(ctx.param("referenceId", "") or "").strip()[:MAX_REFERENCE_ID]
        rendered, parameters = parse_mentions(state, text)
        message = add_message(
            state,
            room,
            uid,
            rendered,
            parameters=parameters,
            reference_id=reference_id,
            parent_id=parent_id,
            silent=ctx.bool_param("silent"),
        )
        assert attendee is not None
        attendee.last_read_message = message.id
        deliver_to_bots(ctx, room, message)
        return ocs_response(
            ctx.request,
            format_message(state, message),
            201,
            headers={"X-Chat-Last-Common-Read": str(_common_read(room))},
        )


def _common_read(room: Room) -> int:
    readers = [a.last_read_message for a in room.attendees if a.actor_type == "users"]
    return min(readers) if readers else 0


def _select_messages(
    room: Room, look_into_future: bool, last_known: int, limit: int, include_last: bool
) -> list[ChatMessage]:
    if look_into_future:
        selected = [m for m in room.messages if m.id > last_known or (include_last and m.id == last_known)]
        return selected[:limit]
    newest_first = [
        m
        for m in reversed(room.messages)
        if last_known == 0 or m.id < last_known or (include_last and m.id == last_known)
    ]
    return newest_first[:limit]


async def receive_messages(ctx: Ctx) -> Response:
    """``GET api/v1/chat/{token}``: history or long-poll; 304 with no body when nothing new."""
    uid = ctx.require_user()
    ctx.require_ocs_header()
    look_into_future = ctx.int_param("lookIntoFuture", 0) == 1
    limit = min(max(ctx.int_param("limit", 100), 1), 200)
    last_known = max(ctx.int_param("lastKnownMessageId", 0), 0)
    timeout = min(max(ctx.int_param("timeout", 30), 0), MAX_TIMEOUT)
    include_last = ctx.int_param("includeLastKnown", 0) == 1
    set_read_marker = ctx.int_param("setReadMarker", 1) == 1
    deadline = time.monotonic() + timeout
    server = ctx.server
    waiting = False
    try:
        while True:
            with ctx.state.lock:
                room, attendee = _room_or_404(ctx, uid)
                messages = _select_messages(room, look_into_future, last_known, limit, include_last)
                if messages:
                    if look_into_future and set_read_marker and attendee is not None:
                        attendee.last_read_message = max(attendee.last_read_message, messages[-1].id)
                    headers = {
                        "X-Chat-Last-Given": str(messages[-1].id),
                        "X-Chat-Last-Common-Read": str(_common_read(room)),
                    }
                    return ocs_response(ctx.request, [format_message(ctx.state, m) for m in messages], headers=headers)
            if not look_into_future or time.monotonic() >= deadline or server.stopping.is_set():
                return Response(status_code=304, headers={"X-Chat-Last-Common-Read": str(_common_read(room))})
            if not waiting:  # this request now holds a PHP worker while it waits
                waiting = True
                server.long_polls += 1
                server.most_long_polls = max(server.most_long_polls, server.long_polls)
            await asyncio.sleep(0.05)
    finally:
        if waiting:
            server.long_polls -= 1


# --------------------------------------------------------------------------------------------
# Polls
# --------------------------------------------------------------------------------------------


def format_poll(state: ServerState, room: Room, poll: Poll, uid: str) -> dict[str, Any]:
    """``Poll`` with Talk's visibility rules for votes, voters and details."""
    attendee = attendee_for(room, uid)
    counts: dict[str, int] = {}
    for option_ids in poll.votes.values():
        for option in option_ids:
            counts[f"option-{option}"] = counts.get(f"option-{option}", 0) + 1
    voted_self = poll.votes.get(uid, [])
    data: dict[str, Any] = {
        "id": poll.id,
        "question": poll.question,
        "options": poll.options,
        "votes": dict(sorted(counts.items())) or [],  # PHP: an empty array is []
        "numVoters": len([v for v in poll.votes.values() if v]),
        "actorType": poll.actor_type,
        "actorId": poll.actor_id,
        "actorDisplayName": poll.actor_display_name,
        "status": poll.status,
        "resultMode": poll.result_mode,
        "maxVotes": poll.max_votes,
    }
    can_see_summary = bool(voted_self) and poll.result_mode == 0
    if not can_see_summary and poll.status == 0:
        data["votes"] = []
        if not (is_moderator(attendee) or poll.actor_id == uid):
            data["numVoters"] = 0
    elif poll.result_mode == 0 and poll.status == 1:
        data["details"] = [
            {"actorType": "users", "actorId": voter, "actorDisplayName": state.display_name(voter), "optionId": option}
            for voter, options in poll.votes.items()
            for option in options
        ]
    data["votedSelf"] = voted_self
    return data


def _poll_or_404(ctx: Ctx, room: Room) -> Poll:
    try:
        return room.polls[int(ctx.match["poll"])]
    except (KeyError, ValueError):
        raise OCSError(404, "", {"error": "poll"}) from None


async def create_poll(ctx: Ctx) -> Response:
    """``POST api/v1/poll/{token}``: question, options, resultMode, maxVotes; 201 with the poll."""
    uid = ctx.require_user()
    ctx.require_ocs_header()
    state = ctx.state
    with state.lock:
        room, _ = _room_or_404(ctx, uid)
        if room.type == ONE_TO_ONE:
            raise OCSError(400, "", {"error": "room"})
        if room.read_only:
            raise OCSError(403, "", {"error": "room"})
        question = str(ctx.param("question", "") or "").strip()
        options = ctx.param("options", [])
        if not question or len(question) > 32000:
            raise OCSError(400, "", {"error": "question"})
        if (
            not isinstance(options, list)
            or len(options) < 2
            or not all(isinstance(o, str) and o.strip() for o in options)
        ):
            raise OCSError(400, "", {"error": "options"})
        result_mode = ctx.int_param("resultMode", 0)
        max_votes = ctx.int_param("maxVotes", 0)
        if result_mode not in (0, 1) or max_votes < 0:
            raise OCSError(400, "", {"error": "poll"})
        poll = Poll(
            id=state.next_poll_id(),
            token=room.token,
            question=question,
            options=[o.strip() for o in options],
            result_mode=result_mode,
            max_votes=max_votes,
            actor_type="users",
            actor_id=uid,
            actor_display_name=state.display_name(uid),
        )
        room.polls[poll.id] = poll
        add_message(
            state,
            room,
            uid,
            "{object}",
            parameters={
                "actor": actor_parameter(state, uid),
                "object": {"type": "talk-poll", "id": str(poll.id), "name": question},
            },
        )
        return ocs_response(ctx.request, format_poll(state, room, poll, uid), 201)


async def get_poll(ctx: Ctx) -> Response:
    """``GET api/v1/poll/{token}/{pollId}``."""
    uid = ctx.require_user()
    ctx.require_ocs_header()
    with ctx.state.lock:
        room, _ = _room_or_404(ctx, uid)
        return ocs_response(ctx.request, format_poll(ctx.state, room, _poll_or_404(ctx, room), uid))


async def vote_poll(ctx: Ctx) -> Response:
    """``POST api/v1/poll/{token}/{pollId}`` with ``optionIds`` (replaces earlier votes)."""
    uid = ctx.require_user()
    ctx.require_ocs_header()
    state = ctx.state
    with state.lock:
        room, _ = _room_or_404(ctx, uid)
        poll = _poll_or_404(ctx, room)
        if poll.status != 0:
            raise OCSError(400, "", {"error": "poll"})
        raw = ctx.param("optionIds", [])
        try:
            option_ids = sorted({int(o) for o in (raw if isinstance(raw, list) else [raw])})
        except (TypeError, ValueError):
            raise OCSError(400, "", {"error": "options"}) from None
        if any(o < 0 or o >= len(poll.options) for o in option_ids) or (
            poll.max_votes and len(option_ids) > poll.max_votes
        ):
            raise OCSError(400, "", {"error": "options"})
        poll.votes[uid] = option_ids
        if option_ids and poll.result_mode == 0:  # anonymous: "Someone voted" (poll.feature:160-161)
            voted = add_message(
                state,
                room,
                uid,
                "Someone voted on the poll {poll}",
                message_type="system",
                system_message="poll_voted",
                parameters={"poll": {"type": "talk-poll", "id": str(poll.id), "name": poll.question}},
            )
            voted.actor_type, voted.actor_id, voted.actor_display_name = "guests", "system", ""
        return ocs_response(ctx.request, format_poll(state, room, poll, uid))


async def close_poll(ctx: Ctx) -> Response:
    """``DELETE api/v1/poll/{token}/{pollId}``: the author or a moderator closes it."""
    uid = ctx.require_user()
    ctx.require_ocs_header()
    state = ctx.state
    with state.lock:
        room, attendee = _room_or_404(ctx, uid)
        poll = _poll_or_404(ctx, room)
        if poll.actor_id != uid and not is_moderator(attendee):
            raise OCSError(403, "", {"error": "poll"})
        if poll.status != 0:
            raise OCSError(400, "", {"error": "poll"})
        poll.status = 1
        system_message(
            state,
            room,
            uid,
            "poll_closed",
            "{actor} ended the poll {poll}",
            poll={"type": "talk-poll", "id": str(poll.id), "name": poll.question},
        )
        return ocs_response(ctx.request, format_poll(state, room, poll, uid))


# --------------------------------------------------------------------------------------------
# Bots (chat-2/bots.feature, docs/bots.md)
# --------------------------------------------------------------------------------------------


def bot_actor_id(bot: Bot) -> str:
    """Talk names a bot ``bot-`` plus the SHA-1 of its URL."""
    return "bot-" + hashlib.sha1(bot.url.encode(), usedforsecurity=False).hexdigest()


def webhook_body(state: ServerState, room: Room, message: ChatMessage) -> bytes:
    """The ActivityStreams 2.0 ``Create`` Talk posts to a bot's webhook."""
    content = json.dumps({"message": message.message, "parameters": message.message_parameters or []})
    return json.dumps(
        {
            "type": "Create",
            "actor": {"type": "Person", "id": f"{message.actor_type}/{message.actor_id}", "name": message.actor_display_name},
            "object": {
                "type": "Note",
                "id": str(message.id),
                "name": "message",
                "content": content,
                "mediaType": "text/markdown",
            },
            "target": {"type": "Collection", "id": room.token, "name": room.name},
        }
    ).encode()


def deliver_to_bots(ctx: Ctx, room: Room, message: ChatMessage) -> None:
    """Post the message to every webhook bot enabled in the room (signed, in the background)."""
    for bot_id in sorted(room.bots):
        bot = ctx.state.bots.get(bot_id)
        if bot is None or not bot.features & BOT_WEBHOOK:
            continue
        body = webhook_body(ctx.state, room, message)
        random = secrets.token_hex(32)
        headers = {
            "Content-Type": "application/json",
            "X-Nextcloud-Talk-Random": random,
            "X-Nextcloud-Talk-Signature": hmac.new(bot.secret.encode(), random.encode() + body, "sha256").hexdigest(),
            "X-Nextcloud-Talk-Backend": ctx.server.base_url + "/",
        }
        task = asyncio.get_running_loop().create_task(_post_webhook(bot.url, body, headers))
        ctx.server.deliveries.add(task)
        task.add_done_callback(ctx.server.deliveries.discard)


async def _post_webhook(url: str, body: bytes, headers: dict[str, str]) -> None:
    try:
        async with httpx.AsyncClient(timeout=5, trust_env=False) as client:  # Talk waits at most 5 seconds
            await client.post(url, content=body, headers=headers)
    except httpx.HTTPError:
        pass  # Talk logs and drops a failed delivery


def _verified_bot(ctx: Ctx, room: Room | None, signed: str) -> Bot:
    random = ctx.header("x-nextcloud-talk-bot-random")
    signature = ctx.header("x-nextcloud-talk-bot-signature").lower()
    for bot in ctx.state.bots.values():
        expected = hmac.new(bot.secret.encode(), (random + signed).encode(), "sha256").hexdigest()
        if random and hmac.compare_digest(expected, signature):
            if room is not None and bot.id in room.bots and bot.features & BOT_RESPONSE:
                return bot
    raise OCSError(401)


async def bot_message(ctx: Ctx) -> Response:
    """``POST api/v1/bot/{token}/message``: a signed message from a bot with the response feature."""
    state = ctx.state
    with state.lock:
        room = state.rooms.get(ctx.match["token"])
        text = str(ctx.param("message", "") or "")
        bot = _verified_bot(ctx, room, text)
        assert room is not None
        parent_id = checked_message(ctx, room, text)
        message = add_message(
            state,
            room,
            "",
            text,
            reference_id=str(ctx.param("referenceId", "") or "")[:MAX_REFERENCE_ID],
            parent_id=parent_id,
            silent=ctx.bool_param("silent"),
        )
        message.actor_type, message.actor_id, message.actor_display_name = "bots", bot_actor_id(bot), f"{bot.name} (Bot)"
        return ocs_response(ctx.request, [], 201)


async def list_room_bots(ctx: Ctx) -> Response:
    """``GET api/v1/bot/{token}``: the bots a moderator may enable here."""
    uid = ctx.require_user()
    ctx.require_ocs_header()
    with ctx.state.lock:
        room, attendee = _room_or_404(ctx, uid)
        if not is_moderator(attendee):
            raise OCSError(403)
        return ocs_response(
            ctx.request,
            [
                {"id": b.id, "name": b.name, "description": None, "state": int(b.id in room.bots)}
                for b in ctx.state.bots.values()
            ],
        )


async def toggle_room_bot(ctx: Ctx) -> Response:
    """``POST|DELETE api/v1/bot/{token}/{botId}``: a moderator enables or disables a bot."""
    uid = ctx.require_user()
    ctx.require_ocs_header()
    with ctx.state.lock:
        room, attendee = _room_or_404(ctx, uid)
        if not is_moderator(attendee):
            raise OCSError(403)
        bot = ctx.state.bots.get(int(ctx.match["bot"]))
        if bot is None:
            raise OCSError(400, "", {"error": "bot"})
        if ctx.method == "POST":
            room.bots.add(bot.id)
        else:
            room.bots.discard(bot.id)
        return ocs_response(
            ctx.request, {"id": bot.id, "name": bot.name, "description": None, "state": int(bot.id in room.bots)}
        )


_ROOM = r"^/ocs/v[12]\.php/apps/spreed/api/v4/room"
_TOKEN = r"/(?P<token>[a-z0-9]{4,30})"
_V1 = r"^/ocs/v[12]\.php/apps/spreed/api/v1"
ROUTES: list[Route] = [
    Route(("GET",), _ROOM + r"$", list_rooms),
    Route(("POST",), _ROOM + r"$", create_room),
    Route(("GET",), _ROOM + _TOKEN + r"$", get_room),
    Route(("PUT",), _ROOM + _TOKEN + r"$", rename_room),
    Route(("DELETE",), _ROOM + _TOKEN + r"$", delete_room),
    Route(("PUT",), _ROOM + _TOKEN + r"/description$", set_description),
    Route(("POST", "DELETE"), _ROOM + _TOKEN + r"/favorite$", set_favorite),
    Route(("PUT",), _ROOM + _TOKEN + r"/read-only$", set_read_only),
    Route(("POST", "DELETE"), _ROOM + _TOKEN + r"/public$", set_public),
    Route(("GET",), _ROOM + _TOKEN + r"/participants$", list_participants),
    Route(("POST",), _ROOM + _TOKEN + r"/participants$", post_participant),
    Route(("DELETE",), _ROOM + _TOKEN + r"/participants/self$", leave_room),
    Route(("DELETE",), _ROOM + _TOKEN + r"/attendees$", remove_attendee),
    Route(("POST",), _V1 + r"/chat" + _TOKEN + r"$", send_message),
    Route(("GET",), _V1 + r"/chat" + _TOKEN + r"$", receive_messages),
    Route(("POST",), _V1 + r"/poll" + _TOKEN + r"$", create_poll),
    Route(("GET",), _V1 + r"/poll" + _TOKEN + r"/(?P<poll>\d+)$", get_poll),
    Route(("POST",), _V1 + r"/poll" + _TOKEN + r"/(?P<poll>\d+)$", vote_poll),
    Route(("DELETE",), _V1 + r"/poll" + _TOKEN + r"/(?P<poll>\d+)$", close_poll),
    Route(("POST",), _V1 + r"/bot" + _TOKEN + r"/message$", bot_message),
    Route(("GET",), _V1 + r"/bot" + _TOKEN + r"$", list_room_bots),
    Route(("POST", "DELETE"), _V1 + r"/bot" + _TOKEN + r"/(?P<bot>\d+)$", toggle_room_bot),
]
