"""Which partnerships brug applied, and forgetting one of them entirely."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, case, delete, literal, select

from brug.store.database import Database, _now, _upsert
from brug.store.records import AppliedPartnership
from brug.store.schema import (
    actions,
    agenda_items,
    agreement_signoffs,
    agreement_versions,
    answers,
    barometer_counts,
    barometer_polls,
    barometer_rounds,
    barometer_votes,
    document_versions,
    documents,
    event_failures,
    invites,
    outbox,
    partnerships,
    pauses,
    resources,
    schedule_marks,
    signal_events,
    signals,
    slots,
)


class Partnerships(Database):
    """What was applied per partnership; `forget` deletes every row brug keeps of one."""

    def applied(self, partnership_id: str) -> AppliedPartnership | None:
        with self._read() as conn:
            row = conn.execute(select(partnerships).where(partnerships.c.id == partnership_id)).first()
        return AppliedPartnership(**row._mapping) if row else None

    def all_applied(self) -> list[AppliedPartnership]:
        with self._tx() as conn:
            rows = conn.execute(select(partnerships).order_by(partnerships.c.id)).all()
        return [AppliedPartnership(**r._mapping) for r in rows]

    def record_applied(
        self,
        partnership_id: str,
        *,
        name: str,
        workflow: str,
        phase: str,
        phase_changes: int,
        inputs_hash: str | None,
        source: str | None,
        at: datetime | None = None,
    ) -> None:
        """Remember an apply; `at` (the runtime's clock, else now) is when it entered `phase` if that is
        a phase it was not in at the previous apply."""
        when = at or _now()
        values = dict(
            name=name,
            workflow=workflow,
            phase=phase,
            phase_changes=phase_changes,
            inputs_hash=inputs_hash,
            source=source,
            applied_at=_now(),
        )
        same_phase = and_(partnerships.c.phase == phase, partnerships.c.phase_since.is_not(None))
        kept = case((same_phase, partnerships.c.phase_since), else_=literal(when, partnerships.c.phase_since.type))
        with self._tx() as conn:  # one statement: the existing row's phase decides, also between two processes
            _upsert(conn, partnerships, {"id": partnership_id}, {**values, "phase_since": when}, {"phase_since": kept})

    def forget(self, partnership_id: str) -> None:
        """Delete everything brug remembers of a partnership."""
        with self._tx() as conn:
            for table in (
                documents,
                outbox,
                resources,
                invites,
                agenda_items,
                actions,
                answers,
                pauses,
                slots,
                schedule_marks,
                document_versions,
                barometer_rounds,
                barometer_polls,
                barometer_votes,
                barometer_counts,
                signals,
                signal_events,
                agreement_versions,
                agreement_signoffs,
                event_failures,
            ):
                conn.execute(delete(table).where(table.c.partnership_id == partnership_id))
            conn.execute(delete(partnerships).where(partnerships.c.id == partnership_id))
