"""The scheduler: an agenda before every meeting and reflection prompts on each partnership's rhythm.

Every moment a job is due is a *slot*. The scheduler handles each slot exactly once, also across
crashes and downtime:
- a slot's outcome is stored (done, skipped, paused) and its posts carry keys made of the slot, so a
  job that runs again after a crash posts nothing twice;
- after downtime, a slot missed by less than the grace period (default 12 hours) is posted late
  with a note; an older one is skipped, logged, and named in the next agenda — never a burst of
  stale prompts;
- a partnership seen for the first time starts "now": its past is not posted, except the agenda of
  a meeting that has not begun yet although its lead time has passed: that one is posted at once,
  marked late (also after downtime longer than the grace period: an agenda is never skipped while
  its meeting is still ahead).
Time comes from an injected clock, so tests can run a year in seconds.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from brug import metrics
from brug.app.leases import LeaseLost
from brug.domain.holidays import SchoolCalendar
from brug.domain.partnership import Rhythms
from brug.logs import fields
from brug.ports import NETWORK_ERRORS, PlatformError, Unreachable

log = logging.getLogger(__name__)

AGENDA = "agenda"
REFLECTION = "reflection"
BAROMETER = "barometer"  # a barometer round ends (and the next begins)
KINDS = (AGENDA, REFLECTION, BAROMETER)
LATE_AFTER = timedelta(minutes=10)  # a post this much after its slot gets a 'late' note
# a round that ended while brug was down is still closed when it comes back, however late
DEFAULT_GRACE = {AGENDA: timedelta(hours=12), REFLECTION: timedelta(hours=12), BAROMETER: timedelta(days=3650)}


@dataclass(frozen=True, order=True)
class Slot:
    at: datetime  # when the job is due (aware)
    partnership: str
    kind: str
    meeting: datetime | None = None  # for an agenda: the meeting it prepares


def agenda_slots(p: Rhythms, start: datetime, end: datetime) -> list[Slot]:
    """Agendas due in (start, end]: `agenda_lead_days` before each meeting, at the meeting's hour."""
    if p.meetings is None:
        return []
    lead = timedelta(days=p.meetings.agenda_lead_days)
    out = []
    # N days before a meeting is a wall-clock distance: across a DST change it is N days ± 1 hour, so
    # look a day wider on both sides and let the (start, end] filter decide.
    day = timedelta(days=1)
    for meeting in p.meetings.recurrence().between(start + lead - day, end + lead + day, p.zone):
        at = (meeting.astimezone(p.zone).replace(tzinfo=None) - lead).replace(tzinfo=p.zone)
        if start < at <= end:
            out.append(Slot(at, p.id, AGENDA, meeting))
    return out


def overdue_agendas(p: Rhythms, now: datetime) -> list[Slot]:
    """Agendas whose moment has passed while their meeting has not begun yet (at most the lead time ago)."""
    if p.meetings is None:
        return []
    lead = timedelta(days=p.meetings.agenda_lead_days + 1)
    return [s for s in agenda_slots(p, now - lead, now) if meeting_ahead(s, now)]


def slot_id(moment: datetime) -> str:
    """A slot's name in keys: its moment in UTC, the same on every machine."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")


def agenda_post_key(partnership_id: str, meeting: datetime) -> str:
    """The outbox key of the agenda of the meeting at `meeting`: posted once per meeting."""
    return f"{partnership_id}/agenda/{slot_id(meeting)}"


def slot_post_keys(slot: Slot) -> list[str]:
    """The key prefixes of the posts a slot's job makes (see brug.app.jobs): the agenda, or the prompt and its poll."""
    if slot.kind == AGENDA:  # an agenda is named after its meeting
        return [agenda_post_key(slot.partnership, slot.meeting or slot.at)]
    sid = slot_id(slot.at)
    return [f"{slot.partnership}/reflection/{sid}/", f"{slot.partnership}/pulse/{sid}"]


def meeting_ahead(slot: Slot, now: datetime) -> bool:
    return slot.kind == AGENDA and slot.meeting is not None and slot.meeting > now


def reflection_slots(p: Rhythms, start: datetime, end: datetime, calendar: SchoolCalendar | None) -> list[Slot]:
    """Reflection prompts due in (start, end], without school holidays when the partnership asks so."""
    if p.reflection is None:
        return []
    out = []
    for at in p.reflection.recurrence().between(start, end + timedelta(seconds=1), p.zone):
        if not (start < at <= end):
            continue
        day = at.astimezone(p.zone).date()
        skipping = p.reflection.skip_school_holidays and calendar is not None and calendar.covers(day)
        if skipping and calendar.is_holiday(day):  # type: ignore[union-attr]
            continue
        out.append(Slot(at, p.id, REFLECTION))
    return out


def barometer_slots(p: Rhythms, start: datetime, end: datetime) -> list[Slot]:
    """Ends of time-based barometer rounds in (start, end]."""
    from brug.app.barometer import boundaries

    return [Slot(at, p.id, BAROMETER) for at in boundaries(p, start, end)]


def slots_of(kind: str, p: Rhythms, start: datetime, end: datetime, calendar: SchoolCalendar | None) -> list[Slot]:
    if kind == AGENDA:
        return agenda_slots(p, start, end)
    if kind == REFLECTION:
        return reflection_slots(p, start, end, calendar)
    return barometer_slots(p, start, end)


def due_slots(
    p: Rhythms, start: datetime, end: datetime, calendar: SchoolCalendar | None, kinds: Iterable[str] = KINDS
) -> list[Slot]:
    return sorted(slot for kind in kinds for slot in slots_of(kind, p, start, end, calendar))


Job = Callable[[Rhythms, Slot, bool], Awaitable[None]]  # (what `partnerships` gave, slot, late)
SAVE_MARKS_EVERY = timedelta(hours=1)  # `run` writes the marks it moved on in memory this often, and at its end
QUIET_HORIZON = timedelta(days=2)  # how much further than asked a partnership's next slot is looked for


@dataclass(frozen=True, slots=True)
class _Quiet:
    """`partnership` has no slot of a kind in (start, until); `slot`: there is one at `until`, else none at it."""

    partnership: Rhythms
    start: datetime
    until: datetime
    slot: bool


@dataclass
class _Batch:
    """What a tick knows of a batch of due partnerships before serving them, and what it writes after.

    Read in a few statements for the whole batch (statuses of their slots, posts already begun, pauses)
    instead of three round trips per slot; the slots handled and the marks moved are written together
    at the end of the batch, in one transaction. Safe across a crash in between: a slot whose posts went
    out but whose record was not written is found again from its mark, sees its posts begun, and is
    finished without posting anything twice (the outbox claim decides, under the lease)."""

    statuses: dict[tuple[str, str, datetime], str] = field(default_factory=dict)
    begun: dict[tuple[str, str], dict[tuple[str, str], str]] = field(default_factory=dict)
    paused: set[str] = field(default_factory=set)
    handled: list[tuple[str, str, datetime, str, bool]] = field(default_factory=list)
    marks: dict[tuple[str, str], datetime] = field(default_factory=dict)

    def status(self, slot: Slot) -> str | None:
        return self.statuses.get((slot.partnership, slot.kind, slot.at))

    def posts(self, slot: Slot) -> dict[tuple[str, str], str]:
        found: dict[tuple[str, str], str] = {}
        for prefix in slot_post_keys(slot):
            found.update(self.begun.get((slot.partnership, prefix), {}))
        return found

    def record(self, slot: Slot, status: str, late: bool = False) -> None:
        self.handled.append((slot.partnership, slot.kind, slot.at, status, late))


BATCH = 200  # due partnerships read and written together by a tick (see _Batch)


@dataclass
class TickReport:
    done: list[Slot] = field(default_factory=list)
    late: list[Slot] = field(default_factory=list)
    skipped: list[Slot] = field(default_factory=list)
    paused: list[Slot] = field(default_factory=list)
    failed: list[Slot] = field(default_factory=list)  # a platform failed; tried again at the next tick


class Scheduler:
    def __init__(
        self,
        store,  # brug.store.Store
        partnerships: Callable[[], Iterable[Rhythms]],
        jobs: dict[str, Job],
        clock: Callable[[], datetime],
        calendar: SchoolCalendar | None = None,
        grace: dict[str, timedelta] | None = None,
        concurrency: int = 8,
    ) -> None:
        self.store = store
        self.partnerships = partnerships
        self.jobs = jobs
        self.clock = clock
        self.calendar = calendar
        self.grace = {**DEFAULT_GRACE, **(grace or {})}
        self.concurrency = concurrency
        # Up to when each (partnership, kind) is handled, as this process knows it. The store's mark is the
        # same or older: it is written when slots were handled (or a partnership is new), and for all at
        # once every hour and when `run` ends — not for every partnership at every tick (10,000 writes a
        # minute). A restart after a kill computes the slots from the older mark: the same ones.
        self._marks: dict[tuple[str, str], datetime] = {}
        self._quiet: dict[tuple[str, str], _Quiet] = {}  # where a partnership is known to have no slot

    async def tick(self, stop: asyncio.Event | None = None) -> TickReport:
        """Handle every slot that came due since the last tick; with `stop` set, end after the jobs in hand.

        Partnerships are served side by side (at most `concurrency` at once), each one's slots in order.
        Only partnerships with a slot in (mark, now] are served: for the others the mark moves on in memory.
        """
        now = self.clock()
        report = TickReport()
        gate = asyncio.Semaphore(self.concurrency)
        kinds = [k for k in KINDS if k in self.jobs]
        partnerships = list(self.partnerships())
        served = {p.id for p in partnerships}
        for key in [key for key in self._marks if key[0] not in served]:  # gone, or served elsewhere now:
            del self._marks[key]  # when it comes back, its mark is read again (another process may be further)
        missing = [p.id for p in partnerships if any((p.id, k) not in self._marks for k in kinds)]
        if missing:  # one read for the partnerships this process has not seen yet (at its first tick: all)
            stored = self.store.schedule_marks(missing)
            for pid in missing:
                for kind in kinds:
                    if (pid, kind) in stored:
                        self._marks.setdefault((pid, kind), stored[(pid, kind)])
        new: list[tuple[str, str]] = []
        work: list[tuple[Rhythms, list[str]]] = []
        for p in partnerships:
            due = []
            for kind in kinds:
                mark = self._marks.get((p.id, kind))
                if mark is None:
                    if kind == AGENDA and overdue_agendas(p, now):
                        due.append(kind)
                    else:  # a new partnership starts now: its past is not posted
                        new.append((p.id, kind))
                elif not (window := self._window(p, kind, mark, now)).slot or window.until > now:
                    self._marks[(p.id, kind)] = max(mark, now)  # no slot in (mark, now]
                else:
                    due.append(kind)
            if due:
                work.append((p, due))
        if new:
            self.store.set_schedule_marks([(pid, kind) for pid, kind in new], now)
            for key in new:
                self._marks[key] = now

        async def serve(p: Rhythms, due: list[tuple[str, datetime, list[Slot]]], batch: _Batch) -> None:
            async with gate:
                for kind, mark, slots in due:
                    try:
                        await self._serve_kind(p, kind, mark, slots, now, report, stop, batch)
                    except LeaseLost:  # another instance took the partnership over: its slots are its now
                        log.debug("%s: no longer held by this instance; its schedule is left to the holder", p.id)
                        return
                    except Exception:  # noqa: BLE001 - one partnership's trouble must not stop the others
                        log.exception("%s: the %s schedule failed; its slots stay due", p.id, kind)

        for start in range(0, len(work), BATCH):
            if stop is not None and stop.is_set():
                break  # the marks stay: the rest is handled at the next start
            planned = [(p, [self._due(p, kind, now) for kind in kinds]) for p, kinds in work[start : start + BATCH]]
            batch = self._batch(planned)
            try:
                await asyncio.gather(*(serve(p, due, batch) for p, due in planned))
            finally:  # what was handled is written, also when the tick is cut short
                self.store.finish_slots(batch.handled, batch.marks)
            self._marks.update(batch.marks)
        return report

    def _due(self, p: Rhythms, kind: str, now: datetime) -> tuple[str, datetime, list[Slot]]:
        """The slots of a kind in (mark, now], and the mark they follow."""
        mark = self._marks.get((p.id, kind))
        if mark is None:  # a partnership seen for the first time has an agenda due (see `tick`)
            overdue = overdue_agendas(p, now) if kind == AGENDA else []
            mark = overdue[0].at - timedelta(microseconds=1) if overdue else now
        return kind, mark, slots_of(kind, p, mark, now, self.calendar)

    def _batch(self, planned: list[tuple[Rhythms, list[tuple[str, datetime, list[Slot]]]]]) -> _Batch:
        """Read what the store knows of these slots: a few statements for the whole batch."""
        slots = [slot for _, due in planned for _, _, kind_slots in due for slot in kind_slots]
        statuses, begun = self.store.slot_states([(s.partnership, s.kind, s.at, slot_post_keys(s)) for s in slots])
        reflecting = sorted({s.partnership for s in slots if s.kind == REFLECTION})
        return _Batch(statuses, begun, self.store.paused_among(reflecting) if reflecting else set())

    def _window(self, p: Rhythms, kind: str, start: datetime, reach: datetime) -> _Quiet:
        """From `start` on, where `p`'s next `kind` slot is: up to `reach` at least, unless a slot comes first.

        Expanding the rules of 10,000 partnerships at every tick costs seconds; the answer is kept per
        partnership object (a reloaded file is a new object) and reused while it covers the question.
        """
        known = self._quiet.get((p.id, kind))
        if (
            known is None
            or known.partnership is not p
            or not known.start <= start < known.until
            or (not known.slot and known.until < reach)
        ):
            # each partnership looks a little further than the next (up to a day), so their windows do
            # not all run out at the same tick
            end = max(start, reach) + QUIET_HORIZON + timedelta(seconds=zlib.crc32(p.id.encode()) % 86_400)
            nxt = slots_of(kind, p, start, end, self.calendar)
            known = _Quiet(p, start, nxt[0].at if nxt else end, bool(nxt))
            self._quiet[(p.id, kind)] = known
        return known

    async def _serve_kind(
        self,
        p: Rhythms,
        kind: str,
        mark: datetime,
        slots: list[Slot],
        now: datetime,
        report: TickReport,
        stop: asyncio.Event | None,
        batch: _Batch,
    ) -> None:
        first_failed: Slot | None = None
        for slot in slots:
            if stop is not None and stop.is_set():
                return  # the mark stays: the rest is handled at the next start
            try:
                await self._handle(p, slot, now, report, batch)
            except (PlatformError, *NETWORK_ERRORS) as err:  # not lost: the slot stays due for the next tick
                # an unreachable platform was announced once by its adapter: no line per slot and tick
                quiet = isinstance(err, Unreachable) or not isinstance(err, PlatformError)
                level = logging.DEBUG if quiet else logging.ERROR
                log.log(
                    level, "%s: %s of %s not posted yet: %s", p.id, slot.kind, slot.at.isoformat(), err,
                    extra=fields(p.id, kind=slot.kind, key=slot_id(slot.at), outcome="failed"),
                )
                report.failed.append(slot)
                first_failed = first_failed or slot  # later slots still go out: one bad post blocks nothing
        # the mark stops just before a failed slot, so the next tick tries it again (done ones are skipped)
        batch.marks[(p.id, kind)] = max(mark, first_failed.at - timedelta(microseconds=1) if first_failed else now)

    def save_marks(self) -> None:
        """Write the marks this process moved on in memory (when it stops; a later start reads them)."""
        if self._marks:
            self.store.advance_schedule_marks(self._marks)

    async def _handle(self, p: Rhythms, slot: Slot, now: datetime, report: TickReport, batch: _Batch) -> None:
        if batch.status(slot) is not None:
            return  # handled before a crash or restart
        age = now - slot.at
        begun = batch.posts(slot)
        if begun:
            # A crash came between the posts and the record: some went out (or were on their way). Finish
            # the slot whatever its age — the platforms know a post by its key, so none goes twice — and
            # record it done: a delivered post is never called skipped, and no outbox row stays pending.
            late = age > LATE_AFTER
            await self.jobs[slot.kind](p, slot, late)
            batch.record(slot, "done", late)
            (report.late if late else report.done).append(slot)
            metrics.slot(slot.kind, "late" if late else "on_time")
            sent = sum(1 for status in begun.values() if status == "sent")
            log.info(
                "%s: %s of %s finished after a restart (%d of %d post(s) had gone out)",
                p.id,
                slot.kind,
                slot.at.isoformat(),
                sent,
                len(begun),
                extra=fields(p.id, kind=slot.kind, key=slot_id(slot.at), outcome="late" if late else "on_time"),
            )
            return
        if slot.kind == REFLECTION and p.id in batch.paused:
            batch.record(slot, "paused")
            report.paused.append(slot)
            metrics.slot(slot.kind, "paused")
            log.info(
                "%s: reflection prompt of %s not posted: paused", p.id, slot.at.isoformat(),
                extra=fields(p.id, kind=slot.kind, key=slot_id(slot.at), outcome="paused"),
            )
            return
        if age > self.grace[slot.kind] and not meeting_ahead(slot, now):
            batch.record(slot, "skipped")
            report.skipped.append(slot)
            metrics.slot(slot.kind, "skipped")
            log.warning(
                "%s: %s of %s skipped: brug was down for too long (%s late)",
                p.id,
                slot.kind,
                slot.at.isoformat(),
                _hours(age),
                extra=fields(p.id, kind=slot.kind, key=slot_id(slot.at), outcome="skipped"),
            )
            return
        late = age > LATE_AFTER
        await self.jobs[slot.kind](p, slot, late)
        batch.record(slot, "done", late)
        (report.late if late else report.done).append(slot)
        metrics.slot(slot.kind, "late" if late else "on_time")
        log.info(
            "%s: %s of %s posted%s", p.id, slot.kind, slot.at.isoformat(), f" late ({_hours(age)})" if late else "",
            extra=fields(p.id, kind=slot.kind, key=slot_id(slot.at), outcome="late" if late else "on_time"),
        )

    def next_due(self, after: datetime, horizon: timedelta = timedelta(days=2)) -> datetime | None:
        """The earliest slot after `after` within the horizon, to know how long to sleep."""
        kinds = [k for k in KINDS if k in self.jobs]
        end = after + horizon
        upcoming = []
        for p in self.partnerships():
            for kind in kinds:
                window = self._window(p, kind, min(self._marks.get((p.id, kind), after), after), end)
                if not window.slot:  # none before `until`, which is at least `end`
                    continue
                if window.until > after:  # the first slot after `after`
                    if window.until <= end:
                        upcoming.append(window.until)
                    continue
                # a slot at or before `after` is still due (it failed): look past it
                upcoming.extend(slot.at for slot in slots_of(kind, p, after, end, self.calendar))
        return min(upcoming, default=None)

    async def run(
        self, stop: asyncio.Event, *, max_sleep: float = 60.0, speed: float = 1.0, wake: asyncio.Event | None = None
    ) -> None:
        """Tick until `stop` is set; a job in progress always finishes.

        `speed` is how much faster than real time the clock runs (demos and tests); sleeps shrink with it.
        `wake` ends a sleep early: this instance took partnerships over, and their due slots should not wait.
        """
        saved = self.clock()
        while not stop.is_set():
            if wake is not None:
                wake.clear()
            await self.tick(stop)
            now = self.clock()
            if now - saved >= SAVE_MARKS_EVERY:  # a killed process loses at most this much of its marks' advance
                self.save_marks()
                saved = now
            nxt = self.next_due(now)
            until_next = max(0.0, (nxt - now).total_seconds()) / speed if nxt else max_sleep
            waits = [asyncio.ensure_future(stop.wait())] + ([asyncio.ensure_future(wake.wait())] if wake else [])
            try:
                timeout = min(max_sleep / min(speed, 60.0), until_next)
                await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiting in waits:
                    waiting.cancel()
        self.save_marks()


def _hours(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} days"
