"""The barometer's memory (votes replaced, forgotten at closing) and its picture in a real SVG renderer."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image

try:
    import cairosvg
except OSError as err:  # cairosvg is installed with the test extras; the cairo library comes from Debian
    pytest.fail(f"cairosvg cannot load the cairo library ({err}): apt-get install libcairo2", pytrace=False)

from brug.content.radar import AXES, CX, CY, R, SHORT, radar_svg
from brug.domain.types import Bouwsteen
from brug.store import Store

T0 = datetime(2026, 10, 1, 9, tzinfo=UTC)
SVG = "{http://www.w3.org/2000/svg}"


def test_a_later_vote_replaces_an_earlier_one_and_closing_forgets_who_voted(tmp_path: Path) -> None:
    store = Store.at(tmp_path / "state.db")
    store.ensure_round("p", "r1", T0, T0 + timedelta(days=90), 3)
    assert store.record_vote("p", "r1", "doel", "an", 2, "onderwijs", T0) == "new"
    assert store.record_vote("p", "r1", "doel", "an", 4, "onderwijs", T0 + timedelta(hours=1)) == "replaced"
    # a vote cast earlier but delivered later (a backfilled event) does not undo the later one
    assert store.record_vote("p", "r1", "doel", "an", 1, "onderwijs", T0 + timedelta(minutes=5)) == "older"
    assert store.open_votes("p", "r1") == [("an", "doel", 4, "onderwijs")]
    assert store.respondents("p", "r1") == 1
    assert store.close_round("p", "r1", 3, {("doel", ""): (0, 0, 1, 2, 0)})
    assert not store.close_round("p", "r1", 9, {})  # closing twice changes nothing
    assert store.open_votes("p", "r1") == []
    assert store.record_vote("p", "r1", "doel", "bo", 5, "welzijn", T0 + timedelta(days=91)) == "closed"
    assert store.round_counts("p", "r1") == {("doel", ""): (0, 0, 1, 2, 0)}
    assert store.respondents("p", "r1") == 3
    # what is left cannot name anyone: no table holds a voter any more
    with store.engine.connect() as conn:
        dump = "\n".join(str(row) for row in conn.exec_driver_sql("select * from barometer_votes"))
        dump += "\n".join(str(row) for row in conn.exec_driver_sql("select * from barometer_counts"))
        dump += "\n".join(str(row) for row in conn.exec_driver_sql("select * from barometer_rounds"))
    assert "an" not in dump.replace("'", " ").split()
    store.forget("p")
    assert store.barometer_rounds("p") == [] and store.round_counts("p", "r1") == {}


def _dark_near(image: Image.Image, x: float, y: float, anchor: str) -> int:
    """Dark pixels in the box where a 15 px label with this anchor stands (x, y: its baseline point)."""
    grey = image.convert("L")
    left = {"start": x, "middle": x - 50, "end": x - 100}[anchor]
    dark = 0
    for i in range(int(left), int(left) + 100):
        for j in range(int(y) - 12, int(y)):
            if 0 <= i < grey.width and 0 <= j < grey.height and grey.getpixel((i, j)) < 100:
                dark += 1
    return dark


def test_the_radar_renders_with_six_labelled_axes_in_the_partnerships_language() -> None:
    current = {b: 1.0 + i * 0.7 for i, b in enumerate(AXES)}
    current[Bouwsteen.afstemming] = None  # too few answers: shown as such, not as zero
    previous = dict.fromkeys(AXES, 3.0)
    svg = radar_svg("Barometer — De Brug", "nl", current, "Deze ronde", previous, "Vorige ronde")
    tree = ET.fromstring(svg)
    assert tree.find(f"{SVG}script") is None and "<script" not in svg and "href" not in svg
    labels = [t.text for t in tree.iter(f"{SVG}text") if t.get("class") == "axis"]
    assert labels == [SHORT[b]["nl"] for b in AXES]
    axes = [
        line
        for line in tree.iter(f"{SVG}line")
        if float(line.get("x1", 0)) == CX and float(line.get("y1", 0)) == CY
    ]
    assert len(axes) == 6
    assert "te weinig antwoorden" in svg and "3,1" in svg  # Dutch numbers
    english = radar_svg("Barometer", "en", current, "This round")
    assert [t.text for t in ET.fromstring(english).iter(f"{SVG}text") if t.get("class") == "axis"] == [
        SHORT[b]["en"] for b in AXES
    ]

    png = cairosvg.svg2png(bytestring=svg.encode())
    image = Image.open(io.BytesIO(png))
    assert image.size == (int(tree.get("width", 0)), int(tree.get("height", 0)))
    label_spots = [
        (float(t.get("x", 0)), float(t.get("y", 0)), t.get("text-anchor", "start"))
        for t in tree.iter(f"{SVG}text")
        if t.get("class") == "axis"
    ]
    for x, y, anchor in label_spots:  # every label is drawn: dark text pixels where it stands
        assert _dark_near(image, x, y, anchor) > 40, (x, y)
    # and the check is real: without its labels, those spots stay empty
    bare = "\n".join(line for line in svg.splitlines() if 'class="axis"' not in line)
    bare_image = Image.open(io.BytesIO(cairosvg.svg2png(bytestring=bare.encode())))
    assert all(_dark_near(bare_image, x, y, anchor) < 5 for x, y, anchor in label_spots)
    # the current round's outline is drawn in its colour (Okabe–Ito blue) inside the chart
    rgb = image.convert("RGB")
    blue = sum(
        1
        for i in range(int(CX - R), int(CX + R))
        for j in range(int(CY - R), int(CY + R), 3)
        if rgb.getpixel((i, j)) == (0, 114, 178)
    )
    assert blue > 100
