"""Shared plumbing: request context, authentication, parameters, OCS and error rendering.

The OCS envelope follows Nextcloud's ``V1Response``/``V2Response``: v1 answers HTTP 200 (401 for
997) with ``statuscode`` 100 on success, v2 mirrors the HTTP status in ``statuscode``.  The format
is taken from ``?format=`` and otherwise from the ``Accept`` header, with XML as the default.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote
from xml.sax.saxutils import escape

from starlette.requests import Request
from starlette.responses import Response

if TYPE_CHECKING:
    from .runner import NextcloudTestServer
    from .state import ServerState

# OCS status codes with a special meaning (OCSController constants)
RESPOND_UNAUTHORISED = 997
RESPOND_NOT_FOUND = 998
RESPOND_SERVER_ERROR = 996
RESPOND_UNKNOWN_ERROR = 999

NOT_LOGGED_IN = "Current user is not logged in"
INVALID_OCS_QUERY = (
    "Invalid query, please check the syntax. API specifications are here: "
    "http://www.freedesktop.org/wiki/Specifications/open-collaboration-services.\n"
)


# --------------------------------------------------------------------------------------------
# Exceptions that handlers raise; the app turns each into the response of its area
# --------------------------------------------------------------------------------------------


class OCSError(Exception):
    """An ``OCSException``: ``code`` is the status the controller sets (404, 400, 102, 997...)."""

    def __init__(self, code: int, message: str = "", data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data if data is not None else []


class DavError(Exception):
    """A Sabre exception rendered as a ``<d:error>`` document."""

    def __init__(
        self,
        status: int,
        exception: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        extra_xml: str = "",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.exception = exception
        self.message = message
        self.headers = headers or {}
        self.extra_xml = extra_xml


class NotLoggedIn(Exception):
    """No valid credentials for an endpoint that needs a user."""


class CsrfFailed(Exception):
    """An OCS call without ``OCS-APIRequest: true`` (Nextcloud's CSRF check fails)."""


class JsonError(Exception):
    """A plain JSON error (Deck style): ``{"status": ..., "message": ...}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# --------------------------------------------------------------------------------------------
# Request context
# --------------------------------------------------------------------------------------------


@dataclass
class Ctx:
    """What a handler gets: the request, the server state, path captures and parsed params."""

    request: Request
    server: NextcloudTestServer
    match: dict[str, str]
    body: bytes = b""
    _params: dict[str, Any] | None = field(default=None, repr=False)
    _user: str | None = field(default=None, repr=False)
    _auth_done: bool = field(default=False, repr=False)

    @property
    def state(self) -> ServerState:
        """The server's state."""
        return self.server.state

    @property
    def method(self) -> str:
        """HTTP method, upper case."""
        return self.request.method.upper()

    def header(self, name: str, default: str = "") -> str:
        """A request header (case-insensitive)."""
        return self.request.headers.get(name, default)

    # ---- authentication --------------------------------------------------------------------

    def authenticate(self) -> str | None:
        """The user id from HTTP Basic (password or app password) or a Bearer token, or None."""
        if self._auth_done:
            return self._user
        self._auth_done = True
        auth = self.header("authorization")
        scheme, _, value = auth.partition(" ")
        uid: str | None = None
        with self.state.lock:
            if scheme.lower() == "basic":
                try:
                    decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
                except (binascii.Error, UnicodeDecodeError):
                    decoded = ""
                login, sep, password = decoded.partition(":")
                user = self.state.users.get(self.state.logins.get(login, login))
                if sep and user is not None and password in user.passwords:
                    uid = user.uid
            elif scheme.lower() == "bearer":
                uid = self.state.bearer_tokens.get(value.strip())
                if self.state.bearer_expires.get(value.strip(), self.state.now() + 1) <= self.state.now():
                    uid = None  # an OAuth2 access token past its hour
            if uid is not None:
                self.state.users[uid].last_login = self.state.now()
        self._user = uid
        return uid

    def require_user(self) -> str:
        """The authenticated user id; raises :class:`NotLoggedIn` otherwise."""
        uid = self.authenticate()
        if uid is None:
            raise NotLoggedIn()
        return uid

    def require_ocs_header(self) -> None:
        """Nextcloud's CSRF check for OCS controllers: cookie-less API calls need the header."""
        if self.header("ocs-apirequest").lower() != "true" and not self.header("authorization").lower().startswith(
            "bearer "
        ):
            raise CsrfFailed()

    # ---- parameters ------------------------------------------------------------------------

    @property
    def params(self) -> dict[str, Any]:
        """Query string merged with a form or JSON body, like ``IRequest::getParams``."""
        if self._params is None:
            params: dict[str, Any] = {}
            for key, value in parse_qsl(self.request.url.query, keep_blank_values=True):
                _set_param(params, key, value)
            content_type = self.header("content-type").lower()
            if self.body:
                if "json" in content_type:
                    try:
                        decoded = json.loads(self.body)
                    except ValueError:
                        decoded = None
                    if isinstance(decoded, dict):
                        params.update(decoded)
                elif "x-www-form-urlencoded" in content_type:
                    for key, value in parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True):
                        _set_param(params, key, value)
            self._params = params
        return self._params

    def param(self, name: str, default: Any = None) -> Any:
        """One parameter (query, form or JSON)."""
        return self.params.get(name, default)

    def int_param(self, name: str, default: int) -> int:
        """An integer parameter; invalid values fall back to ``default``."""
        value = self.params.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return int(value)
        try:
            return int(value)
        except (TypeError, ValueError):
            return default

    def bool_param(self, name: str, default: bool = False) -> bool:
        """A boolean parameter: true/1/yes are true, false/0/'' are false."""
        value = self.params.get(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, int):
            return value != 0
        return str(value).strip().lower() in ("1", "true", "yes", "on")


def _set_param(params: dict[str, Any], key: str, value: str) -> None:
    """PHP-style parameter decoding: ``a[]=x&a[]=y`` builds a list."""
    if key.endswith("[]"):
        params.setdefault(key[:-2], []).append(value)
    else:
        params[key] = value


def path_segments(raw_path: bytes, prefix_segments: int) -> list[str]:
    """Decoded path segments after the first ``prefix_segments`` raw segments."""
    raw = raw_path.decode("latin-1")
    segments = [unquote(s, encoding="utf-8", errors="replace") for s in raw.split("/")]
    return [s for s in segments[prefix_segments:] if s != ""]


# --------------------------------------------------------------------------------------------
# OCS rendering
# --------------------------------------------------------------------------------------------


def ocs_version(path: str) -> int:
    """1 for ``/ocs/v1.php``, 2 for ``/ocs/v2.php``."""
    return 1 if "/ocs/v1.php" in path else 2


def negotiate_format(request: Request, default: str = "xml") -> str:
    """``?format=`` wins; else the first Accept entry with a json/xml responder; else default."""
    fmt = request.query_params.get("format")
    if fmt in ("json", "xml"):
        return fmt
    for entry in request.headers.get("accept", "").split(","):
        media = entry.split(";")[0].strip()
        if "/" in media:
            subtype = media.split("/", 1)[1]
            if subtype in ("json", "xml"):
                return subtype
    return default


def php_json(data: Any) -> str:
    """``json_encode`` with PHP's default escaping of slashes and non-ASCII characters."""
    return json.dumps(data, separators=(",", ":")).replace("/", "\\/")


def _xml_scalar(value: Any) -> str | None:
    """Text of a scalar as PHP's XMLWriter writes it (None means an empty element)."""
    if value is None:
        return None
    if value is True:
        return "1"
    if value is False:
        return ""
    return escape(str(value))


def _to_xml(data: Any, depth: int, lines: list[str]) -> None:
    """Nextcloud's ``BaseResponse::toXML``: numeric keys become ``element``, one-space indents."""
    items: list[tuple[str, Any]]
    if isinstance(data, dict):
        items = [(str(k) if not str(k).isdigit() else "element", v) for k, v in data.items()]
    else:
        items = [("element", v) for v in data]
    pad = " " * depth
    for key, value in items:
        if isinstance(value, dict | list):
            if not value:
                lines.append(f"{pad}<{key}/>")
            else:
                lines.append(f"{pad}<{key}>")
                _to_xml(value, depth + 1, lines)
                lines.append(f"{pad}</{key}>")
        else:
            text = _xml_scalar(value)
            lines.append(f"{pad}<{key}/>" if text is None else f"{pad}<{key}>{text}</{key}>")


def render_ocs_body(meta: dict[str, Any], data: Any, fmt: str) -> str:
    """The OCS document in JSON or XML."""
    if fmt == "json":
        return php_json({"ocs": {"meta": meta, "data": data}})
    lines = ['<?xml version="1.0"?>', "<ocs>", " <meta>"]
    _to_xml(meta, 2, lines)
    lines.append(" </meta>")
    if isinstance(data, dict | list) and data:
        lines.append(" <data>")
        _to_xml(data, 2, lines)
        lines.append(" </data>")
    elif isinstance(data, dict | list) or data is None:
        lines.append(" <data/>")
    else:
        lines.append(f" <data>{_xml_scalar(data)}</data>")
    lines.append("</ocs>")
    return "\n".join(lines) + "\n"


def ocs_response(
    request: Request,
    data: Any,
    code: int = 200,
    message: str = "",
    headers: dict[str, str] | None = None,
) -> Response:
    """Wrap ``data`` in the OCS envelope for the API version and format of ``request``."""
    version = ocs_version(request.url.path)
    fmt = negotiate_format(request)
    if version == 1:
        http_status = 401 if code == RESPOND_UNAUTHORISED else 200
        statuscode = 100 if code == 200 else code
        meta: dict[str, Any] = {
            "status": "ok" if statuscode == 100 else "failure",
            "statuscode": statuscode,
            "message": "OK" if statuscode == 100 else message,
            "totalitems": "",
            "itemsperpage": "",
        }
    else:
        if code == RESPOND_UNAUTHORISED:
            http_status = 401
        elif code == RESPOND_NOT_FOUND:
            http_status = 404
        elif code in (RESPOND_SERVER_ERROR, RESPOND_UNKNOWN_ERROR):
            http_status = 500
        elif code < 200 or code > 600:
            http_status = 400
        else:
            http_status = code
        ok = 200 <= code < 300
        meta = {"status": "ok" if ok else "failure", "statuscode": code, "message": "OK" if ok else message}
    if http_status == 304:
        return Response(status_code=304, headers=headers)
    body = render_ocs_body(meta, data, fmt)
    media = "application/json; charset=utf-8" if fmt == "json" else "application/xml; charset=utf-8"
    return Response(body, status_code=http_status, headers=headers, media_type=media)


# --------------------------------------------------------------------------------------------
# DAV helpers
# --------------------------------------------------------------------------------------------

NS_PREFIXES: dict[str, str] = {
    "DAV:": "d",
    "http://sabredav.org/ns": "s",
    "http://owncloud.org/ns": "oc",
    "http://nextcloud.org/ns": "nc",
    "urn:ietf:params:xml:ns:caldav": "cal",
    "http://calendarserver.org/ns/": "cs",
}
FILES_NAMESPACES = ("DAV:", "http://sabredav.org/ns", "http://owncloud.org/ns", "http://nextcloud.org/ns")
CALDAV_NAMESPACES = (
    "DAV:",
    "http://sabredav.org/ns",
    "urn:ietf:params:xml:ns:caldav",
    "http://calendarserver.org/ns/",
    "http://owncloud.org/ns",
    "http://nextcloud.org/ns",
)

_UNRESERVED = re.compile(r"[^A-Za-z0-9_\-.~()/:@]")


def encode_dav_path(path: str) -> str:
    """Sabre's ``encodePath``: percent-encode with lower-case hex, keeping ``()/:@``."""
    return _UNRESERVED.sub(lambda m: "".join(f"%{b:02x}" for b in m.group(0).encode("utf-8")), path)


def dav_error_body(exception: str, message: str, extra_xml: str = "") -> str:
    """Sabre's error document."""
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<d:error xmlns:d="DAV:" xmlns:s="http://sabredav.org/ns">\n'
        f"  <s:exception>{escape(exception)}</s:exception>\n"
        f"  <s:message>{escape(message)}</s:message>\n"
        f"{extra_xml}"
        "</d:error>\n"
    )


def dav_error_response(error: DavError) -> Response:
    """A Sabre-style error response."""
    return Response(
        dav_error_body(error.exception, error.message, error.extra_xml),
        status_code=error.status,
        headers=error.headers,
        media_type="application/xml; charset=utf-8",
    )


def dav_not_authenticated(has_credentials: bool) -> Response:
    """The 401 Nextcloud's DAV server sends (NotAuthenticated, Basic challenge)."""
    basic_missing = (
        "No 'Authorization: Basic' header found. Either the client didn't send one, or the server is misconfigured"
    )
    if has_credentials:
        message = f"No public access to this resource., Username or password was incorrect, {basic_missing}"
    else:
        message = f"No public access to this resource., {basic_missing}, {basic_missing}"
    return Response(
        dav_error_body("Sabre\\DAV\\Exception\\NotAuthenticated", message),
        status_code=401,
        headers={"WWW-Authenticate": 'Basic realm="Nextcloud", charset="UTF-8"'},
        media_type="application/xml; charset=utf-8",
    )


def multistatus(responses: list[str], namespaces: tuple[str, ...] = FILES_NAMESPACES) -> Response:
    """A 207 Multi-Status document with Sabre's namespace prefixes."""
    decl = " ".join(f'xmlns:{NS_PREFIXES[ns]}="{ns}"' for ns in namespaces)
    body = f'<?xml version="1.0"?>\n<d:multistatus {decl}>' + "".join(responses) + "</d:multistatus>\n"
    return Response(body, status_code=207, media_type="application/xml; charset=utf-8")


def split_clark(clark: str) -> tuple[str, str]:
    """``{ns}local`` → (ns, local)."""
    if clark.startswith("{"):
        ns, local = clark[1:].split("}", 1)
        return ns, local
    return "", clark


def prop_tag(clark: str) -> tuple[str, str]:
    """The prefixed tag for a property, plus an ``xmlns`` declaration when the namespace is unknown."""
    ns, local = split_clark(clark)
    prefix = NS_PREFIXES.get(ns)
    if prefix is not None:
        return f"{prefix}:{local}", ""
    return f"x1:{local}", f' xmlns:x1="{escape(ns)}"'


def prop_xml(clark: str, inner: str | None) -> str:
    """One property element: empty when ``inner`` is None or ''."""
    tag, decl = prop_tag(clark)
    if not inner:
        return f"<{tag}{decl}/>"
    return f"<{tag}{decl}>{inner}</{tag}>"


def propstat_response(href: str, found: list[tuple[str, str | None]], missing: list[str], extra: str = "") -> str:
    """A ``<d:response>`` with a 200 propstat for ``found`` and a 404 propstat for ``missing``."""
    parts = [f"<d:response><d:href>{escape(href)}</d:href>"]
    if found:
        parts.append("<d:propstat><d:prop>")
        parts.extend(prop_xml(clark, inner) for clark, inner in found)
        parts.append("</d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat>")
    if missing:
        parts.append("<d:propstat><d:prop>")
        parts.extend(prop_xml(clark, None) for clark in missing)
        parts.append("</d:prop><d:status>HTTP/1.1 404 Not Found</d:status></d:propstat>")
    parts.append(extra)
    parts.append("</d:response>")
    return "".join(parts)


def requested_props(body: bytes) -> tuple[str, list[str]]:
    """Parse a PROPFIND body: ('prop', [clark...]), ('allprop', []) or ('propname', [])."""
    from xml.etree import ElementTree

    if not body.strip():
        return "allprop", []
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError as exc:
        message = f"The request body had an invalid XML body. ({exc})"
        raise DavError(400, "Sabre\\DAV\\Exception\\BadRequest", message) from None
    for child in root:
        if child.tag == "{DAV:}prop":
            return "prop", [prop.tag for prop in child]
        if child.tag == "{DAV:}propname":
            return "propname", []
    return "allprop", []


def serialize_inner(element: Any) -> str:
    """Serialise the children/text of an ElementTree element with Sabre's prefixes."""
    parts: list[str] = [escape(element.text or "")] if (element.text or "").strip() else []
    for child in element:
        tag, decl = prop_tag(child.tag)
        inner = serialize_inner(child)
        parts.append(f"<{tag}{decl}>{inner}</{tag}>" if inner else f"<{tag}{decl}/>")
    return "".join(parts)
