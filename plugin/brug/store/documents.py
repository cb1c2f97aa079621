"""The documents brug wrote (with their hashes, to never overwrite a person's edit) and their earlier versions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select

from brug.planner import DocumentRecord
from brug.store.database import Database, _now, _upsert
from brug.store.schema import document_versions, documents


class Documents(Database):
    """Written documents per partnership and platform, and the versions brug kept of them."""

    def documents(self, partnership_id: str, platform: str) -> dict[str, DocumentRecord]:
        with self._read() as conn:
            rows = conn.execute(
                select(documents).where(documents.c.partnership_id == partnership_id, documents.c.platform == platform)
            ).all()
        return {
            r.key: DocumentRecord(key=r.key, path=r.path, rendered=r.rendered, fingerprint=r.fingerprint) for r in rows
        }

    def document(self, partnership_id: str, platform: str, key: str) -> DocumentRecord | None:
        """One document's record (what `documents` holds for this key)."""
        with self._read() as conn:
            r = conn.execute(
                select(documents).where(
                    documents.c.partnership_id == partnership_id,
                    documents.c.platform == platform,
                    documents.c.key == key,
                )
            ).first()
        return DocumentRecord(key=r.key, path=r.path, rendered=r.rendered, fingerprint=r.fingerprint) if r else None

    def record_document(self, partnership_id: str, platform: str, record: DocumentRecord) -> None:
        values = dict(path=record.path, rendered=record.rendered, fingerprint=record.fingerprint, written_at=_now())
        key = {"partnership_id": partnership_id, "platform": platform, "key": record.key}
        with self._tx() as conn:
            _upsert(conn, documents, key, values)

    def add_version(self, partnership_id: str, key: str, rendered: str, content: str) -> None:
        with self._tx() as conn:
            conn.execute(
                insert(document_versions).values(
                    partnership_id=partnership_id, key=key, rendered=rendered, content=content, at=_now()
                )
            )

    def versions(self, partnership_id: str, key: str) -> list[tuple[datetime, str]]:
        with self._tx() as conn:
            rows = conn.execute(
                select(document_versions.c.at, document_versions.c.content)
                .where(document_versions.c.partnership_id == partnership_id, document_versions.c.key == key)
                .order_by(document_versions.c.id)
            ).all()
        return [(r.at, r.content) for r in rows]
