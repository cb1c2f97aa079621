"""Reading the minutes back: actions partners wrote in a meeting document return to the store.

In the 'Acties' section of an agenda-and-minutes document, every line `- [ ] wat — wie — datum`
becomes an action (once, however often it is read), and `- [x]` ticks it off. Ticking a carried-over
open action anywhere in the document ticks it off too. Lines brug cannot read are returned so the
next agenda can list them: a person's note is never dropped silently.
"""

from __future__ import annotations

import hashlib
from pathlib import PurePosixPath

from brug.domain.actions import parse_action_line, read_actions
from brug.domain.agenda import Unreadable
from brug.domain.partnership import Partnership
from brug.domain.types import strip_controls
from brug.service import Runtime
from brug.workspace.desired import sha256

ACTION_SECTIONS = ("Acties", "Actions")
MEETING_DOCUMENT = "meeting/"


async def read_minutes(p: Partnership, rt: Runtime) -> list[Unreadable]:
    today = rt.clock().astimezone(p.zone).date()
    unreadable: list[Unreadable] = []
    files = rt.files_for(p)
    records = rt.store.documents(p.id, files.platform)
    for key, record in sorted(records.items()):
        if not key.startswith(MEETING_DOCUMENT):
            continue
        text = await files.read(p.id, PurePosixPath(record.path))
        if text is None or sha256(text) == record.rendered:
            continue  # gone, or still exactly as brug wrote it: nothing written in it yet
        text = strip_controls(text)  # what people typed goes into the store and the next agenda
        found, bad = read_actions(text, today, ACTION_SECTIONS)
        for action in found:
            origin = f"minutes:{record.path}:{hashlib.sha256(action.text.encode()).hexdigest()[:12]}"
            number = rt.store.add_action(
                p.id, action.text, action.who, action.due.isoformat() if action.due else None, origin
            )
            if action.done:
                rt.store.complete_action(p.id, number)
        open_by_text = {a.text: a.number for a in rt.store.actions(p.id, open_only=True)}
        for line in text.splitlines():
            carried = parse_action_line(line, today)
            if carried is not None and carried.done and carried.text in open_by_text:
                rt.store.complete_action(p.id, open_by_text[carried.text])
        unreadable += [Unreadable(record.path, u.line_number, u.text) for u in bad]
    return unreadable
