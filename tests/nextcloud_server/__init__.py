"""A protocol-faithful local Nextcloud test server (OCS, WebDAV, sharing, Teams, Talk, Deck, CalDAV, the OAuth2 login flow).

Built from recorded real Nextcloud traffic and the official OpenAPI specs in
``shared/contracts/nextcloud``; see ``NextcloudTestServer`` for the test hooks.
"""

from .runner import NextcloudTestServer, serve_asgi
from .state import ServerState
from .versions import RELEASES, SUPPORTED

__all__ = ["RELEASES", "SUPPORTED", "NextcloudTestServer", "ServerState", "serve_asgi"]
