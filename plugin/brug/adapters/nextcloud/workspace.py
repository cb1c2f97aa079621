"""Everything around a partnership's Nextcloud folder: its Team and share, its Deck board, its calendar."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from brug.adapters.nextcloud.files import NextcloudFiles
from brug.adapters.nextcloud.sharing import NextcloudSharing
from brug.domain.partnership import Partnership
from brug.domain.workflow import PhaseModel
from brug.meetings import open_actions
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
        return self.sharing.pending(p)

    async def provision(self, p: Partnership, model: PhaseModel, now: datetime) -> list[str]:
        """Team, share, Deck and calendar as they should be; returns what changed and what is pending."""
        lines: list[str] = []
        report = await self.sharing.reconcile(p, self.files.folder(p.id))
        lines += report.done + [f"pending: {line}" for line in report.pending]
        team = self.store.resource(p.id, PLATFORM, "team", "")
        if self.deck is not None:
            lines += await self.deck.reconcile(p, model, team.ref if team else None, open_actions(self.store, p.id))
        if self.calendar is not None:
            meetings = Layout(p.language).meetings
            link = self.files.href(p.id, meetings / "").rsplit("&scrollto=", 1)[0]
            lines += await self.calendar.reconcile(p, now, link)
        return lines
