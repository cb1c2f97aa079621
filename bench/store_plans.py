"""The query plans of the scheduler's and the outbox's queries on a real PostgreSQL at scale.

Run from the repository root (needs PostgreSQL's server binaries, as the tests do):

    PYTHONPATH=plugin:. python bench/store_plans.py [--partnerships 10000]

It starts a throwaway PostgreSQL (tests/postgres.py), makes brug's schema with its migrations, fills
N partnerships with 30 reflection posts on two platforms each (a tenth with one still pending), 30
slots, both schedule marks and three rooms, runs ANALYZE, and prints `EXPLAIN ANALYZE` of the queries
brug makes per tick, per post and per chat event. Nothing is asserted: it is for reading (version 9's
indexes came from it: pending posts, a reply's prompt by ref, a room by ref were sequential scans).
"""

from __future__ import annotations

import argparse

from sqlalchemy import text

from brug.store import Store
from tests.postgres import PostgresServer

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--partnerships", type=int, default=10_000)
N = parser.parse_args().partnerships

FILL = [
    """INSERT INTO partnerships (id, name, workflow, phase, phase_changes)
       SELECT 'p' || g, 'P' || g, 'samenwerken', 'start', 0 FROM generate_series(1, :n) g""",
    """INSERT INTO outbox (platform, key, partnership_id, room, kind, content, status, ref, created_at, attempts)
       SELECT pl, 'p' || g || '/reflection/' || d, 'p' || g, 'reflectie', 'reflection', 'x',
              CASE WHEN d = 30 AND g % 10 = 0 THEN 'pending' ELSE 'sent' END, '$' || pl || g || '_' || d,
              now() - (d || ' days')::interval, 0
       FROM generate_series(1, :n) g, generate_series(1, 30) d, unnest(ARRAY['matrix', 'local']) pl""",
    """INSERT INTO slots (partnership_id, kind, at, status, late, reported, handled_at)
       SELECT 'p' || g, 'reflection', to_char(now() - (d || ' days')::interval, 'YYYY-MM-DD"T"HH24:MI:SS+00:00'),
              'done', 0, 0, now()
       FROM generate_series(1, :n) g, generate_series(1, 30) d""",
    """INSERT INTO schedule_marks (partnership_id, kind, upto)
       SELECT 'p' || g, k, '2026-12-01T00:00:00+00:00'
       FROM generate_series(1, :n) g, unnest(ARRAY['agenda', 'reflection']) k""",
    """INSERT INTO resources (partnership_id, platform, kind, key, ref, data, updated_at)
       SELECT 'p' || g, 'matrix', 'room', r, '!' || g || r || '.x', '', now()
       FROM generate_series(1, :n) g, unnest(ARRAY['algemeen', 'overleg', 'reflectie']) r""",
]


def ids(n: int) -> str:
    """n partnership ids spread over the table, as an SQL list."""
    step = max(1, N // n)
    return ", ".join(f"'p{g}'" for g in range(1, N + 1, step)[:n])


server = PostgresServer().start()
try:
    url = server.url()
    s = Store(url)
    with s.engine.begin() as c:
        for statement in FILL:
            c.execute(text(statement), {"n": N})
        c.execute(text("ANALYZE"))
    where_p5 = "FROM outbox WHERE partnership_id = 'p5'"
    queries = {  # as the Store methods of the same names ask them (partnership p5, a post or room of it)
        "pending(matrix)": "SELECT * FROM outbox WHERE platform = 'matrix' AND status = 'pending' ORDER BY created_at",
        "posted_keys(p5, matrix)": f"SELECT key {where_p5} AND platform = 'matrix' AND status IN ('sent', 'parked')",
        "has_pending(p5)": f"SELECT key {where_p5} AND platform IN ('matrix', 'local') AND status = 'pending' LIMIT 1",
        "slot_posts(p5)": f"SELECT platform, key, status {where_p5} AND key LIKE 'p5/reflection/2026-12-01%'",
        "post_keys(p5, reflection)": f"SELECT key, created_at {where_p5} AND kind = 'reflection' "
        "ORDER BY created_at, key",
        "sent_post(matrix, ref)": "SELECT * FROM outbox WHERE platform = 'matrix' AND ref = '$matrix5_3'",
        "is_sent(matrix, key)": "SELECT status FROM outbox WHERE platform = 'matrix' AND key = 'p5/reflection/3'",
        "resource_by_ref(matrix, room)": "SELECT * FROM resources WHERE platform = 'matrix' AND ref = '!5overleg.x'",
        "slot_status(p5)": "SELECT status FROM slots WHERE partnership_id = 'p5' AND kind = 'reflection' "
        "AND at = '2026-11-01T00:00:00+00:00'",
        "schedule_mark(p5)": "SELECT upto FROM schedule_marks WHERE partnership_id = 'p5' AND kind = 'agenda'",
        # the scheduler's first tick reads the marks of a thousand partnerships at once, and `run` moves
        # them on in bulk (every hour and at its end); a reconcile reads 500 partnerships' posts at once
        "schedule_marks(1000)": f"SELECT * FROM schedule_marks WHERE partnership_id IN ({ids(1000)})",
        "advance_schedule_marks(1000)": "UPDATE schedule_marks SET upto = '2026-12-09T09:00:00+00:00' "
        f"WHERE kind = 'reflection' AND partnership_id IN ({ids(1000)}) AND upto < '2026-12-09T09:00:00+00:00'",
        "prefetch outbox(500)": "SELECT partnership_id, kind, key, platform, status FROM outbox "
        f"WHERE partnership_id IN ({ids(500)}) AND (kind = 'reflection' OR status = 'pending') "
        "ORDER BY created_at, key",
        "prefetch partnerships(500)": f"SELECT * FROM partnerships WHERE id IN ({ids(500)})",
        # /metrics, at every scrape: the outbox's depth
        "outbox_depth(pending)": "SELECT platform, count(*) FROM outbox WHERE status = 'pending' GROUP BY platform",
        "outbox_depth(parked)": "SELECT platform, count(*) FROM outbox WHERE status = 'parked' GROUP BY platform",
    }
    with s.engine.connect() as c:
        for name, q in queries.items():
            plan = [r[0] for r in c.execute(text("EXPLAIN (ANALYZE, COSTS OFF, TIMING ON) " + q))]
            print(f"== {name}")
            for line in plan:
                print("   ", line)
    s.close()
finally:
    server.stop()
