"""Reading the minutes back: actions and signals partners wrote in a meeting document return to the store.

In the 'Acties' section of an agenda-and-minutes document, every line `- [ ] wat — wie — datum`
becomes an action (once, however often it is read), and `- [x]` ticks it off. Ticking a carried-over
open action anywhere in the document ticks it off too. In the 'Signalen' section, `- wat je ziet —
thema — niveau` raises a signal and `- #3 doorgegeven aan …` (or a ticked carried signal) follows
one up, with the same rules as `!signaal` in chat — a line that looks like a personal case is not
taken over. Lines brug cannot read are returned so the next agenda can list them: a person's note
is never dropped silently (a refused case only by its place, never its text).
"""

from __future__ import annotations

import hashlib
from pathlib import PurePosixPath

from brug.app.service import Runtime
from brug.app.signals import TEXTS, raise_signal, update_signal
from brug.domain.actions import parse_action_line, read_actions
from brug.domain.agenda import Unreadable
from brug.domain.partnership import Partnership
from brug.domain.signals import NewSignal, read_signal_lines
from brug.domain.types import strip_controls
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
        unreadable += read_signals(p, rt, record.path, text)
    return unreadable


UNREADABLE_SIGNAL = ("no-such", "too-long", "empty", "level")  # 'already' and 'closed': nothing left to do


def read_signals(p: Partnership, rt: Runtime, path: str, text: str) -> list[Unreadable]:
    """The 'Signalen' section of one minutes document: new signals and follow-ups, each line once."""
    lines = text.splitlines()
    now = rt.clock()
    by = f"{TEXTS[p.language]['minutes']} {PurePosixPath(path).name.split(' ')[0]}"
    out: list[Unreadable] = []
    for found in read_signal_lines(text, rt.library.signals):
        line = lines[found.line_number - 1].strip()
        origin = f"minutes:{path}:{hashlib.sha256(line.encode()).hexdigest()[:12]}"
        if found.item is None:
            out.append(Unreadable(path, found.line_number, line, "signals"))
            continue
        if isinstance(found.item, NewSignal):
            outcome = raise_signal(rt.store, rt.library, p, found.item, by=by, organisation=None, at=now, origin=origin)
        else:
            outcome = update_signal(rt.store, rt.library, p, found.item, by=by, at=now, origin=origin)
        if outcome.refused:
            out.append(Unreadable(path, found.line_number, "", "case"))  # its place only, never its text
        elif outcome.problem in UNREADABLE_SIGNAL:
            out.append(Unreadable(path, found.line_number, line, "signals"))
    return out
