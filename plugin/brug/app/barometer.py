"""The barometer at work: rounds, votes from every platform, closing a round and giving back.

- A **round** is a school term by default, or the stretch between two occurrences of the
  partnership's `barometer.rrule`, or `barometer.every_prompts` reflection prompts.
- **Votes** come from Matrix poll responses, Talk poll details and `!score`; whatever the platform,
  a vote is stored under the member's key, so one person counts once and a later vote replaces an
  earlier one. Votes for a round that closed are refused (and the voter is told).
- **Closing** a round keeps only the counts that may be shown (see `brug.domain.barometer`) and
  forgets who voted, in one transaction; then brug writes `reflectie/barometer.md`, the radar
  `reflectie/barometer-<round>.svg`, and posts both in the reflection room — each exactly once.
- The next **agenda** gets the bouwsteen that needs attention most.
Logs never name a voter or a score.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import PurePosixPath
from typing import Any

from brug import metrics
from brug.app.service import ApplyReport, Runtime, _write_document, chat_platforms
from brug.content.context import common_context, with_extra
from brug.content.library import Library
from brug.content.radar import SHORT, number, radar_svg
from brug.domain.agenda import Item, Priority
from brug.domain.barometer import (
    ALL,
    Attention,
    BlockResult,
    Round,
    RoundResult,
    Tally,
    Vote,
    aggregate,
    needs_attention,
    prompt_round,
    rule_round,
    term_round,
)
from brug.domain.partnership import Member, Partnership, Rhythms
from brug.domain.questions import Audience, Question, QuestionKind
from brug.domain.types import Bouwsteen, Language, Text
from brug.logs import fields
from brug.planner import Action, Operation, Reason, decide
from brug.ports import PlatformError
from brug.workspace.desired import sha256
from brug.workspace.layout import Layout

log = logging.getLogger(__name__)

SECTOR_LABEL = {
    "onderwijs": {"nl": "school", "en": "school"},
    "welzijn": {"nl": "welzijn", "en": "welfare"},
    "bestuur": {"nl": "lokaal bestuur", "en": "local government"},
    "andere": {"nl": "andere", "en": "other"},
}
DOCUMENT = "barometer.md"
DOCUMENT_KEY = "barometer"


# --- rounds -------------------------------------------------------------------------------------------


def round_at(p: Rhythms, moment: datetime) -> Round:
    """The time-based round `moment` falls in (term or rule); prompt rounds are kept in the store."""
    settings = p.barometer
    if settings.rrule is not None:
        rule = settings.recurrence()
        before = rule.between(moment - timedelta(days=800), moment + timedelta(seconds=1), p.zone)
        after = rule.after(moment, p.zone, 1)
        if before and after:
            found = rule_round(moment, [before[-1], after[0]])
            if found is not None:
                return found
        first = after[0] if after else moment
        return Round(f"tot-{first.astimezone(p.zone):%Y-%m-%d}", first - timedelta(days=365), first)
    return term_round(moment, p.zone)


def current_round(p: Partnership, rt: Runtime, moment: datetime | None = None) -> str | None:
    """The id of the open round votes go to now (made known to the store); None before any prompt round."""
    moment = moment or rt.clock()
    if p.barometer.every_prompts is not None:
        open_rounds = rt.store.barometer_rounds(p.id, "open")
        return open_rounds[-1].round_id if open_rounds else None
    found = round_at(p, moment)
    rt.store.ensure_round(p.id, found.id, found.start, found.end, p.barometer.min_respondents)
    return found.id


def round_for_prompt(p: Partnership, rt: Runtime, slot: datetime, index: int) -> tuple[str, list[str]]:
    """The round of the reflection prompt number `index` (0-based), and the rounds it closes."""
    every = p.barometer.every_prompts
    if every is None:
        return current_round(p, rt, slot) or "", []
    closing: list[str] = []
    open_rounds = rt.store.barometer_rounds(p.id, "open")
    if index % every == 0 or not open_rounds:
        closing = [r.round_id for r in open_rounds]
        round_id = prompt_round(index, every, slot.astimezone(p.zone))
        rt.store.ensure_round(p.id, round_id, slot, None, p.barometer.min_respondents)
        return round_id, closing
    return open_rounds[-1].round_id, closing


def boundaries(p: Rhythms, start: datetime, end: datetime) -> list[datetime]:
    """Moments in (start, end] where a time-based round ends and the next begins."""
    if p.barometer.every_prompts is not None:
        return []
    out = []
    moment = start
    while True:
        found = round_at(p, moment)
        if found.end is None or found.end > end or found.end <= moment:
            return out
        out.append(found.end)
        moment = found.end


# --- votes --------------------------------------------------------------------------------------------


def group_of(p: Partnership, member: Member, library: Library) -> str:
    """The group a member's votes count in: organisation id or sector, per `barometer.split`."""
    split = p.barometer.split
    for org, m in p.members:
        if m.key == member.key:
            if split == "organisation":
                return org.id
            if split == "sector":
                return library.kinds[org.kind].sector.value
    return ALL


@dataclass(frozen=True)
class VoteOutcome:
    status: str  # new | replaced | older | closed | unknown
    round_id: str
    bouwsteen: Bouwsteen | None


def rate(
    p: Partnership, rt: Runtime, member: Member, round_id: str, bouwsteen: Bouwsteen, score: int, at: datetime
) -> VoteOutcome:
    """Store a member's rating (the latest one counts)."""
    if not 1 <= score <= 5:
        return VoteOutcome("unknown", round_id, bouwsteen)
    status = rt.store.record_vote(
        p.id, round_id, bouwsteen.value, member.key, score, group_of(p, member, rt.library), at
    )
    log.info("%s: barometer vote on %s in round %s: %s", p.id, bouwsteen.value, round_id, status)
    return VoteOutcome(status, round_id, bouwsteen)


def vote_on_poll(
    p: Partnership, rt: Runtime, member: Member, platform: str, poll_ref: str, answer: str, at: datetime
) -> VoteOutcome | None:
    """A vote in one of brug's barometer polls (answer ids are '1'..'5'); None when it is no such poll."""
    poll = rt.store.barometer_poll(platform, poll_ref)
    if poll is None or poll["partnership_id"] != p.id:
        return None
    bouwsteen = Bouwsteen(poll["bouwsteen"])
    if not (answer.isascii() and answer.isdigit()):
        return VoteOutcome("unknown", poll["round_id"], bouwsteen)
    return rate(p, rt, member, poll["round_id"], bouwsteen, int(answer), at)


def register_polls(
    p: Partnership, rt: Runtime, refs: dict[str, str], key: str, round_id: str, bouwsteen: Bouwsteen
) -> None:
    for platform, ref in refs.items():
        if platform != "local":
            rt.store.register_poll(platform, ref, p.id, key, round_id, bouwsteen.value)


# --- results ------------------------------------------------------------------------------------------


def stored_result(p: Partnership, rt: Runtime, round_id: str) -> RoundResult:
    """A closed round as it was published (rebuilt from the counts it kept)."""
    record = rt.store.barometer_round(p.id, round_id)
    assert record is not None and record.status == "closed"
    cells = rt.store.round_counts(p.id, round_id)
    blocks: dict[Bouwsteen, BlockResult] = {}
    if (record.respondents or 0) >= record.min_respondents:
        for b in Bouwsteen:
            total = cells.get((b.value, ALL))
            groups = {cell: Tally(c) for (bb, cell), c in cells.items() if bb == b.value and cell != ALL}
            blocks[b] = BlockResult(b, Tally(total) if total else None, dict(sorted(groups.items())))
    return RoundResult(round_id, record.respondents or 0, record.min_respondents, blocks)


def closed_results(p: Partnership, rt: Runtime) -> list[RoundResult]:
    """Every closed round, oldest first."""
    return [stored_result(p, rt, r.round_id) for r in rt.store.barometer_rounds(p.id, "closed")]


def previous_published(results: Sequence[RoundResult], round_id: str) -> RoundResult | None:
    ids = [r.round_id for r in results]
    earlier = results[: ids.index(round_id)] if round_id in ids else results
    return next((r for r in reversed(earlier) if r.published), None)


def group_label(p: Partnership, group: str, language: Language) -> str:
    if p.barometer.split == "organisation":
        return next((o.name for o in p.organisations if o.id == group), group)
    return SECTOR_LABEL.get(group, {}).get(language, group)


def round_label(round_id: str, language: Language) -> str:
    parts = round_id.split("-")
    if len(parts) == 3 and len(parts[0]) == 4 and len(parts[1]) == 4:
        term = {"nl": "trimester", "en": "term"}[language]
        return f"{parts[0]}–{parts[1]}, {term} {parts[2]}"
    return round_id


def result_view(p: Partnership, rt: Runtime, result: RoundResult, previous: RoundResult | None) -> dict[str, Any]:
    """A closed round for templates and the CLI: only what may be shown, nothing about a person."""
    language = p.language
    rows = []
    for b in Bouwsteen:
        block = result.blocks.get(b)
        total = block.total if block else None
        before = previous.mean(b) if previous is not None else None
        rows.append(
            {
                "bouwsteen": b.value,
                "title": rt.library.bouwstenen[b].title(language),
                "short": SHORT[b][language],
                "shown": total is not None,
                "mean": number(total.mean, language) if total else None,
                "spread": number(total.spread, language) if total else None,
                "n": total.n if total else None,
                "change": _signed(total.mean - before, language) if total and before is not None else None,
                "groups": [
                    {"name": group_label(p, g, language), "mean": number(t.mean, language), "n": t.n}
                    for g, t in (block.groups.items() if block else [])
                ],
            }
        )
    attention = needs_attention(result, previous) if result.published else None
    return {
        "round": result.round_id,
        "label": round_label(result.round_id, language),
        "published": result.published,
        "respondents": result.respondents,
        "min_respondents": result.min_respondents,
        "rows": rows,
        "previous_label": round_label(previous.round_id, language) if previous else None,
        "attention": attention_view(p, rt, attention) if attention else None,
        "split": p.barometer.split,
    }


def _signed(value: float, language: Language) -> str:
    text = number(abs(value), language)
    return ("+" if value >= 0.05 else "−" if value <= -0.05 else "±") + text


def attention_view(
    p: Partnership, rt: Runtime, attention: Attention, language: Language | None = None
) -> dict[str, Any]:
    language = language or p.language
    gap = attention.gap
    return {
        "bouwsteen": attention.bouwsteen.value,
        "title": rt.library.bouwstenen[attention.bouwsteen].title(language),
        "mean": number(attention.mean, language),
        "drop": number(attention.drop, language) if attention.drop is not None else None,
        "gap": (
            {"high": group_label(p, gap[0], language), "low": group_label(p, gap[1], language), "size": number(gap[2], language)}
            if gap
            else None
        ),
        "lowest": attention.lowest,
        "questions": [q.text(language) for q in bank_questions(p, rt, attention.bouwsteen)],
    }


def bank_questions(p: Partnership, rt: Runtime, bouwsteen: Bouwsteen, count: int = 2) -> list[Question]:
    """One or two open questions of the bank for a bouwsteen, those fitting the phase first."""
    fitting = [
        q
        for q in rt.library.questions
        if q.bouwsteen == bouwsteen and q.kind is QuestionKind.open and q.audience is Audience.iedereen
    ]
    fitting.sort(key=lambda q: 0 if p.phase in q.phases else 1 if not q.phases else 2)
    return fitting[:count]


def radar_for(p: Partnership, result: RoundResult, previous: RoundResult | None) -> str:
    language = p.language
    title = {"nl": "Barometer", "en": "Barometer"}[language] + f" — {p.name}"
    now_label = round_label(result.round_id, language)
    return radar_svg(
        title,
        language,
        result.means,
        now_label,
        previous.means if previous is not None else None,
        round_label(previous.round_id, language) if previous is not None else "",
    )


def svg_path(p: Partnership, round_id: str) -> PurePosixPath:
    return Layout(p.language).reflection / f"barometer-{round_id}.svg"


# --- closing and giving back -------------------------------------------------------------------------


async def close_round(p: Partnership, round_id: str, rt: Runtime) -> RoundResult | None:
    """Close a round (reading the last votes first), keep what may be shown, then give back. Idempotent."""
    record = rt.store.barometer_round(p.id, round_id)
    if record is None:
        return None
    if record.status == "open":
        for platform in chat_platforms(p, rt)[0]:
            closer = getattr(rt.chats[platform], "close_polls", None)
            if closer is not None:
                polls = rt.store.barometer_polls(p.id, round_id, platform)
                for voter, ref, answer in await closer(p.id, [poll["ref"] for poll in polls]):
                    member = _member_by_platform_id(p, platform, voter)
                    if member is not None:
                        vote_on_poll(p, rt, member, platform, ref, answer, rt.clock())
        votes = [Vote(v, Bouwsteen(b), s, g) for v, b, s, g in rt.store.open_votes(p.id, round_id)]
        result = aggregate(round_id, votes, record.min_respondents)
        cells: dict[tuple[str, str], Sequence[int]] = {}
        for b, block in result.blocks.items():
            if block.total is not None:
                cells[(b.value, ALL)] = block.total.counts
                for g, tally in block.groups.items():
                    cells[(b.value, g)] = tally.counts
        if rt.store.close_round(p.id, round_id, result.respondents, cells):
            log.info("%s: barometer round %s closed (%d respondents)", p.id, round_id, result.respondents)
    result = stored_result(p, rt, round_id)
    await give_back(p, round_id, rt)
    return result


def _member_by_platform_id(p: Partnership, platform: str, user: str) -> Member | None:
    from brug.app.conversation import find_member

    return find_member(p, platform, user)


async def close_due_rounds(p: Partnership, rt: Runtime, now: datetime | None = None) -> list[str]:
    """Close every time-based round that has ended; give back what a crash may have left undone."""
    now = now or rt.clock()
    closed = []
    for record in rt.store.barometer_rounds(p.id, "open"):
        if record.ends is not None and record.ends <= now:
            await close_round(p, record.round_id, rt)
            closed.append(record.round_id)
    done = rt.store.barometer_rounds(p.id, "closed")
    if done and not closed:
        await give_back(p, done[-1].round_id, rt)  # posts and documents are once-only: a no-op when done
    return closed


async def give_back(p: Partnership, round_id: str, rt: Runtime) -> None:
    """The barometer document, the radar and a post in the reflection room — each once."""
    results = closed_results(p, rt)
    result = next(r for r in results if r.round_id == round_id)
    if result.respondents == 0:
        return  # nobody answered (perhaps the partnership runs no polls): a round of silence says nothing
    previous = previous_published(results, round_id)
    context = common_context(p, rt.library, rt.clock(), links=[])
    view = result_view(p, rt, result, previous)
    history = [
        result_view(p, rt, r, previous_published(results, r.round_id)) for r in reversed(results)
    ]
    files = rt.files_for(p)
    layout = Layout(p.language)
    picture = svg_path(p, round_id)
    if result.published:
        await _write_updating(rt, p, f"barometer/{round_id}/svg", picture, radar_for(p, result, previous))
    document = rt.renderer.render(
        "barometer",
        p.language,
        **with_extra(context, result=view, history=history, picture=picture.name if result.published else None),
    )
    await _write_updating(rt, p, DOCUMENT_KEY, layout.reflection / DOCUMENT, document)
    caption = rt.renderer.render(
        "barometer-post",
        p.language,
        **with_extra(
            context,
            result=view,
            document=files.href(p.id, layout.reflection / DOCUMENT),
            picture=files.href(p.id, picture) if result.published else None,
        ),
    )
    key = f"{p.id}/barometer/{round_id}/result"
    svg = radar_for(p, result, previous).encode() if result.published else None
    folder = getattr(files, "folder", None) if files.platform == "nextcloud" else None
    share_path = f"/{folder(p.id)}/{picture}" if folder is not None else None
    for platform in chat_platforms(p, rt)[0]:
        if rt.store.enqueue(platform, key, p.id, "reflectie", "barometer", caption) == "sent":
            continue
        chat = rt.chats[platform]
        poster = getattr(chat, "post_picture", None)
        try:
            if svg is not None and poster is not None:
                ref = await poster(p.id, "reflectie", key, caption, picture.name, svg, share_path)
            else:
                ref = await chat.post(p.id, "reflectie", key, "barometer", caption)
        except PlatformError:
            metrics.post("barometer", "failed")
            raise
        rt.store.mark_sent(platform, key, ref)
        metrics.post("barometer", "sent")
        log.info(
            "%s: barometer of round %s posted on %s", p.id, round_id, platform,
            extra=fields(p.id, platform, "barometer", key, "sent"),
        )


async def _write_updating(rt: Runtime, p: Partnership, key: str, path: PurePosixPath, content: str) -> None:
    """Create or update a document of brug's, never over a person's edits (then a new version beside it)."""
    files = rt.files_for(p)
    records = rt.store.documents(p.id, files.platform)
    record = records.get(key)
    if record is not None and record.path != str(path):
        record = None
    state = (await files.snapshot(p.id, [path], records)).get(path)
    action, reason = decide(record, state, sha256(content))
    if action is None:
        return
    layout = Layout(p.language)
    target = layout.sibling(path) if action is Action.sibling else path
    op = Operation(
        action,
        reason if isinstance(reason, Reason) else Reason.changed,
        p.id,
        key,
        str(target),
        content,
        platform=files.platform,
        origin=str(path),
        expect=state.fingerprint if state is not None else "",
    )
    await _write_document(op, rt, {k: v for k, v in records.items()}, layout, ApplyReport())


# --- the agenda and the chat -----------------------------------------------------------------------------


def agenda_attention(
    p: Partnership, rt: Runtime, meeting: datetime, language: Language | None = None
) -> dict[str, Any] | None:
    """The attention item for the agenda of `meeting`: from the latest closed round not yet discussed."""
    results = closed_results(p, rt)
    records = {r.round_id: r for r in rt.store.barometer_rounds(p.id, "closed")}
    stamp = meeting.astimezone(UTC).isoformat(timespec="seconds")
    for result in reversed(results):
        taken = records[result.round_id].agenda_meeting
        if taken is not None and taken != stamp:
            return None  # the latest round was discussed at an earlier meeting
        if not result.published:
            continue
        attention = needs_attention(result, previous_published(results, result.round_id))
        if attention is None:
            continue
        view = attention_view(p, rt, attention, language)
        view["round"] = result.round_id
        view["round_label"] = round_label(result.round_id, language or p.language)
        return view
    return None


ITEM_TEXTS = {
    "nl": {
        "title": "Barometer: {title}",
        "drop": "Het gemiddelde zakte met {drop} sinds de vorige ronde (nu {mean}).",
        "gap": "{high} en {low} kijken er verschillend naar (verschil {size}).",
        "lowest": "Dit is de laagste score van de ronde {round} ({mean}).",
        "questions": "Om over te praten: {questions}",
        "step": "Kies samen één bouwsteen en één concrete actie; noteer die actie met `!actie`.",
    },
    "en": {
        "title": "Barometer: {title}",
        "drop": "The mean fell by {drop} since the previous round (now {mean}).",
        "gap": "{high} and {low} see it differently (difference {size}).",
        "lowest": "This is the lowest score of round {round} ({mean}).",
        "questions": "To talk about: {questions}",
        "step": "Choose one bouwsteen and one concrete action together; record that action with `!action`.",
    },
}
ITEM_MINUTES = 15


def agenda_item(p: Partnership, rt: Runtime, meeting: datetime) -> Item | None:
    """The agenda point for the bouwsteen the last barometer round points at (see `agenda_attention`)."""
    found = agenda_attention(p, rt, meeting)
    if found is None:
        return None
    words: dict[str, tuple[str, str]] = {}
    for language in ("nl", "en"):
        view = agenda_attention(p, rt, meeting, language) or found
        say = ITEM_TEXTS[language]
        reason = (
            say["drop"].format(drop=view["drop"], mean=view["mean"])
            if view["drop"]
            else say["gap"].format(**view["gap"])
            if view["gap"]
            else say["lowest"].format(round=view["round_label"], mean=view["mean"])
        )
        questions = " ".join(f"«{q}»" for q in view["questions"])
        note = " ".join([reason, say["questions"].format(questions=questions) if questions else "", say["step"]])
        words[language] = (say["title"].format(title=view["title"]), " ".join(note.split()))
    return Item(
        "barometer",
        ITEM_MINUTES,
        Priority.HIGH,
        title=Text(nl=words["nl"][0], en=words["en"][0]),
        note=Text(nl=words["nl"][1], en=words["en"][1]),
        data={"round": found["round"], "bouwsteen": found["bouwsteen"]},
    )


def summary(p: Partnership, rt: Runtime) -> str:
    """`!barometer`: the last closed round, or how many answered so far."""
    say = TEXTS[p.language]
    results = closed_results(p, rt)
    current = current_round(p, rt)
    lines: list[str] = []
    if results:
        last = results[-1]
        if last.published:
            view = result_view(p, rt, last, previous_published(results, last.round_id))
            lines.append(say["last"].format(label=view["label"], n=last.respondents))
            lines.append("")
            for row in view["rows"]:
                if row["shown"]:
                    change = f" ({row['change']})" if row["change"] else ""
                    lines.append(f"- {row['short']}: **{row['mean']}**{change}")
                else:
                    lines.append(f"- {row['short']}: {say['too_few']}")
            if view["attention"]:
                lines.append("")
                lines.append(say["attention"].format(title=view["attention"]["title"]))
        else:
            lines.append(say["not_enough"].format(n=last.respondents, minimum=last.min_respondents))
    if current is not None:
        record = rt.store.barometer_round(p.id, current)
        if record is not None and record.status == "open":
            count = rt.store.respondents(p.id, current)
            if lines:
                lines.append("")
            enough = "now_enough" if count >= record.min_respondents else "now"
            lines.append(say[enough].format(n=count, minimum=record.min_respondents, label=round_label(current, p.language)))
    return "\n".join(lines or [say["nothing"]]) + "\n"


TEXTS: dict[str, dict[str, str]] = {
    "nl": {
        "last": "**Barometer {label}** ({n} antwoorden)",
        "too_few": "te weinig antwoorden",
        "attention": "Vraagt nu de meeste aandacht: **{title}**. Het staat op de agenda van het volgende overleg.",
        "not_enough": "De vorige ronde had niet genoeg antwoorden: {n} van {minimum}. Er wordt niets getoond.",
        "now": "Deze ronde ({label}): nog niet genoeg antwoorden: {n} van {minimum}."
        " Pas wanneer de ronde sluit, toont brug de resultaten.",
        "now_enough": "Deze ronde ({label}): al {n} antwoorden. De resultaten volgen wanneer de ronde sluit.",
        "nothing": "Er is nog geen barometerronde.",
        "scored": "Bedankt, je score voor **{title}** is genoteerd. Je kan ze wijzigen tot de ronde sluit;"
        " brug toont nooit wie wat gaf.",
        "late": "Deze ronde is al afgesloten: je stem telt niet meer mee. In de volgende ronde kan je opnieuw stemmen.",
        "no_round": "Er loopt nog geen barometerronde. Ze begint met de volgende reflectievraag.",
    },
    "en": {
        "last": "**Barometer {label}** ({n} answers)",
        "too_few": "too few answers",
        "attention": "Needs attention most now: **{title}**. It is on the agenda of the next meeting.",
        "not_enough": "The previous round did not have enough answers: {n} of {minimum}. Nothing is shown.",
        "now": "This round ({label}): not enough answers yet: {n} of {minimum}."
        " brug shows the results only when the round closes.",
        "now_enough": "This round ({label}): {n} answers so far. The results follow when the round closes.",
        "nothing": "There is no barometer round yet.",
        "scored": "Thanks, your score for **{title}** is noted. You can change it until the round closes;"
        " brug never shows who gave what.",
        "late": "This round is already closed: your vote no longer counts. You can vote again in the next round.",
        "no_round": "No barometer round is running yet. It starts with the next reflection prompt.",
    },
}


def find_bouwsteen(word: str, library: Library) -> Bouwsteen | None:
    """'doel', 'Communicatie', 'respect', 'trust' … -> the bouwsteen."""
    needle = word.strip().lower()
    if not needle:
        return None
    for b in Bouwsteen:
        names = [b.value, *SHORT[b].values(), *(library.bouwstenen[b].title(lang) for lang in ("nl", "en"))]
        if any(needle == n.lower() or (len(needle) >= 4 and needle in n.lower().split()) for n in names):
            return b
    return None


def score_command(p: Partnership, rt: Runtime, member: Member, args: str, at: datetime) -> str | None:
    """`!score <bouwsteen> <1-5>`; None when the arguments are not understood (the caller shows help)."""
    parts = args.split()
    if len(parts) < 2 or not (parts[-1].isascii() and parts[-1].isdigit()) or not 1 <= int(parts[-1]) <= 5:
        return None
    bouwsteen = find_bouwsteen(" ".join(parts[:-1]), rt.library)
    if bouwsteen is None:
        return None
    say = TEXTS[p.language]
    round_id = current_round(p, rt, at)
    if round_id is None:
        return say["no_round"]
    outcome = rate(p, rt, member, round_id, bouwsteen, int(parts[-1]), at)
    if outcome.status == "closed":
        return say["late"]
    return say["scored"].format(title=rt.library.bouwstenen[bouwsteen].title(p.language))


def late_vote_text(language: Language) -> str:
    return TEXTS[language]["late"]


# --- the command line and the export ------------------------------------------------------------------


def overall(result: RoundResult) -> float | None:
    """The mean of the bouwstenen shown in a round (for a one-line trend)."""
    means = [m for b in Bouwsteen if (m := result.mean(b)) is not None]
    return sum(means) / len(means) if means else None


def trend(p: Partnership, rt: Runtime, language: Language, last: int = 4) -> str:
    """'2025–2026, trimester 3: 3,5 → 2026–2027, trimester 1: 3,2' over the last published rounds."""
    shown = [r for r in closed_results(p, rt) if r.published][-last:]
    parts = [f"{round_label(r.round_id, language)}: {number(m, language)}" for r in shown if (m := overall(r)) is not None]
    return " → ".join(parts)


def table(p: Partnership, rt: Runtime, language: Language) -> tuple[list[str], list[list[str]]]:
    """Every closed round as a row: round, respondents, the mean per bouwsteen ('—' when not shown)."""
    too_few = {"nl": "te weinig antwoorden", "en": "too few answers"}[language]
    header = [{"nl": "ronde", "en": "round"}[language], {"nl": "antw.", "en": "answ."}[language]]
    header += [SHORT[b][language] for b in Bouwsteen]
    rows = []
    for result in closed_results(p, rt):
        row = [round_label(result.round_id, language), str(result.respondents)]
        if result.published:
            row += [number(m, language) if (m := result.mean(b)) is not None else "—" for b in Bouwsteen]
        else:
            row += [too_few] + [""] * (len(Bouwsteen) - 1)
        rows.append(row)
    return header, rows


def latest_svg(p: Partnership, rt: Runtime) -> str | None:
    results = closed_results(p, rt)
    published = [r for r in results if r.published]
    if not published:
        return None
    last = published[-1]
    return radar_for(p, last, previous_published(results, last.round_id))


def export_rows(p_id: str, rt: Runtime) -> list[list[object]]:
    """The rounds as CSV rows: aggregates only (counts per score of the cells that were shown)."""
    rows: list[list[object]] = [
        ["round", "starts", "ends", "respondents", "bouwsteen", "group", "n", "mean", "spread", *map(str, range(1, 6))]
    ]
    for record in rt.store.barometer_rounds(p_id, "closed"):
        cells = rt.store.round_counts(p_id, record.round_id)
        base: list[object] = [
            record.round_id,
            record.starts.isoformat(timespec="minutes"),
            record.ends.isoformat(timespec="minutes") if record.ends else "",
            record.respondents or 0,
        ]
        if not cells:
            rows.append([*base, "", "", "", "", "", "", "", "", "", ""])
        for (bouwsteen, cell), counts in sorted(cells.items()):
            tally = Tally(counts)
            rows.append(
                [*base, bouwsteen, cell, tally.n, f"{tally.mean:.2f}", f"{tally.spread:.2f}", *counts]
            )
    return rows

