"""Deck: one board per partnership with a stack per phase reached, checklist cards and action cards.

brug only ever *creates* on the board. Cards and stacks belong to the partners once they are there:
they move, rename, archive or delete them as they like, and brug never touches them again. What brug
made is remembered in the store (kind ``deck-board``, ``deck-share``, ``deck-stack``, ``deck-card``),
so a second run makes no requests at all when nothing new is wanted. When something is missing from
the store (a first run, or a run that stopped between creating and remembering), brug first looks on
the board for an item with the same title before it creates one, so a crash never leaves doubles.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, time
from typing import Any, NamedTuple

from brug.adapters.nextcloud.client import NextcloudClient, NextcloudError
from brug.domain.agenda import OpenAction
from brug.domain.partnership import Partnership
from brug.domain.types import Text
from brug.domain.workflow import Phase, PhaseModel
from brug.store import Store

log = logging.getLogger(__name__)

PLATFORM = "nextcloud"
API = "/index.php/apps/deck/api/v1.0"
BOARD_COLOR = "0082c9"
ACL_USER, ACL_CIRCLE = 0, 7
ACTIONS = "acties"  # the store key of the actions stack
ACTIONS_ORDER = 100  # after every phase stack, also the ones reached later
DUE_TIME = time(17, 0)
BOARD_TITLE_MAX, STACK_TITLE_MAX, CARD_TITLE_MAX = 100, 100, 255

ACTIONS_TITLE = Text(nl="Acties", en="Actions")
FROM_GUIDE = Text(
    nl="Uit de checklist in de fasegids van fase {number}: {phase}",
    en="From the checklist in the phase guide of phase {number}: {phase}",
)
ACTION_WHO = Text(nl="**Wie:** {who}", en="**Who:** {who}")
ACTION_NOBODY = Text(nl="nog niet afgesproken", en="not agreed yet")
ACTION_FOOTER = Text(
    nl="Actie {number} in brug. Is ze klaar? Vink ze dan ook in de chat af met `!klaar {number}`.",
    en="Action {number} in brug. Done? Then also tick it off in the chat with `!done {number}`.",
)


class _Card(NamedTuple):
    key: str  # in the store: "<phase>/<checklist item>" or "actie/<number>"
    title: str
    description: str
    due: str | None
    order: int


class NextcloudDeck:
    def __init__(self, client: NextcloudClient, store: Store) -> None:
        self.client = client
        self.store = store

    async def reconcile(
        self,
        p: Partnership,
        model: PhaseModel,
        team_id: str | None,
        open_actions: list[OpenAction],
        users: Sequence[str] = (),
    ) -> list[str]:
        """Create what is missing on the partnership's board; returns one line per change.

        The board is shared with the Team, or, where there is no Team (Teams off), with `users`.
        """
        run = _Run(self.client, self.store, p)
        board = await run.board()
        if team_id:
            await run.share(board, team_id)
        for user in users:
            await run.share(board, user, ACL_USER)
        reached = model.reached(p.phase) if model.has_phase(p.phase) else []
        for number, phase in enumerate(reached, start=1):
            await run.stack(board, phase.id, f"{number}. {phase.title(p.language)}", number)
        actions_stack = await run.stack(board, ACTIONS, ACTIONS_TITLE(p.language), ACTIONS_ORDER)
        if reached:
            current = reached[-1]
            await run.phase_cards(board, current, len(reached))
        await run.action_cards(board, actions_stack, open_actions)
        return run.lines


class _Run:
    """One reconcile of one partnership: the lines it reports and what it read from the server."""

    def __init__(self, client: NextcloudClient, store: Store, p: Partnership) -> None:
        self.client = client
        self.store = store
        self.p = p
        self.lines: list[str] = []
        self._stacks: list[dict[str, Any]] | None = None  # the board's stacks with cards, read once if needed
        self.board_gone = False  # the board answered 403/404: brug leaves it alone for this run
        self.stacks_gone: set[str] = set()  # lists a partner deleted

    # --- store -------------------------------------------------------------------------------------------

    def _ref(self, kind: str, key: str) -> str | None:
        found = self.store.resource(self.p.id, PLATFORM, kind, key)
        return found.ref if found else None

    def _remember(self, kind: str, key: str, ref: object) -> None:
        self.store.put_resource(self.p.id, PLATFORM, kind, key, str(ref))

    def _known_refs(self, kind: str) -> set[str]:
        """Refs of this kind brug already uses, for any partnership: never adopt those a second time."""
        return {r.ref for r in self.store.resources(PLATFORM, kind)}

    # --- board -------------------------------------------------------------------------------------------

    async def board(self) -> str:
        known = self._ref("deck-board", "")
        if known is not None:
            return known
        title = _clip(self.p.name, BOARD_TITLE_MAX)
        taken = self._known_refs("deck-board")
        me = await self.client.identity()
        boards = await self.client.json("GET", f"{API}/boards")
        found = next(
            (
                b
                for b in boards
                if b.get("title") == title
                and _owner(b) == me
                and not b.get("deletedAt")
                and not b.get("archived")
                and str(b.get("id")) not in taken
            ),
            None,
        )
        if found is None:
            found = await self.client.json("POST", f"{API}/boards", {"title": title, "color": BOARD_COLOR})
            self.lines.append(f"Deck: board '{title}' created")
            log.info("%s: created Deck board %s", self.p.id, found["id"])
        self._remember("deck-board", "", found["id"])
        return str(found["id"])

    async def share(self, board: str, team_id: str, kind: int = ACL_CIRCLE) -> None:
        key = team_id if kind == ACL_CIRCLE else f"user:{team_id}"
        if self._ref("deck-share", key) is not None:
            return
        body = {
            "type": kind,
            "participant": team_id,
            "permissionEdit": True,
            "permissionShare": False,
            "permissionManage": False,
        }
        try:
            details = await self.client.json("GET", f"{API}/boards/{board}")
            acl = next(
                (a for a in details.get("acl") or [] if a.get("type") == kind and _participant(a) == team_id),
                None,
            )
            if acl is None:
                acl = await self.client.json("POST", f"{API}/boards/{board}/acl", body)
                if isinstance(acl, list):  # Deck's documentation shows a list with the one new rule
                    acl = acl[0]
                self.lines.append(f"Deck: board shared with {'team' if kind == ACL_CIRCLE else 'user'} {team_id}")
        except NextcloudError as err:
            if err.status not in (400, 403, 404):
                raise
            whom = f"{'team' if kind == ACL_CIRCLE else 'user'} {team_id}"
            self.lines.append(f"Deck: could not share the board with {whom} ({err}); trying again next run")
            return
        self._remember("deck-share", key, acl.get("id", ""))

    # --- stacks and cards --------------------------------------------------------------------------------

    async def _listing(self, board: str) -> list[dict[str, Any]]:
        if self._stacks is None:
            self._stacks = await self.client.json("GET", f"{API}/boards/{board}/stacks")
        return self._stacks

    async def stack(self, board: str, key: str, title: str, order: int) -> str | None:
        known = self._ref("deck-stack", key)
        if known is not None or self.board_gone:
            return known
        title = _clip(title, STACK_TITLE_MAX)
        taken = self._known_refs("deck-stack")
        try:
            listing = await self._listing(board)
            found = next((s for s in listing if s.get("title") == title and str(s.get("id")) not in taken), None)
            if found is None:
                found = await self.client.json("POST", f"{API}/boards/{board}/stacks", {"title": title, "order": order})
                found.setdefault("cards", [])
                listing.append(found)
                self.lines.append(f"Deck: list '{title}' created")
        except NextcloudError as err:
            if err.status not in (403, 404):
                raise
            self._board_gone(board, err)
            return None
        self._remember("deck-stack", key, found["id"])
        return str(found["id"])

    async def phase_cards(self, board: str, phase: Phase, number: int) -> None:
        stack = self._ref("deck-stack", phase.id)
        if stack is None:
            return
        language = self.p.language
        note = FROM_GUIDE(language).format(number=number, phase=phase.title(language))
        wanted = [
            _Card(f"{phase.id}/{item.id}", item.text(language), note, None, order)
            for order, item in enumerate(phase.checklist)
        ]
        made = await self._cards(board, stack, wanted)
        if made:
            self.lines.append(f"Deck: {made} checklist card(s) for phase {number} created")

    async def action_cards(self, board: str, stack: str | None, actions: list[OpenAction]) -> None:
        if stack is None:
            return
        language = self.p.language
        wanted: list[_Card] = []
        for action in actions:
            text = _clip(action.text, CARD_TITLE_MAX)
            parts = [ACTION_WHO(language).format(who=action.who or ACTION_NOBODY(language))]
            if text != action.text:
                parts.append(action.text)
            parts.append(ACTION_FOOTER(language).format(number=action.number))
            due = None
            if action.due is not None:
                due = datetime.combine(action.due, DUE_TIME, tzinfo=self.p.zone).isoformat()
            wanted.append(_Card(f"actie/{action.number}", text, "\n\n".join(parts), due, action.number))
        made = await self._cards(board, stack, wanted)
        if made:
            self.lines.append(f"Deck: {made} action card(s) created")

    async def _cards(self, board: str, stack: str, wanted: list[_Card]) -> int:
        """Create the cards not yet in the store (or found in the stack by title); how many were created."""
        missing = [card for card in wanted if self._ref("deck-card", card.key) is None]
        if not missing or self.board_gone or stack in self.stacks_gone:
            return 0
        taken = self._known_refs("deck-card")
        made = 0
        try:
            listing = await self._listing(board)
            entry = next((s for s in listing if str(s.get("id")) == stack), None)
            if entry is None:  # a partner deleted the list: leave it that way
                self.stacks_gone.add(stack)
                self.lines.append(f"Deck: list {stack} is no longer on the board; brug adds no cards to it")
                return 0
            if entry.get("cards") is None:
                entry["cards"] = []
            cards: list[dict[str, Any]] = entry["cards"]
            for card in missing:
                title = _clip(card.title, CARD_TITLE_MAX)
                found = next((c for c in cards if c.get("title") == title and str(c.get("id")) not in taken), None)
                if found is None:
                    body: dict[str, Any] = {
                        "title": title,
                        "type": "plain",
                        "order": card.order,
                        "description": card.description,
                    }
                    if card.due is not None:
                        body["duedate"] = card.due
                    found = await self.client.json("POST", f"{API}/boards/{board}/stacks/{stack}/cards", body)
                    cards.append(found)
                    made += 1
                self._remember("deck-card", card.key, found["id"])
                taken.add(str(found["id"]))
        except NextcloudError as err:
            if err.status not in (403, 404):
                raise
            self._board_gone(board, err)
        return made

    def _board_gone(self, board: str, err: NextcloudError) -> None:
        if not self.board_gone:
            self.board_gone = True
            self.lines.append(f"Deck: board {board} can no longer be changed ({err}); brug leaves it as it is")


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _owner(board: dict[str, Any]) -> str | None:
    owner = board.get("owner")
    return owner.get("uid") if isinstance(owner, dict) else owner


def _participant(acl: dict[str, Any]) -> str | None:
    participant = acl.get("participant")
    return participant.get("uid") if isinstance(participant, dict) else participant
