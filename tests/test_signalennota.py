"""`brug signalen`: the signalennota as Markdown and PDF, rendered to an image and checked for its parts.

Run with BRUG_WRITE_DOCS=1 to refresh docs/signalennota.png (the example page in the README).
"""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pypdfium2 as pdfium
import pytest

from brug.app.bot import Bot
from brug.app.conversation import Incoming
from brug.store import Store
from tests.conftest import EXAMPLES, ROOT
from tests.runtime import local_runtime

START = datetime(2026, 9, 14, 9, 0, tzinfo=UTC)
SCHOOL = "speelvogel-welzijn"  # examples/school-clb-ocmw.yaml
CBE = "cbe-vlierboom"

# (days after START, partnership, who (member key), message): what partners type over a term
TERM = [
    (
        0,
        SCHOOL,
        0,
        "!signaal Meerdere gezinnen kunnen de bijdrage voor de zeeklassen niet betalen #onderwijskosten #meso",
    ),
    (6, SCHOOL, 1, "!signaal De schoolfactuur komt in één keer; gezinnen vragen om in delen te mogen betalen"),
    (9, SCHOOL, 2, "!signaal De laatste bus van lijn 5 vertrekt voor de naschoolse opvang sluit #mobiliteit #meso"),
    (12, SCHOOL, 0, "!signaal Amira (8) mag niet mee op zeeklas"),  # refused: never in the report
    (15, SCHOOL, 1, "!signaal Ouders wachten 14 weken op een eerste gesprek bij het CAW #toegankelijkheid-hulp #macro"),
    (22, SCHOOL, 0, "!signaal 1 besproken"),
    (24, SCHOOL, 0, "!signaal 1 doorgegeven aan de schepen van onderwijs"),
    (24, SCHOOL, 0, "!signaal 1 vraag Kan de gemeente een sociaal tarief voor meerdaagse uitstappen invoeren?"),
    (25, SCHOOL, 2, "!signaal 3 doorgegeven aan De Lijn en de mobiliteitsambtenaar"),
    (45, SCHOOL, 2, "!signaal 3 antwoord De Lijn legt vanaf januari een extra rit in om 18.15 uur"),
    (46, SCHOOL, 2, "!signaal 3 vraag Blijft de extra rit ook tijdens de schoolvakanties rijden?"),
    (10, CBE, 0, "!signaal Cursisten vinden het formulier voor de schooltoelage te moeilijk #onderwijskosten"),
    (11, CBE, 1, "!signaal Cursisten & ouders <b>zonder</b> internet missen de digitale inschrijving #digitale-kloof"),
    (300, SCHOOL, 0, "!signaal Te laat voor de periode van de nota #wonen"),
]


def member_keys(bot: Bot, pid: str) -> list[str]:
    return [m.key for _, m in bot.partnerships()[pid].members]


async def raise_term(folder: Path, library) -> None:  # type: ignore[no-untyped-def]
    """Type the term's messages through brug's own chat handling, at their moments, into state.db."""
    clock = {"now": START}
    rt = local_runtime(folder, library, lambda: clock["now"])
    bot = Bot(rt, [folder / "partnerschappen"])
    assert bot.load() == []
    for n, (days, pid, who, text) in enumerate(TERM):
        clock["now"] = START + timedelta(days=days, minutes=n)
        sender = member_keys(bot, pid)[who]
        await bot.handle(Incoming("local", pid, "overleg", sender, text, f"$term{n}"))
    await rt.close()
    rt.store.close()


@pytest.fixture
async def project(in_tmp: Path, library):  # type: ignore[no-untyped-def]
    (in_tmp / "partnerschappen").mkdir()
    for example in EXAMPLES:
        shutil.copy(example, in_tmp / "partnerschappen" / example.name)
    (in_tmp / "brug.toml").write_text('workspace = "werkruimte"\nstate = "state.db"\n', encoding="utf-8")
    await raise_term(in_tmp, library)
    return in_tmp


def page_texts(pdf: pdfium.PdfDocument) -> list[str]:
    return [pdf[i].get_textpage().get_text_range() for i in range(len(pdf))]


def test_the_signalennota_pdf_has_its_parts(cli, project: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli(
        "--now",
        "2026-12-01T10:00:00",
        "signalen",
        SCHOOL,
        "--from",
        "2026-09-01",
        "--to",
        "2027-01-31",
        "--out",
        "nota",
    )
    assert result.exit_code == 0, result.output
    assert "4 signaal/signalen over 3 thema('s)" in result.output
    md = (project / "nota" / f"signalennota-{SCHOOL}-2026-09-01-2027-01-31.md").read_text(encoding="utf-8")
    pdf_path = project / "nota" / f"signalennota-{SCHOOL}-2026-09-01-2027-01-31.pdf"

    # the Markdown: every theme with its four parts, the most frequent theme first
    assert (
        md.index("## 2. Onderwijskosten") < md.index("## 3. Mobiliteit") < md.index("## 4. Toegankelijkheid van hulp")
    )
    for part in (
        "### Wat partners zien",
        "### Hoe vaak en sinds wanneer",
        "### Wat al gebeurde",
        "### Vraag aan het beleid",
    ):
        assert md.count(part) == 3
    assert "2 signalen van" in md and "Voor het eerst gemeld op maandag 14 september 2026" in md
    assert "signaal 1 doorgegeven aan de schepen van onderwijs" in md
    assert "signaal 3 beantwoord: De Lijn legt vanaf januari een extra rit in om 18.15 uur" in md
    assert "- Kan de gemeente een sociaal tarief voor meerdaagse uitstappen invoeren?" in md
    assert "_Nog te formuleren" in md  # the theme without a question says so
    assert "Amira" not in md and "Te laat voor de periode" not in md and "Cursisten" not in md

    pdf = pdfium.PdfDocument(str(pdf_path))
    texts = page_texts(pdf)
    assert len(texts) >= 4
    title = texts[0]
    for part in (
        "Signalennota",
        "De Speelvogel, CLB, OCMW en brugfiguur",
        "Periode: dinsdag 1 september 2026 tot en met zondag 31 januari 2027",
        "Opgemaakt op: dinsdag 1 december 2026",
        "Partners",
        "geen gegevens over kinderen",
    ):
        assert part in title, part
    organisations = [line.split(" — ")[0] for line in md.splitlines() if line.startswith("- **Partners:**")]
    assert organisations and all(
        name.strip() in title for name in organisations[0].removeprefix("- **Partners:** ").split(", ")
    )
    contents = texts[1]
    assert "Inhoud" in contents
    for chapter in (
        "1. Inleiding",
        "2. Onderwijskosten",
        "3. Mobiliteit",
        "4. Toegankelijkheid van hulp",
        "5. Overzicht",
    ):
        assert chapter in contents, chapter
    assert "pagina 2" in contents  # running footer with the page number
    body = "\n".join(texts[2:])
    for part in ("Wat partners zien", "Hoe vaak en sinds wanneer", "Wat al gebeurde", "Vraag aan het beleid"):
        assert body.count(part) == 3, part
    assert [item.get_title() for item in pdf.get_toc()][:2] == ["1. Inleiding", "2. Onderwijskosten"]  # PDF bookmarks

    pictures = project / "pages"
    pictures.mkdir()
    for number in (0, 2):
        image = pdf[number].render(scale=1.5).to_pil()
        image.save(pictures / f"page-{number + 1}.png")
        assert image.size == (893, 1263)  # A4 at 1.5 × 72 dpi
        if number == 0:
            assert image.getpixel((image.size[0] // 2, 15))[:3] == (31, 95, 139)  # the title band
        inked = sum(image.convert("L").histogram()[:128])  # dark pixels: text was drawn
        assert inked > 2000, f"page {number + 1} looks empty"
    if os.environ.get("BRUG_WRITE_DOCS"):
        shutil.copy(pictures / "page-3.png", ROOT / "docs" / "signalennota.png")
        shutil.copy(pictures / "page-1.png", ROOT / "docs" / "signalennota-titel.png")


def test_one_nota_over_all_partnerships(cli, project: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli(
        "--now",
        "2026-12-01T10:00:00",
        "signalen",
        "--all",
        "--from",
        "2026-09-01",
        "--to",
        "2026-12-01",
        "--out",
        "nota",
    )
    assert result.exit_code == 0, result.output
    md = (project / "nota" / "signalennota-samenwerkingen-2026-09-01-2026-12-01.md").read_text(encoding="utf-8")
    assert md.startswith(f"# Signalennota — {len(EXAMPLES)} samenwerkingen")
    assert "Cursisten vinden het formulier voor de schooltoelage te moeilijk" in md  # from the other partnership
    assert "3 signalen van" in md and "in 2 samenwerkingen" in md  # onderwijskosten, seen in two partnerships
    pdf = pdfium.PdfDocument(str(project / "nota" / "signalennota-samenwerkingen-2026-09-01-2026-12-01.pdf"))
    texts = page_texts(pdf)
    assert f"{len(EXAMPLES)} samenwerkingen" in texts[0] and "Leren in De Vlierboom" in texts[0]
    assert "Cursisten & ouders <b>zonder</b> internet" in "".join(texts).replace("\r\n", " ")  # typed text, as typed
    assert "Digitale kloof" not in md and "digitale kloof" in md  # a free theme, kept as written


def test_a_nota_for_an_organisation_takes_its_partnerships(cli, project: Path) -> None:  # type: ignore[no-untyped-def]
    import yaml

    data = yaml.safe_load((project / "partnerschappen" / "cbe-armoede.yaml").read_text(encoding="utf-8"))
    org = data["organisations"][0]["id"]
    result = cli("--now", "2026-12-01T10:00:00", "signalen", "--organisatie", org, "--from", "2026-09-01", "--out", "n")
    assert result.exit_code == 0, result.output
    assert list((project / "n").glob("signalennota-cbe-vlierboom-*.pdf"))


def test_clear_errors_and_nothing_written(cli, project: Path) -> None:  # type: ignore[no-untyped-def]
    unknown = cli("signalen", "bestaat-niet", "--out", "x")
    assert unknown.exit_code == 1 and "onbekende samenwerking(en): bestaat-niet" in unknown.output
    assert "speelvogel-welzijn" in unknown.output  # the known ids are listed
    assert cli("signalen", "--out", "x").exit_code == 2
    backwards = cli("signalen", SCHOOL, "--from", "2027-01-01", "--to", "2026-09-01", "--out", "x")
    assert backwards.exit_code == 2 and "ligt na --to" in backwards.output
    empty = cli("signalen", SCHOOL, "--from", "2025-09-01", "--to", "2025-12-31", "--out", "x")
    assert empty.exit_code == 1 and "Geen signalen tussen 2025-09-01 en 2025-12-31" in empty.output
    assert not (project / "x").exists()


def test_export_and_forget_include_signals(cli, project: Path) -> None:  # type: ignore[no-untyped-def]
    import csv

    assert cli("--now", "2026-12-01T10:00:00", "apply").exit_code == 0
    assert cli("export", SCHOOL, "--to", "uit").exit_code == 0
    rows = list(csv.DictReader((project / "uit" / SCHOOL / "signals.csv").open(encoding="utf-8")))
    assert [r["number"] for r in rows] == ["1", "2", "3", "4", "5"]
    assert rows[0]["status"] == "doorgegeven" and rows[0]["forwarded_to"] == "de schepen van onderwijs"
    steps = list(csv.DictReader((project / "uit" / SCHOOL / "signal-history.csv").open(encoding="utf-8")))
    assert [s["status"] for s in steps if s["number"] == "3"] == ["nieuw", "doorgegeven", "antwoord"]
    assert cli("forget", SCHOOL, "--yes").exit_code == 0
    assert Store.at(project / "state.db").signals(SCHOOL) == []
    assert Store.at(project / "state.db").signals(CBE) != []  # another partnership keeps its own


def test_an_english_partnership_gets_an_english_report(cli, project: Path) -> None:  # type: ignore[no-untyped-def]
    source = project / "partnerschappen" / "school-clb-ocmw.yaml"
    source.write_text(source.read_text(encoding="utf-8").replace("language: nl", "language: en"), encoding="utf-8")
    result = cli("--now", "2026-12-01T10:00:00", "signalen", SCHOOL, "--from", "2026-09-01", "--out", "en")
    assert result.exit_code == 0, result.output
    md = next((project / "en").glob("*.md")).read_text(encoding="utf-8")
    assert md.startswith("# Signals to policy — ")
    assert md.count("### What partners see") == 3 and md.count("### Question to policy makers") == 3
    assert "## 2. Cost of schooling" in md and "signal 1 passed on to de schepen van onderwijs" in md
    texts = page_texts(pdfium.PdfDocument(str(next((project / "en").glob("*.pdf")))))
    assert "Period: Tuesday 1 September 2026 to Tuesday 1 December 2026" in texts[0]
    assert "Contents" in texts[1] and "page 2" in texts[1]
