"""The variables every template gets (see docs/templates.md): a read-only view of a partnership."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from brug.content.library import Library
from brug.domain.agreement import parties
from brug.domain.partnership import Member, Organisation, Partnership
from brug.domain.rhythm import describe_rule
from brug.domain.types import Language
from brug.domain.workflow import Phase, PhaseModel


@dataclass(frozen=True)
class MemberView:
    key: str
    name: str
    role: str
    organisation: str
    mandate: str
    actor: str
    coordinator: bool
    contact: bool


@dataclass(frozen=True)
class OrganisationView:
    id: str
    name: str
    kind_label: str
    sector: str
    added_value: str | None
    engagements: list[str]
    members: list[MemberView]


@dataclass(frozen=True)
class GroupView:
    """Partners as documents list them: one organisation, or (in a large partnership) all organisations
    of one kind under one heading, "Basisscholen (26)" — the same grouping as the agreement's parties."""

    name: str
    grouped: bool
    organisations: list[OrganisationView]


@dataclass(frozen=True)
class MeetingsView:
    rhythm: str | None
    duration_minutes: int
    location: str | None
    lead_days: int
    next: list[datetime]


@dataclass(frozen=True)
class ReflectionView:
    rhythm: str
    pulse: bool
    skip_school_holidays: bool


@dataclass(frozen=True)
class Link:
    title: str
    href: str


def member_view(org: Organisation, m: Member) -> MemberView:
    return MemberView(
        key=m.key,
        name=m.name,
        role=m.role,
        organisation=org.name,
        mandate=m.mandate.value,
        actor=m.actor.value,
        coordinator=m.coordinator,
        contact=m.contact,
    )


def common_context(
    p: Partnership, library: Library, now: datetime, links: list[Link], upcoming: int = 3
) -> dict[str, Any]:
    """Everything a template may use about the partnership, as of the moment `now`."""
    language = p.language
    model: PhaseModel = library.phase_models[p.workflow]
    orgs = [
        OrganisationView(
            id=o.id,
            name=o.name,
            kind_label=o.kind_other or library.kinds[o.kind].label(language)
            if o.kind == "andere"
            else library.kinds[o.kind].label(language),
            sector=library.kinds[o.kind].sector.value,
            added_value=o.added_value,
            engagements=list(o.engagements),
            members=[member_view(o, m) for m in o.members],
        )
        for o in p.organisations
    ]
    members = [m for o in orgs for m in o.members]
    by_key = {m.key: m for m in members}
    views = {o.id: o for o in orgs}
    groups = [
        GroupView(party.name, party.grouped, [views[o.id] for o in party.organisations])
        for party in parties(p, lambda kind, n: _group_name(library, language, kind, n))
    ]
    meetings = None
    if p.meetings is not None:
        rhythm = describe_rule(p.meetings.rrule, p.meetings.start, language) if p.meetings.rrule else None
        meetings = MeetingsView(
            rhythm=rhythm,
            duration_minutes=p.meetings.duration_minutes,
            location=p.meetings.location,
            lead_days=p.meetings.agenda_lead_days,
            next=p.meeting_times(now, upcoming),
        )
    reflection = None
    if p.reflection is not None:
        reflection = ReflectionView(
            rhythm=describe_rule(p.reflection.rrule, p.reflection.start, language),
            pulse=p.reflection.pulse,
            skip_school_holidays=p.reflection.skip_school_holidays,
        )
    current: Phase = model.phase(p.phase)
    return {
        "partnership": p,
        "organisations": orgs,
        "groups": groups,
        "grouped": any(g.grouped for g in groups),
        "members": members,
        "coordinators": [m for m in members if m.coordinator],
        "tandems": [[by_key[a], by_key[b]] for a, b in p.tandems],
        "workflow": model,
        "current_phase": current,
        "current_phase_number": model.index(p.phase) + 1,
        "phase_count": len(model.phases),
        "bouwstenen": library.bouwstenen,
        "meetings": meetings,
        "reflection": reflection,
        "agreement": p.agreement,
        "links": links,
    }


def _group_name(library: Library, language: Language, kind: str, count: int) -> str:
    info = library.kinds[kind]
    return f"{(info.plural or info.label)(language)} ({count})"


def with_extra(context: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
    return {**context, **extra}
