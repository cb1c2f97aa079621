"""Deck REST API at ``/index.php/apps/deck/api/v1.0`` (plain JSON, not OCS), per Deck's API.md.

Boards, their ACL (participant types user 0, group 1, circle 7), stacks and cards with
``duedate``.  Errors are ``{"status": ..., "message": ...}`` with the same HTTP status.  GET
answers carry an ``ETag`` (also in the JSON as ``ETag``) that changes when a child changes, and a
matching ``If-None-Match`` answers 304.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from starlette.responses import JSONResponse, Response

from .common import Ctx, JsonError
from .routing import Route
from .state import DeckAcl, DeckBoard, DeckCard, DeckStack, ServerState
from .teams import circle_user_ids

ACL_USER, ACL_GROUP, ACL_CIRCLE = 0, 1, 7
DEFAULT_LABELS = [("Finished", "31CC7C"), ("To review", "317CCC"), ("Action needed", "FF7A66"), ("Later", "F1DB50")]
PERMISSION_KEYS = ("PERMISSION_READ", "PERMISSION_EDIT", "PERMISSION_MANAGE", "PERMISSION_SHARE")


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _etag(kind: str, entity_id: int, modified: int, salt: str) -> str:
    return hashlib.md5(f"{kind}:{entity_id}:{modified}:{salt}".encode(), usedforsecurity=False).hexdigest()


def _bump(state: ServerState, board: DeckBoard, stack: DeckStack | None = None, card: DeckCard | None = None) -> None:
    """Record a change: the entity and its parents get a new lastModified and ETag."""
    now = state.now()
    salt = state.new_etag()
    for entity, kind in ((card, "card"), (stack, "stack"), (board, "board")):
        if entity is not None:
            entity.last_modified = now
            entity.etag = _etag(kind, entity.id, now, salt)


def user_ref(state: ServerState, uid: str) -> dict[str, Any]:
    """Deck's user object."""
    return {"primaryKey": uid, "uid": uid, "displayname": state.display_name(uid), "type": 0}


def permissions_of(state: ServerState, board: DeckBoard, uid: str) -> dict[str, bool]:
    """The user's permissions on a board: owner has all, else the union of matching ACL rules."""
    if board.owner == uid:
        return dict.fromkeys(PERMISSION_KEYS, True)
    result = dict.fromkeys(PERMISSION_KEYS, False)
    for acl in board.acl:
        applies = (
            (acl.type == ACL_USER and acl.participant == uid)
            or (acl.type == ACL_GROUP and uid in state.groups.get(acl.participant, []))
            or (
                acl.type == ACL_CIRCLE
                and acl.participant in state.circles
                and uid in circle_user_ids(state, state.circles[acl.participant])
            )
        )
        if applies:
            result["PERMISSION_READ"] = True
            result["PERMISSION_EDIT"] |= acl.permission_edit
            result["PERMISSION_SHARE"] |= acl.permission_share
            result["PERMISSION_MANAGE"] |= acl.permission_manage
    return result


def format_acl(state: ServerState, acl: DeckAcl) -> dict[str, Any]:
    """An ACL rule."""
    if acl.type == ACL_USER:
        participant = user_ref(state, acl.participant)
    elif acl.type == ACL_CIRCLE and acl.participant in state.circles:
        participant = {
            "primaryKey": acl.participant,
            "uid": acl.participant,
            "displayname": state.circles[acl.participant].name,
            "type": ACL_CIRCLE,
        }
    else:
        participant = {
            "primaryKey": acl.participant,
            "uid": acl.participant,
            "displayname": acl.participant,
            "type": acl.type,
        }
    return {
        "participant": participant,
        "type": acl.type,
        "boardId": acl.board_id,
        "permissionEdit": acl.permission_edit,
        "permissionShare": acl.permission_share,
        "permissionManage": acl.permission_manage,
        "owner": False,
        "id": acl.id,
    }


def format_board(state: ServerState, board: DeckBoard, uid: str) -> dict[str, Any]:
    """A board as in API.md."""
    users = [user_ref(state, board.owner)] + [user_ref(state, a.participant) for a in board.acl if a.type == ACL_USER]
    return {
        "title": board.title,
        "owner": user_ref(state, board.owner),
        "color": board.color,
        "archived": board.archived,
        "labels": board.labels,
        "acl": [format_acl(state, a) for a in board.acl],
        "permissions": permissions_of(state, board, uid),
        "users": users,
        "shared": 0 if board.owner == uid else 1,
        "deletedAt": board.deleted_at,
        "id": board.id,
        "lastModified": board.last_modified,
        "settings": {"notify-due": "off", "calendar": True},
        "ETag": board.etag,
    }


def _overdue(state: ServerState, duedate: str | None) -> int:
    """Deck's overdue flag: 0 future, 1 due within a day, 3 overdue."""
    if not duedate:
        return 0
    delta = datetime.fromisoformat(duedate).timestamp() - state.now()
    return 3 if delta < 0 else 1 if delta < 86400 else 0


def format_card(state: ServerState, card: DeckCard) -> dict[str, Any]:
    """A card as in API.md."""
    return {
        "title": card.title,
        "description": card.description,
        "stackId": card.stack_id,
        "type": card.type,
        "lastModified": card.last_modified,
        "lastEditor": None,
        "createdAt": card.created_at,
        "labels": [],
        "assignedUsers": [],
        "attachments": None,
        "attachmentCount": 0,
        "owner": card.owner,
        "order": card.order,
        "archived": card.archived,
        "done": card.done,
        "duedate": card.duedate,
        "deletedAt": card.deleted_at,
        "commentsUnread": 0,
        "commentsCount": 0,
        "id": card.id,
        "overdue": _overdue(state, card.duedate),
        "ETag": card.etag,
    }


def format_stack(state: ServerState, stack: DeckStack, *, archived: bool = False) -> dict[str, Any]:
    """A stack with its (live, or archived) cards in order."""
    cards = sorted(
        (c for c in state.cards.values() if c.stack_id == stack.id and not c.deleted_at and c.archived == archived),
        key=lambda c: (c.order, c.id),
    )
    return {
        "title": stack.title,
        "boardId": stack.board_id,
        "deletedAt": stack.deleted_at,
        "lastModified": stack.last_modified,
        "cards": [format_card(state, c) for c in cards],
        "order": stack.order,
        "id": stack.id,
        "ETag": stack.etag,
    }


def _json(ctx: Ctx, data: Any, etag: str | None = None) -> Response:
    """A JSON answer; with ``etag`` a matching If-None-Match gives 304."""
    headers = {}
    if etag is not None:
        quoted = f'"{etag}"'
        if quoted in [t.strip() for t in ctx.header("if-none-match").split(",")]:
            return Response(status_code=304, headers={"ETag": quoted})
        headers["ETag"] = quoted
    return JSONResponse(data, headers=headers)


def _int(ctx: Ctx, name: str) -> int:
    try:
        return int(ctx.match[name])
    except (KeyError, ValueError):
        raise JsonError(400, f"{name} must be a number") from None


def _board(ctx: Ctx, uid: str, permission: str = "PERMISSION_READ") -> DeckBoard:
    board = ctx.state.boards.get(_int(ctx, "board"))
    if board is None:
        raise JsonError(404, "Board not found")
    permissions = permissions_of(ctx.state, board, uid)
    if not permissions["PERMISSION_READ"] or not permissions[permission]:
        raise JsonError(403, "Permission denied")
    return board


def _stack(ctx: Ctx, board: DeckBoard) -> DeckStack:
    stack = ctx.state.stacks.get(_int(ctx, "stack"))
    if stack is None or stack.board_id != board.id or stack.deleted_at:
        raise JsonError(404, "Stack not found")
    return stack


def _card(ctx: Ctx, stack: DeckStack) -> DeckCard:
    card = ctx.state.cards.get(_int(ctx, "card"))
    if card is None or card.stack_id != stack.id or card.deleted_at:
        raise JsonError(404, "Card not found")
    return card


def _title(ctx: Ctx, limit: int, *, required: bool = True, current: str = "") -> str:
    value = ctx.param("title")
    if value is None or str(value).strip() == "":
        if required:
            raise JsonError(400, "title must be provided")
        return current
    title = str(value)
    if len(title) > limit:
        raise JsonError(400, f"The title cannot exceed {limit} characters")
    return title


def _order(ctx: Ctx, default: int) -> int:
    value = ctx.param("order")
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise JsonError(400, "order must be a number") from None


def _duedate(value: Any) -> str | None:
    """ISO 8601 (or null) → Deck's ``2019-12-24T19:29:30+00:00`` in UTC; 400 when invalid."""
    if value is None or value == "":
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise JsonError(400, "duedate must be a valid ISO-8601 date") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).isoformat(timespec="seconds")


def _modified_since(ctx: Ctx) -> int | None:
    header = ctx.header("if-modified-since")
    if not header:
        return None
    try:
        return int(parsedate_to_datetime(header).timestamp())
    except (TypeError, ValueError):
        raise JsonError(400, "Invalid If-Modified-Since header provided.") from None


# --------------------------------------------------------------------------------------------
# Boards and ACL
# --------------------------------------------------------------------------------------------


async def list_boards(ctx: Ctx) -> Response:
    """``GET /boards`` (``If-Modified-Since`` limits the result)."""
    uid = ctx.require_user()
    since = _modified_since(ctx)
    with ctx.state.lock:
        boards = [
            b
            for b in ctx.state.boards.values()
            if permissions_of(ctx.state, b, uid)["PERMISSION_READ"] and (since is None or b.last_modified > since)
        ]
        data = [format_board(ctx.state, b, uid) for b in boards]
        if ctx.bool_param("details"):
            for item, board in zip(data, boards, strict=True):
                item["stacks"] = [format_stack(ctx.state, s) for s in _live_stacks(ctx.state, board)]
        etag = hashlib.md5("".join(b.etag for b in boards).encode(), usedforsecurity=False).hexdigest()
        return _json(ctx, data, etag)


async def create_board(ctx: Ctx) -> Response:
    """``POST /boards`` with ``title`` and ``color``."""
    uid = ctx.require_user()
    title = _title(ctx, 100)
    color = str(ctx.param("color", "") or "").lstrip("#")
    if not color:
        raise JsonError(400, "color must be provided")
    if len(color) > 6:
        raise JsonError(400, "The color cannot exceed 6 characters")
    state = ctx.state
    with state.lock:
        board = DeckBoard(id=state.next_deck_id(), title=title, owner=uid, color=color, last_modified=state.now())
        board.labels = [
            {"title": name, "color": hexcolor, "boardId": board.id, "cardId": None, "id": state.next_label_id()}
            for name, hexcolor in DEFAULT_LABELS
        ]
        _bump(state, board)
        state.boards[board.id] = board
        return _json(ctx, format_board(state, board, uid))


async def get_board(ctx: Ctx) -> Response:
    """``GET /boards/{boardId}``."""
    uid = ctx.require_user()
    with ctx.state.lock:
        board = _board(ctx, uid)
        return _json(ctx, format_board(ctx.state, board, uid), board.etag)


async def update_board(ctx: Ctx) -> Response:
    """``PUT /boards/{boardId}`` with title, color and archived (manage permission)."""
    uid = ctx.require_user()
    with ctx.state.lock:
        board = _board(ctx, uid, "PERMISSION_MANAGE")
        board.title = _title(ctx, 100)
        color = str(ctx.param("color", "") or "").lstrip("#")
        if not color:
            raise JsonError(400, "color must be provided")
        board.color = color
        board.archived = ctx.bool_param("archived", False)
        _bump(ctx.state, board)
        return _json(ctx, format_board(ctx.state, board, uid))


async def delete_board(ctx: Ctx) -> Response:
    """``DELETE /boards/{boardId}``: marks it deleted (undo is possible) and returns it."""
    uid = ctx.require_user()
    with ctx.state.lock:
        board = _board(ctx, uid, "PERMISSION_MANAGE")
        if board.owner != uid:
            raise JsonError(403, "Permission denied")
        board.deleted_at = ctx.state.now()
        _bump(ctx.state, board)
        return _json(ctx, format_board(ctx.state, board, uid))


async def undo_delete_board(ctx: Ctx) -> Response:
    """``POST /boards/{boardId}/undo_delete``."""
    uid = ctx.require_user()
    with ctx.state.lock:
        board = _board(ctx, uid, "PERMISSION_MANAGE")
        board.deleted_at = 0
        _bump(ctx.state, board)
        return _json(ctx, format_board(ctx.state, board, uid))


async def add_acl(ctx: Ctx) -> Response:
    """``POST /boards/{boardId}/acl``: type, participant, permissionEdit/Share/Manage."""
    uid = ctx.require_user()
    state = ctx.state
    with state.lock:
        board = _board(ctx, uid, "PERMISSION_SHARE")
        acl_type = ctx.int_param("type", -1)
        participant = str(ctx.param("participant", "") or "")
        if acl_type == ACL_USER:
            if participant not in state.users:
                raise JsonError(400, "The participant is not a valid user")
        elif acl_type == ACL_GROUP:
            if participant not in state.groups:
                raise JsonError(400, "The participant is not a valid group")
        elif acl_type == ACL_CIRCLE:
            if participant not in state.circles:
                raise JsonError(400, "The participant is not a valid circle")
        else:
            raise JsonError(400, "type must be one of 0, 1, 7")
        manage = ctx.bool_param("permissionManage")
        if manage and not permissions_of(state, board, uid)["PERMISSION_MANAGE"]:
            raise JsonError(403, "Permission denied")
        acl = DeckAcl(
            id=state.next_deck_id(),
            board_id=board.id,
            type=acl_type,
            participant=participant,
            permission_edit=ctx.bool_param("permissionEdit"),
            permission_share=ctx.bool_param("permissionShare"),
            permission_manage=manage,
        )
        board.acl.append(acl)
        _bump(state, board)
        return _json(ctx, format_acl(state, acl))


def _acl(ctx: Ctx, board: DeckBoard) -> DeckAcl:
    acl = next((a for a in board.acl if a.id == _int(ctx, "acl")), None)
    if acl is None:
        raise JsonError(404, "Acl not found")
    return acl


async def update_acl(ctx: Ctx) -> Response:
    """``PUT /boards/{boardId}/acl/{aclId}``."""
    uid = ctx.require_user()
    with ctx.state.lock:
        board = _board(ctx, uid, "PERMISSION_MANAGE")
        acl = _acl(ctx, board)
        acl.permission_edit = ctx.bool_param("permissionEdit", acl.permission_edit)
        acl.permission_share = ctx.bool_param("permissionShare", acl.permission_share)
        acl.permission_manage = ctx.bool_param("permissionManage", acl.permission_manage)
        _bump(ctx.state, board)
        return _json(ctx, format_acl(ctx.state, acl))


async def delete_acl(ctx: Ctx) -> Response:
    """``DELETE /boards/{boardId}/acl/{aclId}``."""
    uid = ctx.require_user()
    with ctx.state.lock:
        board = _board(ctx, uid, "PERMISSION_MANAGE")
        acl = _acl(ctx, board)
        board.acl.remove(acl)
        _bump(ctx.state, board)
        return _json(ctx, format_acl(ctx.state, acl))


# --------------------------------------------------------------------------------------------
# Stacks and cards
# --------------------------------------------------------------------------------------------


def _live_stacks(state: ServerState, board: DeckBoard) -> list[DeckStack]:
    return sorted(
        (s for s in state.stacks.values() if s.board_id == board.id and not s.deleted_at), key=lambda s: (s.order, s.id)
    )


async def list_stacks(ctx: Ctx) -> Response:
    """``GET /boards/{boardId}/stacks`` (with their cards)."""
    uid = ctx.require_user()
    since = _modified_since(ctx)
    with ctx.state.lock:
        board = _board(ctx, uid)
        stacks = [s for s in _live_stacks(ctx.state, board) if since is None or s.last_modified > since]
        etag = hashlib.md5("".join(s.etag for s in stacks).encode(), usedforsecurity=False).hexdigest()
        return _json(ctx, [format_stack(ctx.state, s) for s in stacks], etag)


async def list_archived_stacks(ctx: Ctx) -> Response:
    """``GET /boards/{boardId}/stacks/archived``: stacks with their archived cards."""
    uid = ctx.require_user()
    with ctx.state.lock:
        board = _board(ctx, uid)
        return _json(ctx, [format_stack(ctx.state, s, archived=True) for s in _live_stacks(ctx.state, board)])


async def create_stack(ctx: Ctx) -> Response:
    """``POST /boards/{boardId}/stacks`` with title and order."""
    uid = ctx.require_user()
    state = ctx.state
    with state.lock:
        board = _board(ctx, uid, "PERMISSION_MANAGE")
        stack = DeckStack(
            id=state.next_deck_id(),
            board_id=board.id,
            title=_title(ctx, 100),
            order=_order(ctx, 999),
            last_modified=state.now(),
        )
        state.stacks[stack.id] = stack
        _bump(state, board, stack)
        return _json(ctx, format_stack(state, stack))


async def get_stack(ctx: Ctx) -> Response:
    """``GET /boards/{boardId}/stacks/{stackId}``."""
    uid = ctx.require_user()
    with ctx.state.lock:
        stack = _stack(ctx, _board(ctx, uid))
        return _json(ctx, format_stack(ctx.state, stack), stack.etag)


async def update_stack(ctx: Ctx) -> Response:
    """``PUT /boards/{boardId}/stacks/{stackId}`` with title and order."""
    uid = ctx.require_user()
    with ctx.state.lock:
        board = _board(ctx, uid, "PERMISSION_MANAGE")
        stack = _stack(ctx, board)
        stack.title = _title(ctx, 100)
        stack.order = _order(ctx, stack.order)
        _bump(ctx.state, board, stack)
        return _json(ctx, format_stack(ctx.state, stack))


async def delete_stack(ctx: Ctx) -> Response:
    """``DELETE /boards/{boardId}/stacks/{stackId}``: returns the stack marked deleted."""
    uid = ctx.require_user()
    with ctx.state.lock:
        board = _board(ctx, uid, "PERMISSION_MANAGE")
        stack = _stack(ctx, board)
        stack.deleted_at = ctx.state.now()
        _bump(ctx.state, board, stack)
        return _json(ctx, format_stack(ctx.state, stack))


async def create_card(ctx: Ctx) -> Response:
    """``POST .../stacks/{stackId}/cards``: title, type, order, description, duedate."""
    uid = ctx.require_user()
    state = ctx.state
    with state.lock:
        board = _board(ctx, uid, "PERMISSION_EDIT")
        stack = _stack(ctx, board)
        now = state.now()
        card = DeckCard(
            id=state.next_deck_id(),
            stack_id=stack.id,
            title=_title(ctx, 255),
            owner=uid,
            order=_order(ctx, 999),
            created_at=now,
            last_modified=now,
            type=str(ctx.param("type", "plain") or "plain"),
            description=str(ctx.param("description", "") or ""),
            duedate=_duedate(ctx.param("duedate")),
        )
        state.cards[card.id] = card
        _bump(state, board, stack, card)
        return _json(ctx, format_card(state, card))


async def get_card(ctx: Ctx) -> Response:
    """``GET .../cards/{cardId}``."""
    uid = ctx.require_user()
    with ctx.state.lock:
        card = _card(ctx, _stack(ctx, _board(ctx, uid)))
        return _json(ctx, format_card(ctx.state, card), card.etag)


async def update_card(ctx: Ctx) -> Response:
    """``PUT .../cards/{cardId}``: title, type and owner are required; duedate may be null."""
    uid = ctx.require_user()
    state = ctx.state
    with state.lock:
        board = _board(ctx, uid, "PERMISSION_EDIT")
        stack = _stack(ctx, board)
        card = _card(ctx, stack)
        title = _title(ctx, 255)
        card_type = str(ctx.param("type", "") or "")
        if not card_type:
            raise JsonError(400, "type must be provided")
        owner = ctx.param("owner")
        if not owner:
            raise JsonError(400, "owner must be provided")
        card.title, card.type, card.owner = title, card_type, str(owner)
        if ctx.param("description") is not None:
            card.description = str(ctx.param("description"))
        card.order = _order(ctx, card.order)
        if "duedate" in ctx.params:
            card.duedate = _duedate(ctx.param("duedate"))
        if "archived" in ctx.params:
            card.archived = ctx.bool_param("archived")
        if "done" in ctx.params:
            card.done = _duedate(ctx.param("done"))
        new_stack = ctx.param("stackId")
        if new_stack not in (None, "") and int(new_stack) != stack.id:
            target = state.stacks.get(int(new_stack))
            if target is None or target.board_id != board.id or target.deleted_at:
                raise JsonError(400, "stackId is not a stack of this board")
            card.stack_id = target.id
            _bump(state, board, target)
        _bump(state, board, stack, card)
        return _json(ctx, format_card(state, card))


async def delete_card(ctx: Ctx) -> Response:
    """``DELETE .../cards/{cardId}``: returns the card marked deleted."""
    uid = ctx.require_user()
    with ctx.state.lock:
        board = _board(ctx, uid, "PERMISSION_EDIT")
        stack = _stack(ctx, board)
        card = _card(ctx, stack)
        card.deleted_at = ctx.state.now()
        _bump(ctx.state, board, stack, card)
        return _json(ctx, format_card(ctx.state, card))


async def archive_card(ctx: Ctx) -> Response:
    """``PUT .../cards/{cardId}/archive`` and ``/unarchive``."""
    uid = ctx.require_user()
    with ctx.state.lock:
        board = _board(ctx, uid, "PERMISSION_EDIT")
        stack = _stack(ctx, board)
        card = _card(ctx, stack)
        card.archived = ctx.match["action"] == "archive"
        _bump(ctx.state, board, stack, card)
        return _json(ctx, format_card(ctx.state, card))


_API = r"^/index\.php/apps/deck/api/v1\.[01]"
_B = r"/boards/(?P<board>\d+)"
_S = r"/stacks/(?P<stack>\d+)"
_C = r"/cards/(?P<card>\d+)"
ROUTES: list[Route] = [
    Route(("GET",), _API + r"/boards$", list_boards),
    Route(("POST",), _API + r"/boards$", create_board),
    Route(("GET",), _API + _B + r"$", get_board),
    Route(("PUT",), _API + _B + r"$", update_board),
    Route(("DELETE",), _API + _B + r"$", delete_board),
    Route(("POST",), _API + _B + r"/undo_delete$", undo_delete_board),
    Route(("POST",), _API + _B + r"/acl$", add_acl),
    Route(("PUT",), _API + _B + r"/acl/(?P<acl>\d+)$", update_acl),
    Route(("DELETE",), _API + _B + r"/acl/(?P<acl>\d+)$", delete_acl),
    Route(("GET",), _API + _B + r"/stacks$", list_stacks),
    Route(("GET",), _API + _B + r"/stacks/archived$", list_archived_stacks),
    Route(("POST",), _API + _B + r"/stacks$", create_stack),
    Route(("GET",), _API + _B + _S + r"$", get_stack),
    Route(("PUT",), _API + _B + _S + r"$", update_stack),
    Route(("DELETE",), _API + _B + _S + r"$", delete_stack),
    Route(("POST",), _API + _B + _S + r"/cards$", create_card),
    Route(("GET",), _API + _B + _S + _C + r"$", get_card),
    Route(("PUT",), _API + _B + _S + _C + r"$", update_card),
    Route(("DELETE",), _API + _B + _S + _C + r"$", delete_card),
    Route(("PUT",), _API + _B + _S + _C + r"/(?P<action>archive|unarchive)$", archive_card),
]
