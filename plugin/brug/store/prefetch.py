"""What a reconcile asks the store about each partnership, read for many partnerships at once.

A reconcile of 10,000 partnerships that changed nothing asked the store about twenty questions per
partnership, one transaction each (200,000 round trips to PostgreSQL, minutes). `Prefetched` asks
each table once for a group of partnerships and answers the same questions, by the same names, from
what it read. Whatever it was not asked to hold (another partnership, other arguments, and every
write) goes to the store itself; after any such call about one of its partnerships it no longer
answers for that one, so nothing it says can be older than a write made through it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, or_, select

from brug.planner import DocumentRecord
from brug.store.database import Database, _chunks
from brug.store.records import ActionRecord, AnswerRecord, AppliedPartnership, StoredVersion, _aware, _stored_version
from brug.store.schema import (
    actions,
    agreement_signoffs,
    agreement_versions,
    answers,
    documents,
    outbox,
    partnerships,
    signal_events,
)

PREFETCHED_KIND = "reflection"  # the posts a reconcile reads (the reflection log lists them)


class Prefetching(Database):
    """The store part that hands out `Prefetched` views."""

    def prefetch(self, partnership_ids: Sequence[str]) -> Prefetched:
        """What a reconcile asks about these partnerships, read now in one transaction."""
        return Prefetched(self, partnership_ids)


class Prefetched:
    """The store as seen by a reconcile of `ids`, read in one go (eight reads per thousand partnerships)."""

    def __init__(self, store: Any, ids: Sequence[str]) -> None:
        self.store = store
        self.ids = set(ids)
        self._applied: dict[str, AppliedPartnership] = {}
        self._answers: dict[str, list[AnswerRecord]] = {}
        self._posts: dict[str, list[tuple[str, str, str, str]]] = {}  # (kind, key, platform, status), in order
        self._versions: dict[str, list[StoredVersion]] = {}
        self._signoffs: dict[str, list[dict[str, Any]]] = {}
        self._actions: dict[str, list[ActionRecord]] = {}
        self._signals: dict[str, list[object]] = {}
        self._documents: dict[tuple[str, str], dict[str, DocumentRecord]] = {}
        version_columns = [c for c in agreement_versions.c if c.name != "content"]
        with store._tx() as conn:
            for chunk in _chunks(list(self.ids)):
                for r in conn.execute(select(partnerships).where(partnerships.c.id.in_(chunk))):
                    self._applied[r.id] = AppliedPartnership(**r._mapping)
                for r in conn.execute(
                    select(answers).where(answers.c.partnership_id.in_(chunk)).order_by(answers.c.id)
                ):
                    self._answers.setdefault(r.partnership_id, []).append(
                        AnswerRecord(r.prompt_key, r.author, r.text, r.at)
                    )
                for r in conn.execute(
                    select(outbox.c.partnership_id, outbox.c.kind, outbox.c.key, outbox.c.platform, outbox.c.status)
                    .where(
                        outbox.c.partnership_id.in_(chunk),
                        or_(outbox.c.kind == PREFETCHED_KIND, outbox.c.status == "pending"),
                    )
                    .order_by(outbox.c.created_at, outbox.c.key)
                ):
                    self._posts.setdefault(r.partnership_id, []).append((r.kind, r.key, r.platform, r.status))
                for r in conn.execute(
                    select(*version_columns)
                    .where(agreement_versions.c.partnership_id.in_(chunk))
                    .order_by(agreement_versions.c.number)
                ):
                    self._versions.setdefault(r.partnership_id, []).append(_stored_version(r))
                for r in conn.execute(
                    select(agreement_signoffs)
                    .where(agreement_signoffs.c.partnership_id.in_(chunk))
                    .order_by(agreement_signoffs.c.id)
                ):
                    self._signoffs.setdefault(r.partnership_id, []).append({**r._mapping, "at": _aware(r.at)})
                for r in conn.execute(
                    select(actions)
                    .where(actions.c.partnership_id.in_(chunk), actions.c.done == 0)
                    .order_by(actions.c.number)
                ):
                    self._actions.setdefault(r.partnership_id, []).append(
                        ActionRecord(r.number, r.text, r.who, r.due, bool(r.done), r.origin)
                    )
                for r in conn.execute(
                    select(signal_events.c.partnership_id, func.count(signal_events.c.id), func.max(signal_events.c.id))
                    .where(signal_events.c.partnership_id.in_(chunk))
                    .group_by(signal_events.c.partnership_id)
                ):
                    self._signals[r[0]] = [int(r[1] or 0), int(r[2] or 0)]
                for r in conn.execute(select(documents).where(documents.c.partnership_id.in_(chunk))):
                    self._documents.setdefault((r.partnership_id, r.platform), {})[r.key] = DocumentRecord(
                        key=r.key, path=r.path, rendered=r.rendered, fingerprint=r.fingerprint
                    )

    def __getattr__(self, name: str) -> Any:
        """Anything else is the store's; a call about one of these partnerships ends answering for it."""
        attribute = getattr(self.store, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            self.forget(kwargs.get("partnership_id", args[0] if args else None))
            return attribute(*args, **kwargs)

        return call

    def forget(self, partnership_id: object) -> None:
        """From now on, questions about this partnership go to the store."""
        self.ids.discard(partnership_id)  # type: ignore[arg-type]

    # --- the questions a reconcile asks, answered from what was read ------------------------------------

    def applied(self, partnership_id: str) -> AppliedPartnership | None:
        if partnership_id not in self.ids:
            return self.store.applied(partnership_id)
        return self._applied.get(partnership_id)

    def answers(self, partnership_id: str, prompt_key: str | None = None) -> list[AnswerRecord]:
        if partnership_id not in self.ids or prompt_key is not None:
            return self.store.answers(partnership_id, prompt_key)
        return list(self._answers.get(partnership_id, []))

    def post_keys(self, partnership_id: str, kind: str) -> list[str]:
        if partnership_id not in self.ids or kind != PREFETCHED_KIND:
            return self.store.post_keys(partnership_id, kind)
        rows = self._posts.get(partnership_id, [])
        return list(dict.fromkeys(key for k, key, _platform, _status in rows if k == kind))

    def has_pending(self, partnership_id: str, platforms: Sequence[str]) -> bool:
        if partnership_id not in self.ids:
            return self.store.has_pending(partnership_id, platforms)
        rows = self._posts.get(partnership_id, [])
        return any(status == "pending" and platform in platforms for _k, _key, platform, status in rows)

    def agreement_record(self, partnership_id: str) -> tuple[list[StoredVersion], list[dict[str, Any]]]:
        if partnership_id not in self.ids:
            return self.store.agreement_record(partnership_id)
        return list(self._versions.get(partnership_id, [])), list(self._signoffs.get(partnership_id, []))

    def latest_agreement_version(self, partnership_id: str, *, content: bool = True) -> StoredVersion | None:
        if partnership_id not in self.ids or content:
            return self.store.latest_agreement_version(partnership_id, content=content)
        versions = self._versions.get(partnership_id)
        return versions[-1] if versions else None

    def actions(self, partnership_id: str, *, open_only: bool = False) -> list[ActionRecord]:
        if partnership_id not in self.ids or not open_only:
            return self.store.actions(partnership_id, open_only=open_only)
        return list(self._actions.get(partnership_id, []))

    def signals_digest(self, partnership_id: str) -> list[object]:
        if partnership_id not in self.ids:
            return self.store.signals_digest(partnership_id)
        return list(self._signals.get(partnership_id, [0, 0]))

    def documents(self, partnership_id: str, platform: str) -> dict[str, DocumentRecord]:
        if partnership_id not in self.ids:
            return self.store.documents(partnership_id, platform)
        return dict(self._documents.get((partnership_id, platform), {}))

    def document(self, partnership_id: str, platform: str, key: str) -> DocumentRecord | None:
        if partnership_id not in self.ids:
            return self.store.document(partnership_id, platform, key)
        return self._documents.get((partnership_id, platform), {}).get(key)
