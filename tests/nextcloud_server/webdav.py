"""WebDAV for ``/remote.php/dav/files/{user}/...`` as Nextcloud's Sabre server answers it.

Covers PROPFIND (Depth 0/1/infinity), PROPPATCH (dead properties and ``oc:favorite``), MKCOL,
PUT, GET/HEAD, DELETE, MOVE, COPY, OPTIONS and the ``SEARCH`` that nc-py-api uses to find
files by id.  Conditional requests follow Sabre's ``checkPreconditions``; locks answer 423.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from datetime import datetime
from email.utils import formatdate, parsedate_to_datetime
from urllib.parse import unquote, urlsplit
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from starlette.responses import Response

from .common import (
    Ctx,
    DavError,
    encode_dav_path,
    multistatus,
    path_segments,
    prop_xml,
    propstat_response,
    requested_props,
    serialize_inner,
)
from .routing import Route
from .state import DeadProperty, Node, ServerState

DAV_FILES_PREFIX = "/remote.php/dav/files/"
ALLOW_FILE_METHODS = "OPTIONS, GET, HEAD, DELETE, PROPFIND, PUT, PROPPATCH, COPY, MOVE, REPORT"

NS_D = "{DAV:}"
NS_OC = "{http://owncloud.org/ns}"
NS_NC = "{http://nextcloud.org/ns}"

NOT_FOUND = "Sabre\\DAV\\Exception\\NotFound"
CONFLICT = "Sabre\\DAV\\Exception\\Conflict"
PRECONDITION = "Sabre\\DAV\\Exception\\PreconditionFailed"
METHOD_NOT_ALLOWED = "Sabre\\DAV\\Exception\\MethodNotAllowed"
FORBIDDEN = "Sabre\\DAV\\Exception\\Forbidden"
BAD_REQUEST = "Sabre\\DAV\\Exception\\BadRequest"
FILE_LOCKED = "OCA\\DAV\\Connector\\Sabre\\Exception\\FileLocked"

PROTECTED_PROPS = {
    NS_D + "getetag",
    NS_D + "getcontentlength",
    NS_D + "getcontenttype",
    NS_D + "resourcetype",
    NS_OC + "id",
    NS_OC + "fileid",
    NS_OC + "size",
    NS_OC + "permissions",
}
ALLPROP = [
    NS_D + "getlastmodified",
    NS_D + "getcontentlength",
    NS_D + "resourcetype",
    NS_D + "getetag",
    NS_D + "getcontenttype",
    NS_D + "quota-used-bytes",
    NS_D + "quota-available-bytes",
]


# --------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------


def http_date(timestamp: int) -> str:
    """RFC 1123 date as ``getlastmodified`` and ``Last-Modified`` use it."""
    return formatdate(timestamp, usegmt=True)


def permissions_string(node: Node) -> str:
    """``oc:permissions`` for the owner: files RGDNVW, folders RGDNVCK."""
    return "RGDNVCK" if node.is_dir else "RGDNVW"


def _share_types(state: ServerState, node: Node) -> str:
    types = sorted({share.share_type for share in state.shares.values() if share.node is node})
    return "".join(f"<oc:share-type>{t}</oc:share-type>" for t in types)


PropGetter = Callable[[ServerState, Node], "str | None"]

# Each getter returns the escaped inner XML, or None when the property does not exist (404).
PROPERTY_GETTERS: dict[str, PropGetter] = {
    NS_D + "getetag": lambda s, n: escape(f'"{n.etag}"', {'"': "&quot;"}),
    NS_D + "getlastmodified": lambda s, n: http_date(n.mtime),
    NS_D + "getcontentlength": lambda s, n: None if n.is_dir else str(n.size),
    NS_D + "getcontenttype": lambda s, n: None if n.is_dir else escape(n.content_type),
    NS_D + "resourcetype": lambda s, n: "<d:collection/>" if n.is_dir else "",
    NS_D + "quota-used-bytes": lambda s, n: str(n.size) if n.is_dir else None,
    NS_D + "quota-available-bytes": lambda s, n: "-3" if n.is_dir else None,
    NS_OC + "id": lambda s, n: s.oc_id(n.fileid),
    NS_OC + "fileid": lambda s, n: str(n.fileid),
    NS_OC + "size": lambda s, n: str(n.size),
    NS_OC + "permissions": lambda s, n: permissions_string(n),
    NS_OC + "favorite": lambda s, n: "1" if n.favorite else "0",
    NS_OC + "owner-id": lambda s, n: escape(n.owner),
    NS_OC + "owner-display-name": lambda s, n: escape(s.display_name(n.owner)),
    NS_OC + "share-types": _share_types,
    NS_NC + "has-preview": lambda s, n: "false",
    NS_NC + "mount-type": lambda s, n: "",
    NS_NC + "is-encrypted": lambda s, n: "0" if n.is_dir else None,
    NS_NC + "creation_time": lambda s, n: "0",
    NS_NC + "upload_time": lambda s, n: str(n.upload_time),
    NS_NC + "lock": lambda s, n: None if n.is_dir else ("1" if n.lock_owner is not None else ""),
    NS_NC + "lock-owner": lambda s, n: escape(n.lock_owner) if n.lock_owner else None,
    NS_NC + "lock-owner-displayname": lambda s, n: escape(s.display_name(n.lock_owner)) if n.lock_owner else None,
    NS_NC + "lock-owner-type": lambda s, n: "0" if n.lock_owner else None,
    NS_NC + "lock-time": lambda s, n: str(n.lock_time) if n.lock_owner else None,
    NS_NC + "lock-timeout": lambda s, n: "0" if n.lock_owner else None,
}


def node_props(
    state: ServerState, node: Node, mode: str, wanted: list[str]
) -> tuple[list[tuple[str, str | None]], list[str]]:
    """Split the requested properties of ``node`` into found (with values) and missing."""
    found: list[tuple[str, str | None]] = []
    missing: list[str] = []
    names = ALLPROP if mode == "allprop" else wanted
    for clark in names:
        value: str | None = None
        dead = node.dead_props.get(clark)
        if dead is not None:
            value = dead.inner_xml
        elif clark in PROPERTY_GETTERS:
            value = PROPERTY_GETTERS[clark](state, node)
        if value is None:
            if mode != "allprop":
                missing.append(clark)
        else:
            found.append((clark, value))
    return found, missing


def node_href(user: str, node: Node) -> str:
    """Absolute, Sabre-encoded href of a node; folders end with a slash."""
    rel = node.rel_path()
    path = DAV_FILES_PREFIX + user + ("/" + rel if rel else "")
    if node.is_dir:
        path += "/"
    return encode_dav_path(path)


# --------------------------------------------------------------------------------------------
# Path resolution and preconditions
# --------------------------------------------------------------------------------------------


def not_found(parts: list[str], index: int) -> DavError:
    """Nextcloud's NotFound for the first missing component ``parts[index]``."""
    parent = "/" + "/".join(parts[:index]) if index else "/"
    return DavError(404, NOT_FOUND, f"File with name {parent}/{parts[index]} could not be located")


def lookup(state: ServerState, user: str, parts: list[str]) -> Node:
    """The node at ``parts``; raises the NotFound Nextcloud gives for the first missing part."""
    node = state.roots[user]
    for index, part in enumerate(parts):
        child = node.children.get(part) if node.is_dir else None
        if child is None:
            raise not_found(parts, index)
        node = child
    return node


def _etag_list(header: str) -> list[str]:
    return [item.strip() for item in header.split(",") if item.strip()]


def check_preconditions(ctx: Ctx, node: Node | None) -> Response | None:
    """Sabre's If-Match / If-None-Match handling; returns a 304 for GET/HEAD when it applies."""
    if_match = ctx.header("if-match")
    if if_match:
        if node is None:
            raise DavError(
                412,
                PRECONDITION,
                "An If-Match header was specified and the resource did not exist",
                extra_xml="  <s:header>If-Match</s:header>\n",
            )
        tags = _etag_list(if_match)
        if "*" not in tags and f'"{node.etag}"' not in tags:
            raise DavError(
                412,
                PRECONDITION,
                "An If-Match header was specified, but none of the specified ETags matched.",
                extra_xml="  <s:header>If-Match</s:header>\n",
            )
    if_none_match = ctx.header("if-none-match")
    if if_none_match and node is not None:
        tags = _etag_list(if_none_match)
        if "*" in tags or f'"{node.etag}"' in tags:
            if ctx.method in ("GET", "HEAD"):
                return Response(status_code=304, headers={"ETag": f'"{node.etag}"'})
            raise DavError(
                412,
                PRECONDITION,
                "An If-None-Match header was specified, but the ETag matched (or * was specified).",
                extra_xml="  <s:header>If-None-Match</s:header>\n",
            )
    return None


def check_unlocked(node: Node, uid: str) -> None:
    """A locked file (files_lock or a transactional lock) refuses writes with 423."""
    if node.busy > 0:  # Nextcloud's own short lock: gone after a moment, for everyone
        node.busy -= 1
        raise DavError(423, "OCA\\DAV\\Connector\\Sabre\\Exception\\FileLocked", f'"{node.name}" is locked')
    if node.lock_owner is not None and node.lock_owner != uid:
        raise DavError(423, FILE_LOCKED, f'"{node.name}" is locked')


# --------------------------------------------------------------------------------------------
# Handlers
# --------------------------------------------------------------------------------------------


def _target(ctx: Ctx) -> tuple[str, list[str]]:
    """(user in the URL, path parts below the user's root); the URL user must be the caller."""
    uid = ctx.require_user()
    segments = path_segments(ctx.request.scope.get("raw_path", b""), 0)
    # segments: remote.php, dav, files, <user>, ...
    if len(segments) < 4:
        raise DavError(404, NOT_FOUND, "File with name files could not be located")
    url_user = segments[3]
    if url_user != uid:
        raise DavError(404, NOT_FOUND, f"File with name {url_user} could not be located")
    return uid, segments[4:]


async def files_endpoint(ctx: Ctx) -> Response:
    """Dispatch every WebDAV method on the files tree."""
    handlers = {
        "PROPFIND": propfind,
        "PROPPATCH": proppatch,
        "MKCOL": mkcol,
        "PUT": put,
        "GET": get,
        "HEAD": get,
        "DELETE": delete,
        "MOVE": move_or_copy,
        "COPY": move_or_copy,
        "OPTIONS": options,
    }
    handler = handlers.get(ctx.method)
    if handler is None:
        ctx.require_user()
        raise DavError(
            501,
            "Sabre\\DAV\\Exception\\NotImplemented",
            f"There was no plugin in the system that was willing to handle this {ctx.method} method.",
        )
    return await handler(ctx)


async def options(ctx: Ctx) -> Response:
    """OPTIONS: the DAV compliance classes and allowed methods."""
    ctx.require_user()
    return Response(
        status_code=200, headers={"DAV": "1, 3, extended-mkcol", "Allow": ALLOW_FILE_METHODS, "MS-Author-Via": "DAV"}
    )


async def propfind(ctx: Ctx) -> Response:
    """PROPFIND with Depth 0, 1 or infinity (the default, as Nextcloud allows it)."""
    user, parts = _target(ctx)
    mode, wanted = requested_props(ctx.body)
    depth = ctx.header("depth", "infinity").strip().lower()
    with ctx.state.lock:
        node = lookup(ctx.state, user, parts)
        if depth == "0":
            nodes = [node]
        elif depth == "1":
            nodes = [node] + [node.children[name] for name in sorted(node.children)]
        else:
            nodes = list(node.walk())
        responses = []
        for item in nodes:
            found, missing = node_props(ctx.state, item, mode, wanted)
            if mode == "propname":
                found, missing = [(clark, None) for clark in PROPERTY_GETTERS], []
            responses.append(propstat_response(node_href(user, item), found, missing))
    return multistatus(responses)


async def proppatch(ctx: Ctx) -> Response:
    """PROPPATCH: protected properties get 403 (the rest 424); others are stored as dead props."""
    user, parts = _target(ctx)
    try:
        root = ElementTree.fromstring(ctx.body)
    except ElementTree.ParseError as exc:
        raise DavError(400, BAD_REQUEST, f"The request body had an invalid XML body. ({exc})") from None
    updates: list[tuple[str, ElementTree.Element | None]] = []
    for action in root:
        for prop_container in action:
            for prop in prop_container:
                updates.append((prop.tag, prop if action.tag == NS_D + "set" else None))
    with ctx.state.lock:
        node = lookup(ctx.state, user, parts)
        check_unlocked(node, user)
        forbidden = [clark for clark, _ in updates if clark in PROTECTED_PROPS]
        href = encode_dav_path(DAV_FILES_PREFIX + user + ("/" + "/".join(parts) if parts else ""))
        if forbidden:
            rest = [clark for clark, _ in updates if clark not in PROTECTED_PROPS]
            body = f"<d:response><d:href>{escape(href)}</d:href>"
            body += _status_propstat(forbidden, "HTTP/1.1 403 Forbidden")
            if rest:
                body += _status_propstat(rest, "HTTP/1.1 424 Failed Dependency")
            return multistatus([body + "</d:response>"])
        for clark, element in updates:
            if clark == NS_OC + "favorite":
                node.favorite = element is not None and (element.text or "").strip() not in ("", "0", "false")
            elif element is None:
                node.dead_props.pop(clark, None)
            else:
                node.dead_props[clark] = DeadProperty(clark, serialize_inner(element))
        body = f"<d:response><d:href>{escape(href)}</d:href>"
        body += _status_propstat([clark for clark, _ in updates], "HTTP/1.1 200 OK") + "</d:response>"
    return multistatus([body])


def _status_propstat(clarks: list[str], status: str) -> str:
    return (
        "<d:propstat><d:prop>"
        + "".join(prop_xml(c, None) for c in clarks)
        + f"</d:prop><d:status>{status}</d:status></d:propstat>"
    )


async def mkcol(ctx: Ctx) -> Response:
    """MKCOL: 201 with OC-FileId; 405 when it exists; 409 when the parent is missing."""
    user, parts = _target(ctx)
    if not parts:
        raise DavError(
            405,
            METHOD_NOT_ALLOWED,
            "The resource you tried to create already exists",
            headers={"Allow": ALLOW_FILE_METHODS},
        )
    with ctx.state.lock:
        parent = ctx.state.resolve(user, parts[:-1])
        if parent is None or not parent.is_dir:
            raise DavError(409, CONFLICT, "Parent node does not exist")
        if parts[-1] in parent.children:
            raise DavError(
                405,
                METHOD_NOT_ALLOWED,
                "The resource you tried to create already exists",
                headers={"Allow": ALLOW_FILE_METHODS},
            )
        _check_name(parts[-1])
        node = ctx.state.create_node(parent, parts[-1], is_dir=True)
        return Response(
            status_code=201, headers={"OC-FileId": ctx.state.oc_id(node.fileid)}, media_type="text/html; charset=UTF-8"
        )


def _check_name(name: str) -> None:
    """Names Nextcloud refuses (a small subset of its filename validation)."""
    if name in (".htaccess", ".", "..") or name.endswith(".part"):
        raise DavError(
            400, "OCA\\DAV\\Connector\\Sabre\\Exception\\InvalidPath", f'"{name}" is not allowed as file or folder name'
        )


async def put(ctx: Ctx) -> Response:
    """PUT: 201 new / 204 overwrite, ETag + OC-ETag + OC-FileId; preconditions and locks apply."""
    user, parts = _target(ctx)
    with ctx.state.lock:
        if not parts:
            raise DavError(405, METHOD_NOT_ALLOWED, "PUT is not allowed on non-files.")
        parent = lookup(ctx.state, user, parts[:-1])
        if not parent.is_dir:
            raise DavError(409, CONFLICT, "Parent node is not a collection")
        existing = parent.children.get(parts[-1])
        check_preconditions(ctx, existing)
        if existing is not None and existing.is_dir:
            raise DavError(405, METHOD_NOT_ALLOWED, "PUT is not allowed on non-files.")
        if existing is not None:
            check_unlocked(existing, user)
            existing.content = ctx.body
            existing.upload_time = ctx.state.now()
            ctx.state.touch(existing)
            node, status = existing, 204
        else:
            _check_name(parts[-1])
            node, status = ctx.state.create_node(parent, parts[-1], is_dir=False, content=ctx.body), 201
        etag = f'"{node.etag}"'
        headers = {"ETag": etag, "OC-ETag": etag, "OC-FileId": ctx.state.oc_id(node.fileid)}
    if status == 201:
        return Response(status_code=201, headers=headers, media_type="text/html; charset=UTF-8")
    return Response(status_code=204, headers=headers)


async def get(ctx: Ctx) -> Response:
    """GET/HEAD of a file with ETag and Last-Modified; 304 on a matching If-None-Match."""
    user, parts = _target(ctx)
    with ctx.state.lock:
        node = lookup(ctx.state, user, parts)
        not_modified = check_preconditions(ctx, node)
        if not_modified is not None:
            return not_modified
        if node.is_dir:
            raise DavError(
                501,
                "Sabre\\DAV\\Exception\\NotImplemented",
                f"There was no plugin in the system that was willing to handle this {ctx.method} method.",
            )
        headers = {
            "ETag": f'"{node.etag}"',
            "Last-Modified": http_date(node.mtime),
            "Content-Disposition": (
                f"attachment; filename*=UTF-8''{encode_dav_path(node.name)}; filename=\"{node.name}\""
            ),
            "X-Accel-Buffering": "no",
        }
        body = b"" if ctx.method == "HEAD" else node.content
        content_type = node.content_type
    response = Response(body, status_code=200, headers=headers, media_type=content_type)
    if ctx.method == "HEAD":
        response.headers["Content-Length"] = str(len(node.content))
    return response


async def delete(ctx: Ctx) -> Response:
    """DELETE: 204, 404 when missing, 423 when locked."""
    user, parts = _target(ctx)
    with ctx.state.lock:
        node = lookup(ctx.state, user, parts)
        check_preconditions(ctx, node)
        if not parts:
            raise DavError(403, FORBIDDEN, "Deleting the home folder is not allowed")
        for item in node.walk():
            check_unlocked(item, user)
        ctx.state.detach(node)
    return Response(status_code=204)


def _destination_parts(ctx: Ctx, user: str) -> list[str]:
    """Path parts of the Destination header below the user's root."""
    destination = ctx.header("destination")
    if not destination:
        raise DavError(400, BAD_REQUEST, "The destination header was not supplied")
    raw_path = urlsplit(destination).path
    prefix = DAV_FILES_PREFIX + user
    decoded = unquote(raw_path)
    if not (decoded == prefix or decoded.startswith(prefix + "/")):
        raise DavError(502, "Sabre\\DAV\\Exception\\BadGateway", "The destination node is not on the same server")
    return [unquote(p) for p in raw_path.split("/")[5:] if p]


async def move_or_copy(ctx: Ctx) -> Response:
    """MOVE/COPY with Destination and Overwrite (default T): 201 new, 204 replaced."""
    user, parts = _target(ctx)
    dest_parts = _destination_parts(ctx, user)
    overwrite = ctx.header("overwrite", "T").strip().upper() != "F"
    with ctx.state.lock:
        source = lookup(ctx.state, user, parts)
        check_preconditions(ctx, source)
        if dest_parts == parts:
            raise DavError(403, FORBIDDEN, "Source and destination uri are identical.")
        if not parts or (source.is_dir and dest_parts[: len(parts)] == parts):
            raise DavError(409, CONFLICT, "The destination may not be part of the same subtree as the source path.")
        dest_parent = ctx.state.resolve(user, dest_parts[:-1])
        if dest_parent is None or not dest_parent.is_dir:
            raise DavError(409, CONFLICT, "The destination node is not found")
        existing = dest_parent.children.get(dest_parts[-1])
        if existing is not None and not overwrite:
            raise DavError(
                412,
                PRECONDITION,
                "The destination node already exists, and the overwrite header is set to false",
                extra_xml="  <s:header>Overwrite</s:header>\n",
            )
        if ctx.method == "MOVE":
            for item in source.walk():
                check_unlocked(item, user)
        if existing is not None:
            check_unlocked(existing, user)
            ctx.state.detach(existing)
        _check_name(dest_parts[-1])
        if ctx.method == "MOVE":
            old_parent = source.parent
            assert old_parent is not None
            del old_parent.children[source.name]
            ctx.state.touch(old_parent)
            source.name = dest_parts[-1]
            source.parent = dest_parent
            dest_parent.children[source.name] = source
            ctx.state.touch(dest_parent)
            result = source
        else:
            result = _copy_tree(ctx.state, source, dest_parent, dest_parts[-1])
        headers = {"OC-FileId": ctx.state.oc_id(result.fileid)}
        if not result.is_dir:
            headers["ETag"] = headers["OC-ETag"] = f'"{result.etag}"'
    status = 204 if existing is not None else 201
    if status == 201:
        return Response(status_code=201, headers=headers, media_type="text/html; charset=UTF-8")
    return Response(status_code=204, headers=headers)


def _copy_tree(state: ServerState, source: Node, parent: Node, name: str) -> Node:
    copy = state.create_node(parent, name, is_dir=source.is_dir, content=source.content)
    copy.dead_props = dict(source.dead_props)
    for child_name in sorted(source.children):
        _copy_tree(state, source.children[child_name], copy, child_name)
    return copy


# --------------------------------------------------------------------------------------------
# SEARCH (RFC 5323 basic search, the subset nc-py-api's find() sends)
# --------------------------------------------------------------------------------------------

_SEARCH_VALUE: dict[str, Callable[[ServerState, Node], object]] = {
    NS_D + "displayname": lambda s, n: n.name,
    NS_D + "getcontenttype": lambda s, n: "httpd/unix-directory" if n.is_dir else n.content_type,
    NS_D + "getlastmodified": lambda s, n: n.mtime,
    NS_D + "creationdate": lambda s, n: 0,
    NS_OC + "fileid": lambda s, n: n.fileid,
    NS_OC + "size": lambda s, n: n.size,
    NS_OC + "favorite": lambda s, n: int(n.favorite),
    NS_NC + "upload_time": lambda s, n: n.upload_time,
}


def _literal(prop: str, text: str) -> object:
    if prop in (NS_OC + "fileid", NS_OC + "size", NS_OC + "favorite", NS_NC + "upload_time"):
        digits = text.strip()
        if prop == NS_OC + "fileid" and not digits.isdigit():
            digits = digits[:8]
        try:
            return int(digits)
        except ValueError:
            return -1
    if prop in (NS_D + "getlastmodified", NS_D + "creationdate"):
        try:
            return int(parsedate_to_datetime(text).timestamp())
        except (TypeError, ValueError):
            return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())
    return text


def _matches(state: ServerState, node: Node, condition: ElementTree.Element) -> bool:
    op = condition.tag.removeprefix(NS_D)
    if op == "and":
        return all(_matches(state, node, c) for c in condition)
    if op == "or":
        return any(_matches(state, node, c) for c in condition)
    if op == "not":
        return not any(_matches(state, node, c) for c in condition)
    if op == "is-collection":
        return node.is_dir
    prop_el = condition.find(NS_D + "prop")
    literal_el = condition.find(NS_D + "literal")
    if prop_el is None or literal_el is None or len(prop_el) == 0:
        return False
    prop = prop_el[0].tag
    getter = _SEARCH_VALUE.get(prop)
    if getter is None:
        return False
    actual = getter(state, node)
    expected = _literal(prop, literal_el.text or "")
    if op == "like":
        pattern = str(expected).lower().replace("%", "*")
        return fnmatch.fnmatchcase(str(actual).lower(), pattern)
    if op == "eq":
        return actual == expected
    if op in ("gt", "gte", "lt", "lte") and isinstance(actual, int) and isinstance(expected, int):
        return {
            "gt": actual > expected,
            "gte": actual >= expected,
            "lt": actual < expected,
            "lte": actual <= expected,
        }[op]
    return False


async def search(ctx: Ctx) -> Response:
    """SEARCH on ``/remote.php/dav``: scope ``/files/{user}/path``, where-clause on a few props."""
    uid = ctx.require_user()
    try:
        root = ElementTree.fromstring(ctx.body)
    except ElementTree.ParseError as exc:
        raise DavError(400, BAD_REQUEST, f"The request body had an invalid XML body. ({exc})") from None
    basic = root.find(NS_D + "basicsearch")
    if basic is None:
        raise DavError(400, BAD_REQUEST, "Unexpected xml content")
    select = basic.find(f"{NS_D}select/{NS_D}prop")
    wanted = [p.tag for p in select] if select is not None else []
    href_el = basic.find(f"{NS_D}from/{NS_D}scope/{NS_D}href")
    scope = unquote(href_el.text or "") if href_el is not None else ""
    scope_parts = [p for p in scope.split("/") if p]
    if len(scope_parts) < 2 or scope_parts[0] != "files" or scope_parts[1] != uid:
        raise DavError(400, BAD_REQUEST, "Invalid search scope")
    where = basic.find(NS_D + "where")
    with ctx.state.lock:
        scope_node = ctx.state.resolve(uid, scope_parts[2:])
        if scope_node is None:
            raise DavError(404, NOT_FOUND, "Scope not found")
        responses = []
        for node in scope_node.walk():
            if node is scope_node:
                continue
            if where is not None and len(where) and not all(_matches(ctx.state, node, c) for c in where):
                continue
            found, missing = node_props(ctx.state, node, "prop", wanted)
            responses.append(propstat_response(node_href(uid, node), found, missing))
    return multistatus(responses)


async def dav_root(ctx: Ctx) -> Response:
    """``/remote.php/dav`` itself: SEARCH, or a tiny PROPFIND/OPTIONS answer."""
    if ctx.method == "SEARCH":
        return await search(ctx)
    ctx.require_user()
    if ctx.method == "OPTIONS":
        return await options(ctx)
    raise DavError(
        501,
        "Sabre\\DAV\\Exception\\NotImplemented",
        f"There was no plugin in the system that was willing to handle this {ctx.method} method.",
    )


ROUTES: list[Route] = [
    Route(("*",), r"^/remote\.php/dav/files/[^/]+(/.*)?$", files_endpoint),
    Route(("*",), r"^/remote\.php/dav/?$", dav_root),
]
