"""Everything around a partnership's Nextcloud folder: its Team and share, its Deck board, its calendar.

Each part stands on its own: when Nextcloud refuses one (Teams off, a limit reached, Deck gone), the
refusal is reported as pending and the other parts are still made.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from brug.adapters.nextcloud.files import NextcloudFiles
from brug.adapters.nextcloud.sharing import NextcloudSharing
from brug.app.meetings import open_actions
from brug.domain.partnership import Partnership
from brug.domain.workflow import PhaseModel
from brug.ports import PlatformError
from brug.store import Store
from brug.workspace.layout import Layout

if TYPE_CHECKING:
    from brug.adapters.nextcloud.calendar import NextcloudCalendar
    from brug.adapters.nextcloud.deck import NextcloudDeck

PLATFORM = "nextcloud"


class NextcloudWorkspace:
    platform = PLATFORM

    def __init__(
        self,
        files: NextcloudFiles,
        sharing: NextcloudSharing,
        deck: NextcloudDeck | None,
        calendar: NextcloudCalendar | None,
        store: Store,
    ) -> None:
        self.files = files
        self.sharing = sharing
        self.deck = deck
        self.calendar = calendar
        self.store = store

    def pending(self, p: Partnership) -> list[str]:
        return self.sharing.pending(p) + (self.calendar.pending(p) if self.calendar is not None else [])

    async def provision(self, p: Partnership, model: PhaseModel, now: datetime) -> list[str]:
        """Team, share, Deck and calendar as they should be; returns what changed and what is pending."""
        lines: list[str] = []
        try:
            report = await self.sharing.reconcile(p, self.files.folder(p.id))
            lines += report.done + [f"pending: {line}" for line in report.pending]
        except PlatformError as err:
            lines.append(f"pending: Team and share: {err}")
        team = self.store.resource(p.id, PLATFORM, "team", "")
        if self.deck is not None:
            try:
                users = [] if team is not None else await self.sharing.local_members(p)
                lines += await self.deck.reconcile(
                    p, model, team.ref if team else None, open_actions(self.store, p.id), users
                )
            except PlatformError as err:
                lines.append(f"pending: Deck: {err}")
        if self.calendar is not None:
            meetings = Layout(p.language).meetings
            link = self.files.href(p.id, meetings / "").rsplit("&scrollto=", 1)[0]
            try:
                lines += await self.calendar.reconcile(p, now, link)
            except PlatformError as err:
                lines.append(f"pending: calendar: {err}")
        return lines
