"""The barometer's rounds, polls and votes. While a round is open each person's latest vote is
kept, only to replace it; closing a round keeps the counts that may be shown and forgets who voted,
in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, delete, insert, select, update

from brug.store.database import Database, _insert, _insert_new, _now, _upsert, _utc
from brug.store.records import BarometerRoundRecord, _round_record
from brug.store.schema import barometer_counts, barometer_polls, barometer_rounds, barometer_votes


class Barometer(Database):
    """Barometer rounds, polls, votes and the counts of closed rounds."""

    def ensure_round(
        self, partnership_id: str, round_id: str, starts: datetime, ends: datetime | None, min_respondents: int
    ) -> BarometerRoundRecord:
        """The round, created open when it is not known yet."""
        ident = {"partnership_id": partnership_id, "round_id": round_id}
        insert_once = (
            _insert(self.engine, barometer_rounds)
            .values(
                **ident,
                starts=_utc(starts),
                ends=_utc(ends) if ends else None,
                status="open",
                min_respondents=min_respondents,
            )
            .on_conflict_do_nothing(index_elements=list(ident))
            .returning(*barometer_rounds.c)
        )
        with self._single() as conn:  # one statement when new (each prompt of a fan-out opens a round)
            row = conn.execute(insert_once).first()
            if row is None:
                row = conn.execute(select(barometer_rounds).filter_by(**ident)).one()
        return _round_record(row)

    def barometer_round(self, partnership_id: str, round_id: str) -> BarometerRoundRecord | None:
        with self._tx() as conn:
            row = conn.execute(
                select(barometer_rounds).filter_by(partnership_id=partnership_id, round_id=round_id)
            ).first()
        return _round_record(row) if row else None

    def barometer_rounds(self, partnership_id: str, status: str | None = None) -> list[BarometerRoundRecord]:
        """A partnership's rounds, oldest first."""
        query = select(barometer_rounds).where(barometer_rounds.c.partnership_id == partnership_id)
        if status is not None:
            query = query.where(barometer_rounds.c.status == status)
        with self._read() as conn:
            rows = conn.execute(query.order_by(barometer_rounds.c.starts, barometer_rounds.c.round_id)).all()
        return [_round_record(r) for r in rows]

    def register_poll(
        self, platform: str, ref: str, partnership_id: str, key: str, round_id: str, bouwsteen: str
    ) -> None:
        ident = {"platform": platform, "ref": ref}
        values = dict(partnership_id=partnership_id, key=key, round_id=round_id, bouwsteen=bouwsteen)
        with self._tx() as conn:
            _upsert(conn, barometer_polls, ident, values)

    def barometer_poll(self, platform: str, ref: str) -> dict[str, str] | None:
        with self._tx() as conn:
            row = conn.execute(select(barometer_polls).filter_by(platform=platform, ref=ref)).first()
        return dict(row._mapping) if row else None

    def barometer_polls(self, partnership_id: str, round_id: str, platform: str) -> list[dict[str, str]]:
        with self._tx() as conn:
            rows = conn.execute(
                select(barometer_polls).filter_by(partnership_id=partnership_id, round_id=round_id, platform=platform)
            ).all()
        return [dict(r._mapping) for r in rows]

    def record_vote(
        self, partnership_id: str, round_id: str, bouwsteen: str, voter: str, score: int, group: str, at: datetime
    ) -> str:
        """Keep a person's latest rating: 'new', 'replaced', 'older' (a later one is kept) or 'closed'.

        The round's row is share-locked while the vote goes in, so a round closing at the same moment
        waits for it (and forgets it) instead of leaving a voter's rating behind in a closed round.
        """
        ident = {"partnership_id": partnership_id, "round_id": round_id, "bouwsteen": bouwsteen, "voter": voter}
        when = _utc(at)

        def vote(conn: Connection) -> str:
            status = conn.execute(
                select(barometer_rounds.c.status)
                .filter_by(partnership_id=partnership_id, round_id=round_id)
                .with_for_update(read=True)
            ).scalar()
            if status != "open":
                return "closed"
            earlier = conn.execute(select(barometer_votes.c.at).filter_by(**ident).with_for_update()).scalar()
            if earlier is None:  # two votes of one person at once: the second runs again and compares
                conn.execute(insert(barometer_votes).values(**ident, score=score, grp=group, at=when))
                return "new"
            if earlier > when:
                return "older"
            conn.execute(update(barometer_votes).filter_by(**ident).values(score=score, grp=group, at=when))
            return "replaced"

        return self._retrying(vote)

    def open_votes(self, partnership_id: str, round_id: str) -> list[tuple[str, str, int, str]]:
        """(voter, bouwsteen, score, group) of an open round: only for aggregating it."""
        with self._tx() as conn:
            rows = conn.execute(
                select(
                    barometer_votes.c.voter, barometer_votes.c.bouwsteen, barometer_votes.c.score, barometer_votes.c.grp
                ).filter_by(partnership_id=partnership_id, round_id=round_id)
            ).all()
        return [(r.voter, r.bouwsteen, r.score, r.grp) for r in rows]

    def respondents(self, partnership_id: str, round_id: str) -> int:
        """How many people answered in an open round (or did in a closed one)."""
        record = self.barometer_round(partnership_id, round_id)
        if record is not None and record.status == "closed":
            return record.respondents or 0
        return len({v[0] for v in self.open_votes(partnership_id, round_id)})

    def close_round(
        self, partnership_id: str, round_id: str, respondents: int, cells: dict[tuple[str, str], Sequence[int]]
    ) -> bool:
        """Close a round in one go: keep the counts of the cells that may be shown, forget who voted.

        Returns False when it was closed already (nothing changes then).
        """
        ident = {"partnership_id": partnership_id, "round_id": round_id}
        with self._tx() as conn:
            status = conn.execute(  # locked: of two processes closing a round, one does
                select(barometer_rounds.c.status).filter_by(**ident).with_for_update()
            ).scalar()
            if status != "open":
                return False
            for (bouwsteen, cell), counts in cells.items():
                c1, c2, c3, c4, c5 = counts
                conn.execute(
                    insert(barometer_counts).values(
                        **ident, bouwsteen=bouwsteen, cell=cell, c1=c1, c2=c2, c3=c3, c4=c4, c5=c5
                    )
                )
            conn.execute(delete(barometer_votes).filter_by(**ident))
            conn.execute(
                update(barometer_rounds)
                .filter_by(**ident)
                .values(status="closed", respondents=respondents, closed_at=_now())
            )
        return True

    def round_counts(self, partnership_id: str, round_id: str) -> dict[tuple[str, str], tuple[int, ...]]:
        with self._tx() as conn:
            rows = conn.execute(
                select(barometer_counts).filter_by(partnership_id=partnership_id, round_id=round_id)
            ).all()
        return {(r.bouwsteen, r.cell): (r.c1, r.c2, r.c3, r.c4, r.c5) for r in rows}

    def take_attention(self, partnership_id: str, round_id: str, meeting: datetime) -> None:
        with self._tx() as conn:
            conn.execute(
                update(barometer_rounds)
                .filter_by(partnership_id=partnership_id, round_id=round_id)
                .values(agenda_meeting=_utc(meeting))
            )
