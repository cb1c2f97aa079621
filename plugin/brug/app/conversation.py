"""What brug answers when partners talk to it in chat — the same on every platform.

Adapters turn a platform's event into an `Incoming` message; the conversation decides, using the
command table in `brug.app.commands`, and returns `Reply`s that the adapter posts in a thread. Only
members of the partnership get answers; others get a polite refusal. Wrong usage gets the
command's help, never silence.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from brug.app import barometer
from brug.app.commands import COMMANDS, MAX_ANSWER, CommandSpec, find_command
from brug.app.meetings import agenda_for, open_actions, render_agenda
from brug.app.scheduler import agenda_post_key
from brug.app.signals import open_signals_message, organisation_of, raise_signal, update_signal
from brug.content.context import common_context, with_extra
from brug.content.library import Library
from brug.content.render import Renderer, format_date, format_datetime, format_local, md_escape
from brug.domain.actions import parse_action_command
from brug.domain.agreement import AgreementStatus, Outcome, SignDecision, SignRequest, parse_sign_request
from brug.domain.partnership import Member, Partnership
from brug.domain.signals import NewSignal, parse_signal_args
from brug.store import Store

if TYPE_CHECKING:
    from brug.app.service import Runtime

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Incoming:
    """A message someone wrote in a partnership's room, as every adapter delivers it."""

    platform: str
    partnership: str
    room: str  # the room's key in the phase model: algemeen, overleg, reflectie
    sender: str  # the platform's user id
    text: str
    event_id: str
    thread_root: str | None = None  # set when the message is a reply in a thread
    failure: str | None = None  # set when answering this message failed for good: say so, once
    poll: str | None = None  # set for a vote: the platform's id of the poll voted in
    answers: tuple[str, ...] = ()  # the chosen answers of a vote
    at: datetime | None = None  # when the platform received it


@dataclass(frozen=True)
class Reply:
    markdown: str
    thread_root: str  # the message to answer under
    reaction: str | None = None  # instead of a message: a reaction on `thread_root`
    hide: bool = False  # remove the message answered where the platform allows (it holds a person's rating)


@dataclass(frozen=True)
class PhaseMove:
    ok: bool
    message: str


PhaseMover = Callable[[str, str, str], Awaitable[PhaseMove]]  # (partnership id, who, origin event) -> result
Changed = Callable[[str], Awaitable[None]]  # a partnership's signals changed: refresh what shows them
# (partnership, member, what they asked, origin event) -> the decision and the agreement's state after it
AgreementDesk = Callable[[Partnership, Member, SignRequest, str], Awaitable[tuple[SignDecision, AgreementStatus]]]

TEXTS: dict[str, dict[str, str]] = {
    "nl": {
        "failed": "Sorry, dat lukte niet door een fout bij brug. De beheerder kan in het logboek zien wat er "
        "misging.",
        "refuse": "Sorry, ik beantwoord alleen leden van deze samenwerking. Vraag een coördinator om je toe te voegen.",
        "unknown": "Dat commando ken ik niet: `!{word}`. Typ `!hulp` voor wat ik kan.",
        "coordinators_only": "Alleen een coördinator kan de samenwerking naar de volgende fase zetten.",
        "command_coordinators_only": "Alleen een coördinator kan `!{command}` gebruiken. Coördinatoren: {names}.",
        "too_long": "Dat is te lang voor `!{command}`: hoogstens {limit} tekens, dit bericht telt er {length}. "
        "Schrijf de kern in één korte zin; de uitleg past beter in het document van het overleg.",
        "answer_too_long": "Dank je, maar dit antwoord is te lang om te bewaren: hoogstens {limit} tekens, dit telt "
        "er {length}. Kort het in en stuur het opnieuw in deze draad.",
        "refuse_answer": "Sorry, alleen leden van deze samenwerking kunnen hier antwoorden; je antwoord is niet "
        "bewaard. Vraag een coördinator om je toe te voegen.",
        "item_added": "Genoteerd voor de agenda van {when}: {text}",
        "item_added_later": "De agenda van {sent} is al verstuurd. Je punt staat op de agenda van {when}: {text}. "
        "Moet het toch {sent_short} besproken worden? Breng het dan in bij de rondvraag.",
        "agenda_sent": "_Deze agenda werd al verstuurd. Nieuwe punten gaan naar het overleg van {when}._",
        "item_added_no_meeting": "Genoteerd voor de agenda van het volgende overleg: {text}",
        "action_added": "Actie {number} genoteerd: {text}{who}{due}.",
        "action_who": " — {who}",
        "action_due": " — tegen {due}",
        "action_done": "Actie {number} is afgevinkt. Goed bezig!",
        "no_such_action": "Er is geen open actie met nummer {number}. Typ `!status` voor de open acties.",
        "no_meeting": "Er staat nog geen volgend overleg gepland in het partnerschapsbestand.",
        "status": "**{name}**\n\nFase {number}/{count}: {phase}\n\nVolgend overleg: {meeting}",
        "status_actions": "Open acties:",
        "status_no_actions": "Geen open acties.",
        "phase_now": "We zitten in fase {number}/{count}: **{phase}**. {next}",
        "phase_next": "Een coördinator zet de samenwerking een stap verder met `!fase volgende`.",
        "phase_last": "Dit is de laatste fase van het model.",
        "paused": "De reflectievragen zijn gepauzeerd. Met `!hervat` komen ze terug.",
        "resumed": "De reflectievragen komen weer op het gewone ritme.",
        "sign_signed": "Genoteerd: {org} keurt versie {version} van het akkoord goed ({name}).",
        "sign_complete": "Daarmee keurde elke organisatie die moet goedkeuren deze versie goed: "
        "het akkoord is ondertekend.",
        "sign_open": "Nog niet goedgekeurd: {orgs}.",
        "sign_already": "{org} keurde versie {version} al goed. Er is niets meer te doen.",
        "sign_presented": "Genoteerd: versie {version} is voorgelegd aan {org}. {deciders}",
        "sign_presented_deciders": "Wie daar mag beslissen ({names}), keurt goed met `!akkoord`.",
        "sign_presented_nobody": "{org} moet nog aanduiden wie mag beslissen.",
        "sign_stale": "Versie {current} is de huidige; versie {asked} is intussen gewijzigd{sections}. "
        "Lees eerst de wijzigingen, en keur dan versie {current} goed met `!akkoord {current}`.",
        "sign_unknown": "Er is geen versie {asked} van het akkoord; de huidige versie is {current}.",
        "sign_no_mandate": "Dank je! Jij koppelt terug naar {org}; daar mag {names} beslissen. Leg het akkoord "
        "aan hen voor: zij keuren het goed met `!akkoord`. Is het voorgelegd? Typ dan `!akkoord voorgelegd`.",
        "sign_no_decider": "Dank je! Jij koppelt terug naar {org}, maar {org} heeft nog niemand aangeduid die mag "
        "beslissen. Vraag in je organisatie wie dat doet; een coördinator zet die persoon met "
        "`mandate: beslissing` in het partnerschapsbestand. Is het voorgelegd? Typ dan `!akkoord voorgelegd`.",
        "sign_no_document": "Er is nog geen akkoord om goed te keuren: brug heeft het document nog niet gezien.",
        "sign_unavailable": "Goedkeuren kan hier niet: brug draait zonder toegang tot de documenten.",
        "changed_sections": " (gewijzigd: {sections})",
    },
    "en": {
        "failed": "Sorry, that did not work because of an error in brug. The administrator can see what went wrong "
        "in the log.",
        "refuse": "Sorry, I only answer members of this partnership. Ask a coordinator to add you.",
        "unknown": "I don't know the command `!{word}`. Type `!help` to see what I can do.",
        "coordinators_only": "Only a coordinator can move the partnership to its next phase.",
        "command_coordinators_only": "Only a coordinator can use `!{command}`. Coordinators: {names}.",
        "too_long": "That is too long for `!{command}`: at most {limit} characters, this message has {length}. "
        "Write the gist in one short sentence; the details fit better in the meeting's document.",
        "answer_too_long": "Thank you, but this answer is too long to keep: at most {limit} characters, this one "
        "has {length}. Please shorten it and send it again in this thread.",
        "refuse_answer": "Sorry, only members of this partnership can answer here; your answer was not kept. Ask a "
        "coordinator to add you.",
        "item_added": "Noted for the agenda of {when}: {text}",
        "item_added_later": "The agenda of {sent} has already been sent. Your item is on the agenda of {when}: "
        "{text}. Should it be discussed {sent_short} after all? Then bring it up under any other business.",
        "agenda_sent": "_This agenda has already been sent. New items go to the meeting of {when}._",
        "item_added_no_meeting": "Noted for the agenda of the next meeting: {text}",
        "action_added": "Action {number} noted: {text}{who}{due}.",
        "action_who": " — {who}",
        "action_due": " — by {due}",
        "action_done": "Action {number} is ticked off. Well done!",
        "no_such_action": "There is no open action number {number}. Type `!status` for the open actions.",
        "no_meeting": "The partnership file does not plan a next meeting yet.",
        "status": "**{name}**\n\nPhase {number}/{count}: {phase}\n\nNext meeting: {meeting}",
        "status_actions": "Open actions:",
        "status_no_actions": "No open actions.",
        "phase_now": "We are in phase {number}/{count}: **{phase}**. {next}",
        "phase_next": "A coordinator moves the partnership on with `!phase next`.",
        "phase_last": "This is the model's last phase.",
        "paused": "Reflection prompts are paused. `!resume` brings them back.",
        "resumed": "Reflection prompts are back on their usual rhythm.",
        "sign_signed": "Noted: {org} approves version {version} of the agreement ({name}).",
        "sign_complete": "With that, every organisation that must approve has approved this version: "
        "the agreement is signed.",
        "sign_open": "Not approved yet: {orgs}.",
        "sign_already": "{org} already approved version {version}. Nothing more to do.",
        "sign_presented": "Noted: version {version} was presented to {org}. {deciders}",
        "sign_presented_deciders": "Whoever may decide there ({names}) approves with `!akkoord`.",
        "sign_presented_nobody": "{org} still has to name who may decide.",
        "sign_stale": "Version {current} is the current one; version {asked} has changed since{sections}. "
        "Read the changes first, then approve version {current} with `!akkoord {current}`.",
        "sign_unknown": "There is no version {asked} of the agreement; the current version is {current}.",
        "sign_no_mandate": "Thank you! You report back to {org}; there {names} may decide. Put the agreement "
        "to them: they approve it with `!akkoord`. Has it been presented? Then type `!akkoord voorgelegd`.",
        "sign_no_decider": "Thank you! You report back to {org}, but {org} has not named anyone who may decide yet. "
        "Ask in your organisation who does; a coordinator gives that person `mandate: beslissing` in the "
        "partnership file. Has it been presented? Then type `!akkoord voorgelegd`.",
        "sign_no_document": "There is no agreement to approve yet: brug has not seen the document.",
        "sign_unavailable": "Approving is not possible here: brug runs without access to the documents.",
        "changed_sections": " (changed: {sections})",
    },
}


def find_member(p: Partnership, platform: str, user: str) -> Member | None:
    for _, member in p.members:
        ids = {"matrix": member.matrix, "nextcloud": member.nextcloud, "local": member.key}
        if ids.get(platform) and ids[platform] == user:
            return member
    return None


class Conversation:
    def __init__(
        self,
        store: Store,
        library: Library,
        renderer: Renderer,
        partnerships: Callable[[], dict[str, Partnership]],
        clock: Callable[[], datetime],
        move_phase: PhaseMover,
        signals_changed: Changed | None = None,
        sign_agreement: AgreementDesk | None = None,
        runtime: Runtime | None = None,
    ) -> None:
        self.runtime = runtime  # for the barometer (votes, !score, !barometer)
        self.signals_changed = signals_changed
        self.store = store
        self.library = library
        self.renderer = renderer
        self.partnerships = partnerships
        self.clock = clock
        self.move_phase = move_phase
        self.sign_agreement = sign_agreement

    async def handle(self, msg: Incoming) -> list[Reply]:
        p = self.partnerships().get(msg.partnership)
        if p is None:
            return []
        if msg.failure is not None:
            return [Reply(TEXTS[p.language]["failed"], msg.event_id)]
        if msg.poll is not None:
            return self._vote(p, msg)
        text = msg.text.strip()
        if not text.startswith("!"):
            return self._maybe_answer(p, msg)
        word, _, args = text[1:].partition(" ")
        args = args.strip()
        say = TEXTS[p.language]
        member = find_member(p, msg.platform, msg.sender)
        if member is None:
            log.info("%s: refused %s from non-member %s", p.id, word, msg.sender)
            return [Reply(say["refuse"], msg.event_id)]
        command = find_command(word)
        if command is None:
            return [Reply(say["unknown"].format(word=_code(word)), msg.event_id)]
        if len(args) > command.limit:
            log.info("%s: refused a !%s of %d characters from %s", p.id, command.name, len(args), member.key)
            sizes = _sizes(p, command.limit, len(args))
            return [Reply(say["too_long"].format(**sizes, command=command.word(p.language)), msg.event_id)]
        if command.coordinator_only and not member.coordinator:
            names = ", ".join(m.name for m in p.coordinators) or "—"
            word = command.word(p.language)
            refusal = say["command_coordinators_only"].format(command=word, names=md_escape(names))
            return [Reply(refusal, msg.event_id)]
        answer = await self._run(command, args, p, member, msg)
        who = "someone" if command.name == "score" else member.key  # who rated what is never logged
        log.info("%s: %s ran !%s", p.id, who, command.name)
        return [Reply(answer, msg.event_id, hide=command.name == "score")]

    def _maybe_answer(self, p: Partnership, msg: Incoming) -> list[Reply]:
        """A reply in the thread of a reflection prompt is an answer to collect."""
        if msg.thread_root is None:
            return []
        post = self.store.sent_post(msg.platform, msg.thread_root)
        if post is None or post["kind"] != "reflection":
            return []
        say = TEXTS[p.language]
        member = find_member(p, msg.platform, msg.sender)
        if member is None:  # only the partnership's members answer; nothing of an outsider is kept
            log.info("%s: refused an answer from non-member %s", p.id, msg.sender)
            return [Reply(say["refuse_answer"], msg.event_id)]
        text = msg.text.strip()
        if len(text) > MAX_ANSWER:
            log.info("%s: refused an answer of %d characters from %s", p.id, len(text), member.key)
            return [Reply(say["answer_too_long"].format(**_sizes(p, MAX_ANSWER, len(text))), msg.event_id)]
        if self.store.add_answer(p.id, str(post["key"]), member.name, text, msg.platform, msg.event_id):
            log.info("%s: collected an answer to %s", p.id, post["key"])
        return [Reply("", msg.event_id, reaction="👍")]

    def _vote(self, p: Partnership, msg: Incoming) -> list[Reply]:
        """A vote in a poll: counted silently; a vote for a round that closed is refused, and said so."""
        member = find_member(p, msg.platform, msg.sender)
        if member is None or self.runtime is None or msg.poll is None or len(msg.answers) != 1:
            return []  # a non-member's vote, or a spoiled one (none or several answers), counts for nothing
        at = msg.at or self.clock()
        outcome = barometer.vote_on_poll(p, self.runtime, member, msg.platform, msg.poll, msg.answers[0], at)
        if outcome is not None and outcome.status == "closed":
            return [Reply(barometer.late_vote_text(p.language), msg.poll)]
        return []

    async def _run(self, command: CommandSpec, args: str, p: Partnership, member: Member, msg: Incoming) -> str:
        say = TEXTS[p.language]
        now = self.clock()
        name = command.name
        if name == "hulp":
            return self._help(p, None)
        if name == "status":
            return self._status(p, now)
        if name == "agenda":
            nxt = p.meeting_times(now, 1)
            if not nxt:
                return say["no_meeting"]
            sent = self.store.outbox_entry("local", agenda_post_key(p.id, nxt[0]))
            if sent is not None:  # the agenda as it went out, not one with points meant for a later meeting
                later = self._open_meeting(p, now)
                when = format_datetime(later.astimezone(p.zone), p.language) if later else "—"
                return f"{sent['content'].rstrip()}\n\n{say['agenda_sent'].format(when=when)}\n"
            attention = barometer.agenda_item(p, self.runtime, nxt[0]) if self.runtime else None
            agenda = agenda_for(p, nxt[0], self.store, self.library, extra=[attention] if attention else [])
            return render_agenda(agenda, p, self.library, self.renderer, now, for_chat=True)
        if name == "agendapunt":
            if not args:
                return self._help(p, command)
            self.store.add_agenda_item(p.id, args, member.name, f"{msg.platform}:{msg.event_id}")
            nxt = p.meeting_times(now, 1)
            target = self._open_meeting(p, now)
            if target is None:
                return say["item_added_no_meeting"].format(text=md_escape(args))
            when = format_datetime(target.astimezone(p.zone), p.language)
            if nxt and target != nxt[0]:  # the next meeting's agenda is already out: say where it really goes
                sent = nxt[0].astimezone(p.zone)
                return say["item_added_later"].format(
                    sent=format_datetime(sent, p.language),
                    sent_short=format_date(sent.date(), p.language),
                    when=when,
                    text=md_escape(args),
                )
            return say["item_added"].format(when=when, text=md_escape(args))
        if name == "actie":
            parsed = parse_action_command(args, now.astimezone(p.zone).date())
            if parsed is None:
                return self._help(p, command)
            who = self._who(p, parsed.who) if parsed.who else None
            number = self.store.add_action(
                p.id, parsed.text, who, parsed.due.isoformat() if parsed.due else None, f"{msg.platform}:{msg.event_id}"
            )
            return say["action_added"].format(
                number=number,
                text=md_escape(parsed.text),
                who=say["action_who"].format(who=md_escape(who)) if who else "",
                due=say["action_due"].format(due=format_date(parsed.due, p.language)) if parsed.due else "",
            )
        if name == "klaar":
            if not (args.isascii() and args.isdigit() and len(args) <= 6):
                return self._help(p, command)
            if self.store.complete_action(p.id, int(args)):
                return say["action_done"].format(number=int(args))
            return say["no_such_action"].format(number=int(args))
        if name == "fase":
            if args == "":
                return self._phase(p)
            if args.lower() not in ("volgende", "next"):
                return self._help(p, command)
            if not member.coordinator:
                return say["coordinators_only"]
            moved = await self.move_phase(p.id, member.name, f"{msg.platform}:{msg.event_id}")
            return moved.message
        if name == "signaal":
            return await self._signal(command, args, p, member, msg)
        if name == "signalen":
            return open_signals_message(self.store, self.library, p, now)
        if name == "akkoord":
            request = parse_sign_request(args)
            if request is None:
                return self._help(p, command)
            if self.sign_agreement is None:
                return say["sign_unavailable"]
            decision, state = await self.sign_agreement(p, member, request, f"{msg.platform}:{msg.event_id}")
            return _sign_answer(say, decision, state, request)
        if name == "pauze":
            self.store.set_paused(p.id, True, member.name)
            return say["paused"]
        if name == "hervat":
            self.store.set_paused(p.id, False)
            return say["resumed"]
        if name == "score" and self.runtime is not None:
            answer = barometer.score_command(p, self.runtime, member, args, msg.at or now)
            return answer if answer is not None else self._help(p, command)
        if name == "barometer" and self.runtime is not None:
            return barometer.summary(p, self.runtime)
        return self._help(p, command)  # pragma: no cover - every command is handled above

    async def _signal(self, command: CommandSpec, args: str, p: Partnership, member: Member, msg: Incoming) -> str:
        """`!signaal <tekst>` raises a signal (unless it looks like a personal case); `!signaal <nr> …` follows up."""
        parsed = parse_signal_args(args, self.library.signals)
        if parsed is None:
            return self._help(p, command)
        now, origin = self.clock(), f"{msg.platform}:{msg.event_id}"
        if isinstance(parsed, NewSignal):
            org = organisation_of(p, member)
            outcome = raise_signal(
                self.store,
                self.library,
                p,
                parsed,
                by=member.name,
                organisation=org.name if org else None,
                at=now,
                origin=origin,
            )
        else:
            outcome = update_signal(self.store, self.library, p, parsed, by=member.name, at=now, origin=origin)
        if outcome.refused:
            log.info("%s: refused a signal that looked like a personal case (nothing stored)", p.id)
        if outcome.changed and self.signals_changed is not None:
            await self.signals_changed(p.id)
        return outcome.reply

    def _open_meeting(self, p: Partnership, now: datetime) -> datetime | None:
        """The first coming meeting whose agenda has not gone out yet: where a new point will be."""
        posted = set(self.store.post_keys(p.id, "agenda"))
        return next((m for m in p.meeting_times(now, 6) if agenda_post_key(p.id, m) not in posted), None)

    def _who(self, p: Partnership, text: str) -> str:
        """'@an', 'an-peeters' or '@an:server' -> the member's name when it is one of ours."""
        needle = text.lstrip("@").lower()
        for _, m in p.members:
            if needle in (m.key, (m.matrix or "").lstrip("@").lower(), (m.nextcloud or "").lower()):
                return m.name
            if needle == m.name.split()[0].lower() or needle == (m.matrix or "").lstrip("@").split(":")[0].lower():
                return m.name
        return text.lstrip("@")

    def _help(self, p: Partnership, command: CommandSpec | None) -> str:
        context = common_context(p, self.library, self.clock(), links=[])
        return self.renderer.render(
            "help", p.language, **with_extra(context, commands=COMMANDS, command=command, max_answer=MAX_ANSWER)
        )

    def _status(self, p: Partnership, now: datetime) -> str:
        say = TEXTS[p.language]
        model = self.library.phase_models[p.workflow]
        nxt = p.meeting_times(now, 1)
        lines = [
            say["status"].format(
                name=md_escape(p.name),
                number=model.index(p.phase) + 1,
                count=len(model.phases),
                phase=model.phase(p.phase).title(p.language),
                meeting=format_local(nxt[0], p.zone, p.language) if nxt else "—",  # local, with the zone
            ),
            "",
        ]
        actions = open_actions(self.store, p.id)
        if actions:
            lines.append(say["status_actions"])
            for a in actions:
                due = format_date(a.due, p.language) if a.due else ""
                extra = "".join([f" — {md_escape(a.who)}" if a.who else "", f" — {due}" if due else ""])
                lines.append(f"{a.number}. {md_escape(a.text)}{extra}")
        else:
            lines.append(say["status_no_actions"])
        return "\n".join(lines) + "\n"

    def _phase(self, p: Partnership) -> str:
        say = TEXTS[p.language]
        model = self.library.phase_models[p.workflow]
        nxt = model.next_phase(p.phase)
        return say["phase_now"].format(
            number=model.index(p.phase) + 1,
            count=len(model.phases),
            phase=model.phase(p.phase).title(p.language),
            next=say["phase_next"] if nxt else say["phase_last"],
        )


def _names(names: tuple[str, ...] | list[str]) -> str:
    return md_escape(", ".join(names))


def _sign_answer(say: dict[str, str], d: SignDecision, state: AgreementStatus, request: SignRequest) -> str:
    org = md_escape(d.organisation.name)
    current = d.current.number if d.current else 0
    if d.outcome is Outcome.signed:
        text = say["sign_signed"].format(org=org, version=current, name=md_escape(d.signoff.member_name))  # type: ignore[union-attr]
        if state.complete:
            return f"{text} {say['sign_complete']}"
        waiting = [o.name for o in state.open_organisations]
        return f"{text} {say['sign_open'].format(orgs=_names(waiting))}" if waiting else text
    if d.outcome is Outcome.already:
        return say["sign_already"].format(org=org, version=current)
    if d.outcome is Outcome.presented:
        follow = (
            say["sign_presented_deciders"].format(names=_names(d.deciders))
            if d.deciders
            else say["sign_presented_nobody"].format(org=org)
        )
        return say["sign_presented"].format(version=current, org=org, deciders=follow)
    if d.outcome is Outcome.stale:
        sections = state.current.sections if state.current else ()
        extra = say["changed_sections"].format(sections=_names(sections)) if sections else ""
        return say["sign_stale"].format(current=current, asked=request.version, sections=extra)
    if d.outcome is Outcome.unknown_version:
        return say["sign_unknown"].format(current=current, asked=request.version)
    if d.outcome is Outcome.no_mandate:
        return say["sign_no_mandate"].format(org=org, names=_names(d.deciders))
    if d.outcome is Outcome.no_decider:
        return say["sign_no_decider"].format(org=org)
    return say["sign_no_document"]


def _sizes(p: Partnership, limit: int, length: int) -> dict[str, str]:
    """Numbers as people of the partnership's language write them: 40.000 in Dutch, 40,000 in English."""
    sep = "." if p.language == "nl" else ","
    return {"limit": f"{limit:,}".replace(",", sep), "length": f"{length:,}".replace(",", sep)}


def _code(word: str) -> str:
    return word.replace("`", "")[:40]
