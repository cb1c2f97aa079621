"""What brug posts and when: the outbox (each post once per key and platform, parked after
too many failures) and the schedule's slots and marks, so a scheduled post is never lost or sent twice."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, literal, or_, select, update

from brug.store.database import Database, _chunks, _insert, _insert_new, _now, _upsert, _utc
from brug.store.records import SlotRecord
from brug.store.schema import outbox, schedule_marks, slots

# marks read or moved on in one statement: PostgreSQL scans the table for a long list either way (20 ms
# at 10,000 partnerships; bench/store_plans.py), so few long lists beat many short ones
MARKS_AT_ONCE = 5000
PREFIXES_AT_ONCE = 200  # key prefixes looked for in one statement (`slot_states`)


class Outbox(Database):
    """The outbox and the scheduler's slots and marks."""

    # --- the outbox ----------------------------------------------------------------------------------

    def enqueue(self, platform: str, key: str, partnership_id: str, room: str, kind: str, content: str) -> str | None:
        """Put a post in the outbox (once per key and platform) and claim it for sending; returns the status
        it already had, if any. With several instances the claim needs the partnership's lease: the
        guard checks it in this same transaction and raises LeaseLost when this instance does not hold it.

        Race-free: of two processes enqueueing the same key at once, one makes the row and the other
        gets its status back.
        """
        row = dict(
            platform=platform,
            key=key,
            partnership_id=partnership_id,
            room=room,
            kind=kind,
            content=content,
            status="pending",
            created_at=_now(),
            claims=1,
        )
        if self.is_postgresql and (self.outbox_guard is None or self.outbox_lease is not None):
            if self._claim_new(row):
                return None
        claimer = None
        with self._tx() as conn:
            if self.outbox_guard is not None:
                claimer, check = self.outbox_guard
                check(conn, partnership_id)
            where = (outbox.c.platform == platform, outbox.c.key == key)
            new = _insert_new(conn, outbox, ("platform", "key"), **row, claimed_by=claimer)
            if new:
                return None
            status = conn.execute(select(outbox.c.status).where(*where)).scalar()
            if status == "pending":  # claimed before and not marked sent: the adapter looks for it first
                conn.execute(update(outbox).where(*where).values(claims=outbox.c.claims + 1, claimed_by=claimer))
        return status

    def _claim_new(self, values: dict[str, Any]) -> bool:
        """The common case of `enqueue` on PostgreSQL in one statement (one round trip instead of four): a
        new post, inserted and claimed only while the lease's row is held (locked FOR SHARE until the
        statement commits, as the guard's transaction does). False when it was not new or the lease not
        held: `enqueue`'s transaction then says which, and what the post's status is."""
        if self.outbox_guard is None:
            statement = _insert(self.engine, outbox).values(**values, claimed_by=None)
            params: dict[str, Any] = {}
        else:
            claimer = self.outbox_guard[0]
            assert self.outbox_lease is not None
            held, params = self.outbox_lease(values["partnership_id"])
            lease = held.columns().cte("held")
            chosen = select(*(literal(v, outbox.c[k].type).label(k) for k, v in values.items()))
            chosen = chosen.add_columns(literal(claimer, outbox.c.claimed_by.type).label("claimed_by"))
            statement = _insert(self.engine, outbox).from_select(
                [*values, "claimed_by"], chosen.select_from(lease)
            )
        statement = statement.on_conflict_do_nothing(index_elements=["platform", "key"]).returning(outbox.c.key)
        with self._single() as conn:
            return conn.execute(statement, params).first() is not None

    def mark_sent(self, platform: str, key: str, ref: str) -> None:
        with self._single() as conn:
            conn.execute(
                update(outbox)
                .where(outbox.c.platform == platform, outbox.c.key == key)
                .values(status="sent", ref=ref, sent_at=_now())
            )

    def record_post_failure(self, platform: str, key: str, error: str, *, park_after: int) -> str:
        """Count a failed attempt at a pending post; at `park_after` attempts it is parked. Its new status."""
        with self._tx() as conn:
            row = conn.execute(  # locked: two failures at once count twice
                select(outbox.c.status, outbox.c.attempts)
                .where(outbox.c.platform == platform, outbox.c.key == key)
                .with_for_update()
            ).first()
            if row is None or row.status != "pending":
                return row.status if row else "pending"
            attempts = (row.attempts or 0) + 1
            status = "parked" if attempts >= park_after else "pending"
            conn.execute(
                update(outbox)
                .where(outbox.c.platform == platform, outbox.c.key == key)
                .values(attempts=attempts, last_error=error[:1000], status=status)
            )
        return status

    def is_sent(self, platform: str, key: str) -> bool:
        with self._read() as conn:
            status = conn.execute(
                select(outbox.c.status).where(outbox.c.platform == platform, outbox.c.key == key)
            ).scalar()
        return status == "sent"

    def outbox_entry(self, platform: str, key: str) -> dict[str, Any] | None:
        with self._read() as conn:
            row = conn.execute(select(outbox).where(outbox.c.platform == platform, outbox.c.key == key)).first()
        return dict(row._mapping) if row else None

    def outbox_depth(self) -> dict[tuple[str, str], int]:
        """How many posts wait (pending) or were given up on (parked), per platform: for /metrics.

        Two counts, each over a partial index (ix_outbox_pending, ix_outbox_parked): the outbox keeps every
        post ever sent, and a scrape every 15 s must not read them all."""
        depth: dict[tuple[str, str], int] = {}
        with self._read() as conn:
            for status in ("pending", "parked"):
                rows = conn.execute(
                    select(outbox.c.platform, func.count()).where(outbox.c.status == status).group_by(outbox.c.platform)
                ).all()
                depth.update({(platform, status): n for platform, n in rows})
        return depth

    def pending(self, platform: str) -> list[dict[str, str]]:
        with self._read() as conn:
            rows = conn.execute(
                select(outbox)
                .where(outbox.c.platform == platform, outbox.c.status == "pending")
                .order_by(outbox.c.created_at)
            ).all()
        return [dict(r._mapping) for r in rows]

    def posted_keys(self, partnership_id: str, platform: str) -> set[str]:
        """Keys of posts that were sent or parked (pending ones are not in here: they must still go out)."""
        with self._read() as conn:
            rows = conn.execute(
                select(outbox.c.key).where(
                    outbox.c.partnership_id == partnership_id,
                    outbox.c.platform == platform,
                    outbox.c.status.in_(("sent", "parked")),
                )
            ).all()
        return {r.key for r in rows}

    def post_keys(self, partnership_id: str, kind: str) -> list[str]:
        """Keys of a partnership's posts of one kind, oldest first (each key once, whatever the platforms)."""
        with self._read() as conn:
            rows = conn.execute(
                select(outbox.c.key, outbox.c.created_at)
                .where(outbox.c.partnership_id == partnership_id, outbox.c.kind == kind)
                .order_by(outbox.c.created_at, outbox.c.key)
            ).all()
        return list(dict.fromkeys(r.key for r in rows))

    def has_pending(self, partnership_id: str, platforms: Sequence[str]) -> bool:
        """Whether a post of this partnership still waits to be sent on one of these platforms."""
        with self._read() as conn:
            row = conn.execute(
                select(outbox.c.key).where(
                    outbox.c.partnership_id == partnership_id,
                    outbox.c.platform.in_(list(platforms)),
                    outbox.c.status == "pending",
                )
            ).first()
        return row is not None

    def parked_posts(self, partnership_id: str) -> list[dict[str, Any]]:
        """Posts that failed too often and wait for a person: shown by `brug status`."""
        with self._read() as conn:
            rows = conn.execute(
                select(outbox.c.platform, outbox.c.key, outbox.c.kind, outbox.c.attempts, outbox.c.last_error)
                .where(outbox.c.partnership_id == partnership_id, outbox.c.status == "parked")
                .order_by(outbox.c.created_at)
            ).all()
        return [dict(r._mapping) for r in rows]

    def unpark(self, partnership_id: str, keys: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """Put a partnership's parked posts (all, or those with these keys) back in line: pending, their
        failures counted from zero, and marked as claimed before, so the adapter looks for each one on
        the platform before it sends it (a post that went out after all is not sent twice)."""
        where = [outbox.c.partnership_id == partnership_id, outbox.c.status == "parked"]
        if keys is not None:
            where.append(outbox.c.key.in_(list(keys)))
        with self._tx() as conn:
            rows = conn.execute(select(outbox).where(*where).order_by(outbox.c.created_at).with_for_update()).all()
            for row in rows:
                conn.execute(
                    update(outbox)
                    .where(outbox.c.platform == row.platform, outbox.c.key == row.key, outbox.c.status == "parked")
                    .values(status="pending", attempts=0, claims=case((outbox.c.claims < 1, 2), else_=outbox.c.claims + 1))
                )
        return [dict(r._mapping) for r in rows]

    def slot_posts(self, partnership_id: str, prefixes: Sequence[str]) -> dict[tuple[str, str], str]:
        """The outbox rows (platform, key) -> status whose key starts with one of `prefixes`."""
        with self._read() as conn:
            rows = conn.execute(
                select(outbox.c.platform, outbox.c.key, outbox.c.status).where(
                    outbox.c.partnership_id == partnership_id,
                    or_(*(outbox.c.key.startswith(prefix, autoescape=True) for prefix in prefixes)),
                )
            ).all()
        return {(r.platform, r.key): r.status for r in rows}

    def sent_post_by_key(self, platform: str, key: str) -> str | None:
        """The platform's id of a sent post."""
        with self._tx() as conn:
            return conn.execute(select(outbox.c.ref).where(outbox.c.platform == platform, outbox.c.key == key)).scalar()

    def sent_post(self, platform: str, ref: str) -> dict[str, object] | None:
        """The outbox entry of a message by its platform id (to recognise replies to a prompt)."""
        with self._tx() as conn:
            row = conn.execute(select(outbox).where(outbox.c.platform == platform, outbox.c.ref == ref)).first()
        return dict(row._mapping) if row else None

    # --- schedules ------------------------------------------------------------------------------------

    def schedule_mark(self, partnership_id: str, kind: str) -> datetime | None:
        with self._read() as conn:
            upto = conn.execute(
                select(schedule_marks.c.upto).where(
                    schedule_marks.c.partnership_id == partnership_id, schedule_marks.c.kind == kind
                )
            ).scalar()
        return datetime.fromisoformat(upto) if upto else None

    def set_schedule_mark(self, partnership_id: str, kind: str, upto: datetime) -> None:
        with self._single() as conn:
            _upsert(conn, schedule_marks, {"partnership_id": partnership_id, "kind": kind}, {"upto": _utc(upto)})

    def schedule_marks(self, partnership_ids: Sequence[str]) -> dict[tuple[str, str], datetime]:
        """The marks of these partnerships, (partnership, kind) -> upto, one read per 5,000 partnerships."""
        out: dict[tuple[str, str], datetime] = {}
        with self._tx() as conn:
            for chunk in _chunks(partnership_ids, MARKS_AT_ONCE):
                rows = conn.execute(select(schedule_marks).where(schedule_marks.c.partnership_id.in_(chunk))).all()
                out.update({(r.partnership_id, r.kind): datetime.fromisoformat(r.upto) for r in rows})
        return out

    def set_schedule_marks(self, keys: Sequence[tuple[str, str]], upto: datetime) -> None:
        """Set the marks of these (partnership, kind) pairs to `upto`, in one statement (a first tick sets
        30,000 at 10,000 partnerships)."""
        rows = [{"partnership_id": pid, "kind": kind, "upto": _utc(upto)} for pid, kind in keys]
        if not rows:
            return
        with self._tx() as conn:
            statement = _insert(conn, schedule_marks)
            statement = statement.on_conflict_do_update(
                index_elements=["partnership_id", "kind"], set_={"upto": statement.excluded.upto}
            )
            conn.execute(statement, rows)

    def advance_schedule_marks(self, marks: Mapping[tuple[str, str], datetime]) -> None:
        """Move stored marks forward to these moments, never back (another process may be further)."""
        by_moment: dict[tuple[str, str], list[str]] = {}
        for (partnership_id, kind), upto in marks.items():
            by_moment.setdefault((kind, _utc(upto)), []).append(partnership_id)
        with self._tx() as conn:
            for (kind, upto), ids in by_moment.items():
                for chunk in _chunks(ids, MARKS_AT_ONCE):
                    conn.execute(
                        update(schedule_marks)
                        .where(
                            schedule_marks.c.kind == kind,
                            schedule_marks.c.partnership_id.in_(chunk),
                            schedule_marks.c.upto < upto,
                        )
                        .values(upto=upto)
                    )

    def slot_status(self, partnership_id: str, kind: str, at: datetime) -> str | None:
        with self._read() as conn:
            return conn.execute(
                select(slots.c.status).where(
                    slots.c.partnership_id == partnership_id, slots.c.kind == kind, slots.c.at == _utc(at)
                )
            ).scalar()

    def record_slot(self, partnership_id: str, kind: str, at: datetime, status: str, *, late: bool = False) -> None:
        key = {"partnership_id": partnership_id, "kind": kind, "at": _utc(at)}
        with self._single() as conn:
            _upsert(conn, slots, key, dict(status=status, late=int(late), handled_at=_now()))

    def slot_states(
        self, wanted: Sequence[tuple[str, str, datetime, Sequence[str]]]
    ) -> tuple[dict[tuple[str, str, datetime], str], dict[tuple[str, str], dict[tuple[str, str], str]]]:
        """For many slots at once, each (partnership, kind, moment, key prefixes of its posts): the status of
        those handled before, by (partnership, kind, moment), and the outbox rows (platform, key) -> status
        by (partnership, prefix), for the prefixes that have any.

        What `slot_status` and `slot_posts` answer for one slot, in a few statements for a tick's due slots
        (a fan-out of 1,000 prompts made 2,000 round trips for it)."""
        statuses: dict[tuple[str, str, datetime], str] = {}
        begun: dict[tuple[str, str], dict[tuple[str, str], str]] = {}
        if not wanted:
            return statuses, begun
        ids = sorted({pid for pid, _, _, _ in wanted})
        kinds = sorted({kind for _, kind, _, _ in wanted})
        since = min(_utc(at) for _, _, at, _ in wanted)
        moments = {(pid, kind, _utc(at)): (pid, kind, at) for pid, kind, at, _ in wanted}
        prefixes = sorted({(pid, prefix) for pid, _, _, keys in wanted for prefix in keys})
        with self._read() as conn:
            for chunk in _chunks(ids, MARKS_AT_ONCE):
                rows = conn.execute(
                    select(slots.c.partnership_id, slots.c.kind, slots.c.at, slots.c.status).where(
                        slots.c.partnership_id.in_(chunk), slots.c.kind.in_(kinds), slots.c.at >= since
                    )
                ).all()
                for r in rows:
                    slot = moments.get((r.partnership_id, r.kind, r.at))
                    if slot is not None:
                        statuses[slot] = r.status
            for start in range(0, len(prefixes), PREFIXES_AT_ONCE):  # SQLite nests an OR of N terms N deep
                part = prefixes[start : start + PREFIXES_AT_ONCE]
                wanted_here = or_(
                    *(
                        and_(outbox.c.partnership_id == pid, outbox.c.key.startswith(prefix, autoescape=True))
                        for pid, prefix in part
                    )
                )
                rows = conn.execute(
                    select(outbox.c.partnership_id, outbox.c.platform, outbox.c.key, outbox.c.status).where(
                        outbox.c.partnership_id.in_(sorted({pid for pid, _ in part})), wanted_here
                    )
                ).all()
                for r in rows:
                    for pid, prefix in part:
                        if r.partnership_id == pid and r.key.startswith(prefix):
                            begun.setdefault((pid, prefix), {})[(r.platform, r.key)] = r.status
        return statuses, begun

    def finish_slots(
        self, handled: Sequence[tuple[str, str, datetime, str, bool]], marks: Mapping[tuple[str, str], datetime]
    ) -> None:
        """Record many handled slots (partnership, kind, moment, status, late) and set the schedule marks of
        their partnerships, in one transaction: a slot is never behind its mark without its record."""
        if not handled and not marks:
            return
        now = _now()
        with self._tx() as conn:
            if handled:
                statement = _insert(conn, slots)
                statement = statement.on_conflict_do_update(
                    index_elements=["partnership_id", "kind", "at"],
                    set_={
                        "status": statement.excluded.status,
                        "late": statement.excluded.late,
                        "handled_at": statement.excluded.handled_at,
                    },
                )
                rows = [
                    dict(partnership_id=pid, kind=kind, at=_utc(at), status=status, late=int(late), handled_at=now)
                    for pid, kind, at, status, late in handled
                ]
                conn.execute(statement, rows)
            if marks:
                statement = _insert(conn, schedule_marks)
                statement = statement.on_conflict_do_update(
                    index_elements=["partnership_id", "kind"], set_={"upto": statement.excluded.upto}
                )
                conn.execute(
                    statement,
                    [{"partnership_id": pid, "kind": kind, "upto": _utc(upto)} for (pid, kind), upto in marks.items()],
                )

    def slots(self, partnership_id: str, kind: str | None = None) -> list[SlotRecord]:
        query = select(slots).where(slots.c.partnership_id == partnership_id)
        if kind is not None:
            query = query.where(slots.c.kind == kind)
        with self._read() as conn:
            rows = conn.execute(query.order_by(slots.c.at)).all()
        return [
            SlotRecord(r.kind, datetime.fromisoformat(r.at), r.status, bool(r.late), bool(r.reported)) for r in rows
        ]

    def mark_reported(self, partnership_id: str, records: list[SlotRecord]) -> None:
        with self._tx() as conn:
            for record in records:
                conn.execute(
                    update(slots)
                    .where(
                        slots.c.partnership_id == partnership_id,
                        slots.c.kind == record.kind,
                        slots.c.at == _utc(record.at),
                    )
                    .values(reported=1)
                )
