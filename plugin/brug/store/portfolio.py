"""The coordinators' portfolio reads every partnership's figures at once, across the concerns."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import Select, String, func, select, type_coerce

from brug.store.database import Database
from brug.store.records import BarometerRoundRecord, PortfolioFigures, StoredVersion, _aware
from brug.store.schema import (
    actions,
    agreement_signoffs,
    agreement_versions,
    barometer_counts,
    barometer_rounds,
    partnerships,
    signals,
)

SIGNOFF_COLUMNS = ("id", "organisation", "member", "member_name", "kind", "version", "sha256", "at")


def _raw(column: Any) -> Any:
    """A time column as the driver gives it: SQLite's text (parsed by `_moment`, much faster than the
    general conversion for thousands of rows), PostgreSQL's datetime."""
    return type_coerce(column, String)


def _moment(value: str | datetime) -> datetime:
    return _aware(value if isinstance(value, datetime) else datetime.fromisoformat(value))


class Portfolio(Database):
    """Figures of all partnerships in one transaction."""

    def portfolio_figures(self, only: Collection[str] | None = None) -> PortfolioFigures:
        """What the coordinators' portfolio shows, for every partnership at once (or those in `only`):
        seven set-based reads in one transaction, of the columns it shows and no more (the web's query
        layer groups them; a page never queries per partnership)."""
        figures = PortfolioFigures()

        def of(query: Select[Any], table: Any) -> Select[Any]:
            column = table.c.id if table is partnerships else table.c.partnership_id
            return query if only is None else query.where(column.in_(list(only)))

        with self._tx() as conn:
            applied = of(select(partnerships.c.id, partnerships.c.phase, _raw(partnerships.c.phase_since)), partnerships)
            for pid, phase, since in conn.execute(applied).all():
                figures.phases[pid] = (phase, _moment(since) if since is not None else None)
            open_actions = of(select(actions.c.partnership_id, actions.c.due).where(actions.c.done == 0), actions)
            for pid, due in conn.execute(open_actions).all():
                figures.open_actions.setdefault(pid, []).append(due)
            by_status = of(
                select(signals.c.partnership_id, signals.c.status, func.count()).group_by(
                    signals.c.partnership_id, signals.c.status
                ),
                signals,
            )
            for pid, status, count in conn.execute(by_status).all():
                figures.signal_counts.setdefault(pid, {})[status] = count
            rounds = of(
                select(
                    barometer_rounds.c.partnership_id,
                    barometer_rounds.c.round_id,
                    barometer_rounds.c.starts,
                    barometer_rounds.c.ends,
                    barometer_rounds.c.min_respondents,
                    barometer_rounds.c.respondents,
                    barometer_rounds.c.agenda_meeting,
                )
                .where(barometer_rounds.c.status == "closed")
                .order_by(barometer_rounds.c.starts, barometer_rounds.c.round_id),
                barometer_rounds,
            )
            for pid, round_id, starts, ends, minimum, respondents, agenda_meeting in conn.execute(rounds).all():
                figures.closed_rounds.setdefault(pid, []).append(
                    BarometerRoundRecord(
                        pid,
                        round_id,
                        datetime.fromisoformat(starts),
                        datetime.fromisoformat(ends) if ends else None,
                        "closed",
                        minimum,
                        respondents,
                        agenda_meeting,
                    )
                )
            c = barometer_counts.c
            totals = of(  # in the order the database keeps them: the web layer does not depend on it
                select(c.partnership_id, c.round_id, c.bouwsteen, c.c1, c.c2, c.c3, c.c4, c.c5).where(c.cell == ""),
                barometer_counts,
            )
            for pid, round_id, bouwsteen, *counts in conn.execute(totals).all():
                figures.round_totals.setdefault((pid, round_id), []).append((bouwsteen, tuple(counts)))
            v = agreement_versions.c
            versions = of(
                select(v.partnership_id, v.number, v.sha256, v.fingerprint, v.platform, v.who, _raw(v.at)).order_by(v.number),
                agreement_versions,
            )
            for pid, number, sha256, fingerprint, platform, who, at in conn.execute(versions).all():
                figures.agreement_versions.setdefault(pid, []).append(
                    StoredVersion(number, sha256, fingerprint, platform, who, [], "", _moment(at))
                )
            s = agreement_signoffs.c
            signed = of(
                select(s.partnership_id, *(_raw(s[n]) if n == "at" else s[n] for n in SIGNOFF_COLUMNS)).order_by(s.id),
                agreement_signoffs,
            )
            for pid, *row in conn.execute(signed).all():
                signoff = dict(zip(SIGNOFF_COLUMNS, row, strict=True))
                signoff["at"] = _moment(signoff["at"])
                figures.signoffs.setdefault(pid, []).append(signoff)
        return figures
