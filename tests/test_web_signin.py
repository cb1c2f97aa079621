"""Who may sign in to the coordinators' portfolio, and as whom: viewers named by e-mail address,
Matrix id or Nextcloud user in brug.toml (a wrong one names the file, the field and what is
expected), a viewer of two organisations sees the partnerships of both, and one taken out of
brug.toml loses an open session at the next request."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from brug.content.problems import ProblemsFound
from brug.settings import CoordinatorSettings, load_settings
from brug.web.app import viewers_from
from tests.test_web_answer import csrf_of
from tests.test_web_portfolio import portfolio  # noqa: F401  (two organisations' partnerships, SMTP, the web app)


def test_viewers_are_e_mail_addresses_matrix_ids_or_nextcloud_users(tmp_path: Path) -> None:
    (tmp_path / "brug.toml").write_text(
        '[web]\nbase_url = "https://brug.example.org"\n'
        '[[web.coordinators]]\norganisation = "gemeente"\n'
        'viewers = ["Ann@School.be", "@ann:matrix.example", "nextcloud:Ann Peeters"]\n',
        encoding="utf-8",
    )
    settings = load_settings(tmp_path / "brug.toml", "en")
    assert settings.web is not None
    assert settings.web.coordinators[0].viewers == ["ann@school.be", "@ann:matrix.example", "nextcloud:Ann Peeters"]
    kinds = {v.identity: v.kind for v in viewers_from(settings.web.coordinators).values()}
    assert kinds == {"ann@school.be": "email", "@ann:matrix.example": "matrix", "nextcloud:Ann Peeters": "nextcloud"}


@pytest.mark.parametrize("wrong", ["ann", "ann:matrix.example", "@Ann Peeters:matrix", "nextcloud:", "nextcloud:a/b", "ann@school"])
@pytest.mark.parametrize("language", ["nl", "en"])
def test_a_wrong_viewer_names_the_file_the_field_and_the_three_forms(tmp_path: Path, wrong: str, language: str) -> None:
    (tmp_path / "brug.toml").write_text(
        '[web]\nbase_url = "https://brug.example.org"\n'
        f'[[web.coordinators]]\norganisation = "gemeente"\nviewers = ["ann@school.be", "{wrong}"]\n',
        encoding="utf-8",
    )
    with pytest.raises(ProblemsFound) as found:
        load_settings(tmp_path / "brug.toml", language)  # type: ignore[arg-type]
    [problem] = found.value.problems
    assert problem.file.endswith("brug.toml") and problem.loc == ("web", "coordinators", 0, "viewers", 1)
    text = str(problem)
    assert "@ann:matrix.example" in text and "nextcloud:ann" in text and repr(wrong) in text
    assert ("verwacht een e-mailadres" if language == "nl" else "expected an e-mail address") in text


def sign_in_by_mail(web: httpx.Client, inbox, base: str, address: str) -> None:  # type: ignore[no-untyped-def]
    form = web.get("/login")
    before = len(inbox.received)
    assert web.post("/login", data={"email": address, "csrf": csrf_of(form.text)}).status_code == 200
    assert len(inbox.received) == before + 1
    link = inbox.received[-1].body.split(f"{base}/login/")[1].split()[0]
    assert web.get(f"/login/{link}").headers["location"] == "/portfolio"


def test_a_viewer_of_two_organisations_sees_the_partnerships_of_both(portfolio) -> None:  # noqa: F811  # type: ignore[no-untyped-def]
    base, inbox, config, rt = portfolio
    config["viewers"] = viewers_from(
        [
            CoordinatorSettings(organisation="gemeente", name="Gemeente Proef", viewers=["coord@example.org"]),
            CoordinatorSettings(organisation="caw", name="CAW Proef", viewers=["Coord@example.org", "ivo@example.org"]),
        ]
    )
    with httpx.Client(base_url=base, timeout=30) as web:
        sign_in_by_mail(web, inbox, base, "coord@example.org")
        page = web.get("/portfolio")
        assert "Gemeente Proef en CAW Proef" in page.text
        assert "3 van 3 samenwerkingen" in page.text
        for pid in ("brede-school", "kinderarmoede", "andere-stad"):
            assert web.get(f"/portfolio/{pid}").status_code == 200
        assert web.get("/portfolio/andere-stad/radar.svg").status_code == 200  # the caw's published round

        # the caw drops them: the open session sees the gemeente's partnerships only, at once
        config["viewers"] = viewers_from(
            [
                CoordinatorSettings(organisation="gemeente", name="Gemeente Proef", viewers=["coord@example.org"]),
                CoordinatorSettings(organisation="caw", name="CAW Proef", viewers=["ivo@example.org"]),
            ]
        )
        page = web.get("/portfolio")
        assert "2 van 2 samenwerkingen" in page.text and "Netwerk andere stad" not in page.text
        assert web.get("/portfolio/andere-stad").status_code == 404

    with httpx.Client(base_url=base, timeout=30) as other:  # the caw's own viewer sees the caw's one
        sign_in_by_mail(other, inbox, base, "ivo@example.org")
        page = other.get("/portfolio")
        assert "1 van 1 samenwerkingen" in page.text and "Netwerk andere stad" in page.text
        assert other.get("/portfolio/kinderarmoede").status_code == 404
