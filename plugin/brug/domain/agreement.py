"""The samenwerkingsakkoord as the partners keep it: versions, sign-off per organisation, renewal.

Pure: no I/O. brug *observes* the agreement document (a local file, or a Nextcloud file through its
ETag); every content change it sees becomes a numbered version. A member whose mandate is
`beslissing` signs the current version's hash for their organisation; a member who reports back
(`terugkoppeling`) can only record that the agreement was presented to their organisation.
When every organisation with a necessary actor signed the same version, the agreement is signed;
any later change makes it "changed after signing" until all sign the new version.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum

from brug.domain.partnership import Actor, Mandate, Member, Organisation, Partnership

HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
REMIND_BEFORE = timedelta(weeks=4)


@dataclass(frozen=True)
class Version:
    """One content of the agreement document that brug saw."""

    number: int
    at: datetime
    sha256: str
    who: str | None  # who changed it, where the platform says so ("brug" for brug's own draft)
    platform: str
    sections: tuple[str, ...]  # headings whose text changed (added and removed ones too)


class SignKind(StrEnum):
    signed = "signed"  # a member with mandate 'beslissing' approved this version for the organisation
    presented = "presented"  # a member who reports back presented it to the organisation ("voorgelegd")


@dataclass(frozen=True)
class SignOff:
    organisation: str  # organisation id
    member: str  # the member's key
    member_name: str
    kind: SignKind
    version: int
    sha256: str
    at: datetime


class Overall(StrEnum):
    none = "none"  # brug has not seen the document yet
    draft = "draft"  # nobody signed anything yet, or signing is under way
    signed = "signed"  # every organisation that must sign signed the current version
    changed = "changed"  # changed after (some) organisations signed: "gewijzigd na ondertekening"


@dataclass(frozen=True)
class OrganisationStatus:
    id: str
    name: str
    must_sign: bool  # has a necessary actor: its sign-off counts for "signed"
    deciders: tuple[str, ...]  # names of members who may decide (mandate beslissing)
    signed: SignOff | None  # on the current version
    presented: SignOff | None  # on the current version, when not signed
    earlier: tuple[SignOff, ...]  # sign-offs on earlier versions, newest first

    @property
    def state(self) -> str:
        if self.signed is not None:
            return "signed"
        if self.presented is not None:
            return "presented"
        return "open" if self.deciders else "no-decider"


@dataclass(frozen=True)
class AgreementStatus:
    overall: Overall
    current: Version | None
    organisations: tuple[OrganisationStatus, ...]
    signed_version: int | None = None  # the latest version every organisation that must sign signed
    signed_on: datetime | None = None  # when the last of those sign-offs came in
    last_signed: int | None = None  # the latest version anyone signed

    @property
    def complete(self) -> bool:
        return self.overall is Overall.signed

    @property
    def open_organisations(self) -> list[OrganisationStatus]:
        return [o for o in self.organisations if o.must_sign and o.signed is None]


# --- versions ------------------------------------------------------------------------------------------


def split_sections(text: str) -> dict[str, str]:
    """The document's text per heading ("" for what comes before the first heading)."""
    out: dict[str, list[str]] = {"": []}
    current = ""
    seen: dict[str, int] = {}
    for line in text.splitlines():
        match = HEADING.match(line)
        if match:
            title = match.group(2).strip() or "…"
            seen[title] = seen.get(title, 0) + 1
            current = title if seen[title] == 1 else f"{title} ({seen[title]})"
            out[current] = []
        else:
            out[current].append(line.rstrip())
    return {k: "\n".join(v).strip() for k, v in out.items()}


def changed_sections(old: str | None, new: str) -> tuple[str, ...]:
    """Headings whose text differs between two versions, in the order of the new one, then removed ones."""
    after = split_sections(new)
    if old is None:
        return ()
    before = split_sections(old)
    changed = [title for title, body in after.items() if before.get(title) != body]
    removed = [title for title in before if title not in after]
    return tuple(title or "(begin)" for title in changed + removed)


def readable_diff(old: str, new: str, old_label: str, new_label: str, context: int = 2) -> str:
    """A unified diff of two versions, line by line."""
    lines = difflib.unified_diff(
        old.splitlines(), new.splitlines(), fromfile=old_label, tofile=new_label, n=context, lineterm=""
    )
    return "\n".join(lines)


# --- sign-off ------------------------------------------------------------------------------------------


def must_sign(org: Organisation) -> bool:
    """An organisation with at least one necessary actor signs; one only kept informed does not."""
    return any(m.actor is Actor.noodzakelijk for m in org.members)


def deciders(org: Organisation) -> list[Member]:
    return [m for m in org.members if m.mandate is Mandate.beslissing]


def agreement_status(p: Partnership, versions: list[Version], signoffs: list[SignOff]) -> AgreementStatus:
    current = versions[-1] if versions else None
    if current is None:
        orgs = tuple(
            OrganisationStatus(o.id, o.name, must_sign(o), tuple(m.name for m in deciders(o)), None, None, ())
            for o in p.organisations
        )
        return AgreementStatus(Overall.none, None, orgs)
    by_org: dict[str, list[SignOff]] = {}
    for s in signoffs:
        by_org.setdefault(s.organisation, []).append(s)
    orgs_list = []
    for o in p.organisations:
        mine = sorted(by_org.get(o.id, []), key=lambda s: (s.version, s.at), reverse=True)
        signed = next((s for s in mine if s.kind is SignKind.signed and s.version == current.number), None)
        presented = None
        if signed is None:
            presented = next((s for s in mine if s.kind is SignKind.presented and s.version == current.number), None)
        earlier = tuple(s for s in mine if s.kind is SignKind.signed and s.version < current.number)
        orgs_list.append(
            OrganisationStatus(
                o.id, o.name, must_sign(o), tuple(m.name for m in deciders(o)), signed, presented, earlier
            )
        )
    orgs = tuple(orgs_list)
    needed = [o.id for o in p.organisations if must_sign(o)]
    signed_by_version: dict[int, dict[str, SignOff]] = {}
    for s in signoffs:
        if s.kind is SignKind.signed:
            first = signed_by_version.setdefault(s.version, {})
            first.setdefault(s.organisation, s)
    complete_versions = [v for v, by in signed_by_version.items() if needed and all(org in by for org in needed)]
    signed_version = max(complete_versions, default=None)
    signed_on = max(signed_by_version[signed_version][org].at for org in needed) if signed_version is not None else None
    last_signed = max(signed_by_version, default=None)
    if signed_version == current.number:
        overall = Overall.signed
    elif last_signed is not None and last_signed < current.number:
        overall = Overall.changed
    else:
        overall = Overall.draft
    return AgreementStatus(overall, current, orgs, signed_version, signed_on, last_signed)


class Outcome(StrEnum):
    signed = "signed"
    already = "already"  # this organisation already signed the current version
    presented = "presented"
    stale = "stale"  # asked for a version that is not the current one
    unknown_version = "unknown_version"
    no_mandate = "no_mandate"  # reports back: someone else in the organisation decides
    no_decider = "no_decider"  # nobody in the organisation may decide yet
    no_document = "no_document"


@dataclass(frozen=True)
class SignRequest:
    """What a member typed: `!akkoord`, `!akkoord 3`, `!akkoord voorgelegd`."""

    version: int | None = None
    presented: bool = False


PRESENTED_WORDS = ("voorgelegd", "presented")


def parse_sign_request(args: str) -> SignRequest | None:
    """None when the arguments make no sense (the command's help is shown then)."""
    words = args.lower().split()
    presented = any(w in PRESENTED_WORDS for w in words)
    rest = [w for w in words if w not in PRESENTED_WORDS]
    version = None
    if rest:
        if len(rest) > 1:
            return None
        word = rest[0].removeprefix("v")
        if not (word.isascii() and word.isdigit() and len(word) <= 6):
            return None
        version = int(word)
    return SignRequest(version, presented)


@dataclass(frozen=True)
class SignDecision:
    outcome: Outcome
    organisation: Organisation
    current: Version | None
    signoff: SignOff | None = None  # to record, when there is one
    deciders: tuple[str, ...] = ()


def decide_sign(
    p: Partnership,
    member: Member,
    request: SignRequest,
    versions: list[Version],
    signoffs: list[SignOff],
    now: datetime,
) -> SignDecision:
    org = next(o for o, m in p.members if m.key == member.key)
    names = tuple(m.name for m in deciders(org))
    current = versions[-1] if versions else None
    if current is None:
        return SignDecision(Outcome.no_document, org, None)
    if request.version is not None and request.version != current.number:
        known = any(v.number == request.version for v in versions)
        return SignDecision(Outcome.stale if known else Outcome.unknown_version, org, current)
    if request.presented:
        off = SignOff(org.id, member.key, member.name, SignKind.presented, current.number, current.sha256, now)
        return SignDecision(Outcome.presented, org, current, off, names)
    if member.mandate is not Mandate.beslissing:
        return SignDecision(Outcome.no_mandate if names else Outcome.no_decider, org, current, None, names)
    done = any(s.organisation == org.id and s.kind is SignKind.signed and s.version == current.number for s in signoffs)
    if done:
        return SignDecision(Outcome.already, org, current, None, names)
    off = SignOff(org.id, member.key, member.name, SignKind.signed, current.number, current.sha256, now)
    return SignDecision(Outcome.signed, org, current, off, names)


# --- renewal -------------------------------------------------------------------------------------------


class Renewal(StrEnum):
    none = "none"  # a one-off activity: no renewal
    yearly = "yearly"  # one year after signing
    school_year = "school-year"  # the afsprakennota: renewed for every school year


SCHOOL_YEAR_REVIEW = (6, 1)  # 1 June: time to evaluate and write next school year's afsprakennota
MIN_RUN = timedelta(days=60)  # an agreement signed late in spring runs into the next school year


def review_date(renewal: Renewal, explicit: date | None, signed: date | None) -> date | None:
    """When the partners review the agreement: the file's date, else one (school) year after signing."""
    if explicit is not None:
        return explicit
    if signed is None or renewal is Renewal.none:
        return None
    if renewal is Renewal.yearly:
        try:
            return signed.replace(year=signed.year + 1)
        except ValueError:  # 29 February
            return signed.replace(year=signed.year + 1, day=28)
    month, day = SCHOOL_YEAR_REVIEW
    candidate = date(signed.year, month, day)
    while candidate - signed < MIN_RUN:
        candidate = candidate.replace(year=candidate.year + 1)
    return candidate


def reminder_due(review: date | None, today: date) -> bool:
    """Four weeks before the review date (and until it is past by a month) the renewal is on the agenda."""
    if review is None:
        return False
    return review - REMIND_BEFORE <= today <= review + timedelta(weeks=4)


@dataclass(frozen=True)
class Party:
    """How the agreement names partners: one organisation, or a group of organisations of one kind."""

    key: str
    name: str
    organisations: tuple[Organisation, ...] = field(default_factory=tuple)

    @property
    def grouped(self) -> bool:
        return len(self.organisations) > 1


GROUP_FROM = 9  # from this many organisations on, organisations of one kind become one party
GROUP_MIN = 3  # ... when there are at least this many of that kind


def parties(p: Partnership, group_name) -> list[Party]:  # group_name: (kind id, count) -> str
    """The partners as the agreement names them.

    Up to GROUP_FROM - 1 organisations each one is a party. In a larger partnership, organisations
    of one kind that occur at least GROUP_MIN times form one party ("36 primary schools"), listed by
    name in an annex; the others stay parties of their own. Order: as in the partnership file.
    """
    if len(p.organisations) < GROUP_FROM:
        return [Party(o.id, o.name, (o,)) for o in p.organisations]
    by_kind: dict[str, list[Organisation]] = {}
    for o in p.organisations:
        by_kind.setdefault(o.kind, []).append(o)
    out: list[Party] = []
    done: set[str] = set()
    for o in p.organisations:
        group = by_kind[o.kind]
        if len(group) >= GROUP_MIN and o.kind != "andere":
            if o.kind not in done:
                done.add(o.kind)
                out.append(Party(f"kind-{o.kind}", group_name(o.kind, len(group)), tuple(group)))
        else:
            out.append(Party(o.id, o.name, (o,)))
    return out
