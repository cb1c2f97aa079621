"""A protocol-faithful local Nextcloud test server (OCS, WebDAV, sharing, Teams, Talk, Deck, CalDAV).

Built from recorded real Nextcloud traffic and the official OpenAPI specs in
``shared/contracts/nextcloud``; see ``NextcloudTestServer`` for the test hooks.
"""

from .runner import NextcloudTestServer
from .state import ServerState

__all__ = ["NextcloudTestServer", "ServerState"]
