"""The desired chat workspace of a partnership: rooms, who is in them, the pinned overview.

Platform-neutral: the Matrix adapter (and later Talk) turns it into spaces, rooms and invites.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from brug.domain.partnership import Actor, Partnership
from brug.domain.workflow import PhaseModel


@dataclass(frozen=True)
class RoomPlan:
    key: str
    name: str
    topic: str
    members: dict[str, bool] | None = None  # who belongs in this room; None: every member of the partnership


@dataclass(frozen=True)
class ChatWorkspace:
    partnership: Partnership
    space_name: str
    space_topic: str
    rooms: list[RoomPlan]
    members: dict[str, bool]  # the platform's user id -> is a coordinator
    overview: str  # the pinned overview, Markdown


def member_ids(p: Partnership, platform: str, actors: Collection[Actor] | None = None) -> dict[str, bool]:
    """The members who have an id on this chat platform (of these actor types), and whether they coordinate.

    A coordinator is in every room, whatever their actor type."""
    out: dict[str, bool] = {}
    for _, m in p.members:
        if actors is not None and m.actor not in actors and not m.coordinator:
            continue
        user = {"matrix": m.matrix, "nextcloud": m.nextcloud}.get(platform)
        if user:
            out[user] = out.get(user, False) or m.coordinator
    return out


def chat_workspace(p: Partnership, model: PhaseModel, overview: str, platform: str) -> ChatWorkspace:
    language = p.language
    index = model.index(p.phase)
    label = "fase" if language == "nl" else "phase"
    where = f"{label} {index + 1}/{len(model.phases)}: {model.phase(p.phase).title(language)}"
    everyone = member_ids(p, platform)
    rooms = [
        RoomPlan(
            r.id,
            f"{p.name} · {r.name(language)}",
            f"{r.topic(language)} — {where}",
            _only(member_ids(p, platform, r.actors), everyone),
        )
        for r in model.rooms
    ]
    return ChatWorkspace(p, p.name, where, rooms, everyone, overview)


def _only(members: dict[str, bool], everyone: dict[str, bool]) -> dict[str, bool] | None:
    """A room's own member list, or None when that is everyone (the room then admits the whole space)."""
    return None if members == everyone else members
