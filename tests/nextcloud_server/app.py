"""The ASGI application: routing, error rendering per API area, and the request log."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Message, Receive, Scope, Send

from . import caldav, deck, oauth2, ocs, sharing, talk, teams, webdav
from .common import (
    INVALID_OCS_QUERY,
    NOT_LOGGED_IN,
    RESPOND_NOT_FOUND,
    RESPOND_SERVER_ERROR,
    RESPOND_UNAUTHORISED,
    CsrfFailed,
    Ctx,
    DavError,
    JsonError,
    NotLoggedIn,
    OCSError,
    dav_error_response,
    dav_not_authenticated,
    ocs_response,
    ocs_version,
)
from .routing import Route

if TYPE_CHECKING:
    from .runner import NextcloudTestServer

ROUTES: list[Route] = [
    *ocs.ROUTES,
    *oauth2.ROUTES,
    *sharing.ROUTES,
    *teams.ROUTES,
    *talk.ROUTES,
    *deck.ROUTES,
    *caldav.ROUTES,
    *webdav.ROUTES,
]


def _area(path: str) -> str:
    if path.startswith("/ocs/"):
        return "ocs"
    if path.startswith("/remote.php/dav"):
        return "dav"
    return "json"


def render_error(ctx: Ctx, exc: Exception) -> Response:
    """Turn a handler exception into the response Nextcloud gives in that API area."""
    path = ctx.request.url.path
    area = _area(path)
    if isinstance(exc, NotLoggedIn):
        if area == "ocs":
            return ocs_response(ctx.request, [], RESPOND_UNAUTHORISED, NOT_LOGGED_IN)
        if area == "dav":
            return dav_not_authenticated(bool(ctx.header("authorization")))
        return JSONResponse({"message": NOT_LOGGED_IN}, status_code=401)
    if isinstance(exc, CsrfFailed):
        return JSONResponse({"message": "CSRF check failed"}, status_code=412)
    if isinstance(exc, OCSError):
        return ocs_response(ctx.request, exc.data, exc.code, exc.message)
    if isinstance(exc, DavError):
        return dav_error_response(exc)
    if isinstance(exc, JsonError):
        return JSONResponse({"status": exc.status, "message": exc.message}, status_code=exc.status)
    raise exc


def not_found(request: Request) -> Response:
    """What an unknown route answers."""
    path = request.url.path
    area = _area(path)
    if area == "ocs":
        code = RESPOND_NOT_FOUND if ocs_version(path) == 1 else 404
        return ocs_response(request, [], code, INVALID_OCS_QUERY)
    if area == "dav":
        return dav_error_response(DavError(404, "Sabre\\DAV\\Exception\\NotFound", "File not found"))
    return Response("Page not found", status_code=404, media_type="text/html; charset=UTF-8")


def fault_response(request: Request, status: int) -> Response:
    """An injected error as Nextcloud answers it: an OCS envelope on /ocs/ (a server error is OCS's 996,
    HTTP 500), Sabre's error document on DAV, and otherwise the JSON error of the app framework."""
    path = request.url.path
    area = _area(path)
    messages = {403: "Forbidden", 404: "Not found", 500: "Internal Server Error", 503: "Service Unavailable"}
    message = messages.get(status, "")
    if area == "ocs":
        code = RESPOND_SERVER_ERROR if status == 500 else status
        if ocs_version(path) == 1 and status == 404:
            code = RESPOND_NOT_FOUND
        return ocs_response(request, [], code, message)
    if area == "dav":
        return dav_error_response(DavError(status, "Sabre\\DAV\\Exception", message))
    return JSONResponse({"message": message}, status_code=status)


class NextcloudApp:
    """ASGI callable bound to one :class:`NextcloudTestServer`."""

    def __init__(self, server: NextcloudTestServer) -> None:
        self.server = server

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        logged = False

        async def send_logged(message: Message) -> None:
            nonlocal logged
            if message["type"] == "http.response.start" and not logged:
                # log before the client can see the answer, so tests read a complete log
                logged = True
                self.server.log_request(request.method.upper(), request.url.path, message["status"])
            await send(message)

        try:
            response = await self.dispatch(request)
            await response(scope, receive, send_logged)
        finally:
            if not logged:
                self.server.log_request(request.method.upper(), request.url.path, 0)

    async def dispatch(self, request: Request) -> Response:
        """Find the route, read the body, run the handler and render its errors."""
        path = request.url.path
        method = request.method.upper()
        app = path.split("/apps/", 1)[1].split("/", 1)[0] if "/apps/" in path else None
        if app is not None and app in self.server.disabled_apps:  # a disabled app has no routes
            return not_found(request)
        fault = self.server.take_fault(method, path)
        if fault is not None:
            return fault_response(request, fault.status)
        matched = [(route, m) for route in ROUTES if (m := route.regex.match(path))]
        if not matched:
            return not_found(request)
        for route, match in matched:
            if route.accepts(method):
                ctx = Ctx(request=request, server=self.server, match=match.groupdict(), body=await request.body())
                try:
                    return await route.handler(ctx)
                except (NotLoggedIn, CsrfFailed, OCSError, DavError, JsonError) as exc:
                    return render_error(ctx, exc)
        if _area(path) == "ocs":
            return not_found(request)
        return Response("Method Not Allowed", status_code=405, media_type="text/html; charset=UTF-8")
