"""What the store hands back: plain records (most of them frozen), so callers never see a database row."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class AppliedPartnership:
    id: str
    name: str
    workflow: str
    phase: str
    phase_changes: int
    inputs_hash: str | None
    source: str | None
    applied_at: datetime | None
    phase_since: datetime | None = None  # when it entered `phase` (schema version 12)


@dataclass(frozen=True)
class Resource:
    partnership_id: str
    platform: str
    kind: str
    key: str
    ref: str
    data: str


@dataclass(frozen=True)
class AgendaItemRecord:
    id: int
    text: str
    added_by: str
    added_at: datetime


@dataclass(frozen=True)
class ActionRecord:
    number: int
    text: str
    who: str | None
    due: str | None
    done: bool
    origin: str


@dataclass(frozen=True)
class AnswerRecord:
    prompt_key: str
    author: str
    text: str
    at: datetime


@dataclass(frozen=True)
class SlotRecord:
    kind: str
    at: datetime
    status: str
    late: bool
    reported: bool


@dataclass
class PortfolioFigures:
    """Every partnership's figures for the portfolio, by partnership id (see `Store.portfolio_figures`)."""

    phases: dict[str, tuple[str, datetime | None]] = field(default_factory=dict)  # applied phase, since when
    open_actions: dict[str, list[str | None]] = field(default_factory=dict)  # due dates of open actions
    signal_counts: dict[str, dict[str, int]] = field(default_factory=dict)  # how many signals per status
    closed_rounds: dict[str, list[BarometerRoundRecord]] = field(default_factory=dict)  # oldest first
    # everyone's counts per closed round: (bouwsteen, (c1, …, c5)) in the bouwstenen's alphabetical order
    round_totals: dict[tuple[str, str], list[tuple[str, tuple[int, ...]]]] = field(default_factory=dict)
    agreement_versions: dict[str, list[StoredVersion]] = field(default_factory=dict)  # without texts and sections
    signoffs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # id and what SignOff needs


@dataclass(frozen=True)
class BarometerRoundRecord:
    partnership_id: str
    round_id: str
    starts: datetime
    ends: datetime | None
    status: str
    min_respondents: int
    respondents: int | None
    agenda_meeting: str | None


def _round_record(row: Any) -> BarometerRoundRecord:
    return BarometerRoundRecord(
        row.partnership_id,
        row.round_id,
        datetime.fromisoformat(row.starts),
        datetime.fromisoformat(row.ends) if row.ends else None,
        row.status,
        row.min_respondents,
        row.respondents,
        row.agenda_meeting,
    )


@dataclass(frozen=True)
class StoredVersion:
    number: int
    sha256: str
    fingerprint: str
    platform: str
    who: str | None
    sections: list[str]
    content: str
    at: datetime


def _aware(moment: datetime) -> datetime:
    """SQLite gives back naive datetimes; brug stores UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _stored_version(r: Any) -> StoredVersion:
    return StoredVersion(
        r.number,
        r.sha256,
        r.fingerprint,
        r.platform,
        r.who,
        json.loads(r.sections),
        getattr(r, "content", ""),
        _aware(r.at),
    )
