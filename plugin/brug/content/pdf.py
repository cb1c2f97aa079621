"""Markdown typeset as a PDF a municipality would accept: a title page, a table of contents, chapters.

The Markdown (CommonMark with pipe tables) is parsed with markdown-it-py and laid out with
reportlab's platypus: `##` headings are chapters (in the table of contents and the PDF's
bookmarks), `###` sections, paragraphs, bullet lists and tables. The fonts are the Bitstream Vera
fonts that ship with reportlab, embedded, so the PDF looks the same everywhere.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import reportlab
from markdown_it import MarkdownIt
from markdown_it.token import Token
from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import cm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import (
    BaseDocTemplate,
    Flowable,
    Frame,
    KeepTogether,
    ListFlowable,
    ListItem,
    NextPageTemplate,
    PageBreak,
    PageTemplate,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)
from reportlab.platypus.tableofcontents import TableOfContents

FONT = "BrugVera"
ACCENT = colors.HexColor("#1f5f8b")
MUTED = colors.HexColor("#5a6570")
PAGE = {"nl": "pagina", "en": "page"}


def _fonts() -> None:
    if FONT in pdfmetrics.getRegisteredFontNames():
        return
    folder = Path(reportlab.__file__).parent / "fonts"
    for suffix, file in (
        ("", "Vera.ttf"),
        ("-Bold", "VeraBd.ttf"),
        ("-Italic", "VeraIt.ttf"),
        ("-BoldItalic", "VeraBI.ttf"),
    ):
        pdfmetrics.registerFont(TTFont(FONT + suffix, str(folder / file)))
    pdfmetrics.registerFontFamily(
        FONT, normal=FONT, bold=f"{FONT}-Bold", italic=f"{FONT}-Italic", boldItalic=f"{FONT}-BoldItalic"
    )


def _styles() -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("body", fontName=FONT, fontSize=10, leading=14.5, spaceAfter=6, alignment=TA_LEFT)
    return {
        "body": base,
        "h1": ParagraphStyle(
            "h1", base, fontName=f"{FONT}-Bold", fontSize=17, leading=22, spaceBefore=6, spaceAfter=12, textColor=ACCENT
        ),
        "h2": ParagraphStyle(
            "h2",
            base,
            fontName=f"{FONT}-Bold",
            fontSize=15,
            leading=20,
            spaceBefore=14,
            spaceAfter=8,
            textColor=ACCENT,
            keepWithNext=1,
        ),
        "h3": ParagraphStyle(
            "h3", base, fontName=f"{FONT}-Bold", fontSize=11.5, leading=15, spaceBefore=10, spaceAfter=4, keepWithNext=1
        ),
        "cell": ParagraphStyle("cell", base, fontSize=8.5, leading=11, spaceAfter=0),
        "head": ParagraphStyle(
            "head", base, fontName=f"{FONT}-Bold", fontSize=8.5, leading=11, spaceAfter=0, textColor=colors.white
        ),
        "title": ParagraphStyle(
            "title", base, fontName=f"{FONT}-Bold", fontSize=30, leading=36, textColor=ACCENT, spaceAfter=10
        ),
        "subtitle": ParagraphStyle("subtitle", base, fontSize=17, leading=22, spaceAfter=26),
        "meta": ParagraphStyle("meta", base, fontSize=11, leading=16, spaceAfter=3),
        "small": ParagraphStyle("small", base, fontSize=8.5, leading=11, textColor=MUTED),
        "toc0": ParagraphStyle("toc0", base, fontSize=11, leading=18, leftIndent=0),
        "toc1": ParagraphStyle("toc1", base, fontSize=9.5, leading=14, leftIndent=16, textColor=MUTED),
    }


@dataclass(frozen=True)
class TitlePage:
    title: str
    subtitle: str
    lines: list[tuple[str, str]]  # (label, value): period, date, …
    partners_label: str
    partners: list[str]
    footnote: str
    contents_label: str
    running_title: str  # in every page's footer
    language: str = "nl"
    extra: list[str] = field(default_factory=list)


class _Document(BaseDocTemplate):
    """A4 with a title page, then numbered pages; '##' headings feed the table of contents and bookmarks."""

    def __init__(self, buffer: io.BytesIO, title: TitlePage) -> None:
        super().__init__(
            buffer,
            pagesize=A4,
            leftMargin=2.3 * cm,
            rightMargin=2.3 * cm,
            topMargin=2.2 * cm,
            bottomMargin=2.2 * cm,
            title=title.running_title,
            author="brug",
            subject=title.subtitle,
            lang=title.language,
        )
        self.title_page = title
        frame = Frame(self.leftMargin, self.bottomMargin, self.width, self.height, id="body")
        self.addPageTemplates(
            [
                PageTemplate(id="title", frames=[frame], onPage=self._title_band),
                PageTemplate(id="page", frames=[frame], onPage=self._footer),
            ]
        )
        self._heading = 0

    def _title_band(self, canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setFillColor(ACCENT)
        canvas.rect(0, A4[1] - 1.4 * cm, A4[0], 1.4 * cm, stroke=0, fill=1)
        canvas.restoreState()

    def _footer(self, canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont(FONT, 8)
        canvas.setFillColor(MUTED)
        canvas.drawString(self.leftMargin, 1.2 * cm, self.title_page.running_title)
        canvas.drawRightString(
            A4[0] - self.rightMargin, 1.2 * cm, f"{PAGE.get(self.title_page.language, 'page')} {doc.page}"
        )
        canvas.setStrokeColor(colors.HexColor("#c9d3dc"))
        canvas.line(self.leftMargin, 1.6 * cm, A4[0] - self.rightMargin, 1.6 * cm)
        canvas.restoreState()

    def beforeDocument(self) -> None:  # noqa: N802 - reportlab's hook; every pass of multiBuild starts afresh
        self._heading = 0

    def afterFlowable(self, flowable: Flowable) -> None:  # noqa: N802 - reportlab's hook
        if isinstance(flowable, Paragraph) and flowable.style.name in ("h2", "h3"):
            level = 0 if flowable.style.name == "h2" else 1
            text = flowable.getPlainText()
            key = f"h{self._heading}"
            self._heading += 1
            self.canv.bookmarkPage(key)
            self.canv.addOutlineEntry(text, key, level=level, closed=level > 0)
            if level == 0:
                self.notify("TOCEntry", (level, text, self.page, key))


def markdown_to_pdf(markdown: str, title: TitlePage) -> bytes:
    """The PDF: title page, table of contents, then `markdown` as chapters."""
    _fonts()
    styles = _styles()
    story: list[Flowable] = _title_story(title, styles)
    toc = TableOfContents(levelStyles=[styles["toc0"], styles["toc1"]], dotsMinLevel=0)
    story += [Paragraph(escape(title.contents_label), styles["h1"]), toc, PageBreak()]
    story += _keep_headings(_blocks(_parser().parse(markdown), styles))
    buffer = io.BytesIO()
    document = _Document(buffer, title)
    document.multiBuild(story)
    return buffer.getvalue()


def _title_story(title: TitlePage, styles: dict[str, ParagraphStyle]) -> list[Flowable]:
    story: list[Flowable] = [
        NextPageTemplate("page"),
        Spacer(1, 4.5 * cm),
        Paragraph(escape(title.title), styles["title"]),
        Paragraph(escape(title.subtitle), styles["subtitle"]),
    ]
    for label, value in title.lines:
        story.append(Paragraph(f"<b>{escape(label)}:</b> {escape(value)}", styles["meta"]))
    story += [Spacer(1, 0.8 * cm), Paragraph(f"<b>{escape(title.partners_label)}</b>", styles["meta"])]
    story += [Paragraph(escape(p), styles["meta"]) for p in title.partners]
    story += [Spacer(1, 2.5 * cm), Paragraph(escape(title.footnote), styles["small"]), PageBreak()]
    return story


def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False}).enable("table")


def _blocks(tokens: list[Token], styles: dict[str, ParagraphStyle]) -> list[Flowable]:
    """Block tokens to flowables; nested lists are handled by recursion on the token range."""
    out: list[Flowable] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token.type == "heading_open":
            style = styles.get(token.tag, styles["h3"])
            paragraph = Paragraph(_inline(tokens[i + 1]), style)
            out.append(paragraph)
            i += 3
        elif token.type == "paragraph_open":
            out.append(Paragraph(_inline(tokens[i + 1]), styles["body"]))
            i += 3
        elif token.type in ("bullet_list_open", "ordered_list_open"):
            end = _closing(tokens, i)
            out.append(_list(tokens[i : end + 1], styles))
            i = end + 1
        elif token.type == "table_open":
            end = _closing(tokens, i)
            out.append(_table(tokens[i : end + 1], styles))
            i = end + 1
        elif token.type in ("fence", "code_block"):
            out.append(Paragraph(escape(token.content).replace("\n", "<br/>"), styles["cell"]))
            i += 1
        elif token.type == "hr":
            out.append(PageBreak())
            i += 1
        else:
            i += 1
    return out


def _keep_headings(flowables: list[Flowable]) -> list[Flowable]:
    """A heading never ends a page: it is kept together with what follows it (heading runs included)."""
    out: list[Flowable] = []
    run: list[Flowable] = []
    for flowable in flowables:
        run.append(flowable)
        heading = isinstance(flowable, Paragraph) and flowable.style.name in ("h1", "h2", "h3")
        if not heading:
            out.append(KeepTogether(run) if len(run) > 1 else run[0])
            run = []
    return out + run


def _closing(tokens: list[Token], start: int) -> int:
    depth = 0
    for j in range(start, len(tokens)):
        depth += tokens[j].nesting
        if depth == 0:
            return j
    return len(tokens) - 1


def _list(tokens: list[Token], styles: dict[str, ParagraphStyle]) -> Flowable:
    items: list[ListItem] = []
    i = 1
    while i < len(tokens) - 1:
        if tokens[i].type == "list_item_open":
            end = _closing(tokens, i)
            content = _blocks(tokens[i + 1 : end], styles)
            items.append(ListItem(content if len(content) != 1 else content[0], leftIndent=14))
            i = end + 1
        else:
            i += 1
    ordered = tokens[0].type == "ordered_list_open"
    return ListFlowable(
        items,
        bulletType="1" if ordered else "bullet",
        start=None if ordered else "•",
        leftIndent=14,
        bulletFontName=FONT,
        bulletFontSize=9,
        bulletColor=ACCENT,
    )


def _table(tokens: list[Token], styles: dict[str, ParagraphStyle]) -> Flowable:
    rows: list[list[Paragraph]] = []
    row: list[Paragraph] = []
    for i, token in enumerate(tokens):
        if token.type == "tr_open":
            row = []
        elif token.type in ("th_open", "td_open"):
            row.append(Paragraph(_inline(tokens[i + 1]), styles["head" if token.type == "th_open" else "cell"]))
        elif token.type == "tr_close":
            rows.append(row)
    table = Table(rows, repeatRows=1, hAlign="LEFT", colWidths=_widths(rows))
    table.setStyle(
        TableStyle(
            [
                ("BACKGROUND", (0, 0), (-1, 0), ACCENT),
                ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#eef3f7")]),
                ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#c9d3dc")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("TOPPADDING", (0, 0), (-1, -1), 3),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
            ]
        )
    )
    return KeepTogether([table]) if len(rows) < 12 else table


def _widths(rows: list[list[Paragraph]], total: float = A4[0] - 4.6 * cm) -> list[float] | None:
    """Columns as wide as what they hold (a long text column gets most room), filling the page width."""
    if not rows or not rows[0]:
        return None
    columns = range(len(rows[0]))
    weight = [max(6, min(60, max(len(r[c].getPlainText()) for r in rows if c < len(r)))) for c in columns]
    return [total * w / sum(weight) for w in weight]


_MARKUP = {
    "softbreak": " ",
    "hardbreak": "<br/>",
    "strong_open": "<b>",
    "strong_close": "</b>",
    "em_open": "<i>",
    "em_close": "</i>",
    "link_close": "</link>",
}


def _inline(token: Token) -> str:
    """An inline token as reportlab's paragraph markup (escaped text, <b>, <i>, <font>, <link>)."""
    parts: list[str] = []
    for child in token.children or []:
        if child.type == "text":
            parts.append(escape(child.content))
        elif child.type == "code_inline":
            parts.append(f'<font face="Courier">{escape(child.content)}</font>')
        elif child.type == "link_open":
            href = str(child.attrs.get("href", ""))
            parts.append(f'<link href="{escape(href, {chr(34): "&quot;"})}" color="#1f5f8b">')
        else:
            parts.append(_MARKUP.get(child.type, ""))
    return "".join(parts)
