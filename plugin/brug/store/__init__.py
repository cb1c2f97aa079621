"""brug's memory: what it applied, which documents it wrote (and their hashes), what it posted.

`Store` is one object over one engine, composed of a part per concern; each part keeps its own
tables and says why:

- `schema` — the tables and the versioned, append-only `MIGRATIONS` (both engines);
- `database` — URLs, the engine (SQLite or PostgreSQL), transactions, migrating, shared helpers;
- `partnerships` — what was applied, and forgetting a partnership;
- `documents` — written documents and their kept versions;
- `outbox` — posts (once per key), parking, the scheduler's slots and marks;
- `platform` — rooms and other platform resources, invites, sync and pacing state, handled events;
- `conversation` — agenda items, actions, answers, the prompts' pause, signals;
- `agreements` — agreement versions and sign-offs;
- `barometer` — rounds, polls, votes and the counts of closed rounds;
- `portfolio` — every partnership's figures at once;
- `prefetch` — what a reconcile asks about each partnership, read for many at once;
- `records` — the plain records the parts hand back;
- `copy` — `brug store copy`, from one database into another.

Nothing here stores case or family data — only agreements, statuses, actions and reflections.
"""

from __future__ import annotations

from brug.store.agreements import Agreements
from brug.store.barometer import Barometer
from brug.store.conversation import ConversationRecords
from brug.store.database import MIGRATION_LOCK, Database, engine_url, is_database_url, shown_url
from brug.store.documents import Documents
from brug.store.outbox import Outbox
from brug.store.partnerships import Partnerships
from brug.store.platform import PlatformState
from brug.store.portfolio import Portfolio
from brug.store.prefetch import Prefetched, Prefetching
from brug.store.records import (
    ActionRecord,
    AgendaItemRecord,
    AnswerRecord,
    AppliedPartnership,
    BarometerRoundRecord,
    PortfolioFigures,
    Resource,
    SlotRecord,
    StoredVersion,
)
from brug.store.schema import MIGRATIONS, SCHEMA_VERSION, metadata


class Store(
    Partnerships,
    Documents,
    Outbox,
    PlatformState,
    ConversationRecords,
    Agreements,
    Barometer,
    Portfolio,
    Prefetching,
    Database,
):
    """brug's memory, one engine and one transaction per call (`Store.open(state)`)."""


__all__ = [
    "MIGRATIONS",
    "MIGRATION_LOCK",
    "SCHEMA_VERSION",
    "ActionRecord",
    "AgendaItemRecord",
    "AnswerRecord",
    "AppliedPartnership",
    "BarometerRoundRecord",
    "Database",
    "PortfolioFigures",
    "Prefetched",
    "Resource",
    "SlotRecord",
    "Store",
    "StoredVersion",
    "engine_url",
    "is_database_url",
    "metadata",
    "shown_url",
]
