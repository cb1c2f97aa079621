"""The tables brug keeps and the versioned list of migrations that makes them.

`MIGRATIONS` is append-only and must work on both engines (SQLAlchemy constructs, or SQL both
understand): opening a store runs the ones a database has not seen yet (see `database.py`). A new
table or column is a new entry at the end; an entry that is on main is never edited. Each table says
which version made it. Nothing here stores case or family data — only agreements, statuses, actions
and reflections.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    func,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.ext.compiler import compiles

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
    # version 12: when the applied phase was entered (the portfolio's "time in phase")
    Column("phase_since", DateTime(timezone=True)),
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
    # version 10: how often a sender claimed it and who last, so a post claimed before is looked up first
    Column("claims", Integer, nullable=False, server_default="0"),
    Column("claimed_by", String(64)),
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


# --- version 10: several instances on one PostgreSQL share the work through leases (app/leases.py) ---------

instances = Table(  # every running `brug run` on a PostgreSQL store, with its last sign of life
    "instances",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("host", String(200), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started", DateTime(timezone=True), nullable=False),
    Column("heartbeat", DateTime(timezone=True), nullable=False),
)

leases = Table(  # a partnership (its id) or a listener ("listener:matrix"): who works on it, until when
    "leases",
    metadata,
    Column("name", String(300), primary_key=True),
    Column("owner", String(64), index=True),  # an instance's id; NULL = free
    Column("expires_at", DateTime(timezone=True)),
    Column("since", DateTime(timezone=True)),  # when the owner took it
    Column("wanted", DateTime(timezone=True)),  # another instance asks the owner to apply it soon
)


# --- version 11: numbers and origins unique per partnership, so concurrent writers (several brug ----------
# processes on one PostgreSQL) can never give two actions or signals one number, nor count one origin twice

numbered_unique = [
    Index(f"ux_{table.name}_{column}", table.c.partnership_id, table.c[column], unique=True)
    for table in (actions, signals)
    for column in ("number", "origin")
]


# --- version 13: /metrics counts the parked posts at every scrape: without this index, a sequential scan ---
# of the whole outbox (187 ms at 10,000 partnerships and 600,000 posts, bench/store_plans.py)

outbox_parked = Index(
    "ix_outbox_parked",
    outbox.c.platform,
    postgresql_where=outbox.c.status == "parked",
    sqlite_where=outbox.c.status == "parked",
)


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


def _v10(conn: Connection) -> None:
    present = {c["name"] for c in inspect(conn).get_columns("outbox")}
    added = {"claims": "INTEGER NOT NULL DEFAULT 0", "claimed_by": "TEXT"}
    for column, ddl in added.items():  # a database made by this version's _v1 has them already
        if column not in present:
            conn.execute(text(f"ALTER TABLE outbox ADD COLUMN {column} {ddl}"))
    metadata.create_all(conn, tables=[instances, leases])


def _v11(conn: Connection) -> None:
    for index in numbered_unique:
        index.create(conn, checkfirst=True)


def _v12(conn: Connection) -> None:
    """When each partnership entered its applied phase. A database made by this version's _v1 has the
    column already. Existing rows get the best evidence there is: the moment brug announced the change
    into this phase (the outbox keeps each post's creation time), or — never moved — its first post
    (the welcome, at the first apply), else the last apply."""
    if "phase_since" not in {c["name"] for c in inspect(conn).get_columns("partnerships")}:
        ddl = partnerships.c.phase_since.type.compile(dialect=conn.dialect)
        conn.execute(text(f"ALTER TABLE partnerships ADD COLUMN phase_since {ddl}"))
    first_post = func.min(outbox.c.created_at)
    # each announcement of a phase change by its key (one per platform: the first counts)
    announced = select(outbox.c.key, first_post).where(outbox.c.kind == "phase-change").group_by(outbox.c.key)
    moved = dict(conn.execute(announced).all())
    welcomed = select(outbox.c.partnership_id, first_post).group_by(outbox.c.partnership_id)
    first = dict(conn.execute(welcomed).all())
    rows = conn.execute(
        select(partnerships.c.id, partnerships.c.phase, partnerships.c.phase_changes, partnerships.c.applied_at).where(
            partnerships.c.phase_since.is_(None)
        )
    ).all()
    found = []
    for pid, phase, changes, applied_at in rows:
        since = moved.get(f"{pid}/phase-change/{changes}-{phase}") if changes else first.get(pid)
        if since is not None or applied_at is not None:
            found.append({"pid": pid, "since": since if since is not None else applied_at})
    if found:
        by_id = update(partnerships).where(partnerships.c.id == bindparam("pid"))
        conn.execute(by_id.values(phase_since=bindparam("since")), found)


def _v13(conn: Connection) -> None:
    outbox_parked.create(conn, checkfirst=True)  # a new database made it with its tables


MIGRATIONS: list[Callable[[Connection], None]] = [
    _v1, _v2, _v3, _v4, _v5, _v6, _v7, _v8, _v9, _v10, _v11, _v12, _v13
]
SCHEMA_VERSION = len(MIGRATIONS)
