"""Minimal CalDAV on the test server: calendars, .ics events with ETags, listing and reports."""

from __future__ import annotations

from xml.etree import ElementTree

import httpx

from tests.nextcloud_server import NextcloudTestServer

HOME = "/remote.php/dav/calendars/alice"
EVENT = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//brug//test//NL
BEGIN:VEVENT
UID:{uid}
DTSTAMP:20260101T090000Z
DTSTART:20260115T140000Z
DTEND:20260115T160000Z
SUMMARY:{summary}
END:VEVENT
END:VCALENDAR
"""
MKCALENDAR = """<?xml version="1.0" encoding="UTF-8"?>
<c:mkcalendar xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">
 <d:set><d:prop><d:displayname>Partnerschap Gent</d:displayname>
  <c:supported-calendar-component-set><c:comp name="VEVENT"/></c:supported-calendar-component-set>
 </d:prop></d:set></c:mkcalendar>"""
PROPFIND = """<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/">
<d:prop><d:displayname/><d:resourcetype/><d:getetag/><cs:getctag/></d:prop></d:propfind>"""


def hrefs(response: httpx.Response) -> list[str]:
    """The hrefs of a multistatus answer."""
    assert response.status_code == 207, response.text
    return [el.text or "" for el in ElementTree.fromstring(response.content).iter("{DAV:}href")]


def test_calendar_and_event_lifecycle(nc: NextcloudTestServer, alice: httpx.Client) -> None:
    """MKCALENDAR, PUT/GET/DELETE of an event with ETags, PROPFIND listing, 405 on a duplicate."""
    assert hrefs(alice.request("PROPFIND", HOME, headers={"Depth": "1"}, content=PROPFIND)) == [
        f"{HOME}/",
        f"{HOME}/personal/",
    ]
    assert alice.request("MKCALENDAR", f"{HOME}/brug-gent", content=MKCALENDAR).status_code == 201
    assert alice.request("MKCALENDAR", f"{HOME}/brug-gent", content=MKCALENDAR).status_code == 405
    url = f"{HOME}/brug-gent/overleg-1.ics"
    ics = EVENT.format(uid="overleg-1@brug", summary="Eerste overleg")
    created = alice.put(url, content=ics, headers={"Content-Type": "text/calendar", "If-None-Match": "*"})
    assert created.status_code == 201 and created.headers["ETag"].startswith('"')
    again = alice.put(url, content=ics, headers={"If-None-Match": "*"})
    assert again.status_code == 412
    got = alice.get(url)
    assert got.status_code == 200 and got.text == ics and got.headers["ETag"] == created.headers["ETag"]
    changed = alice.put(url, content=ics.replace("Eerste", "Tweede"), headers={"If-Match": created.headers["ETag"]})
    assert changed.status_code == 204 and changed.headers["ETag"] != created.headers["ETag"]
    stale = alice.put(url, content=ics, headers={"If-Match": created.headers["ETag"]})
    assert stale.status_code == 412
    listing = alice.request("PROPFIND", f"{HOME}/brug-gent", headers={"Depth": "1"}, content=PROPFIND)
    assert hrefs(listing) == [f"{HOME}/brug-gent/", url]
    tree = ElementTree.fromstring(listing.content)
    assert tree.findtext(".//{DAV:}displayname") == "Partnerschap Gent"
    assert alice.delete(url).status_code == 204
    assert alice.get(url).status_code == 404


def test_event_validation(alice: httpx.Client) -> None:
    """Not iCalendar → 415; no UID → 400; a duplicate UID in the calendar → 400."""
    url = f"{HOME}/personal/x.ics"
    assert alice.put(url, content="hello").status_code == 415
    assert alice.put(url, content=EVENT.replace("UID:{uid}\n", "").format(summary="x")).status_code == 400
    assert alice.put(url, content=EVENT.format(uid="same", summary="a")).status_code == 201
    assert alice.put(f"{HOME}/personal/y.ics", content=EVENT.format(uid="same", summary="b")).status_code == 400


def test_calendar_query_and_multiget(alice: httpx.Client) -> None:
    """REPORT calendar-query returns every event with its data; multiget returns the asked ones."""
    for n in range(3):
        alice.put(f"{HOME}/personal/e{n}.ics", content=EVENT.format(uid=f"e{n}", summary=f"Event {n}"))
    query = """<c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">
      <d:prop><d:getetag/><c:calendar-data/></d:prop>
      <c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT"/></c:comp-filter></c:filter>
    </c:calendar-query>"""
    response = alice.request("REPORT", f"{HOME}/personal", headers={"Depth": "1"}, content=query)
    assert len(hrefs(response)) == 3
    assert "SUMMARY:Event 2" in response.text
    multiget = f"""<c:calendar-multiget xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">
      <d:prop><d:getetag/></d:prop><d:href>{HOME}/personal/e1.ics</d:href></c:calendar-multiget>"""
    assert hrefs(alice.request("REPORT", f"{HOME}/personal", content=multiget)) == [f"{HOME}/personal/e1.ics"]


def test_other_users_calendars_are_hidden(nc: NextcloudTestServer) -> None:
    """bob cannot reach alice's calendar home."""
    response = httpx.request("PROPFIND", nc.base_url + HOME, auth=("bob", "bob-app-password"))
    assert response.status_code == 404
