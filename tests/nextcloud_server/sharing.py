"""files_sharing OCS API: ``/ocs/v{1,2}.php/apps/files_sharing/api/v1/shares``.

Parameters are read from the query string, a form or a JSON body (nc-py-api sends them all in
the query string, the password too).  Share creation is rate limited like Nextcloud's
``#[UserRateLimit(limit: 20, period: 600)]`` on ``createShare``: every attempt by a logged-in
user is counted before the controller runs, and the 21st within 10 minutes gets HTTP 429 with an
empty body (the rate-limit middleware's bare ``DataResponse``).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from starlette.responses import Response

from .common import Ctx, OCSError, ocs_response
from .routing import Route
from .state import Node, ServerState, Share, random_token
from .teams import circle_user_ids

SHARE_RATE_LIMIT = 20
SHARE_RATE_PERIOD = 600

TYPE_USER, TYPE_GROUP, TYPE_LINK, TYPE_EMAIL, TYPE_REMOTE, TYPE_CIRCLE, TYPE_ROOM, TYPE_DECK = 0, 1, 3, 4, 6, 7, 10, 11
PERMISSION_READ, PERMISSION_UPDATE, PERMISSION_CREATE, PERMISSION_DELETE, PERMISSION_SHARE = 1, 2, 4, 8, 16
PERMISSION_ALL = 31

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_FEDERATED = re.compile(r"^[^@\s]+@[^@\s]+$")


def rate_limited(state: ServerState, uid: str) -> bool:
    """Register a share-creation attempt; True when the user is over 20 per 10 minutes."""
    now = state.clock()
    attempts = [t for t in state.share_attempts.get(uid, []) if t > now - SHARE_RATE_PERIOD]
    if len(attempts) >= SHARE_RATE_LIMIT:
        state.share_attempts[uid] = attempts
        return True
    attempts.append(now)
    state.share_attempts[uid] = attempts
    return False


def _node_for_path(state: ServerState, uid: str, path: str) -> Node | None:
    return state.resolve(uid, [p for p in path.strip("/").split("/") if p])


def format_share(ctx: Ctx, share: Share) -> dict[str, Any]:
    """A share as ``ShareAPIController::formatShare`` renders it."""
    state = ctx.state
    node = share.node
    rel = "/" + node.rel_path()
    parent = node.parent
    result: dict[str, Any] = {
        "id": str(share.id),
        "share_type": share.share_type,
        "uid_owner": share.owner,
        "displayname_owner": state.display_name(share.owner),
        "permissions": share.permissions,
        "can_edit": True,
        "can_delete": True,
        "stime": share.stime,
        "parent": None,
        "expiration": share.expiration,
        "token": share.token,
        "uid_file_owner": node.owner,
        "note": share.note,
        "label": share.label,
        "displayname_file_owner": state.display_name(node.owner),
        "path": rel,
        "item_type": "folder" if node.is_dir else "file",
        "item_permissions": PERMISSION_ALL
        if node.is_dir
        else PERMISSION_ALL & ~(PERMISSION_CREATE | PERMISSION_DELETE),
        "is-mount-root": False,
        "mount-type": "",
        "mimetype": "httpd/unix-directory" if node.is_dir else node.content_type,
        "has_preview": False,
        "storage_id": f"home::{node.owner}",
        "storage": 1,
        "item_source": node.fileid,
        "file_source": node.fileid,
        "file_parent": parent.fileid if parent else node.fileid,
        "file_target": rel,
        "item_size": node.size,
        "item_mtime": node.mtime,
        "mail_send": 0,
        "hide_download": share.hide_download,
        "attributes": None,
    }
    if share.share_type == TYPE_USER:
        user = state.users.get(share.share_with or "")
        result["share_with"] = share.share_with
        result["share_with_displayname"] = state.display_name(share.share_with or "")
        result["share_with_displayname_unique"] = user.email if user and user.email else share.share_with
        result["status"] = {}
    elif share.share_type == TYPE_GROUP:
        result["share_with"] = share.share_with
        result["share_with_displayname"] = share.share_with
    elif share.share_type == TYPE_LINK:
        result["share_with_displayname"] = "(Shared link)"
        if share.password:
            result["share_with"] = share.password
            result["password"] = share.password
        result["send_password_by_talk"] = share.send_password_by_talk
        result["url"] = f"{ctx.server.base_url}/index.php/s/{share.token}"
    elif share.share_type == TYPE_EMAIL:
        result["share_with"] = share.share_with
        result["share_with_displayname"] = share.share_with
        result["password"] = share.password or ""
        result["send_password_by_talk"] = share.send_password_by_talk
        result["url"] = f"{ctx.server.base_url}/index.php/s/{share.token}"
    elif share.share_type == TYPE_REMOTE:
        result["share_with"] = share.share_with
        result["share_with_displayname"] = share.share_with_displayname or share.share_with
    elif share.share_type == TYPE_CIRCLE:
        circle = state.circles.get(share.share_with or "")
        result["share_with"] = share.share_with
        result["share_with_displayname"] = circle.name if circle else share.share_with_displayname
        result["share_with_avatar"] = ""
        result["share_with_link"] = f"{ctx.server.base_url}/index.php/apps/contacts/direct/circle/{share.share_with}"
    elif share.share_type == TYPE_ROOM:
        room = state.rooms.get(share.share_with or "")
        result["share_with"] = share.share_with
        result["share_with_displayname"] = room.name if room else share.share_with_displayname
    return result


def _expiration(value: Any) -> str | None:
    """``expireDate`` (YYYY-MM-DD or ISO 8601) → ``YYYY-MM-DD 00:00:00``; 404 when invalid."""
    if value in (None, ""):
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise OCSError(404, "Invalid date. Format must be YYYY-MM-DD") from None
    return parsed.strftime("%Y-%m-%d 00:00:00")


def _recipient_of(state: ServerState, share: Share, uid: str) -> bool:
    if share.share_type == TYPE_USER:
        return share.share_with == uid
    if share.share_type == TYPE_GROUP:
        return uid in state.groups.get(share.share_with or "", [])
    if share.share_type == TYPE_CIRCLE:
        circle = state.circles.get(share.share_with or "")
        return circle is not None and uid in circle_user_ids(state, circle)
    if share.share_type == TYPE_ROOM:
        room = state.rooms.get(share.share_with or "")
        return room is not None and any(a.actor_type == "users" and a.actor_id == uid for a in room.attendees)
    return False


async def create_share(ctx: Ctx) -> Response:
    """``POST .../shares``: path, shareType, shareWith, permissions, password, expireDate, note, label."""
    uid = ctx.require_user()
    ctx.require_ocs_header()
    state = ctx.state
    with state.lock:
        if rate_limited(state, uid):
            return Response(status_code=429, media_type="text/html; charset=UTF-8")
        path = ctx.param("path")
        if not path:
            raise OCSError(404, "Please specify a file or folder path")
        node = _node_for_path(state, uid, str(path))
        if node is None or node.parent is None:
            raise OCSError(404, "Wrong path, file/folder does not exist")
        share_type = ctx.int_param("shareType", -1)
        share_with = ctx.param("shareWith")
        share_with = None if share_with in (None, "") else str(share_with)
        permissions = ctx.int_param("permissions", -1)
        if permissions < 0:
            permissions = PERMISSION_READ if share_type in (TYPE_LINK, TYPE_EMAIL) else PERMISSION_ALL
        if share_type == TYPE_LINK and ctx.bool_param("publicUpload") and node.is_dir:
            permissions = PERMISSION_READ | PERMISSION_UPDATE | PERMISSION_CREATE | PERMISSION_DELETE
        if not node.is_dir:
            permissions &= ~(PERMISSION_CREATE | PERMISSION_DELETE)
        if permissions & (PERMISSION_READ | PERMISSION_CREATE) == 0 or permissions > PERMISSION_ALL:
            raise OCSError(400, "Share must at least have READ or CREATE permissions")
        display: str | None = None
        token: str | None = None
        if share_type == TYPE_USER:
            if share_with is None or share_with not in state.users:
                raise OCSError(404, "Please specify a valid account to share with")
            if share_with == uid:
                raise OCSError(403, f"Sharing {node.name} failed, because you can not share with yourself")
        elif share_type == TYPE_GROUP:
            if share_with is None or share_with not in state.groups:
                raise OCSError(404, "Please specify a valid group")
        elif share_type == TYPE_LINK:
            token = random_token(15, "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789")
            share_with = None
        elif share_type == TYPE_EMAIL:
            if share_with is None or not _EMAIL.match(share_with):
                raise OCSError(400, "Please specify a valid email address")
            token = random_token(15, "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789")
        elif share_type == TYPE_REMOTE:
            if share_with is None or not _FEDERATED.match(share_with):
                raise OCSError(400, "Invalid federated cloud ID")
            host = share_with.rsplit("@", 1)[1]
            if host not in state.federated_servers:  # the remote must answer the share notification
                raise OCSError(
                    403,
                    f"Sharing {node.name} failed, could not find {share_with}, maybe the server is currently "
                    "unreachable or uses a self-signed certificate.",
                )
            display = share_with
            token = random_token(15, "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789")
        elif share_type == TYPE_CIRCLE:
            circle = state.circles.get(share_with or "")
            if circle is None or uid not in circle_user_ids(state, circle):
                raise OCSError(404, "Please specify a valid team")
            display = circle.name
        elif share_type == TYPE_ROOM:
            room = state.rooms.get(share_with or "")
            if room is None or not any(a.actor_type == "users" and a.actor_id == uid for a in room.attendees):
                raise OCSError(404, "Please specify a valid conversation")
            display = room.name
        elif share_type == TYPE_DECK:
            raise OCSError(403, "Deck sharing is not supported by this test server")
        else:
            raise OCSError(400, "Unknown share type")
        if share_type not in (TYPE_LINK, TYPE_EMAIL):
            for existing in state.shares.values():
                if existing.node is node and existing.share_type == share_type and existing.share_with == share_with:
                    raise OCSError(
                        403,
                        f"Sharing {node.name} failed, because this item is already shared with the account "
                        f"{share_with}",
                    )
        share = Share(
            id=state.next_share_id(),
            share_type=share_type,
            owner=uid,
            node=node,
            share_with=share_with,
            share_with_displayname=display,
            permissions=permissions,
            stime=state.now(),
            token=token,
            password=str(ctx.param("password")) if ctx.param("password") else None,
            expiration=_expiration(ctx.param("expireDate")),
            note=str(ctx.param("note", "") or ""),
            label=str(ctx.param("label", "") or ""),
            send_password_by_talk=ctx.bool_param("sendPasswordByTalk"),
        )
        state.shares[share.id] = share
        if share_type == TYPE_ROOM:
            from .talk import post_file_share_message

            post_file_share_message(state, uid, share, str(ctx.param("referenceId", "") or ""))
        return ocs_response(ctx.request, format_share(ctx, share))


async def list_shares(ctx: Ctx) -> Response:
    """``GET .../shares`` with shared_with_me, reshares, subfiles and path."""
    uid = ctx.require_user()
    ctx.require_ocs_header()
    state = ctx.state
    with state.lock:
        shares = list(state.shares.values())
        if ctx.bool_param("shared_with_me"):
            selected = [s for s in shares if s.owner != uid and _recipient_of(state, s, uid)]
        else:
            selected = [s for s in shares if s.owner == uid]
        path = ctx.param("path")
        if path:
            node = _node_for_path(state, uid, str(path))
            if node is None:
                raise OCSError(404, "Wrong path, file/folder does not exist")
            if ctx.bool_param("subfiles"):
                if not node.is_dir:
                    raise OCSError(400, "Not a directory")
                selected = [s for s in selected if s.node.parent is node]
            else:
                selected = [s for s in selected if s.node is node]
        selected.sort(key=lambda s: s.id)
        return ocs_response(ctx.request, [format_share(ctx, s) for s in selected])


def _visible_share(ctx: Ctx, uid: str) -> Share:
    try:
        share = ctx.state.shares[int(ctx.match["id"])]
    except (KeyError, ValueError):
        raise OCSError(404, "Wrong share ID, share does not exist") from None
    if share.owner != uid and not _recipient_of(ctx.state, share, uid):
        raise OCSError(404, "Wrong share ID, share does not exist")
    return share


async def get_share(ctx: Ctx) -> Response:
    """``GET .../shares/{id}`` (one object, as current Nextcloud and its spec answer)."""
    uid = ctx.require_user()
    ctx.require_ocs_header()
    with ctx.state.lock:
        return ocs_response(ctx.request, format_share(ctx, _visible_share(ctx, uid)))


async def update_share(ctx: Ctx) -> Response:
    """``PUT .../shares/{id}``: permissions, password, expireDate, note, label, hideDownload."""
    uid = ctx.require_user()
    ctx.require_ocs_header()
    with ctx.state.lock:
        share = _visible_share(ctx, uid)
        if share.owner != uid:
            raise OCSError(403, "Wrong share ID, share does not exist")
        if ctx.param("permissions") is not None:
            permissions = ctx.int_param("permissions", share.permissions)
            if not share.node.is_dir:
                permissions &= ~(PERMISSION_CREATE | PERMISSION_DELETE)
            share.permissions = permissions
        if ctx.param("password") is not None:
            share.password = str(ctx.param("password")) or None
        if ctx.param("expireDate") is not None:
            share.expiration = _expiration(ctx.param("expireDate"))
        if ctx.param("note") is not None:
            share.note = str(ctx.param("note"))
        if ctx.param("label") is not None:
            share.label = str(ctx.param("label"))
        if ctx.param("hideDownload") is not None:
            share.hide_download = int(ctx.bool_param("hideDownload"))
        return ocs_response(ctx.request, format_share(ctx, share))


async def delete_share(ctx: Ctx) -> Response:
    """``DELETE .../shares/{id}``."""
    uid = ctx.require_user()
    ctx.require_ocs_header()
    with ctx.state.lock:
        share = _visible_share(ctx, uid)
        if share.owner != uid:
            raise OCSError(403, "Could not delete share")
        del ctx.state.shares[share.id]
        return ocs_response(ctx.request, [])


def _sharee_user(state: ServerState, uid: str) -> dict[str, Any]:
    user = state.users[uid]
    return {
        "label": user.display_name,
        "subline": "",
        "icon": "icon-user",
        "shareWithDisplayNameUnique": user.email or uid,
        "status": {"status": "offline", "message": "", "icon": "", "clearAt": None},
        "value": {"shareType": TYPE_USER, "shareWith": uid},
        "count": None,
    }


async def sharees(ctx: Ctx) -> Response:
    """``GET .../sharees?search=``: whom a share could go to; ``exact`` holds the exact matches.

    A user id, login-less: the search matches the id, the display name and the e-mail address. A
    ``user@host`` that is no local user is offered as a remote (federated) sharee.
    """
    uid = ctx.require_user()
    ctx.require_ocs_header()
    state = ctx.state
    search = str(ctx.param("search", "") or "").strip()
    wanted = ctx.param("shareType")
    types = {int(t) for t in (wanted if isinstance(wanted, list) else [wanted])} if wanted not in (None, "") else None
    lowered = search.lower()
    with state.lock:
        exact_users = [
            _sharee_user(state, u)
            for u, user in sorted(state.users.items())
            if u != uid and lowered in (u.lower(), user.display_name.lower(), (user.email or "").lower())
        ]
        users = [
            _sharee_user(state, u)
            for u, user in sorted(state.users.items())
            if u != uid and lowered and lowered in f"{u} {user.display_name} {user.email or ''}".lower()
        ]
        users = [u for u in users if u not in exact_users]
        remotes = []
        if _FEDERATED.match(search) and not exact_users:
            user, host = search.rsplit("@", 1)
            remotes.append(
                {
                    "label": search,
                    "uuid": search,
                    "name": user,
                    "type": "",
                    "value": {"shareType": TYPE_REMOTE, "shareWith": search, "server": host},
                    "count": None,
                }
            )
        if types is not None:
            if TYPE_USER not in types:
                exact_users, users = [], []
            if TYPE_REMOTE not in types:
                remotes = []
        empty: list[Any] = []
        data = {
            "exact": {
                "users": exact_users,
                "groups": empty,
                "remotes": remotes,
                "remote_groups": empty,
                "emails": empty,
                "circles": empty,
                "rooms": empty,
            },
            "users": users,
            "groups": empty,
            "remotes": empty,
            "remote_groups": empty,
            "emails": empty,
            "circles": empty,
            "rooms": empty,
            "lookup": empty,
            "lookupEnabled": False,
        }
        return ocs_response(ctx.request, data)


async def pending_shares(ctx: Ctx) -> Response:
    """``GET .../shares/pending``: this server accepts every share at once, so none are pending."""
    ctx.require_user()
    ctx.require_ocs_header()
    return ocs_response(ctx.request, [])


_BASE = r"^/ocs/v[12]\.php/apps/files_sharing/api/v1/shares"
ROUTES: list[Route] = [
    Route(("GET",), _BASE + r"$", list_shares),
    Route(("POST",), _BASE + r"$", create_share),
    Route(("GET",), _BASE + r"/pending$", pending_shares),
    Route(("GET",), r"^/ocs/v[12]\.php/apps/files_sharing/api/v1/sharees$", sharees),
    Route(("GET",), _BASE + r"/(?P<id>\d+)$", get_share),
    Route(("PUT",), _BASE + r"/(?P<id>\d+)$", update_share),
    Route(("DELETE",), _BASE + r"/(?P<id>\d+)$", delete_share),
]
