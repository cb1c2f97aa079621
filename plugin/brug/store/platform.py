"""What brug knows of the platforms: the rooms, spaces and pins it made, invites, sync tokens,
rate-limit pacing, and which chat events it handled (once each) or failed on."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, delete, select

from brug.store.database import Database, _insert_new, _now, _upsert
from brug.store.records import Resource
from brug.store.schema import event_failures, invites, pacing, processed_events, resources, sync_tokens


class PlatformState(Database):
    """Platform resources, invites, sync and pacing state, processed and failed events."""

    # --- platform resources (rooms, spaces, pins) ------------------------------------------------------

    def resource(self, partnership_id: str, platform: str, kind: str, key: str = "") -> Resource | None:
        with self._tx() as conn:
            row = conn.execute(
                select(resources).where(
                    resources.c.partnership_id == partnership_id,
                    resources.c.platform == platform,
                    resources.c.kind == kind,
                    resources.c.key == key,
                )
            ).first()
        return Resource(row.partnership_id, row.platform, row.kind, row.key, row.ref, row.data) if row else None

    def put_resource(self, partnership_id: str, platform: str, kind: str, key: str, ref: str, data: str = "") -> None:
        ident = {"partnership_id": partnership_id, "platform": platform, "kind": kind, "key": key}
        with self._tx() as conn:
            _upsert(conn, resources, ident, dict(ref=ref, data=data, updated_at=_now()))

    def forget_resource(self, partnership_id: str, platform: str, kind: str, key: str = "") -> None:
        """The resource is gone on the platform (e.g. a deleted conversation): the next apply makes it anew."""
        with self._tx() as conn:
            conn.execute(
                delete(resources).where(
                    resources.c.partnership_id == partnership_id,
                    resources.c.platform == platform,
                    resources.c.kind == kind,
                    resources.c.key == key,
                )
            )

    def resources(self, platform: str, kind: str, partnership_id: str | None = None) -> list[Resource]:
        query = select(resources).where(resources.c.platform == platform, resources.c.kind == kind)
        if partnership_id is not None:
            query = query.where(resources.c.partnership_id == partnership_id)
        with self._tx() as conn:
            rows = conn.execute(query).all()
        return [Resource(r.partnership_id, r.platform, r.kind, r.key, r.ref, r.data) for r in rows]

    def resource_by_ref(self, platform: str, ref: str) -> Resource | None:
        with self._tx() as conn:
            row = conn.execute(
                select(resources).where(resources.c.platform == platform, resources.c.ref == ref)
            ).first()
        return Resource(row.partnership_id, row.platform, row.kind, row.key, row.ref, row.data) if row else None

    # --- invites -----------------------------------------------------------------------------------------

    def invite_status(self, partnership_id: str, platform: str, room: str, user: str) -> str | None:
        with self._tx() as conn:
            return conn.execute(
                select(invites.c.status).where(
                    invites.c.partnership_id == partnership_id,
                    invites.c.platform == platform,
                    invites.c.room == room,
                    invites.c.user == user,
                )
            ).scalar()

    def record_invite(
        self, partnership_id: str, platform: str, room: str, user: str, status: str, error: str | None = None
    ) -> None:
        ident = {"partnership_id": partnership_id, "platform": platform, "room": room, "user": user}
        with self._tx() as conn:
            _upsert(
                conn,
                invites,
                ident,
                dict(status=status, error=error, updated_at=_now()),
                on_update=dict(attempts=invites.c.attempts + 1),
            )

    def forget_room_state(self, partnership_id: str, platform: str, room: str) -> None:
        """A room was made anew: its invites and power levels must be done again."""
        with self._tx() as conn:
            conn.execute(
                delete(invites).where(
                    invites.c.partnership_id == partnership_id, invites.c.platform == platform, invites.c.room == room
                )
            )
            conn.execute(
                delete(resources).where(
                    resources.c.partnership_id == partnership_id,
                    resources.c.platform == platform,
                    resources.c.kind == "power",
                    resources.c.key == room,
                )
            )

    def failed_invites(self, partnership_id: str, platform: str) -> list[dict[str, object]]:
        with self._tx() as conn:
            rows = conn.execute(
                select(invites).where(
                    invites.c.partnership_id == partnership_id,
                    invites.c.platform == platform,
                    invites.c.status == "failed",
                )
            ).all()
        return [dict(r._mapping) for r in rows]

    # --- sync state --------------------------------------------------------------------------------------

    def sync_token(self, platform: str, account: str) -> str | None:
        with self._tx() as conn:
            return conn.execute(
                select(sync_tokens.c.token).where(sync_tokens.c.platform == platform, sync_tokens.c.account == account)
            ).scalar()

    def put_sync_token(self, platform: str, account: str, token: str, *, listening: bool = False) -> None:
        """Store where reading a platform's news goes on. `listening`: the listener stores it after a batch,
        so with several instances only while it holds the platform's listener (a listener that stalled past
        its lease must not set the holder's token back); raises LeaseLost otherwise."""
        with self._tx() as conn:
            if listening and self.listener_guard is not None:
                self.listener_guard(conn, platform)
            _upsert(conn, sync_tokens, {"platform": platform, "account": account}, dict(token=token, updated_at=_now()))

    def pacing(self, platform: str, account: str) -> str | None:
        """The rate-limit state brug saved for this account (see adapters/pacing.py)."""
        with self._tx() as conn:
            return conn.execute(
                select(pacing.c.state).where(pacing.c.platform == platform, pacing.c.account == account)
            ).scalar()

    def put_pacing(self, platform: str, account: str, state: str) -> None:
        with self._tx() as conn:
            _upsert(conn, pacing, {"platform": platform, "account": account}, dict(state=state, updated_at=_now()))

    # --- chat events: each handled once --------------------------------------------------------------------

    def is_processed(self, platform: str, event_id: str) -> bool:
        with self._tx() as conn:
            found = conn.execute(
                select(processed_events.c.event_id).where(
                    processed_events.c.platform == platform, processed_events.c.event_id == event_id
                )
            ).first()
        return found is not None

    def claim_event(self, platform: str, event_id: str) -> bool:
        """Whether a listener should handle this chat event now: True when it was not handled yet. With
        several instances, in the same transaction, only while this instance holds the platform's listener
        lease (for a margin more); raises LeaseLost otherwise — the holder handles the event. Two listeners
        therefore never both find an event unhandled: only one of them holds the lease at a time."""
        with self._tx() as conn:
            if self.listener_guard is not None:
                self.listener_guard(conn, platform)
            found = conn.execute(
                select(processed_events.c.event_id).where(
                    processed_events.c.platform == platform, processed_events.c.event_id == event_id
                )
            ).first()
        return found is None

    def still_listening(self, platform: str) -> None:
        """Just before a listener answers: raises LeaseLost when another instance took the listener over
        meanwhile (this one stalled while handling); the holder answers instead. No-op on one instance."""
        if self.listener_guard is not None:
            with self._tx() as conn:
                self.listener_guard(conn, platform)

    def _once_per_event(self, table: Table, platform: str, event_id: str, **values: Any) -> bool:
        """Insert a row for this platform event unless there is one; False when there already was."""
        with self._tx() as conn:  # one statement: two processes handling the same event make one row
            return _insert_new(conn, table, ("platform", "event_id"), platform=platform, event_id=event_id, **values)

    def mark_processed(self, platform: str, event_id: str) -> bool:
        """Remember an event as handled; False when it already was (another delivery of the same event)."""
        return self._once_per_event(processed_events, platform, event_id, processed_at=_now())

    def record_event_failure(self, platform: str, event_id: str, partnership_id: str, error: str) -> bool:
        """Remember that handling a chat message failed; False when it was already recorded."""
        return self._once_per_event(
            event_failures, platform, event_id, partnership_id=partnership_id, error=error[:1000], at=_now()
        )

    def event_failures(self, partnership_id: str) -> list[dict[str, Any]]:
        with self._tx() as conn:
            rows = conn.execute(
                select(event_failures)
                .where(event_failures.c.partnership_id == partnership_id)
                .order_by(event_failures.c.at)
            ).all()
        return [dict(r._mapping) for r in rows]
