"""Templates render for every example in both languages; people's text is escaped; the sandbox holds."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from jinja2.exceptions import SecurityError

from brug.app.commands import COMMANDS
from brug.app.meetings import agenda_context
from brug.content.agreement import AgreementState, agreement_context, status_context
from brug.content.context import common_context, with_extra
from brug.content.partnerships import load_partnership
from brug.content.render import Renderer, markdown_to_html, md_escape
from brug.domain.agenda import AddedItem, Missed, OpenAction, Unreadable, build_agenda
from brug.domain.agreement import Renewal, agreement_status
from brug.domain.questions import QuestionKind
from brug.workspace.desired import History, desired_workspace
from tests.conftest import EXAMPLES

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
TEMPLATES = [
    "overview",
    "phase-guide",
    "document",
    "agreement",
    "agenda",
    "reflection-prompt",
    "pulse",
    "welcome",
    "help",
    "phase-change",
]


def example(library, path: Path, language: str = "nl"):  # type: ignore[no-untyped-def]
    p, problems = load_partnership(path, library)
    assert p is not None, problems
    return p.model_copy(update={"language": language})


def test_both_languages_have_every_template(renderer: Renderer) -> None:
    for language in ("nl", "en"):
        assert set(TEMPLATES) <= set(renderer.names(language))


@pytest.mark.parametrize("language", ["nl", "en"])
@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_template_renders_for_every_example(library, renderer: Renderer, path: Path, language: str) -> None:  # type: ignore[no-untyped-def]
    p = example(library, path, language)
    model = library.phase_models[p.workflow]
    base = common_context(p, library, NOW, links=[])
    phase = model.phase(p.phase)
    pulse = next(q for q in library.questions if q.kind is QuestionKind.pulse)
    question = next(q for q in library.questions if q.kind is QuestionKind.open)
    start = p.meeting_times(NOW, 1)[0]
    variants = {
        "overview": dict(
            phases=[
                {"phase": ph, "number": i + 1, "status": "current", "href": None} for i, ph in enumerate(model.phases)
            ]
        ),
        "phase-guide": dict(phase=phase, phase_number=2, next_phase=None),
        "document": dict(document=next(d for ph in model.phases for d in ph.documents), phase=phase, phase_number=1),
        "agreement": agreement_context(p, library, base, "akkoord-status.md"),
        "agreement-status": dict(
            **status_context(p, AgreementState(agreement_status(p, [], []), [], Renewal.yearly, None, False), "a.md"),
            agreement_title=library.forms[p.form.value].agreement.title,
        ),
        "agenda": agenda_context(
            build_agenda(
                p,
                phase,
                start,
                4,
                [OpenAction(1, "Brief opstellen", "An", NOW.date())],
                [AddedItem("Zomerwerking", "Bert")],
                question.bouwsteen,
                [Missed("reflectievraag", NOW)],
                [Unreadable("overleg/x.md", 3, "- iets <b>")],
            ),
            p,
            library,
            NOW,
        ),
        "reflection-prompt": dict(question=question, bouwsteen=library.bouwstenen[question.bouwsteen], late=True),
        "pulse": dict(question=pulse, bouwsteen=library.bouwstenen[pulse.bouwsteen], late=False),
        "welcome": dict(rooms=model.rooms, commands=COMMANDS),
        "help": dict(commands=COMMANDS, command=None, max_answer=2000),
        "phase-change": dict(old_phase=model.phases[0], new_phase=phase, new_phase_number=2, guide_href=None),
    }
    for name, extra in variants.items():
        text = renderer.render(name, language, **with_extra(base, **extra))
        assert text.strip(), name
        assert "{{" not in text and "{%" not in text, name
    one = renderer.render(
        "help", language, **with_extra(base, commands=COMMANDS, command=COMMANDS[4], max_answer=2000)
    )
    word, other = ("!actie", "!klaar") if language == "nl" else ("!action", "!done")
    assert word in one and other not in one
    if language == "en":  # English partnerships see English commands and placeholders
        listing = renderer.render(
            "help", language, **with_extra(base, commands=COMMANDS, command=None, max_answer=2000)
        )
        assert "!phase" in listing and "\\<text\\>" in listing and "tekst" not in listing and "!fase volgende" not in listing


def test_agenda_uses_the_action_line_format(library, renderer: Renderer) -> None:  # type: ignore[no-untyped-def]
    p = example(library, EXAMPLES[0])
    phase = library.phase_models[p.workflow].phase(p.phase)
    start = p.meeting_times(NOW, 1)[0]
    actions = [OpenAction(3, "Lokaal boeken", "Els", datetime(2026, 12, 1).date())]
    agenda = build_agenda(p, phase, start, 1, actions, [])
    text = renderer.render("agenda", "nl", **agenda_context(agenda, p, library, NOW))
    assert "- [ ] Lokaal boeken — Els — 2026-12-01" in text


def test_a_hostile_name_is_shown_as_text_in_markdown_and_html(library, renderer: Renderer) -> None:  # type: ignore[no-untyped-def]
    hostile = '<img src=x onerror="alert(1)"> **vet** [klik](javascript:alert(1)) # kop'
    p = example(library, EXAMPLES[0]).model_copy(update={"name": hostile, "goal": "<script>alert(2)</script>"})
    ws = desired_workspace(p, library, renderer, NOW, History())
    for doc in [*ws.documents, *ws.posts]:
        text = doc.content if hasattr(doc, "content") else doc.markdown
        html = markdown_to_html(text)
        assert "<img" not in html and "<script" not in html and 'href="javascript' not in html
        assert "<strong>vet</strong>" not in html
    overview = markdown_to_html(ws.documents[0].content)
    assert "&lt;img src=x" in overview


def test_markdown_escape_round_trips_to_the_same_visible_text() -> None:
    for text in ["a*b*c", "[x](y)", "# kop", "1. lijst", "- punt", "<b>", "a|b", "`code`", "back\\slash"]:
        html = markdown_to_html(md_escape(text))
        visible = html.removeprefix("<p>").removesuffix("</p>")
        assert visible == text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"), (text, html)


def test_templates_cannot_reach_python_internals(tmp_path: Path) -> None:
    for language in ("nl", "en"):
        folder = tmp_path / language
        folder.mkdir()
        (folder / "welcome.md.j2").write_text("{{ ''.__class__.__mro__[1].__subclasses__() }}", encoding="utf-8")
        (folder / "help.md.j2").write_text("{{ partnership.__class__.__init__.__globals__ }}", encoding="utf-8")
    renderer = Renderer(override=tmp_path)
    with pytest.raises(SecurityError):
        renderer.render("welcome", "nl")
    with pytest.raises(SecurityError):
        renderer.render("help", "en", partnership=object())


def test_an_override_folder_replaces_one_template_only(tmp_path: Path, library) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "nl").mkdir()
    (tmp_path / "nl" / "welcome.md.j2").write_text("Hallo {{ partnership.name }}!\n", encoding="utf-8")
    renderer = Renderer(override=tmp_path)
    p = example(library, EXAMPLES[0])
    ws = desired_workspace(p, library, renderer, NOW, History())
    assert ws.posts[0].markdown == "Hallo Leren in De Vlierboom!\n"
    assert "Leren in De Vlierboom" in ws.documents[0].content  # the overview still comes from the built-in one
