"""The desired state of a partnership's workspace: its documents and the messages it should post."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import PurePosixPath

from brug.app.commands import COMMANDS
from brug.content.agreement import AgreementState, agreement_context, status_context, with_first_draft
from brug.content.context import Link, common_context, with_extra
from brug.content.library import Library
from brug.content.render import Renderer, Trusted
from brug.domain.partnership import Partnership
from brug.workspace.layout import Layout


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class DesiredDocument:
    key: str
    path: PurePosixPath
    content: str

    @property
    def sha256(self) -> str:
        return sha256(self.content)


@dataclass(frozen=True)
class DesiredPost:
    """A message for a chat room, with the key that makes posting it idempotent."""

    key: str
    room: str
    kind: str
    markdown: str


@dataclass(frozen=True)
class DesiredWorkspace:
    partnership: Partnership
    layout: Layout
    folders: list[PurePosixPath]
    documents: list[DesiredDocument]
    posts: list[DesiredPost] = field(default_factory=list)


@dataclass(frozen=True)
class History:
    """What brug remembers of earlier applies, needed to decide which announcements are due."""

    applied_phase: str | None = None
    phase_changes: int = 0


def desired_workspace(
    p: Partnership,
    library: Library,
    renderer: Renderer,
    now: datetime,
    history: History = History(),
    href=lambda path: str(path),
    rounds: list[dict] | None = None,
    signals_log: dict | None = None,
    agreement: AgreementState | None = None,
) -> DesiredWorkspace:
    """Render everything the workspace of `p` should hold at `now`; pure apart from reading templates."""
    language, layout = p.language, Layout(p.language)
    model = library.phase_models[p.workflow]
    reached = model.reached(p.phase)
    guide_paths = {ph.id: layout.phase_guide(i + 1, ph) for i, ph in enumerate(reached)}

    # titles and places of brug's own documents: the product's text, not people's, so not escaped
    links = [
        Link(title=Trusted(document_title("overview", language)), href=Trusted(href(layout.overview))),
        Link(title=Trusted(document_title("agreement", language)), href=Trusted(href(layout.agreement))),
    ]
    links += [
        Link(title=Trusted(f"{i + 1}. {ph.title(language)}"), href=Trusted(href(guide_paths[ph.id])))
        for i, ph in enumerate(reached)
    ]
    base = common_context(p, library, now, links)
    current_index = model.index(p.phase)
    phases_view = [
        {
            "phase": ph,
            "number": i + 1,
            "href": Trusted(href(guide_paths[ph.id])) if ph.id in guide_paths else None,
            "status": "done" if i < current_index else "current" if i == current_index else "upcoming",
        }
        for i, ph in enumerate(model.phases)
    ]

    agreement_href, status_href = href(layout.agreement), href(layout.agreement_status)
    agreement_doc = DesiredDocument(
        "agreement",
        layout.agreement,
        renderer.render(
            "agreement", language, **with_extra(base, **agreement_context(p, library, base, Trusted(status_href)))
        ),
    )
    if agreement is not None:
        agreement = with_first_draft(p, agreement, agreement_doc.sha256, now)
    signing = status_context(p, agreement, Trusted(agreement_href)) if agreement is not None else None
    docs = [
        DesiredDocument(
            "overview",
            layout.overview,
            renderer.render(
                "overview",
                language,
                **with_extra(base, phases=phases_view, signing=signing, status_href=Trusted(status_href)),
            ),
        ),
        agreement_doc,
    ]
    if signing is not None:
        docs.append(
            DesiredDocument(
                "agreement-status",
                layout.agreement_status,
                renderer.render(
                    "agreement-status",
                    language,
                    **with_extra(
                        base,
                        **signing,
                        agreement_title=library.forms[p.form.value].agreement.title,
                    ),
                ),
            )
        )
    docs.append(
        DesiredDocument(
            "reflection-log",
            layout.reflection_log,
            renderer.render("reflection-log", language, **with_extra(base, rounds=rounds or [])),
        )
    )
    docs.append(
        DesiredDocument(
            "signals-log",
            layout.signals_log,
            renderer.render(
                "signals-log",
                language,
                **with_extra(base, **(signals_log or {"signal_groups": [], "signal_count": 0, "waiting_weeks": 6})),
            ),
        )
    )
    folders = layout.folders()
    for i, ph in enumerate(reached):
        number = i + 1
        folders.append(layout.phase_folder(number, ph))
        nxt = model.phases[i + 1] if i + 1 < len(model.phases) else None
        docs.append(
            DesiredDocument(
                f"phase/{ph.id}/guide",
                guide_paths[ph.id],
                renderer.render(
                    "phase-guide", language, **with_extra(base, phase=ph, phase_number=number, next_phase=nxt)
                ),
            )
        )
        for spec in ph.documents:
            docs.append(
                DesiredDocument(
                    f"phase/{ph.id}/{spec.id}",
                    layout.phase_document(number, ph, spec),
                    renderer.render(
                        "document", language, **with_extra(base, document=spec, phase=ph, phase_number=number)
                    ),
                )
            )

    chat_links = web_links(links)
    chat_base = with_extra(base, links=chat_links)
    posts: list[DesiredPost] = []
    # the welcome is due on every chat platform that has not had it yet (also one added later)
    posts.append(
        DesiredPost(
            f"{p.id}/welcome",
            "algemeen",
            "welcome",
            renderer.render("welcome", language, **with_extra(chat_base, rooms=model.rooms, commands=COMMANDS)),
        )
    )
    if history.applied_phase is not None and history.applied_phase != p.phase and model.has_phase(p.phase):
        old = model.phase(history.applied_phase) if model.has_phase(history.applied_phase) else None
        n = history.phase_changes + 1
        posts.append(
            DesiredPost(
                f"{p.id}/phase-change/{n}-{p.phase}",
                "algemeen",
                "phase-change",
                renderer.render(
                    "phase-change",
                    language,
                    **with_extra(
                        chat_base,
                        old_phase=old,
                        new_phase=model.phase(p.phase),
                        new_phase_number=current_index + 1,
                        guide_href=Trusted(guide) if is_web(guide := href(guide_paths[p.phase])) else None,
                    ),
                ),
            )
        )
    if agreement is not None and signing is not None:
        posts += agreement_posts(p, agreement, renderer, with_extra(chat_base, **signing))
    return DesiredWorkspace(partnership=p, layout=layout, folders=folders, documents=docs, posts=posts)


def agreement_posts(p: Partnership, state: AgreementState, renderer: Renderer, context: dict) -> list[DesiredPost]:
    """Told once in chat: the agreement is signed; it changed after signing; its review is near."""
    status, out = state.status, []
    events = []
    if status.overall.value == "signed":
        events.append(("signed", f"{p.id}/akkoord/ondertekend/{status.signed_version}"))
    if status.overall.value == "changed":
        events.append(("changed", f"{p.id}/akkoord/gewijzigd/{status.last_signed}"))
    if state.remind and state.review is not None:
        events.append(("review", f"{p.id}/akkoord/herziening/{state.review.isoformat()}"))
    for event, key in events:
        markdown = renderer.render("agreement-message", p.language, **with_extra(context, event=event))
        out.append(DesiredPost(key, "algemeen", "agreement", markdown))
    return out


def is_web(href: str) -> bool:
    """A link a person can open from a chat message (a local path means nothing there)."""
    return "://" in href


def web_links(links: list[Link]) -> list[Link]:
    return [link for link in links if is_web(link.href)]


def pinned_overview(p: Partnership, library: Library, renderer: Renderer, now: datetime, links: list[Link]) -> str:
    """The short overview pinned in the chat's general room."""
    chat_links = web_links(links)
    return renderer.render("overview-message", p.language, **common_context(p, library, now, chat_links))


def document_title(name: str, language: str) -> str:
    """The title people see for one of brug's own documents."""
    return {
        "overview": {"nl": "Overzicht", "en": "Overview"},
        "agreement": {"nl": "Samenwerkingsakkoord", "en": "Partnership agreement"},
    }[name][language]
