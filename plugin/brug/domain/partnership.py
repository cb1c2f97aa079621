"""The partnership file: who works together, on what, how often they meet and reflect.

These models check the *shape* of a partnership. Checks that need the phase models or the
organisation catalogue (does this phase exist? is this kind known?) live in `brug.domain.checks`.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from enum import StrEnum
from functools import cached_property
from typing import Annotated, Literal, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from brug.domain.recurrence import Recurrence, RecurrenceError, parse_rrule
from brug.domain.types import Day, Language, LocalDateTime, NonEmpty, ShortText, Slug, Strict, slugify

MAX_ORGANISATIONS = 200  # the largest partnerships in the research have about 40
MAX_MEMBERS = 500
MATRIX_ID = re.compile(r"^@[a-z0-9._=\-/+]+:(?:[A-Za-z0-9-]+\.)*[A-Za-z0-9-]+(?::\d{1,5})?$")
NEXTCLOUD_ID = re.compile(r"^[A-Za-z0-9_.@\-' ]{1,64}$|^[A-Za-z0-9_.@\-' ]{1,64}@[A-Za-z0-9.-]+(?::\d{1,5})?(?:/\S*)?$")
EMAIL = re.compile(r"^[^@\s<>]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+$")


def _matrix_id(value: str) -> str:
    if not MATRIX_ID.match(value):
        raise PydanticCustomError("brug_matrix_id", "a Matrix id like @name:server.be", {"value": value})
    return value


def _nextcloud_id(value: str) -> str:
    if not NEXTCLOUD_ID.match(value):
        raise PydanticCustomError("brug_nextcloud_id", "a Nextcloud user id or cloud id", {"value": value})
    return value


def _email(value: str) -> str:
    if not EMAIL.match(value):
        raise PydanticCustomError("brug_email", "an e-mail address", {"value": value})
    return value


def _timezone(value: str) -> str:
    try:
        if len(value) > 64:  # the longest IANA name has 32 characters; a longer one is not worth a lookup
            raise ValueError(value)
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise PydanticCustomError("brug_timezone", "an IANA time zone", {"value": value}) from None
    return value


MatrixId = Annotated[str, AfterValidator(_matrix_id)]
NextcloudId = Annotated[str, AfterValidator(_nextcloud_id)]
Email = Annotated[str, AfterValidator(_email)]
TimeZoneName = Annotated[str, AfterValidator(_timezone)]


class Form(StrEnum):
    """How tight the collaboration is (seed 002): from talking together to merging."""

    overleg = "overleg"
    ad_hoc = "ad-hoc"
    netwerk = "netwerk"
    fusie = "fusie"


class Mandate(StrEnum):
    """What a member may do for their organisation (seed 002)."""

    terugkoppeling = "terugkoppeling"  # reports back; the organisation decides
    beslissing = "beslissing"  # may decide on behalf of the organisation


class Actor(StrEnum):
    """Whether a member must take part or is kept informed (seed 002)."""

    noodzakelijk = "noodzakelijk"
    omkadering = "omkadering"


class Member(Strict):
    name: ShortText
    id: Slug | None = Field(default=None, description="defaults to a slug of the name")
    role: ShortText
    mandate: Mandate = Mandate.terugkoppeling
    actor: Actor = Actor.noodzakelijk
    coordinator: bool = False
    contact: bool = Field(default=False, description="contact person for their organisation")
    matrix: MatrixId | None = None
    nextcloud: NextcloudId | None = None
    email: Email | None = None
    by_email: bool = Field(
        default=False, description="also mail reflection prompts with an answer link to a member who has a chat id"
    )

    @property
    def key(self) -> str:
        return self.id or slugify(self.name)


class Organisation(Strict):
    id: Slug
    name: ShortText
    kind: Slug
    kind_other: ShortText | None = Field(default=None, description="what kind, when kind is 'andere'")
    added_value: NonEmpty | None = Field(default=None, description="what this partner brings")
    engagements: list[NonEmpty] = Field(default_factory=list, max_length=50)
    members: list[Member] = Field(min_length=1, max_length=MAX_MEMBERS)


class Meetings(Strict):
    """When the partners meet: a recurrence rule from a first meeting, explicit dates, or both."""

    start: LocalDateTime | None = None
    rrule: NonEmpty | None = None
    dates: list[LocalDateTime] = Field(default_factory=list, max_length=500)
    duration_minutes: int = Field(default=90, ge=15, le=600)
    agenda_lead_days: int = Field(default=3, ge=0, le=30)
    location: ShortText | None = None

    @model_validator(mode="after")
    def _rule_or_dates(self) -> Meetings:
        if self.rrule is None and not self.dates:
            raise PydanticCustomError("brug_meetings_empty", "an rrule with a start, or a list of dates", {})
        _check_rule_and_start(self.rrule, self.start)
        return self

    def recurrence(self) -> Recurrence:
        return Recurrence(rule=self.rrule, start=self.start, dates=tuple(self.dates))

    @property
    def duration(self) -> timedelta:
        return timedelta(minutes=self.duration_minutes)


class Reflection(Strict):
    """The rhythm of reflection prompts."""

    start: LocalDateTime
    rrule: NonEmpty
    pulse: bool = True
    skip_school_holidays: bool = True
    show_names: bool = Field(default=True, description="show member names in the reflection log")

    @model_validator(mode="after")
    def _valid_rule(self) -> Reflection:
        _check_rrule(self.rrule, self.start)
        return self

    def recurrence(self) -> Recurrence:
        return Recurrence(rule=self.rrule, start=self.start)


def _check_rule_and_start(rule: str | None, start: datetime | None) -> None:
    """A rule needs its first moment next to it, and must be a valid RRULE."""
    if rule is not None and start is None:
        raise PydanticCustomError("brug_rrule_needs_start", "a start next to the rrule", {})
    if rule is not None:
        _check_rrule(rule, start)


def _check_rrule(rule: str, start: datetime | None) -> None:
    try:
        parse_rrule(rule, start or datetime(2000, 1, 1))
    except RecurrenceError as err:
        raise PydanticCustomError(
            "brug_rrule", "a valid RFC 5545 RRULE ({reason})", {**err.ctx, "reason": err.code, "field": "rrule"}
        ) from None


class BarometerSettings(Strict):
    """Barometer rounds: by school term (default), by an RRULE from a start, or every N prompts."""

    rrule: NonEmpty | None = None
    start: LocalDateTime | None = None
    every_prompts: int | None = Field(default=None, ge=1, le=52)
    min_respondents: int = Field(default=3, ge=3, le=100, description="never lower than 3")
    split: Literal["sector", "organisation", "none"] = "sector"
    full: bool = Field(default=True, description="all six bouwstenen as polls at the start of a round")

    @model_validator(mode="after")
    def _one_rhythm(self) -> BarometerSettings:
        if self.rrule is not None and self.every_prompts is not None:
            raise PydanticCustomError("brug_barometer_rhythm", "either rrule or every_prompts, not both", {})
        _check_rule_and_start(self.rrule, self.start)
        return self

    @property
    def by_term(self) -> bool:
        return self.rrule is None and self.every_prompts is None

    def recurrence(self) -> Recurrence:
        return Recurrence(rule=self.rrule, start=self.start)


ChatPlatform = Literal["local", "matrix", "nextcloud"]
FilePlatform = Literal["local", "nextcloud"]


class Platforms(Strict):
    chat: list[ChatPlatform] = Field(default_factory=lambda: ["local"], min_length=1)
    files: FilePlatform = "local"


class Agreement(Strict):
    """Dates of the samenwerkingsakkoord itself; its text lives in the workspace."""

    signed: Day | None = None
    review: Day | None = Field(default=None, description="when the partners review the agreement")
    ends: Day | None = None
    activity: Day | None = Field(default=None, description="the day of the activity (ad-hoc collaboration)")


class Partnership(Strict):
    id: Slug
    name: ShortText
    language: Language = "nl"
    timezone: TimeZoneName = "Europe/Brussels"
    workflow: Slug = "samenwerken"
    phase: Slug
    form: Form = Form.overleg
    issue: NonEmpty | None = None
    goal: NonEmpty | None = None
    target_group: NonEmpty | None = None
    organisations: list[Organisation] = Field(min_length=1, max_length=MAX_ORGANISATIONS)
    tandems: list[Annotated[list[Slug], Field(min_length=2, max_length=2)]] = Field(
        default_factory=list, max_length=MAX_MEMBERS
    )
    meetings: Meetings | None = None
    reflection: Reflection | None = None
    agreement: Agreement = Field(default_factory=Agreement)
    barometer: BarometerSettings = Field(default_factory=BarometerSettings)
    platforms: Platforms = Field(default_factory=Platforms)

    @model_validator(mode="after")
    def _unique_ids(self) -> Partnership:
        if len(self.members) > MAX_MEMBERS:
            raise PydanticCustomError(
                "brug_too_many_members",
                "at most {max} members in all",
                {"max": MAX_MEMBERS, "count": len(self.members), "loc": ("organisations",)},
            )
        seen_orgs: set[str] = set()
        seen_members: dict[str, str] = {}
        for i, org in enumerate(self.organisations):
            if org.id in seen_orgs:
                raise PydanticCustomError(
                    "brug_duplicate_id",
                    "unique organisation ids ('{value}' is used twice)",
                    {"value": org.id, "loc": ("organisations", i, "id")},
                )
            seen_orgs.add(org.id)
            for j, member in enumerate(org.members):
                key = member.key  # a slug of the name unless it has an id: made once
                if key in seen_members:
                    raise PydanticCustomError(
                        "brug_duplicate_id",
                        "unique member ids ('{value}' is used twice; give one an id)",
                        {"value": key, "loc": ("organisations", i, "members", j, "id" if member.id else "name")},
                    )
                seen_members[key] = org.id
        for i, pair in enumerate(self.tandems):
            for j, key in enumerate(pair):
                if key not in seen_members:
                    raise PydanticCustomError(
                        "brug_unknown_member",
                        "the id of a member ('{value}' is not one)",
                        {"value": key, "loc": ("tandems", i, j)},
                    )
            if seen_members[pair[0]] == seen_members[pair[1]]:
                raise PydanticCustomError(
                    "brug_tandem_same_org",
                    "two members of different organisations",
                    {"loc": ("tandems", i)},
                )
        return self

    # --- derived views -------------------------------------------------------------------------

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def members(self) -> list[tuple[Organisation, Member]]:
        return [(org, m) for org in self.organisations for m in org.members]

    def member(self, key: str) -> Member | None:
        return next((m for _, m in self.members if m.key == key), None)

    @property
    def coordinators(self) -> list[Member]:
        return [m for _, m in self.members if m.coordinator]

    def meeting_times(self, after: datetime, limit: int = 1) -> list[datetime]:
        """The next `limit` meeting starts strictly after `after` (an aware datetime)."""
        if self.meetings is None:
            return []
        return self.meetings.recurrence().after(after, self.zone, limit)


class Rhythms(Protocol):
    """What a partnership's schedule is worked out from: a `Partnership`, or the compact form `brug run` keeps
    of each loaded one (brug.content.partnerships.LoadedPartnership)."""

    @property
    def id(self) -> str: ...

    @property
    def zone(self) -> ZoneInfo: ...

    @property
    def meetings(self) -> Meetings | None: ...

    @property
    def reflection(self) -> Reflection | None: ...

    @property
    def barometer(self) -> BarometerSettings: ...


def today_in(zone: ZoneInfo, now: datetime) -> date:
    return now.astimezone(zone).date()
