"""Turn the desired workspace into operations, given what brug wrote before and what is there now.

The rules that keep people's work safe (a document is identified by its key; `rendered` is the
hash of what brug last meant that document to be, `fingerprint` what the platform showed right
after brug wrote it):

| on the platform now            | brug's record            | the new rendering | operation              |
|--------------------------------|--------------------------|-------------------|------------------------|
| missing                        | any                      | any               | create                 |
| as brug left it                | rendered == new          | —                 | nothing                |
| as brug left it                | rendered != new          | —                 | update in place        |
| changed by a person            | rendered == new          | —                 | nothing (theirs stays) |
| changed by a person            | rendered != new          | —                 | new version beside it  |
| a file brug never wrote        | none                     | same content      | adopt (record only)    |
| a file brug never wrote        | none                     | other content     | new version beside it  |

Chat posts are planned once per key; the key travels with the message so a retry is never doubled.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from pathlib import PurePosixPath

from brug.workspace.desired import DesiredWorkspace


class Action(StrEnum):
    create = "create"
    update = "update"
    sibling = "sibling"  # a person changed the document: the new version is written beside it
    adopt = "adopt"  # the file already holds exactly what brug would write: only remember it
    post = "post"
    provision = "provision"  # build or update the partnership's rooms on a chat platform


class Reason(StrEnum):
    new = "new"
    missing = "missing"
    changed = "changed"  # template or partnership data changed
    edited = "edited"  # a person edited the document
    foreign = "foreign"  # a file brug did not write is in the way
    same = "same"
    due = "due"


@dataclass(frozen=True)
class DocumentRecord:
    key: str
    path: str
    rendered: str
    fingerprint: str

    @property
    def where(self) -> PurePosixPath:
        """`path` as a path in the partnership's folder."""
        return document_path(self.path)


@lru_cache(maxsize=4096)
def document_path(path: str) -> PurePosixPath:
    """One path object per path: every partnership's workspace has the same layout, so a reconcile of
    10,000 (100,000 documents) makes a few dozen path objects, not 100,000 (and their parts once)."""
    return PurePosixPath(path)


@dataclass(frozen=True)
class FileState:
    fingerprint: str
    sha256: str | None = None  # known when the platform can tell cheaply (local files)


@dataclass(frozen=True)
class Operation:
    action: Action
    reason: Reason
    partnership: str
    key: str
    target: str  # a document path, or a chat room id
    content: str
    kind: str = "document"
    platform: str = ""  # for posts: which chat platform
    origin: str = ""  # for a new version: the document it stands beside
    expect: str = ""  # for an update: the fingerprint the platform showed when planning

    @property
    def changes_something(self) -> bool:
        return self.action is not Action.adopt


def plan_workspace(
    desired: DesiredWorkspace,
    records: Mapping[str, DocumentRecord],
    snapshot: Mapping[PurePosixPath, FileState | None],
    posted: Mapping[str, Collection[str]],
    files_platform: str = "local",
) -> list[Operation]:
    """Operations for one partnership; `posted` maps each chat platform to the post keys it has."""
    pid = desired.partnership.id
    ops: list[Operation] = []
    for doc in desired.documents:
        record = records.get(doc.key)
        if record is not None and record.path != str(doc.path):
            record = None  # the document moved (e.g. another language): start afresh at the new place
        action, reason = decide(record, snapshot.get(doc.path), doc.sha256)
        if action is not None:
            target = desired.layout.sibling(doc.path) if action is Action.sibling else doc.path
            seen = snapshot.get(doc.path)
            ops.append(
                Operation(
                    action,
                    reason,
                    pid,
                    doc.key,
                    str(target),
                    doc.content,
                    platform=files_platform,
                    origin=str(doc.path),
                    expect=seen.fingerprint if seen is not None else "",
                )
            )
    for platform, keys in posted.items():
        for post in desired.posts:
            if post.key not in keys:
                ops.append(
                    Operation(
                        Action.post,
                        Reason.due,
                        pid,
                        post.key,
                        post.room,
                        post.markdown,
                        kind=post.kind,
                        platform=platform,
                    )
                )
    return ops


def decide(record: DocumentRecord | None, now: FileState | None, rendered: str) -> tuple[Action | None, Reason]:
    """The table in this module's docstring, for one document."""
    if now is None:
        return Action.create, Reason.new if record is None else Reason.missing
    if record is None:
        if now.sha256 == rendered:
            return Action.adopt, Reason.same
        return Action.sibling, Reason.foreign
    untouched = now.fingerprint == record.fingerprint or now.sha256 == record.rendered
    if record.rendered == rendered:
        return None, Reason.same
    if untouched:
        return Action.update, Reason.changed
    return Action.sibling, Reason.edited
