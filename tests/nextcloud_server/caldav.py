"""Minimal CalDAV under ``/remote.php/dav/calendars/{user}/``.

The calendar home lists the user's calendars (a ``personal`` one exists from the start, as
Nextcloud creates it on first use).  MKCALENDAR creates a calendar; ``.ics`` objects are
written with PUT (201/204, ETag, If-Match/If-None-Match), read with GET and removed with
DELETE.  PROPFIND lists calendars and objects; REPORT answers ``calendar-query`` (all objects
of the requested component) and ``calendar-multiget``.
"""

from __future__ import annotations

import hashlib
import re
from email.utils import formatdate
from urllib.parse import unquote
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from starlette.responses import Response

from .common import (
    CALDAV_NAMESPACES,
    Ctx,
    DavError,
    encode_dav_path,
    multistatus,
    path_segments,
    propstat_response,
    requested_props,
)
from .routing import Route
from .state import Calendar, CalendarObject, ServerState

D, CAL, CS, OC = (
    "{DAV:}",
    "{urn:ietf:params:xml:ns:caldav}",
    "{http://calendarserver.org/ns/}",
    "{http://owncloud.org/ns}",
)
PREFIX = "/remote.php/dav/calendars/"
NOT_FOUND = "Sabre\\DAV\\Exception\\NotFound"
CALENDAR_RATE_LIMIT, CALENDAR_RATE_PERIOD = 10, 3600  # dav rateLimitCalendarCreation / ...PeriodCalendarCreation
MAXIMUM_CALENDARS = 30  # dav maximumCalendarsSubscriptions (calendars plus subscriptions)
_UID = re.compile(r"^UID[;:](.*)$", re.MULTILINE)
_COMPONENT = re.compile(r"^BEGIN:(VEVENT|VTODO|VJOURNAL)\s*$", re.MULTILINE)


def _etag(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def ensure_home(state: ServerState, uid: str) -> None:
    """Nextcloud's default ``personal`` calendar."""
    if (uid, "personal") not in state.calendars:
        state.calendars[(uid, "personal")] = Calendar(
            owner=uid, uri="personal", display_name="Personal", ctag=state.next_ctag()
        )


def _calendars_of(state: ServerState, uid: str) -> list[Calendar]:
    return [c for (owner, _), c in sorted(state.calendars.items()) if owner == uid]


def _calendar_props(cal: Calendar) -> dict[str, str | None]:
    components = "".join(f'<cal:comp name="{c}"/>' for c in cal.components)
    return {
        D + "displayname": escape(cal.display_name),
        D + "resourcetype": "<d:collection/><cal:calendar/>",
        CS + "getctag": f"http://sabre.io/ns/sync/{cal.ctag}",
        D + "sync-token": f"http://sabre.io/ns/sync/{cal.ctag}",
        CAL + "supported-calendar-component-set": components,
        OC + "owner-principal": f"principals/users/{cal.owner}",
        D + "getetag": None,
        D + "getcontenttype": None,
    }


def _object_props(obj: CalendarObject) -> dict[str, str | None]:
    component = _COMPONENT.search(obj.data.decode("utf-8", "replace"))
    kind = component.group(1).lower() if component else "vevent"
    return {
        D + "getetag": escape(f'"{obj.etag}"', {'"': "&quot;"}),
        D + "getcontenttype": f"text/calendar; charset=utf-8; component={kind}",
        D + "getlastmodified": formatdate(obj.last_modified, usegmt=True),
        D + "getcontentlength": str(len(obj.data)),
        D + "resourcetype": "",
        CAL + "calendar-data": escape(obj.data.decode("utf-8", "replace")),
        D + "displayname": None,
    }


def _response(href: str, props: dict[str, str | None], mode: str, wanted: list[str]) -> str:
    names = [k for k, v in props.items() if v is not None] if mode == "allprop" else wanted
    found = [(n, props[n]) for n in names if props.get(n) is not None]
    missing = [n for n in names if props.get(n) is None] if mode != "allprop" else []
    return propstat_response(encode_dav_path(href), found, missing)


def _parse(ctx: Ctx) -> tuple[str, list[str]]:
    """(user, segments after the user) of a calendars URL; the user must be the caller."""
    uid = ctx.require_user()
    segments = path_segments(ctx.request.scope.get("raw_path", b""), 0)[3:]  # remote.php, dav, calendars
    if not segments or segments[0] != uid:
        raise DavError(404, NOT_FOUND, "Node with name calendars could not be found")
    with ctx.state.lock:
        ensure_home(ctx.state, uid)
    return uid, segments[1:]


def _calendar(state: ServerState, uid: str, uri: str) -> Calendar:
    cal = state.calendars.get((uid, uri))
    if cal is None:
        raise DavError(404, NOT_FOUND, f"Node with name '{uri}' could not be found")
    return cal


async def calendars_endpoint(ctx: Ctx) -> Response:
    """Dispatch by depth of the URL: home, calendar, or object."""
    uid, rest = _parse(ctx)
    if not rest:
        return await _home(ctx, uid)
    if len(rest) == 1:
        return await _collection(ctx, uid, rest[0])
    if len(rest) == 2:
        return await _object(ctx, uid, rest[0], rest[1])
    raise DavError(404, NOT_FOUND, "Node could not be found")


async def _home(ctx: Ctx, uid: str) -> Response:
    if ctx.method != "PROPFIND":
        raise DavError(405, "Sabre\\DAV\\Exception\\MethodNotAllowed", f"{ctx.method} is not allowed here")
    mode, wanted = requested_props(ctx.body)
    with ctx.state.lock:
        home_props: dict[str, str | None] = {D + "resourcetype": "<d:collection/>", D + "displayname": None}
        responses = [_response(f"{PREFIX}{uid}/", home_props, mode, wanted)]
        if ctx.header("depth", "1") != "0":
            for cal in _calendars_of(ctx.state, uid):
                responses.append(_response(f"{PREFIX}{uid}/{cal.uri}/", _calendar_props(cal), mode, wanted))
    return multistatus(responses, CALDAV_NAMESPACES)


def check_calendar_limits(state: ServerState, uid: str) -> None:
    """``RateLimitingPlugin::beforeBind``: 10 new calendars per user per hour, then 30 in all."""
    now = state.clock()
    attempts = [t for t in state.calendar_creations.get(uid, []) if t > now - CALENDAR_RATE_PERIOD]
    if len(attempts) >= CALENDAR_RATE_LIMIT:
        state.calendar_creations[uid] = attempts
        raise DavError(
            429,
            "OCA\\DAV\\Connector\\Sabre\\Exception\\TooManyRequests",
            "Too many calendars created",
            extra_xml='  <o:hint xmlns:o="http://owncloud.org/ns">too many requests</o:hint>\n',
        )
    state.calendar_creations[uid] = [*attempts, now]
    if len(_calendars_of(state, uid)) >= MAXIMUM_CALENDARS:
        raise DavError(403, "Sabre\\DAV\\Exception\\Forbidden", "Calendar limit reached")


async def _collection(ctx: Ctx, uid: str, uri: str) -> Response:
    state = ctx.state
    if ctx.method == "MKCALENDAR":
        with state.lock:
            if (uid, uri) in state.calendars:
                raise DavError(
                    405, "Sabre\\DAV\\Exception\\MethodNotAllowed", "The resource you tried to create already exists"
                )
            check_calendar_limits(state, uid)
            name: str = uri
            components: tuple[str, ...] = ("VEVENT",)
            if ctx.body.strip():
                root = ElementTree.fromstring(ctx.body)
                name = root.findtext(f".//{D}displayname") or uri
                comps = [c.get("name", "") for c in root.iter(CAL + "comp")]
                components = tuple(comps) or components
            state.calendars[(uid, uri)] = Calendar(
                owner=uid, uri=uri, display_name=name, ctag=state.next_ctag(), components=components
            )
        return Response(status_code=201, media_type="text/html; charset=UTF-8")
    with state.lock:
        cal = _calendar(state, uid, uri)
        if ctx.method == "DELETE":
            del state.calendars[(uid, uri)]
            return Response(status_code=204)
        if ctx.method == "PROPFIND":
            mode, wanted = requested_props(ctx.body)
            responses = [_response(f"{PREFIX}{uid}/{uri}/", _calendar_props(cal), mode, wanted)]
            if ctx.header("depth", "1") != "0":
                for name in sorted(cal.objects):
                    responses.append(
                        _response(f"{PREFIX}{uid}/{uri}/{name}", _object_props(cal.objects[name]), mode, wanted)
                    )
            return multistatus(responses, CALDAV_NAMESPACES)
        if ctx.method == "REPORT":
            return _report(ctx, uid, cal)
    raise DavError(
        501,
        "Sabre\\DAV\\Exception\\NotImplemented",
        f"There was no plugin in the system that was willing to handle this {ctx.method} method.",
    )


def _report(ctx: Ctx, uid: str, cal: Calendar) -> Response:
    """calendar-query (component filter only) and calendar-multiget."""
    root = ElementTree.fromstring(ctx.body)
    prop = root.find(D + "prop")
    wanted = [p.tag for p in prop] if prop is not None else [D + "getetag"]
    if root.tag == CAL + "calendar-multiget":
        names = [unquote(h.text or "").rstrip("/").rsplit("/", 1)[-1] for h in root.iter(D + "href")]
    elif root.tag == CAL + "calendar-query":
        filters = [f.get("name", "") for f in root.iter(CAL + "comp-filter")]
        component = next((f for f in filters if f != "VCALENDAR"), None)
        names = [
            n
            for n, o in sorted(cal.objects.items())
            if component is None or f"BEGIN:{component}" in o.data.decode("utf-8", "replace")
        ]
    else:
        raise DavError(415, "Sabre\\DAV\\Exception\\ReportNotSupported", "The report you requested is not supported")
    responses = []
    for name in names:
        href = f"{PREFIX}{uid}/{cal.uri}/{name}"
        obj = cal.objects.get(name)
        if obj is None:
            responses.append(
                f"<d:response><d:href>{escape(encode_dav_path(href))}</d:href>"
                "<d:status>HTTP/1.1 404 Not Found</d:status></d:response>"
            )
        else:
            responses.append(_response(href, _object_props(obj), "prop", wanted))
    return multistatus(responses, CALDAV_NAMESPACES)


def _check_conditions(ctx: Ctx, obj: CalendarObject | None) -> Response | None:
    if_match = ctx.header("if-match")
    if if_match and (obj is None or (if_match.strip() != "*" and f'"{obj.etag}"' not in if_match)):
        raise DavError(
            412,
            "Sabre\\DAV\\Exception\\PreconditionFailed",
            "An If-Match header was specified, but none of the specified ETags matched.",
            extra_xml="  <s:header>If-Match</s:header>\n",
        )
    if_none = ctx.header("if-none-match")
    if if_none and obj is not None and (if_none.strip() == "*" or f'"{obj.etag}"' in if_none):
        if ctx.method == "GET":
            return Response(status_code=304, headers={"ETag": f'"{obj.etag}"'})
        raise DavError(
            412,
            "Sabre\\DAV\\Exception\\PreconditionFailed",
            "An If-None-Match header was specified, but the ETag matched (or * was specified).",
            extra_xml="  <s:header>If-None-Match</s:header>\n",
        )
    return None


def _validate(cal: Calendar, name: str, data: bytes) -> None:
    text = data.decode("utf-8", "replace")
    if not text.lstrip().startswith("BEGIN:VCALENDAR"):
        raise DavError(
            415,
            "Sabre\\DAV\\Exception\\UnsupportedMediaType",
            "This resource only supports valid iCalendar 2.0 data. Parse error: no VCALENDAR",
        )
    components = _COMPONENT.findall(text)
    if not components:
        raise DavError(
            400, "Sabre\\DAV\\Exception\\BadRequest", "We only support VEVENT, VTODO and VJOURNAL components"
        )
    if components[0] not in cal.components:
        raise DavError(
            403,
            "Sabre\\CalDAV\\Exception\\InvalidComponentType",
            f"This calendar only supports {', '.join(cal.components)}. We found a {components[0]}",
        )
    uid_match = _UID.search(text)
    if uid_match is None:
        raise DavError(400, "Sabre\\DAV\\Exception\\BadRequest", "Every object must have a UID")
    uid = uid_match.group(1).strip().split(":")[-1]
    for other_name, other in cal.objects.items():
        other_uid = _UID.search(other.data.decode("utf-8", "replace"))
        if other_name != name and other_uid and other_uid.group(1).strip().split(":")[-1] == uid:
            raise DavError(
                400,
                "Sabre\\DAV\\Exception\\BadRequest",
                "Calendar object with uid already exists in this calendar collection.",
            )


async def _object(ctx: Ctx, uid: str, uri: str, name: str) -> Response:
    state = ctx.state
    with state.lock:
        cal = _calendar(state, uid, uri)
        obj = cal.objects.get(name)
        if ctx.method == "PUT":
            _check_conditions(ctx, obj)
            _validate(cal, name, ctx.body)
            etag = _etag(ctx.body)
            cal.objects[name] = CalendarObject(name=name, data=ctx.body, etag=etag, last_modified=state.now())
            cal.ctag = state.next_ctag()
            status = 204 if obj is not None else 201
            return Response(status_code=status, headers={"ETag": f'"{etag}"'})
        if obj is None:
            raise DavError(404, NOT_FOUND, "Calendar object not found")
        if ctx.method in ("GET", "HEAD"):
            not_modified = _check_conditions(ctx, obj)
            if not_modified is not None:
                return not_modified
            return Response(
                obj.data if ctx.method == "GET" else b"",
                media_type="text/calendar; charset=utf-8",
                headers={"ETag": f'"{obj.etag}"', "Last-Modified": formatdate(obj.last_modified, usegmt=True)},
            )
        if ctx.method == "DELETE":
            _check_conditions(ctx, obj)
            del cal.objects[name]
            cal.ctag = state.next_ctag()
            return Response(status_code=204)
        if ctx.method == "PROPFIND":
            mode, wanted = requested_props(ctx.body)
            return multistatus(
                [_response(f"{PREFIX}{uid}/{uri}/{name}", _object_props(obj), mode, wanted)], CALDAV_NAMESPACES
            )
    raise DavError(
        501,
        "Sabre\\DAV\\Exception\\NotImplemented",
        f"There was no plugin in the system that was willing to handle this {ctx.method} method.",
    )


ROUTES: list[Route] = [
    Route(("*",), r"^/remote\.php/dav/calendars/[^/]+(/.*)?$", calendars_endpoint),
]
