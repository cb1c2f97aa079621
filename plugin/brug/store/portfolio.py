"""The coordinators' portfolio reads every partnership's figures at once, across the concerns."""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, String, func, select, type_coerce

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


Where = Callable[[Select[Any], Any], Select[Any]]  # narrows a read to the partnerships asked for


def _phases(conn: Connection, where: Where, figures: PortfolioFigures) -> None:
    applied = where(select(partnerships.c.id, partnerships.c.phase, _raw(partnerships.c.phase_since)), partnerships)
    for pid, phase, since in conn.execute(applied).all():
        figures.phases[pid] = (phase, _moment(since) if since is not None else None)


def _actions(conn: Connection, where: Where, figures: PortfolioFigures) -> None:
    open_actions = where(select(actions.c.partnership_id, actions.c.due).where(actions.c.done == 0), actions)
    for pid, due in conn.execute(open_actions).all():
        figures.open_actions.setdefault(pid, []).append(due)


def _signals(conn: Connection, where: Where, figures: PortfolioFigures) -> None:
    counted = select(signals.c.partnership_id, signals.c.status, func.count())
    by_status = where(counted.group_by(signals.c.partnership_id, signals.c.status), signals)
    for pid, status, count in conn.execute(by_status).all():
        figures.signal_counts.setdefault(pid, {})[status] = count


def _rounds(conn: Connection, where: Where, figures: PortfolioFigures) -> None:
    r = barometer_rounds.c
    closed = select(r.partnership_id, r.round_id, r.starts, r.ends, r.min_respondents, r.respondents, r.agenda_meeting)
    rounds = where(closed.where(r.status == "closed").order_by(r.starts, r.round_id), barometer_rounds)
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


def _totals(conn: Connection, where: Where, figures: PortfolioFigures) -> None:
    c = barometer_counts.c
    totals = where(  # in the order the database keeps them: the web layer does not depend on it
        select(c.partnership_id, c.round_id, c.bouwsteen, c.c1, c.c2, c.c3, c.c4, c.c5).where(c.cell == ""),
        barometer_counts,
    )
    for pid, round_id, bouwsteen, *counts in conn.execute(totals).all():
        figures.round_totals.setdefault((pid, round_id), []).append((bouwsteen, tuple(counts)))


def _versions(conn: Connection, where: Where, figures: PortfolioFigures) -> None:
    v = agreement_versions.c
    versions = where(
        select(v.partnership_id, v.number, v.sha256, v.fingerprint, v.platform, v.who, _raw(v.at)).order_by(v.number),
        agreement_versions,
    )
    for pid, number, sha256, fingerprint, platform, who, at in conn.execute(versions).all():
        figures.agreement_versions.setdefault(pid, []).append(
            StoredVersion(number, sha256, fingerprint, platform, who, [], "", _moment(at))
        )


def _signoffs(conn: Connection, where: Where, figures: PortfolioFigures) -> None:
    s = agreement_signoffs.c
    columns = (_raw(s[name]) if name == "at" else s[name] for name in SIGNOFF_COLUMNS)
    signed = where(select(s.partnership_id, *columns).order_by(s.id), agreement_signoffs)
    for pid, *row in conn.execute(signed).all():
        signoff = dict(zip(SIGNOFF_COLUMNS, row, strict=True))
        signoff["at"] = _moment(signoff["at"])
        figures.signoffs.setdefault(pid, []).append(signoff)


# each table the portfolio reads: the figures it fills (a field of PortfolioFigures) and how
PORTFOLIO_TABLES: dict[str, tuple[str, Callable[[Connection, Where, PortfolioFigures], None]]] = {
    "partnerships": ("phases", _phases),
    "actions": ("open_actions", _actions),
    "signals": ("signal_counts", _signals),
    "barometer_rounds": ("closed_rounds", _rounds),
    "barometer_counts": ("round_totals", _totals),
    "agreement_versions": ("agreement_versions", _versions),
    "agreement_signoffs": ("signoffs", _signoffs),
}


class Portfolio(Database):
    """Figures of all partnerships in one transaction."""

    def portfolio_figures(
        self, only: Collection[str] | None = None, tables: Collection[str] | None = None
    ) -> PortfolioFigures:
        """What the coordinators' portfolio shows, for every partnership at once (or those in `only`):
        seven set-based reads in one transaction, of the columns it shows and no more (the web's query
        layer groups them; a page never queries per partnership). `tables`: only the figures that come
        from these tables (see PORTFOLIO_TABLES); the others stay empty."""
        figures = PortfolioFigures()

        def where(query: Select[Any], table: Any) -> Select[Any]:
            column = table.c.id if table is partnerships else table.c.partnership_id
            return query if only is None else query.where(column.in_(list(only)))

        with self._tx() as conn:
            for table, (_, read) in PORTFOLIO_TABLES.items():
                if tables is None or table in tables:
                    read(conn, where, figures)
        return figures
