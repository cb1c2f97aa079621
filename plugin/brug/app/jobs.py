"""The recurring work brug does for a partnership: an agenda before a meeting, a reflection prompt.

Each job is safe to run twice for the same slot: its posts go through the outbox with a key made of
the partnership, the kind and the slot, and its documents are only ever created, never rewritten.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import PurePosixPath

from brug import metrics
from brug.app import barometer
from brug.app.links import barometer_key
from brug.app.meetings import agenda_for, render_agenda
from brug.app.minutes import read_minutes
from brug.app.scheduler import agenda_post_key, slot_id
from brug.app.service import PARK_AFTER, Runtime, chat_platforms, parked_after_failure
from brug.content.context import Link, common_context, with_extra
from brug.domain.agenda import Missed
from brug.domain.partnership import Partnership
from brug.domain.questions import Audience, Question, Setting
from brug.domain.reflection import choose_question, pulse_for
from brug.domain.types import Bouwsteen
from brug.logs import fields
from brug.planner import DocumentRecord
from brug.ports import PlatformError, Unreachable, WriteCondition, WriteConflict
from brug.workspace.desired import is_web, sha256
from brug.workspace.layout import Layout

log = logging.getLogger(__name__)

AGENDA_FILE = {"nl": "{day} agenda en verslag.md", "en": "{day} agenda and minutes.md"}


async def deliver(
    rt: Runtime, p: Partnership, key: str, room: str, kind: str, markdown: str, *, poll: Question | None = None
) -> dict[str, str]:
    """Post on every chat platform of the partnership that has not had this key yet.

    One platform's failure does not keep the post from the others; it is counted, and after
    PARK_AFTER failed attempts the post is parked (and shown by `brug status`) instead of blocking
    the schedule. While it is not parked yet, the failure is raised so the slot is tried again.
    """
    refs: dict[str, str] = {}
    failures: list[str] = []
    unreachable = True  # every failure so far was a platform that did not answer (said once by its adapter)
    platforms, _ = chat_platforms(p, rt)
    for platform in platforms:
        if rt.store.enqueue(platform, key, p.id, room, kind, markdown) in ("sent", "parked"):
            continue
        chat = rt.chats[platform]
        try:
            if poll is not None and hasattr(chat, "post_poll") and poll.scale is not None:
                low, high = poll.scale.low(p.language), poll.scale.high(p.language)
                answers = [
                    (str(n), f"{n}" + (f" — {low}" if n == 1 else f" — {high}" if n == 5 else ""))
                    for n in range(1, 6)
                ]
                ref = await chat.post_poll(p.id, room, key, poll.text(p.language), answers, markdown)
            else:
                ref = await chat.post(p.id, room, key, kind, markdown)
        except PlatformError as err:
            if not parked_after_failure(rt, p.id, platform, key, kind, err):
                metrics.post(kind, "failed")
                failures.append(f"{platform}: {err}")
                unreachable = unreachable and isinstance(err, Unreachable)
            continue
        rt.store.mark_sent(platform, key, ref)
        metrics.post(kind, "sent")
        refs[platform] = ref
        log.info(
            "%s: posted %s in %s on %s", p.id, kind, room, platform,
            extra=fields(p.id, platform, kind, key, "sent"),
        )
    if failures:
        raise (Unreachable if unreachable else PlatformError)(f"{kind} {key} not posted yet on " + "; ".join(failures))
    return refs


@dataclass
class RetryReport:
    """What `brug outbox retry` did with a partnership's parked posts."""

    sent: list[str] = field(default_factory=list)  # "platform key"
    failed: list[str] = field(default_factory=list)  # "platform key: error" (back in line, or parked again)
    kept: list[str] = field(default_factory=list)  # "platform key: why" (left parked)


NOT_RETRIED = {"pulse"}  # a pulse poll belongs to its prompt and round: it is not sent again on its own


async def retry_parked(rt: Runtime, partnership_id: str, keys: Sequence[str] | None = None) -> RetryReport:
    """Put parked posts back in line and send them now, each exactly once: the adapter first looks for the
    post on the platform by its key (it may have gone out after all), and only then sends it. A post that
    fails again counts its failures from zero and is parked again after PARK_AFTER of them."""
    report = RetryReport()
    parked = [r for r in rt.store.parked_posts(partnership_id) if keys is None or r["key"] in keys]
    chosen = []
    for row in parked:
        name = f"{row['platform']} {row['key']}"
        if row["kind"] in NOT_RETRIED:
            report.kept.append(f"{name}: a poll is posted with its prompt, not on its own")
        elif row["platform"] not in rt.chats:
            report.kept.append(f"{name}: {row['platform']} is not configured in brug.toml")
        else:
            chosen.append(row["key"])
    for row in rt.store.unpark(partnership_id, chosen) if chosen else []:
        platform, key, kind = row["platform"], row["key"], row["kind"]
        try:
            ref = await rt.chats[platform].post(partnership_id, row["room"], key, kind, row["content"])
        except PlatformError as err:
            parked_after_failure(rt, partnership_id, platform, key, kind, err)
            report.failed.append(f"{platform} {key}: {err}")
            continue
        rt.store.mark_sent(platform, key, ref)
        metrics.post(kind, "sent")
        log.info(
            "%s: parked %s posted on %s after a retry", partnership_id, kind, platform,
            extra=fields(partnership_id, platform, kind, key, "sent"),
        )
        report.sent.append(f"{platform} {key}")
    return report


MISSED_WHAT = {
    "nl": {"agenda": "agenda", "reflection": "reflectievraag"},
    "en": {"agenda": "agenda", "reflection": "reflection prompt"},
}
LATE_NOTE = {
    "nl": "_Deze agenda komt later dan gepland (normaal {days} voor het overleg): brug was niet "
    "bereikbaar of is pas net gestart._\n\n",
    "en": "_This agenda comes later than planned (normally {days} before the meeting): brug was "
    "unreachable or has only just started._\n\n",
}


def late_note(p: Partnership) -> str:
    days = p.meetings.agenda_lead_days if p.meetings else 0
    unit = {"nl": ("dag", "dagen"), "en": ("day", "days")}[p.language][days != 1]
    return LATE_NOTE[p.language].format(days=f"{days} {unit}")


async def post_agenda(p: Partnership, start: datetime, rt: Runtime, *, late: bool = False) -> str:
    """The agenda of the meeting at `start`: a new document in the meetings folder, and a post.

    It carries the open actions (also those written in earlier minutes), points partners added,
    and names the posts that were skipped while brug was down and the action lines it could not read.
    """
    key = agenda_post_key(p.id, start)
    unreadable = await read_minutes(p, rt)
    skipped = [s for s in rt.store.slots(p.id) if s.status == "skipped" and not s.reported]
    missed = [Missed(MISSED_WHAT[p.language][s.kind], s.at) for s in skipped if s.kind in MISSED_WHAT[p.language]]
    await barometer.close_due_rounds(p, rt)
    attention = barometer.agenda_item(p, rt, start)
    agenda = agenda_for(p, start, rt.store, rt.library, missed, unreadable, [attention] if attention else [])
    now = rt.clock()
    markdown = render_agenda(agenda, p, rt.library, rt.renderer, now)
    layout = Layout(p.language)
    day = start.astimezone(p.zone).strftime("%Y-%m-%d")
    path = layout.meetings / AGENDA_FILE[p.language].format(day=day)
    await _create_document(rt, p, f"meeting/{day}", path, markdown)
    # in chat the agenda alone, with where the minutes are written (the document, when partners can open it)
    href = rt.files_for(p).href(p.id, path)
    document = Link(title=path.stem, href=href) if is_web(href) else Link(title=str(path), href="")
    message = render_agenda(agenda, p, rt.library, rt.renderer, now, for_chat=True, document=document)
    await deliver(rt, p, key, "overleg", "agenda", (late_note(p) if late else "") + message)
    taken = [a.id for a in agenda.taken_added_items if a.id is not None]  # the others stay for the next meeting
    rt.store.assign_agenda_items(p.id, taken, start)
    rt.store.mark_reported(p.id, skipped)
    if attention is not None:  # discussed at this meeting: the next agenda waits for a new round
        rt.store.take_attention(p.id, attention.data["round"], start)
    return key


async def _create_document(rt: Runtime, p: Partnership, key: str, path: PurePosixPath, content: str) -> None:
    """Create a document once; when it exists (a person may be writing in it), leave it alone."""
    files = rt.files_for(p)
    if key in rt.store.documents(p.id, files.platform):
        return
    try:
        fingerprint = await files.write(p.id, path, content, WriteCondition(create_only=True))
    except WriteConflict:
        log.info("%s: %s already exists; left as it is", p.id, path)
        fingerprint = ""
    rt.store.record_document(p.id, files.platform, DocumentRecord(key, str(path), sha256(content), fingerprint))


def audiences(p: Partnership, rt: Runtime) -> set[Audience]:
    """Who is at the table: schools (not every education partner), welfare partners, coordinators."""
    found = {Audience.iedereen}
    for org in p.organisations:
        kind = rt.library.kinds[org.kind]
        if kind.school:
            found.add(Audience.school)
        if kind.sector.value == "welzijn":
            found.add(Audience.welzijn)
    if p.coordinators:
        found.add(Audience.coordinator)
    return found


def settings_of(p: Partnership, rt: Runtime) -> set[Setting]:
    """What holds for this partnership, for the questions that take something for granted."""
    kinds = [rt.library.kinds[org.kind] for org in p.organisations]
    found: set[Setting] = set()
    if any(k.school for k in kinds):
        found.add(Setting.school)
    if any(k.sector.value == "welzijn" for k in kinds):
        found.add(Setting.welzijn)
    if any(k.families for k in kinds):
        found.add(Setting.gezinnen)
    return found


async def post_reflection(p: Partnership, slot: datetime, rt: Runtime, *, late: bool = False) -> str:
    """One reflection question for this slot (the same one if the job runs again), and its pulse poll."""
    prefix = f"{p.id}/reflection/{slot_id(slot)}/"
    earlier = rt.store.post_keys(p.id, "reflection")
    existing = next((k for k in earlier if k.startswith(prefix)), None)
    bank = rt.library.questions
    if existing is not None:
        question = next(q for q in bank if q.id == existing.rsplit("/", 1)[-1])
    else:
        model = rt.library.phase_models[p.workflow]
        asked = [k.rsplit("/", 1)[-1] for k in earlier]
        question = choose_question(
            bank, asked, p.phase, model.phase(p.phase).bouwstenen, audiences(p, rt), settings_of(p, rt)
        )
    key = existing or prefix + question.id
    context = common_context(p, rt.library, rt.clock(), links=[])
    block = rt.library.bouwstenen[question.bouwsteen]
    markdown = rt.renderer.render(
        "reflection-prompt", p.language, **with_extra(context, question=question, bouwsteen=block, late=late)
    )
    index = len(earlier) if existing is None else earlier.index(existing)
    round_id, closing = barometer.round_for_prompt(p, rt, slot, index)
    for finished in closing:  # a round counted in prompts ends when the next one's first prompt goes out
        await barometer.close_round(p, finished, rt)
    await deliver(rt, p, key, "reflectie", "reflection", markdown)
    pulse = pulse_for(bank, question.bouwsteen)
    if p.reflection is not None and p.reflection.pulse and pulse is not None:
        caption = rt.renderer.render(
            "pulse", p.language, **with_extra(context, question=pulse, bouwsteen=block, late=late)
        )
        pulse_key = f"{p.id}/pulse/{slot_id(slot)}"
        refs = await deliver(rt, p, pulse_key, "reflectie", "pulse", caption, poll=pulse)
        barometer.register_polls(p, rt, refs, pulse_key, round_id, pulse.bouwsteen)
    if rt.mailer is not None:  # members without a chat account answer on the web, by a personal link
        from brug.app.mail import mail_prompt

        await mail_prompt(p, rt, key, round_id, question, slot)
    return key


async def post_full_barometer(p: Partnership, round_id: str, label: str, rt: Runtime) -> None:
    """All six bouwstenen at once at the start of a round: one message, then one poll per bouwsteen."""
    context = common_context(p, rt.library, rt.clock(), links=[])
    intro = rt.renderer.render(
        "barometer-start",
        p.language,
        **with_extra(context, round_label=label, min_respondents=p.barometer.min_respondents),
    )
    start_key = barometer_key(p.id, round_id)
    await deliver(rt, p, start_key, "reflectie", "barometer", intro)
    for b in Bouwsteen:
        pulse = pulse_for(rt.library.questions, b)
        if pulse is None:
            continue
        caption = rt.renderer.render(
            "pulse", p.language, **with_extra(context, question=pulse, bouwsteen=rt.library.bouwstenen[b], late=False)
        )
        key = f"{p.id}/barometer/{round_id}/{b.value}"
        refs = await deliver(rt, p, key, "reflectie", "pulse", caption, poll=pulse)
        barometer.register_polls(p, rt, refs, key, round_id, b)
    if rt.mailer is not None:  # members without a chat account rate the six on the web
        from brug.app.mail import mail_round

        await mail_round(p, rt, start_key, round_id, label)


async def run_barometer(p: Partnership, at: datetime, rt: Runtime) -> None:
    """A round boundary: close the rounds that ended, then open the new one (with six polls when asked)."""
    await barometer.close_due_rounds(p, rt, at)
    round_id = barometer.current_round(p, rt, at)
    if round_id and p.barometer.full and not rt.store.is_paused(p.id):
        await post_full_barometer(p, round_id, barometer.round_label(round_id, p.language), rt)
