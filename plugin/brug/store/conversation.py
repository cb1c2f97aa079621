"""What partners say to brug in the chat and keep: agenda items, actions, answers to reflection
prompts, the prompts' pause, and signals to policy with their history. Each is kept once per origin
(a chat event or web link), so a message delivered twice counts once."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, delete, func, insert, select, update

from brug.domain.signals import Level, SignalEvent, SignalRecord, Status
from brug.store.database import Database, _chunks, _insert_new, _now, _number_for, _one_at_a_time, _upsert, _utc
from brug.store.records import ActionRecord, AgendaItemRecord, AnswerRecord
from brug.store.schema import actions, agenda_items, answers, pauses, signal_events, signals


class ConversationRecords(Database):
    """Agenda items, actions, answers, pauses and signals."""

    # --- agenda items ----------------------------------------------------------------------------------

    def add_agenda_item(self, partnership_id: str, text: str, added_by: str, origin: str) -> int:
        """Add a point for the next meeting; the same origin (e.g. chat event) adds it only once."""
        with self._tx() as conn:
            _insert_new(
                conn,
                agenda_items,
                ("origin",),
                partnership_id=partnership_id,
                text=text,
                added_by=added_by,
                added_at=_now(),
                origin=origin,
            )
            return int(conn.execute(select(agenda_items.c.id).where(agenda_items.c.origin == origin)).scalar_one())

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

    # --- actions ---------------------------------------------------------------------------------------

    def add_action(self, partnership_id: str, text: str, who: str | None, due: str | None, origin: str) -> int:
        """Record an action; returns its number within the partnership (1, 2, …). Once per origin, and
        distinct numbers also when several processes add actions at once."""

        def add(conn: Connection) -> int:
            number, new = _number_for(conn, actions, partnership_id, origin)
            if new:
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

        return self._retrying(add)

    def actions(self, partnership_id: str, *, open_only: bool = False) -> list[ActionRecord]:
        query = select(actions).where(actions.c.partnership_id == partnership_id)
        if open_only:
            query = query.where(actions.c.done == 0)
        with self._read() as conn:
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

    # --- answers and the prompts' pause -----------------------------------------------------------------

    def add_answer(
        self, partnership_id: str, prompt_key: str, author: str, text: str, platform: str, event_id: str
    ) -> bool:
        with self._tx() as conn:
            return _insert_answer(conn, partnership_id, prompt_key, author, text, platform, event_id)

    def put_answer(
        self, partnership_id: str, prompt_key: str, author: str, text: str | None, platform: str, event_id: str
    ) -> str:
        """Keep one changeable answer per `event_id` (a web link): 'new', 'replaced', 'removed' or 'same'."""
        with self._tx() as conn:
            stored = select(answers.c.id, answers.c.text).where(answers.c.event_id == event_id).with_for_update()
            row = conn.execute(stored).first()
            if row is None:
                if not text:
                    return "same"
                if _insert_answer(conn, partnership_id, prompt_key, author, text, platform, event_id):
                    return "new"
                row = conn.execute(stored).one()  # another process stored one just now: this one replaces it
            if not text:
                conn.execute(delete(answers).where(answers.c.id == row.id))
                return "removed"
            if row.text == text:
                return "same"
            conn.execute(update(answers).where(answers.c.id == row.id).values(text=text, author=author, at=_now()))
            return "replaced"

    def answer_text(self, event_id: str) -> str | None:
        """The text of the answer stored under `event_id`, if any."""
        with self._read() as conn:
            return conn.execute(select(answers.c.text).where(answers.c.event_id == event_id)).scalar()

    def answers(self, partnership_id: str, prompt_key: str | None = None) -> list[AnswerRecord]:
        query = select(answers).where(answers.c.partnership_id == partnership_id)
        if prompt_key is not None:
            query = query.where(answers.c.prompt_key == prompt_key)
        with self._read() as conn:
            rows = conn.execute(query.order_by(answers.c.id)).all()
        return [AnswerRecord(r.prompt_key, r.author, r.text, r.at) for r in rows]

    def set_paused(self, partnership_id: str, paused: bool, by: str = "") -> None:
        with self._tx() as conn:
            if paused:
                _upsert(conn, pauses, {"partnership_id": partnership_id}, {"by": by, "at": _now()})
            else:
                conn.execute(delete(pauses).where(pauses.c.partnership_id == partnership_id))

    def is_paused(self, partnership_id: str) -> bool:
        with self._read() as conn:
            return (
                conn.execute(select(pauses.c.by).where(pauses.c.partnership_id == partnership_id)).first() is not None
            )

    def paused_among(self, partnership_ids: Sequence[str]) -> set[str]:
        """Which of these partnerships are paused (one read for a tick's due prompts)."""
        found: set[str] = set()
        with self._read() as conn:
            for chunk in _chunks(partnership_ids, 5000):
                found.update(conn.execute(select(pauses.c.partnership_id).where(pauses.c.partnership_id.in_(chunk))).scalars())
        return found

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

        def add(conn: Connection) -> tuple[int, bool]:
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

        return self._retrying(add)

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
            _one_at_a_time(conn, signal_events.name, partnership_id)  # two processes, one origin: one step
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


def _insert_answer(
    conn: Connection, partnership_id: str, prompt_key: str, author: str, text: str, platform: str, event_id: str
) -> bool:
    """Keep an answer under `event_id` unless one is kept there (also one made concurrently); whether it is new."""
    return _insert_new(
        conn,
        answers,
        ("event_id",),
        partnership_id=partnership_id,
        prompt_key=prompt_key,
        author=author,
        text=text,
        platform=platform,
        event_id=event_id,
        at=_now(),
    )
