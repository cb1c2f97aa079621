"""brug's memory: what it applied, which documents it wrote (and their hashes), what it posted.

SQLAlchemy Core on SQLite by default, or on PostgreSQL (psycopg 3) when `state` in brug.toml is a
`postgresql://` URL. The schema is versioned: `MIGRATIONS` is an append-only list that must work on
both engines (SQLAlchemy constructs, or SQL both understand), and opening a store brings any older
database up to date inside one transaction. Nothing here stores case or family data — only
agreements, statuses, actions and reflections.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    delete,
    event,
    func,
    insert,
    inspect,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.ext.compiler import compiles

from brug.domain.signals import Level, SignalEvent, SignalRecord, Status
from brug.planner import DocumentRecord

metadata = MetaData()


@compiles(String, "postgresql")
def _text_on_postgresql(type_: String, compiler: Any, **kw: Any) -> str:
    """Strings are TEXT on PostgreSQL: SQLite never enforced a VARCHAR's length, and neither does brug's
    PostgreSQL, so a key that fits one engine fits the other (PostgreSQL stores both types alike)."""
    return "TEXT"

schema_version = Table("brug_schema", metadata, Column("version", Integer, nullable=False))

partnerships = Table(
    "partnerships",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("workflow", String(64), nullable=False),
    Column("phase", String(64), nullable=False),
    Column("phase_changes", Integer, nullable=False, default=0),
    Column("inputs_hash", String(64)),
    Column("source", Text),
    Column("applied_at", DateTime(timezone=True)),
)

documents = Table(
    "documents",
    metadata,
    Column("partnership_id", String(64), primary_key=True),
    Column("platform", String(32), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("path", Text, nullable=False),
    Column("rendered", String(64), nullable=False),
    Column("fingerprint", String(200), nullable=False),
    Column("written_at", DateTime(timezone=True), nullable=False),
)

outbox = Table(
    "outbox",
    metadata,
    Column("platform", String(32), primary_key=True),
    Column("key", String(300), primary_key=True),
    Column("partnership_id", String(64), nullable=False, index=True),
    Column("room", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("content", Text, nullable=False),
    Column("status", String(16), nullable=False),  # pending | sent | parked (failed too often; see status)
    Column("ref", Text),  # the platform's id for the message
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True)),
    # version 8: failed attempts and the last error, so one bad post is parked instead of retried for ever
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("last_error", Text),
)


# --- version 2: chat platforms and the work partners do in chat --------------------------------------

resources = Table(  # what brug made on a platform: a space, a room, a pinned message …
    "resources",
    metadata,
    Column("partnership_id", String(64), primary_key=True),
    Column("platform", String(32), primary_key=True),
    Column("kind", String(32), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("ref", Text, nullable=False),  # the platform's id for it
    Column("data", Text, nullable=False, default=""),  # a small JSON note, e.g. the hash of a pinned text
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

invites = Table(  # who was invited to which room, and how it went
    "invites",
    metadata,
    Column("partnership_id", String(64), primary_key=True),
    Column("platform", String(32), primary_key=True),
    Column("room", String(200), primary_key=True),
    Column("user", String(300), primary_key=True),
    Column("status", String(16), nullable=False),  # invited | failed
    Column("error", Text),
    Column("attempts", Integer, nullable=False, default=1),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

sync_tokens = Table(
    "sync_tokens",
    metadata,
    Column("platform", String(32), primary_key=True),
    Column("account", String(300), primary_key=True),
    Column("token", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

processed_events = Table(
    "processed_events",
    metadata,
    Column("platform", String(32), primary_key=True),
    Column("event_id", String(300), primary_key=True),
    Column("processed_at", DateTime(timezone=True), nullable=False),
)

agenda_items = Table(  # points partners put on the agenda of the next meeting
    "agenda_items",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("partnership_id", String(64), nullable=False, index=True),
    Column("text", Text, nullable=False),
    Column("added_by", String(200), nullable=False),
    Column("added_at", DateTime(timezone=True), nullable=False),
    Column("origin", String(300), nullable=False, unique=True),  # e.g. "matrix:<event id>": added once
    Column("meeting", DateTime(timezone=True)),  # the meeting whose agenda took it up; NULL = still open
)

actions = Table(  # who does what by when: from chat (!actie) or from the minutes
    "actions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("partnership_id", String(64), nullable=False, index=True),
    Column("number", Integer, nullable=False),  # shown to people; per partnership
    Column("text", Text, nullable=False),
    Column("who", String(200)),
    Column("due", String(10)),  # ISO date
    Column("done", Integer, nullable=False, default=0),
    Column("origin", String(300), nullable=False),  # "chat:<event>" or "minutes:<document path>"
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("done_at", DateTime(timezone=True)),
)

answers = Table(  # replies to reflection prompts
    "answers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("partnership_id", String(64), nullable=False, index=True),
    Column("prompt_key", String(300), nullable=False),
    Column("author", String(200), nullable=False),
    Column("text", Text, nullable=False),
    Column("platform", String(32), nullable=False),
    Column("event_id", String(300), nullable=False, unique=True),
    Column("at", DateTime(timezone=True), nullable=False),
)

pauses = Table(  # partnerships whose reflection prompts are paused (!pauze)
    "pauses",
    metadata,
    Column("partnership_id", String(64), primary_key=True),
    Column("by", String(200), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)


# --- version 3: schedules ------------------------------------------------------------------------------

slots = Table(  # every scheduled moment brug handled: posted (done), skipped after downtime, or paused
    "slots",
    metadata,
    Column("partnership_id", String(64), primary_key=True),
    Column("kind", String(32), primary_key=True),  # agenda | reflection
    Column("at", String(32), primary_key=True),  # the slot's moment, ISO 8601 in UTC
    Column("status", String(16), nullable=False),  # done | skipped | paused
    Column("late", Integer, nullable=False, default=0),
    Column("reported", Integer, nullable=False, default=0),  # a skipped slot named in an agenda
    Column("handled_at", DateTime(timezone=True), nullable=False),
)

schedule_marks = Table(  # up to when each partnership's schedule of a kind has been handled
    "schedule_marks",
    metadata,
    Column("partnership_id", String(64), primary_key=True),
    Column("kind", String(32), primary_key=True),
    Column("upto", String(32), nullable=False),
)

document_versions = Table(  # earlier versions of documents worth a history (the agreement)
    "document_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("partnership_id", String(64), nullable=False, index=True),
    Column("key", String(200), nullable=False),
    Column("rendered", String(64), nullable=False),
    Column("content", Text, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)


# --- version 4: the barometer ----------------------------------------------------------------------------

barometer_rounds = Table(  # a stretch of time (or of prompts) whose ratings are shown together
    "barometer_rounds",
    metadata,
    Column("partnership_id", String(64), primary_key=True),
    Column("round_id", String(64), primary_key=True),
    Column("starts", String(32), nullable=False),  # ISO 8601 UTC
    Column("ends", String(32)),  # ISO 8601 UTC; NULL for a round counted in prompts
    Column("status", String(16), nullable=False),  # open | closed
    Column("min_respondents", Integer, nullable=False, default=3),
    Column("respondents", Integer),  # set when the round closes
    Column("closed_at", DateTime(timezone=True)),
    Column("agenda_meeting", String(32)),  # the meeting whose agenda took up its attention item
)

barometer_polls = Table(  # every barometer poll brug posted, to know what a vote answers
    "barometer_polls",
    metadata,
    Column("platform", String(32), primary_key=True),
    Column("ref", String(300), primary_key=True),  # the platform's id of the poll
    Column("partnership_id", String(64), nullable=False, index=True),
    Column("key", String(300), nullable=False),
    Column("round_id", String(64), nullable=False),
    Column("bouwsteen", String(32), nullable=False),
)

barometer_votes = Table(  # the latest rating per person while a round is open; deleted when it closes
    "barometer_votes",
    metadata,
    Column("partnership_id", String(64), primary_key=True),
    Column("round_id", String(64), primary_key=True),
    Column("bouwsteen", String(32), primary_key=True),
    Column("voter", String(200), primary_key=True),  # the member's key: one person on two platforms is one
    Column("score", Integer, nullable=False),
    Column("grp", String(200), nullable=False),
    Column("at", String(32), nullable=False),  # when the vote was cast (platform time), ISO 8601 UTC
)

barometer_counts = Table(  # what a closed round keeps: counts per score, only for the cells that may be shown
    "barometer_counts",
    metadata,
    Column("partnership_id", String(64), primary_key=True),
    Column("round_id", String(64), primary_key=True),
    Column("bouwsteen", String(32), primary_key=True),
    Column("cell", String(200), primary_key=True),  # "" = everyone, else a group (organisation or sector)
    Column("c1", Integer, nullable=False),
    Column("c2", Integer, nullable=False),
    Column("c3", Integer, nullable=False),
    Column("c4", Integer, nullable=False),
    Column("c5", Integer, nullable=False),
)


# --- version 5: signals to policy ----------------------------------------------------------------------

signals = Table(  # what partners see that no single organisation can solve (a pattern, never a case)
    "signals",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("partnership_id", String(64), nullable=False, index=True),
    Column("number", Integer, nullable=False),  # shown to people; per partnership
    Column("text", Text, nullable=False),
    Column("theme", String(100), nullable=False),  # a theme id of workflows/signals.yaml, or free text
    Column("level", String(8)),  # micro | meso | macro; NULL = still to choose
    Column("status", String(16), nullable=False),  # nieuw | besproken | doorgegeven | antwoord | afgesloten
    Column("raised_by", String(200), nullable=False),
    Column("organisation", String(200)),
    Column("raised_at", String(32), nullable=False),  # ISO 8601 in UTC
    Column("forwarded_to", String(300)),
    Column("forwarded_at", String(32)),
    Column("answer", Text),
    Column("answered_at", String(32)),
    Column("question", Text),  # the question to policy
    Column("origin", String(300), nullable=False),  # "matrix:<event>" or "minutes:<path>:<hash>": once
)

signal_events = Table(  # each step of a signal: raised, discussed, passed on, answered, closed
    "signal_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("partnership_id", String(64), nullable=False, index=True),
    Column("number", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("note", Text),  # to whom it was passed on, the answer
    Column("by", String(200), nullable=False),
    Column("at", String(32), nullable=False),
    Column("origin", String(300), nullable=False),  # the message or minutes line it came from: once
)


# --- version 6: the agreement's versions and sign-offs ---------------------------------------------------

agreement_versions = Table(  # every content of the agreement document brug saw (issue 9)
    "agreement_versions",
    metadata,
    Column("partnership_id", String(64), primary_key=True),
    Column("number", Integer, primary_key=True),
    Column("sha256", String(64), nullable=False),
    Column("fingerprint", String(200), nullable=False),  # what the platform showed (mtime:size, ETag)
    Column("platform", String(32), nullable=False),
    Column("who", String(200)),
    Column("sections", Text, nullable=False, default="[]"),  # JSON list of headings changed
    Column("content", Text, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)

agreement_signoffs = Table(  # who signed (or presented) which version for which organisation
    "agreement_signoffs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("partnership_id", String(64), nullable=False, index=True),
    Column("organisation", String(64), nullable=False),
    Column("member", String(64), nullable=False),
    Column("member_name", String(200), nullable=False),
    Column("kind", String(16), nullable=False),  # signed | presented
    Column("version", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("origin", String(300), nullable=False, unique=True),  # the chat event: recorded once
    Column("at", DateTime(timezone=True), nullable=False),
)


# --- version 7: what brug learned of a platform's rate limits --------------------------------------

pacing = Table(  # per account: the homeserver's buckets as brug models them (JSON), kept across restarts
    "pacing",
    metadata,
    Column("platform", String(32), primary_key=True),
    Column("account", String(300), primary_key=True),
    Column("state", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)


# --- version 8: what went wrong with one chat message, so it is reported once and never wedges brug ------

event_failures = Table(
    "event_failures",
    metadata,
    Column("platform", String(32), primary_key=True),
    Column("event_id", String(300), primary_key=True),
    Column("partnership_id", String(64), nullable=False, index=True),
    Column("error", Text, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)


# --- version 9: indexes for what a large installation asks often (plans looked at on PostgreSQL, 10,000 ---
# partnerships, 600,000 posts: each of these was a sequential scan of the whole table)

outbox_pending = Index(  # the pending posts of a platform, oldest first: a few rows among many sent ones
    "ix_outbox_pending",
    outbox.c.platform,
    outbox.c.created_at,
    postgresql_where=outbox.c.status == "pending",
    sqlite_where=outbox.c.status == "pending",
)
outbox_ref = Index("ix_outbox_ref", outbox.c.platform, outbox.c.ref)  # a chat reply: which prompt it answers
resources_ref = Index("ix_resources_ref", resources.c.platform, resources.c.ref)  # a chat event: whose room


def _v1(conn: Connection) -> None:
    metadata.create_all(conn, tables=[partnerships, documents, outbox])


def _v2(conn: Connection) -> None:
    metadata.create_all(
        conn, tables=[resources, invites, sync_tokens, processed_events, agenda_items, actions, answers, pauses]
    )


def _v3(conn: Connection) -> None:
    metadata.create_all(conn, tables=[slots, schedule_marks, document_versions])


def _v4(conn: Connection) -> None:
    metadata.create_all(conn, tables=[barometer_rounds, barometer_polls, barometer_votes, barometer_counts])


def _v5(conn: Connection) -> None:
    metadata.create_all(conn, tables=[signals, signal_events])


def _v6(conn: Connection) -> None:
    metadata.create_all(conn, tables=[agreement_versions, agreement_signoffs])


def _v7(conn: Connection) -> None:
    metadata.create_all(conn, tables=[pacing])


def _v8(conn: Connection) -> None:
    present = {c["name"] for c in inspect(conn).get_columns("outbox")}
    added = {"attempts": "INTEGER NOT NULL DEFAULT 0", "last_error": "TEXT"}
    for column, ddl in added.items():  # a database made by this version's _v1 has them already
        if column not in present:
            conn.execute(text(f"ALTER TABLE outbox ADD COLUMN {column} {ddl}"))
    metadata.create_all(conn, tables=[event_failures])


def _v9(conn: Connection) -> None:
    for index in (outbox_pending, outbox_ref, resources_ref):  # a new database made them with its tables
        index.create(conn, checkfirst=True)


MIGRATIONS: list[Callable[[Connection], None]] = [_v1, _v2, _v3, _v4, _v5, _v6, _v7, _v8, _v9]
SCHEMA_VERSION = len(MIGRATIONS)


@dataclass(frozen=True)
class AppliedPartnership:
    id: str
    name: str
    workflow: str
    phase: str
    phase_changes: int
    inputs_hash: str | None
    source: str | None
    applied_at: datetime | None


@dataclass(frozen=True)
class Resource:
    partnership_id: str
    platform: str
    kind: str
    key: str
    ref: str
    data: str


@dataclass(frozen=True)
class AgendaItemRecord:
    id: int
    text: str
    added_by: str
    added_at: datetime


@dataclass(frozen=True)
class ActionRecord:
    number: int
    text: str
    who: str | None
    due: str | None
    done: bool
    origin: str


@dataclass(frozen=True)
class AnswerRecord:
    prompt_key: str
    author: str
    text: str
    at: datetime


@dataclass(frozen=True)
class SlotRecord:
    kind: str
    at: datetime
    status: str
    late: bool
    reported: bool


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _now() -> datetime:
    return datetime.now(UTC)


MIGRATION_LOCK = 0x62727567  # "brug": PostgreSQL advisory lock held while one process migrates


def is_database_url(location: Path | str) -> bool:
    """Whether `state` names a database server (a URL) rather than a SQLite file."""
    return isinstance(location, str) and "://" in location


def engine_url(url: str) -> str:
    """The SQLAlchemy URL for a state URL: `postgresql://` and `postgres://` use psycopg 3."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def shown_url(url: str) -> str:
    """A state URL fit for messages and logs: never its password."""
    return make_url(url).render_as_string(hide_password=True)


class Store:
    def __init__(self, url: str) -> None:
        self.url = engine_url(url)
        self.engine: Engine = create_engine(self.url, pool_pre_ping=self.is_postgresql)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        elif self.is_postgresql:
            event.listen(self.engine, "connect", _postgresql_session)
        self.migrate()

    @property
    def is_postgresql(self) -> bool:
        return self.url.startswith("postgresql")

    @classmethod
    def at(cls, path: Path) -> Store:
        path.parent.mkdir(parents=True, exist_ok=True)
        return cls(f"sqlite:///{path}")

    @classmethod
    def open(cls, location: Path | str) -> Store:
        """The store `state` names: a SQLite file (made when missing) or a database URL."""
        return cls(location) if is_database_url(location) else cls.at(Path(location))

    # --- schema ------------------------------------------------------------------------------------

    def migrate(self) -> int:
        """Bring the database to SCHEMA_VERSION; returns the version it was at."""
        with self.engine.begin() as conn:
            if self.is_postgresql:  # two processes starting at once: one migrates, the other waits
                conn.execute(select(func.pg_advisory_xact_lock(MIGRATION_LOCK)))
            metadata.create_all(conn, tables=[schema_version])
            current = conn.execute(select(schema_version.c.version)).scalar()
            if current is None:
                conn.execute(insert(schema_version).values(version=0))
                current = 0
            if current > SCHEMA_VERSION:
                raise RuntimeError(f"the database {shown_url(self.url)} was made by a newer brug (schema {current})")
            for version in range(current, SCHEMA_VERSION):
                MIGRATIONS[version](conn)
            conn.execute(update(schema_version).values(version=SCHEMA_VERSION))
        return current

    @property
    def version(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(schema_version.c.version)).scalar_one())

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    def close(self) -> None:
        self.engine.dispose()

    # --- partnerships ------------------------------------------------------------------------------

    def applied(self, partnership_id: str) -> AppliedPartnership | None:
        with self._tx() as conn:
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

    # --- documents ---------------------------------------------------------------------------------

    def documents(self, partnership_id: str, platform: str) -> dict[str, DocumentRecord]:
        with self._tx() as conn:
            rows = conn.execute(
                select(documents).where(documents.c.partnership_id == partnership_id, documents.c.platform == platform)
            ).all()
        return {
            r.key: DocumentRecord(key=r.key, path=r.path, rendered=r.rendered, fingerprint=r.fingerprint) for r in rows
        }

    def document(self, partnership_id: str, platform: str, key: str) -> DocumentRecord | None:
        """One document's record (what `documents` holds for this key)."""
        with self._tx() as conn:
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

    # --- outbox ------------------------------------------------------------------------------------

    def posted_keys(self, partnership_id: str, platform: str) -> set[str]:
        """Keys of posts that were sent or parked (pending ones are not in here: they must still go out)."""
        with self._tx() as conn:
            rows = conn.execute(
                select(outbox.c.key).where(
                    outbox.c.partnership_id == partnership_id,
                    outbox.c.platform == platform,
                    outbox.c.status.in_(("sent", "parked")),
                )
            ).all()
        return {r.key for r in rows}

    def is_sent(self, platform: str, key: str) -> bool:
        with self._tx() as conn:
            status = conn.execute(
                select(outbox.c.status).where(outbox.c.platform == platform, outbox.c.key == key)
            ).scalar()
        return status == "sent"

    def outbox_entry(self, platform: str, key: str) -> dict[str, Any] | None:
        with self._tx() as conn:
            row = conn.execute(select(outbox).where(outbox.c.platform == platform, outbox.c.key == key)).first()
        return dict(row._mapping) if row else None

    def enqueue(self, platform: str, key: str, partnership_id: str, room: str, kind: str, content: str) -> str | None:
        """Put a post in the outbox (once per key and platform); returns the status it already had, if any."""
        with self._tx() as conn:
            status = conn.execute(
                select(outbox.c.status).where(outbox.c.platform == platform, outbox.c.key == key)
            ).scalar()
            if status is None:
                conn.execute(
                    insert(outbox).values(
                        platform=platform,
                        key=key,
                        partnership_id=partnership_id,
                        room=room,
                        kind=kind,
                        content=content,
                        status="pending",
                        created_at=_now(),
                    )
                )
        return status

    def mark_sent(self, platform: str, key: str, ref: str) -> None:
        with self._tx() as conn:
            conn.execute(
                update(outbox)
                .where(outbox.c.platform == platform, outbox.c.key == key)
                .values(status="sent", ref=ref, sent_at=_now())
            )

    def record_post_failure(self, platform: str, key: str, error: str, *, park_after: int) -> str:
        """Count a failed attempt at a pending post; at `park_after` attempts it is parked. Its new status."""
        with self._tx() as conn:
            row = conn.execute(
                select(outbox.c.status, outbox.c.attempts).where(outbox.c.platform == platform, outbox.c.key == key)
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

    def parked_posts(self, partnership_id: str) -> list[dict[str, Any]]:
        """Posts that failed too often and wait for a person: shown by `brug status`."""
        with self._tx() as conn:
            rows = conn.execute(
                select(outbox.c.platform, outbox.c.key, outbox.c.kind, outbox.c.attempts, outbox.c.last_error)
                .where(outbox.c.partnership_id == partnership_id, outbox.c.status == "parked")
                .order_by(outbox.c.created_at)
            ).all()
        return [dict(r._mapping) for r in rows]

    def has_pending(self, partnership_id: str, platforms: Sequence[str]) -> bool:
        """Whether a post of this partnership still waits to be sent on one of these platforms."""
        with self._tx() as conn:
            row = conn.execute(
                select(outbox.c.key).where(
                    outbox.c.partnership_id == partnership_id,
                    outbox.c.platform.in_(list(platforms)),
                    outbox.c.status == "pending",
                )
            ).first()
        return row is not None

    def slot_posts(self, partnership_id: str, prefixes: Sequence[str]) -> dict[tuple[str, str], str]:
        """The outbox rows (platform, key) -> status whose key starts with one of `prefixes`."""
        with self._tx() as conn:
            rows = conn.execute(
                select(outbox.c.platform, outbox.c.key, outbox.c.status).where(
                    outbox.c.partnership_id == partnership_id,
                    or_(*(outbox.c.key.startswith(prefix, autoescape=True) for prefix in prefixes)),
                )
            ).all()
        return {(r.platform, r.key): r.status for r in rows}

    def pending(self, platform: str) -> list[dict[str, str]]:
        with self._tx() as conn:
            rows = conn.execute(
                select(outbox)
                .where(outbox.c.platform == platform, outbox.c.status == "pending")
                .order_by(outbox.c.created_at)
            ).all()
        return [dict(r._mapping) for r in rows]

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

    def put_sync_token(self, platform: str, account: str, token: str) -> None:
        with self._tx() as conn:
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

    def is_processed(self, platform: str, event_id: str) -> bool:
        with self._tx() as conn:
            found = conn.execute(
                select(processed_events.c.event_id).where(
                    processed_events.c.platform == platform, processed_events.c.event_id == event_id
                )
            ).first()
        return found is not None

    def _once_per_event(self, table: Table, platform: str, event_id: str, **values: Any) -> bool:
        """Insert a row for this platform event unless there is one; False when there already was."""
        with self._tx() as conn:
            where = (table.c.platform == platform, table.c.event_id == event_id)
            if conn.execute(select(table.c.event_id).where(*where)).first():
                return False
            conn.execute(insert(table).values(platform=platform, event_id=event_id, **values))
            return True

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

    # --- agenda items, actions, answers, pauses ------------------------------------------------------

    def add_agenda_item(self, partnership_id: str, text: str, added_by: str, origin: str) -> int:
        """Add a point for the next meeting; the same origin (e.g. chat event) adds it only once."""
        with self._tx() as conn:
            existing = conn.execute(select(agenda_items.c.id).where(agenda_items.c.origin == origin)).scalar()
            if existing is not None:
                return int(existing)
            result = conn.execute(
                insert(agenda_items).values(
                    partnership_id=partnership_id, text=text, added_by=added_by, added_at=_now(), origin=origin
                )
            )
            return int(result.inserted_primary_key[0])

    def open_agenda_items(self, partnership_id: str) -> list[AgendaItemRecord]:
        with self._tx() as conn:
            rows = conn.execute(
                select(agenda_items)
                .where(agenda_items.c.partnership_id == partnership_id, agenda_items.c.meeting.is_(None))
                .order_by(agenda_items.c.id)
            ).all()
        return [AgendaItemRecord(r.id, r.text, r.added_by, r.added_at) for r in rows]

    def assign_agenda_items(self, partnership_id: str, ids: list[int], meeting: datetime) -> None:
        with self._tx() as conn:
            conn.execute(
                update(agenda_items)
                .where(agenda_items.c.partnership_id == partnership_id, agenda_items.c.id.in_(ids))
                .values(meeting=meeting)
            )

    def add_action(self, partnership_id: str, text: str, who: str | None, due: str | None, origin: str) -> int:
        """Record an action; returns its number within the partnership (1, 2, …). Once per origin."""
        with self._tx() as conn:
            number, new = _number_for(conn, actions, partnership_id, origin)
            if not new:
                return number
            conn.execute(
                insert(actions).values(
                    partnership_id=partnership_id,
                    number=number,
                    text=text,
                    who=who,
                    due=due,
                    done=0,
                    origin=origin,
                    created_at=_now(),
                )
            )
            return number

    def actions(self, partnership_id: str, *, open_only: bool = False) -> list[ActionRecord]:
        query = select(actions).where(actions.c.partnership_id == partnership_id)
        if open_only:
            query = query.where(actions.c.done == 0)
        with self._tx() as conn:
            rows = conn.execute(query.order_by(actions.c.number)).all()
        return [ActionRecord(r.number, r.text, r.who, r.due, bool(r.done), r.origin) for r in rows]

    def complete_action(self, partnership_id: str, number: int) -> bool:
        """Tick off an open action; False when there is no open action with that number."""
        with self._tx() as conn:
            done = conn.execute(
                update(actions)
                .where(actions.c.partnership_id == partnership_id, actions.c.number == number, actions.c.done == 0)
                .values(done=1, done_at=_now())
            )
        return done.rowcount > 0

    def add_answer(
        self, partnership_id: str, prompt_key: str, author: str, text: str, platform: str, event_id: str
    ) -> bool:
        with self._tx() as conn:
            if conn.execute(select(answers.c.id).where(answers.c.event_id == event_id)).first():
                return False
            _insert_answer(conn, partnership_id, prompt_key, author, text, platform, event_id)
        return True

    def put_answer(
        self, partnership_id: str, prompt_key: str, author: str, text: str | None, platform: str, event_id: str
    ) -> str:
        """Keep one changeable answer per `event_id` (a web link): 'new', 'replaced', 'removed' or 'same'."""
        with self._tx() as conn:
            row = conn.execute(select(answers.c.id, answers.c.text).where(answers.c.event_id == event_id)).first()
            if row is None:
                if not text:
                    return "same"
                _insert_answer(conn, partnership_id, prompt_key, author, text, platform, event_id)
                return "new"
            if not text:
                conn.execute(delete(answers).where(answers.c.id == row.id))
                return "removed"
            if row.text == text:
                return "same"
            conn.execute(update(answers).where(answers.c.id == row.id).values(text=text, author=author, at=_now()))
            return "replaced"

    def answer_text(self, event_id: str) -> str | None:
        """The text of the answer stored under `event_id`, if any."""
        with self._tx() as conn:
            return conn.execute(select(answers.c.text).where(answers.c.event_id == event_id)).scalar()

    def answers(self, partnership_id: str, prompt_key: str | None = None) -> list[AnswerRecord]:
        query = select(answers).where(answers.c.partnership_id == partnership_id)
        if prompt_key is not None:
            query = query.where(answers.c.prompt_key == prompt_key)
        with self._tx() as conn:
            rows = conn.execute(query.order_by(answers.c.id)).all()
        return [AnswerRecord(r.prompt_key, r.author, r.text, r.at) for r in rows]

    def set_paused(self, partnership_id: str, paused: bool, by: str = "") -> None:
        with self._tx() as conn:
            conn.execute(delete(pauses).where(pauses.c.partnership_id == partnership_id))
            if paused:
                conn.execute(insert(pauses).values(partnership_id=partnership_id, by=by, at=_now()))

    def is_paused(self, partnership_id: str) -> bool:
        with self._tx() as conn:
            return (
                conn.execute(select(pauses.c.by).where(pauses.c.partnership_id == partnership_id)).first() is not None
            )

    def post_keys(self, partnership_id: str, kind: str) -> list[str]:
        """Keys of a partnership's posts of one kind, oldest first (each key once, whatever the platforms)."""
        with self._tx() as conn:
            rows = conn.execute(
                select(outbox.c.key, outbox.c.created_at)
                .where(outbox.c.partnership_id == partnership_id, outbox.c.kind == kind)
                .order_by(outbox.c.created_at, outbox.c.key)
            ).all()
        return list(dict.fromkeys(r.key for r in rows))

    # --- schedules -------------------------------------------------------------------------------------

    def schedule_mark(self, partnership_id: str, kind: str) -> datetime | None:
        with self._tx() as conn:
            upto = conn.execute(
                select(schedule_marks.c.upto).where(
                    schedule_marks.c.partnership_id == partnership_id, schedule_marks.c.kind == kind
                )
            ).scalar()
        return datetime.fromisoformat(upto) if upto else None

    def set_schedule_mark(self, partnership_id: str, kind: str, upto: datetime) -> None:
        with self._tx() as conn:
            _upsert(conn, schedule_marks, {"partnership_id": partnership_id, "kind": kind}, {"upto": _utc(upto)})

    def slot_status(self, partnership_id: str, kind: str, at: datetime) -> str | None:
        with self._tx() as conn:
            return conn.execute(
                select(slots.c.status).where(
                    slots.c.partnership_id == partnership_id, slots.c.kind == kind, slots.c.at == _utc(at)
                )
            ).scalar()

    def record_slot(self, partnership_id: str, kind: str, at: datetime, status: str, *, late: bool = False) -> None:
        key = {"partnership_id": partnership_id, "kind": kind, "at": _utc(at)}
        with self._tx() as conn:
            _upsert(conn, slots, key, dict(status=status, late=int(late), handled_at=_now()))

    def slots(self, partnership_id: str, kind: str | None = None) -> list[SlotRecord]:
        query = select(slots).where(slots.c.partnership_id == partnership_id)
        if kind is not None:
            query = query.where(slots.c.kind == kind)
        with self._tx() as conn:
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

    # --- signals ---------------------------------------------------------------------------------------

    def add_signal(
        self,
        partnership_id: str,
        *,
        text: str,
        theme: str,
        level: str | None,
        raised_by: str,
        organisation: str | None,
        at: datetime,
        origin: str,
    ) -> tuple[int, bool]:
        """Record a new signal; returns its number and whether it is new (the same origin adds it once)."""
        with self._tx() as conn:
            number, new = _number_for(conn, signals, partnership_id, origin)
            if not new:
                return number, False
            conn.execute(
                insert(signals).values(
                    partnership_id=partnership_id,
                    number=number,
                    text=text,
                    theme=theme,
                    level=level,
                    status=Status.nieuw.value,
                    raised_by=raised_by,
                    organisation=organisation,
                    raised_at=_utc(at),
                    origin=origin,
                )
            )
            conn.execute(
                insert(signal_events).values(
                    partnership_id=partnership_id,
                    number=number,
                    status=Status.nieuw.value,
                    by=raised_by,
                    at=_utc(at),
                    origin=origin,
                )
            )
        return number, True

    def update_signal(
        self,
        partnership_id: str,
        number: int,
        values: dict[str, object],
        *,
        event: str | None,
        note: str | None,
        by: str,
        at: datetime,
        origin: str,
    ) -> bool:
        """Change a signal and add the step to its history; False when this origin was applied already."""
        stored = {k: (_utc(v) if isinstance(v, datetime) else getattr(v, "value", v)) for k, v in values.items()}
        with self._tx() as conn:
            done = conn.execute(
                select(signal_events.c.id).where(
                    signal_events.c.partnership_id == partnership_id, signal_events.c.origin == origin
                )
            ).first()
            if done is not None:
                return False
            if stored:
                conn.execute(
                    update(signals)
                    .where(signals.c.partnership_id == partnership_id, signals.c.number == number)
                    .values(**stored)
                )
            conn.execute(
                insert(signal_events).values(
                    partnership_id=partnership_id,
                    number=number,
                    status=event or "edit",
                    note=note,
                    by=by,
                    at=_utc(at),
                    origin=origin,
                )
            )
        return True

    def signals(self, partnership_id: str, *, open_only: bool = False) -> list[SignalRecord]:
        """A partnership's signals in number order, each with the steps of its history."""
        query = select(signals).where(signals.c.partnership_id == partnership_id)
        if open_only:
            query = query.where(signals.c.status != Status.afgesloten.value)
        with self._tx() as conn:
            rows = conn.execute(query.order_by(signals.c.number)).all()
            steps = conn.execute(
                select(signal_events)
                .where(signal_events.c.partnership_id == partnership_id, signal_events.c.status != "edit")
                .order_by(signal_events.c.id)
            ).all()
        history: dict[int, list[SignalEvent]] = {}
        for e in steps:
            history.setdefault(e.number, []).append(
                SignalEvent(Status(e.status), e.note, e.by, datetime.fromisoformat(e.at))
            )
        return [
            SignalRecord(
                partnership=r.partnership_id,
                number=r.number,
                text=r.text,
                theme=r.theme,
                level=Level(r.level) if r.level else None,
                status=Status(r.status),
                raised_by=r.raised_by,
                organisation=r.organisation,
                raised_at=datetime.fromisoformat(r.raised_at),
                forwarded_to=r.forwarded_to,
                forwarded_at=datetime.fromisoformat(r.forwarded_at) if r.forwarded_at else None,
                answer=r.answer,
                answered_at=datetime.fromisoformat(r.answered_at) if r.answered_at else None,
                question=r.question,
                events=tuple(history.get(r.number, ())),
            )
            for r in rows
        ]

    def signal(self, partnership_id: str, number: int) -> SignalRecord | None:
        return next((s for s in self.signals(partnership_id) if s.number == number), None)

    def signals_digest(self, partnership_id: str) -> list[object]:
        """A small fingerprint of a partnership's signals: changes whenever the log would change."""
        with self._tx() as conn:
            count, last = conn.execute(
                select(func.count(signal_events.c.id), func.max(signal_events.c.id)).where(
                    signal_events.c.partnership_id == partnership_id
                )
            ).one()
        return [int(count or 0), int(last or 0)]

    # --- the agreement: versions and sign-offs ----------------------------------------------------------

    def agreement_versions(self, partnership_id: str, *, content: bool = True) -> list[StoredVersion]:
        """Every version brug saw, oldest first; without `content` the texts are left out (empty)."""
        columns = [c for c in agreement_versions.c if content or c.name != "content"]
        with self._tx() as conn:
            rows = conn.execute(
                select(*columns)
                .where(agreement_versions.c.partnership_id == partnership_id)
                .order_by(agreement_versions.c.number)
            ).all()
        return [_stored_version(r) for r in rows]

    def latest_agreement_version(self, partnership_id: str, *, content: bool = True) -> StoredVersion | None:
        columns = [c for c in agreement_versions.c if content or c.name != "content"]
        with self._tx() as conn:
            row = conn.execute(
                select(*columns)
                .where(agreement_versions.c.partnership_id == partnership_id)
                .order_by(agreement_versions.c.number.desc())
                .limit(1)
            ).first()
        return _stored_version(row) if row is not None else None

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
                    r.c1, r.c2, r.c3, r.c4, r.c5
                )
            for r in conn.execute(select(*version_columns).order_by(agreement_versions.c.number)):
                figures.agreement_versions.setdefault(r.partnership_id, []).append(_stored_version(r))
            for r in conn.execute(select(agreement_signoffs).order_by(agreement_signoffs.c.id)):
                figures.signoffs.setdefault(r.partnership_id, []).append({**r._mapping, "at": _aware(r.at)})
        return figures

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
        """Record a new version; returns its number (1, 2, …)."""
        with self._tx() as conn:
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
            if conn.execute(select(agreement_signoffs.c.id).where(agreement_signoffs.c.origin == origin)).first():
                return False
            conn.execute(
                insert(agreement_signoffs).values(
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
            )
        return True

    def signoffs(self, partnership_id: str) -> list[dict[str, Any]]:
        with self._tx() as conn:
            rows = conn.execute(
                select(agreement_signoffs)
                .where(agreement_signoffs.c.partnership_id == partnership_id)
                .order_by(agreement_signoffs.c.id)
            ).all()
        return [{**r._mapping, "at": _aware(r.at)} for r in rows]

    def sent_post_by_key(self, platform: str, key: str) -> str | None:
        """The platform's id of a sent post."""
        with self._tx() as conn:
            return conn.execute(select(outbox.c.ref).where(outbox.c.platform == platform, outbox.c.key == key)).scalar()

    def sent_post(self, platform: str, ref: str) -> dict[str, object] | None:
        """The outbox entry of a message by its platform id (to recognise replies to a prompt)."""
        with self._tx() as conn:
            row = conn.execute(select(outbox).where(outbox.c.platform == platform, outbox.c.ref == ref)).first()
        return dict(row._mapping) if row else None

    # --- barometer -------------------------------------------------------------------------------------

    def ensure_round(
        self, partnership_id: str, round_id: str, starts: datetime, ends: datetime | None, min_respondents: int
    ) -> BarometerRoundRecord:
        """The round, created open when it is not known yet."""
        ident = {"partnership_id": partnership_id, "round_id": round_id}
        with self._tx() as conn:
            row = conn.execute(select(barometer_rounds).filter_by(**ident)).first()
            if row is None:
                conn.execute(
                    insert(barometer_rounds).values(
                        **ident,
                        starts=_utc(starts),
                        ends=_utc(ends) if ends else None,
                        status="open",
                        min_respondents=min_respondents,
                    )
                )
                row = conn.execute(select(barometer_rounds).filter_by(**ident)).first()
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
        with self._tx() as conn:
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
        """Keep a person's latest rating: 'new', 'replaced', 'older' (a later one is kept) or 'closed'."""
        ident = {"partnership_id": partnership_id, "round_id": round_id, "bouwsteen": bouwsteen, "voter": voter}
        when = _utc(at)
        with self._tx() as conn:
            status = conn.execute(
                select(barometer_rounds.c.status).filter_by(partnership_id=partnership_id, round_id=round_id)
            ).scalar()
            if status != "open":
                return "closed"
            earlier = conn.execute(select(barometer_votes.c.at).filter_by(**ident)).scalar()
            if earlier is None:
                conn.execute(insert(barometer_votes).values(**ident, score=score, grp=group, at=when))
                return "new"
            if earlier > when:
                return "older"
            conn.execute(update(barometer_votes).filter_by(**ident).values(score=score, grp=group, at=when))
            return "replaced"

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
        self,
        partnership_id: str,
        round_id: str,
        respondents: int,
        cells: dict[tuple[str, str], Sequence[int]],
    ) -> bool:
        """Close a round in one go: keep the counts of the cells that may be shown, forget who voted.

        Returns False when it was closed already (nothing changes then).
        """
        ident = {"partnership_id": partnership_id, "round_id": round_id}
        with self._tx() as conn:
            status = conn.execute(select(barometer_rounds.c.status).filter_by(**ident)).scalar()
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


@dataclass
class PortfolioFigures:
    """Every partnership's figures for the portfolio, by partnership id (see `Store.portfolio_figures`)."""

    open_actions: dict[str, list[str | None]] = field(default_factory=dict)  # due dates of open actions
    signal_statuses: dict[str, list[str]] = field(default_factory=dict)
    closed_rounds: dict[str, list[BarometerRoundRecord]] = field(default_factory=dict)  # oldest first
    round_totals: dict[tuple[str, str], dict[str, tuple[int, ...]]] = field(default_factory=dict)  # everyone's counts
    agreement_versions: dict[str, list[StoredVersion]] = field(default_factory=dict)  # without their texts
    signoffs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


@dataclass(frozen=True)
class BarometerRoundRecord:
    partnership_id: str
    round_id: str
    starts: datetime
    ends: datetime | None
    status: str
    min_respondents: int
    respondents: int | None
    agenda_meeting: str | None


def _round_record(row: Any) -> BarometerRoundRecord:
    return BarometerRoundRecord(
        row.partnership_id,
        row.round_id,
        datetime.fromisoformat(row.starts),
        datetime.fromisoformat(row.ends) if row.ends else None,
        row.status,
        row.min_respondents,
        row.respondents,
        row.agenda_meeting,
    )


@dataclass(frozen=True)
class StoredVersion:
    number: int
    sha256: str
    fingerprint: str
    platform: str
    who: str | None
    sections: list[str]
    content: str
    at: datetime


def _aware(moment: datetime) -> datetime:
    """SQLite gives back naive datetimes; brug stores UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _stored_version(r: Any) -> StoredVersion:
    return StoredVersion(
        r.number,
        r.sha256,
        r.fingerprint,
        r.platform,
        r.who,
        json.loads(r.sections),
        getattr(r, "content", ""),
        _aware(r.at),
    )


def _insert_answer(
    conn: Connection, partnership_id: str, prompt_key: str, author: str, text: str, platform: str, event_id: str
) -> None:
    conn.execute(
        insert(answers).values(
            partnership_id=partnership_id,
            prompt_key=prompt_key,
            author=author,
            text=text,
            platform=platform,
            event_id=event_id,
            at=_now(),
        )
    )


def _number_for(conn: Connection, table: Table, partnership_id: str, origin: str) -> tuple[int, bool]:
    """The number of the row this origin made before, or the partnership's next number (1, 2, …) and True."""
    existing = conn.execute(
        select(table.c.number).where(table.c.partnership_id == partnership_id, table.c.origin == origin)
    ).scalar()
    if existing is not None:
        return int(existing), False
    return _next_number(conn, table, partnership_id), True


def _next_number(conn: Connection, table: Table, partnership_id: str) -> int:
    """The number the next row of a partnership gets in a table numbered per partnership (1, 2, …)."""
    last = conn.execute(
        select(table.c.number).where(table.c.partnership_id == partnership_id).order_by(table.c.number.desc())
    ).scalar()
    return (last or 0) + 1


def _upsert(
    conn: Connection, table: Table, key: dict[str, Any], values: dict[str, Any], on_update: dict[str, Any] | None = None
) -> None:
    """Update the row with this key, or insert it; `on_update` holds values only for an existing row."""
    where = [table.c[name] == value for name, value in key.items()]
    if conn.execute(update(table).where(*where).values(**values, **(on_update or {}))).rowcount == 0:
        conn.execute(insert(table).values(**key, **values))


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _postgresql_session(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    """Times come back in UTC, as brug stores them (SQLite gives them back as written)."""
    with dbapi_connection.cursor() as cursor:
        cursor.execute("SET TIME ZONE 'UTC'")
    dbapi_connection.commit()
