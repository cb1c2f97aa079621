"""The coordinators' portfolio reads every partnership's figures at once, across the concerns."""

from __future__ import annotations

from sqlalchemy import select

from brug.store.database import Database
from brug.store.records import PortfolioFigures, _aware, _round_record, _stored_version
from brug.store.schema import (
    actions,
    agreement_signoffs,
    agreement_versions,
    barometer_counts,
    barometer_rounds,
    signals,
)


class Portfolio(Database):
    """Figures of all partnerships in one transaction."""

    def portfolio_figures(self) -> PortfolioFigures:
        """What the coordinators' portfolio shows, for every partnership at once: five reads in one
        transaction (the web's query layer groups them; a page never queries per partnership)."""
        figures = PortfolioFigures()
        version_columns = [c for c in agreement_versions.c if c.name != "content"]
        with self._tx() as conn:
            for r in conn.execute(select(actions.c.partnership_id, actions.c.due).where(actions.c.done == 0)):
                figures.open_actions.setdefault(r.partnership_id, []).append(r.due)
            for r in conn.execute(select(signals.c.partnership_id, signals.c.status)):
                figures.signal_statuses.setdefault(r.partnership_id, []).append(r.status)
            rounds = conn.execute(
                select(barometer_rounds)
                .where(barometer_rounds.c.status == "closed")
                .order_by(barometer_rounds.c.starts, barometer_rounds.c.round_id)
            )
            for r in rounds:
                figures.closed_rounds.setdefault(r.partnership_id, []).append(_round_record(r))
            for r in conn.execute(select(barometer_counts).where(barometer_counts.c.cell == "")):
                figures.round_totals.setdefault((r.partnership_id, r.round_id), {})[r.bouwsteen] = (
                    r.c1,
                    r.c2,
                    r.c3,
                    r.c4,
                    r.c5,
                )
            for r in conn.execute(select(*version_columns).order_by(agreement_versions.c.number)):
                figures.agreement_versions.setdefault(r.partnership_id, []).append(_stored_version(r))
            for r in conn.execute(select(agreement_signoffs).order_by(agreement_signoffs.c.id)):
                figures.signoffs.setdefault(r.partnership_id, []).append({**r._mapping, "at": _aware(r.at)})
        return figures
