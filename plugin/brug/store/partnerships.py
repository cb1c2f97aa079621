"""Which partnerships brug applied, and forgetting one of them entirely."""

from __future__ import annotations

from sqlalchemy import delete, select

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
    ) -> None:
        values = dict(
            name=name,
            workflow=workflow,
            phase=phase,
            phase_changes=phase_changes,
            inputs_hash=inputs_hash,
            source=source,
            applied_at=_now(),
        )
        with self._tx() as conn:
            _upsert(conn, partnerships, {"id": partnership_id}, values)

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
