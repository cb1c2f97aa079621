"""The agreement's history on the platforms: noticing new versions, recording sign-offs.

`observe` looks at the agreement document the way the planner does (local: modification time and
size; Nextcloud: the ETag, through the files port) and reads it only when that fingerprint moved.
A content hash that differs from the last version's is a new version. Nothing here writes to the
document: the partners' text is theirs, the status lives in `akkoord-status.md` (see
`brug.workspace.desired`).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from datetime import date
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from brug.content.agreement import renewal_of, review_of
from brug.content.library import Library
from brug.domain.agreement import (
    AgreementStatus,
    SignDecision,
    SignKind,
    SignOff,
    SignRequest,
    Version,
    agreement_status,
    changed_sections,
    decide_sign,
)
from brug.domain.partnership import Member, Partnership
from brug.planner import DocumentRecord
from brug.store import Store, StoredVersion

if TYPE_CHECKING:
    from brug.app.service import Runtime

log = logging.getLogger(__name__)

KEY = "agreement"


def _version(v: StoredVersion) -> Version:
    return Version(v.number, v.at, v.sha256, v.who, v.platform, tuple(v.sections))


def versions(store: Store, partnership_id: str) -> list[Version]:
    return [_version(v) for v in store.agreement_versions(partnership_id, content=False)]


def signoffs(store: Store, partnership_id: str) -> list[SignOff]:
    return [_signoff(r) for r in store.signoffs(partnership_id)]


def _signoff(r: dict) -> SignOff:  # type: ignore[type-arg]
    return SignOff(
        r["organisation"], r["member"], r["member_name"], SignKind(r["kind"]), r["version"], r["sha256"], r["at"]
    )


def record(store: Store, partnership_id: str) -> tuple[list[Version], list[SignOff]]:
    """The versions and sign-offs of a partnership, in one read."""
    return from_rows(*store.agreement_record(partnership_id))


def from_rows(stored: Sequence[StoredVersion], signed: Sequence[dict]) -> tuple[list[Version], list[SignOff]]:  # type: ignore[type-arg]
    """Versions and sign-offs from the store's rows (also when read for many partnerships at once)."""
    return [_version(v) for v in stored], [_signoff(r) for r in signed]


def status(p: Partnership, store: Store) -> AgreementStatus:
    return agreement_status(p, *record(store, p.id))


async def observe(p: Partnership, rt: Runtime, reads: Any = None) -> Version | None:
    """The current version of the agreement, recording a new one when the document changed.

    `reads` answers the store's questions (a reconcile's `Prefetched`); the store by default."""
    store = reads or rt.store
    files = rt.files_for(p)
    record = store.document(p.id, files.platform, KEY)
    latest = store.latest_agreement_version(p.id, content=False)
    if record is None:  # brug has not written the agreement on this platform yet
        return _version(latest) if latest else None
    path = record.where
    known = {KEY: DocumentRecord(KEY, record.path, "", latest.fingerprint)} if latest else {}
    state = (await files.snapshot(p.id, [path], known))[path]
    if state is None:  # the document is gone; its history stays
        return _version(latest) if latest else None
    if latest is not None and state.fingerprint == latest.fingerprint:
        return _version(latest)
    text = await files.read(p.id, path)
    if text is None:
        return _version(latest) if latest else None
    sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
    if latest is not None and sha == latest.sha256:
        store.set_agreement_fingerprint(p.id, latest.number, state.fingerprint)
        return _version(latest)
    who = "brug" if sha == record.rendered else await _editor(files, p.id, path)
    before = store.latest_agreement_version(p.id) if latest else None  # now its text, for the diff
    sections = changed_sections(before.content if before else None, text)
    number = store.add_agreement_version(
        p.id,
        sha256=sha,
        fingerprint=state.fingerprint,
        platform=files.platform,
        who=who,
        sections=sections,
        content=text,
        at=rt.clock(),
    )
    log.info("%s: agreement version %d (%s)", p.id, number, ", ".join(sections) or "first version")
    return _version(rt.store.latest_agreement_version(p.id))  # type: ignore[arg-type]


async def _editor(files: object, partnership: str, path: PurePosixPath) -> str | None:
    """Who last changed the document, when the platform says so (an optional port method)."""
    last_editor = getattr(files, "last_editor", None)
    if last_editor is None:
        return None
    try:
        return await last_editor(partnership, path)
    except Exception:  # noqa: BLE001 - a name is nice to have; a version must never be lost for it
        log.warning("%s: could not learn who changed %s", partnership, path, exc_info=True)
        return None


async def sign(
    p: Partnership, member: Member, request: SignRequest, origin: str, rt: Runtime
) -> tuple[SignDecision, AgreementStatus]:
    """`!akkoord`: look at the document first (sign what is there now), then decide and record."""
    await observe(p, rt)
    decision = decide_sign(p, member, request, versions(rt.store, p.id), signoffs(rt.store, p.id), rt.clock())
    if decision.signoff is not None:
        off = decision.signoff
        rt.store.add_signoff(
            p.id,
            organisation=off.organisation,
            member=off.member,
            member_name=off.member_name,
            kind=off.kind.value,
            version=off.version,
            sha256=off.sha256,
            origin=origin,
            at=off.at,
        )
        log.info("%s: %s %s version %d for %s", p.id, off.member, off.kind.value, off.version, off.organisation)
    return decision, status(p, rt.store)


def review_for(p: Partnership, store: Store, library: Library) -> date | None:
    return review_of(p, library, status(p, store))


__all__ = ["observe", "renewal_of", "review_for", "review_of", "sign", "signoffs", "status", "versions"]
