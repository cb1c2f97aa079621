"""The application layer: plan and apply partnerships against the configured platforms.

`plan` is read-only. `apply` carries out the plan operation by operation and records each step in
the store as soon as it succeeded, so an interrupted apply continues where it stopped.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import zlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, tzinfo
from pathlib import Path, PurePosixPath
from typing import Any

import brug
from brug import metrics
from brug.app import agreements
from brug.app.signals import signals_log_context
from brug.content.agreement import AgreementState
from brug.content.context import Link
from brug.content.library import Library
from brug.content.partnerships import LoadedPartnership, canonical_json, kept_text
from brug.content.problems import display_path
from brug.content.render import Renderer
from brug.content.resources import data_dir
from brug.domain.agreement import reminder_due
from brug.domain.partnership import Partnership, today_in
from brug.domain.types import Language
from brug.logs import fields
from brug.planner import Action, DocumentRecord, Operation, Reason, plan_workspace
from brug.ports import (
    NETWORK_ERRORS,
    ChatProvisioner,
    ChatSpace,
    FileSpace,
    PlatformError,
    ProgressRelay,
    Unreachable,
    WriteCondition,
    WriteConflict,
)
from brug.store import Store
from brug.workspace.chat import ChatWorkspace, chat_workspace
from brug.workspace.desired import DesiredWorkspace, History, desired_workspace, document_title, pinned_overview, sha256
from brug.workspace.layout import Layout

log = logging.getLogger(__name__)

VERSIONED = {"agreement"}  # documents whose every version brug keeps, for `brug export`
PARK_AFTER = 5  # failed attempts after which a post is parked (named in `brug status`) instead of retried
PREFETCH = 500  # partnerships whose store reads a reconcile makes at once


@dataclass
class Runtime:
    """Everything plan and apply work with; built once per command."""

    library: Library
    renderer: Renderer
    store: Store
    files: FileSpace
    chats: dict[str, ChatSpace]
    clock: Callable[[], datetime]
    content_digest: str
    provisioners: dict[str, ChatProvisioner] = field(default_factory=dict)
    remove_members: bool = False
    file_spaces: dict[str, FileSpace] = field(default_factory=dict)  # by platform; `files` is the default
    # what surrounds a platform's folder (Nextcloud: Team, share, Deck, calendar), by files platform
    surroundings: dict[str, Any] = field(default_factory=dict)
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    zones: dict[str, tzinfo] = field(default_factory=dict)  # each known partnership's time zone, by id
    language: Language = "nl"  # of brug's own messages (the command line's, not the partners')
    progress: ProgressRelay = field(default_factory=ProgressRelay)  # what a long apply shows meanwhile
    mailer: Any = None  # brug.app.mail.Mailer when brug.toml has [mail]
    links: Any = None  # brug.app.links.LinkSigner when brug.toml has [web]

    def files_for(self, p: Partnership) -> FileSpace:
        """Where this partnership's documents live (its `platforms.files`)."""
        space = self.file_spaces.get(
            p.platforms.files, self.files if self.files.platform == p.platforms.files else None
        )
        if space is None:
            name = p.platforms.files
            raise PlatformError(
                f"bestandsplatform '{name}' staat niet in brug.toml"
                if self.language == "nl"
                else f"file platform '{name}' is not configured in brug.toml"
            )
        return space

    async def close(self) -> None:
        adapters = [*self.chats.values(), *self.provisioners.values(), *self.file_spaces.values()]
        for chat in {id(c): c for c in adapters}.values():
            closing = getattr(chat, "close", None)
            if closing is not None:
                await closing()
        for close in self.closers:
            await close()


@dataclass(frozen=True)
class PartnershipPlan:
    partnership: Partnership
    source: str
    operations: list[Operation]
    inputs_hash: str
    history: History  # as it will be after applying
    missing_chats: list[str] = field(default_factory=list)  # chat platforms of the file that brug.toml lacks
    unchanged: bool = False  # nothing the workspace depends on changed since the last apply

    @property
    def changes(self) -> list[Operation]:
        return [op for op in self.operations if op.changes_something]


@dataclass
class ApplyReport:
    written: int = 0
    siblings: list[str] = field(default_factory=list)
    posts: int = 0
    conflicts: list[str] = field(default_factory=list)
    chat: list[str] = field(default_factory=list)  # what happened on chat platforms worth telling
    failed_invites: list[str] = field(default_factory=list)


def content_digest(extra_folders: Sequence[Path] = ()) -> str:
    """One hash over the built-in and user content workspaces are made of, so a changed template or
    phase model is noticed (every partnership's inputs hash starts with it).

    The web page's own files (`web.css`, the templates in `<language>/web/`) are left out: no workspace
    document or post is made from them, and a new stylesheet must not make the next reconcile plan every
    workspace in full (about 16 ms of CPU each: minutes at 10,000 partnerships)."""
    digest = hashlib.sha256(brug.__version__.encode())
    for folder in (data_dir("workflows"), data_dir("templates"), *extra_folders):
        if not folder.is_dir():
            continue
        for path in sorted(p for p in folder.rglob("*") if p.is_file() and not _web_page_only(p.relative_to(folder))):
            digest.update(str(path.relative_to(folder)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _web_page_only(path: Path) -> bool:
    """A content file only the web page uses (its stylesheet, and the templates in a `web/` folder)."""
    return path.name == "web.css" or "web" in path.parts[:-1]


def reflection_rounds(p: Partnership, rt: Runtime, reads: Any = None) -> list[dict[str, Any]]:
    """Each reflection prompt that went out, with its answers (names left out when the partnership asks).

    `reads` answers the store's questions (a `Prefetched` during a reconcile); the store by default."""
    reads = reads or rt.store
    questions = rt.library.question_by_id
    show_names = p.reflection is None or p.reflection.show_names
    answers: dict[str, list[dict[str, str | None]]] = {}
    for answer in reads.answers(p.id):
        answers.setdefault(answer.prompt_key, []).append(
            {"author": answer.author if show_names else None, "text": answer.text}
        )
    rounds = []
    for key in reads.post_keys(p.id, "reflection"):
        *_, slot, question_id = key.split("/")
        question = questions.get(question_id)
        if question is None:
            continue
        when = datetime.fromisoformat(slot.replace("Z", "+00:00")).astimezone(p.zone)
        rounds.append(
            {
                "when": when,
                "question": question,
                "bouwsteen": rt.library.bouwstenen[question.bouwsteen],
                "answers": answers.get(key, []),
                "key": key,
            }
        )
    return rounds


def agreement_state(p: Partnership, rt: Runtime, now: datetime, reads: Any = None) -> AgreementState:
    """The agreement's versions and sign-offs as brug knows them, its review date, and whether it is near."""
    versions, signed = agreements.record(reads or rt.store, p.id)
    status = agreements.agreement_status(p, versions, signed)
    review = agreements.review_of(p, rt.library, status)
    return AgreementState(
        status, versions, agreements.renewal_of(p, rt.library), review, reminder_due(review, today_in(p.zone, now))
    )


def inputs_hash(
    p: Partnership,
    rt: Runtime,
    history: History,
    now: datetime,
    reflection: list[dict[str, Any]],
    agreement: AgreementState | None = None,
    reads: Any = None,
) -> str:
    """Everything the rendered workspace depends on; equal hashes mean equal documents."""
    reads = reads or rt.store
    meetings = [m.isoformat() for m in p.meeting_times(now, 3)]
    rounds = [[r["key"], r["answers"]] for r in reflection]
    actions = [a.number for a in reads.actions(p.id, open_only=True)]  # Deck shows the open actions
    signals = reads.signals_digest(p.id)  # signalen.md shows every signal
    rest = [
        [history.applied_phase, history.phase_changes],
        meetings,
        rounds,
        actions,
        signals,
        rt.files_for(p).platform,
        sorted(rt.chats),
        _agreement_key(agreement),
    ]
    # the sha256 of json.dumps([rt.content_digest, p.model_dump(mode="json"), *rest], sort_keys=True),
    # continued from a copy of the one that has read the first two (kept per loaded file's text)
    digest = _partnership_digest(rt.content_digest, p).copy()
    digest.update(("".join(", " + json.dumps(x, sort_keys=True) for x in rest) + "]").encode())
    return digest.hexdigest()


_digests: dict[str, tuple[object, str, Any]] = {}


def _partnership_digest(content: str, p: Partnership) -> Any:
    """A sha256 that has read the start of `inputs_hash`'s payload: the content digest and the partnership.

    A loaded partnership is kept as its canonical JSON (brug.content.partnerships), and every object made
    from it carries the same bytes: a reconcile of 10,000 encodes each file once, and keeps 10,000 small
    hash states (and no partnership). Another partnership (frozen) is known by the object itself."""
    text = kept_text(p)
    token: object = p if text is None else text
    kept = _digests.get(p.id)
    if kept is None or kept[0] is not token or kept[1] != content:
        body = canonical_json(p) if text is None else zlib.decompress(text).decode()
        kept = (token, content, hashlib.sha256(("[" + json.dumps(content) + ", " + body).encode()))
        _digests[p.id] = kept
    return kept[2]


def _agreement_key(state: AgreementState | None) -> list[Any]:
    if state is None:
        return []
    s = state.status
    signed = [[o.id, o.state, o.signed.version if o.signed else None, len(o.earlier)] for o in s.organisations]
    # brug's own first draft adds nothing the rendering does not already depend on: leaving it out keeps the
    # hash of the apply that wrote it equal to the next one's, so that one is a quick no-op
    versions = [[v.number, v.sha256] for v in state.versions if not (v.number == 1 and v.who == "brug")]
    overall = "draft" if s.overall.value == "none" else s.overall.value  # 'none' is rendered as the first draft
    return [versions, signed, overall, str(state.review), state.remind]


def chat_platforms(p: Partnership, rt: Runtime) -> tuple[list[str], list[str]]:
    """The chat platforms to post to (the local transcript always), and warnings for missing ones."""
    wanted = ["local", *[c for c in p.platforms.chat if c != "local"]]
    missing = [c for c in wanted if c not in rt.chats]
    return [c for c in wanted if c in rt.chats], missing


async def plan_partnership(p: Partnership, source: str, rt: Runtime, reads: Any = None) -> PartnershipPlan:
    """What applying `p` would change. With `reads` (a `Prefetched` of a reconcile) the check whether
    anything changed reads from it; a partnership that did change is planned on the store itself."""
    now = rt.clock()
    store = reads or rt.store
    applied = store.applied(p.id)
    before = History(applied.phase, applied.phase_changes) if applied else History()
    moved = applied is not None and applied.phase != p.phase
    after = History(p.phase, before.phase_changes + (1 if moved else 0))
    rounds = reflection_rounds(p, rt, store)
    agreement = agreement_state(p, rt, now, store)
    fingerprint = inputs_hash(p, rt, after, now, rounds, agreement, store)
    platforms, missing = chat_platforms(p, rt)
    files = rt.files_for(p)
    records = store.documents(p.id, files.platform)

    provisioning = plan_chats(p, rt, now) + plan_surroundings(p, rt, full=False)

    if applied is not None and applied.inputs_hash == fingerprint and not store.has_pending(p.id, platforms):
        # Nothing the documents depend on changed: only check that brug's documents are still there.
        main = [r.where for k, r in records.items() if not k.endswith("~new")]
        snapshot = await files.snapshot(p.id, main, records)
        if all(state is not None for state in snapshot.values()):
            return PartnershipPlan(p, source, provisioning, fingerprint, after, missing, unchanged=True)
    if reads is not None and reads is not rt.store:
        return await plan_partnership(p, source, rt)  # it changed: plan it on what the store holds now

    desired = render_workspace(p, rt, before, rounds, agreement)
    paths = [d.path for d in desired.documents]
    snapshot = await files.snapshot(p.id, paths, records)
    posted = {platform: rt.store.posted_keys(p.id, platform) for platform in platforms}
    ops = plan_workspace(desired, records, snapshot, posted, files.platform)
    if agreement.status.last_signed is not None:  # signed text is never rewritten, not even brug's own draft
        ops = [_beside(op, desired) if op.key == agreements.KEY and op.action is Action.update else op for op in ops]
    provisioning = plan_chats(p, rt, now) + plan_surroundings(p, rt, full=True)
    return PartnershipPlan(p, source, _documents_first(ops, provisioning), fingerprint, after, missing)


def _beside(op: Operation, desired: DesiredWorkspace) -> Operation:
    """brug's new draft of a document goes beside it instead of over it (as for a person's edit)."""
    target = str(desired.layout.sibling(PurePosixPath(op.origin)))
    return replace(op, action=Action.sibling, reason=Reason.edited, target=target)


def _documents_first(ops: list[Operation], provisioning: list[Operation]) -> list[Operation]:
    """Documents, then the rooms on chat platforms, then posts (which need the rooms)."""
    posts = [op for op in ops if op.action is Action.post]
    return [op for op in ops if op.action is not Action.post] + provisioning + posts


def chat_workspaces(p: Partnership, rt: Runtime, now: datetime) -> dict[str, ChatWorkspace]:
    """The desired rooms of `p` on each chat platform it uses that brug provisions."""
    wanted = [name for name in p.platforms.chat if name in rt.provisioners]
    if not wanted:
        return {}
    model = rt.library.phase_models[p.workflow]
    layout = Layout(p.language)
    files = rt.files_for(p)
    links = [
        Link(title=document_title("overview", p.language), href=files.href(p.id, layout.overview)),
        Link(title=document_title("agreement", p.language), href=files.href(p.id, layout.agreement)),
    ]
    overview = pinned_overview(p, rt.library, rt.renderer, now, links)
    return {name: chat_workspace(p, model, overview, name) for name in wanted}


def plan_surroundings(p: Partnership, rt: Runtime, *, full: bool) -> list[Operation]:
    """Team, share, board and calendar: checked on every full plan, and whenever something is pending."""
    surroundings = rt.surroundings.get(p.platforms.files)
    if surroundings is None:
        return []
    pending = surroundings.pending(p)
    if not pending and not full:
        return []
    what = pending or ["board and calendar"]
    platform = f"{p.platforms.files}:workspace"
    return [
        Operation(Action.provision, Reason.due, p.id, platform, item, "", kind="workspace", platform=platform)
        for item in what
    ]


def plan_chats(p: Partnership, rt: Runtime, now: datetime) -> list[Operation]:
    ops = []
    for name, want in chat_workspaces(p, rt, now).items():
        for what in rt.provisioners[name].pending(want):
            ops.append(Operation(Action.provision, Reason.due, p.id, name, what, "", kind="rooms", platform=name))
    return ops


def render_workspace(
    p: Partnership,
    rt: Runtime,
    history: History,
    rounds: list[dict[str, Any]],
    agreement: AgreementState | None = None,
) -> DesiredWorkspace:
    return desired_workspace(
        p,
        rt.library,
        rt.renderer,
        rt.clock(),
        history,
        href=lambda path: rt.files_for(p).href(p.id, path),
        rounds=rounds,
        signals_log=signals_log_context(rt.store, rt.library, p),
        agreement=agreement if agreement is not None else agreement_state(p, rt, rt.clock()),
    )


async def apply_plan(
    plan: PartnershipPlan,
    rt: Runtime,
    report: ApplyReport,
    on_step: Callable[[Operation], None] = lambda op: None,
    stop: asyncio.Event | None = None,
) -> bool:
    """Carry out the plan; with `stop` set, end after the operation in hand (False: not finished).

    Every operation is recorded as it succeeds, and the apply itself only at the end: an apply that
    stopped half-way is planned again next time and continues where it stopped.
    """
    p = plan.partnership
    if plan.unchanged and not plan.operations:
        return True  # nothing to do and nothing new to remember
    layout = Layout(p.language)
    if plan.operations:
        await rt.files_for(p).ensure_folders(
            p.id,
            layout.folders()
            + [
                layout.phase_folder(i + 1, ph)
                for i, ph in enumerate(rt.library.phase_models[p.workflow].reached(p.phase))
            ],
        )
    records = rt.store.documents(p.id, rt.files_for(p).platform)
    provisioned: set[str] = set()
    failed_posts: list[str] = []
    refused: set[str] = set()  # chat platforms whose rooms could not be made this time
    for op in plan.operations:
        if stop is not None and stop.is_set():
            log.info("%s: stopped before %s %s; the next apply continues", p.id, op.action.value, op.target)
            return False
        if op.action is not Action.provision or op.platform not in provisioned:
            rt.progress.step(p.id, step_name(op))
        if op.action is Action.provision:
            if op.platform not in provisioned:
                provisioned.add(op.platform)
                if op.platform.endswith(":workspace"):
                    surroundings = rt.surroundings[op.platform.split(":")[0]]
                    model = rt.library.phase_models[p.workflow]
                    for line in await surroundings.provision(p, model, rt.clock()):
                        (report.failed_invites if line.startswith("pending:") else report.chat).append(
                            f"{p.id}: {line}"
                        )
                else:
                    try:
                        await _provision(p, op.platform, rt, report)
                    except PlatformError as err:  # one platform's refusal does not stop the rest
                        log.error("%s: %s: %s", p.id, op.platform, err)
                        refused.add(op.platform)
                        report.failed_invites.append(f"{p.id}: {op.platform}: {err}")
        elif op.action is Action.post and op.platform in refused:
            # no room to post in yet: the post waits in the outbox for the next run
            rt.store.enqueue(op.platform, op.key, op.partnership, op.target, op.kind, op.content)
        elif op.action is Action.post:
            try:
                await _post(op, rt)
            except PlatformError as err:  # one post that fails does not hold back the others
                failed_posts.append(str(err))
                continue
            report.posts += 1
        else:
            await _write_document(op, rt, records, layout, report)
        on_step(op)
    if failed_posts:
        raise PlatformError("; ".join(failed_posts))
    rt.store.record_applied(
        p.id,
        name=p.name,
        workflow=p.workflow,
        phase=p.phase,
        phase_changes=plan.history.phase_changes,
        inputs_hash=plan.inputs_hash,
        source=plan.source,
        at=rt.clock(),
    )
    return True


def step_name(op: Operation) -> str:
    """An operation in a few words, for the progress bar."""
    if op.action is Action.provision:
        return f"{op.platform}: provision"
    if op.action is Action.post:
        return f"{op.platform}: post {op.kind}"
    return f"{op.action.value} {PurePosixPath(op.target).name or op.target}"


async def apply_partnerships(
    loaded: Sequence[LoadedPartnership],
    rt: Runtime,
    report: ApplyReport,
    on_done: Callable[[], object] = lambda: None,
    stop: asyncio.Event | None = None,
    keep_plans: bool = True,
) -> tuple[list[PartnershipPlan], list[str]]:
    """Plan and apply each partnership in turn; a platform failure for one does not stop the others.

    A stop request (SIGTERM, Ctrl-C) is honoured between operations: the one in hand finishes.
    Each partnership is validated from its loaded form when its turn comes, and let go after it; with
    `keep_plans=False` no plan is kept either (a plan holds the partnership and what was rendered for it).
    """
    plans: list[PartnershipPlan] = []
    errors: list[str] = []
    reads: Any = None
    for n, item in enumerate(loaded):
        p = item.partnership
        if stop is not None and stop.is_set():
            break
        if n % PREFETCH == 0 and len(loaded) > 1:  # the next group's store reads at once, not 20 per partnership
            reads = rt.store.prefetch([i.id for i in loaded[n : n + PREFETCH]])
        rt.zones[p.id] = p.zone
        try:
            await agreements.observe(p, rt, reads)  # a partner's edit of the agreement is a version: see it first
            plan = await plan_partnership(p, display_path(item.path), rt, reads)
            if not await apply_plan(plan, rt, report, stop=stop):
                break
            if any(op.key == agreements.KEY for op in plan.changes):
                await agreements.observe(p, rt)  # what brug just wrote (its first draft is version 1)
            if keep_plans:
                plans.append(plan)
        except Unreachable as err:  # the adapter said so once already
            log.debug("%s: %s", p.id, err)
            errors.append(f"{p.id}: {err}")
        except PlatformError as err:
            log.error("%s: %s", p.id, err)
            errors.append(f"{p.id}: {err}")
        except NETWORK_ERRORS as err:  # the network: this partnership waits, the others go on
            log.error("%s: %s: %s", p.id, type(err).__name__, err)
            errors.append(f"{p.id}: {type(err).__name__}: {err}")
        on_done()
    return plans, errors


async def _provision(p: Partnership, platform: str, rt: Runtime, report: ApplyReport) -> None:
    want = chat_workspaces(p, rt, rt.clock())[platform]
    result = await rt.provisioners[platform].reconcile(want, remove_members=rt.remove_members)
    for room in result.created:
        report.chat.append(f"{p.id}: {platform}: {room} created")
    for invite in result.failed:
        report.failed_invites.append(f"{p.id}: {platform}: {invite}")
    for user in result.not_removed:
        report.chat.append(f"{p.id}: {platform}: {user} is no longer in the file but stays (use --remove-members)")
    for user in result.kicked:
        report.chat.append(f"{p.id}: {platform}: removed {user}")


def parked_after_failure(rt: Runtime, partnership: str, platform: str, key: str, kind: str, err: Exception) -> bool:
    """Count a failed post; True when that was one failure too many and the post is now parked.

    An unreachable platform is not the post's fault: it waits, however long the outage lasts."""
    if isinstance(err, Unreachable):
        return False
    if rt.store.record_post_failure(platform, key, str(err), park_after=PARK_AFTER) != "parked":
        return False
    metrics.post(kind, "parked")
    log.error(
        "%s: %s on %s parked after %d failed attempts: %s", partnership, kind, platform, PARK_AFTER, err,
        extra=fields(partnership, platform, kind, key, "parked"),
    )
    return True


async def _post(op: Operation, rt: Runtime) -> None:
    rt.store.enqueue(op.platform, op.key, op.partnership, op.target, op.kind, op.content)
    try:
        ref = await rt.chats[op.platform].post(op.partnership, op.target, op.key, op.kind, op.content)
    except PlatformError as err:
        if parked_after_failure(rt, op.partnership, op.platform, op.key, op.kind, err):
            return
        metrics.post(op.kind, "failed")
        raise
    rt.store.mark_sent(op.platform, op.key, ref)
    metrics.post(op.kind, "sent")
    log.info(
        "%s: posted %s in %s on %s (%s)", op.partnership, op.kind, op.target, op.platform, op.key,
        extra=fields(op.partnership, op.platform, op.kind, op.key, "sent"),
    )


async def _write_document(
    op: Operation, rt: Runtime, records: Mapping[str, DocumentRecord], layout: Layout, report: ApplyReport
) -> None:
    pid, files, rendered = op.partnership, files_of(rt, op), sha256(op.content)
    path = PurePosixPath(op.origin)
    record = records.get(op.key)
    if op.action is Action.adopt:
        state = (await files.snapshot(pid, [path], records))[path]
        if state is not None:
            rt.store.record_document(
                pid, files.platform, DocumentRecord(op.key, str(path), rendered, state.fingerprint)
            )
        return
    if op.action in (Action.create, Action.update):
        condition = (
            WriteCondition(create_only=True)
            if op.action is Action.create
            else WriteCondition(if_fingerprint=op.expect or (record.fingerprint if record else None))
        )
        try:
            fingerprint = await files.write(pid, path, op.content, condition)
        except WriteConflict:
            log.warning("%s: %s changed while brug was writing; writing a new version beside it", pid, path)
            report.conflicts.append(f"{pid}/{path}")
        else:
            rt.store.record_document(pid, files.platform, DocumentRecord(op.key, str(path), rendered, fingerprint))
            if op.key in VERSIONED:
                rt.store.add_version(pid, op.key, rendered, op.content)
            report.written += 1
            log.info("%s: %s %s (%s)", pid, "created" if op.action is Action.create else "updated", path, op.reason)
            return
    # a person's version stands in the way: keep it, and put brug's new version beside it
    where = await _write_sibling(op, rt, records, layout)
    kept = record.fingerprint if record else ""
    rt.store.record_document(pid, files.platform, DocumentRecord(op.key, str(path), rendered, kept))
    if op.key in VERSIONED:
        rt.store.add_version(pid, op.key, rendered, op.content)
    report.siblings.append(f"{pid}/{where}")
    report.written += 1
    log.info("%s: %s was changed by someone; wrote the new version to %s", pid, path, where)


def files_of(rt: Runtime, op: Operation) -> FileSpace:
    return rt.file_spaces.get(op.platform, rt.files) if op.platform else rt.files


async def _write_sibling(
    op: Operation, rt: Runtime, records: Mapping[str, DocumentRecord], layout: Layout
) -> PurePosixPath:
    pid, files, rendered = op.partnership, files_of(rt, op), sha256(op.content)
    key = f"{op.key}~new"
    record = records.get(key)
    n = 1
    while True:
        path = layout.sibling(PurePosixPath(op.origin), n)
        state = (await files.snapshot(pid, [path], records))[path]
        ours = (
            record is not None
            and record.path == str(path)
            and state is not None
            and (state.fingerprint == record.fingerprint or state.sha256 == record.rendered)
        )
        if state is not None and state.sha256 == rendered:
            fingerprint = state.fingerprint
        elif state is None or ours:
            try:
                condition = (
                    WriteCondition(create_only=True)
                    if state is None
                    else WriteCondition(if_fingerprint=state.fingerprint)
                )
                fingerprint = await files.write(pid, path, op.content, condition)
            except WriteConflict:
                n += 1
                continue
        else:
            n += 1
            continue
        rt.store.record_document(pid, files.platform, DocumentRecord(key, str(path), rendered, fingerprint))
        return path


REASONS: dict[str, dict[Reason, str]] = {
    "nl": {
        Reason.new: "nieuw",
        Reason.missing: "ontbrak, opnieuw aangemaakt",
        Reason.changed: "inhoud gewijzigd",
        Reason.edited: "door iemand aangepast: nieuwe versie ernaast",
        Reason.foreign: "bestaand bestand niet van brug: nieuwe versie ernaast",
        Reason.same: "al aanwezig",
        Reason.due: "te posten",
    },
    "en": {
        Reason.new: "new",
        Reason.missing: "was missing, recreated",
        Reason.changed: "content changed",
        Reason.edited: "edited by someone: new version beside it",
        Reason.foreign: "existing file not written by brug: new version beside it",
        Reason.same: "already there",
        Reason.due: "to post",
    },
}
