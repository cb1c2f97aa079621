"""brug as a running service: partnerships from their files, platforms connected, chat answered.

This is the composition root shared by `brug run`, the demo and the integration tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy.exc import DBAPIError

from brug import metrics
from brug.adapters.local import LocalChat, LocalFiles
from brug.app import agreements
from brug.app.conversation import TEXTS, Conversation, Incoming, PhaseMove, Reply
from brug.app.jobs import post_agenda, post_reflection, run_barometer
from brug.app.leases import Coordinator, LeaseLost, listener_name
from brug.app.scheduler import AGENDA, BAROMETER, REFLECTION, Scheduler, Slot
from brug.app.service import ApplyReport, PartnershipPlan, Runtime, apply_partnerships, content_digest
from brug.content.edit import set_phase
from brug.content.library import Library
from brug.content.partnerships import LoadedMapping, LoadedPartnership, load_partnerships
from brug.content.problems import Problem, ProblemsFound, os_reason
from brug.content.render import Renderer
from brug.domain.agreement import AgreementStatus, SignDecision, SignRequest
from brug.domain.holidays import SchoolCalendar
from brug.domain.partnership import Member, Partnership, Rhythms
from brug.domain.types import Language, strip_controls
from brug.logs import fields
from brug.settings import CONFIG_NAME, NextcloudSettings, SecretUnreadable, Settings
from brug.store import Store

log = logging.getLogger(__name__)

MOVED = {
    "nl": "Gedaan: de samenwerking staat nu in fase {number}/{count}: **{phase}**. De aankondiging en de nieuwe "
    "fasegids staan klaar.",
    "en": "Done: the partnership is now in phase {number}/{count}: **{phase}**. The announcement and the new "
    "phase guide are ready.",
}
LAST = {
    "nl": "Dit is al de laatste fase van het model; er is geen volgende.",
    "en": "This is already the model's last phase; there is no next one.",
}


def build_runtime(
    settings: Settings,
    library: Library,
    clock: Callable[[], datetime],
    *,
    remove_members: bool = False,
    language: Language = "nl",
) -> Runtime:
    """The store and the platform adapters that brug.toml configures."""
    extra = [*settings.phase_models, *([settings.templates] if settings.templates else [])]
    store = Store.open(settings.state)
    zones: dict[str, tzinfo] = {}
    rt = Runtime(
        library=library,
        renderer=Renderer(settings.templates),
        store=store,
        files=LocalFiles(settings.workspace),
        chats={"local": LocalChat(settings.workspace, clock, zones)},
        clock=clock,
        content_digest=content_digest(extra),
        remove_members=remove_members,
        zones=zones,
        language=language,
    )
    if settings.nextcloud is not None:
        password = required_secret(settings.nextcloud.password, "nextcloud", "app_password", language)
        bot_secret = None
        if settings.nextcloud.talk_bot_listen:
            bot_secret = required_secret(settings.nextcloud.bot_secret, "nextcloud", "talk_bot_secret", language)
        add_nextcloud(rt, settings.nextcloud, password, bot_secret=bot_secret)
    if settings.matrix is not None:
        token = required_secret(settings.matrix.token, "matrix", "access_token", language)
        from brug.adapters.matrix import MatrixAccount, MatrixChat

        account = MatrixAccount(settings.matrix.homeserver, settings.matrix.user_id, settings.matrix.device_id, token)
        matrix = MatrixChat(
            account, store, invite_every_room=settings.matrix.invite_every_room, progress=rt.progress
        )
        rt.chats["matrix"] = matrix
        rt.provisioners["matrix"] = matrix
    add_web(rt, settings, language)
    return rt


def add_web(rt: Runtime, settings: Settings, language: Language = "nl") -> None:
    """Answer links ([web]) and the mails that carry them ([mail])."""
    if settings.web is not None:
        from brug.app.links import LinkSigner

        secret = required_secret(settings.web.signing_secret, "web", "secret", language)
        if len(secret) < 16:
            text = "minstens 16 tekens" if language == "nl" else "at least 16 characters"
            raise ProblemsFound([Problem(CONFIG_NAME, ("web", "secret"), text)])
        rt.links = LinkSigner(secret, settings.web.base_url)
    if settings.mail is not None:
        from brug.app.mail import Mailer

        if settings.web is None:
            text = (
                "[mail] stuurt antwoordlinks: voeg ook [web] toe (met base_url)"
                if language == "nl"
                else "[mail] sends answer links: add [web] too (with base_url)"
            )
            raise ProblemsFound([Problem(CONFIG_NAME, ("mail",), text)])
        password = required_secret(settings.mail.secret, "mail", "password", language) if settings.mail.user else None
        rt.mailer = Mailer(settings.mail, password)


def required_secret(read: Callable[[], str | None], section: str, name: str, language: Language = "nl") -> str:
    """A secret from its environment variable or its *_file; a clear problem when there is none."""
    try:
        secret = read()
    except SecretUnreadable as err:
        reason = f"{err.file}: {os_reason(err.error, language)}"
        text = f"kan het geheim niet lezen: {reason}" if language == "nl" else f"cannot read the secret: {reason}"
        raise ProblemsFound([Problem(CONFIG_NAME, (section, f"{name}_file"), text)]) from None
    if not secret:
        variable = f"BRUG_{section.upper()}__{name.upper()}"
        text = f"zet {variable} of {name}_file" if language == "nl" else f"set {variable} or {name}_file"
        raise ProblemsFound([Problem(CONFIG_NAME, (section, name), text)])
    return secret


def add_nextcloud(
    rt: Runtime,
    config: NextcloudSettings,
    password: str,
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    clock: Callable[[], float] = time.time,
    bot_secret: str | None = None,
    poll_interval: float = 5.0,
) -> None:
    """Files, Teams and shares, Talk, Deck and Calendar on the Nextcloud that brug.toml names.

    `clock` (epoch seconds) paces the share queue against Nextcloud's share limit; `sleep` is the
    short wait before a write to a briefly locked file is tried again.
    """
    from brug.adapters.nextcloud.client import NextcloudAccount, NextcloudClient
    from brug.adapters.nextcloud.files import NextcloudFiles
    from brug.adapters.nextcloud.sharing import NextcloudSharing, ShareQueue
    from brug.adapters.nextcloud.talk import TalkChat
    from brug.adapters.nextcloud.workspace import NextcloudWorkspace

    store = rt.store
    client = NextcloudClient(NextcloudAccount(config.url, config.user, password), sleep=sleep)
    client.reachability.waiting = lambda: len(store.pending("nextcloud"))
    files = NextcloudFiles(client, config.folder)
    sharing = NextcloudSharing(client, store, ShareQueue(client, store, clock))
    deck = calendar = None
    if config.deck:
        from brug.adapters.nextcloud.deck import NextcloudDeck

        deck = NextcloudDeck(client, store)
    if config.calendar:
        from brug.adapters.nextcloud.calendar import NextcloudCalendar

        calendar = NextcloudCalendar(client, store)
    rt.file_spaces["nextcloud"] = files
    rt.surroundings["nextcloud"] = NextcloudWorkspace(files, sharing, deck, calendar, store)
    webhook = None
    if config.talk_bot_listen and bot_secret:
        host, port = config.talk_bot_listen.rsplit(":", 1)
        webhook = (host, int(port), bot_secret)
    talk = TalkChat(client, store, poll_interval=poll_interval, webhook=webhook)
    rt.chats["nextcloud"] = talk
    rt.provisioners["nextcloud"] = talk
    rt.closers.append(client.close)


class Bot:
    def __init__(self, rt: Runtime, sources: Sequence[Path], language: Language = "nl") -> None:
        self.rt = rt
        self.sources = list(sources)
        self.language = language
        self.loaded: dict[str, LoadedPartnership] = {}
        self.conversation = Conversation(
            rt.store,
            rt.library,
            rt.renderer,
            self.partnerships,
            rt.clock,
            self.move_phase,
            self.refresh_signals,
            self.sign_agreement,
            runtime=rt,
        )
        self._lock = asyncio.Lock()  # one apply at a time: the listener and the reconciler share the store
        self.leases: Coordinator | None = None  # several instances on PostgreSQL: only what this one holds

    def use_leases(self, leases: Coordinator) -> None:
        """Share the work with other instances: apply, schedule and post only for the partnerships held."""
        self.leases = leases
        self.rt.store.outbox_guard = (leases.id, leases.guard)
        self.rt.store.listener_guard = leases.guard_listener  # a chat event is handled only while elected
        self.rt.store.outbox_lease = leases.held_query

    def holds(self, partnership_id: str) -> bool:
        return self.leases is None or self.leases.holds(partnership_id)

    def held(self) -> list[LoadedPartnership]:
        """The partnerships this instance works on, as loaded (compact): all of them, or those whose lease it holds."""
        return [item for pid, item in self.loaded.items() if self.holds(pid)]

    def held_partnerships(self) -> Mapping[str, Partnership]:
        """The partnerships this instance works on, each validated when looked up."""
        return LoadedMapping({item.id: item for item in self.held()})

    def load(self, read: tuple[list[LoadedPartnership], list[Problem]] | None = None) -> list[Problem]:
        """Read the partnership files; on problems keep the last good version of each partnership.

        `read`: what `load_partnerships` gave for these sources just now (`brug run` reads them once at
        start: at 10,000 files a reading takes a minute). A file whose bytes did not change is not read again:
        its partnership stays as it was."""
        loaded, problems = read or load_partnerships(self.sources, self.rt.library, self.language, self.loaded)
        for pid in [pid for pid, item in self.loaded.items() if not item.path.exists()]:
            log.info("%s: its file is gone; brug no longer serves it", pid)
            del self.loaded[pid]
        for item in loaded:
            self.loaded[item.id] = item
            self.rt.zones[item.id] = item.zone
        for problem in problems:
            log.error("%s", problem)
        return problems

    def partnerships(self) -> Mapping[str, Partnership]:
        """The loaded partnerships by id (as loaded now); each is validated when it is looked up."""
        return LoadedMapping(dict(self.loaded))

    async def apply(
        self,
        only: str | Collection[str] | None = None,
        stop: asyncio.Event | None = None,
        *,
        unless_applied_within: timedelta | None = None,
        keep_plans: bool = True,
    ) -> tuple[list[PartnershipPlan], list[str], ApplyReport]:
        """Apply the loaded partnerships (or one, or some) this instance holds; with `stop` set, end after
        the operation in hand. A partnership another instance holds is left to it, asked to apply it soon.

        `unless_applied_within` leaves out what any instance applied that recently (an instance that starts
        or takes partnerships over does not redo the others' fresh work; its next reconcile covers them).
        `keep_plans=False`: return no plans (`brug run` keeps none of the thousands a reconcile makes)."""
        report = ApplyReport()
        chosen = None if only is None else {only} if isinstance(only, str) else set(only)
        items = [item for pid, item in self.loaded.items() if chosen is None or pid in chosen]
        if unless_applied_within is not None:
            since = datetime.now(UTC) - unless_applied_within
            applied = {a.id: a.applied_at for a in await asyncio.to_thread(self.rt.store.all_applied)}
            fresh = {
                item.id
                for item in items
                if (at := applied.get(item.id)) is not None
                and (at if at.tzinfo else at.replace(tzinfo=UTC)) > since
            }
            if fresh:
                log.info(
                    "%d partnership(s) were applied less than %d min ago; the next reconcile checks them",
                    len(fresh),
                    unless_applied_within.total_seconds() // 60,
                )
                items = [item for item in items if item.id not in fresh]
        if self.leases is not None:
            for pid in [item.id for item in items if not self.holds(item.id)]:
                if chosen is not None:  # a chat command here changed it: its holder applies it at its next tick
                    await asyncio.to_thread(self.leases.want_apply, pid)
                    log.info("%s: another instance holds it; asked it to apply the change", pid)
            items = [item for item in items if self.holds(item.id)]
        started = time.monotonic()
        async with self._lock:
            plans, errors = await apply_partnerships(items, self.rt, report, stop=stop, keep_plans=keep_plans)
        if only is None:  # a whole reconcile (at start and every so many minutes), not one partnership's
            metrics.RECONCILE_SECONDS.observe(time.monotonic() - started)
        for line in [*report.chat, *report.failed_invites, *errors]:
            log.info("%s", line)
        return plans, errors, report

    async def move_phase(self, partnership_id: str, by: str, origin: str = "") -> PhaseMove:
        """`!fase volgende`: write the next phase into the partnership file, then apply it.

        Once per chat message: a message delivered again (after a crash, a retry) moves nothing.
        """
        item = self.loaded[partnership_id]
        if origin and not self.rt.store.mark_processed("phase-move", origin):
            model = self.rt.library.phase_models[item.partnership.workflow]
            now = model.phase(item.partnership.phase)
            return PhaseMove(
                True,
                MOVED[item.partnership.language].format(
                    number=model.index(now.id) + 1, count=len(model.phases), phase=now.title(item.partnership.language)
                ),
            )
        p = item.partnership
        model = self.rt.library.phase_models[p.workflow]
        nxt = model.next_phase(p.phase)
        if nxt is None:
            return PhaseMove(False, LAST[p.language])
        set_phase(item.path, nxt.id)
        log.info("%s: %s moved the partnership to phase %s", p.id, by, nxt.id)
        self.load()
        await self.apply(only=p.id)
        return PhaseMove(
            True,
            MOVED[p.language].format(
                number=model.index(nxt.id) + 1, count=len(model.phases), phase=nxt.title(p.language)
            ),
        )

    async def refresh_signals(self, partnership_id: str) -> None:
        """A signal changed in chat: bring `signalen.md` up to date now rather than at the next reconcile."""
        try:
            await self.apply(only=partnership_id)
        except Exception:  # noqa: BLE001 - the signal is stored; the log follows at the next reconcile
            log.exception("%s: updating the signals log failed; it is retried at the next reconcile", partnership_id)

    async def sign_agreement(
        self, p: Partnership, member: Member, request: SignRequest, origin: str
    ) -> tuple[SignDecision, AgreementStatus]:
        """`!akkoord`: sign what the document holds now; then the status document and chat follow at once."""
        async with self._lock:
            decision, state = await agreements.sign(p, member, request, origin, self.rt)
        if decision.signoff is not None:
            await self.apply(only=p.id)
        return decision, state

    def scheduler(self, calendar: SchoolCalendar | None = None, grace: dict[str, timedelta] | None = None) -> Scheduler:
        """Agendas and reflection prompts for the loaded partnerships, on their own rhythms."""

        async def agenda(p: Rhythms, slot: Slot, late: bool) -> None:
            assert slot.meeting is not None
            await post_agenda(whole(p), slot.meeting, self.rt, late=late)

        async def reflection(p: Rhythms, slot: Slot, late: bool) -> None:
            await post_reflection(whole(p), slot.at, self.rt, late=late)

        async def barometer(p: Rhythms, slot: Slot, late: bool) -> None:
            await run_barometer(whole(p), slot.at, self.rt)

        return Scheduler(  # it looks at every partnership at each tick: in the compact form, validated only when due
            self.rt.store,
            self.held,
            {AGENDA: agenda, REFLECTION: reflection, BAROMETER: barometer},
            self.rt.clock,
            calendar,
            grace,
        )

    async def handle(self, message: Incoming) -> list[Reply]:
        """Answer a chat message; whatever goes wrong, the listener goes on and the sender hears it."""
        message = dataclasses.replace(message, text=strip_controls(message.text))  # the chat boundary
        try:
            return await self.conversation.handle(message)
        except Exception:  # noqa: BLE001 - one message must never stop brug from listening
            # the command word only: what people write never goes into a log
            command = message.text.split(maxsplit=1)[0][:30] if message.text.startswith("!") else "a message"
            log.exception("%s: handling %s failed", message.partnership, command, extra=fields(message.partnership))
            p = self.loaded.get(message.partnership)
            language = p.partnership.language if p else "nl"
            return [Reply(TEXTS[language]["failed"], message.event_id)]

    def listener_names(self) -> list[str]:
        """The lease names of the listeners this runtime has (`listener:matrix`, `listener:talk`)."""
        return [listener_name(platform) for platform, chat in self.rt.chats.items() if hasattr(chat, "listen")]

    async def listen(self, stop: asyncio.Event) -> None:
        """Listen on every chat platform that can, until `stop` is set (with leases: while elected); each
        listener outlives a store outage."""
        listeners = [
            outliving_store_outages(
                f"listening on {platform}", partial(self._listen_while_elected, platform, chat, stop), stop
            )
            for platform, chat in self.rt.chats.items()
            if hasattr(chat, "listen")
        ]
        if listeners:
            await asyncio.gather(*listeners)
        else:
            await stop.wait()

    async def _listen_while_elected(self, platform: str, chat: Any, stop: asyncio.Event) -> None:
        """One instance listens per platform: the one holding its listener lease; another takes over when
        it dies. A listener that loses its lease stops after the batch in hand."""
        if self.leases is None:
            await chat.listen(self.handle, stop)
            return
        leases, name = self.leases, listener_name(platform)
        while not stop.is_set():
            if not leases.holds(name):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=min(1.0, leases.renew))
                continue
            ended = asyncio.Event()

            async def watch() -> None:
                while not stop.is_set() and leases.holds(name):  # noqa: B023 - this round's lease
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), timeout=0.5)
                ended.set()  # noqa: B023

            watcher = asyncio.create_task(watch())
            log.info("listening on %s", platform.capitalize())
            try:
                await chat.listen(self.handle, ended)
            except LeaseLost:  # the database says another instance listens now: leave its batch to it
                leases.drop(name)
            finally:
                watcher.cancel()
            if not stop.is_set():
                log.info("stopped listening on %s: this instance no longer holds its listener", platform.capitalize())


def whole(p: Rhythms) -> Partnership:
    """The validated partnership behind what the scheduler was given (a loaded one, or a partnership)."""
    return p.partnership if isinstance(p, LoadedPartnership) else p  # type: ignore[return-value]


async def outliving_store_outages(what: str, loop: Callable[[], Awaitable[None]], stop: asyncio.Event) -> None:
    """Run a service loop until `stop`; when the state database stops answering, say so once and start the
    loop again when it answers (waits double up to a minute). /readyz says 503 meanwhile."""
    pause = 1.0
    down = False
    while not stop.is_set():
        started = time.monotonic()
        try:
            await loop()
            return
        except DBAPIError as err:
            if time.monotonic() - started > 60:  # it ran a while: a new outage, said anew
                pause, down = 1.0, False
            reason = str(err.orig or err).strip().splitlines()[0][:200] if str(err.orig or err).strip() else type(err).__name__
            if not down:
                log.error("%s stopped: the state database does not answer (%s); brug tries again", what, reason)
            else:
                log.debug("%s: the state database still does not answer (%s)", what, reason)
            down = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=pause)
        pause = min(pause * 2, 60.0)
