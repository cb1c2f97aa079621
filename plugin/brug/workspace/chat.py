"""The desired chat workspace of a partnership: rooms, who is in them, the pinned overview.

Platform-neutral: the Matrix adapter (and later Talk) turns it into spaces, rooms and invites.
"""

from __future__ import annotations

from dataclasses import dataclass

from brug.domain.partnership import Partnership
from brug.domain.workflow import PhaseModel


@dataclass(frozen=True)
class RoomPlan:
    key: str
    name: str
    topic: str


@dataclass(frozen=True)
class ChatWorkspace:
    partnership: Partnership
    space_name: str
    space_topic: str
    rooms: list[RoomPlan]
    members: dict[str, bool]  # the platform's user id -> is a coordinator
    overview: str  # the pinned overview, Markdown


def member_ids(p: Partnership, platform: str) -> dict[str, bool]:
    """The members who have an id on this chat platform, and whether they coordinate."""
    out: dict[str, bool] = {}
    for _, m in p.members:
        user = {"matrix": m.matrix, "nextcloud": m.nextcloud}.get(platform)
        if user:
            out[user] = out.get(user, False) or m.coordinator
    return out


def chat_workspace(p: Partnership, model: PhaseModel, overview: str, platform: str) -> ChatWorkspace:
    language = p.language
    index = model.index(p.phase)
    label = "fase" if language == "nl" else "phase"
    where = f"{label} {index + 1}/{len(model.phases)}: {model.phase(p.phase).title(language)}"
    rooms = [RoomPlan(r.id, f"{p.name} · {r.name(language)}", f"{r.topic(language)} — {where}") for r in model.rooms]
    return ChatWorkspace(p, p.name, where, rooms, member_ids(p, platform), overview)
