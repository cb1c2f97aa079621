"""CalDAV: the meetings of every partnership as events in one calendar of brug's account.

Why one calendar and not one per partnership: Nextcloud lets an account create 10 calendars per hour
(then 429) and hold 30 calendars and subscriptions in all (then 403). A region with 1,000
partnerships would stop at the 30th, and a first run would need 100 hours. One calendar holds the
meetings of all of them (each event names its partnership and its href and UID carry the
partnership's id); it is made once, in the first run. A calendar that an earlier brug made for a
single partnership stays in use for that partnership. When the calendar cannot be made (429 or 403),
brug reports it, leaves the rest of the partnership's workspace alone, and tries again after an hour.

Events are written with ``If-None-Match: *``, so brug never overwrites an event that already exists.
brug remembers each event it made with its ETag (store kind ``cal-event``, key = the UTC start). It
changes or removes an event only while that ETag still matches (``If-Match``): once someone edited
the event in their calendar, it is theirs and brug leaves it alone. A second run with the same
schedule makes no requests at all.

Times carry the partnership's time zone (``TZID``) with a ``VTIMEZONE`` built from the IANA data, so
calendar apps show the meeting at the same local hour on both sides of a daylight-saving change.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from brug.adapters.nextcloud.client import NextcloudClient, NextcloudError
from brug.domain.partnership import Partnership
from brug.domain.types import Text
from brug.store import Resource, Store

log = logging.getLogger(__name__)

PLATFORM = "nextcloud"
CALENDAR_URI = "brug-overleggen"
CALENDAR_RETRY = timedelta(hours=1)  # the creation limit counts per hour
CALENDAR_COLOR = "#0082c9"
PRODID = "-//brug//brug calendar//NL"
TZ_MARGIN = timedelta(days=366)  # the VTIMEZONE of an event covers a year on either side

SUMMARY = Text(nl="Overleg: {name}", en="Meeting: {name}")
CALENDAR_NAME = Text(nl="Overleggen (brug)", en="Meetings (brug)")
CALENDAR_DESCRIPTION = Text(
    nl="De overleggen van de samenwerkingen, klaargezet door brug.",
    en="The meetings of the partnerships, set up by brug.",
)
INTRO = Text(nl="Overleg van {name}.", en="Meeting of {name}.")
AGENDA_WHERE = Text(
    nl="De agenda staat {when} klaar in de map met de overleggen",
    en="The agenda is ready {when} in the meetings folder",
)
LEAD_DAYS = Text(nl="{n} dagen vooraf", en="{n} days ahead")
LEAD_DAY = Text(nl="1 dag vooraf", en="1 day ahead")
LEAD_NONE = Text(nl="op de dag zelf", en="on the day itself")

# what brug knows about an event it wrote
OURS, EDITED, FOUND, REMOVED = "ours", "edited", "found", "removed"


@dataclass
class _Event:
    key: str  # UTC start, compact: 20261020T120000Z
    start: datetime
    lines: list[str]  # the VEVENT's unfolded content lines, without DTSTAMP and SEQUENCE
    digest: str


class NextcloudCalendar:
    def __init__(self, client: NextcloudClient, store: Store) -> None:
        self.client = client
        self.store = store

    def calendar_path(self, p: Partnership) -> str:
        """Where this partnership's meetings go (after `client.identity()`)."""
        known = self.store.resource(p.id, PLATFORM, "calendar", "")
        if known is not None:
            return known.ref
        return f"/remote.php/dav/calendars/{quote(self.client.uid or self.client.account.user)}/{CALENDAR_URI}/"

    def pending(self, p: Partnership) -> list[str]:
        return [] if self.store.resource(p.id, PLATFORM, "calendar", "") is not None else ["calendar"]

    async def reconcile(
        self,
        p: Partnership,
        now: datetime,
        meetings_link: str | None,
        horizon: timedelta = timedelta(days=120),
    ) -> list[str]:
        """Make the calendar and the events of the meetings in (now, now + horizon]; one line per change."""
        lines: list[str] = []
        wanted = {e.key: e for e in (_event(p, start, meetings_link) for start in _starts(p, now, now + horizon))}
        known = {r.key: r for r in self.store.resources(PLATFORM, "cal-event", p.id)}
        stale = [
            key
            for key, r in known.items()
            if key not in wanted and _state(r.data).get("state") == OURS and _from_key(key) > now
        ]
        if stale:  # a meeting further ahead than the horizon is still on the schedule: keep it
            latest = max(_from_key(key) for key in stale)
            scheduled = {_key(s) for s in _starts(p, now, latest)}
            stale = [key for key in stale if key not in scheduled]
        todo = [e for e in wanted.values() if _needs_write(known.get(e.key), e)]
        calendar = await self._calendar(p, now, lines)
        if calendar is None:
            return lines
        counts = {"added": 0, "updated": 0, "removed": 0}
        try:
            for event in todo:
                await self._write(p, calendar, event, known.get(event.key), now, counts, lines)
            for key in stale:
                await self._remove(p, calendar, key, _state(known[key].data), counts, lines)
        except NextcloudError as err:
            if err.status not in (403, 404):
                raise
            lines.append(f"Calendar: {calendar} can no longer be written ({err}); brug leaves it as it is")
        if counts["added"]:
            lines.append(f"Calendar: {counts['added']} meeting(s) added")
        if counts["updated"]:
            lines.append(f"Calendar: {counts['updated']} meeting(s) updated")
        if counts["removed"]:
            lines.append(f"Calendar: {counts['removed']} meeting(s) no longer on the schedule removed")
        return lines

    # --- the calendar ------------------------------------------------------------------------------------

    async def _calendar(self, p: Partnership, now: datetime, lines: list[str]) -> str | None:
        known = self.store.resource(p.id, PLATFORM, "calendar", "")
        if known is not None:
            return known.ref
        await self.client.identity()
        path = self.calendar_path(p)
        if self.store.sync_token(PLATFORM, f"calendar:{path}") != "made":
            retry = self.store.sync_token(PLATFORM, "calendar:retry-at")
            if retry and datetime.fromisoformat(retry) > now:
                lines.append(f"pending: calendar: Nextcloud refused a new calendar; brug tries again from {retry}")
                return None
            try:
                await self._make_calendar(path, p, lines)
            except NextcloudError as err:
                if err.status not in (403, 429):
                    raise
                again = (now + CALENDAR_RETRY).isoformat(timespec="minutes")
                self.store.put_sync_token(PLATFORM, "calendar:retry-at", again)
                why = "too many new calendars this hour" if err.status == 429 else "the account has its 30 calendars"
                lines.append(f"pending: calendar: Nextcloud refused a new calendar ({why}); brug tries again from {again}")
                return None
            self.store.put_sync_token(PLATFORM, f"calendar:{path}", "made")
        self.store.put_resource(p.id, PLATFORM, "calendar", "", path)
        return path

    async def _make_calendar(self, path: str, p: Partnership, lines: list[str]) -> None:
        name = escape(CALENDAR_NAME(p.language))
        description = escape(CALENDAR_DESCRIPTION(p.language))
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<c:mkcalendar xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"'
            ' xmlns:x="http://apple.com/ns/ical/"><d:set><d:prop>'
            f"<d:displayname>{name}</d:displayname>"
            f"<c:calendar-description>{description}</c:calendar-description>"
            f"<x:calendar-color>{CALENDAR_COLOR}</x:calendar-color>"
            '<c:supported-calendar-component-set><c:comp name="VEVENT"/></c:supported-calendar-component-set>'
            "</d:prop></d:set></c:mkcalendar>"
        )
        response = await self.client.http.request(
            "MKCALENDAR", path, content=body.encode(), headers={"Content-Type": "application/xml; charset=utf-8"}
        )
        if response.status_code == 201:
            lines.append(f"Calendar '{CALENDAR_NAME(p.language)}' created")
            log.info("created calendar %s", path)
        elif response.status_code != 405:  # 405: it exists (made by an earlier run)
            raise NextcloudError(f"MKCALENDAR {path}", response.status_code, response.text[:200])

    # --- events ------------------------------------------------------------------------------------------

    async def _write(
        self,
        p: Partnership,
        calendar: str,
        event: _Event,
        known: Resource | None,
        now: datetime,
        counts: dict[str, int],
        lines: list[str],
    ) -> None:
        state = _state(known.data) if known is not None else {}
        creating = state.get("state") in (None, REMOVED)
        sequence = 0 if creating else int(state.get("sequence", 0)) + 1
        href = f"{calendar}brug-{p.id}-{event.key}.ics"
        headers = {"Content-Type": "text/calendar; charset=utf-8"}
        if creating:
            headers["If-None-Match"] = "*"
        else:
            headers["If-Match"] = state["etag"]
        body = _calendar_object(p, event, now, sequence)
        response = await self.client.http.put(href, content=body, headers=headers)
        if response.status_code in (201, 204):
            counts["added" if creating else "updated"] += 1
            data = {"state": OURS, "etag": response.headers.get("ETag", ""), "digest": event.digest}
            self._remember(p, event.key, href, {**data, "sequence": sequence})
        elif response.status_code == 412:
            if creating:  # already there: from a run that stopped before it could remember, or made by a person
                self._remember(p, event.key, href, {"state": FOUND})
            else:
                local = event.start.astimezone(p.zone).strftime("%Y-%m-%d %H:%M")
                lines.append(f"Calendar: the meeting of {local} was changed in the calendar; brug leaves it as it is")
                self._remember(p, event.key, href, {"state": EDITED})
        else:
            raise NextcloudError(f"PUT {href}", response.status_code, response.text[:200])

    async def _remove(
        self, p: Partnership, calendar: str, key: str, state: dict[str, Any], counts: dict[str, int], lines: list[str]
    ) -> None:
        href = f"{calendar}brug-{p.id}-{key}.ics"
        response = await self.client.http.delete(href, headers={"If-Match": state["etag"]})
        if response.status_code in (200, 204, 404):
            counts["removed"] += response.status_code != 404
            self._remember(p, key, href, {"state": REMOVED})
        elif response.status_code == 412:
            local = _from_key(key).astimezone(p.zone).strftime("%Y-%m-%d %H:%M")
            lines.append(f"Calendar: the meeting of {local} is off the schedule but was edited; brug keeps it")
            self._remember(p, key, href, {"state": EDITED})
        else:
            raise NextcloudError(f"DELETE {href}", response.status_code, response.text[:200])

    def _remember(self, p: Partnership, key: str, href: str, data: dict[str, Any]) -> None:
        self.store.put_resource(p.id, PLATFORM, "cal-event", key, href, json.dumps(data, sort_keys=True))


def _state(data: str) -> dict[str, Any]:
    try:
        value = json.loads(data or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _needs_write(known: Resource | None, event: _Event) -> bool:
    if known is None:
        return True
    state = _state(known.data)
    if state.get("state") == REMOVED:
        return True
    # only an event brug made, still with the ETag brug saw, is ever written again
    return state.get("state") == OURS and bool(state.get("etag")) and state.get("digest") != event.digest


# --- the schedule ----------------------------------------------------------------------------------------


def _starts(p: Partnership, after: datetime, until: datetime) -> list[datetime]:
    """Meeting starts in (after, until]."""
    limit = 16
    while True:
        found = p.meeting_times(after, limit)
        if len(found) < limit or found[-1] > until:
            return [m for m in found if m <= until]
        limit *= 2


def _key(start: datetime) -> str:
    return start.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _from_key(key: str) -> datetime:
    return datetime.strptime(key, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


# --- iCalendar -------------------------------------------------------------------------------------------


def _event(p: Partnership, start: datetime, link: str | None) -> _Event:
    language = p.language
    zone = p.zone
    start_utc = start.astimezone(UTC)
    duration = p.meetings.duration if p.meetings else timedelta(minutes=90)
    end_utc = start_utc + duration
    key = _key(start)
    lead = p.meetings.agenda_lead_days if p.meetings else 0
    when = LEAD_NONE(language) if lead == 0 else LEAD_DAY(language) if lead == 1 else LEAD_DAYS(language)
    where = AGENDA_WHERE(language).format(when=when.format(n=lead))
    description = INTRO(language).format(name=p.name) + "\n\n" + (f"{where}:\n{link}" if link else f"{where}.")
    lines = [
        f"UID:brug-{p.id}-{key}@brug",
        f"DTSTART;TZID={p.timezone}:{_local(start_utc, zone)}",
        f"DTEND;TZID={p.timezone}:{_local(end_utc, zone)}",
        "SUMMARY:" + escape_text(SUMMARY(language).format(name=p.name)),
    ]
    location = p.meetings.location if p.meetings else None
    if location:
        lines.append("LOCATION:" + escape_text(location))
    lines.append("DESCRIPTION:" + escape_text(description))
    if link:
        lines.append("URL;VALUE=URI:" + _uri(link))
    lines += ["STATUS:CONFIRMED", "TRANSP:OPAQUE"]
    digest = hashlib.sha256("\n".join([p.timezone, *lines]).encode()).hexdigest()
    return _Event(key, start_utc, lines, digest)


def _calendar_object(p: Partnership, event: _Event, now: datetime, sequence: int) -> bytes:
    duration = p.meetings.duration if p.meetings else timedelta(minutes=90)
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        *vtimezone(p.zone, p.timezone, event.start - TZ_MARGIN, event.start + duration + TZ_MARGIN),
        "BEGIN:VEVENT",
        event.lines[0],  # UID
        "DTSTAMP:" + now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ"),
        *event.lines[1:],
        f"SEQUENCE:{sequence}",
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    return "".join(fold(line) + "\r\n" for line in lines).encode("utf-8")


def _local(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%Y%m%dT%H%M%S")


def _uri(link: str) -> str:
    """A URI value is not escaped like text: it only must not hold spaces or control characters."""
    return "".join("%20" if ch == " " else ch for ch in link.strip() if ord(ch) > 0x20 or ch == " ")


def escape_text(value: str) -> str:
    """A TEXT value per RFC 5545 3.3.11: backslash, semicolon, comma and newlines escaped."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    value = "".join(ch for ch in value if ch in "\n\t" or (ord(ch) >= 0x20 and ord(ch) != 0x7F))
    return value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def fold(line: str, limit: int = 75) -> str:
    """Fold a content line into pieces of at most `limit` octets, never inside a UTF-8 character."""
    if len(line.encode("utf-8")) <= limit:
        return line
    pieces: list[str] = []
    current: list[str] = []
    size, room = 0, limit
    for ch in line:
        width = len(ch.encode("utf-8"))
        if size + width > room:
            pieces.append("".join(current))
            current, size, room = [], 0, limit - 1  # a continuation line starts with one space
        current.append(ch)
        size += width
    pieces.append("".join(current))
    return "\r\n ".join(pieces)


def vtimezone(zone: ZoneInfo, tzid: str, start: datetime, end: datetime) -> list[str]:
    """A VTIMEZONE for `tzid` valid from `start` to `end`: the offset at start, then every change."""
    start = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    first = start.astimezone(zone)
    lines = ["BEGIN:VTIMEZONE", f"TZID:{tzid}"]
    lines += _observance(first, first, start.astimezone(zone).replace(tzinfo=None))
    for at, before in _transitions(zone, start, end.astimezone(UTC)):
        after = at.astimezone(zone)
        onset = (at + (before.utcoffset() or timedelta())).replace(tzinfo=None)
        lines += _observance(before, after, onset)
    lines.append("END:VTIMEZONE")
    return lines


def _observance(before: datetime, after: datetime, onset: datetime) -> list[str]:
    kind = "DAYLIGHT" if after.dst() else "STANDARD"
    lines = [
        f"BEGIN:{kind}",
        "DTSTART:" + onset.strftime("%Y%m%dT%H%M%S"),
        "TZOFFSETFROM:" + _offset(before.utcoffset() or timedelta()),
        "TZOFFSETTO:" + _offset(after.utcoffset() or timedelta()),
    ]
    name = after.tzname()
    if name:
        lines.append("TZNAME:" + escape_text(name))
    return [*lines, f"END:{kind}"]


def _transitions(zone: ZoneInfo, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """(UTC instant, local time just before) of each offset change in (start, end]."""

    def offset(seconds: int) -> timedelta | None:
        return datetime.fromtimestamp(seconds, UTC).astimezone(zone).utcoffset()

    found: list[tuple[datetime, datetime]] = []
    step = 6 * 3600
    moment, last = int(start.timestamp()), int(end.timestamp())
    current = offset(moment)
    while moment < last:
        nxt = min(moment + step, last)
        if offset(nxt) != current:
            low, high = moment, nxt  # the offset changes in (low, high]: find its first second
            while high - low > 1:
                middle = (low + high) // 2
                if offset(middle) == current:
                    low = middle
                else:
                    high = middle
            at = datetime.fromtimestamp(high, UTC)
            found.append((at, datetime.fromtimestamp(low, UTC).astimezone(zone)))
            current = offset(high)
        moment = nxt
    return found


def _offset(delta: timedelta) -> str:
    total = int(delta.total_seconds())
    sign = "-" if total < 0 else "+"
    hours, rest = divmod(abs(total), 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{sign}{hours:02d}{minutes:02d}" + (f"{seconds:02d}" if seconds else "")
