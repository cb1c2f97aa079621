"""The agreement's history: every version brug saw (numbered per partnership) and the sign-offs
of the organisations, once per origin."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from brug.store.database import Database, _insert_new, _next_number
from brug.store.records import StoredVersion, _aware, _stored_version
from brug.store.schema import agreement_signoffs, agreement_versions


class Agreements(Database):
    """Agreement versions and sign-offs."""

    def agreement_versions(self, partnership_id: str, *, content: bool = True) -> list[StoredVersion]:
        """Every version brug saw, oldest first; without `content` the texts are left out (empty)."""
        columns = [c for c in agreement_versions.c if content or c.name != "content"]
        with self._read() as conn:
            rows = conn.execute(
                select(*columns)
                .where(agreement_versions.c.partnership_id == partnership_id)
                .order_by(agreement_versions.c.number)
            ).all()
        return [_stored_version(r) for r in rows]

    def latest_agreement_version(self, partnership_id: str, *, content: bool = True) -> StoredVersion | None:
        columns = [c for c in agreement_versions.c if content or c.name != "content"]
        with self._read() as conn:
            row = conn.execute(
                select(*columns)
                .where(agreement_versions.c.partnership_id == partnership_id)
                .order_by(agreement_versions.c.number.desc())
                .limit(1)
            ).first()
        return _stored_version(row) if row is not None else None

    def agreement_record(self, partnership_id: str) -> tuple[list[StoredVersion], list[dict[str, Any]]]:
        """The versions (without their texts) and the sign-offs, read together."""
        columns = [c for c in agreement_versions.c if c.name != "content"]
        with self._tx() as conn:
            rows = conn.execute(
                select(*columns)
                .where(agreement_versions.c.partnership_id == partnership_id)
                .order_by(agreement_versions.c.number)
            ).all()
            signed = conn.execute(
                select(agreement_signoffs)
                .where(agreement_signoffs.c.partnership_id == partnership_id)
                .order_by(agreement_signoffs.c.id)
            ).all()
        return [_stored_version(r) for r in rows], [{**r._mapping, "at": _aware(r.at)} for r in signed]

    def add_agreement_version(
        self,
        partnership_id: str,
        *,
        sha256: str,
        fingerprint: str,
        platform: str,
        who: str | None,
        sections: Sequence[str],
        content: str,
        at: datetime,
    ) -> int:
        """Record a new version; returns its number (1, 2, …), distinct also between processes."""

        def add(conn: Connection) -> int:
            number = _next_number(conn, agreement_versions, partnership_id)
            conn.execute(
                insert(agreement_versions).values(
                    partnership_id=partnership_id,
                    number=number,
                    sha256=sha256,
                    fingerprint=fingerprint,
                    platform=platform,
                    who=who,
                    sections=json.dumps(list(sections), ensure_ascii=False),
                    content=content,
                    at=at,
                )
            )
            return number

        return self._retrying(add)

    def set_agreement_fingerprint(self, partnership_id: str, number: int, fingerprint: str) -> None:
        """The platform shows another fingerprint for the same content (a touch, a copy): remember it."""
        with self._tx() as conn:
            conn.execute(
                update(agreement_versions)
                .where(agreement_versions.c.partnership_id == partnership_id, agreement_versions.c.number == number)
                .values(fingerprint=fingerprint)
            )

    def add_signoff(
        self,
        partnership_id: str,
        *,
        organisation: str,
        member: str,
        member_name: str,
        kind: str,
        version: int,
        sha256: str,
        origin: str,
        at: datetime,
    ) -> bool:
        """Record a sign-off once per origin (a chat event delivered twice counts once)."""
        with self._tx() as conn:
            return _insert_new(
                conn,
                agreement_signoffs,
                ("origin",),
                partnership_id=partnership_id,
                organisation=organisation,
                member=member,
                member_name=member_name,
                kind=kind,
                version=version,
                sha256=sha256,
                origin=origin,
                at=at,
            )

    def signoffs(self, partnership_id: str) -> list[dict[str, Any]]:
        with self._tx() as conn:
            rows = conn.execute(
                select(agreement_signoffs)
                .where(agreement_signoffs.c.partnership_id == partnership_id)
                .order_by(agreement_signoffs.c.id)
            ).all()
        return [{**r._mapping, "at": _aware(r.at)} for r in rows]
