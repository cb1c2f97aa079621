"""Teams (the Circles app) OCS API under ``/ocs/v2.php/apps/circles``.

Answers are shaped like Circles' ``Circle`` and ``Member`` serialisations, as nc-py-api's
``teams`` module reads them.  Member types: USER 1, GROUP 2, MAIL 4, CONTACT 8, CIRCLE 16;
levels: MEMBER 1, MODERATOR 4, ADMIN 8, OWNER 9.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from starlette.responses import Response

from .common import Ctx, OCSError, ocs_response
from .routing import Route
from .state import Circle, CircleMember, ServerState, random_token

TYPE_USER, TYPE_GROUP, TYPE_MAIL, TYPE_CONTACT, TYPE_CIRCLE = 1, 2, 4, 8, 16
LEVEL_MEMBER, LEVEL_MODERATOR, LEVEL_ADMIN, LEVEL_OWNER = 1, 4, 8, 9
CFG_PERSONAL, CFG_INVITE, CFG_LOCAL = 2, 32, 4096
NAME_COLUMN = 127  # circles_circle.name is VARCHAR(127); display_name 255 (Version0022Date20220526113601)
SOURCE_CIRCLE = 16
_ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def circle_user_ids(state: ServerState, circle: Circle, _seen: set[str] | None = None) -> set[str]:
    """Every Nextcloud user in a circle, through groups and nested circles."""
    seen = _seen if _seen is not None else set()
    if circle.id in seen:
        return set()
    seen.add(circle.id)
    users: set[str] = set()
    for member in circle.members:
        if member.status != "Member":
            continue
        if member.user_type == TYPE_USER:
            users.add(member.user_id)
        elif member.user_type == TYPE_GROUP:
            users.update(state.groups.get(member.user_id, []))
        elif member.user_type == TYPE_CIRCLE and member.user_id in state.circles:
            users |= circle_user_ids(state, state.circles[member.user_id], seen)
    return users


def member_of(circle: Circle, uid: str) -> CircleMember | None:
    """The direct USER membership of ``uid``, if any."""
    return next((m for m in circle.members if m.user_type == TYPE_USER and m.user_id == uid), None)


def _joined(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S")


def format_member(member: CircleMember) -> dict[str, Any]:
    """A member as Circles serialises it."""
    return {
        "id": member.id,
        "circleId": member.circle_id,
        "singleId": member.single_id,
        "userId": member.user_id,
        "userType": member.user_type,
        "instance": "",
        "local": True,
        "level": member.level,
        "status": member.status,
        "note": [],
        "displayName": member.display_name,
        "displayUpdate": 0,
        "contactId": "",
        "contactMeta": "",
        "joined": _joined(member.joined),
    }


def format_circle(state: ServerState, circle: Circle, viewer: str) -> dict[str, Any]:
    """A circle as Circles serialises it, with ``owner`` and the viewer's ``initiator``."""
    owner = next((m for m in circle.members if m.level == LEVEL_OWNER), None)
    initiator = member_of(circle, viewer)
    data: dict[str, Any] = {
        "id": circle.id,
        "name": circle.name,
        "displayName": circle.display_name or circle.name,
        "sanitizedName": re.sub(r"[^a-zA-Z0-9 _.-]", "", circle.name) or circle.id,
        "source": SOURCE_CIRCLE,
        "population": len([m for m in circle.members if m.status == "Member"]),
        "populationInherited": len(circle_user_ids(state, circle)),
        "config": circle.config,
        "description": circle.description,
        "url": f"/index.php/apps/contacts/direct/circle/{circle.id}",
        "creation": circle.creation,
        "instance": "",
        "settings": {},
    }
    if owner is not None:
        data["owner"] = format_member(owner)
    if initiator is not None:
        data["initiator"] = format_member(initiator)
    return data


def _circle_for(ctx: Ctx, uid: str, *, level: int = LEVEL_MEMBER) -> Circle:
    """The circle in the URL, visible to ``uid`` with at least ``level``; 404/403 otherwise."""
    circle = ctx.state.circles.get(ctx.match["circle"])
    if circle is None:
        raise OCSError(404, "Circle not found")
    member = member_of(circle, uid)
    if uid not in circle_user_ids(ctx.state, circle) and member is None:
        raise OCSError(404, "Circle not found")
    if level > LEVEL_MEMBER and (member is None or member.level < level):
        raise OCSError(403, "Insufficient rights")
    return circle


def _new_member(state: ServerState, circle: Circle, user_id: str, user_type: int) -> CircleMember:
    """Validate a would-be member and build it (not yet added)."""
    if user_type == TYPE_USER:
        if user_id not in state.users:
            raise OCSError(404, f"user {user_id} not found")
        display = state.display_name(user_id)
    elif user_type == TYPE_GROUP:
        if user_id not in state.groups:
            raise OCSError(404, f"group {user_id} not found")
        display = user_id
    elif user_type == TYPE_MAIL:
        if "@" not in user_id:
            raise OCSError(400, "invalid email address")
        display = user_id
    elif user_type == TYPE_CIRCLE:
        if user_id not in state.circles:
            raise OCSError(404, "Circle not found")
        display = state.circles[user_id].name
    elif user_type == TYPE_CONTACT:
        display = user_id
    else:
        raise OCSError(400, "Unknown member type")
    if any(m.user_id == user_id and m.user_type == user_type for m in circle.members):
        raise OCSError(400, "Member is already in the circle")
    status = "Invited" if circle.config & CFG_INVITE and user_type == TYPE_USER else "Member"
    return CircleMember(
        id=random_token(15, _ALNUM),
        circle_id=circle.id,
        single_id=random_token(31, _ALNUM),
        user_id=user_id,
        user_type=user_type,
        display_name=display,
        level=LEVEL_MEMBER,
        status=status,
        joined=state.now(),
    )


async def list_circles(ctx: Ctx) -> Response:
    """``GET /circles``: the teams the user belongs to."""
    uid = ctx.require_user()
    ctx.require_ocs_header()
    with ctx.state.lock:
        circles = [c for c in ctx.state.circles.values() if uid in circle_user_ids(ctx.state, c) or member_of(c, uid)]
        return ocs_response(ctx.request, [format_circle(ctx.state, c, uid) for c in circles])


async def create_circle(ctx: Ctx) -> Response:
    """``POST /circles`` with ``name`` and optional ``personal`` / ``local``."""
    uid = ctx.require_user()
    ctx.require_ocs_header()
    name = " ".join(str(ctx.param("name", "") or "").split())  # CircleService::cleanCircleName
    if len(name.encode()) < 3:
        raise OCSError(400, "Circle name is too short")
    if len(name) > NAME_COLUMN:  # no check in Circles: the database refuses the row
        raise OCSError(
            999,
            "An exception occurred while executing a query: SQLSTATE[22001]: String data, right truncated: "
            "1406 Data too long for column 'name' at row 1",
        )
    config = (CFG_PERSONAL if ctx.bool_param("personal") else 0) | (CFG_LOCAL if ctx.bool_param("local") else 0)
    with ctx.state.lock:
        taken = {c.display_name or c.name for c in ctx.state.circles.values()}
        display, n = name, 1
        while display in taken:  # CircleService::confirmDisplayName
            n += 1
            display = f"{name} ({n})"
        circle = Circle(
            id=random_token(31, _ALNUM),
            name=name,
            owner=uid,
            config=config,
            creation=ctx.state.now(),
            display_name=display,
        )
        owner = _new_member(ctx.state, circle, uid, TYPE_USER)
        owner.level, owner.status = LEVEL_OWNER, "Member"
        circle.members.append(owner)
        ctx.state.circles[circle.id] = circle
        return ocs_response(ctx.request, format_circle(ctx.state, circle, uid))


async def circle_details(ctx: Ctx) -> Response:
    """``GET /circles/{circleId}``."""
    uid = ctx.require_user()
    ctx.require_ocs_header()
    with ctx.state.lock:
        return ocs_response(ctx.request, format_circle(ctx.state, _circle_for(ctx, uid), uid))


async def destroy_circle(ctx: Ctx) -> Response:
    """``DELETE /circles/{circleId}`` (owner only)."""
    uid = ctx.require_user()
    ctx.require_ocs_header()
    with ctx.state.lock:
        circle = _circle_for(ctx, uid, level=LEVEL_OWNER)
        del ctx.state.circles[circle.id]
        return ocs_response(ctx.request, [])


async def edit_circle(ctx: Ctx) -> Response:
    """``PUT /circles/{circleId}/{name|description|config}`` with ``value``."""
    uid = ctx.require_user()
    ctx.require_ocs_header()
    field = ctx.match["field"]
    with ctx.state.lock:
        circle = _circle_for(ctx, uid, level=LEVEL_ADMIN if field != "config" else LEVEL_OWNER)
        if field == "name":
            circle.name = circle.display_name = str(ctx.param("value", circle.name))
        elif field == "description":
            circle.description = str(ctx.param("value", ""))
        else:
            circle.config = ctx.int_param("value", circle.config)
        return ocs_response(ctx.request, format_circle(ctx.state, circle, uid))


async def list_members(ctx: Ctx) -> Response:
    """``GET /circles/{circleId}/members``."""
    uid = ctx.require_user()
    ctx.require_ocs_header()
    with ctx.state.lock:
        circle = _circle_for(ctx, uid)
        return ocs_response(ctx.request, [format_member(m) for m in circle.members])


async def add_member(ctx: Ctx) -> Response:
    """``POST /circles/{circleId}/members`` with ``userId`` and ``type`` (moderators and up)."""
    uid = ctx.require_user()
    ctx.require_ocs_header()
    with ctx.state.lock:
        circle = _circle_for(ctx, uid, level=LEVEL_MODERATOR)
        member = _new_member(ctx.state, circle, str(ctx.param("userId", "")), ctx.int_param("type", TYPE_USER))
        circle.members.append(member)
        return ocs_response(ctx.request, format_member(member))


async def add_members(ctx: Ctx) -> Response:
    """``POST /circles/{circleId}/members/multi`` with ``members: [{id, type}]``."""
    uid = ctx.require_user()
    ctx.require_ocs_header()
    with ctx.state.lock:
        circle = _circle_for(ctx, uid, level=LEVEL_MODERATOR)
        entries = ctx.param("members", []) or []
        new = [_new_member(ctx.state, circle, str(e.get("id", "")), int(e.get("type", TYPE_USER))) for e in entries]
        circle.members.extend(new)
        return ocs_response(ctx.request, [format_member(m) for m in new])


def _member(circle: Circle, member_id: str) -> CircleMember:
    member = next((m for m in circle.members if m.id == member_id), None)
    if member is None:
        raise OCSError(404, "Member not found")
    return member


async def remove_member(ctx: Ctx) -> Response:
    """``DELETE /circles/{circleId}/members/{memberId}``."""
    uid = ctx.require_user()
    ctx.require_ocs_header()
    with ctx.state.lock:
        circle = _circle_for(ctx, uid, level=LEVEL_MODERATOR)
        member = _member(circle, ctx.match["member"])
        if member.level == LEVEL_OWNER:
            raise OCSError(400, "The owner cannot be removed")
        circle.members.remove(member)
        return ocs_response(ctx.request, [])


async def member_level(ctx: Ctx) -> Response:
    """``PUT /circles/{circleId}/members/{memberId}/level`` with ``level``."""
    uid = ctx.require_user()
    ctx.require_ocs_header()
    with ctx.state.lock:
        circle = _circle_for(ctx, uid, level=LEVEL_ADMIN)
        member = _member(circle, ctx.match["member"])
        level = ctx.int_param("level", member.level)
        if level not in (LEVEL_MEMBER, LEVEL_MODERATOR, LEVEL_ADMIN):
            raise OCSError(400, "Invalid level")
        member.level = level
        return ocs_response(ctx.request, format_member(member))


async def leave_circle(ctx: Ctx) -> Response:
    """``PUT /circles/{circleId}/leave``."""
    uid = ctx.require_user()
    ctx.require_ocs_header()
    with ctx.state.lock:
        circle = _circle_for(ctx, uid)
        member = member_of(circle, uid)
        if member is None or member.level == LEVEL_OWNER:
            raise OCSError(400, "You cannot leave this circle")
        circle.members.remove(member)
        return ocs_response(ctx.request, format_circle(ctx.state, circle, uid))


_BASE = r"^/ocs/v2\.php/apps/circles/circles"
_ID = r"/(?P<circle>[A-Za-z0-9]+)"
ROUTES: list[Route] = [
    Route(("GET",), _BASE + r"$", list_circles),
    Route(("POST",), _BASE + r"$", create_circle),
    Route(("GET",), _BASE + _ID + r"$", circle_details),
    Route(("DELETE",), _BASE + _ID + r"$", destroy_circle),
    Route(("PUT",), _BASE + _ID + r"/(?P<field>name|description|config)$", edit_circle),
    Route(("PUT",), _BASE + _ID + r"/leave$", leave_circle),
    Route(("GET",), _BASE + _ID + r"/members$", list_members),
    Route(("POST",), _BASE + _ID + r"/members$", add_member),
    Route(("POST",), _BASE + _ID + r"/members/multi$", add_members),
    Route(("DELETE",), _BASE + _ID + r"/members/(?P<member>[A-Za-z0-9]+)$", remove_member),
    Route(("PUT",), _BASE + _ID + r"/members/(?P<member>[A-Za-z0-9]+)/level$", member_level),
]
