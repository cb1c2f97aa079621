"""What the agreement templates get: the form's sections, the parties, and the state of sign-off.

The agreement document depends only on the partnership file and the form (never on the clock or on
who signed), so a partner's edits are never pushed aside by something that merely moved in time.
What moves — versions, sign-offs, the review date — goes into the status document brug owns.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from brug.content.context import MemberView, OrganisationView
from brug.content.library import Library
from brug.domain.agreement import (
    AgreementStatus,
    OrganisationStatus,
    Overall,
    Renewal,
    Version,
    agreement_status,
    deciders,
    must_sign,
    parties,
    review_date,
)
from brug.domain.partnership import Partnership


@dataclass(frozen=True)
class PartyView:
    key: str
    name: str
    grouped: bool
    organisations: list[OrganisationView]
    members: list[MemberView]
    deciders: list[MemberView]
    contacts: list[MemberView]
    signing: list[OrganisationView]  # the organisations of this party that sign


@dataclass(frozen=True)
class ApprovalView:
    name: str
    must_sign: bool
    deciders: tuple[str, ...]


@dataclass(frozen=True)
class AgreementState:
    """The agreement as brug last saw it, with what follows from it (computed by the service)."""

    status: AgreementStatus
    versions: list[Version]
    renewal: Renewal
    review: date | None
    remind: bool  # the review is four weeks away (or just passed): agenda item and one reminder


def with_first_draft(p: Partnership, state: AgreementState, sha256: str, now: datetime) -> AgreementState:
    """Before brug has seen any version, the draft it is about to write is version 1 (so the status
    document is right the first time, not one apply later)."""
    if state.versions:
        return state
    first = [Version(1, now, sha256, "brug", "", ())]
    return replace(state, status=agreement_status(p, first, []), versions=first)


def group_name(library: Library, language: str, kind: str, count: int) -> str:
    info = library.kinds[kind]
    plural = info.plural(language) if info.plural else info.label(language)  # type: ignore[arg-type]
    return f"{plural} ({count})"


def agreement_context(p: Partnership, library: Library, base: dict[str, Any], status_href: str) -> dict[str, Any]:
    form = library.forms[p.form.value]
    language = p.language
    views = {o.id: o for o in base["organisations"]}
    party_views = []
    for party in parties(p, lambda kind, n: group_name(library, language, kind, n)):
        orgs = [views[o.id] for o in party.organisations]
        members = [m for o in orgs for m in o.members]
        party_views.append(
            PartyView(
                key=party.key,
                name=party.name,
                grouped=party.grouped,
                organisations=orgs,
                members=members,
                deciders=[m for m in members if m.mandate == "beslissing"],
                contacts=[m for m in members if m.contact],
                signing=[views[o.id] for o in party.organisations if must_sign(o)],
            )
        )
    approval = [ApprovalView(o.name, must_sign(o), tuple(m.name for m in deciders(o))) for o in p.organisations]
    return {
        "form": form,
        "agreement_title": form.agreement.title,
        "agreement_sections": list(form.agreement.sections),
        "parties": party_views,
        "grouped": any(v.grouped for v in party_views),
        "approval": approval,
        "no_decider": [a for a in approval if a.must_sign and not a.deciders],
        "others": [m for m in base["members"] if m.actor == "omkadering"],
        "renewal": renewal_of(p, library).value,
        "status_href": status_href,
        "status_name": status_href.rsplit("/", 1)[-1] if "://" not in status_href else "akkoord-status",
    }


def status_context(p: Partnership, state: AgreementState, agreement_href: str) -> dict[str, Any]:
    """The variables of the status document and of the overview's agreement block."""
    status = state.status
    zone = p.zone

    def local(moment: datetime | None) -> datetime | None:
        return moment.astimezone(zone) if moment is not None else None

    def org_row(o: OrganisationStatus) -> dict[str, Any]:
        shown = o.signed or o.presented
        return {
            "name": o.name,
            "state": o.state,
            "must_sign": o.must_sign,
            "deciders": list(o.deciders),
            "who": shown.member_name if shown else None,
            "at": local(shown.at) if shown else None,
            "version": shown.version if shown else None,
            "earlier": [{"who": s.member_name, "at": local(s.at), "version": s.version} for s in o.earlier],
        }

    rows = [org_row(o) for o in status.organisations]
    needed = [r for r in rows if r["must_sign"]]
    return {
        "overall": status.overall.value,
        "current": status.current,
        "current_at": local(status.current.at) if status.current else None,
        "signed_version": status.signed_version,
        "signed_on": local(status.signed_on),
        "last_signed": status.last_signed,
        "organisation_rows": rows,
        "signed_count": sum(1 for r in needed if r["state"] == "signed"),
        "needed_count": len(needed),
        "versions": [
            {"number": v.number, "at": local(v.at), "who": v.who, "sections": list(v.sections)}
            for v in reversed(state.versions[-10:])
        ],
        "older_versions": max(0, len(state.versions) - 10),
        "review": state.review,
        "renewal": state.renewal.value,
        "remind": state.remind,
        "agreement_href": agreement_href,
        "complete": status.overall is Overall.signed,
    }


def renewal_of(p: Partnership, library: Library) -> Renewal:
    """The form decides whether an agreement is renewed; a phase model can make it per school year."""
    form = library.forms[p.form.value]
    if form.renewal is Renewal.none:
        return Renewal.none
    model = library.phase_models[p.workflow]
    return model.agreement_renewal or form.renewal


def review_of(p: Partnership, library: Library, state: AgreementStatus) -> date | None:
    """The review date: the file's, else one (school) year after the date the agreement was signed."""
    signed = p.agreement.signed or (state.signed_on.astimezone(p.zone).date() if state.signed_on else None)
    return review_date(renewal_of(p, library), p.agreement.review, signed)
