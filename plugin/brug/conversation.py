"""What brug answers when partners talk to it in chat — the same on every platform.

Adapters turn a platform's event into an `Incoming` message; the conversation decides, using the
command table in `brug.commands`, and returns `Reply`s that the adapter posts in a thread. Only
members of the partnership get answers; others get a polite refusal. Wrong usage gets the
command's help, never silence.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from brug.commands import COMMANDS, CommandSpec, find_command
from brug.content.context import common_context, with_extra
from brug.content.library import Library
from brug.content.render import Renderer, format_date, format_datetime, md_escape
from brug.domain.actions import parse_action_command
from brug.domain.partnership import Member, Partnership
from brug.domain.signals import NewSignal, parse_signal_args
from brug.meetings import agenda_for, open_actions, render_agenda
from brug.signals import open_signals_message, organisation_of, raise_signal, update_signal
from brug.store import Store

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


@dataclass(frozen=True)
class Reply:
    markdown: str
    thread_root: str  # the message to answer under
    reaction: str | None = None  # instead of a message: a reaction on `thread_root`


@dataclass(frozen=True)
class PhaseMove:
    ok: bool
    message: str


PhaseMover = Callable[[str, str, str], Awaitable[PhaseMove]]  # (partnership id, who, origin event) -> result
Changed = Callable[[str], Awaitable[None]]  # a partnership's signals changed: refresh what shows them

TEXTS: dict[str, dict[str, str]] = {
    "nl": {
        "refuse": "Sorry, ik beantwoord alleen leden van deze samenwerking. Vraag een coördinator om je toe te voegen.",
        "unknown": "Dat commando ken ik niet: `!{word}`. Typ `!hulp` voor wat ik kan.",
        "coordinators_only": "Alleen een coördinator kan de samenwerking naar de volgende fase zetten.",
        "item_added": "Genoteerd voor de agenda van {when}: {text}",
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
    },
    "en": {
        "refuse": "Sorry, I only answer members of this partnership. Ask a coordinator to add you.",
        "unknown": "I don't know the command `!{word}`. Type `!help` to see what I can do.",
        "coordinators_only": "Only a coordinator can move the partnership to its next phase.",
        "item_added": "Noted for the agenda of {when}: {text}",
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
    ) -> None:
        self.signals_changed = signals_changed
        self.store = store
        self.library = library
        self.renderer = renderer
        self.partnerships = partnerships
        self.clock = clock
        self.move_phase = move_phase

    async def handle(self, msg: Incoming) -> list[Reply]:
        p = self.partnerships().get(msg.partnership)
        if p is None:
            return []
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
        answer = await self._run(command, args, p, member, msg)
        log.info("%s: %s ran !%s", p.id, member.key, command.name)
        return [Reply(answer, msg.event_id)]

    def _maybe_answer(self, p: Partnership, msg: Incoming) -> list[Reply]:
        """A reply in the thread of a reflection prompt is an answer to collect."""
        if msg.thread_root is None:
            return []
        post = self.store.sent_post(msg.platform, msg.thread_root)
        if post is None or post["kind"] != "reflection":
            return []
        member = find_member(p, msg.platform, msg.sender)
        author = member.name if member else msg.sender
        if self.store.add_answer(p.id, str(post["key"]), author, msg.text.strip(), msg.platform, msg.event_id):
            log.info("%s: collected an answer to %s", p.id, post["key"])
        return [Reply("", msg.event_id, reaction="👍")]

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
            return render_agenda(agenda_for(p, nxt[0], self.store, self.library), p, self.library, self.renderer, now)
        if name == "agendapunt":
            if not args:
                return self._help(p, command)
            self.store.add_agenda_item(p.id, args, member.name, f"{msg.platform}:{msg.event_id}")
            nxt = p.meeting_times(now, 1)
            if nxt:
                when = format_datetime(nxt[0].astimezone(p.zone), p.language)
                return say["item_added"].format(when=when, text=md_escape(args))
            return say["item_added_no_meeting"].format(text=md_escape(args))
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
        if name == "pauze":
            self.store.set_paused(p.id, True, member.name)
            return say["paused"]
        if name == "hervat":
            self.store.set_paused(p.id, False)
            return say["resumed"]
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
        return self.renderer.render("help", p.language, **with_extra(context, commands=COMMANDS, command=command))

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
                meeting=format_datetime(nxt[0].astimezone(p.zone), p.language) if nxt else "—",
            ),
            "",
        ]
        actions = open_actions(self.store, p.id)
        if actions:
            lines.append(say["status_actions"])
            for a in actions:
                extra = "".join([f" — {md_escape(a.who)}" if a.who else "", f" — {a.due.isoformat()}" if a.due else ""])
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


def _code(word: str) -> str:
    return word.replace("`", "")[:40]
