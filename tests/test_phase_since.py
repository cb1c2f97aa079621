"""Time in a phase: brug records when a partnership entered its applied phase (schema version 12), keeps it
while the phase stays, starts again when it moves on, and gives older stores the best date they
hold; the portfolio shows and sorts by it. On SQLite and on a real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import insert

from brug.app.bot import Bot
from brug.app.links import LinkSigner
from brug.settings import CoordinatorSettings
from brug.store import SCHEMA_VERSION, Store, schema
from brug.web.app import create_app, viewers_from
from tests.barometer_world import barometer_partnership
from tests.runtime import local_runtime
from tests.test_barometer_flow import Clock
from tests.web_world import free_port, web_server

T0 = datetime(2026, 2, 2, 9, tzinfo=UTC)


def applied(s: Store, pid: str, phase: str, changes: int, at: datetime) -> None:
    s.record_applied(pid, name=pid, workflow="samenwerken", phase=phase, phase_changes=changes, inputs_hash=None,
                     source=None, at=at)


def test_the_phase_is_dated_when_it_changes_and_kept_while_it_stays(state_url: str) -> None:
    s = Store(state_url)
    applied(s, "p", "vind-elkaar", 0, T0)
    applied(s, "p", "vind-elkaar", 0, T0 + timedelta(days=30))  # applied again: the same phase since T0
    assert s.applied("p").phase_since.astimezone(UTC) == T0  # type: ignore[union-attr]
    applied(s, "p", "ja-graag", 1, T0 + timedelta(days=40))
    applied(s, "p", "ja-graag", 1, T0 + timedelta(days=90))
    assert s.portfolio_figures().phases == {"p": ("ja-graag", T0 + timedelta(days=40))}
    assert s.portfolio_figures(["other"]).phases == {}  # only what is asked for
    s.forget("p")
    assert s.portfolio_figures().phases == {}


def test_an_older_store_gets_the_date_of_the_announcement_or_of_the_first_post(state_url: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(schema, "SCHEMA_VERSION", 11)
    old = Store(state_url)
    with old.engine.begin() as conn:  # the partnerships as brug kept them before version 12
        conn.exec_driver_sql("ALTER TABLE partnerships DROP COLUMN phase_since")
        rows = [  # (id, phase, phase_changes, applied_at)
            ("moved", "draagvlak", 2, T0 + timedelta(days=200)),
            ("stayed", "vind-elkaar", 0, T0 + timedelta(days=200)),
            ("unannounced", "ja-graag", 1, T0 + timedelta(days=150)),
            ("quiet", "vind-elkaar", 0, T0 + timedelta(days=100)),
        ]
        for pid, phase, changes, at in rows:
            conn.exec_driver_sql(
                "INSERT INTO partnerships (id, name, workflow, phase, phase_changes, applied_at) VALUES "
                f"('{pid}', '{pid}', 'samenwerken', '{phase}', {changes}, '{at.isoformat()}')"
            )
        posts = [  # (platform, key, partnership, kind, created)
            ("matrix", "moved/welcome", "moved", "welcome", T0),
            ("matrix", "moved/phase-change/1-ja-graag", "moved", "phase-change", T0 + timedelta(days=20)),
            ("local", "moved/phase-change/2-draagvlak", "moved", "phase-change", T0 + timedelta(days=60, minutes=1)),
            ("matrix", "moved/phase-change/2-draagvlak", "moved", "phase-change", T0 + timedelta(days=60)),
            ("local", "stayed/welcome", "stayed", "welcome", T0 + timedelta(days=5, minutes=2)),
            ("matrix", "stayed/welcome", "stayed", "welcome", T0 + timedelta(days=5)),
            ("matrix", "stayed/agenda/1", "stayed", "agenda", T0 + timedelta(days=9)),
            ("matrix", "unannounced/welcome", "unannounced", "welcome", T0),
        ]
        for platform, key, pid, kind, created in posts:
            conn.execute(
                insert(schema.outbox).values(
                    platform=platform, key=key, partnership_id=pid, room="algemeen", kind=kind, content="…",
                    status="sent", created_at=created,
                )
            )
    old.close()
    monkeypatch.undo()
    s = Store(state_url)
    assert s.version == SCHEMA_VERSION
    assert s.portfolio_figures().phases == {
        "moved": ("draagvlak", T0 + timedelta(days=60)),  # the first announcement of this change
        "stayed": ("vind-elkaar", T0 + timedelta(days=5)),  # never moved: since its first post
        "unannounced": ("ja-graag", T0 + timedelta(days=150)),  # no announcement kept: the last apply
        "quiet": ("vind-elkaar", T0 + timedelta(days=100)),
    }
    applied(s, "stayed", "vind-elkaar", 0, T0 + timedelta(days=300))  # the backfilled date holds
    assert s.portfolio_figures(["stayed"]).phases["stayed"][1] == T0 + timedelta(days=5)


async def test_the_portfolio_shows_how_long_since_the_phase_moved_on(tmp_path: Path, library) -> None:  # type: ignore[no-untyped-def]
    clock = Clock(T0)
    folder = tmp_path / "partnerschappen"
    organisations = [("school", "basisschool", ["ann"]), ("gemeente", "lokaal-bestuur", ["gert"])]
    barometer_partnership(folder, "oud", organisations=organisations)
    barometer_partnership(folder, "nieuw", organisations=organisations)
    rt = local_runtime(tmp_path, library, clock)
    bot = Bot(rt, [folder])
    assert bot.load() == []
    await bot.apply()  # both enter 'ja-graag' on 2 February
    clock.now = T0 + timedelta(days=100)
    moved = await bot.move_phase("nieuw", "Ann Test")  # `!fase volgende`: the file changes, brug applies
    assert moved.message and bot.partnerships()["nieuw"].phase == "draagvlak"
    clock.now = T0 + timedelta(days=100 + 23)
    await bot.apply()  # nothing moves: the dates stay

    port = free_port()
    signer = LinkSigner("a-test-secret-of-enough-length", f"http://127.0.0.1:{port}")
    viewers = viewers_from([CoordinatorSettings(organisation="gemeente", name="Gemeente", viewers=["c@example.org"])])
    with web_server(create_app(rt, bot.partnerships, signer, viewers=lambda: viewers), port) as base, httpx.Client(
        base_url=base, timeout=30, cookies={"brug_session": signer.session("c@example.org")}
    ) as web:
        table = web.get("/portfolio", params={"sort": "in_phase"}).text.split("<tbody>")[1]
        since = ['Samenwerken? Ja, graag! · <span class="since">4 maanden</span>', 'Schep een draagvlak · <span class="since">3 weken</span>']
        assert all(text in table for text in since)
        assert table.index(since[0]) < table.index(since[1])  # the longest in its phase first
        detail = web.get("/portfolio/nieuw").text
        assert "Schep een draagvlak, sinds 13-05-2026 (3 weken)" in detail
        english = web.get("/portfolio", params={"lang": "en"}).text
        assert 'Build support · <span class="since">3 weeks</span>' in english
    rt.store.close()
